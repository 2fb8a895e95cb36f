//! The HTTP receiver for inbound SMS replies (`herald serve`).
//!
//! Owns: the `POST /v1/inbound` contract posted by a Genesys Web Services Data Action, its
//! authentication, limits, timeouts and status codes, `GET /healthz`, `GET /livez` and
//! `GET /metrics`. Invariants (compliance reference §5):
//! - the shared secret is checked first, in constant time, against every configured secret;
//!   nothing is read or echoed before that;
//! - the body is capped (64 KiB by default), must arrive within the body timeout, and is never
//!   logged or returned: no message text, no full phone number (only [`mask_phone`]), no
//!   secret;
//! - a value that is an unrendered Data Action placeholder (`${input.text}`) is a 400 naming
//!   the field, never recorded;
//! - a 2xx means the inbound row and its suppression change are committed in one ledger
//!   transaction; any ledger failure is a 503 with `Retry-After` so the flow retries;
//! - a replayed message id is a 200 `duplicate` and changes nothing, unless its text differs
//!   from the one recorded (the ledger keeps a keyed MAC of each text, so this survives a
//!   restart): then it is a 409 `conflict`, recorded in the ledger, logged (masked) and
//!   counted, and an opt-out keyword in it still suppresses the sender in the same
//!   transaction (a STOP is never lost to a mis-mapped id; a START in it never lifts
//!   anything);
//! - connections that do not finish a request head within the header timeout, including idle
//!   keep-alive connections, are closed.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herald_ledger::{
    Channel, InboundAction, InboundRecord, InboundResult, Ledger, LedgerKey, mask_phone,
};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use jiff::Timestamp;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::keywords::KeywordSet;
use crate::metrics::{self, Metrics, Outcome};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "X-Herald-Secret";
/// The default request body cap: 64 KiB (opt-out payloads are under 2 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The shortest accepted shared secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// At most this many secrets are accepted at once (current and next, for rotation).
pub const MAX_SECRETS: usize = 2;
/// The `Retry-After` value, in seconds, sent with a 503.
pub const RETRY_AFTER_SECS: u32 = 5;
/// The longest accepted `messageId`, in bytes.
pub const MAX_MESSAGE_ID_LEN: usize = 256;
/// The default time a client has to send a request head (and the longest a keep-alive
/// connection may sit idle between requests).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a client has to send the request body once its head arrived.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time `/healthz` waits for the ledger write probe.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a `/healthz` probe result is reused, so probes cannot load the ledger.
const HEALTH_CACHE: Duration = Duration::from_secs(1);

/// A ledger shared between request handlers; each call runs on a blocking thread.
pub type SharedLedger = Arc<Mutex<Box<dyn Ledger>>>;

/// Why a receiver could not be configured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No shared secret was given: the receiver never runs unauthenticated.
    #[error("no inbound shared secret is configured; set one (two during a rotation)")]
    NoSecret,
    /// More than [`MAX_SECRETS`] secrets were given.
    #[error(
        "{0} inbound shared secrets are configured; at most {MAX_SECRETS} (current and next) are accepted"
    )]
    TooManySecrets(usize),
    /// A secret is shorter than [`MIN_SECRET_LEN`] bytes (the value is not shown).
    #[error(
        "inbound shared secret #{0} is shorter than {MIN_SECRET_LEN} bytes; use a long random value"
    )]
    ShortSecret(usize),
    /// The body limit is zero.
    #[error("the inbound body limit must be at least 1 byte")]
    ZeroBodyLimit,
    /// A timeout is zero.
    #[error("the {0} timeout must be longer than zero")]
    ZeroTimeout(&'static str),
}

/// Options of the HTTP server around the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time allowed for a request head, counted from the moment the connection waits for
    /// one: a new connection, or an idle keep-alive connection between requests.
    pub header_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

/// The last `/healthz` probe: when it ended and what it found, or the probe still running.
#[derive(Default)]
struct HealthProbe {
    last: Option<(Instant, bool)>,
    running: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

/// Everything the receiver needs: the ledger, the recipient key, the accepted secrets and
/// the keyword lists.
pub struct ReceiverState {
    /// `None` only while dropping (see the `Drop` impl).
    ledger: Option<SharedLedger>,
    key: LedgerKey,
    secret_digests: Vec<[u8; 32]>,
    keywords: KeywordSet,
    max_body_bytes: usize,
    body_timeout: Duration,
    health_timeout: Duration,
    metrics: Metrics,
    health: tokio::sync::Mutex<HealthProbe>,
    replies: Option<crate::replies::KeywordReplies>,
}

impl std::fmt::Debug for ReceiverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverState")
            .field("key", &self.key)
            .field("secrets", &self.secret_digests.len())
            .field("keywords", &self.keywords)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("body_timeout", &self.body_timeout)
            .field("health_timeout", &self.health_timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for ReceiverState {
    /// The router, and with it this state, is usually dropped on an async thread (the end of
    /// [`serve`], a finished connection task). A PostgreSQL ledger closes its connection by
    /// blocking on its own runtime, which panics there; so the ledger handle is released on
    /// a plain thread instead.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let Some(ledger) = self.ledger.take() {
            let _ = std::thread::spawn(move || drop(ledger)).join();
        }
    }
}

impl ReceiverState {
    /// A receiver state with the built-in keywords and the default body limit.
    ///
    /// `secrets` holds one secret, or two while rotating (both are accepted); each must be
    /// at least [`MIN_SECRET_LEN`] bytes. `key` must be the key the ledger was opened with,
    /// so inbound numbers map to the same recipient ids as campaign sends.
    pub fn new(
        ledger: SharedLedger,
        key: LedgerKey,
        secrets: &[SecretString],
    ) -> Result<ReceiverState, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        if secrets.len() > MAX_SECRETS {
            return Err(ConfigError::TooManySecrets(secrets.len()));
        }
        let mut secret_digests = Vec::with_capacity(secrets.len());
        for (i, s) in secrets.iter().enumerate() {
            let bytes = s.expose_secret().as_bytes();
            if bytes.len() < MIN_SECRET_LEN {
                return Err(ConfigError::ShortSecret(i + 1));
            }
            secret_digests.push(digest(bytes));
        }
        Ok(ReceiverState {
            ledger: Some(ledger),
            key,
            secret_digests,
            keywords: KeywordSet::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            metrics: Metrics::new(),
            health: tokio::sync::Mutex::new(HealthProbe::default()),
            replies: None,
        })
    }

    /// The shared ledger handle.
    fn ledger(&self) -> SharedLedger {
        Arc::clone(
            self.ledger
                .as_ref()
                .expect("the ledger handle is released only on drop"),
        )
    }

    /// Adds configured opt-out keywords to the built-in list.
    #[must_use]
    pub fn with_extra_keywords(mut self, extra: &[String]) -> ReceiverState {
        self.keywords = KeywordSet::new(extra);
        self
    }

    /// Answers HELP/INFO and confirms opt-outs with these texts, through this sender (see
    /// [`crate::replies`]).
    #[must_use]
    pub fn with_replies(mut self, replies: crate::replies::KeywordReplies) -> ReceiverState {
        self.replies = Some(replies);
        self
    }

    /// Sets the request body cap in bytes (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn with_max_body_bytes(mut self, max: usize) -> Result<ReceiverState, ConfigError> {
        if max == 0 {
            return Err(ConfigError::ZeroBodyLimit);
        }
        self.max_body_bytes = max;
        Ok(self)
    }

    /// Sets how long a client may take to send the body (default [`DEFAULT_BODY_TIMEOUT`]);
    /// a slower body is answered `408`.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Result<ReceiverState, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("body"));
        }
        self.body_timeout = timeout;
        Ok(self)
    }

    /// Sets how long `/healthz` waits for the ledger write probe before answering `503`
    /// (default [`DEFAULT_HEALTH_TIMEOUT`]).
    pub fn with_health_timeout(mut self, timeout: Duration) -> Result<ReceiverState, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("health"));
        }
        self.health_timeout = timeout;
        Ok(self)
    }

    /// Whether `presented` matches a configured secret. Compares SHA-256 digests in constant
    /// time (so neither content nor length leaks) against every secret, without stopping early.
    fn authorised(&self, presented: Option<&HeaderValue>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let presented = digest(presented.as_bytes());
        let mut ok = subtle::Choice::from(0);
        for expected in &self.secret_digests {
            ok |= expected.ct_eq(&presented);
        }
        bool::from(ok)
    }

    /// Whether the ledger can write now: [`Ledger::probe_write`] opens a write transaction
    /// (SQLite `BEGIN IMMEDIATE`, PostgreSQL the chain lock row `FOR UPDATE`), really writes
    /// a row and rolls it back, so a read-only or full database is not ready either. Results
    /// are reused for a second,
    /// and a probe still stuck from before counts as not writable without starting another.
    async fn ledger_writable(&self) -> bool {
        let mut probe = self.health.lock().await;
        if let Some((at, ok)) = probe.last
            && at.elapsed() < HEALTH_CACHE
        {
            return ok;
        }
        let mut handle = probe.running.take().unwrap_or_else(|| {
            let ledger = self.ledger();
            tokio::task::spawn_blocking(move || {
                let mut ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
                ledger.probe_write().map_err(|e| e.to_string())
            })
        });
        let ok = match tokio::time::timeout(self.health_timeout, &mut handle).await {
            Ok(Ok(Ok(()))) => true,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "health check: the ledger is not writable");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: the ledger probe failed");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.health_timeout.as_millis(),
                    "health check: the ledger did not open a write transaction in time (locked or unreachable)"
                );
                probe.running = Some(handle);
                false
            }
        };
        self.metrics.ledger_writable(ok);
        probe.last = Some((Instant::now(), ok));
        ok
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The receiver's routes: `POST /v1/inbound`, `GET /healthz` (readiness: the ledger is
/// writable), `GET /livez` (liveness: the process answers) and `GET /metrics`.
pub fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/v1/inbound", post(inbound))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics_page))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(Arc::new(state))
}

/// Serves the receiver on `listener` with the default [`ServeOptions`] until `shutdown`
/// completes, then stops accepting connections and waits for in-flight requests (so a STOP
/// being committed is answered).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ReceiverState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// [`serve`] with explicit options. HTTP/1.1 only (the TLS proxy in front speaks it
/// upstream); each connection must send a request head within `header_timeout` or is closed.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: ReceiverState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if e.is_timeout() {
                    tracing::debug!("connection closed: no complete request head in time");
                } else {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One log line per request: method, route, status, outcome and latency. The path is logged
/// only when it is one of the receiver's routes; no header, query or body is.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = match request.uri().path() {
        "/v1/inbound" => "/v1/inbound",
        "/healthz" => "/healthz",
        "/livez" => "/livez",
        "/metrics" => "/metrics",
        _ => "other",
    };
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .map_or("-", |o| o.as_str());
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        method = %method,
        path,
        status = response.status().as_u16(),
        outcome,
        latency_ms,
        "request"
    );
    response
}

async fn healthz(State(state): State<Arc<ReceiverState>>) -> Response {
    if state.ledger_writable().await {
        (
            StatusCode::OK,
            axum::Json(json!({ "status": "ok", "ledger": "writable" })),
        )
            .into_response()
    } else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable", "ledger": "not writable" })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    }
}

async fn livez() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn metrics_page(State(state): State<Arc<ReceiverState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found(State(state): State<Arc<ReceiverState>>) -> Response {
    counted(
        &state,
        Outcome::NotFound,
        error(StatusCode::NOT_FOUND, "not found", None),
    )
}

/// Counts the request and tags the response with its outcome for the request log.
fn counted(state: &ReceiverState, outcome: Outcome, mut response: Response) -> Response {
    state.metrics.request(outcome);
    response.extensions_mut().insert(outcome);
    response
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut body = json!({ "error": message });
    if let Some(field) = field {
        body["field"] = Value::from(field);
    }
    (status, axum::Json(body)).into_response()
}

/// A validated inbound message. Holds the text only until it is classified.
struct Inbound {
    message_id: String,
    from: String,
    text: String,
    timestamp: Option<Timestamp>,
}

/// A 400 naming the field at fault (never its value).
struct BadRequest {
    message: String,
    field: Option<String>,
}

impl BadRequest {
    fn field(field: &str, message: String) -> BadRequest {
        BadRequest {
            message,
            field: Some(field.to_owned()),
        }
    }

    fn into_response(self) -> Response {
        error(
            StatusCode::BAD_REQUEST,
            &self.message,
            self.field.as_deref(),
        )
    }
}

async fn inbound(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (outcome, response) = handle(&state, &headers, body).await;
    counted(&state, outcome, response)
}

async fn handle(
    state: &Arc<ReceiverState>,
    headers: &HeaderMap,
    body: Body,
) -> (Outcome, Response) {
    if !state.authorised(headers.get(SECRET_HEADER)) {
        tracing::warn!("inbound request rejected: missing or wrong {SECRET_HEADER} header");
        return (
            Outcome::Unauthorized,
            error(
                StatusCode::UNAUTHORIZED,
                &format!("missing or invalid {SECRET_HEADER} header"),
                None,
            ),
        );
    }
    let bytes = match read_body(headers, body, state.max_body_bytes, state.body_timeout).await {
        Ok(b) => b,
        Err(rejected) => return rejected,
    };
    let message = match parse(&bytes) {
        Ok(m) => m,
        Err(bad) => {
            tracing::warn!(
                field = bad.field.as_deref().unwrap_or("-"),
                "inbound request rejected: {}",
                bad.message
            );
            return (Outcome::BadRequest, bad.into_response());
        }
    };
    record(state, message).await
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, (Outcome, Response)> {
    let too_large = || {
        tracing::warn!(limit = max, "inbound request rejected: body too large");
        (
            Outcome::TooLarge,
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body is larger than {max} bytes"),
                None,
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err((
            Outcome::BadRequest,
            error(
                StatusCode::BAD_REQUEST,
                "could not read the request body",
                None,
            ),
        )),
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "inbound request rejected: body not received in time"
            );
            Err((
                Outcome::Timeout,
                error(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {} ms",
                        timeout.as_millis()
                    ),
                    None,
                ),
            ))
        }
    }
}

/// Parses and validates the JSON body. Messages name the field, never echo a value.
fn parse(bytes: &[u8]) -> Result<Inbound, BadRequest> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| BadRequest {
        message: format!(
            "request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
        field: None,
    })?;
    let Value::Object(obj) = value else {
        return Err(BadRequest {
            message: "request body must be a JSON object".to_owned(),
            field: None,
        });
    };
    // Before any other check: a Data Action whose input was not mapped sends the reference
    // itself. Recording it would key a suppression to nobody, or make every later message a
    // "duplicate" of the first and lose its opt-out.
    if let Some(field) = find_placeholder(&obj) {
        return Err(BadRequest::field(
            &field,
            format!(
                "field `{field}` is an unrendered Data Action placeholder (`${{input.…}}`); map the Data Action input to it"
            ),
        ));
    }
    let message_id = required_string(&obj, "messageId")?;
    let message_id = message_id.trim();
    if message_id.is_empty() {
        return Err(BadRequest::field(
            "messageId",
            "field `messageId` must not be empty".to_owned(),
        ));
    }
    if message_id.len() > MAX_MESSAGE_ID_LEN {
        return Err(BadRequest::field(
            "messageId",
            format!("field `messageId` is longer than {MAX_MESSAGE_ID_LEN} bytes"),
        ));
    }
    let from_raw = required_string(&obj, "from")?;
    let from = normalise_e164(from_raw).ok_or_else(|| {
        BadRequest::field(
            "from",
            "field `from` must be an E.164 phone number (`+` then 8 to 15 digits)".to_owned(),
        )
    })?;
    let text = required_string(&obj, "text")?;
    // Informational fields: checked for type only, so a missing one never loses an opt-out.
    optional_string(&obj, "conversationId")?;
    optional_string(&obj, "to")?;
    let timestamp = optional_string(&obj, "timestamp")?
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .and_then(|t| {
            let parsed = t.parse::<Timestamp>().ok();
            if parsed.is_none() {
                tracing::warn!(
                    "inbound `timestamp` is not RFC 3339; recording the receive time instead"
                );
            }
            parsed
        });
    Ok(Inbound {
        message_id: message_id.to_owned(),
        from,
        text: text.to_owned(),
        timestamp,
    })
}

/// The path (`text`, `extra.note`, `list[2]`) of the first string value, at any depth, that
/// is an unrendered Velocity reference. Object keys in the path are cut to 64 characters.
fn find_placeholder(obj: &Map<String, Value>) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => is_unrendered_template(s).then(|| path.to_owned()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                let k: String = k.chars().take(64).collect();
                let path = if path.is_empty() {
                    k
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &path)
            }),
            Value::Null | Value::Bool(_) | Value::Number(_) => None,
        }
    }
    // Check the contract's own fields first, so the message names the one that matters.
    for field in [
        "messageId",
        "from",
        "text",
        "conversationId",
        "to",
        "timestamp",
    ] {
        if let Some(path) = obj.get(field).and_then(|v| walk(v, field)) {
            return Some(path);
        }
    }
    walk(&Value::Object(obj.clone()), "")
}

/// Whether a value is a Velocity reference the Data Action left unrendered: the whole value
/// is one (`${input.x}`, `$!{x}`), or it contains a reference to the action's input
/// (`${input.`, `$!{input.`, `$input.`, `$!input.`).
fn is_unrendered_template(value: &str) -> bool {
    let v = value.trim();
    let whole = (v.starts_with("${") || v.starts_with("$!{")) && v.ends_with('}');
    whole
        || ["${input.", "$!{input.", "$input.", "$!input."]
            .iter()
            .any(|r| v.contains(r))
}

fn required_string<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, BadRequest> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        None => Err(BadRequest::field(field, format!("missing field `{field}`"))),
        Some(_) => Err(BadRequest::field(
            field,
            format!("field `{field}` must be a string"),
        )),
    }
}

fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, BadRequest> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(Some(s)),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(BadRequest::field(
            field,
            format!("field `{field}` must be a string"),
        )),
    }
}

/// Normalises a sender number to the E.164 form campaign sends are keyed by: a leading `+`
/// and 8 to 15 digits, the first not `0`. Spaces, dashes, dots, parentheses and a `tel:`
/// prefix are dropped; anything else (letters, a missing `+`) is refused, because guessing a
/// country code could key the suppression to the wrong recipient.
fn normalise_e164(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_prefix("tel:").unwrap_or(s);
    let mut out = String::with_capacity(16);
    for c in s.chars() {
        match c {
            '+' if out.is_empty() => out.push('+'),
            '0'..='9' if !out.is_empty() => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let digits = &out.get(1..)?;
    ((8..=15).contains(&digits.len()) && !digits.starts_with('0')).then_some(out)
}

/// Runs a ledger call on a blocking thread, timing it.
async fn with_ledger<T: Send + 'static>(
    state: &ReceiverState,
    call: impl FnOnce(&mut dyn Ledger) -> herald_ledger::Result<T> + Send + 'static,
) -> Result<herald_ledger::Result<T>, tokio::task::JoinError> {
    let ledger = state.ledger();
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        // A panic in an earlier call poisons the mutex; every ledger method is one
        // transaction that rolls back when dropped, so the ledger itself is still consistent.
        let mut ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
        call(ledger.as_mut())
    })
    .await;
    state.metrics.ledger_write(started.elapsed());
    outcome
}

async fn record(state: &Arc<ReceiverState>, message: Inbound) -> (Outcome, Response) {
    let Inbound {
        message_id,
        from,
        text,
        timestamp,
    } = message;
    let classification = state.keywords.classify(&text);
    let text_mac = state.key.text_mac(&text);
    drop(text);
    let masked = mask_phone(&from);
    let recipient = state.key.recipient_id(Channel::Sms, &from);
    // Kept only while a reply may go to it; never logged.
    let reply_to = state.replies.is_some().then(|| from.clone());
    drop(from);
    let received_at = timestamp.unwrap_or_else(Timestamp::now);
    let record = InboundRecord {
        message_id: message_id.clone(),
        recipient: recipient.clone(),
        masked: masked.clone(),
        channel: Channel::Sms,
        action: classification.action,
        flagged: classification.flagged,
        received_at,
        text_mac: Some(text_mac),
    };
    let outcome = with_ledger(state, move |ledger| ledger.record_inbound(&record)).await;
    let action = action_str(classification.action);
    let keyword = classification.keyword.as_deref().unwrap_or("-");
    // A first delivery or a replay of the same message may be answered (the ledger keeps it
    // to one reply per message id); a conflicting replay never is.
    let reply = match (&outcome, reply_to) {
        (Ok(Ok(InboundResult::Recorded { .. } | InboundResult::Duplicate)), Some(to)) => {
            let kind = match classification.action {
                InboundAction::Help => Some(herald_ledger::ReplyKind::Help),
                InboundAction::Suppress => Some(herald_ledger::ReplyKind::OptOutConfirmation),
                InboundAction::Resubscribe | InboundAction::None => None,
            };
            match kind {
                Some(kind) => {
                    send_reply(
                        state,
                        &message_id,
                        kind,
                        to,
                        recipient,
                        &masked,
                        received_at,
                    )
                    .await
                }
                None => None,
            }
        }
        _ => None,
    };
    let with_reply = |mut body: Value| {
        if let (Some(r), Some(map)) = (reply, body.as_object_mut()) {
            map.insert("reply".into(), Value::from(r));
        }
        axum::Json(body)
    };
    match outcome {
        Ok(Ok(InboundResult::Recorded {
            suppression_changed,
        })) => {
            match classification.action {
                InboundAction::Suppress => state.metrics.opt_out(),
                InboundAction::Resubscribe => state.metrics.resubscribe(),
                InboundAction::Help | InboundAction::None => {}
            }
            if classification.flagged {
                tracing::warn!(
                    message_id,
                    from = masked,
                    action,
                    keyword,
                    suppression_changed,
                    "inbound reply recorded; keyword inside a longer or unusual reply, flagged for review"
                );
            } else {
                tracing::info!(
                    message_id,
                    from = masked,
                    action,
                    keyword,
                    suppression_changed,
                    "inbound reply recorded"
                );
            }
            (
                Outcome::Recorded,
                (
                    StatusCode::OK,
                    with_reply(json!({
                        "status": "recorded",
                        "action": action,
                        "flagged": classification.flagged,
                    })),
                )
                    .into_response(),
            )
        }
        Ok(Ok(InboundResult::Duplicate)) => {
            tracing::info!(message_id, from = masked, "inbound reply already recorded");
            (
                Outcome::Duplicate,
                (StatusCode::OK, with_reply(json!({ "status": "duplicate" }))).into_response(),
            )
        }
        Ok(Ok(InboundResult::Conflict {
            suppression_changed,
        })) => replay_conflict(
            &message_id,
            &masked,
            classification.action,
            suppression_changed,
        ),
        Ok(Err(e)) => {
            tracing::error!(message_id, from = masked, error = %e, "inbound reply NOT recorded: ledger error; answering 503 so the sender retries");
            (Outcome::Unavailable, unavailable())
        }
        Err(e) => {
            tracing::error!(message_id, from = masked, error = %e, "inbound reply NOT recorded: ledger task failed; answering 503 so the sender retries");
            (Outcome::Unavailable, unavailable())
        }
    }
}

/// Claims, sends and records the reply of `kind` to inbound message `message_id` (nothing
/// when no text is configured for it); returns what happened (`sent`, `skipped`, `failed`,
/// `already_answered`, `error`). Logged with the masked number only.
async fn send_reply(
    state: &Arc<ReceiverState>,
    message_id: &str,
    kind: herald_ledger::ReplyKind,
    to: String,
    recipient: herald_ledger::RecipientId,
    masked: &str,
    received_at: Timestamp,
) -> Option<&'static str> {
    let replies = state.replies.as_ref()?;
    let text = replies.text(kind)?.to_owned();
    let claim = crate::replies::claim(
        message_id,
        kind,
        recipient,
        masked.to_owned(),
        &text,
        received_at,
        Timestamp::now(),
    );
    let claimed = with_ledger(state, move |ledger| ledger.claim_reply(&claim))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let sent = if matches!(claimed, Ok(herald_ledger::ReplyClaimResult::Claimed)) {
        let sending = replies.sender.send(&to, &text);
        drop(to);
        let sent = match tokio::time::timeout(crate::replies::SEND_TIMEOUT, sending).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {} s",
                crate::replies::SEND_TIMEOUT.as_secs()
            )),
        };
        let outcome = crate::replies::outcome(&sent);
        let id = message_id.to_owned();
        let recorded = with_ledger(state, move |ledger| ledger.record_reply(&id, &outcome)).await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::error!(
                message_id,
                from = masked,
                "keyword reply outcome NOT recorded: the ledger failed; it stays `dispatching` and is never sent again"
            );
        }
        Some(sent)
    } else {
        None
    };
    let what = crate::replies::describe(&claimed, sent.as_ref());
    match (&claimed, &sent) {
        (Err(e), _) => {
            tracing::error!(message_id, from = masked, reply = kind.as_str(), error = %e, "keyword reply not claimed: ledger error; not sent");
        }
        (Ok(herald_ledger::ReplyClaimResult::Skipped(why)), _) => {
            tracing::info!(message_id, from = masked, reply = kind.as_str(), reason = %why, "keyword reply skipped");
        }
        (_, Some(Err(why))) => {
            tracing::warn!(message_id, from = masked, reply = kind.as_str(), error = %why, "keyword reply failed; not retried");
        }
        _ => tracing::info!(
            message_id,
            from = masked,
            reply = kind.as_str(),
            outcome = what,
            "keyword reply"
        ),
    }
    Some(what)
}

/// A recorded message id arrived again with a different text: a mis-mapped id (e.g. the
/// conversation id) or a forged replay. Not a plain duplicate: the ledger recorded it as an
/// `inbound_conflict` event and, for an opt-out keyword, suppressed the sender in the same
/// transaction (its own audit source); a re-subscribe keyword lifted nothing. Logged
/// (masked) and counted here, answered `409`.
fn replay_conflict(
    message_id: &str,
    masked: &str,
    action: InboundAction,
    suppression_changed: bool,
) -> (Outcome, Response) {
    let action_name = action_str(action);
    // An opt-out keyword in a conflict always leaves the sender suppressed.
    let suppressed = action == InboundAction::Suppress;
    tracing::warn!(
        message_id,
        from = masked,
        action = action_name,
        suppressed,
        suppression_changed,
        "replayed message id with a different text: flagged, not treated as a duplicate; check that the Data Action maps messageId to the message's own id"
    );
    (
        Outcome::ReplayConflict,
        (
            StatusCode::CONFLICT,
            axum::Json(json!({
                "status": "conflict",
                "error": "this messageId was already recorded with a different text; map messageId to the message's own id",
                "field": "messageId",
                "action": action_name,
                "suppressed": suppressed,
            })),
        )
            .into_response(),
    )
}

fn unavailable() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the ledger could not record the message; retry later",
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

fn action_str(action: InboundAction) -> &'static str {
    match action {
        InboundAction::Suppress => "suppress",
        InboundAction::Resubscribe => "resubscribe",
        InboundAction::Help => "help",
        InboundAction::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_normalisation_keeps_only_plus_and_digits() {
        assert_eq!(
            normalise_e164(" +1 (555) 010-0100 ").as_deref(),
            Some("+15550100100")
        );
        assert_eq!(
            normalise_e164("tel:+447700900123").as_deref(),
            Some("+447700900123")
        );
        assert_eq!(normalise_e164("15550100100"), None, "no +");
        assert_eq!(normalise_e164("+0123456789"), None, "leading zero");
        assert_eq!(normalise_e164("+1234567"), None, "7 digits");
        assert_eq!(normalise_e164("+1234567890123456"), None, "16 digits");
        assert_eq!(normalise_e164("+1555010010a"), None, "letter");
        assert_eq!(normalise_e164("+1+5550100100"), None, "second +");
        assert_eq!(normalise_e164(""), None);
    }

    #[test]
    fn parse_names_the_missing_or_mistyped_field() {
        let err = |body: &str| parse(body.as_bytes()).err().expect("rejected");
        let e = err(r#"{"from":"+15550100100","text":"STOP"}"#);
        assert_eq!(e.field.as_deref(), Some("messageId"));
        assert!(e.message.contains("missing field `messageId`"));
        let e = err(r#"{"messageId":"m","text":"STOP"}"#);
        assert_eq!(e.field.as_deref(), Some("from"));
        let e = err(r#"{"messageId":"m","from":"+15550100100"}"#);
        assert_eq!(e.field.as_deref(), Some("text"));
        let e = err(r#"{"messageId":7,"from":"+15550100100","text":"x"}"#);
        assert_eq!(e.message, "field `messageId` must be a string");
        let e = err(r#"{"messageId":"m","from":"+15550100100","text":"x","to":5}"#);
        assert_eq!(e.field.as_deref(), Some("to"));
        let e = err(r#"{"messageId":"${input.messageId}","from":"+15550100100","text":"x"}"#);
        assert_eq!(e.field.as_deref(), Some("messageId"));
        assert!(e.message.contains("unrendered"));
        let e = err("[1,2]");
        assert_eq!(e.field, None);
        let e = err("{\"messageId\":");
        assert!(e.message.starts_with("request body is not valid JSON"));
    }

    #[test]
    fn parse_accepts_extra_fields_and_tolerates_a_bad_timestamp() {
        let ok = parse(
            br#"{"messageId":" m-1 ","from":"+15550100100","text":"STOP","extra":{"a":1},
                "conversationId":null,"timestamp":"2026-03-01T12:00:00Z"}"#,
        )
        .ok()
        .expect("accepted");
        assert_eq!(ok.message_id, "m-1");
        assert_eq!(
            ok.timestamp,
            Some("2026-03-01T12:00:00Z".parse().expect("timestamp"))
        );
        let ok =
            parse(br#"{"messageId":"m","from":"+15550100100","text":"","timestamp":"yesterday"}"#)
                .ok()
                .expect("accepted");
        assert_eq!(ok.timestamp, None);
    }

    #[test]
    fn configuration_is_validated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = LedgerKey::from_secret(
            "ddf01676fba4b84dd0dfcc7b338469357e9f70dff8ece607e087392506e81c4c",
        )
        .expect("key");
        let ledger =
            herald_ledger::SqliteLedger::open(&dir.path().join("l.db"), &key).expect("ledger");
        let shared: SharedLedger = Arc::new(Mutex::new(Box::new(ledger)));
        let s = |v: &str| SecretString::from(v.to_owned());
        let new = |secrets: &[SecretString]| {
            ReceiverState::new(Arc::clone(&shared), key.clone(), secrets).map(|_| ())
        };
        assert_eq!(new(&[]), Err(ConfigError::NoSecret));
        assert_eq!(
            new(&[s("a-long-enough-secret-1"), s("short")]),
            Err(ConfigError::ShortSecret(2))
        );
        assert_eq!(
            new(&[
                s("a-long-enough-secret-1"),
                s("a-long-enough-secret-2"),
                s("a-long-enough-secret-3")
            ]),
            Err(ConfigError::TooManySecrets(3))
        );
        let state = ReceiverState::new(
            Arc::clone(&shared),
            key.clone(),
            &[s("a-long-enough-secret-1")],
        )
        .expect("valid");
        assert!(!format!("{state:?}").contains("a-long-enough-secret-1"));
        assert!(state.authorised(Some(&HeaderValue::from_static("a-long-enough-secret-1"))));
        assert!(!state.authorised(Some(&HeaderValue::from_static("a-long-enough-secret-"))));
        assert!(!state.authorised(None));
        assert_eq!(
            state.with_max_body_bytes(0).map(|_| ()),
            Err(ConfigError::ZeroBodyLimit)
        );
    }
}
