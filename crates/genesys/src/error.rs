//! Typed errors of the Genesys client and the mapping from the Genesys `ErrorBody`.
//!
//! Owns [`ApiError`] — the enum the executor branches on — and [`ErrorInfo`], which keeps the
//! Genesys `status`, `code`, `message` and correlation id (`contextId`) so a user can quote
//! them to Genesys support. Invariants: no variant ever holds a token or the client secret;
//! server-provided messages are masked for phone numbers and emails before they are stored;
//! `NotSent` is used only when the request provably never left this machine and `Unknown` for
//! every failure after which the server may have acted.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::redact::sanitize_server_text;

/// What Genesys said about a failed request, as carried in its standard error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// HTTP status code.
    pub status: u16,
    /// Genesys error code, e.g. `bad.request` or `too.many.requests.retry.after`.
    pub code: Option<String>,
    /// Human-readable message (phone numbers and emails masked).
    pub message: Option<String>,
    /// Genesys correlation id (`contextId`, or the `ININ-Correlation-Id` header).
    pub context_id: Option<String>,
    /// Per-field details, rendered as `field: errorCode` strings.
    pub details: Vec<String>,
    /// The limit that was hit, as `namespace/key=value`, when Genesys names one.
    pub limit: Option<String>,
}

impl ErrorInfo {
    /// Builds the info from an HTTP status, the response body and the correlation header.
    /// Every text the server chose passes through [`sanitize_server_text`]: `secrets` (the
    /// client secret, the token) are replaced, control characters escaped, length capped,
    /// phone numbers and emails masked.
    pub(crate) fn from_response(
        status: u16,
        body: &[u8],
        correlation: Option<String>,
        secrets: &[&str],
    ) -> Self {
        let clean = |text: &str| sanitize_server_text(text, secrets);
        let parsed: Option<WireErrorBody> = serde_json::from_slice(body).ok();
        let mut info = ErrorInfo {
            status,
            context_id: correlation.map(|c| clean(&c)),
            ..ErrorInfo::default()
        };
        if let Some(b) = parsed {
            info.code = b.code.filter(|c| !c.is_empty()).map(|c| clean(&c));
            info.message = b.message.filter(|m| !m.is_empty()).map(|m| clean(&m));
            if let Some(ctx) = b.context_id.filter(|c| !c.is_empty()) {
                info.context_id = Some(clean(&ctx));
            }
            info.details = b
                .details
                .into_iter()
                .map(|d| {
                    let field = d.field_name.unwrap_or_default();
                    let code = d.error_code.unwrap_or_default();
                    if field.is_empty() {
                        code
                    } else {
                        format!("{field}: {code}")
                    }
                })
                .filter(|s| !s.is_empty())
                .take(20)
                .map(|s| clean(&s))
                .collect();
            info.limit = b.limit.map(|l| {
                clean(&format!(
                    "{}/{}={}",
                    l.namespace.unwrap_or_default(),
                    l.key.unwrap_or_default(),
                    l.value.map(|v| v.to_string()).unwrap_or_default()
                ))
            });
        }
        info
    }

    /// True for a 409, or a 400 whose message says the version does not match — the two ways
    /// Genesys reports a stale `version` on an update.
    pub(crate) fn is_version_conflict(&self) -> bool {
        self.status == 409
            || (self.status == 400
                && self.message.as_deref().is_some_and(|m| {
                    m.to_ascii_lowercase()
                        .contains("does not match the current version")
                }))
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if !self.details.is_empty() {
            write!(f, " ({})", self.details.join("; "))?;
        }
        if let Some(limit) = &self.limit {
            write!(f, " [limit {limit}]")?;
        }
        if let Some(ctx) = &self.context_id {
            write!(f, " [correlation id {ctx}]")?;
        }
        Ok(())
    }
}

/// The Genesys `ErrorBody` (only the fields we keep; unknown fields ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireErrorBody {
    message: Option<String>,
    code: Option<String>,
    context_id: Option<String>,
    #[serde(default)]
    details: Vec<WireDetail>,
    limit: Option<WireLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDetail {
    error_code: Option<String>,
    field_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireLimit {
    key: Option<String>,
    namespace: Option<String>,
    value: Option<i64>,
}

/// Every way a call to Genesys can fail, shaped for the caller's decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 429 answers kept the client paused for its whole wait budget
    /// (`ClientConfig::rate_limit_wait_budget`, 10 minutes by default), or the next
    /// `Retry-After` would take it past the budget. For a send: not sent, safe to retry later —
    /// a run should stop here and be rerun to resume.
    #[error("rate limited by Genesys: 429 answers paused every request for {} of the {} wait budget{}; rerun to resume: {info}",
        fmt_duration(*.waited), fmt_duration(*.budget), fmt_retry_after(*.retry_after))]
    RateLimited {
        /// The last `Retry-After`, when the server gave a valid one.
        retry_after: Option<Duration>,
        /// Total time 429s had paused the client (all workers together, wall clock).
        waited: Duration,
        /// The configured wait budget.
        budget: Duration,
        /// The error body.
        info: Box<ErrorInfo>,
    },
    /// 401 after one token refresh and one retry.
    #[error("Genesys refused the access token even after renewing it: {info}")]
    Unauthorized {
        /// The error body.
        info: Box<ErrorInfo>,
    },
    /// 403: the OAuth client lacks a permission. Never retried.
    #[error("the OAuth client lacks a permission for this request: {info}")]
    Forbidden {
        /// The error body.
        info: Box<ErrorInfo>,
    },
    /// 404.
    #[error("not found: {info}")]
    NotFound {
        /// The error body.
        info: Box<ErrorInfo>,
    },
    /// 409, or 400 "does not match the current version": someone else changed the object.
    #[error("version conflict: the object changed since it was read{}: {info}",
        if *.after_retry { " (or an earlier attempt of this update was applied)" } else { "" })]
    Conflict {
        /// The error body.
        info: Box<ErrorInfo>,
        /// True when the conflict came on a retry, so an earlier attempt may have applied.
        after_retry: bool,
    },
    /// Any other 4xx: the request was refused and did not take effect (for a send: not sent).
    #[error("Genesys rejected the request: HTTP {status}{}{}{}{}",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
        if details.is_empty() { String::new() } else { format!(" ({})", details.join("; ")) },
        context_id.as_deref().map(|c| format!(" [correlation id {c}]")).unwrap_or_default())]
    Rejected {
        /// HTTP status code.
        status: u16,
        /// Genesys error code.
        code: Option<String>,
        /// Message (phone numbers and emails masked).
        message: Option<String>,
        /// Correlation id.
        context_id: Option<String>,
        /// Per-field details.
        details: Vec<String>,
    },
    /// 5xx on a request that is safe to repeat, after the retries allowed.
    #[error("Genesys server error (retries exhausted): {info}")]
    Server {
        /// The error body.
        info: Box<ErrorInfo>,
    },
    /// A non-idempotent request (a send or a create) may or may not have taken effect:
    /// timeout, connection reset after sending, 5xx, or a 2xx whose body could not be read.
    #[error("outcome unknown (the request may have taken effect): {reason}")]
    Unknown {
        /// What happened.
        reason: String,
        /// The error body, when the server answered.
        info: Option<Box<ErrorInfo>>,
    },
    /// The request provably never left this machine (connection refused or failed to connect).
    #[error("not sent: {reason}")]
    NotSent {
        /// What happened.
        reason: String,
    },
    /// A network failure on a request that is safe to repeat, after the retries allowed.
    #[error("network error talking to Genesys: {reason}")]
    Transport {
        /// What happened.
        reason: String,
    },
    /// The OAuth token request was refused (e.g. `invalid_client`).
    #[error("Genesys login failed: HTTP {status}{}{}", error.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Auth {
        /// HTTP status code.
        status: u16,
        /// The OAuth `error` field, e.g. `invalid_client`.
        error: Option<String>,
        /// The OAuth `error_description` / `description`.
        description: Option<String>,
    },
    /// A successful response whose body did not have the expected shape.
    #[error("unexpected response from Genesys for {what}: {reason}")]
    Decode {
        /// The operation.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
    /// The client configuration is unusable.
    #[error("invalid Genesys client configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

fn fmt_retry_after(d: Option<Duration>) -> String {
    d.map(|d| format!(" (last Retry-After {} s)", d.as_secs()))
        .unwrap_or_default()
}

/// `10m`, `2m 30s`, `45s`, `1.5s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 && !d.is_zero() {
        return format!("{:.1}s", d.as_secs_f64());
    }
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m {s}s"),
    }
}

impl ApiError {
    /// The Genesys error details, when the server answered with an error.
    pub fn info(&self) -> Option<&ErrorInfo> {
        match self {
            ApiError::RateLimited { info, .. }
            | ApiError::Unauthorized { info }
            | ApiError::Forbidden { info }
            | ApiError::NotFound { info }
            | ApiError::Conflict { info, .. }
            | ApiError::Server { info } => Some(info),
            ApiError::Unknown { info, .. } => info.as_deref(),
            _ => None,
        }
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Rejected { status, .. } | ApiError::Auth { status, .. } => Some(*status),
            _ => self.info().map(|i| i.status),
        }
    }

    /// Genesys error code, when the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Rejected { code, .. } => code.as_deref(),
            ApiError::Auth { error, .. } => error.as_deref(),
            _ => self.info().and_then(|i| i.code.as_deref()),
        }
    }

    /// Genesys correlation id, when the server gave one.
    pub fn context_id(&self) -> Option<&str> {
        match self {
            ApiError::Rejected { context_id, .. } => context_id.as_deref(),
            _ => self.info().and_then(|i| i.context_id.as_deref()),
        }
    }

    /// True when a send that failed this way certainly did not reach Genesys or was refused
    /// (safe to send again later); false when it may have been sent.
    pub fn is_definitely_not_sent(&self) -> bool {
        !matches!(self, ApiError::Unknown { .. })
    }

    /// Maps a final (non-retried) error status to its variant.
    pub(crate) fn from_status(info: ErrorInfo, after_retry: bool) -> Self {
        if info.is_version_conflict() {
            return ApiError::Conflict {
                info: Box::new(info),
                after_retry,
            };
        }
        let boxed = || Box::new(info.clone());
        match info.status {
            401 => ApiError::Unauthorized { info: boxed() },
            403 => ApiError::Forbidden { info: boxed() },
            404 => ApiError::NotFound { info: boxed() },
            429 => ApiError::RateLimited {
                retry_after: None,
                waited: Duration::ZERO,
                budget: Duration::ZERO,
                info: boxed(),
            },
            500..=599 => ApiError::Server { info: boxed() },
            _ => ApiError::Rejected {
                status: info.status,
                code: info.code,
                message: info.message,
                context_id: info.context_id,
                details: info.details,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(fmt_duration(Duration::from_secs(600)), "10m");
        assert_eq!(fmt_duration(Duration::from_secs(150)), "2m 30s");
        assert_eq!(fmt_duration(Duration::from_secs(45)), "45s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1s");
        assert_eq!(fmt_duration(Duration::from_millis(300)), "0.3s");
        assert_eq!(fmt_duration(Duration::ZERO), "0s");
    }

    const BODY: &str = r#"{"message":"The version 3 does not match the current version 4","code":"bad.request",
        "status":400,"contextId":"ctx-123","details":[{"errorCode":"x.y","fieldName":"version"}],
        "errors":[],"unknownField":true}"#;

    #[test]
    fn error_body_fields_are_kept() {
        let info = ErrorInfo::from_response(400, BODY.as_bytes(), Some("hdr".into()), &[]);
        assert_eq!(info.code.as_deref(), Some("bad.request"));
        assert_eq!(
            info.context_id.as_deref(),
            Some("ctx-123"),
            "body contextId wins"
        );
        assert_eq!(info.details, vec!["version: x.y".to_owned()]);
        let err = ApiError::from_status(info, false);
        assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("ctx-123") && text.contains("bad.request") && text.contains("400"));
    }

    #[test]
    fn plain_400_is_rejected_and_keeps_code_and_correlation() {
        let body =
            br#"{"message":"bad toAddress +15550100123","code":"invalid.value","status":400}"#;
        let info = ErrorInfo::from_response(400, body, Some("corr-9".into()), &[]);
        let err = ApiError::from_status(info, false);
        match &err {
            ApiError::Rejected {
                status,
                code,
                context_id,
                message,
                ..
            } => {
                assert_eq!(*status, 400);
                assert_eq!(code.as_deref(), Some("invalid.value"));
                assert_eq!(context_id.as_deref(), Some("corr-9"));
                assert!(!message.as_deref().unwrap().contains("5550100123"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("15550100123"));
        assert_eq!(err.code(), Some("invalid.value"));
        assert_eq!(err.context_id(), Some("corr-9"));
    }

    #[test]
    fn status_mapping() {
        let map =
            |s| ApiError::from_status(ErrorInfo::from_response(s, b"not json", None, &[]), false);
        assert!(matches!(map(401), ApiError::Unauthorized { .. }));
        assert!(matches!(map(403), ApiError::Forbidden { .. }));
        assert!(matches!(map(404), ApiError::NotFound { .. }));
        assert!(matches!(map(409), ApiError::Conflict { .. }));
        assert!(matches!(map(503), ApiError::Server { .. }));
        assert!(matches!(map(429), ApiError::RateLimited { .. }));
        assert!(matches!(map(422), ApiError::Rejected { status: 422, .. }));
    }
}
