//! Row codecs shared by both backends: stored spellings and columns to model values.
//!
//! Owns: the `sends` column list and its decoding ([`RawSend`]), timestamp, state, channel,
//! scope and recipient parsing. Invariants: timestamps are i64 Unix milliseconds; a value
//! that does not decode is [`LedgerError::Corrupt`], never a panic.

use jiff::Timestamp;

use crate::error::{LedgerError, Result};
use crate::key::{Channel, RecipientId};
use crate::model::{
    ExportRow, NewRun, RunRecord, SendRecord, SendState, Suppression, TemplateBinding,
    TemplateVersionRecord, TemplateWrite,
};
use crate::seal::V;
use crate::store::Cells;

/// The columns of a `sends` row, in [`RawSend`] order (which is [`crate::RawTable::Sends`]'s).
macro_rules! send_cols {
    () => {
        "campaign, row_key, id_unpack(recipient), masked, channel, id_unpack(template_hash), state, attempts, \
         next_attempt_at, id_unpack(message_id), id_unpack(conversation_id), error_code, note, run_id, created_at, \
         dispatched_at, updated_at, receipt_status, receipt_at, category, seq, mac, tags"
    };
}
pub(crate) use send_cols;

/// One `sends` row by `(campaign, row_key)`.
pub(crate) const SEND_BY_KEY: &str = concat!(
    "SELECT ",
    send_cols!(),
    " FROM sends WHERE campaign = ?1 AND row_key = ?2"
);

pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

pub(crate) fn ts(ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| LedgerError::Corrupt(format!("bad timestamp {ms}: {e}")))
}

pub(crate) fn opt_ts(ms: Option<i64>) -> Result<Option<Timestamp>> {
    ms.map(ts).transpose()
}

pub(crate) fn corrupt(what: &str, value: &str) -> LedgerError {
    LedgerError::Corrupt(format!("unexpected {what} `{value}`"))
}

pub(crate) fn parse_state(s: &str) -> Result<SendState> {
    SendState::parse(s).ok_or_else(|| corrupt("send state", s))
}

pub(crate) fn parse_channel(s: &str) -> Result<Channel> {
    Channel::parse(s).ok_or_else(|| corrupt("channel", s))
}

pub(crate) fn parse_scope(s: &str) -> Result<Option<Channel>> {
    if s == "*" {
        Ok(None)
    } else {
        parse_channel(s).map(Some)
    }
}

pub(crate) fn scope_str(channel: Option<Channel>) -> &'static str {
    channel.map_or("*", Channel::as_str)
}

pub(crate) fn parse_recipient(s: &str) -> Result<RecipientId> {
    RecipientId::from_hex(s).ok_or_else(|| LedgerError::Corrupt("malformed recipient id".into()))
}

pub(crate) fn u32_of(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| LedgerError::Corrupt(format!("attempts out of range: {v}")))
}

pub(crate) fn seq_of(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt("negative event seq".into()))
}

pub(crate) fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Raw columns of a `sends` row in [`send_cols!`] order.
pub(crate) struct RawSend {
    pub(crate) campaign: String,
    pub(crate) row_key: String,
    pub(crate) recipient: String,
    pub(crate) masked: String,
    pub(crate) channel: String,
    pub(crate) template_hash: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) message_id: Option<String>,
    pub(crate) conversation_id: Option<String>,
    pub(crate) error_code: Option<String>,
    pub(crate) note: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) dispatched_at: Option<i64>,
    pub(crate) updated_at: i64,
    pub(crate) receipt_status: Option<String>,
    pub(crate) receipt_at: Option<i64>,
    pub(crate) category: Option<String>,
    /// The event that last sealed the row (see [`crate::seal`]); `None` on a row no event
    /// sealed.
    pub(crate) seq: Option<i64>,
}

impl RawSend {
    pub(crate) fn from_row(r: &dyn Cells) -> Result<RawSend> {
        Ok(RawSend {
            campaign: r.s(0)?,
            row_key: r.s(1)?,
            recipient: r.s(2)?,
            masked: r.s(3)?,
            channel: r.s(4)?,
            template_hash: r.s(5)?,
            state: r.s(6)?,
            attempts: r.i(7)?,
            next_attempt_at: r.int(8)?,
            message_id: r.os(9)?,
            conversation_id: r.os(10)?,
            error_code: r.os(11)?,
            note: r.os(12)?,
            run_id: r.os(13)?,
            created_at: r.i(14)?,
            dispatched_at: r.int(15)?,
            updated_at: r.i(16)?,
            receipt_status: r.os(17)?,
            receipt_at: r.int(18)?,
            category: r.os(19)?,
            seq: r.int(20)?,
        })
    }

    /// The sealed values (see [`crate::seal`]), with `seq` as given.
    pub(crate) fn sealed_values(&self, seq: Option<i64>) -> [V<'_>; 21] {
        [
            V::Text(&self.campaign),
            V::Text(&self.row_key),
            V::Text(&self.recipient),
            V::Text(&self.masked),
            V::Text(&self.channel),
            V::Text(&self.template_hash),
            V::Text(&self.state),
            V::Int(self.attempts),
            V::from(self.next_attempt_at),
            V::from(self.message_id.as_deref()),
            V::from(self.conversation_id.as_deref()),
            V::from(self.error_code.as_deref()),
            V::from(self.note.as_deref()),
            V::from(self.run_id.as_deref()),
            V::Int(self.created_at),
            V::from(self.dispatched_at),
            V::Int(self.updated_at),
            V::from(self.receipt_status.as_deref()),
            V::from(self.receipt_at),
            V::from(self.category.as_deref()),
            V::from(seq),
        ]
    }

    pub(crate) fn record(self) -> Result<SendRecord> {
        Ok(SendRecord {
            recipient: parse_recipient(&self.recipient)?,
            channel: parse_channel(&self.channel)?,
            state: parse_state(&self.state)?,
            attempts: u32_of(self.attempts)?,
            next_attempt_at: opt_ts(self.next_attempt_at)?,
            dispatched_at: opt_ts(self.dispatched_at)?,
            updated_at: ts(self.updated_at)?,
            campaign: self.campaign,
            row_key: self.row_key,
            masked: self.masked,
            template_hash: self.template_hash,
            message_id: self.message_id,
            conversation_id: self.conversation_id,
            error_code: self.error_code,
            note: self.note,
            run_id: self.run_id,
        })
    }
}

/// `name, response_id, version, content_hash, remote_hash`.
pub(crate) fn binding(r: &dyn Cells) -> Result<TemplateBinding> {
    Ok(TemplateBinding {
        name: r.s(0)?,
        response_id: r.s(1)?,
        version: r.i(2)?,
        content_hash: r.s(3)?,
        remote_hash: r.s(4)?,
    })
}

/// `run_id, command, user_name, host, git_commit, plan_hash, started_at, finished_at, outcome`.
pub(crate) fn run_record(r: &dyn Cells) -> Result<RunRecord> {
    Ok(RunRecord {
        run: NewRun {
            run_id: r.s(0)?,
            command: r.s(1)?,
            user: r.s(2)?,
            host: r.s(3)?,
            git_commit: r.os(4)?,
            plan_hash: r.os(5)?,
        },
        started_at: ts(r.i(6)?)?,
        finished_at: opt_ts(r.int(7)?)?,
        outcome: r.os(8)?,
    })
}

/// `run_id, name, response_id, version, content_hash, remote_hash, git_commit,
/// overwrote_hash, at`.
pub(crate) fn template_version(r: &dyn Cells) -> Result<TemplateVersionRecord> {
    Ok(TemplateVersionRecord {
        write: TemplateWrite {
            run_id: r.s(0)?,
            name: r.s(1)?,
            response_id: r.s(2)?,
            version: r.i(3)?,
            content_hash: r.s(4)?,
            remote_hash: r.s(5)?,
            git_commit: r.os(6)?,
            overwrote_hash: r.os(7)?,
        },
        at: ts(r.i(8)?)?,
    })
}

/// `recipient, channel, masked, reason, source` starting at column `at`.
pub(crate) fn suppression(r: &dyn Cells, at: usize) -> Result<Suppression> {
    Ok(Suppression {
        recipient: parse_recipient(r.str(at)?)?,
        channel: parse_scope(r.str(at + 1)?)?,
        masked: r.s(at + 2)?,
        reason: r.s(at + 3)?,
        source: r.s(at + 4)?,
    })
}

/// The export query's columns (see `EXPORT_SQL` in the core).
pub(crate) fn export_row(r: &dyn Cells) -> Result<ExportRow> {
    Ok(ExportRow {
        campaign: r.s(0)?,
        row_key: r.s(1)?,
        recipient: parse_recipient(r.str(2)?)?,
        masked: r.s(3)?,
        channel: parse_channel(r.str(4)?)?,
        state: parse_state(r.str(5)?)?,
        attempts: u32_of(r.i(6)?)?,
        template_hash: r.s(7)?,
        message_id: r.os(8)?,
        conversation_id: r.os(9)?,
        error_code: r.os(10)?,
        git_commit: r.os(11)?,
        receipt_status: r.os(12)?,
        updated_at: ts(r.i(13)?)?,
    })
}
