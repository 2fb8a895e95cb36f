//! The tamper-evident event chain: its vocabulary, its keyed links and the link check.
//!
//! Owns: the event vocabulary, its canonical encoding, the link rule and the streaming check
//! that `verify` runs before replaying the events against every table ([`crate::audit`]).
//! Backends append one event per state change *in the same transaction* as the change.
//!
//! Link rule (version 2, "keyed"): `hash = hex(HMAC-SHA256(chain_key, "herald-chain:v2\n" ‖
//! prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖ at_ms ‖ "\n" ‖ payload_json))`, where `chain_key =
//! HMAC-SHA256(ledger key, "herald ledger chain v2")` (its own domain label, so it is never
//! a recipient id or the fingerprint), `prev_hash` of the first event is 64 zeros and
//! `payload_json` is the stored text exactly as hashed (`serde_json` of [`Event`], fields in
//! declaration order, `None` fields omitted). Without the ledger key nobody can recompute a
//! link, so an edited event, a forged tail or a chain rebuilt after editing rows is caught.
//!
//! Link rule version 1 ("plain", ledgers written before the keyed chain) was the same text
//! under plain SHA-256 with no label. It is only ever checked, when an old ledger is
//! migrated: [`relink`] verifies the plain chain, re-links every event under the key and
//! records the migration as a [`Event::ChainKeyed`] event.

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::key::{Channel, LedgerKey, RecipientId};
use crate::model::{
    BrokenLink, InboundAction, NewRun, SendState, SuppressionAction, TemplateWrite,
};
use crate::seal::RowsDigest;

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
    /// The message category (frequency caps count by it); absent before schema version 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) category: Option<String>,
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

/// What one cut moved of one campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArchivedCounts {
    pub(crate) campaign: String,
    pub(crate) sends: u64,
    pub(crate) facts: u64,
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
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rows: Vec<SendImage>,
        /// The rows' digest (schema 11; `rows` is empty then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<RowsDigest>,
    },
    OutcomesRecorded {
        run_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rows: Vec<SendImage>,
        /// The rows' digest (schema 11; `rows` is empty then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<RowsDigest>,
        /// The `conversations` rows it wrote (schema 11).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversations: Option<RowsDigest>,
    },
    DispatchingRecovered {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rows: Vec<SendImage>,
        /// The rows' digest (schema 11; `rows` is empty then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<RowsDigest>,
    },
    UnknownResolved {
        run_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rows: Vec<SendImage>,
        /// The rows' digest (schema 11; `rows` is empty then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<RowsDigest>,
        /// The `conversations` rows it wrote (schema 11).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversations: Option<RowsDigest>,
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
        /// Absent in events written before the keyed chain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        masked: Option<String>,
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
        /// The receipt's own time (Unix ms); absent in events written before the keyed chain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt_at: Option<i64>,
        /// The `sends` rows whose receipt status it changed (schema 9).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<RowsDigest>,
    },
    /// A Do-Not-Call registry file was imported (schema 8): a full list replaced the
    /// source's set, or a change list added and deleted numbers.
    DncImported {
        source: String,
        /// `YYYY-MM-DD`, as the operator stated it.
        downloaded_on: String,
        /// `full` or `changes`.
        file_kind: String,
        /// `sha256:` + hex of the file's bytes.
        file_digest: String,
        read: u64,
        added: u64,
        removed: u64,
        /// Numbers the source holds after the import.
        numbers: u64,
    },
    /// A wave of a messaging-campaign dispatch was recorded or moved forward (schema 9): its
    /// post-image.
    WaveRecorded {
        run_id: String,
        wave: crate::waves::Wave,
    },
    /// `herald serve` claimed the reply to an inbound message (schema 10): `dispatching`
    /// (about to be sent) or `skipped` (with the reason).
    ReplyClaimed {
        inbound_id: String,
        /// `help` or `opt_out_confirmation`.
        reply: String,
        recipient: RecipientId,
        masked: String,
        state: String,
        /// SHA-256 (hex) of the reply's text.
        text_hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The outcome of a claimed reply (schema 10): `sent` (with its message id) or `failed`.
    ReplyRecorded {
        inbound_id: String,
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// An older ledger's `sends` and `conversations` rows were verified against their images
    /// in the events and sealed (schema 11): every row now carries this event's seal, and
    /// from here on events carry digests of the rows they write instead of their images.
    RowsSealed {
        sends: RowsDigest,
        conversations: RowsDigest,
    },
    /// `herald ledger archive` moved whole campaigns' sends and their facts into an archive
    /// file (see [`crate::archive`]) and removed them from this ledger.
    Archived {
        /// The archive's file name (no directory).
        archive: String,
        /// The hash of the archive chain's last entry.
        archive_head: String,
        /// `SEQ:HASH` of this ledger's head the archive chain starts from.
        ledger_head: String,
        /// The cut date (Unix ms): every moved campaign's last update is before it.
        before: i64,
        /// Per campaign: the send rows and facts moved.
        campaigns: Vec<ArchivedCounts>,
        /// The `sends` rows removed: `n` and `sum` are 0, `prev` holds per earlier event how
        /// many of its rows were removed and their MAC sum.
        sends: RowsDigest,
    },
    /// An old ledger's plain SHA-256 chain was verified and re-linked under the keyed rule.
    ChainKeyed {
        /// `SEQ:HASH` of the last plain link before re-linking.
        plain_head: String,
        /// How many events were re-linked.
        relinked: u64,
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
            Event::DncImported { .. } => "dnc_imported",
            Event::WaveRecorded { .. } => "wave_recorded",
            Event::ReplyClaimed { .. } => "reply_claimed",
            Event::ReplyRecorded { .. } => "reply_recorded",
            Event::RowsSealed { .. } => "rows_sealed",
            Event::ChainKeyed { .. } => "chain_keyed",
            Event::Archived { .. } => "archived",
        }
    }

    /// The canonical payload text (what is stored and hashed).
    pub(crate) fn to_payload(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

/// The key every link is an HMAC under, derived from the ledger key.
#[derive(Clone)]
pub(crate) struct ChainKey([u8; 32]);

impl ChainKey {
    /// Domain label of the derivation (never reused for anything else).
    const LABEL: &'static [u8] = b"herald ledger chain v2";

    pub(crate) fn derive(key: &LedgerKey) -> ChainKey {
        ChainKey(key.derive(ChainKey::LABEL))
    }

    /// A sub-key of the chain key for one purpose: `HMAC-SHA256(chain key, label)`.
    pub(crate) fn sub_key(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// Which link rule a chain is checked under.
#[derive(Clone, Copy)]
pub(crate) enum LinkRule<'k> {
    /// Version 1: plain SHA-256 (old ledgers, only while migrating them).
    Plain,
    /// Version 2: HMAC-SHA256 under the chain key.
    Keyed(&'k ChainKey),
}

fn link_input(prev_hash: &str, seq: u64, at_ms: i64, payload_json: &str) -> Vec<u8> {
    format!("{prev_hash}\n{seq}\n{at_ms}\n{payload_json}").into_bytes()
}

/// The link (hash) of an event under `rule`.
pub(crate) fn event_hash(
    rule: LinkRule<'_>,
    prev_hash: &str,
    seq: u64,
    at_ms: i64,
    payload_json: &str,
) -> String {
    let input = link_input(prev_hash, seq, at_ms, payload_json);
    match rule {
        LinkRule::Plain => hex::encode(Sha256::digest(&input)),
        LinkRule::Keyed(key) => {
            let mut mac = <Hmac<Sha256>>::new_from_slice(&key.0).expect("HMAC takes any key");
            mac.update(b"herald-chain:v2\n");
            mac.update(&input);
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

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

/// Streaming link check: feed every event in `seq` order; each intact event is returned
/// decoded, for the table replay.
pub(crate) struct ChainCheck<'k> {
    rule: LinkRule<'k>,
    prev_hash: String,
    next_seq: u64,
    events: u64,
    broken: Option<BrokenLink>,
}

impl<'k> ChainCheck<'k> {
    pub(crate) fn new(rule: LinkRule<'k>) -> ChainCheck<'k> {
        ChainCheck {
            rule,
            prev_hash: GENESIS.to_owned(),
            next_seq: 1,
            events: 0,
            broken: None,
        }
    }

    /// A check that continues after the intact event `seq` with hash `hash` (the events
    /// before it are taken as checked).
    pub(crate) fn resume(rule: LinkRule<'k>, seq: u64, hash: &str) -> ChainCheck<'k> {
        ChainCheck {
            rule,
            prev_hash: hash.to_owned(),
            next_seq: seq + 1,
            events: 0,
            broken: None,
        }
    }

    /// Whether the chain is still intact (events after a break are not checked).
    pub(crate) fn ok(&self) -> bool {
        self.broken.is_none()
    }

    /// Events checked so far.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// `(seq, hash)` of the last intact event (`(0, GENESIS)` before any).
    pub(crate) fn head(&self) -> (u64, &str) {
        (self.next_seq - 1, &self.prev_hash)
    }

    /// The first break, if any.
    pub(crate) fn into_broken(self) -> Option<BrokenLink> {
        self.broken
    }

    /// Checks the next stored event; returns it decoded if its link holds.
    pub(crate) fn feed(&mut self, ev: &StoredEvent) -> Option<Event> {
        if self.broken.is_some() {
            return None;
        }
        match self.check(ev) {
            Ok(event) => {
                self.prev_hash.clone_from(&ev.hash);
                self.next_seq += 1;
                self.events += 1;
                Some(event)
            }
            Err(reason) => {
                self.broken = Some(BrokenLink {
                    seq: Some(ev.seq),
                    reason,
                });
                None
            }
        }
    }

    fn check(&self, ev: &StoredEvent) -> Result<Event, String> {
        if ev.seq != self.next_seq {
            return Err(format!(
                "event #{} follows #{}: events are missing or reordered",
                ev.seq,
                self.next_seq - 1
            ));
        }
        if ev.prev_hash != self.prev_hash {
            return Err(format!(
                "event #{} does not link to the previous event's hash",
                ev.seq
            ));
        }
        if event_hash(self.rule, &ev.prev_hash, ev.seq, ev.at_ms, &ev.payload_json) != ev.hash {
            return Err(format!(
                "event #{} ({}) was modified: its hash does not match its contents under the ledger key",
                ev.seq, ev.kind
            ));
        }
        let event: Event = serde_json::from_str(&ev.payload_json)
            .map_err(|e| format!("event #{} payload is unreadable: {e}", ev.seq))?;
        if event.kind() != ev.kind {
            return Err(format!(
                "event #{} kind column `{}` does not match its payload",
                ev.seq, ev.kind
            ));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ck() -> ChainKey {
        ChainKey::derive(
            &LedgerKey::from_secret(
                "b3fa433e893fe97f27ae5e0e99bda6c83ba57e4db01c9ee0245f7f512fe3b402",
            )
            .unwrap(),
        )
    }

    fn stored(key: &ChainKey, seq: u64, prev: &str, ev: &Event) -> StoredEvent {
        let payload = ev.to_payload();
        let at = 1_000 + i64::try_from(seq).unwrap();
        StoredEvent {
            seq,
            at_ms: at,
            kind: ev.kind().to_owned(),
            hash: event_hash(LinkRule::Keyed(key), prev, seq, at, &payload),
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
    fn links_need_the_key() {
        let other = ChainKey::derive(
            &LedgerKey::from_secret(
                "4a019dd897abe81812ce84261f6a5f3d2afe1a6b6b2f2accc4ff092c68dc012d",
            )
            .unwrap(),
        );
        let a = event_hash(LinkRule::Keyed(&ck()), GENESIS, 1, 5, "{}");
        assert_ne!(a, event_hash(LinkRule::Keyed(&other), GENESIS, 1, 5, "{}"));
        assert_ne!(a, event_hash(LinkRule::Plain, GENESIS, 1, 5, "{}"));
        assert_eq!(a, event_hash(LinkRule::Keyed(&ck()), GENESIS, 1, 5, "{}"));
    }

    #[test]
    fn check_detects_a_modified_payload_a_gap_and_a_plain_link() {
        let key = ck();
        let e1 = Event::RunFinished {
            run_id: "a".into(),
            outcome: "ok".into(),
        };
        let s1 = stored(&key, 1, GENESIS, &e1);
        let s2 = stored(&key, 2, &s1.hash, &e1);

        let mut ok = ChainCheck::new(LinkRule::Keyed(&key));
        assert!(ok.feed(&s1).is_some() && ok.feed(&s2).is_some());
        assert_eq!(ok.events(), 2);

        let mut tampered = s2.clone();
        tampered.payload_json = tampered.payload_json.replace("ok", "no");
        let mut r = ChainCheck::new(LinkRule::Keyed(&key));
        r.feed(&s1);
        assert!(r.feed(&tampered).is_none());
        assert_eq!(r.into_broken().unwrap().seq, Some(2));

        // Recomputed without the key (the old plain rule): refused.
        let mut forged = tampered.clone();
        forged.hash = event_hash(
            LinkRule::Plain,
            &s1.hash,
            2,
            forged.at_ms,
            &forged.payload_json,
        );
        let mut r = ChainCheck::new(LinkRule::Keyed(&key));
        r.feed(&s1);
        assert!(r.feed(&forged).is_none());

        let mut r = ChainCheck::new(LinkRule::Keyed(&key));
        r.feed(&s2);
        assert!(!r.ok());
    }
}
