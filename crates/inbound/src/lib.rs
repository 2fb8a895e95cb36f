//! herald's inbound opt-out path: keyword classification and the webhook receiver behind
//! `herald serve`.
//!
//! Owns: turning an SMS reply, posted by a Genesys Architect inbound message flow through a
//! Web Services Data Action, into a committed ledger row and suppression change. Genesys has
//! no outbound webhooks, so this is the only push path for replies; the crate README documents
//! the JSON contract and ships a ready Data Action (`data-action.json`).
//!
//! - [`keywords`]: pure classification of a reply ([`classify`], [`KeywordSet`]).
//! - [`receiver`]: the axum [`router`] and [`serve`] with timeouts and graceful shutdown.
//! - [`metrics`]: the Prometheus metrics behind `GET /metrics`.
//!
//! Must not: log or return a full phone number, the message text or a secret; answer 2xx
//! before the ledger transaction has committed.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use herald_inbound::{ReceiverState, serve};
//! use herald_ledger::{Ledger, LedgerKey, SqliteLedger};
//! use secrecy::SecretString;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = LedgerKey::load("ledger.key".as_ref())?;
//! let ledger: Box<dyn Ledger> = Box::new(SqliteLedger::open("ledger.db".as_ref(), &key)?);
//! let secret = SecretString::from(std::env::var("HERALD_INBOUND_SECRET")?);
//! let state = ReceiverState::new(Arc::new(Mutex::new(ledger)), key, &[secret])?
//!     .with_extra_keywords(&["REMOVE".to_owned()]);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

pub mod keywords;
pub mod metrics;
pub mod receiver;
pub mod replies;

pub use herald_ledger::InboundAction;
pub use keywords::{
    Classification, HELP_KEYWORDS, KeywordSet, RESUBSCRIBE_KEYWORDS, SUPPRESS_KEYWORDS, classify,
};
pub use receiver::{
    ConfigError, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES, MAX_SECRETS, MIN_SECRET_LEN, RETRY_AFTER_SECS, ReceiverState,
    SECRET_HEADER, ServeOptions, SharedLedger, router, serve, serve_with,
};
pub use replies::{KeywordReplies, ReplySender, SendFuture};
