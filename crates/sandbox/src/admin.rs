//! The admin API under `/__sandbox/` (no auth: the sandbox binds loopback only) and the org
//! limits endpoint. Admin routes read what the sandbox accepted and change faults at run time:
//!
//! - `GET  /__sandbox/messages` — every accepted message with its arrival time (JSON array)
//! - `GET  /__sandbox/inbound` — every injected inbound reply
//! - `POST /__sandbox/inbound` `{from, to?, text}` — an inbound reply (STOP opts out)
//! - `GET|POST /__sandbox/faults` — the [`Faults`] in force (POST replaces them)
//! - `POST /__sandbox/rate-limit` `{perMinute: N|null}` — per-token limit (null = unlimited)
//! - `POST /__sandbox/token-lifetime` `{seconds: N}` — lifetime of tokens issued from now on
//! - `POST /__sandbox/responses/{id}/edit` `{content, type?}` — out-of-band edit (drift)
//! - `GET  /__sandbox/dnclists/{id}/phonenumbers` — entries of a DNC list
//! - `GET  /__sandbox/stats` — requests and 429s per method and route template, and the most
//!   requests one token had admitted in a 60 s window ([`crate::SandboxStats`]);
//!   `DELETE /__sandbox/stats` starts counting afresh
//! - `GET|POST /__sandbox/org` — the org set-up ([`crate::OrgSetup`]: provisioned SMS numbers,
//!   outbound email domains, the OAuth client's permissions); POST replaces the fields it names
//!
//! - `GET|POST /__sandbox/outbound-limits` — contact-list limits ([`crate::OutboundLimits`]);
//!   POST replaces the fields it names
//! - `POST /__sandbox/messagingcampaigns/dispatch` — runs one dispatcher pass now (the background
//!   dispatcher runs one every 200 ms of real time; both read the sandbox clock)
//!
//! Invariant: admin requests never count against the rate limit and never draw from the
//! fault generator, so observing the sandbox does not change its fault sequence.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::{AppState, GJson};
use crate::config::Faults;
use crate::error::ApiError;
use crate::messaging::{Subscription, receive_inbound};
use crate::org::{OrgChange, OrgSetup};
use crate::stats::{SandboxStats, StatsRecorder};
use crate::store::{self, AcceptedMessage, InboundMessage};
use crate::wire::{Limit, LimitsEntityListing, Response};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/messages", get(messages))
        .route("/inbound", get(inbound_list).post(inbound))
        .route("/faults", get(get_faults).post(set_faults))
        .route("/rate-limit", post(set_rate_limit))
        .route("/token-lifetime", post(set_token_lifetime))
        .route("/responses/{id}/edit", post(edit_response))
        .route("/dnclists/{id}/phonenumbers", get(dnc_entries))
        .route("/stats", get(stats).delete(reset_stats))
        .route("/org", get(get_org).post(set_org))
        .route(
            "/outbound-limits",
            get(get_outbound_limits).post(set_outbound_limits),
        )
        .route("/messagingcampaigns/dispatch", post(dispatch))
}

async fn get_org(State(state): State<AppState>) -> Json<OrgSetup> {
    Json(state.runtime().org.clone())
}

async fn set_org(
    State(state): State<AppState>,
    GJson(change): GJson<OrgChange>,
) -> Result<Json<OrgSetup>, ApiError> {
    let mut rt = state.runtime();
    rt.org
        .apply(change)
        .map_err(|msg| ApiError::invalid_field("org", msg))?;
    Ok(Json(rt.org.clone()))
}

async fn stats(State(state): State<AppState>) -> Json<SandboxStats> {
    Json(state.runtime().stats.snapshot())
}

async fn reset_stats(State(state): State<AppState>) -> Json<SandboxStats> {
    let now = state.now();
    let mut rt = state.runtime();
    rt.stats = StatsRecorder::new(now);
    Json(rt.stats.snapshot())
}

async fn messages(State(state): State<AppState>) -> Result<Json<Vec<AcceptedMessage>>, ApiError> {
    Ok(Json(state.store.call(|c| store::list_messages(c)).await?))
}

async fn inbound_list(
    State(state): State<AppState>,
) -> Result<Json<Vec<InboundMessage>>, ApiError> {
    Ok(Json(state.store.call(|c| store::list_inbound(c)).await?))
}

/// Body of `POST /__sandbox/inbound`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundRequest {
    from: String,
    #[serde(default)]
    to: Option<String>,
    text: String,
}

/// Answer of `POST /__sandbox/inbound`.
#[derive(Debug, serde::Serialize)]
struct InboundAnswer {
    message: InboundMessage,
    subscription: Subscription,
}

async fn inbound(
    State(state): State<AppState>,
    GJson(body): GJson<InboundRequest>,
) -> Result<Json<InboundAnswer>, ApiError> {
    let (message, subscription) = receive_inbound(&state, body.from, body.to, body.text)
        .await
        .map_err(|e| match e {
            crate::SandboxError::Config(msg) => ApiError::invalid_field("from", msg),
            other => ApiError::from(other),
        })?;
    Ok(Json(InboundAnswer {
        message,
        subscription,
    }))
}

async fn get_faults(State(state): State<AppState>) -> Json<Faults> {
    Json(state.runtime().faults.clone())
}

async fn set_faults(
    State(state): State<AppState>,
    GJson(faults): GJson<Faults>,
) -> Result<Json<Faults>, ApiError> {
    faults
        .validate()
        .map_err(|msg| ApiError::invalid_field("faults", msg))?;
    state.runtime().faults = faults.clone();
    Ok(Json(faults))
}

/// Body of `POST /__sandbox/rate-limit`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RateLimitRequest {
    per_minute: Option<u32>,
}

async fn set_rate_limit(
    State(state): State<AppState>,
    GJson(body): GJson<RateLimitRequest>,
) -> Json<serde_json::Value> {
    let mut rt = state.runtime();
    rt.rate_limit_per_minute = body.per_minute;
    rt.limiter.reset();
    Json(serde_json::json!({ "perMinute": body.per_minute }))
}

/// Body of `POST /__sandbox/token-lifetime`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenLifetimeRequest {
    seconds: u64,
}

async fn set_token_lifetime(
    State(state): State<AppState>,
    GJson(body): GJson<TokenLifetimeRequest>,
) -> Json<serde_json::Value> {
    state.runtime().token_lifetime_secs = body.seconds;
    Json(serde_json::json!({ "seconds": body.seconds }))
}

/// Body of `POST /__sandbox/responses/{id}/edit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    content: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

async fn edit_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
    GJson(body): GJson<EditRequest>,
) -> Result<Json<Response>, ApiError> {
    let missing = id.clone();
    crate::responses::edit_out_of_band(&state, id, body.content, body.kind)
        .await
        .map(Json)
        .map_err(|e| match e {
            crate::SandboxError::NotFound(_) => ApiError::not_found("response", &missing),
            other => ApiError::from(other),
        })
}

async fn dnc_entries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(
        state
            .store
            .call(move |c| store::list_dnc_entries(c, &id))
            .await?,
    ))
}

/// `GET /api/v2/organizations/limits/namespaces/{ns}`: the configured per-token limit under
/// `platform.api`; other namespaces have no limits set in the sandbox.
pub(crate) async fn limits_namespace(
    State(state): State<AppState>,
    Path(ns): Path<String>,
) -> Json<LimitsEntityListing> {
    let limit = state.runtime().rate_limit_per_minute;
    let entities = match (ns.as_str(), limit) {
        ("platform.api", Some(value)) => [
            "client.credentials.token.rate.per.minute",
            "token.rate.per.minute",
        ]
        .iter()
        .map(|key| Limit {
            key: (*key).to_owned(),
            namespace: ns.clone(),
            value: i64::from(value),
        })
        .collect(),
        _ => Vec::new(),
    };
    Json(LimitsEntityListing { entities })
}

async fn get_outbound_limits(State(state): State<AppState>) -> Json<crate::OutboundLimits> {
    Json(state.runtime().outbound_limits.clone())
}

async fn set_outbound_limits(
    State(state): State<AppState>,
    GJson(change): GJson<crate::contactlists::OutboundLimitsChange>,
) -> Json<crate::OutboundLimits> {
    let mut rt = state.runtime();
    rt.outbound_limits.apply(change);
    Json(rt.outbound_limits.clone())
}

async fn dispatch(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let sent = crate::app::dispatch_now(&state).await?;
    Ok(Json(serde_json::json!({ "sent": sent })))
}
