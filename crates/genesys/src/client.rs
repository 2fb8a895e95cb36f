//! The Genesys Cloud HTTP client: configuration, and the one request loop every call uses.
//!
//! Owns [`GenesysClient`] and [`ClientConfig`], and decides per request class what is retried:
//! idempotent requests (reads, version-guarded writes, deletes, read-only queries) retry on
//! 429, 5xx (not 501), timeouts and network errors with full-jitter backoff under the
//! run-wide budget; unsafe requests (agentless sends and creates) retry only on 429, on a
//! connection that could not be established, and once after a token refresh — every other
//! failure after the request may have left is `Unknown`. Invariants: every request first
//! waits for the shared throttle (pause, then bucket); a 401 triggers at most one refresh and
//! one retry per request; the `Authorization` header is always marked sensitive and no header
//! or body is ever logged.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tracing::{debug, instrument, warn};

use crate::credentials::Credentials;
use crate::error::{ApiError, ErrorInfo};
use crate::models::Listing;
use crate::region::{Region, login_base_for};
use crate::retry::{RETRY_COST, RetryBudget, RetryPolicy, TIMEOUT_RETRY_COST, full_jitter};
use crate::throttle::{
    DEFAULT_JITTER_MARGIN, DEFAULT_RATE_LIMIT_WAIT_BUDGET, Pause, SlidingLog, Throttle,
    parse_retry_after,
};
use crate::token::TokenManager;

/// Timeouts of the underlying HTTP client. `None` disables one (tests on a paused clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed to establish a connection.
    pub connect: Option<Duration>,
    /// Time allowed for a whole request, response body included.
    pub request: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub pool_idle: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Some(Duration::from_secs(10)),
            request: Some(Duration::from_secs(30)),
            pool_idle: Some(Duration::from_secs(90)),
        }
    }
}

/// Everything needed to build a [`GenesysClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL, e.g. `https://api.mypurecloud.com` or a sandbox `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Login base URL (the token endpoint is `{login_url}/oauth/token`).
    pub login_url: String,
    /// The OAuth client.
    pub credentials: Credentials,
    /// Client-side request limit per 60 s shared by all workers (every request of the client
    /// counts: sends, reads, pre-flight checks, retries); `None` = no client-side limit.
    pub requests_per_minute: Option<u32>,
    /// Added to the 60 s window by the client's sliding log, to absorb network-latency jitter
    /// (default 500 ms: 300 requests per 60.5 s for 300/min).
    pub jitter_margin: Duration,
    /// Total time 429 answers may keep the client paused (all workers wait out each
    /// `Retry-After` together) before calls fail with `ApiError::RateLimited`. Default 10 min.
    pub rate_limit_wait_budget: Duration,
    /// HTTP timeouts.
    pub timeouts: Timeouts,
    /// Retry policy and run-wide budget.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration for an API base URL; the login URL is derived (`//api.` → `//login.`,
    /// or the same host when there is no `api.` prefix).
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self {
            login_url: login_base_for(&base_url),
            base_url,
            credentials,
            requests_per_minute: None,
            jitter_margin: DEFAULT_JITTER_MARGIN,
            rate_limit_wait_budget: DEFAULT_RATE_LIMIT_WAIT_BUDGET,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        }
    }

    /// A configuration for a Genesys Cloud region.
    pub fn for_region(region: Region, credentials: Credentials) -> Self {
        Self::new(region.api_base(), credentials)
    }
}

/// The Genesys Cloud client. Cheap to clone; all clones share the token, the throttle and the
/// retry budget, so it can be handed to many tokio tasks.
#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenManager,
    throttle: Throttle,
    retry: RetryPolicy,
    budget: RetryBudget,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("base_url", &self.inner.base_url)
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated after it possibly took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Reads, version-guarded writes, deletes and read-only queries.
    Idempotent,
    /// Agentless sends and creates: never repeated once they may have taken effect.
    Unsafe,
}

/// One logical API call.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) class: Class,
}

impl Call {
    pub(crate) fn new(method: Method, path: impl Into<String>, class: Class) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            class,
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self, ApiError> {
        self.body = Some(serde_json::to_vec(body).map_err(|e| ApiError::Config {
            reason: format!("cannot encode request body: {e}"),
        })?);
        Ok(self)
    }
}

const MAX_PAGES: u32 = 10_000;
const PAGE_SIZE: u32 = 100;
const CORRELATION_HEADER: &str = "inin-correlation-id";

impl GenesysClient {
    /// Builds a client. Nothing is sent until the first call.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let log = match config.requests_per_minute {
            None => None,
            Some(limit) => Some(SlidingLog::new(limit, config.jitter_margin).ok_or_else(|| {
                ApiError::Config {
                    reason: "requests_per_minute must be at least 1".to_owned(),
                }
            })?),
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(config.timeouts.pool_idle)
            // Retries are decided by this client alone (one retry layer).
            .redirect(reqwest::redirect::Policy::none());
        if let Some(t) = config.timeouts.connect {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = config.timeouts.request {
            builder = builder.timeout(t);
        }
        let http = builder.build().map_err(|e| ApiError::Config {
            reason: format!("cannot build the HTTP client: {e}"),
        })?;
        for (what, url) in [
            ("base_url", &config.base_url),
            ("login_url", &config.login_url),
        ] {
            if reqwest::Url::parse(url).is_err() {
                return Err(ApiError::Config {
                    reason: format!("{what} `{url}` is not a valid URL"),
                });
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                tokens: TokenManager::new(http.clone(), &config.login_url, config.credentials),
                http,
                base_url: config.base_url.trim_end_matches('/').to_owned(),
                throttle: Throttle::new(log, config.rate_limit_wait_budget),
                budget: RetryBudget::new(config.retry.budget),
                retry: config.retry,
            }),
        })
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The login base URL: where tokens are requested (`login.` for a region's `api.` host).
    pub fn login_url(&self) -> &str {
        self.inner.tokens.login_base()
    }

    /// When a server `Retry-After` is pausing every worker, the instant the pause ends.
    pub fn throttled_until(&self) -> Option<tokio::time::Instant> {
        self.inner.throttle.paused_until()
    }

    /// Total time 429 answers have paused this client (all workers together, wall clock).
    pub fn rate_limited_wait(&self) -> Duration {
        self.inner.throttle.waited()
    }

    /// How many OAuth token requests this client has made.
    pub fn token_requests(&self) -> u64 {
        self.inner.tokens.requests_made()
    }

    /// Whether the login service that issued the current token identified itself as herald's
    /// own sandbox ([`crate::HERALD_SANDBOX_HEADER`]); false before [`Self::authenticate`] or
    /// any call. Genesys Cloud never sends the marker, nor does a proxy to it.
    pub fn login_is_herald_sandbox(&self) -> bool {
        self.inner.tokens.issued_by_sandbox()
    }

    /// Retry-budget tokens left for this run.
    pub fn retry_budget_remaining(&self) -> u32 {
        self.inner.budget.available()
    }

    /// Fetches a token now if none is cached (useful to fail fast on bad credentials).
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        self.inner.tokens.get().await.map(|_| ())
    }

    /// Runs a call and decodes a JSON success body.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        call: Call,
        what: &'static str,
    ) -> Result<T, ApiError> {
        let class = call.class;
        let body = self.execute(call).await?;
        serde_json::from_slice(&body).map_err(|e| {
            // A type error quotes the value it met: scrubbed like any server text.
            let parsed = self.inner.tokens.with_secrets(None, |secrets| {
                crate::redact::sanitize_server_text(&e.to_string(), secrets)
            });
            let reason = format!("{parsed} (the request was accepted)");
            match class {
                Class::Idempotent => ApiError::Decode { what, reason },
                Class::Unsafe => ApiError::Unknown {
                    reason: format!("{what}: response could not be read: {reason}"),
                    info: None,
                },
            }
        })
    }

    /// Fetches every page of a page-number listing (pageSize 100) until the last page.
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&'static str, String)],
        what: &'static str,
    ) -> Result<Vec<T>, ApiError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut call = Call::new(Method::GET, path, Class::Idempotent)
                .query("pageSize", PAGE_SIZE.to_string())
                .query("pageNumber", page.to_string());
            for (k, v) in query {
                call = call.query(k, v.clone());
            }
            let listing: Listing<T> = self.call_json(call, what).await?;
            let count = listing.entities.len();
            all.extend(listing.entities);
            let last = match listing.page_count {
                Some(pages) => page >= pages,
                None => count == 0,
            };
            if last || count == 0 {
                return Ok(all);
            }
        }
        Err(ApiError::Decode {
            what,
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Sends one call with throttling, authentication and the retries its class allows, and
    /// returns the body of a 2xx answer.
    #[instrument(skip_all, fields(method = %call.method, path = %call.path))]
    pub(crate) async fn execute(&self, call: Call) -> Result<Vec<u8>, ApiError> {
        let inner = &*self.inner;
        let policy = &inner.retry;
        let url = format!("{}{}", inner.base_url, call.path);
        let mut schedule = policy.schedule();
        let mut attempts: u32 = 0;
        let mut refreshed = false;
        let mut connect_retries = 0u32;

        let get_token = || async {
            match inner.tokens.get().await {
                Ok(t) => Ok(t),
                // For a send or create, a failed login means the request itself never left.
                Err(ApiError::Transport { reason }) if call.class == Class::Unsafe => {
                    Err(ApiError::NotSent { reason })
                }
                Err(e) => Err(e),
            }
        };
        loop {
            // The token first (a login can take a while), then the throttle, then the token again
            // (cached: no request) in case it expired during a long wait, so that the start time
            // the throttle records is when the request really leaves.
            get_token().await?;
            inner.throttle.until_ready().await;
            let token = get_token().await?;
            attempts += 1;
            let mut request = inner
                .http
                .request(call.method.clone(), &url)
                .header(AUTHORIZATION, token.header());
            if !call.query.is_empty() {
                request = request.query(&call.query);
            }
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            debug!(attempt = attempts, "sending request");
            let outcome = request.send().await;

            let response = match outcome {
                Ok(r) => r,
                Err(err) => {
                    let err = err.without_url();
                    let reason = error_chain(&err);
                    if err.is_connect() {
                        // Nothing left this machine: safe to retry for every class.
                        let may_retry = match call.class {
                            Class::Idempotent => attempts < policy.max_attempts,
                            Class::Unsafe => connect_retries < policy.max_connect_retries,
                        };
                        if may_retry && inner.budget.try_spend(TIMEOUT_RETRY_COST) {
                            connect_retries += 1;
                            let delay = full_jitter(schedule.next().unwrap_or(policy.max_delay));
                            warn!(
                                attempt = attempts,
                                delay_ms = millis(delay),
                                "cannot connect; retrying"
                            );
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        return Err(match call.class {
                            Class::Idempotent => ApiError::Transport { reason },
                            Class::Unsafe => ApiError::NotSent { reason },
                        });
                    }
                    match call.class {
                        Class::Unsafe => {
                            warn!(
                                attempt = attempts,
                                "request failed after it may have been sent"
                            );
                            return Err(ApiError::Unknown {
                                reason: format!("{}: {reason}", describe_transport(&err)),
                                info: None,
                            });
                        }
                        Class::Idempotent => {
                            if attempts < policy.max_attempts
                                && inner.budget.try_spend(TIMEOUT_RETRY_COST)
                            {
                                let delay =
                                    full_jitter(schedule.next().unwrap_or(policy.max_delay));
                                warn!(
                                    attempt = attempts,
                                    delay_ms = millis(delay),
                                    "network error; retrying"
                                );
                                tokio::time::sleep(delay).await;
                                continue;
                            }
                            return Err(ApiError::Transport {
                                reason: format!("{}: {reason}", describe_transport(&err)),
                            });
                        }
                    }
                }
            };

            let status = response.status();
            let headers = response.headers().clone();
            let cap = if status.is_success() {
                MAX_BODY
            } else {
                MAX_ERROR_BODY
            };
            let body = read_capped(response, cap).await;

            if status.is_success() {
                match body {
                    Ok((bytes, true)) => {
                        inner.budget.record_success();
                        debug!(status = status.as_u16(), "request succeeded");
                        return Ok(bytes);
                    }
                    // Not read further: a body this large is not an answer herald asked for.
                    Ok((_, false)) => {
                        let reason = format!(
                            "the response is larger than {} MiB and was not read",
                            MAX_BODY / (1024 * 1024)
                        );
                        return Err(match call.class {
                            Class::Unsafe => ApiError::Unknown {
                                reason: format!("accepted (HTTP {}) but {reason}", status.as_u16()),
                                info: None,
                            },
                            Class::Idempotent => ApiError::Transport { reason },
                        });
                    }
                    Err(err) => match call.class {
                        Class::Unsafe => {
                            return Err(ApiError::Unknown {
                                reason: format!(
                                    "accepted (HTTP {}) but the response was cut off: {}",
                                    status.as_u16(),
                                    error_chain(&err.without_url())
                                ),
                                info: None,
                            });
                        }
                        Class::Idempotent => {
                            if attempts < policy.max_attempts
                                && inner.budget.try_spend(TIMEOUT_RETRY_COST)
                            {
                                tokio::time::sleep(full_jitter(
                                    schedule.next().unwrap_or(policy.max_delay),
                                ))
                                .await;
                                continue;
                            }
                            return Err(ApiError::Transport {
                                reason: format!(
                                    "response cut off: {}",
                                    error_chain(&err.without_url())
                                ),
                            });
                        }
                    },
                }
            }

            // An error body is read up to its cap; the rest is dropped unread.
            let body = body.map(|(b, _)| b).unwrap_or_default();
            let info = inner.tokens.with_secrets(Some(&token), |secrets| {
                ErrorInfo::from_response(status.as_u16(), &body, correlation(&headers), secrets)
            });
            debug!(
                status = status.as_u16(),
                code = info.code.as_deref().unwrap_or(""),
                "request failed"
            );

            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                inner.tokens.invalidate(token.generation).await;
                continue;
            }

            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let delay = retry_after
                    .unwrap_or_else(|| full_jitter(schedule.next().unwrap_or(policy.max_delay)));
                // Every worker shares the token, so every worker pauses — until the total time
                // paused by 429s would pass the budget. The request was refused before it ran,
                // so repeating it is safe for every class.
                match inner.throttle.pause_for(delay) {
                    Pause::Granted => {
                        warn!(
                            delay_ms = millis(delay),
                            waited_ms = millis(inner.throttle.waited()),
                            "rate limited; pausing all requests"
                        );
                        continue;
                    }
                    Pause::BudgetSpent { waited } => {
                        warn!(
                            retry_after_s = retry_after.map(|d| d.as_secs()),
                            waited_ms = millis(waited),
                            "rate limited; the wait budget is spent"
                        );
                        return Err(ApiError::RateLimited {
                            retry_after,
                            waited,
                            budget: inner.throttle.wait_budget(),
                            info: Box::new(info),
                        });
                    }
                }
            }

            if status.is_server_error() {
                match call.class {
                    Class::Unsafe => {
                        return Err(ApiError::Unknown {
                            reason: format!("server error after the request was sent: {info}"),
                            info: Some(Box::new(info)),
                        });
                    }
                    Class::Idempotent => {
                        if status != StatusCode::NOT_IMPLEMENTED
                            && attempts < policy.max_attempts
                            && inner.budget.try_spend(RETRY_COST)
                        {
                            let scheduled = schedule.next().unwrap_or(policy.max_delay);
                            let delay = headers
                                .get(RETRY_AFTER)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| parse_retry_after(v, SystemTime::now()))
                                .filter(|d| *d <= policy.max_retry_after)
                                .unwrap_or_else(|| full_jitter(scheduled));
                            warn!(
                                status = status.as_u16(),
                                delay_ms = millis(delay),
                                "server error; retrying"
                            );
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        return Err(ApiError::Server {
                            info: Box::new(info),
                        });
                    }
                }
            }

            return Err(ApiError::from_status(info, attempts > 1));
        }
    }
}

/// The most bytes of a successful response body that are read (a listing page of 100
/// responses is far smaller); a longer body is an error, not an answer.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;
/// The most bytes of an error body that are read; the rest is dropped unread.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads at most `cap` bytes of a response body, chunk by chunk, so a huge or endless body
/// never fills memory. Returns the bytes and whether that was the whole body (`false`: it
/// was longer, and the rest was left unread).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn correlation(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An error and its sources on one line (reqwest's own message alone is often just
/// "error sending request"). URLs are stripped by the caller; no header is ever included.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

fn describe_transport(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_body() || err.is_decode() {
        "response cut off"
    } else {
        "connection failed"
    }
}
