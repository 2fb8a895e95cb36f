//! The axum application: shared state, the router, and the guard every `/api/v2` request passes
//! (latency → bearer auth → 429 burst → per-token rate limit → 5xx fault), in that order.
//!
//! Invariants: fault decisions draw exactly two numbers from the seeded generator per
//! authenticated request, whatever the fault settings, so a seed fixes the sequence of faults
//! for a given request order; only requests that pass the rate limiter are counted by it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::{Faults, InboundForward, SandboxConfig};
use crate::error::ApiError;
use crate::org::OrgSetup;
use crate::ratelimit::{Decision, SlidingWindowLimiter};
use crate::stats::StatsRecorder;
use crate::store::Store;
use crate::{
    admin, analytics, campaigns, contactlists, messaging, oauth, org, outbound, responses,
};

/// Settings and bookkeeping that change while the sandbox runs.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) faults: Faults,
    pub(crate) rate_limit_per_minute: Option<u32>,
    pub(crate) token_lifetime_secs: u64,
    pub(crate) limiter: SlidingWindowLimiter,
    pub(crate) rng: StdRng,
    pub(crate) tokens: HashMap<String, Timestamp>,
    /// `429` answers given so far (burst faults and the per-token limit), for benchmarks.
    pub(crate) answered_429: u64,
    /// Requests and 429s per route template (`GET /__sandbox/stats`).
    pub(crate) stats: StatsRecorder,
    /// Provisioned numbers and domains, and the OAuth client's permissions.
    pub(crate) org: OrgSetup,
    /// Contact-list limits (`/__sandbox/outbound-limits`).
    pub(crate) outbound_limits: crate::contactlists::OutboundLimits,
}

/// State shared by every handler.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) from_numbers: Vec<String>,
    pub(crate) delivery_step: SignedDuration,
    pub(crate) inbound_forward: Option<InboundForward>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Store,
    pub(crate) http: reqwest::Client,
    runtime: Mutex<Runtime>,
}

/// Cheaply clonable handle on [`Inner`].
#[derive(Debug, Clone)]
pub(crate) struct AppState(pub(crate) Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: &SandboxConfig, clock: Arc<dyn Clock>, store: Store) -> Self {
        let delivery_step =
            SignedDuration::from_millis(i64::try_from(config.delivery_step_ms).unwrap_or(i64::MAX));
        Self(Arc::new(Inner {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            from_numbers: config.from_numbers.clone(),
            delivery_step,
            inbound_forward: config.inbound_forward.clone(),
            store,
            http: reqwest::Client::new(),
            runtime: Mutex::new(Runtime {
                faults: config.faults.clone(),
                rate_limit_per_minute: config.rate_limit_per_minute,
                token_lifetime_secs: config.token_lifetime_secs,
                limiter: SlidingWindowLimiter::new(),
                rng: StdRng::seed_from_u64(config.seed),
                tokens: HashMap::new(),
                answered_429: 0,
                stats: StatsRecorder::new(clock.now()),
                org: OrgSetup {
                    sms_numbers: config.from_numbers.clone(),
                    email_domains: config.email_domains.clone(),
                    permissions: crate::org::DEFAULT_PERMISSIONS
                        .iter()
                        .map(|p| (*p).to_owned())
                        .collect(),
                },
                outbound_limits: crate::contactlists::OutboundLimits::default(),
            }),
            clock,
        }))
    }

    pub(crate) fn runtime(&self) -> MutexGuard<'_, Runtime> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Signal from the connection loop: notify it to close the connection without answering.
#[derive(Debug, Clone)]
pub(crate) struct ConnAbort(pub(crate) Arc<Notify>);

/// Per-request fault decision for agentless sends: accept, then drop the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropAfterAccept(pub(crate) bool);

/// The OAuth client id behind the request's token.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) String);

/// Builds the router (API, OAuth and admin routes).
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v2/responsemanagement/libraries",
            get(responses::list_libraries).post(responses::create_library),
        )
        .route(
            "/api/v2/responsemanagement/libraries/{libraryId}",
            get(responses::get_library)
                .put(responses::update_library)
                .delete(responses::delete_library),
        )
        .route(
            "/api/v2/responsemanagement/responses",
            get(responses::list_responses).post(responses::create_response),
        )
        .route(
            "/api/v2/responsemanagement/responses/query",
            post(responses::query_responses),
        )
        .route(
            "/api/v2/responsemanagement/responses/{responseId}",
            get(responses::get_response)
                .put(responses::update_response)
                .delete(responses::delete_response),
        )
        .route(
            "/api/v2/conversations/messages/agentless",
            post(messaging::send_agentless_message),
        )
        .route(
            "/api/v2/conversations/emails/agentless",
            post(messaging::send_agentless_email),
        )
        .route(
            "/api/v2/conversations/messages/{messageId}/details",
            get(messaging::message_details),
        )
        .route(
            "/api/v2/outbound/dnclists",
            get(outbound::list_dnc_lists).post(outbound::create_dnc_list),
        )
        .route(
            "/api/v2/outbound/dnclists/{dncListId}",
            get(outbound::get_dnc_list),
        )
        .route(
            "/api/v2/outbound/dnclists/{dncListId}/phonenumbers",
            post(outbound::add_phone_numbers).patch(outbound::patch_phone_numbers),
        )
        .route(
            "/api/v2/outbound/contactlists",
            get(contactlists::list_contact_lists).post(contactlists::create_contact_list),
        )
        .route(
            "/api/v2/outbound/contactlists/{contactListId}",
            get(contactlists::get_contact_list).delete(contactlists::delete_contact_list),
        )
        .route(
            "/api/v2/outbound/contactlists/{contactListId}/contacts",
            post(contactlists::add_contacts),
        )
        .route(
            "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk",
            post(contactlists::bulk_get_contacts),
        )
        .route(
            "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}",
            get(contactlists::get_one_contact),
        )
        .route(
            "/api/v2/outbound/callabletimesets",
            post(campaigns::create_time_set),
        )
        .route(
            "/api/v2/outbound/callabletimesets/{callableTimeSetId}",
            get(campaigns::get_time_set),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns",
            get(campaigns::list_campaigns).post(campaigns::create_campaign),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/progress",
            post(campaigns::bulk_progress),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}",
            get(campaigns::get_campaign)
                .put(campaigns::update_campaign)
                .delete(campaigns::delete_campaign),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/start",
            post(campaigns::start_campaign),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/stop",
            post(campaigns::stop_campaign),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/progress",
            get(campaigns::get_progress).delete(campaigns::reset_progress),
        )
        .route(
            "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/diagnostics",
            get(campaigns::get_diagnostics),
        )
        .route(
            "/api/v2/analytics/conversations/details/query",
            post(analytics::conversation_details_query),
        )
        .route(
            "/api/v2/organizations/limits/namespaces/{namespaceName}",
            get(admin::limits_namespace),
        )
        .route("/api/v2/tokens/me", get(org::tokens_me))
        .route("/api/v2/authorization/subjects/me", get(org::subjects_me))
        .route(
            "/api/v2/routing/sms/phonenumbers",
            get(org::sms_phone_numbers),
        )
        .route(
            "/api/v2/routing/email/outbound/domains",
            get(org::outbound_domains),
        )
        .route(
            "/api/v2/routing/email/outbound/domains/{domainId}",
            get(org::outbound_domain),
        )
        .fallback(api_not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), api_guard));

    Router::new()
        .merge(api)
        .route("/oauth/token", post(oauth::token))
        .nest("/__sandbox", admin::router())
        .layer(middleware::map_response(mark_response))
        .with_state(state)
}

/// Marks every response as the sandbox's ([`crate::MARKER_HEADER`]), so herald can tell it
/// from a real org behind a proxy on this machine before it honours a pinned clock.
async fn mark_response(mut response: Response) -> Response {
    response.headers_mut().insert(
        crate::MARKER_HEADER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

async fn api_not_found(req: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not.found",
        format!(
            "No resource found for {} {}",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Authenticates, rate-limits and injects faults before an `/api/v2` handler runs.
async fn api_guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let latency = state.runtime().faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }

    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    state.runtime().stats.record(&method, &route);
    let token = match bearer_token(&req) {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    let now = state.now();
    let drop_after_accept = {
        let mut rt = state.runtime();
        match rt.tokens.get(&token) {
            None => {
                return ApiError::unauthorized("bad.credentials", "Invalid login credentials.")
                    .into_response();
            }
            Some(expiry) if *expiry <= now => {
                return ApiError::unauthorized(
                    "credentials.expired",
                    "The authorization token has expired.",
                )
                .into_response();
            }
            Some(_) => {}
        }
        let fail_draw: f64 = rt.rng.random();
        let drop_draw: f64 = rt.rng.random();
        if rt.faults.burst_429 > 0 {
            rt.faults.burst_429 -= 1;
            rt.answered_429 += 1;
            rt.stats.too_many(&method, &route);
            let secs = rt.faults.burst_retry_after_secs.max(1);
            return ApiError::too_many_requests(secs).into_response();
        }
        if let Some(limit) = rt.rate_limit_per_minute
            && let Decision::Refuse { retry_after_secs } = rt.limiter.check(&token, limit, now)
        {
            rt.answered_429 += 1;
            rt.stats.too_many(&method, &route);
            let mut err = ApiError::too_many_requests(retry_after_secs);
            err.body.limit = Some(crate::wire::Limit {
                key: "client.credentials.token.rate.per.minute".to_owned(),
                namespace: "platform.api".to_owned(),
                value: i64::from(limit),
            });
            return err.into_response();
        }
        rt.stats.admitted(&token, now);
        if let Err(err) = crate::org::check_permission(&rt.org, &method, &route) {
            return err.into_response();
        }
        if fail_draw < rt.faults.error_5xx_ratio {
            return ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "service.unavailable",
                "The service is currently unavailable (injected sandbox fault).",
            )
            .into_response();
        }
        drop_draw < rt.faults.drop_ratio
    };
    req.extensions_mut()
        .insert(DropAfterAccept(drop_after_accept));
    let client = state.client_id.clone();
    req.extensions_mut().insert(Caller(client));
    next.run(req).await
}

fn bearer_token(req: &Request) -> Result<String, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
    };
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim().to_owned())
}

/// A JSON body extractor whose failures are Genesys `ErrorBody` 400s.
#[derive(Debug)]
pub(crate) struct GJson<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequest<S> for GJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("Unable to read the request body: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(GJson)
            .map_err(|e| ApiError::bad_request(format!("The request could not be understood: {e}")))
    }
}

/// Runs one dispatcher pass now on the sandbox clock; returns the messages sent.
pub(crate) async fn dispatch_now(state: &AppState) -> Result<usize, crate::SandboxError> {
    let org = state.runtime().org.clone();
    let now = state.now();
    state
        .store
        .call(move |c| campaigns::dispatch_pass(c, &org, now))
        .await
}
