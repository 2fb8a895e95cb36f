//! The replies `herald serve` sends to keywords (schema 10): the HELP/INFO answer and the one
//! confirmation after a STOP.
//!
//! Owns: the `keyword_replies` table. A reply is claimed before it is sent, keyed by the
//! inbound message it answers, so a replayed webhook (or a second receiver) never sends a
//! second one; the claim of an opt-out confirmation checks, in the same transaction, that the
//! number is still suppressed on SMS (a START recorded meanwhile, or dated after the STOP,
//! means no confirmation). Every change appends its event to the chain in the same
//! transaction.

use serde::Serialize;

use crate::chain::Event;
use crate::error::{LedgerError, Result};
use crate::key::RecipientId;
use crate::store::{Db, p};
use crate::writes::append_event;

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// The answer to HELP or INFO.
    Help,
    /// The confirmation of an opt-out.
    OptOutConfirmation,
}

impl ReplyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::OptOutConfirmation => "opt_out_confirmation",
        }
    }
}

/// A reply about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyClaim {
    /// The inbound message it answers (one reply per inbound message, ever).
    pub inbound_id: String,
    /// What it answers.
    pub kind: ReplyKind,
    /// The keyed id of the number it goes to.
    pub recipient: RecipientId,
    /// The number, masked.
    pub masked: String,
    /// SHA-256 (hex) of its text.
    pub text_hash: String,
    /// A reason decided by the caller not to send it (e.g. the STOP is too old); recorded
    /// as `skipped`.
    pub skip: Option<String>,
}

/// What a claim decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyClaimResult {
    /// Claimed (`dispatching`): send it now, then record the outcome.
    Claimed,
    /// Not to be sent; recorded `skipped` with this reason.
    Skipped(String),
    /// The inbound message was already answered (or its reply skipped): nothing changed.
    AlreadyClaimed,
}

/// How a claimed reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Accepted by the messaging API, with its message id.
    Sent(String),
    /// Refused or not answered; the reason (no number, no text).
    Failed(String),
}

/// One reply, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyRecord {
    /// The inbound message it answers.
    pub inbound_id: String,
    /// `help` or `opt_out_confirmation`.
    pub kind: String,
    /// The number, masked.
    pub masked: String,
    /// `dispatching`, `sent`, `failed` or `skipped`.
    pub state: String,
    /// The messaging API's id of the reply, once sent.
    pub message_id: Option<String>,
    /// Why it was skipped or failed.
    pub note: Option<String>,
    /// When it was claimed.
    pub claimed_at: jiff::Timestamp,
}

/// Claims a reply inside the caller's write transaction.
pub(crate) fn claim_in(db: &mut dyn Db, at: i64, claim: &ReplyClaim) -> Result<ReplyClaimResult> {
    let exists = db
        .row(
            "SELECT state FROM keyword_replies WHERE inbound_id = ?1",
            p![claim.inbound_id.as_str()],
            |r| r.s(0),
        )?
        .is_some();
    if exists {
        return Ok(ReplyClaimResult::AlreadyClaimed);
    }
    let mut skip = claim.skip.clone();
    if skip.is_none() && claim.kind == ReplyKind::OptOutConfirmation {
        let suppressed = db
            .suppressions_of(&[claim.recipient.as_str()])?
            .iter()
            .any(|(_, scope)| scope == "*" || scope == "sms");
        if !suppressed {
            skip = Some("the number is not suppressed (a later START lifted the STOP)".into());
        }
    }
    let state = if skip.is_some() {
        "skipped"
    } else {
        "dispatching"
    };
    db.execute(
        "INSERT INTO keyword_replies (inbound_id, kind, recipient, masked, state, text_hash, message_id, note, claimed_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?8)",
        p![
            claim.inbound_id.as_str(),
            claim.kind.as_str(),
            claim.recipient.as_str(),
            claim.masked.as_str(),
            state,
            claim.text_hash.as_str(),
            skip.as_deref(),
            at
        ],
    )?;
    append_event(
        db,
        at,
        &Event::ReplyClaimed {
            inbound_id: claim.inbound_id.clone(),
            reply: claim.kind.as_str().to_owned(),
            recipient: claim.recipient.clone(),
            masked: claim.masked.clone(),
            state: state.to_owned(),
            text_hash: claim.text_hash.clone(),
            note: skip.clone(),
        },
    )?;
    Ok(match skip {
        Some(reason) => ReplyClaimResult::Skipped(reason),
        None => ReplyClaimResult::Claimed,
    })
}

/// Records the outcome of a claimed (`dispatching`) reply inside the caller's transaction.
pub(crate) fn record_in(
    db: &mut dyn Db,
    at: i64,
    inbound_id: &str,
    outcome: &ReplyOutcome,
) -> Result<()> {
    let (state, message_id, note) = match outcome {
        ReplyOutcome::Sent(id) => ("sent", Some(id.as_str()), None),
        ReplyOutcome::Failed(why) => ("failed", None, Some(why.as_str())),
    };
    let changed = db.execute(
        "UPDATE keyword_replies SET state = ?2, message_id = ?3, note = ?4, updated_at = ?5 \
         WHERE inbound_id = ?1 AND state = 'dispatching'",
        p![inbound_id, state, message_id, note, at],
    )?;
    if changed != 1 {
        return Err(LedgerError::Backend(format!(
            "the reply to inbound message {inbound_id} is not being dispatched"
        )));
    }
    append_event(
        db,
        at,
        &Event::ReplyRecorded {
            inbound_id: inbound_id.to_owned(),
            state: state.to_owned(),
            message_id: message_id.map(str::to_owned),
            note: note.map(str::to_owned),
        },
    )
}

/// Every reply sent (or skipped) to `recipient`, oldest first.
pub(crate) fn of_recipient_in(
    db: &mut dyn Db,
    recipient: &RecipientId,
) -> Result<Vec<ReplyRecord>> {
    db.rows(
        "SELECT inbound_id, kind, masked, state, message_id, note, claimed_at FROM keyword_replies \
         WHERE recipient = ?1 ORDER BY claimed_at, inbound_id",
        p![recipient.as_str()],
        |r| {
            Ok(ReplyRecord {
                inbound_id: r.s(0)?,
                kind: r.s(1)?,
                masked: r.s(2)?,
                state: r.s(3)?,
                message_id: r.os(4)?,
                note: r.os(5)?,
                claimed_at: crate::codec::ts(r.i(6)?)?,
            })
        },
    )
}
