//! The SQLite ledger backend.
//!
//! Owns: the schema and its migrations, the connection settings and every SQL statement.
//! Invariants: the file is created 0600 (in a 0700 directory when the directory is new)
//! before SQLite first opens it, so the `-wal`/`-shm` files inherit 0600; the connection runs
//! WAL, `synchronous=FULL`, `busy_timeout` 10 s and foreign keys; every write is one
//! `BEGIN IMMEDIATE` transaction that also appends its event; schema versions live in
//! `PRAGMA user_version` and a ledger from a newer herald is refused, never downgraded;
//! the stored key fingerprint must match the supplied key. Timestamps are i64 Unix
//! milliseconds. The SQL sticks to what PostgreSQL also accepts where practical
//! (`ON CONFLICT … DO UPDATE`, partial indexes, no `REPLACE`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction, TransactionBehavior, params};

use crate::Ledger;
use crate::chain::{Event, GENESIS, Replay, SendImage, StoredEvent, SuppressionImage, event_hash};
use crate::error::{LedgerError, Result};
use crate::fsutil;
use crate::key::{Channel, LedgerKey, RecipientId};
use crate::lock::RunLock;
use crate::model::{
    CampaignCounts, Claim, ClaimResult, EventRecord, ExportRow, InboundAction, InboundRecord,
    InboundResult, KeySet, NewRun, OpenReport, Outcome, OutcomeResult, Receipt, ReceiptMatch,
    Resolution, RunRecord, SendRecord, SendState, SentMessage, Suppression, SuppressionAction,
    SuppressionAudit, SuppressionRow, SuppressionSet, TemplateBinding, TemplateVersionRecord,
    TemplateWrite, UnknownPolicy, VerifyReport,
};
use crate::raw::{RawRow, RawSink, RawTable, RawValue, TableCounts, check_fresh};

/// Newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations, in order; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) const SEND_COLS: &str = "campaign, row_key, recipient, masked, channel, template_hash, state, \
     attempts, next_attempt_at, message_id, conversation_id, error_code, note, run_id, \
     dispatched_at, updated_at";

/// A ledger stored in one SQLite file, over one connection.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
    report: OpenReport,
}

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

/// Raw columns of a `sends` row in [`SEND_COLS`] order.
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
    pub(crate) dispatched_at: Option<i64>,
    pub(crate) updated_at: i64,
}

impl RawSend {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<RawSend> {
        Ok(RawSend {
            campaign: r.get(0)?,
            row_key: r.get(1)?,
            recipient: r.get(2)?,
            masked: r.get(3)?,
            channel: r.get(4)?,
            template_hash: r.get(5)?,
            state: r.get(6)?,
            attempts: r.get(7)?,
            next_attempt_at: r.get(8)?,
            message_id: r.get(9)?,
            conversation_id: r.get(10)?,
            error_code: r.get(11)?,
            note: r.get(12)?,
            run_id: r.get(13)?,
            dispatched_at: r.get(14)?,
            updated_at: r.get(15)?,
        })
    }

    pub(crate) fn image(&self) -> Result<SendImage> {
        Ok(SendImage {
            campaign: self.campaign.clone(),
            row_key: self.row_key.clone(),
            recipient: parse_recipient(&self.recipient)?,
            masked: self.masked.clone(),
            channel: parse_channel(&self.channel)?,
            template_hash: self.template_hash.clone(),
            state: parse_state(&self.state)?,
            attempts: u32_of(self.attempts)?,
            next_attempt_at: self.next_attempt_at,
            message_id: self.message_id.clone(),
            conversation_id: self.conversation_id.clone(),
            error_code: self.error_code.clone(),
            note: self.note.clone(),
        })
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

fn load_send(tx: &Connection, campaign: &str, row_key: &str) -> Result<Option<RawSend>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {SEND_COLS} FROM sends WHERE campaign = ?1 AND row_key = ?2"
    ))?;
    Ok(stmt
        .query_row(params![campaign, row_key], RawSend::from_row)
        .optional()?)
}

fn image_of(tx: &Connection, campaign: &str, row_key: &str) -> Result<SendImage> {
    load_send(tx, campaign, row_key)?
        .ok_or_else(|| LedgerError::Corrupt(format!("send {campaign}/{row_key} vanished")))?
        .image()
}

/// Appends one event to the chain inside the caller's write transaction.
fn append_event(tx: &Connection, at_ms: i64, event: &Event) -> Result<()> {
    let last: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((seq, hash)) => (
            u64::try_from(seq).map_err(|_| LedgerError::Corrupt("negative event seq".into()))? + 1,
            hash,
        ),
        None => (1, GENESIS.to_owned()),
    };
    let payload = event.to_payload();
    let hash = event_hash(&prev, seq, at_ms, &payload);
    tx.prepare_cached(
        "INSERT INTO events (seq, at, kind, payload_json, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        i64::try_from(seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?,
        at_ms,
        event.kind(),
        payload,
        prev,
        hash
    ])?;
    Ok(())
}

fn run_exists(tx: &Connection, run_id: &str) -> Result<()> {
    let found: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()?;
    if found.is_none() {
        return Err(LedgerError::NotFound {
            what: "run",
            name: run_id.to_owned(),
        });
    }
    Ok(())
}

fn suppressed_in(tx: &Connection, recipient: &RecipientId, channel: Channel) -> Result<bool> {
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT 1 FROM suppressions WHERE recipient = ?1 AND (channel = ?2 OR channel = '*') LIMIT 1",
        )?
        .query_row(params![recipient.as_str(), channel.as_str()], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

fn suppress_in(tx: &Connection, at: i64, s: &Suppression) -> Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (recipient, channel) DO NOTHING",
        )?
        .execute(params![
            s.recipient.as_str(),
            scope_str(s.channel),
            s.masked,
            s.reason,
            s.source,
            at
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    audit_in(tx, at, SuppressionAction::Add, s)?;
    append_event(
        tx,
        at,
        &Event::SuppressionChanged {
            change: SuppressionImage {
                action: SuppressionAction::Add,
                recipient: s.recipient.clone(),
                channel: s.channel,
                masked: s.masked.clone(),
                reason: s.reason.clone(),
                source: s.source.clone(),
            },
        },
    )?;
    Ok(true)
}

fn audit_in(tx: &Connection, at: i64, action: SuppressionAction, s: &Suppression) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO suppression_audit (action, recipient, channel, masked, reason, source, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        match action {
            SuppressionAction::Add => "add",
            SuppressionAction::Remove => "remove",
        },
        s.recipient.as_str(),
        scope_str(s.channel),
        s.masked,
        s.reason,
        s.source,
        at
    ])?;
    Ok(())
}

fn unsuppress_in(
    tx: &Connection,
    at: i64,
    recipient: &RecipientId,
    channel: Option<Channel>,
    reason: &str,
    source: &str,
) -> Result<u64> {
    let rows: Vec<(String, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT channel, masked FROM suppressions WHERE recipient = ?1 AND (?2 IS NULL OR channel = ?2) ORDER BY channel",
        )?;
        stmt.query_map(
            params![recipient.as_str(), channel.map(Channel::as_str)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?
    };
    for (scope, masked) in &rows {
        tx.prepare_cached("DELETE FROM suppressions WHERE recipient = ?1 AND channel = ?2")?
            .execute(params![recipient.as_str(), scope])?;
        let s = Suppression {
            recipient: recipient.clone(),
            masked: masked.clone(),
            channel: parse_scope(scope)?,
            reason: reason.to_owned(),
            source: source.to_owned(),
        };
        audit_in(tx, at, SuppressionAction::Remove, &s)?;
        append_event(
            tx,
            at,
            &Event::SuppressionChanged {
                change: SuppressionImage {
                    action: SuppressionAction::Remove,
                    recipient: s.recipient,
                    channel: s.channel,
                    masked: s.masked,
                    reason: s.reason,
                    source: s.source,
                },
            },
        )?;
    }
    Ok(rows.len() as u64)
}

impl SqliteLedger {
    /// Opens (creating and migrating if needed) the ledger at `path` for `key`.
    ///
    /// Does not touch `dispatching` rows: use [`SqliteLedger::open_locked`] (or
    /// [`Ledger::recover_dispatching`]) when holding the run lock.
    pub fn open(path: &Path, key: &LedgerKey) -> Result<SqliteLedger> {
        let mut created = false;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::create_private_dir(parent)?;
        }
        if fsutil::create_private_file(path)? {
            created = true;
        } else {
            // A ledger copied or created by other means: make it (and its WAL/SHM) private.
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                fsutil::tighten_file(Path::new(&p))?;
            }
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Corrupt(format!(
                "could not enable WAL journal mode (got {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let mut ledger = SqliteLedger {
            conn,
            path: path.to_owned(),
            report: OpenReport {
                created,
                ..OpenReport::default()
            },
        };
        ledger.migrate()?;
        ledger.check_key(key)?;
        Ok(ledger)
    }

    /// Opens the ledger for a run that holds `lock`, turning leftover `dispatching` rows
    /// (from a crashed run) into `unknown`; the count is in [`SqliteLedger::open_report`].
    pub fn open_locked(path: &Path, key: &LedgerKey, lock: &RunLock) -> Result<SqliteLedger> {
        let _ = lock;
        let mut ledger = SqliteLedger::open(path, key)?;
        ledger.report.recovered_unknown = ledger.recover_dispatching()?;
        Ok(ledger)
    }

    /// What opening did (created, migrated, recovered).
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Direct access to the connection, for backend-specific tests and tools.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self.write_tx()?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(LedgerError::NewerSchema {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        tx.commit()?;
        self.report.migrated_from = Some(version);
        Ok(())
    }

    fn check_key(&mut self, key: &LedgerKey) -> Result<()> {
        let actual = key.fingerprint();
        let tx = self.write_tx()?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'key_fingerprint'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            Some(expected) if expected == actual => Ok(()),
            Some(expected) => Err(LedgerError::WrongKey { expected, actual }),
            None => {
                let at = now_ms();
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_fingerprint', ?1)",
                    [&actual],
                )?;
                append_event(
                    &tx,
                    at,
                    &Event::LedgerCreated {
                        key_fingerprint: actual,
                        schema_version: SCHEMA_VERSION,
                    },
                )?;
                tx.commit()?;
                Ok(())
            }
        }
    }
}

impl Ledger for SqliteLedger {
    fn recover_dispatching(&mut self) -> Result<u64> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let keys: Vec<(String, String)> = tx
            .prepare("SELECT campaign, row_key FROM sends WHERE state = 'dispatching' ORDER BY campaign, row_key")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if keys.is_empty() {
            return Ok(0);
        }
        let mut images = Vec::with_capacity(keys.len());
        for (campaign, row_key) in &keys {
            tx.prepare_cached(
                "UPDATE sends SET state = 'unknown', note = 'interrupted while dispatching', updated_at = ?3 \
                 WHERE campaign = ?1 AND row_key = ?2",
            )?
            .execute(params![campaign, row_key, at])?;
            images.push(image_of(&tx, campaign, row_key)?);
        }
        append_event(&tx, at, &Event::DispatchingRecovered { rows: images })?;
        tx.commit()?;
        Ok(keys.len() as u64)
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let n = tx.execute(
            "INSERT INTO runs (run_id, command, user_name, host, git_commit, plan_hash, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id) DO NOTHING",
            params![run.run_id, run.command, run.user, run.host, run.git_commit, run.plan_hash, at],
        )?;
        if n == 0 {
            return Err(LedgerError::AlreadyExists {
                what: "run",
                name: run.run_id.clone(),
            });
        }
        append_event(&tx, at, &Event::RunStarted { run: run.clone() })?;
        tx.commit()?;
        Ok(())
    }

    fn finish_run(&mut self, run_id: &str, outcome: &str) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let n = tx.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE run_id = ?1",
            params![run_id, at, outcome],
        )?;
        if n == 0 {
            return Err(LedgerError::NotFound {
                what: "run",
                name: run_id.to_owned(),
            });
        }
        append_event(
            &tx,
            at,
            &Event::RunFinished {
                run_id: run_id.to_owned(),
                outcome: outcome.to_owned(),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, command, user_name, host, git_commit, plan_hash, started_at, finished_at, outcome \
             FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((
                NewRun {
                    run_id: r.get(0)?,
                    command: r.get(1)?,
                    user: r.get(2)?,
                    host: r.get(3)?,
                    git_commit: r.get(4)?,
                    plan_hash: r.get(5)?,
                },
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (run, started, finished, outcome) = row?;
            Ok(RunRecord {
                run,
                started_at: ts(started)?,
                finished_at: opt_ts(finished)?,
                outcome,
            })
        })
        .collect()
    }

    fn template_binding(&self, name: &str) -> Result<Option<TemplateBinding>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings WHERE name = ?1",
                [name],
                binding_from_row,
            )
            .optional()?)
    }

    fn template_bindings(&self) -> Result<Vec<TemplateBinding>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings ORDER BY name",
        )?;
        Ok(stmt
            .query_map([], binding_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn record_template_write(&mut self, w: &TemplateWrite) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        run_exists(&tx, &w.run_id)?;
        tx.execute(
            "INSERT INTO template_versions (name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, run_id, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![w.name, w.response_id, w.version, w.content_hash, w.remote_hash, w.git_commit, w.overwrote_hash, w.run_id, at],
        )?;
        tx.execute(
            "INSERT INTO template_bindings (name, response_id, version, content_hash, remote_hash, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (name) DO UPDATE SET response_id = excluded.response_id, version = excluded.version, \
             content_hash = excluded.content_hash, remote_hash = excluded.remote_hash, updated_at = excluded.updated_at",
            params![w.name, w.response_id, w.version, w.content_hash, w.remote_hash, at],
        )?;
        append_event(&tx, at, &Event::TemplateWritten { write: w.clone() })?;
        tx.commit()?;
        Ok(())
    }

    fn rename_template_binding(&mut self, run_id: &str, old: &str, new: &str) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        run_exists(&tx, run_id)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM template_bindings WHERE name = ?1",
                [new],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(LedgerError::AlreadyExists {
                what: "template binding",
                name: new.to_owned(),
            });
        }
        let n = tx.execute(
            "UPDATE template_bindings SET name = ?2, updated_at = ?3 WHERE name = ?1",
            params![old, new, at],
        )?;
        if n == 0 {
            return Err(LedgerError::NotFound {
                what: "template binding",
                name: old.to_owned(),
            });
        }
        append_event(
            &tx,
            at,
            &Event::TemplateRenamed {
                run_id: run_id.to_owned(),
                old: old.to_owned(),
                new: new.to_owned(),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn template_history(&self, name: Option<&str>) -> Result<Vec<TemplateVersionRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, at \
             FROM template_versions WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([name], |r| {
            Ok((
                TemplateWrite {
                    run_id: r.get(0)?,
                    name: r.get(1)?,
                    response_id: r.get(2)?,
                    version: r.get(3)?,
                    content_hash: r.get(4)?,
                    remote_hash: r.get(5)?,
                    git_commit: r.get(6)?,
                    overwrote_hash: r.get(7)?,
                },
                r.get::<_, i64>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (write, at) = row?;
            Ok(TemplateVersionRecord { write, at: ts(at)? })
        })
        .collect()
    }

    fn campaign_keys(&self, campaign: &str) -> Result<KeySet> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT row_key, state FROM sends WHERE campaign = ?1")?;
        let mut rows = stmt.query([campaign])?;
        let mut set = KeySet::default();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let state = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            set.states.insert(key, parse_state(state)?);
        }
        Ok(set)
    }

    fn campaign_recipients(&self, campaign: &str) -> Result<HashSet<RecipientId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT recipient FROM sends WHERE campaign = ?1 AND state <> 'suppressed'",
        )?;
        let mut rows = stmt.query([campaign])?;
        let mut set = HashSet::new();
        while let Some(row) = rows.next()? {
            set.insert(parse_recipient(
                row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?,
            )?);
        }
        Ok(set)
    }

    fn suppression_set(&self) -> Result<SuppressionSet> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT recipient, channel FROM suppressions")?;
        let mut rows = stmt.query([])?;
        let mut set = SuppressionSet::default();
        while let Some(row) = rows.next()? {
            let recipient: String = row.get(0)?;
            let scope: String = row.get(1)?;
            let recipient = parse_recipient(&recipient)?;
            match parse_scope(&scope)? {
                None => {
                    set.all_channels.insert(recipient);
                }
                Some(c) => {
                    set.by_channel.entry(c).or_default().insert(recipient);
                }
            }
        }
        Ok(set)
    }

    fn claim_batch(
        &mut self,
        run_id: &str,
        campaign: &str,
        claims: &[Claim],
        unknown: UnknownPolicy,
    ) -> Result<Vec<ClaimResult>> {
        let tx = self.write_tx()?;
        let at = now_ms();
        run_exists(&tx, run_id)?;
        let mut results = Vec::with_capacity(claims.len());
        let mut images = Vec::new();
        for c in claims {
            let existing: Option<String> = tx
                .prepare_cached("SELECT state FROM sends WHERE campaign = ?1 AND row_key = ?2")?
                .query_row(params![campaign, c.row_key], |r| r.get(0))
                .optional()?;
            let existing = existing.as_deref().map(parse_state).transpose()?;
            let claimable = match existing {
                None => true,
                Some(s) => {
                    s.is_claimable()
                        || (s == SendState::Unknown && unknown == UnknownPolicy::Resend)
                }
            };
            if !claimable {
                results.push(ClaimResult::Skipped(existing.unwrap_or(SendState::Pending)));
                continue;
            }
            let suppressed = suppressed_in(&tx, &c.recipient, c.channel)?;
            if suppressed && existing == Some(SendState::Suppressed) {
                results.push(ClaimResult::Suppressed);
                continue;
            }
            let (state, bump) = if suppressed {
                ("suppressed", 0)
            } else {
                ("dispatching", 1)
            };
            tx.prepare_cached(
                "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
                   run_id, created_at, dispatched_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CASE WHEN ?8 > 0 THEN ?10 END, ?10) \
                 ON CONFLICT (campaign, row_key) DO UPDATE SET recipient = excluded.recipient, masked = excluded.masked, \
                   channel = excluded.channel, template_hash = excluded.template_hash, state = excluded.state, \
                   attempts = sends.attempts + excluded.attempts, next_attempt_at = NULL, message_id = NULL, \
                   conversation_id = NULL, error_code = NULL, note = NULL, run_id = excluded.run_id, \
                   dispatched_at = COALESCE(excluded.dispatched_at, sends.dispatched_at), updated_at = excluded.updated_at",
            )?
            .execute(params![
                campaign,
                c.row_key,
                c.recipient.as_str(),
                c.masked,
                c.channel.as_str(),
                c.template_hash,
                state,
                bump,
                run_id,
                at
            ])?;
            images.push(image_of(&tx, campaign, &c.row_key)?);
            results.push(if suppressed {
                ClaimResult::Suppressed
            } else {
                ClaimResult::Claimed
            });
        }
        if !images.is_empty() {
            append_event(
                &tx,
                at,
                &Event::SendsClaimed {
                    run_id: run_id.to_owned(),
                    rows: images,
                },
            )?;
        }
        tx.commit()?;
        Ok(results)
    }

    fn record_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let mut images = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let raw = load_send(&tx, &o.campaign, &o.row_key)?;
            let from = raw
                .as_ref()
                .map_or("absent", |r| r.state.as_str())
                .to_owned();
            let (state, message_id, conversation_id, error_code, next, note) = match &o.result {
                OutcomeResult::Sent {
                    message_id,
                    conversation_id,
                } => (
                    "sent",
                    Some(message_id.as_str()),
                    conversation_id.as_deref(),
                    None,
                    None,
                    None,
                ),
                OutcomeResult::Failed { code } => {
                    ("failed", None, None, Some(code.as_str()), None, None)
                }
                OutcomeResult::Unknown { reason } => {
                    ("unknown", None, None, None, None, Some(reason.as_str()))
                }
                OutcomeResult::Pending {
                    next_attempt_at,
                    reason,
                } => (
                    "pending",
                    None,
                    None,
                    None,
                    next_attempt_at.map(Timestamp::as_millisecond),
                    Some(reason.as_str()),
                ),
            };
            if from != "dispatching" {
                return Err(LedgerError::InvalidTransition {
                    campaign: o.campaign.clone(),
                    row_key: o.row_key.clone(),
                    from,
                    to: state.to_owned(),
                });
            }
            tx.prepare_cached(
                "UPDATE sends SET state = ?3, message_id = ?4, conversation_id = ?5, error_code = ?6, \
                 next_attempt_at = ?7, note = ?8, run_id = ?9, updated_at = ?10 WHERE campaign = ?1 AND row_key = ?2",
            )?
            .execute(params![
                o.campaign,
                o.row_key,
                state,
                message_id,
                conversation_id,
                error_code,
                next,
                note,
                run_id,
                at
            ])?;
            if let (Some(conv), Some(raw)) = (conversation_id, raw.as_ref()) {
                tx.prepare_cached(
                    "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (recipient) DO UPDATE SET channel = excluded.channel, \
                     conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
                )?
                .execute(params![raw.recipient, raw.channel, conv, at])?;
            }
            images.push(image_of(&tx, &o.campaign, &o.row_key)?);
        }
        if !images.is_empty() {
            append_event(
                &tx,
                at,
                &Event::OutcomesRecorded {
                    run_id: run_id.to_owned(),
                    rows: images,
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn sends_in_state(&self, campaign: Option<&str>, state: SendState) -> Result<Vec<SendRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SEND_COLS} FROM sends WHERE state = ?1 AND (?2 IS NULL OR campaign = ?2) ORDER BY campaign, row_key"
        ))?;
        let rows = stmt.query_map(params![state.as_str(), campaign], RawSend::from_row)?;
        rows.map(|r| r?.record()).collect()
    }

    fn send(&self, campaign: &str, row_key: &str) -> Result<Option<SendRecord>> {
        load_send(&self.conn, campaign, row_key)?
            .map(RawSend::record)
            .transpose()
    }

    fn resolve_unknown(
        &mut self,
        run_id: &str,
        campaign: &str,
        row_key: &str,
        resolution: &Resolution,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let raw = load_send(&tx, campaign, row_key)?;
        let to = match resolution {
            Resolution::Found { .. } => "sent",
            Resolution::NotFound => "pending",
        };
        match &raw {
            Some(r) if r.state == "unknown" => {}
            other => {
                return Err(LedgerError::InvalidTransition {
                    campaign: campaign.to_owned(),
                    row_key: row_key.to_owned(),
                    from: other
                        .as_ref()
                        .map_or("absent", |r| r.state.as_str())
                        .to_owned(),
                    to: to.to_owned(),
                });
            }
        }
        match resolution {
            Resolution::Found {
                message_id,
                conversation_id,
            } => {
                tx.execute(
                    "UPDATE sends SET state = 'sent', message_id = ?3, conversation_id = ?4, note = 'found by reconcile', \
                     run_id = ?5, updated_at = ?6 WHERE campaign = ?1 AND row_key = ?2",
                    params![campaign, row_key, message_id, conversation_id, run_id, at],
                )?;
                if let (Some(conv), Some(raw)) = (conversation_id, raw.as_ref()) {
                    tx.execute(
                        "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (recipient) DO UPDATE SET channel = excluded.channel, \
                         conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
                        params![raw.recipient, raw.channel, conv, at],
                    )?;
                }
            }
            Resolution::NotFound => {
                tx.execute(
                    "UPDATE sends SET state = 'pending', note = 'not found by reconcile', run_id = ?3, updated_at = ?4 \
                     WHERE campaign = ?1 AND row_key = ?2",
                    params![campaign, row_key, run_id, at],
                )?;
            }
        }
        let image = image_of(&tx, campaign, row_key)?;
        append_event(
            &tx,
            at,
            &Event::UnknownResolved {
                run_id: run_id.to_owned(),
                rows: vec![image],
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn campaign_counts(
        &self,
        campaign: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<CampaignCounts>> {
        let mut out: BTreeMap<String, CampaignCounts> = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT campaign, state, COUNT(*), \
             SUM(CASE WHEN state = 'pending' AND next_attempt_at > ?2 THEN 1 ELSE 0 END) \
             FROM sends WHERE ?1 IS NULL OR campaign = ?1 GROUP BY campaign, state",
        )?;
        let mut rows = stmt.query(params![campaign, now.as_millisecond()])?;
        while let Some(r) = rows.next()? {
            let c: String = r.get(0)?;
            let state = parse_state(&r.get::<_, String>(1)?)?;
            let n = u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0);
            let held = u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0);
            let counts = counts_entry(&mut out, &c);
            counts.by_state.insert(state, n);
            counts.held += held;
        }
        let mut stmt = self.conn.prepare(
            "SELECT campaign, receipt_status, COUNT(*) FROM sends \
             WHERE receipt_status IS NOT NULL AND (?1 IS NULL OR campaign = ?1) GROUP BY campaign, receipt_status",
        )?;
        let mut rows = stmt.query(params![campaign])?;
        while let Some(r) = rows.next()? {
            let c: String = r.get(0)?;
            let status: String = r.get(1)?;
            let n = u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0);
            counts_entry(&mut out, &c).receipts.insert(status, n);
        }
        Ok(out.into_values().collect())
    }

    fn conversation_for(&self, recipient: &RecipientId) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT conversation_id FROM conversations WHERE recipient = ?1",
                [recipient.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn suppress_many(&mut self, suppressions: &[Suppression]) -> Result<u64> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let mut n = 0;
        for s in suppressions {
            if suppress_in(&tx, at, s)? {
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn unsuppress(
        &mut self,
        recipient: &RecipientId,
        channel: Option<Channel>,
        reason: &str,
        source: &str,
    ) -> Result<u64> {
        let tx = self.write_tx()?;
        let n = unsuppress_in(&tx, now_ms(), recipient, channel, reason, source)?;
        tx.commit()?;
        Ok(n)
    }

    fn is_suppressed(&self, recipient: &RecipientId, channel: Channel) -> Result<bool> {
        suppressed_in(&self.conn, recipient, channel)
    }

    fn suppressions(&self) -> Result<Vec<SuppressionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT recipient, channel, masked, reason, source, since FROM suppressions ORDER BY since, recipient, channel",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (recipient, scope, masked, reason, source, since) = row?;
            Ok(SuppressionRow {
                suppression: Suppression {
                    recipient: parse_recipient(&recipient)?,
                    masked,
                    channel: parse_scope(&scope)?,
                    reason,
                    source,
                },
                since: ts(since)?,
            })
        })
        .collect()
    }

    fn suppression_history(
        &self,
        recipient: Option<&RecipientId>,
    ) -> Result<Vec<SuppressionAudit>> {
        let mut stmt = self.conn.prepare(
            "SELECT action, recipient, channel, masked, reason, source, at FROM suppression_audit \
             WHERE ?1 IS NULL OR recipient = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([recipient.map(RecipientId::as_str)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (action, recipient, scope, masked, reason, source, at) = row?;
            Ok(SuppressionAudit {
                action: match action.as_str() {
                    "add" => SuppressionAction::Add,
                    "remove" => SuppressionAction::Remove,
                    other => return Err(corrupt("audit action", other)),
                },
                suppression: Suppression {
                    recipient: parse_recipient(&recipient)?,
                    masked,
                    channel: parse_scope(&scope)?,
                    reason,
                    source,
                },
                at: ts(at)?,
            })
        })
        .collect()
    }

    fn record_inbound(&mut self, inbound: &InboundRecord) -> Result<InboundResult> {
        let tx = self.write_tx()?;
        let at = now_ms();
        let action = match inbound.action {
            InboundAction::Suppress => "suppress",
            InboundAction::Resubscribe => "resubscribe",
            InboundAction::Help => "help",
            InboundAction::None => "none",
        };
        let n = tx.execute(
            "INSERT INTO inbound (message_id, recipient, masked, channel, action, flagged, received_at, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (message_id) DO NOTHING",
            params![
                inbound.message_id,
                inbound.recipient.as_str(),
                inbound.masked,
                inbound.channel.as_str(),
                action,
                inbound.flagged,
                inbound.received_at.as_millisecond(),
                at
            ],
        )?;
        if n == 0 {
            return Ok(InboundResult::Duplicate);
        }
        append_event(
            &tx,
            at,
            &Event::InboundRecorded {
                message_id: inbound.message_id.clone(),
                recipient: inbound.recipient.clone(),
                channel: inbound.channel,
                action: inbound.action,
                flagged: inbound.flagged,
            },
        )?;
        let source = format!("inbound:{}", inbound.message_id);
        let changed = match inbound.action {
            InboundAction::Suppress => suppress_in(
                &tx,
                at,
                &Suppression {
                    recipient: inbound.recipient.clone(),
                    masked: inbound.masked.clone(),
                    channel: Some(inbound.channel),
                    reason: if inbound.flagged {
                        "opt-out keyword inside a longer reply (flagged for review)".to_owned()
                    } else {
                        "opt-out keyword reply".to_owned()
                    },
                    source,
                },
            )?,
            InboundAction::Resubscribe => {
                unsuppress_in(
                    &tx,
                    at,
                    &inbound.recipient,
                    Some(inbound.channel),
                    "re-subscribe keyword reply",
                    &source,
                )? > 0
            }
            InboundAction::Help | InboundAction::None => false,
        };
        tx.commit()?;
        Ok(InboundResult::Recorded {
            suppression_changed: changed,
        })
    }

    fn record_receipts(&mut self, receipts: &[Receipt]) -> Result<Vec<Option<ReceiptMatch>>> {
        let tx = self.write_tx()?;
        let now = now_ms();
        let mut found_all = Vec::with_capacity(receipts.len());
        for rc in receipts {
            let at_ms = rc.at.as_millisecond();
            tx.prepare_cached(
                "INSERT INTO receipts (message_id, status, reason, at, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![rc.message_id, rc.status, rc.reason, at_ms, now])?;
            tx.prepare_cached(
                "UPDATE sends SET receipt_status = ?2, receipt_at = ?3 \
                 WHERE message_id = ?1 AND (receipt_at IS NULL OR receipt_at <= ?3)",
            )?
            .execute(params![rc.message_id, rc.status, at_ms])?;
            let found = tx
                .prepare_cached(
                    "SELECT campaign, row_key, recipient, masked, channel FROM sends WHERE message_id = ?1 LIMIT 1",
                )?
                .query_row([&rc.message_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .optional()?;
            append_event(
                &tx,
                now,
                &Event::ReceiptRecorded {
                    message_id: rc.message_id.clone(),
                    status: rc.status.clone(),
                    reason: rc.reason.clone(),
                },
            )?;
            found_all.push(
                found
                    .map(|(campaign, row_key, recipient, masked, channel)| {
                        Ok::<_, LedgerError>(ReceiptMatch {
                            campaign,
                            row_key,
                            recipient: parse_recipient(&recipient)?,
                            masked,
                            channel: parse_channel(&channel)?,
                        })
                    })
                    .transpose()?,
            );
        }
        tx.commit()?;
        Ok(found_all)
    }

    fn recent_sent(&self, since: Timestamp, limit: usize) -> Result<Vec<SentMessage>> {
        let mut stmt = self.conn.prepare(
            "SELECT campaign, row_key, message_id, channel, updated_at, receipt_status FROM sends \
             WHERE state = 'sent' AND message_id IS NOT NULL AND updated_at >= ?1 \
             ORDER BY updated_at, campaign, row_key LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                since.as_millisecond(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (campaign, row_key, message_id, channel, at, last_status) = row?;
            Ok(SentMessage {
                campaign,
                row_key,
                message_id,
                channel: parse_channel(&channel)?,
                sent_at: ts(at)?,
                last_status,
            })
        })
        .collect()
    }

    fn events(&self, after_seq: u64, limit: usize) -> Result<Vec<EventRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (seq, at, kind, payload_json, prev_hash, hash) = row?;
            Ok(EventRecord {
                seq: u64::try_from(seq)
                    .map_err(|_| LedgerError::Corrupt("negative event seq".into()))?,
                at: ts(at)?,
                kind,
                payload_json,
                prev_hash,
                hash,
            })
        })
        .collect()
    }

    fn verify(&self) -> Result<VerifyReport> {
        // One read transaction: events and rows come from the same snapshot even while a
        // receiver keeps writing.
        let tx = self.conn.unchecked_transaction()?;
        let mut replay = Replay::new();
        {
            let mut stmt = tx.prepare(
                "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                replay.feed_event(&StoredEvent {
                    seq: u64::try_from(seq).unwrap_or(0),
                    at_ms: r.get(1)?,
                    kind: r.get(2)?,
                    payload_json: r.get(3)?,
                    prev_hash: r.get(4)?,
                    hash: r.get(5)?,
                });
                if !replay.chain_ok() {
                    break;
                }
            }
        }
        if replay.chain_ok() {
            let mut stmt = tx.prepare(&format!("SELECT {SEND_COLS} FROM sends"))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let raw = RawSend::from_row(r)?;
                match raw.image() {
                    Ok(image) => replay.check_send(&image),
                    Err(e) => {
                        return Ok(corrupt_report(&format!(
                            "sends row {}/{} is unreadable: {e}",
                            raw.campaign, raw.row_key
                        )));
                    }
                }
            }
            let mut stmt =
                tx.prepare("SELECT recipient, channel, masked, reason, source FROM suppressions")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let recipient: String = r.get(0)?;
                let scope: String = r.get(1)?;
                let (Some(recipient), Ok(scope)) =
                    (RecipientId::from_hex(&recipient), parse_scope(&scope))
                else {
                    return Ok(corrupt_report("a suppression row is unreadable"));
                };
                replay.check_suppression(
                    &recipient,
                    scope,
                    &r.get::<_, String>(2)?,
                    &r.get::<_, String>(3)?,
                    &r.get::<_, String>(4)?,
                );
            }
        }
        tx.finish()?;
        Ok(replay.finish())
    }

    fn export(
        &self,
        campaign: Option<&str>,
        sink: &mut dyn FnMut(ExportRow) -> Result<()>,
    ) -> Result<u64> {
        let mut stmt = self.conn.prepare(
            "SELECT s.campaign, s.row_key, s.recipient, s.masked, s.channel, s.state, s.attempts, s.template_hash, \
             s.message_id, s.conversation_id, s.error_code, r.git_commit, s.receipt_status, s.updated_at \
             FROM sends s LEFT JOIN runs r ON r.run_id = s.run_id \
             WHERE ?1 IS NULL OR s.campaign = ?1 ORDER BY s.campaign, s.row_key",
        )?;
        let mut rows = stmt.query([campaign])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let row = ExportRow {
                campaign: r.get(0)?,
                row_key: r.get(1)?,
                recipient: parse_recipient(&r.get::<_, String>(2)?)?,
                masked: r.get(3)?,
                channel: parse_channel(&r.get::<_, String>(4)?)?,
                state: parse_state(&r.get::<_, String>(5)?)?,
                attempts: u32_of(r.get(6)?)?,
                template_hash: r.get(7)?,
                message_id: r.get(8)?,
                conversation_id: r.get(9)?,
                error_code: r.get(10)?,
                git_commit: r.get(11)?,
                receipt_status: r.get(12)?,
                updated_at: ts(r.get(13)?)?,
            };
            sink(row)?;
            n += 1;
        }
        Ok(n)
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        Ok(stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn table_counts(&self) -> Result<TableCounts> {
        table_counts_in(&self.conn)
    }

    fn export_raw(&self, sink: &mut RawSink<'_>) -> Result<()> {
        // One read transaction: every table comes from the same snapshot.
        let tx = self.conn.unchecked_transaction()?;
        for table in RawTable::ALL {
            let mut stmt = tx.prepare(&format!(
                "SELECT {} FROM {} ORDER BY {}",
                table.column_list(),
                table.name(),
                table.order_by()
            ))?;
            let width = table.columns().len();
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    values.push(match r.get_ref(i)? {
                        ValueRef::Null => RawValue::Null,
                        ValueRef::Integer(n) => RawValue::Int(n),
                        ValueRef::Text(t) => RawValue::Text(
                            String::from_utf8(t.to_vec())
                                .map_err(|_| corrupt("non-UTF-8 text in", table.name()))?,
                        ),
                        ValueRef::Real(_) | ValueRef::Blob(_) => {
                            return Err(corrupt("non-integer, non-text value in", table.name()));
                        }
                    });
                }
                let row = RawRow { table, values };
                row.check()?;
                sink(row)?;
            }
        }
        tx.finish()?;
        Ok(())
    }

    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts> {
        let tx = self.write_tx()?;
        let first_kind: Option<String> = tx
            .query_row("SELECT kind FROM events ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        check_fresh(&table_counts_in(&tx)?, first_kind.as_deref())?;
        // The imported chain replaces this ledger's own creation event; the append-only
        // guard is lifted for that one statement, inside the transaction.
        tx.execute_batch(
            "DROP TRIGGER events_append_only_delete; DELETE FROM events; \
             CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events \
             BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
        )?;
        let mut counts: TableCounts = RawTable::ALL
            .iter()
            .map(|t| (t.name().to_owned(), 0))
            .collect();
        feed(&mut |row: RawRow| {
            row.check()?;
            *counts.entry(row.table.name().to_owned()).or_default() += 1;
            if let Some((key, value)) = row.meta_pair() {
                return import_meta(&tx, key, value);
            }
            let table = row.table;
            let placeholders = (1..=table.columns().len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            tx.prepare_cached(&format!(
                "INSERT INTO {} ({}) VALUES ({placeholders})",
                table.name(),
                table.column_list()
            ))?
            .execute(rusqlite::params_from_iter(row.values.into_iter().map(
                |v| match v {
                    RawValue::Null => SqlValue::Null,
                    RawValue::Int(n) => SqlValue::Integer(n),
                    RawValue::Text(t) => SqlValue::Text(t),
                },
            )))?;
            Ok(())
        })?;
        tx.commit()?;
        Ok(counts)
    }
}

fn table_counts_in(conn: &Connection) -> Result<TableCounts> {
    let mut out = TableCounts::new();
    for table in RawTable::ALL {
        let n: i64 =
            conn.query_row(&format!("SELECT COUNT(*) FROM {}", table.name()), [], |r| {
                r.get(0)
            })?;
        out.insert(table.name().to_owned(), u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

/// Imports one `meta` row: the key fingerprint must match this ledger's; others are upserted.
fn import_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    if key == "key_fingerprint" {
        let ours: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'key_fingerprint'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        return match ours {
            Some(actual) if actual != value => Err(LedgerError::WrongKey {
                expected: value.to_owned(),
                actual,
            }),
            _ => Ok(()),
        };
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn corrupt_report(reason: &str) -> VerifyReport {
    VerifyReport {
        ok: false,
        events_checked: 0,
        sends_checked: 0,
        suppressions_checked: 0,
        first_broken: Some(crate::model::BrokenLink {
            seq: None,
            reason: reason.to_owned(),
        }),
    }
}

pub(crate) fn counts_entry<'a>(
    out: &'a mut BTreeMap<String, CampaignCounts>,
    c: &str,
) -> &'a mut CampaignCounts {
    out.entry(c.to_owned()).or_insert_with(|| CampaignCounts {
        campaign: c.to_owned(),
        by_state: SendState::ALL.iter().map(|s| (*s, 0)).collect(),
        ..CampaignCounts::default()
    })
}

fn binding_from_row(r: &Row<'_>) -> rusqlite::Result<TemplateBinding> {
    Ok(TemplateBinding {
        name: r.get(0)?,
        response_id: r.get(1)?,
        version: r.get(2)?,
        content_hash: r.get(3)?,
        remote_hash: r.get(4)?,
    })
}
