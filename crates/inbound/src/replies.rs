//! The replies to keywords: the HELP/INFO answer and the one confirmation after a STOP (CTIA
//! Messaging Principles; 47 CFR 64.1200(a)(12) allows one confirmation text within five
//! minutes, with no marketing).
//!
//! A reply is claimed in the ledger before it is sent, keyed by the inbound message it
//! answers, so a replayed webhook never sends a second one; the claim of a confirmation checks
//! in the same transaction that the number is still suppressed (a START recorded first, or
//! dated after the STOP, means none). A reply whose send is not known to have worked is never
//! retried: at most one per STOP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use herald_ledger::{RecipientId, ReplyClaim, ReplyClaimResult, ReplyKind, ReplyOutcome};
use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

/// How long a confirmation may follow its STOP (47 CFR 64.1200(a)(12): within five minutes).
pub const CONFIRMATION_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long one reply's send may take before it is given up (and never retried).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// The future a [`ReplySender`] returns: the message id, or why it failed (no number, no
/// text).
pub type SendFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Sends one SMS reply through the messaging API (Genesys: the agentless message endpoint).
pub trait ReplySender: Send + Sync + 'static {
    /// Sends `text` to the E.164 number `to`.
    fn send(&self, to: &str, text: &str) -> SendFuture;
}

/// The configured replies and the sender.
#[derive(Clone)]
pub struct KeywordReplies {
    /// The HELP/INFO answer (`None`: not answered).
    pub help: Option<String>,
    /// The opt-out confirmation (`None`: none sent).
    pub opt_out_confirmation: Option<String>,
    /// Sends them.
    pub sender: Arc<dyn ReplySender>,
}

impl std::fmt::Debug for KeywordReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordReplies")
            .field("help", &self.help.is_some())
            .field("opt_out_confirmation", &self.opt_out_confirmation.is_some())
            .finish_non_exhaustive()
    }
}

impl KeywordReplies {
    /// The reply text for `kind`, if one is configured.
    pub(crate) fn text(&self, kind: ReplyKind) -> Option<&str> {
        match kind {
            ReplyKind::Help => self.help.as_deref(),
            ReplyKind::OptOutConfirmation => self.opt_out_confirmation.as_deref(),
        }
    }
}

/// What happened to a reply, for the response and the log.
pub(crate) fn describe(
    result: &Result<ReplyClaimResult, String>,
    sent: Option<&Result<String, String>>,
) -> &'static str {
    match (result, sent) {
        (Err(_), _) => "error",
        (Ok(ReplyClaimResult::AlreadyClaimed), _) => "already_answered",
        (Ok(ReplyClaimResult::Skipped(_)), _) => "skipped",
        (Ok(ReplyClaimResult::Claimed), Some(Ok(_))) => "sent",
        (Ok(ReplyClaimResult::Claimed), _) => "failed",
    }
}

/// The claim of a reply to inbound message `inbound_id`, received at `received_at`.
pub(crate) fn claim(
    inbound_id: &str,
    kind: ReplyKind,
    recipient: RecipientId,
    masked: String,
    text: &str,
    received_at: Timestamp,
    now: Timestamp,
) -> ReplyClaim {
    let window =
        jiff::SignedDuration::try_from(CONFIRMATION_WINDOW).unwrap_or(jiff::SignedDuration::MAX);
    let late = kind == ReplyKind::OptOutConfirmation && now.duration_since(received_at) > window;
    ReplyClaim {
        inbound_id: inbound_id.to_owned(),
        kind,
        recipient,
        masked,
        text_hash: hex(&Sha256::digest(text.as_bytes())),
        skip: late.then(|| {
            "the STOP is more than 5 minutes old; a confirmation may only follow within 5 minutes (47 CFR 64.1200(a)(12))".to_owned()
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The outcome to record for a send result.
pub(crate) fn outcome(sent: &Result<String, String>) -> ReplyOutcome {
    match sent {
        Ok(id) => ReplyOutcome::Sent(id.clone()),
        Err(why) => ReplyOutcome::Failed(why.clone()),
    }
}
