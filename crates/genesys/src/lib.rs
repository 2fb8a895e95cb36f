//! herald's Genesys Cloud client.
//!
//! Everything herald does remotely goes through [`GenesysClient`]: the OAuth
//! client-credentials token (cached in memory, renewed single-flight), a sliding-log rate
//! limiter and a `Retry-After` pause (with a total wait budget) shared by every worker, retries chosen by request class so that a
//! maybe-sent message is never sent twice, and a typed API over Response Management,
//! agentless SMS/email, message details, DNC lists, the analytics conversation-details query
//! and org limits. Errors are [`ApiError`], which keeps the Genesys `code`, `status`,
//! `message` and correlation id.
//!
//! ```no_run
//! use herald_genesys::{AgentlessSms, ApiError, ClientConfig, Credentials, GenesysClient, Region};
//! # async fn demo(secret: herald_genesys::SecretString) -> Result<(), ApiError> {
//! let mut config = ClientConfig::for_region(Region::UsEast1, Credentials::new("client-id", secret));
//! config.requests_per_minute = Some(300); // at most 300 starts per 60.5 s
//! let client = GenesysClient::new(config)?; // clone it into every worker task
//! let sms = AgentlessSms { from: "+15550001111".into(), to: "+15550100123".into(), text: "Hi".into() };
//! match client.send_sms(&sms).await {
//!     Ok(sent) => println!("sent {}", sent.message_id),
//!     Err(ApiError::Unknown { .. }) => { /* maybe sent: reconcile, never resend blindly */ }
//!     Err(e) if e.is_definitely_not_sent() => { /* pending or failed, per the variant */ }
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! This crate never reads environment variables; it only names them ([`ENV_CLIENT_ID`],
//! [`ENV_CLIENT_SECRET`], [`ENV_REGION`]). Secrets and tokens are `SecretString`s and never
//! appear in logs, errors or `Debug` output.

mod api;
mod client;
mod credentials;
mod error;
mod models;
mod permissions;
mod redact;
mod region;
mod retry;
mod throttle;
mod token;

/// The response header (value `1`) herald's sandbox puts on every answer and Genesys Cloud
/// never sends; it must match `herald_sandbox::MARKER_HEADER`.
pub const HERALD_SANDBOX_HEADER: &str = "x-herald-sandbox";

pub use api::{
    CONTACTS_PER_REQUEST, CampaignProgress, ContactList, ContactListDraft, ContactOutcome,
    DialerContact, EmailColumn, EmailConfig, FromEmailAddress, MessageEvaluation,
    MessagingCampaign, NamedEntity, OrgLimit, OutboundDomain, PhoneColumn, RoleDivision, SmsConfig,
    SmsPhoneNumber, SmsPhoneNumberRef, TokenClient, TokenInfo, WritableContact, classify_wrapup,
};
pub use client::{ClientConfig, GenesysClient, Timeouts};
pub use credentials::{
    Credentials, CredentialsError, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REGION,
};
pub use error::{ApiError, ErrorInfo};
pub use models::{
    AgentlessEmail, AgentlessSms, ConversationReason, ConversationSummary, DncList, EmailAddress,
    EntityRef, Library, MessageData, NormalizedMessage, Response, ResponseDraft, ResponseQuery,
    ResponseSubstitution, ResponseText, ResponseType, SentEmail, SentMessage, TextContentType,
    TextType,
};
pub use permissions::{
    CAMPAIGN_PERMISSIONS, REQUIRED_PERMISSIONS, RequiredPermission, grant_covers, missing_of,
    missing_permissions,
};
pub use redact::scrub_text;
pub use region::{
    BadBaseUrl, BaseUrlHost, Region, UnknownRegion, classify_base_url, login_base_for,
};
pub use retry::RetryPolicy;
pub use secrecy::{ExposeSecret, SecretString};
pub use throttle::{
    DEFAULT_JITTER_MARGIN, DEFAULT_RATE_LIMIT_WAIT_BUDGET, LIMIT_WINDOW, SlidingLog,
    parse_retry_after,
};
pub use token::RENEW_MARGIN;
