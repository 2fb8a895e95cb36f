//! `herald-sandbox`: a faithful local emulator of the Genesys Cloud API subset herald uses —
//! `/oauth/token`, Response Management, agentless SMS and email, message details, DNC lists,
//! outbound contact lists and messaging campaigns (with a dispatcher that messages their
//! contacts on the sandbox clock), callable time sets, the analytics conversation-details query, the org set-up `herald doctor` reads (token info,
//! permissions, SMS numbers, outbound email domains, limits), per-token rate limits — with seeded fault
//! injection and an admin API under `/__sandbox/`.
//!
//! It is product code: herald's embedded `sandbox` environment, the ground of the integration
//! tests, and `herald sandbox serve`. Wire shapes follow the official SDK models
//! (`purecloudplatformclientv2`); `tests/sdk_conformance.rs` drives the sandbox with that SDK.
//!
//! Invariants: every accepted message is committed to the state store before the client can
//! see any answer; no token or secret is ever logged.

mod admin;
mod analytics;
mod app;
mod campaigns;
pub mod clock;
mod config;
mod contactlists;
mod error;
mod messaging;
mod oauth;
mod org;
mod outbound;
pub mod ratelimit;
mod responses;
mod serve;
mod server;
mod stats;
mod store;
pub mod wire;

/// The response header every sandbox answer carries (value `1`), never sent by Genesys Cloud:
/// herald honours a pinned clock (`HERALD_NOW`) against an API on this machine only when its
/// token response carries it.
pub const MARKER_HEADER: &str = "x-herald-sandbox";

pub use config::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_EMAIL_DOMAIN, DEFAULT_FROM_NUMBER,
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_TOKEN_LIFETIME_SECS, Faults, InboundForward,
    SandboxConfig, StateLocation,
};
pub use contactlists::{
    DEFAULT_MAX_CONTACTS_PER_LIST, DEFAULT_MAX_CONTACTS_PER_ORG, DEFAULT_MAX_CONTACTS_PER_REQUEST,
    OutboundLimits,
};
pub use error::{ApiError, SandboxError};
pub use messaging::{
    EMAIL_SUBJECT_MAX_CHARS, SMS_MAX_CHARS, Subscription, classify_reply, is_e164,
};
pub use org::{DEFAULT_PERMISSIONS, ORG_ID, OrgSetup};
pub use serve::{ServeArgs, serve, write_banner};
pub use server::{RunningSandbox, start, start_with_clock};
pub use stats::{RouteStats, SandboxStats};
pub use store::{AcceptedMessage, Channel, InboundMessage};
