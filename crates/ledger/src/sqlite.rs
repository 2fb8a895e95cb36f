//! The SQLite ledger backend.
//!
//! Owns: the connection settings, the schema and its migrations, transactions and the
//! SQLite side of the dialect points (suppression lookups one recipient at a time, bulk
//! import row by row); every
//! ledger operation is the shared core's ([`crate::ops`]).
//! Invariants: the file is created 0600 (in a 0700 directory when the directory is new)
//! before SQLite first opens it, so the `-wal`/`-shm` files inherit 0600; the connection runs
//! WAL, `synchronous=FULL`, `busy_timeout` 10 s and foreign keys; every write is one
//! `BEGIN IMMEDIATE` transaction that also appends its event; schema versions live in
//! `PRAGMA user_version` and a ledger from a newer herald is refused, never downgraded;
//! the stored key fingerprint must match the supplied key. Timestamps are i64 Unix
//! milliseconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, TransactionBehavior};

use crate::Ledger as _;
use crate::audit::{check_import_target, import_meta, raw_params, zero_counts};
use crate::chain::ChainKey;
use crate::codec::{RawSend, SEND_BY_KEY, now_ms};
use crate::error::{LedgerError, Result};
use crate::fsutil;
use crate::key::LedgerKey;
use crate::lock::RunLock;
use crate::model::OpenReport;
use crate::ops::SCHEMA_VERSION;
use crate::raw::{RawRow, RawSink, TableCounts};
use crate::store::{Cells, Db, Each, SendChange, Store, Val};
use crate::writes::check_key;

/// Migrations, in order; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_inbound_text_mac.sql"),
    include_str!("migrations/0003_keyed_chain.sql"),
    include_str!("migrations/0004_send_category.sql"),
    include_str!("migrations/0005_recent_sends_covering.sql"),
    include_str!("migrations/0006_checkpoint.sql"),
    include_str!("migrations/0007_channel_list.sql"),
    include_str!("migrations/0008_dnc_registries.sql"),
    include_str!("migrations/0009_handed_off_waves.sql"),
    include_str!("migrations/0010_keyword_replies.sql"),
    include_str!("migrations/0011_sealed_rows.sql"),
    include_str!("migrations/0012_packed_ids.sql"),
    include_str!("migrations/0013_archived_cuts.sql"),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_CACHE: usize = 64;

/// A ledger stored in one SQLite file, over one connection.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Connection,
    chain: ChainKey,
    path: PathBuf,
    report: OpenReport,
}

impl SqliteLedger {
    /// Opens (creating and migrating if needed) the ledger at `path` for `key`.
    ///
    /// Does not touch `dispatching` rows: use [`SqliteLedger::open_locked`] (or
    /// [`Ledger::recover_dispatching`](crate::Ledger::recover_dispatching)) when holding the
    /// run lock.
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
        crate::packed::register_sqlite(&conn)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Every shared statement is cached; a claim-and-record cycle uses about a dozen.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Corrupt(format!(
                "could not enable WAL journal mode (got {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let mut ledger = SqliteLedger {
            conn,
            chain: ChainKey::derive(key),
            path: path.to_owned(),
            report: OpenReport {
                created,
                ..OpenReport::default()
            },
        };
        ledger.migrate()?;
        check_key(&mut ledger, key)?;
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

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
}

/// One SQLite connection (or the transaction open on it).
pub(crate) struct Lite<'c>(pub(crate) &'c Connection, pub(crate) &'c ChainKey);

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(n)),
            Val::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(b))),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Texts(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "array parameters are PostgreSQL-only".into(),
                ));
            }
        })
    }
}

struct LiteRow<'r, 's>(&'r Row<'s>);

impl Cells for LiteRow<'_, '_> {
    fn text(&self, i: usize) -> Result<Option<&str>> {
        match self.0.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Some)
                .map_err(|_| LedgerError::Corrupt(format!("non-UTF-8 text in column {i}"))),
            _ => Err(LedgerError::Corrupt(format!("column {i} is not text"))),
        }
    }

    fn packed(&self, i: usize) -> Result<Option<String>> {
        // As `id_unpack` reads it: bytes decoded, anything else as its text.
        Ok(match self.0.get_ref(i)? {
            ValueRef::Null => None,
            ValueRef::Blob(b) => Some(crate::packed::unpack(b)),
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
        })
    }

    fn blob(&self, i: usize) -> Result<Option<&[u8]>> {
        match self.0.get_ref(i)? {
            ValueRef::Blob(b) => Ok(Some(b)),
            _ => Ok(None),
        }
    }

    fn int(&self, i: usize) -> Result<Option<i64>> {
        match self.0.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            _ => Err(LedgerError::Corrupt(format!(
                "column {i} is not an integer"
            ))),
        }
    }
}

impl Db for Lite<'_> {
    fn execute(&mut self, sql: &str, p: &[Val<'_>]) -> Result<u64> {
        let n = self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(p))?;
        Ok(n as u64)
    }

    fn each(&mut self, sql: &str, p: &[Val<'_>], f: &mut Each<'_>) -> Result<()> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(p))?;
        while let Some(r) = rows.next()? {
            f(&LiteRow(r))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn row_lock(&self) -> &'static str {
        // `BEGIN IMMEDIATE` already holds the only write lock.
        ""
    }

    fn change_send(&mut self, change: &SendChange, p: &[Val<'_>]) -> Result<Option<RawSend>> {
        // `RETURNING` costs SQLite an ephemeral table per statement: change, then read back.
        if self.execute(change.sql, p)? == 0 {
            return Ok(None);
        }
        let key = p.get(..2).unwrap_or_default();
        let db: &mut dyn Db = self;
        db.row(SEND_BY_KEY, key, RawSend::from_row)
    }

    fn chain_key(&self) -> &ChainKey {
        self.1
    }

    fn events_guard(&self) -> (&'static str, &'static str) {
        (
            "DROP TRIGGER IF EXISTS events_append_only_update;",
            "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events \
             BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
        )
    }

    fn suppressions_of(&mut self, recipients: &[&str]) -> Result<Vec<(String, String)>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in recipients.iter().filter(|r| seen.insert(**r)) {
            self.each(
                "SELECT recipient, channel FROM suppressions WHERE recipient = ?1",
                &[Val::Text(r)],
                &mut |row| {
                    out.push((row.s(0)?, row.s(1)?));
                    Ok(())
                },
            )?;
        }
        Ok(out)
    }
}

impl Store for SqliteLedger {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        f(&mut Lite(&self.conn, &self.chain))
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let tx = self.conn.unchecked_transaction()?;
        let out = f(&mut Lite(&tx, &self.chain))?;
        tx.finish()?;
        Ok(out)
    }

    fn write<T>(&mut self, f: impl FnOnce(&mut dyn Db, i64) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut db = Lite(&tx, &self.chain);
        let before = crate::checkpoint::before_in(&mut db)?;
        let out = f(&mut db, now_ms())?;
        crate::checkpoint::seal_in(&mut db, &before)?;
        tx.commit()?;
        Ok(out)
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        Ok(stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts> {
        self.write(|db, _| {
            check_import_target(db)?;
            // The imported chain replaces this ledger's own creation event; the append-only
            // guard is lifted for that one statement, inside the transaction.
            db.batch(
                "DROP TRIGGER events_append_only_delete; DELETE FROM events; \
                 CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events \
                 BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
            )?;
            let mut counts = zero_counts();
            feed(&mut |row: RawRow| {
                row.check()?;
                *counts.entry(row.table.name().to_owned()).or_default() += 1;
                if let Some((key, value)) = row.meta_pair() {
                    return import_meta(db, key, value);
                }
                let table = row.table;
                db.execute(
                    &format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        table.name(),
                        table.column_list(),
                        table.values_list()
                    ),
                    &raw_params(&row),
                )?;
                Ok(())
            })?;
            Ok(counts)
        })
    }
}
