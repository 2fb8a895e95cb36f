//! `POST /oauth/token`: the client-credentials grant, as `login.<region>` answers it.
//!
//! Invariants: credentials are accepted only as HTTP Basic `id:secret` (compared in constant
//! time), the form must carry exactly `grant_type=client_credentials`, failures use the OAuth
//! error shape (`error`, `description`, `error_description`), never the `ErrorBody`; tokens are
//! opaque random strings kept in memory only and never logged.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jiff::SignedDuration;

use crate::app::AppState;
use crate::wire::{OAuthError, TokenResponse};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(OAuthError {
            error: error.to_owned(),
            description: description.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Issues a bearer token for valid client credentials.
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    state.runtime().stats.record("POST", "/oauth/token");
    let Some((id, secret)) = basic_credentials(&headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: HTTP Basic credentials are required",
        );
    };
    let id_ok = constant_time_eq(id.as_bytes(), state.client_id.as_bytes());
    let secret_ok = constant_time_eq(secret.as_bytes(), state.client_secret.as_bytes());
    if !(id_ok && secret_ok) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client not found or bad client secret",
        );
    }
    let Ok(axum::Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request body must be application/x-www-form-urlencoded",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing grant_type",
            );
        }
    }
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let now = state.now();
    let lifetime = {
        let mut rt = state.runtime();
        let lifetime = rt.token_lifetime_secs;
        let expiry = now
            .checked_add(SignedDuration::from_secs(
                i64::try_from(lifetime).unwrap_or(i64::MAX / 2),
            ))
            .unwrap_or(jiff::Timestamp::MAX);
        // Forget expired tokens so the map does not grow without bound.
        rt.tokens.retain(|_, exp| *exp > now);
        rt.tokens.insert(access_token.clone(), expiry);
        lifetime
    };
    (
        StatusCode::OK,
        Json(TokenResponse {
            access_token,
            token_type: "bearer".to_owned(),
            expires_in: lifetime,
        }),
    )
        .into_response()
}
