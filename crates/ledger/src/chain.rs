//! The tamper-evident event chain and its verifier.
//!
//! Owns: the event vocabulary, its canonical encoding, the hash rule and the replay that
//! `verify` runs. Backends append one event per state change *in the same transaction* as
//! the change, and feed stored events and current rows into [`Replay`].
//!
//! Hash rule (version 1, never to change): `hash = hex(sha256(prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖
//! at_ms ‖ "\n" ‖ payload_json))`, where `prev_hash` of the first event is 64 zeros and
//! `payload_json` is the stored text exactly as hashed (`serde_json` of [`Event`], fields in
//! declaration order, `None` fields omitted). Events carry the full post-image of every send
//! and suppression they change, so replaying them reconstructs those tables; `verify`
//! compares the reconstruction with the current rows, which catches an edited, inserted or
//! deleted row even when the events themselves were left alone.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::key::{Channel, RecipientId};
use crate::model::{
    BrokenLink, InboundAction, NewRun, SendState, SuppressionAction, TemplateWrite, VerifyReport,
};

/// `prev_hash` of the first event.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The post-image of one send row, as recorded in events and compared by `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SendImage {
    pub(crate) campaign: String,
    pub(crate) row_key: String,
    pub(crate) recipient: RecipientId,
    pub(crate) masked: String,
    pub(crate) channel: Channel,
    pub(crate) template_hash: String,
    pub(crate) state: SendState,
    pub(crate) attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_attempt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// The post-image of one suppression row (`channel: None` = every channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SuppressionImage {
    pub(crate) action: SuppressionAction,
    pub(crate) recipient: RecipientId,
    pub(crate) channel: Option<Channel>,
    pub(crate) masked: String,
    pub(crate) reason: String,
    pub(crate) source: String,
}

/// One state change. The serde tag is also stored in the `kind` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Event {
    LedgerCreated {
        key_fingerprint: String,
        schema_version: i64,
    },
    RunStarted {
        #[serde(flatten)]
        run: NewRun,
    },
    RunFinished {
        run_id: String,
        outcome: String,
    },
    TemplateWritten {
        #[serde(flatten)]
        write: TemplateWrite,
    },
    TemplateRenamed {
        run_id: String,
        old: String,
        new: String,
    },
    SendsClaimed {
        run_id: String,
        rows: Vec<SendImage>,
    },
    OutcomesRecorded {
        run_id: String,
        rows: Vec<SendImage>,
    },
    DispatchingRecovered {
        rows: Vec<SendImage>,
    },
    UnknownResolved {
        run_id: String,
        rows: Vec<SendImage>,
    },
    SuppressionChanged {
        #[serde(flatten)]
        change: SuppressionImage,
    },
    InboundRecorded {
        message_id: String,
        recipient: RecipientId,
        channel: Channel,
        action: InboundAction,
        flagged: bool,
        /// The message's own time in Unix ms (opt-outs are ordered by it; schema 2); `None`
        /// on older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at: Option<i64>,
        /// Keyed MAC of the text (schema 2); `None` on older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_mac: Option<String>,
        /// Why the opt-out decision differs from the keyword (e.g. `START ignored: …`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A recorded message id arrived again with a different text (the row is unchanged).
    InboundConflict {
        message_id: String,
        recipient: RecipientId,
        channel: Channel,
        action: InboundAction,
        text_mac: String,
    },
    ReceiptRecorded {
        message_id: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Event {
    /// The `kind` column value.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Event::LedgerCreated { .. } => "ledger_created",
            Event::RunStarted { .. } => "run_started",
            Event::RunFinished { .. } => "run_finished",
            Event::TemplateWritten { .. } => "template_written",
            Event::TemplateRenamed { .. } => "template_renamed",
            Event::SendsClaimed { .. } => "sends_claimed",
            Event::OutcomesRecorded { .. } => "outcomes_recorded",
            Event::DispatchingRecovered { .. } => "dispatching_recovered",
            Event::UnknownResolved { .. } => "unknown_resolved",
            Event::SuppressionChanged { .. } => "suppression_changed",
            Event::InboundRecorded { .. } => "inbound_recorded",
            Event::InboundConflict { .. } => "inbound_conflict",
            Event::ReceiptRecorded { .. } => "receipt_recorded",
        }
    }

    /// The canonical payload text (what is stored and hashed).
    pub(crate) fn to_payload(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

/// The chain hash of an event.
pub(crate) fn event_hash(prev_hash: &str, seq: u64, at_ms: i64, payload_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(at_ms.to_string().as_bytes());
    h.update(b"\n");
    h.update(payload_json.as_bytes());
    hex::encode(h.finalize())
}

fn digest<T: Serialize>(value: &T) -> [u8; 16] {
    let bytes = serde_json::to_vec(value).expect("images always serialise");
    let full = Sha256::digest(&bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Suppression identity used by the replay: (recipient, channel or `*`).
type SuppressionKey = (String, String);

/// One stored event, as read back by a backend.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) seq: u64,
    pub(crate) at_ms: i64,
    pub(crate) kind: String,
    pub(crate) payload_json: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

/// Streaming verifier: feed every event in `seq` order, then every current send and
/// suppression row, then call [`Replay::finish`].
pub(crate) struct Replay {
    prev_hash: String,
    next_seq: u64,
    events: u64,
    sends_checked: u64,
    suppressions_checked: u64,
    chain_broken: Option<BrokenLink>,
    row_broken: Option<BrokenLink>,
    sends: HashMap<(String, String), ([u8; 16], u64)>,
    suppressions: HashMap<SuppressionKey, ([u8; 16], u64)>,
}

impl Replay {
    pub(crate) fn new() -> Replay {
        Replay {
            prev_hash: GENESIS.to_owned(),
            next_seq: 1,
            events: 0,
            sends_checked: 0,
            suppressions_checked: 0,
            chain_broken: None,
            row_broken: None,
            sends: HashMap::new(),
            suppressions: HashMap::new(),
        }
    }

    /// Whether the chain is still intact (events after a break are not replayed).
    pub(crate) fn chain_ok(&self) -> bool {
        self.chain_broken.is_none()
    }

    /// Checks and replays the next stored event.
    pub(crate) fn feed_event(&mut self, ev: &StoredEvent) {
        if self.chain_broken.is_some() {
            return;
        }
        let fail = |why: String| {
            Some(BrokenLink {
                seq: Some(ev.seq),
                reason: why,
            })
        };
        if ev.seq != self.next_seq {
            self.chain_broken = fail(format!(
                "event #{} follows #{}: events are missing or reordered",
                ev.seq,
                self.next_seq - 1
            ));
            return;
        }
        if ev.prev_hash != self.prev_hash {
            self.chain_broken = fail(format!(
                "event #{} does not link to the previous event's hash",
                ev.seq
            ));
            return;
        }
        if event_hash(&ev.prev_hash, ev.seq, ev.at_ms, &ev.payload_json) != ev.hash {
            self.chain_broken = fail(format!(
                "event #{} ({}) was modified: its hash does not match its contents",
                ev.seq, ev.kind
            ));
            return;
        }
        let event: Event = match serde_json::from_str(&ev.payload_json) {
            Ok(e) => e,
            Err(e) => {
                self.chain_broken = fail(format!("event #{} payload is unreadable: {e}", ev.seq));
                return;
            }
        };
        if event.kind() != ev.kind {
            self.chain_broken = fail(format!(
                "event #{} kind column `{}` does not match its payload",
                ev.seq, ev.kind
            ));
            return;
        }
        self.apply(ev.seq, event);
        self.prev_hash.clone_from(&ev.hash);
        self.next_seq += 1;
        self.events += 1;
    }

    fn apply(&mut self, seq: u64, event: Event) {
        match event {
            Event::SendsClaimed { rows, .. }
            | Event::OutcomesRecorded { rows, .. }
            | Event::DispatchingRecovered { rows }
            | Event::UnknownResolved { rows, .. } => {
                for row in rows {
                    let d = digest(&row);
                    self.sends.insert((row.campaign, row.row_key), (d, seq));
                }
            }
            Event::SuppressionChanged { change } => {
                let key = suppression_key(&change.recipient, change.channel);
                match change.action {
                    SuppressionAction::Add => {
                        let d = digest(&(&change.masked, &change.reason, &change.source));
                        self.suppressions.insert(key, (d, seq));
                    }
                    SuppressionAction::Remove => {
                        self.suppressions.remove(&key);
                    }
                }
            }
            Event::LedgerCreated { .. }
            | Event::RunStarted { .. }
            | Event::RunFinished { .. }
            | Event::TemplateWritten { .. }
            | Event::TemplateRenamed { .. }
            | Event::InboundRecorded { .. }
            | Event::InboundConflict { .. }
            | Event::ReceiptRecorded { .. } => {}
        }
    }

    /// Compares one current send row with the replayed events.
    pub(crate) fn check_send(&mut self, row: &SendImage) {
        self.sends_checked += 1;
        let key = (row.campaign.clone(), row.row_key.clone());
        match self.sends.remove(&key) {
            Some((d, _)) if d == digest(row) => {}
            Some((_, seq)) => self.row_mismatch(
                Some(seq),
                format!(
                    "sends row {}/{} differs from what the events recorded (last changed by event #{seq})",
                    row.campaign, row.row_key
                ),
            ),
            None => self.row_mismatch(
                None,
                format!(
                    "sends row {}/{} was never recorded by any event",
                    row.campaign, row.row_key
                ),
            ),
        }
    }

    /// Compares one current suppression row with the replayed events.
    pub(crate) fn check_suppression(
        &mut self,
        recipient: &RecipientId,
        channel: Option<Channel>,
        masked: &str,
        reason: &str,
        source: &str,
    ) {
        self.suppressions_checked += 1;
        let key = suppression_key(recipient, channel);
        let scope = channel.map_or("all channels", Channel::as_str);
        match self.suppressions.remove(&key) {
            Some((d, _)) if d == digest(&(masked, reason, source)) => {}
            Some((_, seq)) => self.row_mismatch(
                Some(seq),
                format!(
                    "suppression of {masked} ({scope}) differs from what the events recorded (event #{seq})"
                ),
            ),
            None => self.row_mismatch(
                None,
                format!("suppression of {masked} ({scope}) was never recorded by any event"),
            ),
        }
    }

    fn row_mismatch(&mut self, seq: Option<u64>, reason: String) {
        if self.row_broken.is_none() {
            self.row_broken = Some(BrokenLink { seq, reason });
        }
    }

    /// Reports rows the events describe but the tables no longer hold, and builds the report.
    pub(crate) fn finish(mut self) -> VerifyReport {
        if self.chain_broken.is_none() {
            let mut missing: Vec<(u64, String)> = self
                .sends
                .iter()
                .map(|((c, r), (_, seq))| (*seq, format!("sends row {c}/{r} was deleted")))
                .chain(self.suppressions.values().map(|(_, seq)| {
                    (
                        *seq,
                        "a suppression recorded by the events was deleted".to_owned(),
                    )
                }))
                .collect();
            missing.sort();
            if let Some((seq, reason)) = missing.into_iter().next() {
                self.row_mismatch(Some(seq), reason);
            }
        }
        // A broken chain is reported first: row comparisons after it are meaningless.
        let first_broken = self.chain_broken.or(self.row_broken);
        VerifyReport {
            ok: first_broken.is_none(),
            events_checked: self.events,
            sends_checked: self.sends_checked,
            suppressions_checked: self.suppressions_checked,
            first_broken,
        }
    }
}

fn suppression_key(recipient: &RecipientId, channel: Option<Channel>) -> SuppressionKey {
    (
        recipient.as_str().to_owned(),
        channel.map_or("*", Channel::as_str).to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: u64, prev: &str, ev: &Event) -> StoredEvent {
        let payload = ev.to_payload();
        StoredEvent {
            seq,
            at_ms: 1_000 + i64::try_from(seq).unwrap(),
            kind: ev.kind().to_owned(),
            hash: event_hash(prev, seq, 1_000 + i64::try_from(seq).unwrap(), &payload),
            payload_json: payload,
            prev_hash: prev.to_owned(),
        }
    }

    #[test]
    fn kind_matches_serde_tag() {
        let ev = Event::RunFinished {
            run_id: "r".into(),
            outcome: "ok".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&ev.to_payload()).unwrap();
        assert_eq!(v["kind"], ev.kind());
    }

    #[test]
    fn replay_detects_a_modified_payload_and_a_gap() {
        let e1 = Event::RunFinished {
            run_id: "a".into(),
            outcome: "ok".into(),
        };
        let s1 = stored(1, GENESIS, &e1);
        let s2 = stored(2, &s1.hash, &e1);

        let mut ok = Replay::new();
        ok.feed_event(&s1);
        ok.feed_event(&s2);
        let rep = ok.finish();
        assert!(rep.ok);
        assert_eq!(rep.events_checked, 2);

        let mut tampered = s2.clone();
        tampered.payload_json = tampered.payload_json.replace("ok", "no");
        let mut r = Replay::new();
        r.feed_event(&s1);
        r.feed_event(&tampered);
        let rep = r.finish();
        assert_eq!(rep.first_broken.unwrap().seq, Some(2));

        let mut r = Replay::new();
        r.feed_event(&s2);
        assert!(!r.chain_ok());
    }
}
