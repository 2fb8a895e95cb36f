//! herald's send ledger: the memory and the outbox of campaign sends.
//!
//! Owns: the [`Ledger`] storage trait used by plan, apply, reconcile, the receiver and the
//! status/ledger/suppress commands; its SQLite backend ([`SqliteLedger`]) and, behind the
//! default `postgres` feature, its PostgreSQL backend (`PostgresLedger`, run lock
//! `PgRunLock`); the recipient key and masking rules ([`LedgerKey`], [`mask_phone`],
//! [`mask_email`]); the per-environment run lock ([`RunLock`], or either kind as
//! [`LedgerLock`], chosen with [`LedgerLocation`]); the hash-chained event log checked by
//! [`Ledger::verify`]; and verbatim copies between backends ([`migrate_ledger`]).
//!
//! Layout: every [`Ledger`] operation is written once (`ops` for reads and dispatch, `writes`
//! for changes and the hash-chain append, `audit` for verify replay and raw copies, `rules`
//! for the claim decision and the outcome → columns mapping, `codec` for row decoding,
//! `checkpoint` for the sealed per-table checkpoint every write carries forward; `cut` for
//! the hot side of `herald ledger archive` and `archive` for its archive files; `synthetic`,
//! behind the `testing` feature, for benchmark ledgers of a given size) over a
//! small private transaction trait (`store`). The backends (`sqlite`, `postgres`) keep only
//! connections, migrations, transactions and their dialect points (row locks in claims, array
//! parameters, bulk import); `pg_lock` is the PostgreSQL run lock.
//!
//! Invariants every backend keeps:
//! - a send is identified by `(campaign, row_key)` and dispatched at most once unless the
//!   caller explicitly asks to resend `unknown` rows;
//! - every write happens in one serialisable write transaction (`BEGIN IMMEDIATE` on SQLite)
//!   together with the event that records it;
//! - no raw address, message body or key material is ever stored: recipients are keyed
//!   HMACs plus a masked form, and only the key's fingerprint is kept;
//! - reading never changes state; turning leftover `dispatching` rows into `unknown` happens
//!   only for a caller that holds the run lock.
//!
//! The send protocol as `apply` drives it:
//!
//! ```
//! use herald_ledger::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let key = LedgerKey::load_or_create(&dir.path().join("ledger.key"))?;
//! let path = dir.path().join("ledger-sandbox.db");
//! let info = LockInfo {
//!     pid: std::process::id(),
//!     host: "ci-runner".into(),
//!     run_id: "run-1".into(),
//!     started_at: jiff::Timestamp::now(),
//!     command: "apply".into(),
//! };
//! let lock = RunLock::acquire(&RunLock::path_for(&path), info, None)?;
//! let mut ledger = SqliteLedger::open_locked(&path, &key, &lock)?;
//! ledger.begin_run(&NewRun {
//!     run_id: "run-1".into(),
//!     command: "apply".into(),
//!     user: "ci".into(),
//!     host: "ci-runner".into(),
//!     git_commit: Some("4f2a9c1".into()),
//!     plan_hash: None,
//! })?;
//! let phone = "+15550100100";
//! let claim = Claim {
//!     row_key: "cust-1".into(),
//!     recipient: key.recipient_id(Channel::Sms, phone),
//!     masked: mask_phone(phone),
//!     channel: Channel::Sms,
//!     template_hash: "v1:…".into(),
//!     category: Some("marketing".into()),
//!     caps: vec![],
//! };
//! let results = ledger.claim_batch("run-1", "spring-sale", &[claim], Redo::NONE)?;
//! assert_eq!(results, [ClaimResult::Claimed]);
//! // … send it, then record what happened before claiming the next batch:
//! ledger.record_outcomes("run-1", &[Outcome {
//!     campaign: "spring-sale".into(),
//!     row_key: "cust-1".into(),
//!     result: OutcomeResult::Sent { handle: DispatchHandle::message("m-1", None) },
//! }])?;
//! ledger.finish_run("run-1", "ok")?;
//! assert_eq!(ledger.campaign_keys("spring-sale")?.get("cust-1"), Some(SendState::Sent));
//! assert!(ledger.verify()?.ok);
//! # Ok(()) }
//! ```

mod archive;
mod audit;
mod chain;
mod checkpoint;
mod codec;
mod compact;
mod cut;
mod dispatch;
mod dnc;
mod error;
mod fsutil;
mod incremental;
mod key;
mod location;
mod lock;
mod model;
mod ops;
mod packed;
#[cfg(feature = "postgres")]
mod pg_lock;
#[cfg(feature = "postgres")]
mod postgres;
mod raw;
mod replies;
mod rules;
mod seal;
mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod synthetic;
#[cfg(feature = "testing")]
pub mod testing;
mod waves;
mod writes;

use std::collections::HashSet;

use jiff::Timestamp;

pub use archive::{
    ARCHIVE_FORMAT, ArchiveCheck, ArchiveCut, ArchiveCutRecord, ArchiveOptions, ArchiveReport,
    CampaignDigest, archive_ledger, archived_sends_of, export_archive, verify_archive,
};
pub use checkpoint::CheckpointReport;
pub use cut::ArchiveCandidate;
pub use dispatch::DispatchHandle;
pub use dnc::{
    DncChange, DncFileKind, DncImport, DncImportReport, DncRegistry, DncSet, RecipientAudit,
    SendFacts,
};
pub use error::{LedgerError, Result};
pub use key::{
    Channel, LedgerKey, MIN_KEY_BITS, MIN_SECRET_LEN, RecipientId, check_strength, mask_email,
    mask_phone,
};
pub use location::LedgerLocation;
pub use lock::{LedgerLock, LockError, LockInfo, RunLock};
pub use model::{
    BrokenLink, CampaignCounts, ChainHead, Claim, ClaimResult, EventRecord, ExportRow,
    FrequencyCap, InboundAction, InboundRecord, InboundResult, KeySet, NewRun, OpenReport, Outcome,
    OutcomeResult, Receipt, ReceiptMatch, RecentPairs, RecentSends, Redo, Resolution, RunRecord,
    SendRecord, SendState, SentMessage, Suppression, SuppressionAction, SuppressionAudit,
    SuppressionRow, SuppressionSet, TemplateBinding, TemplateVersionRecord, TemplateWrite,
    VerifyReport,
};
pub use ops::SCHEMA_VERSION;
#[cfg(feature = "postgres")]
pub use pg_lock::PgRunLock;
#[cfg(feature = "postgres")]
pub use postgres::PostgresLedger;
pub use raw::{
    MigrateReport, RawColumn, RawKind, RawRow, RawSink, RawTable, RawValue, TableCounts,
    migrate_ledger,
};
pub use replies::{ReplyClaim, ReplyClaimResult, ReplyKind, ReplyOutcome, ReplyRecord};
pub use sqlite::SqliteLedger;
pub use waves::{Wave, WaveRecord, WaveStatus, wave_note, wave_of_note};

/// Storage behind plan, apply and the receiver. Synchronous and object-safe
/// (`Box<dyn Ledger>`); call it from a blocking thread.
///
/// Implementations must run each `&mut self` method as one atomic write transaction that
/// also appends its events to the hash chain, and must not assume a local file, so that a
/// PostgreSQL backend can implement the same contract (see `conformance_tests!`
/// behind the `testing` feature).
pub trait Ledger: Send {
    /// Turns every leftover `dispatching` row into `unknown` and returns how many.
    /// Call only while holding the run lock (another run's in-flight rows are `dispatching`).
    fn recover_dispatching(&mut self) -> Result<u64>;

    /// Records the start of a run; the run id must be new.
    fn begin_run(&mut self, run: &NewRun) -> Result<()>;
    /// Records the end of a run with an outcome text (`ok`, `error: …`, `interrupted`).
    fn finish_run(&mut self, run_id: &str, outcome: &str) -> Result<()>;
    /// Most recent runs first, at most `limit`.
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>>;

    /// The Genesys response bound to a template name.
    fn template_binding(&self, name: &str) -> Result<Option<TemplateBinding>>;
    /// Every template binding, sorted by name.
    fn template_bindings(&self) -> Result<Vec<TemplateBinding>>;
    /// Records a template write (history row + binding upsert). The run must exist.
    fn record_template_write(&mut self, write: &TemplateWrite) -> Result<()>;
    /// Moves a binding to a new name (a rename keeps the Genesys response id).
    fn rename_template_binding(&mut self, run_id: &str, old: &str, new: &str) -> Result<()>;
    /// Template writes, oldest first, for one name or all.
    fn template_history(&self, name: Option<&str>) -> Result<Vec<TemplateVersionRecord>>;

    /// Every send of any campaign of `channel` and `category` that counts towards frequency
    /// caps (state `dispatching`, `sent` or `unknown`) claimed after `since`, in one query,
    /// grouped by recipient.
    fn recent_sends(
        &self,
        since: Timestamp,
        channel: Channel,
        category: &str,
    ) -> Result<RecentSends>;

    /// Every existing row key of a campaign with its state, in one query (planner bulk check).
    fn campaign_keys(&self, campaign: &str) -> Result<KeySet>;
    /// Recipients of a campaign's rows in any state but `suppressed` (for `dedupe_by: address`).
    fn campaign_recipients(&self, campaign: &str) -> Result<HashSet<RecipientId>>;
    /// Every active suppression, for the planner's bulk check.
    fn suppression_set(&self) -> Result<SuppressionSet>;

    /// Claims a batch of sends in one transaction; results are in claim order.
    ///
    /// Per claim: a row in a final state under `redo` (`sent`, `dispatching`; `failed` unless
    /// `redo.failed`; `unknown` unless `redo.unknown`) → `Skipped(state)`, unchanged; else if
    /// the recipient is
    /// suppressed on the channel → `Suppressed`, stored as state `suppressed`; else the row is
    /// inserted or moved to `dispatching` with `attempts + 1` → `Claimed`. The run must exist.
    fn claim_batch(
        &mut self,
        run_id: &str,
        campaign: &str,
        claims: &[Claim],
        redo: Redo,
    ) -> Result<Vec<ClaimResult>>;
    /// Records outcomes of `dispatching` rows in one transaction (all or none); `Sent` also
    /// upserts the conversation map. Any row not `dispatching` fails the whole batch.
    fn record_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()>;

    /// Records a wave of a messaging-campaign dispatch with a `wave_recorded` event: a new
    /// wave must be [`WaveStatus::Recorded`]; an existing one only moves forward
    /// ([`WaveStatus::may_become`]) and keeps the Genesys ids it recorded. The run must exist.
    fn record_wave(&mut self, run_id: &str, wave: &Wave) -> Result<()>;
    /// Every recorded wave, for one campaign or all, by campaign and wave number.
    fn waves(&self, campaign: Option<&str>) -> Result<Vec<WaveRecord>>;
    /// Claims a batch for wave `wave` of a messaging campaign, in one transaction: exactly
    /// [`Ledger::claim_batch`]'s rules (final states skipped, suppressions, frequency caps),
    /// except that a row that may go becomes `handed_off` (note `wave N`) instead of
    /// `dispatching`. The wave must be recorded and still [`WaveStatus::Recorded`].
    fn hand_off_batch(
        &mut self,
        run_id: &str,
        campaign: &str,
        wave: u32,
        claims: &[Claim],
        redo: Redo,
    ) -> Result<Vec<ClaimResult>>;
    /// Records outcomes of `handed_off` rows (read back from the wave's contacts) in one
    /// transaction, all or none; a row keeps its `wave N` note unless the outcome brings its
    /// own. Any row not `handed_off` fails the whole batch.
    fn record_wave_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()>;
    /// Up to `limit` row keys of wave `wave` of `campaign` still `handed_off`, in row-key
    /// order, after `after` (keyset pagination: pass the last key of the previous page), so a
    /// wave of any size is read in pages of bounded memory.
    fn handed_off_page(
        &self,
        campaign: &str,
        wave: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>>;
    /// Rows in a state, for one campaign or all, ordered by campaign and row key.
    fn sends_in_state(&self, campaign: Option<&str>, state: SendState) -> Result<Vec<SendRecord>>;
    /// One send row.
    fn send(&self, campaign: &str, row_key: &str) -> Result<Option<SendRecord>>;
    /// Resolves an `unknown` row: `Found` → `sent`, `NotFound` → `pending`.
    fn resolve_unknown(
        &mut self,
        run_id: &str,
        campaign: &str,
        row_key: &str,
        resolution: &Resolution,
    ) -> Result<()>;
    /// Counts per state (and held, receipts) per campaign, sorted by campaign.
    /// `now` decides which `pending` rows are held.
    fn campaign_counts(
        &self,
        campaign: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<CampaignCounts>>;
    /// The latest Genesys conversation id of a recipient.
    fn conversation_for(&self, recipient: &RecipientId) -> Result<Option<String>>;

    /// Adds a suppression (with an audit entry); `false` if that exact scope already existed.
    fn suppress(&mut self, suppression: &Suppression) -> Result<bool> {
        Ok(self.suppress_many(std::slice::from_ref(suppression))? == 1)
    }
    /// Adds many suppressions in one transaction (`suppress import`); returns how many were new.
    fn suppress_many(&mut self, suppressions: &[Suppression]) -> Result<u64>;
    /// Removes suppressions: `Some(channel)` removes only that channel's entry (an
    /// all-channel entry stays); `None` removes every entry of the recipient. Returns how many.
    fn unsuppress(
        &mut self,
        recipient: &RecipientId,
        channel: Option<Channel>,
        reason: &str,
        source: &str,
    ) -> Result<u64>;
    /// Whether a recipient is suppressed on a channel (by a channel or all-channel entry).
    fn is_suppressed(&self, recipient: &RecipientId, channel: Channel) -> Result<bool>;
    /// Active suppressions, oldest first.
    fn suppressions(&self) -> Result<Vec<SuppressionRow>>;
    /// The append-only suppression audit trail, oldest first, for one recipient or all.
    fn suppression_history(&self, recipient: Option<&RecipientId>)
    -> Result<Vec<SuppressionAudit>>;

    /// Records an inbound reply and its suppression change in one transaction.
    ///
    /// Opt-outs are decided by the messages' own `received_at`, not arrival order: a STOP
    /// suppresses unless a START with a later timestamp (than it and every other STOP) is
    /// recorded; a START lifts the channel's suppression only if it is later than every
    /// recorded STOP and every applicable suppression came from an inbound STOP (source
    /// `inbound:<id>`); otherwise the reply is recorded with a note (`START ignored:
    /// suppressed by <source>`, …) in its event. A message id already recorded is
    /// `Duplicate` (no change) when its `text_mac` matches or either is unknown, else
    /// `Conflict`: an `inbound_conflict` event, and an opt-out keyword still suppresses
    /// (source `inbound-replay:<id>`).
    fn record_inbound(&mut self, inbound: &InboundRecord) -> Result<InboundResult>;
    /// Records a delivery receipt; returns the send it belongs to, if known.
    fn record_receipt(
        &mut self,
        message_id: &str,
        status: &str,
        reason: Option<&str>,
        at: Timestamp,
    ) -> Result<Option<ReceiptMatch>> {
        let receipt = Receipt {
            message_id: message_id.to_owned(),
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            at,
        };
        Ok(self.record_receipts(&[receipt])?.pop().flatten())
    }
    /// Records many receipts in one transaction; results are in input order. A send keeps
    /// the status of its newest receipt (by `at`), whatever the arrival order.
    fn record_receipts(&mut self, receipts: &[Receipt]) -> Result<Vec<Option<ReceiptMatch>>>;
    /// Messages recorded `sent` at or after `since`, oldest first, at most `limit`.
    fn recent_sent(&self, since: Timestamp, limit: usize) -> Result<Vec<SentMessage>>;

    /// Events with `seq > after_seq`, oldest first, at most `limit`.
    fn events(&self, after_seq: u64, limit: usize) -> Result<Vec<EventRecord>>;
    /// Loads one Do-Not-Call registry file in one transaction, with a `dnc_imported` event:
    /// a [`DncFileKind::Full`] list replaces the source's set, a change list adds and
    /// deletes. `next` is called until it returns `None`, each time for the next batch of
    /// numbers (the file is streamed; a batch of a few thousand keeps memory flat); an error
    /// from it rolls the whole import back.
    fn dnc_import(
        &mut self,
        import: &DncImport,
        next: &mut dyn FnMut() -> Result<Option<Vec<DncChange>>>,
    ) -> Result<DncImportReport>;
    /// Every loaded registry, by source.
    fn dnc_registries(&self) -> Result<Vec<DncRegistry>>;
    /// `(recipient, source)` of each of `recipients` that a loaded registry lists (batched
    /// queries; the planner asks for an audience's recipients, never loads a registry whole).
    fn dnc_lookup(&self, recipients: &[RecipientId]) -> Result<Vec<(RecipientId, String)>>;
    /// Every number of every loaded registry, read once into a compact in-memory set (18
    /// bytes a number): for registries small enough to hold, the planner checks its rows
    /// against this in its single pass instead of looking each batch up.
    fn dnc_set(&self) -> Result<DncSet>;
    /// Claims the reply to an inbound message (HELP answer or opt-out confirmation) before it
    /// is sent: at most one per inbound message, ever; an opt-out confirmation only while
    /// the number is suppressed on SMS (else it is recorded `skipped`). One transaction with
    /// a `reply_claimed` event.
    fn claim_reply(&mut self, claim: &ReplyClaim) -> Result<ReplyClaimResult>;
    /// Records how a claimed reply ended (a `reply_recorded` event).
    fn record_reply(&mut self, inbound_id: &str, outcome: &ReplyOutcome) -> Result<()>;
    /// Every keyword reply to `recipient`, oldest first.
    fn replies_to(&self, recipient: &RecipientId) -> Result<Vec<ReplyRecord>>;
    /// Records why claimed sends were allowed (one JSON object each, no raw personal data);
    /// a row's later facts replace its earlier ones.
    fn record_send_facts(&mut self, facts: &[SendFacts]) -> Result<()>;
    /// Every send (with its facts), suppression change and registry listing of a recipient.
    fn recipient_audit(&self, recipient: &RecipientId) -> Result<RecipientAudit>;

    /// Checks every keyed link of the chain, then replays the events against every table
    /// that influences a decision or an audit answer; the first difference is reported.
    fn verify(&self) -> Result<VerifyReport>;
    /// The head the last passing verify recorded with [`Ledger::record_verified`], if its
    /// seal holds under this ledger's key (else `None`: the next verify must be a full one).
    fn verified_head(&self) -> Result<Option<ChainHead>>;
    /// Records `head` as verified: a `meta` row sealed under a key derived from the ledger
    /// key (no event is appended; nobody without the key can move it forward).
    fn record_verified(&mut self, head: &ChainHead) -> Result<()>;
    /// Verifies what changed since `since` (a head recorded by [`Ledger::record_verified`]),
    /// from one snapshot: the chain still holds `since`; every link after it; every `sends`
    /// and `conversations` row the later events wrote, on the columns they determine; and
    /// the sealed checkpoint against the tables (row counts, sends per state, the
    /// suppressions' digest). It does not catch an in-place edit of a row no event wrote
    /// since `since` that keeps those counts and digests, nor an edited event before
    /// `since`: [`Ledger::verify`] does.
    fn verify_since(&self, since: &ChainHead) -> Result<VerifyReport>;
    /// Checks only the keyed links of the chain (streaming, constant memory): the first
    /// broken link, or `ok` with the events checked (row counts are 0: no table is replayed).
    fn verify_chain(&self) -> Result<VerifyReport>;
    /// The chain's last event as a checkpoint (`None` before the first event).
    fn head(&self) -> Result<Option<ChainHead>>;
    /// Whether the chain holds the checkpoint `head` (its event exists with that hash). A
    /// ledger without it was truncated or replaced by an older copy.
    fn contains_head(&self, head: &ChainHead) -> Result<bool>;
    /// Checks the sealed checkpoint against the head and the tables (row counts of every
    /// table, sends per state, a keyed digest of the suppressions), from one snapshot:
    /// cheap enough for every `apply`, unlike [`Ledger::verify`]'s full replay. It catches
    /// rows deleted or inserted behind the chain, sends moved between states and changed
    /// suppressions; other edits inside send rows are [`Ledger::verify`]'s.
    fn check_checkpoint(&self) -> Result<CheckpointReport>;
    /// Streams masked rows (one campaign or all, ordered) into `sink`; returns the count.
    fn export(
        &self,
        campaign: Option<&str>,
        sink: &mut dyn FnMut(ExportRow) -> Result<()>,
    ) -> Result<u64>;
    /// The storage engine's own consistency check; `["ok"]` when healthy.
    fn integrity_check(&self) -> Result<Vec<String>>;
    /// Readiness check: opens a write transaction, really writes a row, then rolls it back
    /// (nothing is kept, no event is appended). Fails when the ledger is locked by another
    /// writer past its timeout, read-only, full or unreachable.
    fn probe_write(&mut self) -> Result<()>;

    /// Row count of every stored table, keyed by [`RawTable::name`].
    fn table_counts(&self) -> Result<TableCounts>;
    /// Streams every stored row as stored, table by table in [`RawTable::ALL`] order (each in
    /// primary-key order), from one consistent snapshot. The sink must not call back into
    /// this ledger. Used by [`migrate_ledger`].
    fn export_raw(&self, sink: &mut RawSink<'_>) -> Result<()>;
    /// Imports rows exactly as given (ids, timestamps, events and their hashes) in one
    /// transaction: `feed` is called once with a sink to push rows into, in
    /// [`RawTable::ALL`] order. This ledger must be fresh (only its own creation event) and
    /// have been created with the same key as the rows (a `meta` key fingerprint that
    /// differs is [`LedgerError::WrongKey`]); its creation event is replaced by the imported
    /// chain. Returns the rows received per table. Used by [`migrate_ledger`].
    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts>;

    /// Every campaign with send rows and whether a cut before `before` may move it: every row
    /// in a final state (`sent`, `failed`, `suppressed`), no open wave, last update before
    /// `before` (else [`ArchiveCandidate::kept`] says why not). Used by [`archive_ledger`].
    fn archive_candidates(&self, before: Timestamp) -> Result<Vec<ArchiveCandidate>>;
    /// Streams the `sends` rows, then the `send_facts` rows, of each campaign (logical
    /// columns, row-key order) from one snapshot. The sink must not call back into this
    /// ledger.
    fn archive_rows(&self, campaigns: &[String], sink: &mut RawSink<'_>) -> Result<()>;
    /// The cut (one transaction): re-checks that each campaign may move and still holds
    /// exactly the rows the archive holds, removes them and their facts, and appends the
    /// `archived` event, which must become event `cut.seq`. Returns that event.
    fn archive_cut(&mut self, cut: &ArchiveCut) -> Result<ChainHead>;
    /// Every cut the chain records, oldest first.
    fn archive_cuts(&self) -> Result<Vec<ArchiveCutRecord>>;
}
