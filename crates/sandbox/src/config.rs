//! Sandbox configuration: where state lives, the credentials and senders it provisions, and the
//! fault knobs that can be changed while it runs.
//!
//! Invariants: `SandboxConfig::default()` is a working sandbox with well-known credentials and no
//! faults; [`Faults`] is the exact JSON body of `POST /__sandbox/faults` (every field optional,
//! unknown fields rejected), and its default injects nothing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Well-known OAuth client id of a default sandbox.
pub const DEFAULT_CLIENT_ID: &str = "herald-sandbox";
/// Well-known OAuth client secret of a default sandbox (not a secret: the sandbox is local).
pub const DEFAULT_CLIENT_SECRET: &str = "herald-sandbox-secret";
/// The SMS number a default sandbox provisions.
pub const DEFAULT_FROM_NUMBER: &str = "+15550001111";
/// The sending email domain a default sandbox provisions.
pub const DEFAULT_EMAIL_DOMAIN: &str = "example.com";
/// Genesys's default per-token request limit.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 300;
/// Genesys's default client-credentials token lifetime (24 h).
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// Where the sandbox keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// An in-memory `SQLite` database, gone when the sandbox stops.
    Memory,
    /// A `SQLite` file that survives restarts (created if missing).
    File(PathBuf),
}

/// Where inbound replies are forwarded, as an Architect Data Action would.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundForward {
    /// URL that receives `POST {messageId, conversationId, from, to, text, timestamp}`.
    pub url: String,
    /// Value of the `X-Herald-Secret` header sent with each forwarded reply.
    pub secret: String,
}

impl std::fmt::Debug for InboundForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundForward")
            .field("url", &self.url)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// Everything a sandbox needs to start.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Where state is stored.
    pub state: StateLocation,
    /// Seed for every random fault decision (same seed + same request order = same faults).
    pub seed: u64,
    /// The one OAuth client id accepted by `/oauth/token`.
    pub client_id: String,
    /// The secret of that client.
    pub client_secret: String,
    /// Provisioned SMS sender numbers (E.164); the first is the default sender.
    pub from_numbers: Vec<String>,
    /// Provisioned email sending domains.
    pub email_domains: Vec<String>,
    /// Lifetime of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Requests admitted per token per sliding 60 s window; `None` = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Forward inbound replies to this URL.
    pub inbound_forward: Option<InboundForward>,
    /// Time a message spends in each of `queued` and `sent` before its final status.
    pub delivery_step_ms: u64,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("state", &self.state)
            .field("seed", &self.seed)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("from_numbers", &self.from_numbers)
            .field("email_domains", &self.email_domains)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("faults", &self.faults)
            .field("inbound_forward", &self.inbound_forward)
            .field("delivery_step_ms", &self.delivery_step_ms)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            state: StateLocation::Memory,
            seed: 0,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            from_numbers: vec![DEFAULT_FROM_NUMBER.to_owned()],
            email_domains: vec![DEFAULT_EMAIL_DOMAIN.to_owned()],
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
            rate_limit_per_minute: Some(DEFAULT_RATE_LIMIT_PER_MINUTE),
            faults: Faults::default(),
            inbound_forward: None,
            delivery_step_ms: 500,
        }
    }
}

/// Faults injected into `/api/v2` traffic; the JSON body of `POST /__sandbox/faults`.
///
/// Ratios are probabilities in `[0, 1]`, drawn from the seeded generator once per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of authenticated API requests answered `503` before they are handled.
    pub error_5xx_ratio: f64,
    /// Share of agentless sends that are recorded as accepted, then answered by closing the
    /// connection with no response.
    pub drop_ratio: f64,
    /// Delay added before every API request is handled, in milliseconds.
    pub latency_ms: u64,
    /// The next N authenticated API requests are answered `429` (a burst); counts down.
    pub burst_429: u32,
    /// `Retry-After` seconds announced by burst 429s (0 is sent as 1).
    pub burst_retry_after_secs: u64,
    /// A conversation is visible to the analytics query only this many seconds after acceptance.
    pub index_delay_secs: u64,
}

impl Faults {
    /// Checks that ratios are probabilities.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("error_5xx_ratio", self.error_5xx_ratio),
            ("drop_ratio", self.drop_ratio),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} must be between 0 and 1, got {value}"));
            }
        }
        Ok(())
    }
}
