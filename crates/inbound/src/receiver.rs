//! The HTTP receiver for inbound SMS replies (`herald serve`).
//!
//! Owns: the `POST /v1/inbound` contract posted by a Genesys Web Services Data Action, its
//! authentication, limits and status codes, and `GET /healthz`. Invariants (compliance
//! reference §5):
//! - the shared secret is checked first, in constant time, against every configured secret;
//!   nothing is read or echoed before that;
//! - the body is capped (64 KiB by default) and never logged or returned: no message text,
//!   no full phone number (only [`mask_phone`]), no secret;
//! - a 2xx means the inbound row and its suppression change are committed in one ledger
//!   transaction; any ledger failure is a 503 with `Retry-After` so the flow retries;
//! - a replayed message id is a 200 `duplicate` and changes nothing.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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
}

/// Everything the receiver needs: the ledger, the recipient key, the accepted secrets and
/// the keyword lists.
pub struct ReceiverState {
    ledger: SharedLedger,
    key: LedgerKey,
    secret_digests: Vec<[u8; 32]>,
    keywords: KeywordSet,
    max_body_bytes: usize,
}

impl std::fmt::Debug for ReceiverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverState")
            .field("key", &self.key)
            .field("secrets", &self.secret_digests.len())
            .field("keywords", &self.keywords)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
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
            ledger,
            key,
            secret_digests,
            keywords: KeywordSet::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// Adds configured opt-out keywords to the built-in list.
    #[must_use]
    pub fn with_extra_keywords(mut self, extra: &[String]) -> ReceiverState {
        self.keywords = KeywordSet::new(extra);
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
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The receiver's routes: `POST /v1/inbound` and `GET /healthz`.
pub fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/v1/inbound", post(inbound))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(Arc::new(state))
}

/// Serves the receiver on `listener` until `shutdown` completes, then stops accepting
/// connections and waits for in-flight requests (so a STOP being committed is answered).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ReceiverState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found", None)
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
    field: Option<&'static str>,
}

impl BadRequest {
    fn field(field: &'static str, message: String) -> BadRequest {
        BadRequest {
            message,
            field: Some(field),
        }
    }

    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, &self.message, self.field)
    }
}

async fn inbound(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.authorised(headers.get(SECRET_HEADER)) {
        tracing::warn!("inbound request rejected: missing or wrong {SECRET_HEADER} header");
        return error(
            StatusCode::UNAUTHORIZED,
            &format!("missing or invalid {SECRET_HEADER} header"),
            None,
        );
    }
    let bytes = match read_body(&headers, body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let message = match parse(&bytes) {
        Ok(m) => m,
        Err(bad) => {
            tracing::warn!(
                field = bad.field.unwrap_or("-"),
                "inbound request rejected: {}",
                bad.message
            );
            return bad.into_response();
        }
    };
    record(&state, message).await
}

async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Vec<u8>, Response> {
    let too_large = || {
        tracing::warn!(limit = max, "inbound request rejected: body too large");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is larger than {max} bytes"),
            None,
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "could not read the request body",
            None,
        )),
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
    let message_id = required_string(&obj, "messageId")?;
    let message_id = message_id.trim();
    if message_id.is_empty() {
        return Err(BadRequest::field(
            "messageId",
            "field `messageId` must not be empty".to_owned(),
        ));
    }
    if is_unrendered_template(message_id) {
        // A Data Action whose input was not mapped sends the reference itself; accepting it
        // would make every later message a "duplicate" of the first and lose its opt-out.
        return Err(BadRequest::field(
            "messageId",
            "field `messageId` is an unrendered template reference; map the Data Action input"
                .to_owned(),
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

/// Whether a value is a Velocity reference the Data Action left unrendered (`${input.x}`).
fn is_unrendered_template(value: &str) -> bool {
    value.starts_with("${") || value.starts_with("$!{")
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

async fn record(state: &Arc<ReceiverState>, message: Inbound) -> Response {
    let Inbound {
        message_id,
        from,
        text,
        timestamp,
    } = message;
    let classification = state.keywords.classify(&text);
    drop(text);
    let masked = mask_phone(&from);
    let record = InboundRecord {
        message_id: message_id.clone(),
        recipient: state.key.recipient_id(Channel::Sms, &from),
        masked: masked.clone(),
        channel: Channel::Sms,
        action: classification.action,
        flagged: classification.flagged,
        received_at: timestamp.unwrap_or_else(Timestamp::now),
    };
    drop(from);
    let ledger = Arc::clone(&state.ledger);
    let outcome = tokio::task::spawn_blocking(move || {
        // A panic in an earlier call poisons the mutex; every ledger method is one
        // transaction that rolls back when dropped, so the ledger itself is still consistent.
        let mut ledger = ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.record_inbound(&record)
    })
    .await;
    let action = action_str(classification.action);
    let keyword = classification.keyword.as_deref().unwrap_or("-");
    match outcome {
        Ok(Ok(InboundResult::Recorded {
            suppression_changed,
        })) => {
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
                StatusCode::OK,
                axum::Json(json!({
                    "status": "recorded",
                    "action": action,
                    "flagged": classification.flagged,
                })),
            )
                .into_response()
        }
        Ok(Ok(InboundResult::Duplicate)) => {
            tracing::info!(message_id, from = masked, "inbound reply already recorded");
            (StatusCode::OK, axum::Json(json!({ "status": "duplicate" }))).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(message_id, from = masked, error = %e, "inbound reply NOT recorded: ledger error; answering 503 so the sender retries");
            unavailable()
        }
        Err(e) => {
            tracing::error!(message_id, from = masked, error = %e, "inbound reply NOT recorded: ledger task failed; answering 503 so the sender retries");
            unavailable()
        }
    }
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
        assert_eq!(e.field, Some("messageId"));
        assert!(e.message.contains("missing field `messageId`"));
        let e = err(r#"{"messageId":"m","text":"STOP"}"#);
        assert_eq!(e.field, Some("from"));
        let e = err(r#"{"messageId":"m","from":"+15550100100"}"#);
        assert_eq!(e.field, Some("text"));
        let e = err(r#"{"messageId":7,"from":"+15550100100","text":"x"}"#);
        assert_eq!(e.message, "field `messageId` must be a string");
        let e = err(r#"{"messageId":"m","from":"+15550100100","text":"x","to":5}"#);
        assert_eq!(e.field, Some("to"));
        let e = err(r#"{"messageId":"${input.messageId}","from":"+15550100100","text":"x"}"#);
        assert_eq!(e.field, Some("messageId"));
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
        let key = LedgerKey::from_secret(&"ab".repeat(32)).expect("key");
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
