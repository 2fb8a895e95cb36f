//! The OAuth access token: client-credentials grant, in-memory cache, single-flight renewal.
//!
//! Owns the token lifecycle. Invariants: the token lives only in memory, inside a
//! `SecretString`; at most one token request is in flight at any time (a tokio mutex is held
//! across the grant, so concurrent workers wait for it and share its result); a token is renewed
//! when less than [`RENEW_MARGIN`] of its life remains (or half its life, for tokens shorter
//! than twice that), or when a worker reports a 401 for the token generation it used — a
//! report about an older generation is ignored, so N workers hitting 401 cause one request.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, instrument};

use crate::credentials::Credentials;
use crate::error::ApiError;
use crate::redact::sanitize_server_text;

/// Renew a token when less than this remains (DESIGN §5).
pub const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The most bytes of a token response that are read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Attempts of one token grant when the login service fails transiently.
const TOKEN_ATTEMPTS: u32 = 3;

fn is_transient(err: &ApiError) -> bool {
    match err {
        ApiError::Transport { .. } | ApiError::NotSent { .. } => true,
        ApiError::Auth { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// A token handed to a worker: the value and the generation it belongs to.
#[derive(Clone)]
pub(crate) struct IssuedToken {
    pub(crate) value: Arc<SecretString>,
    pub(crate) generation: u64,
}

impl IssuedToken {
    /// The `Authorization: Bearer …` header value, marked sensitive.
    pub(crate) fn header(&self) -> HeaderValue {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.value.expose_secret()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        value.set_sensitive(true);
        value
    }
}

struct Cached {
    token: IssuedToken,
    renew_at: Instant,
}

/// Fetches and caches the access token.
impl TokenManager {
    /// The login host's base URL (where the token is requested; not the API host).
    pub(crate) fn login_base(&self) -> &str {
        self.token_url
            .strip_suffix("/oauth/token")
            .unwrap_or(&self.token_url)
    }
}

pub(crate) struct TokenManager {
    http: reqwest::Client,
    token_url: String,
    credentials: Credentials,
    state: Mutex<Option<Cached>>,
    /// The token most recently issued, for scrubbing errors outside a request's own scope.
    last: std::sync::Mutex<Option<Arc<SecretString>>>,
    generation: std::sync::atomic::AtomicU64,
    requests: std::sync::atomic::AtomicU64,
    /// Whether the most recent token came with [`crate::HERALD_SANDBOX_HEADER`].
    from_sandbox: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("token_url", &self.token_url)
            .field("client_id", &self.credentials.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AuthResponse {
    access_token: SecretString,
    /// Any JSON value: read by [`token_lifetime`], which clamps it.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The lifetime assumed when the login service gives none (or none that is a number).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(86_400);
/// The shortest lifetime used: shorter claims (0, negative) would ask for a new token on
/// every request (a token is renewed at half its life when that is short).
const MIN_LIFETIME: Duration = Duration::from_secs(1);
/// The longest lifetime used (Genesys tokens last at most 48 hours); longer claims, up to
/// `u64::MAX`, are clamped so no deadline arithmetic can overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// The token lifetime from the `expires_in` the login service sent, clamped to
/// [`MIN_LIFETIME`]..=[`MAX_LIFETIME`]; absent or not a number: [`DEFAULT_LIFETIME`].
fn token_lifetime(expires_in: Option<&serde_json::Value>) -> Duration {
    let secs = match expires_in {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| u64::try_from(i).unwrap_or(0)))
            .or_else(|| {
                n.as_f64().map(|f| {
                    if f.is_finite() && f > 0.0 {
                        // Saturating float-to-integer conversion.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let whole = f as u64;
                        whole
                    } else {
                        0
                    }
                })
            }),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    secs.map_or(DEFAULT_LIFETIME, |s| {
        Duration::from_secs(s).clamp(MIN_LIFETIME, MAX_LIFETIME)
    })
}

#[derive(Deserialize)]
struct AuthErrorResponse {
    error: Option<String>,
    error_description: Option<String>,
    description: Option<String>,
}

impl TokenManager {
    pub(crate) fn new(http: reqwest::Client, login_base: &str, credentials: Credentials) -> Self {
        Self {
            http,
            token_url: format!("{}/oauth/token", login_base.trim_end_matches('/')),
            credentials,
            state: Mutex::new(None),
            last: std::sync::Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            requests: std::sync::atomic::AtomicU64::new(0),
            from_sandbox: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Runs `f` with the strings that must never appear in an error: the client secret, the
    /// `Basic` credentials built from it, the token most recently issued, and `token` when
    /// given.
    pub(crate) fn with_secrets<R>(
        &self,
        token: Option<&IssuedToken>,
        f: impl FnOnce(&[&str]) -> R,
    ) -> R {
        let secret = self.credentials.client_secret.expose_secret();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{secret}", self.credentials.client_id));
        let mut secrets = vec![secret, basic.as_str()];
        if let Some(t) = token {
            secrets.push(t.value.expose_secret());
        }
        let last = self.last.lock().ok().and_then(|l| l.clone());
        if let Some(t) = &last {
            secrets.push(t.expose_secret());
        }
        f(&secrets)
    }

    /// How many token requests this manager has made (for diagnostics and tests).
    pub(crate) fn requests_made(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the most recent token response was marked as herald's sandbox's (false before
    /// any token was issued).
    pub(crate) fn issued_by_sandbox(&self) -> bool {
        self.from_sandbox.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A valid token, fetching one if there is none or it is due for renewal.
    pub(crate) async fn get(&self) -> Result<IssuedToken, ApiError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = state.as_ref()
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        let mut attempt = 0u32;
        let fresh = loop {
            attempt += 1;
            match self.fetch().await {
                Ok(fresh) => break fresh,
                // The grant is safe to repeat: retry a few transient failures of the login
                // service (never a refusal of the credentials).
                Err(e) if attempt < TOKEN_ATTEMPTS && is_transient(&e) => {
                    let delay = crate::retry::full_jitter(Duration::from_millis(200 << attempt));
                    debug!(attempt, "token request failed transiently; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        };
        let token = fresh.token.clone();
        if let Ok(mut last) = self.last.lock() {
            *last = Some(token.value.clone());
        }
        *state = Some(fresh);
        Ok(token)
    }

    /// Reports that `generation` was refused with 401. The cached token is dropped only if it
    /// is still that generation, so the next `get` fetches exactly one new token.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            debug!(generation, "access token refused; it will be renewed");
            *state = None;
        }
    }

    #[instrument(skip_all, name = "oauth_token")]
    async fn fetch(&self) -> Result<Cached, ApiError> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.credentials.client_id,
            self.credentials.client_secret.expose_secret()
        ));
        let mut auth =
            HeaderValue::try_from(format!("Basic {basic}")).map_err(|_| ApiError::Config {
                reason: "the client id or secret contains characters not allowed in a header"
                    .to_owned(),
            })?;
        auth.set_sensitive(true);
        let started = Instant::now();
        let response = self
            .http
            .post(&self.token_url)
            .header(AUTHORIZATION, auth)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    ApiError::NotSent {
                        reason: format!(
                            "cannot reach the Genesys login host {}: {}",
                            self.login_base(),
                            crate::client::error_chain(&e.without_url())
                        ),
                    }
                } else {
                    ApiError::Transport {
                        reason: format!(
                            "token request to the login host {} failed: {}",
                            self.login_base(),
                            crate::client::error_chain(&e.without_url())
                        ),
                    }
                }
            })?;
        let status = response.status();
        let marked = response
            .headers()
            .get(crate::HERALD_SANDBOX_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        let (body, complete) = crate::client::read_capped(response, MAX_TOKEN_BODY)
            .await
            .map_err(|e| ApiError::Transport {
                reason: format!(
                    "token response could not be read: {}",
                    crate::client::error_chain(&e.without_url())
                ),
            })?;
        if !status.is_success() {
            let parsed: Option<AuthErrorResponse> = serde_json::from_slice(&body).ok();
            let (error, description) = parsed
                .map(|p| (p.error, p.error_description.or(p.description)))
                .unwrap_or_default();
            return Err(self.with_secrets(None, |secrets| ApiError::Auth {
                status: status.as_u16(),
                error: error.map(|e| sanitize_server_text(&e, secrets)),
                description: description.map(|d| sanitize_server_text(&d, secrets)),
            }));
        }
        if !complete {
            return Err(ApiError::Decode {
                what: "token response",
                reason: format!("larger than {} KiB; not read", MAX_TOKEN_BODY / 1024),
            });
        }
        let parsed: AuthResponse = serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
            what: "token response",
            // A type error quotes the value it met: scrubbed like any server text.
            reason: self.with_secrets(None, |secrets| {
                sanitize_server_text(&e.to_string(), secrets)
            }),
        })?;
        self.from_sandbox
            .store(marked, std::sync::atomic::Ordering::SeqCst);
        let lifetime = token_lifetime(parsed.expires_in.as_ref());
        let margin = RENEW_MARGIN.min(lifetime / 2);
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        debug!(
            generation,
            lifetime_s = lifetime.as_secs(),
            "obtained access token"
        );
        Ok(Cached {
            token: IssuedToken {
                value: Arc::new(parsed.access_token),
                generation,
            },
            renew_at: started + lifetime.saturating_sub(margin),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_expires_in_is_clamped() {
        let v = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(token_lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(token_lifetime(Some(&v("null"))), DEFAULT_LIFETIME);
        assert_eq!(token_lifetime(Some(&v("\"soon\""))), DEFAULT_LIFETIME);
        assert_eq!(token_lifetime(Some(&v("3600"))), Duration::from_secs(3600));
        assert_eq!(
            token_lifetime(Some(&v("\"3600\""))),
            Duration::from_secs(3600)
        );
        for low in ["0", "-1", "-9223372036854775808", "0.5", "-1e300"] {
            assert_eq!(token_lifetime(Some(&v(low))), MIN_LIFETIME, "{low}");
        }
        for high in ["18446744073709551615", "1e300", "99999999999999999999999"] {
            assert_eq!(token_lifetime(Some(&v(high))), MAX_LIFETIME, "{high}");
        }
    }
}
