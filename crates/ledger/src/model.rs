//! Value types exchanged with a ledger backend.
//!
//! Owns: the vocabulary of the [`Ledger`](crate::Ledger) trait — send states, claims,
//! outcomes, runs, template bindings, suppressions, inbound messages, receipts, reports.
//! Invariants: no type here holds a raw address or message body; recipients appear only as
//! [`RecipientId`] plus a masked string. Timestamps are [`jiff::Timestamp`] (stored with
//! millisecond precision).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher as _;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::key::{Channel, RecipientId};

/// State of one send: the core's one type, with its final-state rule.
pub use herald_core::{Redo, SendState};

/// A run of a herald command that writes to the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// Unique run id (e.g. a UUID v4).
    pub run_id: String,
    /// The command (`apply`, `serve`, `suppress add`, …).
    pub command: String,
    /// Who ran it (OS user or CI actor).
    pub user: String,
    /// Host name.
    pub host: String,
    /// Workspace git commit, if known.
    pub git_commit: Option<String>,
    /// Hash of the executed plan, if any.
    pub plan_hash: Option<String>,
}

/// A recorded run, as listed by `ledger history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// What was recorded at the start.
    #[serde(flatten)]
    pub run: NewRun,
    /// Start time.
    pub started_at: Timestamp,
    /// End time, once finished.
    pub finished_at: Option<Timestamp>,
    /// Outcome text given to `finish_run` (`ok`, `error: …`, `interrupted`).
    pub outcome: Option<String>,
}

/// The Genesys response a template name is bound to, as of the last herald write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateBinding {
    /// Template name.
    pub name: String,
    /// Genesys response id.
    pub response_id: String,
    /// Genesys `version` after the write.
    pub version: i64,
    /// Canonical content hash herald wrote.
    pub content_hash: String,
    /// Canonical hash of the remote text as read back after the write (drift detection).
    pub remote_hash: String,
}

/// One template write by `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateWrite {
    /// Run that wrote it.
    pub run_id: String,
    /// Template name.
    pub name: String,
    /// Genesys response id.
    pub response_id: String,
    /// Genesys `version` after the write.
    pub version: i64,
    /// Canonical content hash written.
    pub content_hash: String,
    /// Canonical hash of the remote after the write (usually equal to `content_hash`).
    pub remote_hash: String,
    /// Workspace git commit.
    pub git_commit: Option<String>,
    /// Hash of the remote text this write overwrote (drift restored), if any.
    pub overwrote_hash: Option<String>,
}

/// A row of template history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersionRecord {
    /// The write.
    #[serde(flatten)]
    pub write: TemplateWrite,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A request to dispatch one send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Audience row key (CRM id).
    pub row_key: String,
    /// Pseudonymous recipient.
    pub recipient: RecipientId,
    /// Masked address.
    pub masked: String,
    /// Channel.
    pub channel: Channel,
    /// Canonical hash of the template being sent.
    pub template_hash: String,
    /// The message category (`transactional`, `marketing`), recorded on the send so that
    /// frequency caps can count it across campaigns (`None`: not recorded, never counted).
    pub category: Option<String>,
    /// The frequency caps this send must respect, checked inside the claim transaction
    /// against the recipient's sends of the same channel and category in every campaign.
    pub caps: Vec<FrequencyCap>,
}

/// At most `max` sends of one channel and category to one recipient in any sliding `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// Most sends in the window.
    pub max: u32,
    /// The window length in milliseconds.
    pub per_ms: i64,
}

/// Each recipient's recent sends of one channel and category that count towards frequency
/// caps (see [`Ledger::recent_sends`]): their send times (Unix ms, ascending), by recipient.
///
/// Compact because a plan holds one per campaign while it streams the audience, and a ledger
/// of ten million recent sends must fit in a plan's few hundred MiB: a recipient is the first
/// 8 bytes of its MAC (a keyed MAC is uniformly spread, and without the ledger key nobody can
/// choose one), one per send, sorted, next to the send's time — 16 bytes a send — and a
/// bucket index by the top bits of those 8 bytes (4 bytes per one or two sends) finds a
/// recipient's sends in one or two cache misses. Two recipients sharing their first 8 bytes
/// (a chance of about one in 2^64 per pair) are counted as one: a cap may then hold a message
/// early, never send one more.
///
/// [`Ledger::recent_sends`]: crate::Ledger::recent_sends
#[derive(Clone, Default)]
pub struct RecentSends {
    /// Each send's recipient (its MAC's first 8 bytes, little-endian), sorted.
    keys: Vec<u64>,
    /// `times[i]` is the time of send `i`; a recipient's sends are ascending.
    times: Vec<i64>,
    /// `keys[buckets[b]..buckets[b + 1]]` are the keys whose top `bits` bits are `b`.
    buckets: Vec<u32>,
    bits: u32,
    recipients: usize,
}

/// `(recipient, time)` pairs read from a ledger, for [`RecentSends::from_pairs`]: 16 bytes a
/// send (a recipient's MAC is cut to its first 8 bytes as it is pushed).
#[derive(Default)]
pub struct RecentPairs(Vec<(u64, i64)>);

impl RecentPairs {
    /// Adds one send.
    pub fn push(&mut self, (mac, at): ([u8; 32], i64)) {
        self.0.push((mac_hash(&mac), at));
    }
}

impl From<Vec<([u8; 32], i64)>> for RecentPairs {
    fn from(pairs: Vec<([u8; 32], i64)>) -> Self {
        RecentPairs(pairs.into_iter().map(|(m, t)| (mac_hash(&m), t)).collect())
    }
}

fn mac_hash(mac: &[u8; 32]) -> u64 {
    u64::from_le_bytes([
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mac[6], mac[7],
    ])
}

impl RecentSends {
    /// Groups `(recipient, time)` pairs, in any order.
    ///
    /// # Panics
    /// With more than `u32::MAX` sends.
    pub fn from_pairs(pairs: impl Into<RecentPairs>) -> Self {
        let mut pairs = pairs.into().0;
        pairs.sort_unstable();
        let times: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        // Collected in place: the pairs' buffer becomes the keys'.
        let mut keys: Vec<u64> = pairs.into_iter().map(|p| p.0).collect();
        keys.shrink_to_fit();
        assert!(u32::try_from(keys.len()).is_ok(), "under 2^32 sends");
        let recipients = keys.chunk_by(|a, b| a == b).count();
        // About one bucket per one or two sends.
        let bits = usize::BITS - keys.len().leading_zeros();
        let bits = bits.saturating_sub(1).min(32);
        let mut buckets = Vec::with_capacity((1usize << bits) + 1);
        let mut at = 0usize;
        for b in 0..(1u64 << bits) {
            while at < keys.len() && bucket_of(keys[at], bits) < b {
                at += 1;
            }
            buckets.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        buckets.push(u32::try_from(keys.len()).unwrap_or(u32::MAX));
        RecentSends {
            keys,
            times,
            buckets,
            bits,
            recipients,
        }
    }

    /// The send times of `recipient`, ascending (empty when none).
    pub fn get(&self, recipient: &RecipientId) -> &[i64] {
        if self.keys.is_empty() {
            return &[];
        }
        let key = mac_hash(&recipient.to_bytes());
        let b = usize::try_from(bucket_of(key, self.bits)).unwrap_or(0);
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let bucket = &self.keys[lo..hi];
        let first = bucket.partition_point(|k| *k < key);
        let n = bucket[first..].iter().take_while(|k| **k == key).count();
        &self.times[lo + first..lo + first + n]
    }

    /// Recipients with at least one recent send.
    pub fn recipients(&self) -> usize {
        self.recipients
    }

    /// Whether no recipient has a recent send.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every send counted.
    pub fn sends(&self) -> usize {
        self.times.len()
    }
}

/// The bucket of `key` among `2^bits`: its top `bits` bits.
fn bucket_of(key: u64, bits: u32) -> u64 {
    if bits == 0 { 0 } else { key >> (64 - bits) }
}

impl fmt::Debug for RecentSends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecentSends")
            .field("recipients", &self.recipients())
            .field("sends", &self.sends())
            .finish_non_exhaustive()
    }
}

/// Result of one claim, in the order of the claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "state", rename_all = "snake_case")]
pub enum ClaimResult {
    /// The row is now `dispatching`: send it, then record its outcome.
    Claimed,
    /// The recipient is suppressed on this channel: do not send. The row is stored (or kept)
    /// in state `suppressed` so status can count it; a later claim re-checks it.
    Suppressed,
    /// The row already exists in this state and was left unchanged: do not send.
    Skipped(SendState),
    /// A frequency cap is reached: do not send. The row is stored (or kept) `pending` with
    /// `next_attempt_at` = the time (Unix ms) the oldest counted send leaves the window.
    Capped(i64),
}

/// Outcome of one dispatched send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Campaign of the send.
    pub campaign: String,
    /// Audience row key.
    pub row_key: String,
    /// What happened.
    pub result: OutcomeResult,
}

/// What happened to a dispatched send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutcomeResult {
    /// 2xx: accepted.
    Sent {
        /// What names the send at the service that took it.
        handle: crate::DispatchHandle,
    },
    /// Permanent rejection.
    Failed {
        /// Genesys error code (never a message body).
        code: String,
    },
    /// Maybe sent (timeout, reset after sending, 5xx).
    Unknown {
        /// Why (error kind, no PII).
        reason: String,
    },
    /// Not sent and safe to retry (429, refused connection, quiet hours).
    Pending {
        /// Earliest time to try again (quiet hours open, `Retry-After`), if any.
        next_attempt_at: Option<Timestamp>,
        /// Why (no PII).
        reason: String,
    },
}

/// How `unknown` was resolved by reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// The message was found at Genesys: the row becomes `sent`.
    Found {
        /// Genesys message id.
        message_id: String,
        /// Genesys conversation id.
        conversation_id: Option<String>,
    },
    /// No such message: the row becomes `pending` and may be sent again.
    NotFound,
}

/// A send as stored (masked; no address, no body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRecord {
    /// Campaign.
    pub campaign: String,
    /// Audience row key.
    pub row_key: String,
    /// Pseudonymous recipient.
    pub recipient: RecipientId,
    /// Masked address.
    pub masked: String,
    /// Channel.
    pub channel: Channel,
    /// Template hash used.
    pub template_hash: String,
    /// Current state.
    pub state: SendState,
    /// Number of dispatches.
    pub attempts: u32,
    /// Earliest next attempt (held or rate-limited rows).
    pub next_attempt_at: Option<Timestamp>,
    /// Genesys message id.
    pub message_id: Option<String>,
    /// Genesys conversation id.
    pub conversation_id: Option<String>,
    /// Genesys error code.
    pub error_code: Option<String>,
    /// Reason of the last `unknown`/`pending` outcome.
    pub note: Option<String>,
    /// Last run that changed the row.
    pub run_id: Option<String>,
    /// Last time the row went to `dispatching`.
    pub dispatched_at: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Existing sends of one campaign, for the planner: row key → state.
///
/// A plan loads every row key of a campaign and looks up each audience row here, so the keys
/// share one string buffer and the table holds one `u64` per key — offset (40 bits), length
/// (21 bits) and state (3 bits), 9 bytes a slot with its control byte, where (offset, length,
/// state) took 17: five million keys load without five million allocations and are freed at
/// once. A key of 2 MiB or more, or past the first TiB of keys, is kept apart. The table is
/// hashed with foldhash, randomly seeded like the standard hasher and several times faster
/// than `SipHash` on short keys.
#[derive(Clone, Default)]
pub struct KeySet {
    text: String,
    table: hashbrown::HashTable<u64>,
    /// Keys that do not fit an entry (see above).
    long: std::collections::HashMap<String, SendState>,
    hasher: foldhash::fast::RandomState,
}

const KEY_LEN_BITS: u32 = 21;
const KEY_OFFSET_BITS: u32 = 40;

fn state_index(state: SendState) -> u64 {
    SendState::ALL
        .iter()
        .position(|s| *s == state)
        .map_or(0, |i| i as u64)
}

impl KeySet {
    fn key_of(text: &str, entry: u64) -> &str {
        let offset = (entry >> (KEY_LEN_BITS + 3)) as usize;
        let len = ((entry >> 3) & ((1 << KEY_LEN_BITS) - 1)) as usize;
        &text[offset..offset + len]
    }

    fn state_of(entry: u64) -> SendState {
        SendState::ALL[(entry & 7) as usize]
    }

    /// State of `row_key`, if the ledger has it.
    pub fn get(&self, row_key: &str) -> Option<SendState> {
        let hash = self.hasher.hash_one(row_key);
        self.table
            .find(hash, |e| Self::key_of(&self.text, *e) == row_key)
            .map(|e| Self::state_of(*e))
            .or_else(|| {
                if self.long.is_empty() {
                    None
                } else {
                    self.long.get(row_key).copied()
                }
            })
    }

    /// Records `row_key` in `state`; the state it had, if it was there.
    pub fn insert(&mut self, row_key: &str, state: SendState) -> Option<SendState> {
        let offset = self.text.len() as u64;
        let len = row_key.len() as u64;
        if len >= 1 << KEY_LEN_BITS || offset + len >= 1 << KEY_OFFSET_BITS {
            return self.long.insert(row_key.to_owned(), state);
        }
        let hash = self.hasher.hash_one(row_key);
        let (text, hasher) = (&self.text, &self.hasher);
        let entry = self.table.entry(
            hash,
            |e| Self::key_of(text, *e) == row_key,
            |e| hasher.hash_one(Self::key_of(text, *e)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let old = Self::state_of(*o.get());
                let e = o.get_mut();
                *e = (*e & !7) | state_index(state);
                Some(old)
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((offset << (KEY_LEN_BITS + 3)) | (len << 3) | state_index(state));
                self.text.push_str(row_key);
                None
            }
        }
    }

    /// Every key and its state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, SendState)> {
        self.table
            .iter()
            .map(|e| (Self::key_of(&self.text, *e), Self::state_of(*e)))
            .chain(self.long.iter().map(|(k, s)| (k.as_str(), *s)))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.table.len() + self.long.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty() && self.long.is_empty()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, s)| other.get(k) == Some(s))
    }
}

impl Eq for KeySet {}

/// Per-campaign counts for `herald status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCounts {
    /// Campaign name.
    pub campaign: String,
    /// Rows per state (every state present, zero if none).
    pub by_state: BTreeMap<SendState, u64>,
    /// `pending` rows with a future `next_attempt_at` (held by quiet hours or back-off).
    pub held: u64,
    /// Delivery receipts of this campaign's messages, by latest status.
    pub receipts: BTreeMap<String, u64>,
}

/// A suppression request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Pseudonymous recipient.
    pub recipient: RecipientId,
    /// Masked address.
    pub masked: String,
    /// Channel, or `None` for every channel.
    pub channel: Option<Channel>,
    /// Why (`STOP reply`, `RecipientOptedOut`, `manual`, …).
    pub reason: String,
    /// Where it came from (`serve`, `receipts`, `cli:alice`, `import:file.csv`).
    pub source: String,
}

/// An active suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionRow {
    /// The suppression.
    #[serde(flatten)]
    pub suppression: Suppression,
    /// Since when.
    pub since: Timestamp,
}

/// Direction of a suppression audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionAction {
    /// Suppression added.
    Add,
    /// Suppression removed.
    Remove,
}

/// An entry of the append-only suppression audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionAudit {
    /// Add or remove.
    pub action: SuppressionAction,
    /// The recipient, channel, reason and source of the change.
    #[serde(flatten)]
    pub suppression: Suppression,
    /// When.
    pub at: Timestamp,
}

/// What an inbound reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundAction {
    /// Opt-out keyword: suppress the recipient on the channel.
    Suppress,
    /// `START`/`UNSTOP`: lift the suppression on the channel.
    Resubscribe,
    /// `HELP`/`INFO`.
    Help,
    /// Nothing recognised.
    None,
}

/// An inbound message, as recorded by the receiver (no body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// Genesys message id (dedupe key).
    pub message_id: String,
    /// Pseudonymous sender.
    pub recipient: RecipientId,
    /// Masked sender.
    pub masked: String,
    /// Channel.
    pub channel: Channel,
    /// Recognised action.
    pub action: InboundAction,
    /// Keyword found inside a longer reply (for human review).
    pub flagged: bool,
    /// When Genesys received it (the message's own `timestamp`): STOP and START for a
    /// recipient and channel are ordered by this, not by arrival.
    pub received_at: Timestamp,
    /// [`crate::LedgerKey::text_mac`] of the text, to recognise a replayed message id with a
    /// different text; `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_mac: Option<String>,
}

/// Result of recording an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboundResult {
    /// First time seen; says whether the suppression list changed.
    Recorded {
        /// Whether a suppression was added or removed.
        suppression_changed: bool,
    },
    /// The message id was already recorded with the same text (or a text not known);
    /// nothing changed.
    Duplicate,
    /// The message id was already recorded with a *different* text: a mis-mapped id or a
    /// forged replay. Recorded as an `inbound_conflict` event; an opt-out keyword in it still
    /// suppresses the sender (source `inbound-replay:<id>`), a re-subscribe keyword lifts
    /// nothing.
    Conflict {
        /// Whether a suppression was added.
        suppression_changed: bool,
    },
}

/// A delivery receipt polled from Genesys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Genesys message id.
    pub message_id: String,
    /// Message status (`Delivered`, `Failed`, …).
    pub status: String,
    /// Failure reason (`RecipientOptedOut`, …), if any.
    pub reason: Option<String>,
    /// When Genesys reported the status.
    pub at: Timestamp,
}

/// The send a delivery receipt belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptMatch {
    /// Campaign.
    pub campaign: String,
    /// Row key.
    pub row_key: String,
    /// Pseudonymous recipient (to suppress on `RecipientOptedOut`).
    pub recipient: RecipientId,
    /// Masked address.
    pub masked: String,
    /// Channel.
    pub channel: Channel,
}

/// A sent message whose receipt may still be polled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// Campaign.
    pub campaign: String,
    /// Row key.
    pub row_key: String,
    /// Genesys message id.
    pub message_id: String,
    /// Channel.
    pub channel: Channel,
    /// When it was recorded `sent`.
    pub sent_at: Timestamp,
    /// Latest receipt status, if any.
    pub last_status: Option<String>,
    /// The conversation Genesys opened for it, when known: receipts find it in one bulk
    /// analytics query instead of one request per message.
    pub conversation_id: Option<String>,
}

/// A masked export row (CSV/JSONL for auditors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    /// Campaign.
    pub campaign: String,
    /// Row key.
    pub row_key: String,
    /// Pseudonymous recipient.
    pub recipient: RecipientId,
    /// Masked address.
    pub masked: String,
    /// Channel.
    pub channel: Channel,
    /// State.
    pub state: SendState,
    /// Attempts.
    pub attempts: u32,
    /// Template hash sent.
    pub template_hash: String,
    /// Genesys message id.
    pub message_id: Option<String>,
    /// Genesys conversation id.
    pub conversation_id: Option<String>,
    /// Error code.
    pub error_code: Option<String>,
    /// Git commit of the run that last changed the row.
    pub git_commit: Option<String>,
    /// Latest receipt status.
    pub receipt_status: Option<String>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Result of opening a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// The ledger file was created by this open.
    pub created: bool,
    /// Migrations applied by this open.
    pub migrated_from: Option<i64>,
    /// Leftover `dispatching` rows turned into `unknown`.
    pub recovered_unknown: u64,
}

/// The first place the tamper-evidence check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenLink {
    /// Sequence number of the first bad event, or of the last event that touched a row whose
    /// current value disagrees with the events (`None` if no event ever touched it).
    pub seq: Option<u64>,
    /// Human-readable explanation (masked; no PII).
    pub reason: String,
}

/// Result of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Whether the chain and every current row check out.
    pub ok: bool,
    /// Number of events whose hash was checked.
    pub events_checked: u64,
    /// Send rows compared against the replayed events.
    pub sends_checked: u64,
    /// Suppression rows compared against the replayed events.
    pub suppressions_checked: u64,
    /// First failure found.
    pub first_broken: Option<BrokenLink>,
}

/// One event of the hash chain, for `ledger history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Sequence number (from 1).
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Kind (`run_started`, `sends_claimed`, …).
    pub kind: String,
    /// Canonical JSON payload (masked; no PII).
    pub payload_json: String,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// Suppressed recipients, for the planner's bulk check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionSet {
    /// Suppressed on every channel.
    pub all_channels: HashSet<RecipientId>,
    /// Suppressed on one channel.
    pub by_channel: HashMap<Channel, HashSet<RecipientId>>,
}

impl SuppressionSet {
    /// Whether `recipient` is suppressed on `channel`.
    pub fn contains(&self, recipient: &RecipientId, channel: Channel) -> bool {
        self.all_channels.contains(recipient)
            || self
                .by_channel
                .get(&channel)
                .is_some_and(|s| s.contains(recipient))
    }
}

/// A checkpoint of the chain: an event's sequence number and (a prefix of) its keyed hash,
/// written `SEQ:HASH` (e.g. `1234:9f3a0c1d2e4b5a69`). Keep the head printed after a write
/// and pass it to `verify`/`apply --expect-head`: a ledger whose chain does not contain it
/// was truncated or restored from an older copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the event.
    pub seq: u64,
    /// Its hash (64 hex digits), or a prefix of at least [`ChainHead::MIN_HEX`] when parsed.
    pub hash: String,
}

impl ChainHead {
    /// Hex digits shown by [`fmt::Display`].
    pub const SHOWN_HEX: usize = 16;
    /// Fewest hex digits accepted by [`ChainHead::parse`].
    pub const MIN_HEX: usize = 12;

    /// Parses `SEQ:HASH` (HASH: at least 12 hex digits of the event's hash).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> std::result::Result<ChainHead, String> {
        let s = s.trim();
        let (seq, hash) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not a ledger head: expected SEQ:HASH, e.g. 1234:9f3a0c1d2e4b")
        })?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("`{seq}` in the ledger head is not an event number"))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() < ChainHead::MIN_HEX
            || hash.len() > 64
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!(
                "the hash in ledger head `{s}` must be {} to 64 hex digits",
                ChainHead::MIN_HEX
            ));
        }
        Ok(ChainHead { seq, hash })
    }

    /// Whether an event `(seq, full hash)` is this checkpoint.
    pub fn matches(&self, seq: u64, hash: &str) -> bool {
        self.seq == seq && hash.starts_with(&self.hash)
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.hash.len().min(ChainHead::SHOWN_HEX);
        write!(f, "{}:{}", self.seq, &self.hash[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_keeps_every_key_and_its_latest_state() {
        let mut set = KeySet::default();
        let keys: Vec<String> = (0..5_000)
            .map(|n| format!("R-{n:05}"))
            .chain([String::new(), "é-ключ".into(), "R-0".into(), "R-00".into()])
            .collect();
        for k in &keys {
            assert_eq!(set.insert(k, SendState::Pending), None, "{k}");
        }
        assert_eq!(set.len(), keys.len());
        assert_eq!(
            set.insert("R-00042", SendState::Sent),
            Some(SendState::Pending)
        );
        assert_eq!(set.len(), keys.len());
        for k in &keys {
            let want = if k == "R-00042" {
                SendState::Sent
            } else {
                SendState::Pending
            };
            assert_eq!(set.get(k), Some(want), "{k}");
        }
        for absent in ["R-000", "R-5000", "R-00042 ", "r-00042", "é"] {
            assert_eq!(set.get(absent), None, "{absent}");
        }
        assert_eq!(set.iter().count(), keys.len());
        let mut other = KeySet::default();
        for (k, s) in set.iter() {
            other.insert(k, s);
        }
        assert_eq!(set, other);
        other.insert("R-00001", SendState::Failed);
        assert_ne!(set, other);
    }

    /// Every state survives the packed entry, and a key too long for one is kept apart.
    #[test]
    fn a_key_set_keeps_every_state_and_keys_of_any_length() {
        let mut set = KeySet::default();
        for (i, s) in SendState::ALL.into_iter().enumerate() {
            set.insert(&format!("k{i}"), s);
        }
        let long = "x".repeat(1 << 21);
        let longer = "y".repeat((1 << 21) + 1);
        assert_eq!(set.insert(&long, SendState::Unknown), None);
        assert_eq!(set.insert(&longer, SendState::Sent), None);
        assert_eq!(set.insert("after", SendState::HandedOff), None);
        for (i, s) in SendState::ALL.into_iter().enumerate() {
            assert_eq!(set.get(&format!("k{i}")), Some(s));
        }
        assert_eq!(set.get(&long), Some(SendState::Unknown));
        assert_eq!(
            set.insert(&long, SendState::Failed),
            Some(SendState::Unknown)
        );
        assert_eq!(set.get(&long), Some(SendState::Failed));
        assert_eq!(set.get(&longer), Some(SendState::Sent));
        assert_eq!(set.get(&long[1..]), None);
        assert_eq!(set.get("after"), Some(SendState::HandedOff));
        assert_eq!(set.len(), SendState::ALL.len() + 3);
        assert_eq!(set.iter().count(), set.len());
        assert!(set.iter().any(|(k, s)| k == long && s == SendState::Failed));
    }

    #[test]
    fn recent_sends_group_by_recipient_in_time_order() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let sends = RecentSends::from_pairs(vec![(b, 30), (a, 20), (b, 10), (a, 5), (b, 20)]);
        assert_eq!((sends.recipients(), sends.sends()), (2, 5));
        let id = |bytes: [u8; 32]| RecipientId::from_hex(&hex::encode(bytes)).unwrap();
        assert_eq!(sends.get(&id(a)), [5, 20]);
        assert_eq!(sends.get(&id(b)), [10, 20, 30]);
        assert!(sends.get(&id([3u8; 32])).is_empty());
        assert!(RecentSends::default().is_empty());
        assert!(RecentSends::default().get(&id(a)).is_empty());
        // Many recipients, spread over the buckets and crowded into a few of them.
        let mac = |n: u32| {
            let mut m = [0u8; 32];
            m[..4].copy_from_slice(&n.to_le_bytes());
            m[4..8].copy_from_slice(&(n % 7).wrapping_mul(0x2545_f491).to_le_bytes());
            m
        };
        let pairs: Vec<_> = (0..3_000u32)
            .flat_map(|n| (0..=n % 3).map(move |k| (mac(n), i64::from(n * 10 + k))))
            .collect();
        let sends = RecentSends::from_pairs(pairs);
        assert_eq!(sends.recipients(), 3_000);
        for n in 0..3_000u32 {
            let want: Vec<i64> = (0..=n % 3).map(|k| i64::from(n * 10 + k)).collect();
            assert_eq!(sends.get(&id(mac(n))), want, "{n}");
        }
        assert!(sends.get(&id(mac(3_000))).is_empty());
        assert!(sends.get(&id([0xff; 32])).is_empty());
    }

    /// Recipients are told apart by their MAC's first 8 bytes: two that share them (about one
    /// chance in 2^64 per pair with keyed MACs) count as one, which can only hold a message.
    #[test]
    fn recent_sends_of_recipients_sharing_eight_bytes_are_counted_together() {
        let id = |bytes: [u8; 32]| RecipientId::from_hex(&hex::encode(bytes)).unwrap();
        let mut a = [7u8; 32];
        let mut b = a;
        a[31] = 1;
        b[31] = 2;
        let mut pairs = RecentPairs::default();
        for p in [(a, 10), (b, 5), ([9u8; 32], 1)] {
            pairs.push(p);
        }
        let sends = RecentSends::from_pairs(pairs);
        assert_eq!((sends.recipients(), sends.sends()), (2, 3));
        assert_eq!(sends.get(&id(a)), [5, 10]);
        assert_eq!(sends.get(&id(b)), [5, 10]);
        assert_eq!(sends.get(&id([9u8; 32])), [1]);
    }
}
