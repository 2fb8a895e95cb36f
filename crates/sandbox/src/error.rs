//! Errors: [`SandboxError`] for the embedding program, and [`ApiError`], which renders a Genesys
//! `ErrorBody` with the right status (plus `Retry-After` for 429s) inside the HTTP handlers.
//!
//! Invariant: every non-OAuth error the sandbox sends is an `ErrorBody` whose `status` equals
//! the HTTP status and whose `contextId` is echoed in the `ININ-Correlation-Id` header.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::wire::{Detail, ErrorBody};

/// Failures starting, running or querying the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be bound or accepted on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: std::net::SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The state database could not be opened or used.
    #[error("sandbox state database: {0}")]
    Database(#[from] rusqlite::Error),
    /// Stored state could not be (de)serialised.
    #[error("sandbox state is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// Writing the banner failed.
    #[error("cannot write sandbox banner: {0}")]
    Output(#[source] std::io::Error),
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
    /// The configuration is unusable.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// An entity the caller named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A blocking database task panicked or was cancelled.
    #[error("sandbox database task failed: {0}")]
    Task(String),
}

/// A Genesys API error, rendered as an `ErrorBody`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body sent.
    pub body: Box<ErrorBody>,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message, no details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                message: message.into(),
                code: code.to_owned(),
                status: status.as_u16(),
                entity_id: None,
                message_with_params: None,
                message_params: BTreeMap::new(),
                context_id: uuid::Uuid::new_v4().to_string(),
                details: Vec::new(),
                errors: Vec::new(),
                limit: None,
            }),
            retry_after: None,
        }
    }

    /// 400 `invalid.value` for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid.value", message)
            .with_detail(field, "invalid.value")
    }

    /// 400 `bad.request` for a missing required field.
    pub fn missing_field(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad.request",
            format!("The field '{field}' is required."),
        )
        .with_detail(field, "required")
    }

    /// 400 `bad.request` (malformed body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }

    /// 400 `invalid.query.param.value` for one query parameter.
    pub fn bad_query_param(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid.query.param.value",
            message,
        )
        .with_detail(param, "invalid.query.param.value")
    }

    /// 404 `not.found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        let mut err = Self::new(
            StatusCode::NOT_FOUND,
            "not.found",
            format!("The requested {what} was not found: {id}"),
        );
        err.body.entity_id = Some(id.to_owned());
        err
    }

    /// 409 `conflict` for a stale `version`.
    pub fn version_conflict(supplied: i64, current: i64) -> Self {
        let mut err = Self::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "The version supplied ({supplied}) does not match the current version ({current})."
            ),
        );
        err.body.message_with_params = Some(
            "The version supplied ({supplied}) does not match the current version ({current})."
                .to_owned(),
        );
        err.body
            .message_params
            .insert("supplied".to_owned(), supplied.to_string());
        err.body
            .message_params
            .insert("current".to_owned(), current.to_string());
        err
    }

    /// 429 `too.many.requests.retry.after`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too.many.requests.retry.after",
            format!(
                "Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds"
            ),
        );
        err.retry_after = Some(retry_after_secs);
        err
    }

    /// 401 with the given code.
    pub fn unauthorized(code: &str, message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 500 for a sandbox-internal failure.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal.server.error",
            format!("The server encountered an internal error: {message}"),
        )
    }

    /// Adds a field-level detail.
    #[must_use]
    pub fn with_detail(mut self, field: &str, code: &str) -> Self {
        self.body.details.push(Detail {
            error_code: Some(code.to_owned()),
            field_name: Some(field.to_owned()),
            entity_id: None,
            entity_name: None,
        });
        self
    }
}

impl From<SandboxError> for ApiError {
    fn from(err: SandboxError) -> Self {
        match err {
            SandboxError::NotFound(what) => ApiError::not_found("entity", &what),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let context_id = self.body.context_id.clone();
        let mut response = (self.status, axum::Json(*self.body)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&context_id) {
            headers.insert("inin-correlation-id", value);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
