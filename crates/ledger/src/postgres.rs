//! The PostgreSQL ledger backend (feature `postgres`), for CI runners that keep no local
//! file and for several pipelines sharing one org.
//!
//! Owns: connecting, the PostgreSQL schema and its migrations, transactions and the
//! PostgreSQL side of the dialect points (row locks in claims, array parameters, bulk import
//! by binary `COPY`); every ledger operation is the shared core's ([`crate::ops`]), and the
//! run lock is [`PgRunLock`](crate::PgRunLock). The ledger lives in the first schema of the
//! connection's `search_path` (choose one per environment with
//! `?options=-csearch_path%3Dherald_prod` in the URL).
//!
//! Invariants: the tables, columns, states, HMAC recipients, key fingerprint and hash chain
//! are those of the SQLite backend, so rows and events copy verbatim between them. Every
//! write is one transaction that first locks the `chain_lock` row (`SELECT … FOR UPDATE`),
//! so writers from any number of processes append to the chain one at a time, and the claim
//! statements are themselves safe without that lock (row locks, `ON CONFLICT DO NOTHING …
//! RETURNING`, state-guarded updates): one key is never claimed twice. The schema version
//! lives in `herald_meta`; migrations run under a transaction-level advisory lock and a
//! database from a newer herald is refused. A wrong key is [`LedgerError::WrongKey`].
//! Connection URLs are never printed with their password.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::Host;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, GenericClient, Row, Statement, Transaction};

use crate::Ledger as _;
use crate::audit::{check_import_target, import_meta, zero_counts};
use crate::chain::ChainKey;
use crate::codec::{RawSend, now_ms};
use crate::error::{LedgerError, Result};
use crate::key::LedgerKey;
use crate::model::OpenReport;
use crate::ops::SCHEMA_VERSION;
use crate::pg_lock::PgRunLock;
use crate::raw::{RawKind, RawRow, RawSink, RawTable, RawValue, TableCounts};
use crate::store::{Cells, Db, Each, SendChange, Store, Val};
use crate::writes::check_key;

mod tls;
pub(crate) use tls::Tls;
use tls::TlsOptions;

/// PostgreSQL migrations, in order; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_inbound_text_mac.sql"),
    include_str!("migrations/postgres/0003_keyed_chain.sql"),
    include_str!("migrations/postgres/0004_send_category.sql"),
    include_str!("migrations/postgres/0005_recent_sends_covering.sql"),
    include_str!("migrations/postgres/0006_checkpoint.sql"),
    include_str!("migrations/postgres/0007_channel_list.sql"),
    include_str!("migrations/postgres/0008_dnc_registries.sql"),
    include_str!("migrations/postgres/0009_handed_off_waves.sql"),
    include_str!("migrations/postgres/0010_keyword_replies.sql"),
    include_str!("migrations/postgres/0011_sealed_rows.sql"),
    include_str!("migrations/postgres/0012_packed_ids.sql"),
    include_str!("migrations/postgres/0013_archived_cuts.sql"),
];

// Both backends always carry the same schema version.
#[allow(clippy::cast_possible_wrap)]
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// Advisory lock class serialising migrations ("HRM1").
pub(crate) const MIGRATE_LOCK_CLASS: i32 = 0x4852_4d31;
/// The advisory lock object id: a non-negative hash of the ledger's schema.
pub(crate) const SCHEMA_KEY_SQL: &str = "(hashtext(current_schema()) & 2147483647)";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const COPY_CHUNK: usize = 2_000;

/// A parsed connection string: the driver's configuration, the TLS to connect with, and
/// how the server is shown.
pub(crate) struct PgTarget {
    /// The driver's configuration (without the TLS options, which `tls` holds).
    pub(crate) config: Config,
    /// The TLS options of the connection string.
    tls: TlsOptions,
    /// `postgres://user@host:port/db`, never with the password.
    pub(crate) shown: String,
}

impl PgTarget {
    /// Connects with the TLS the connection string asks for (see [`tls`]).
    pub(crate) fn connect(&mut self) -> Result<Client> {
        let tls = Tls::new(&self.tls, &self.config)?;
        Ok(tls.connect(&mut self.config)?)
    }

    /// The TLS connector alone, for callers that report the driver's error themselves.
    pub(crate) fn tls(&self) -> Result<Tls> {
        Tls::new(&self.tls, &self.config)
    }
}

/// Parses a `postgres://` URL (or key=value string) and applies herald's defaults.
pub(crate) fn config_for(url: &str, application: &str) -> Result<PgTarget> {
    // The driver's parse errors name the offending option, never the password.
    let redact = |e: &dyn std::fmt::Display| e.to_string().replace(url, "<url>");
    let (rest, tls) = tls::split_options(url)?;
    let mut config = Config::from_str(&rest).map_err(|e| {
        LedgerError::Backend(format!(
            "the PostgreSQL URL is not valid ({})",
            redact(&e).replace(&rest, "<url>")
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    // Refuse a contradictory mode (e.g. sslrootcert=system with require) at parse time.
    tls.effective_mode(&config)?;
    let shown = describe(&config);
    Ok(PgTarget { config, tls, shown })
}

/// How `url` is shown: `postgres://user@host:port/db`, never with the password.
pub(crate) fn shown_url(url: &str) -> Result<String> {
    Ok(config_for(url, "herald")?.shown)
}

/// `postgres://user@host:port/db`, never with the password.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// `(current_database(), current_schema())`, refusing a connection without a schema.
pub(crate) fn location(c: &mut impl GenericClient) -> Result<(String, String)> {
    // The simple protocol (no prepared statement), so that behind a transaction-pooling
    // proxy the run lock gets as far as its own check and says what is wrong.
    let rows = c.simple_query("SELECT current_database()::text, current_schema()::text")?;
    let row = rows.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    let db = row.and_then(|r| r.get(0)).unwrap_or_default().to_owned();
    let schema = row.and_then(|r| r.get(1)).map(str::to_owned);
    let schema = schema.ok_or_else(|| {
        LedgerError::Backend(
            "no schema selected: the first schema of the search_path must exist \
             (set it with ?options=-csearch_path%3D<schema> in the URL)"
                .to_owned(),
        )
    })?;
    Ok((db, schema))
}

type Stmts = HashMap<String, Statement>;

/// A connection plus its prepared statements.
struct Conn {
    client: Client,
    stmts: Stmts,
}

/// A statement runner over a client or a transaction, preparing each statement once per
/// connection.
struct Pg<'a, C: GenericClient> {
    c: &'a mut C,
    stmts: &'a mut Stmts,
    chain: &'a ChainKey,
}

/// A parameter typed as the prepared statement expects it.
enum Arg<'a> {
    Text(Option<&'a str>),
    I64(Option<i64>),
    I32(Option<i32>),
    Bool(Option<bool>),
    Texts(&'a [&'a str]),
    Bytes(Option<Vec<u8>>),
}

impl Arg<'_> {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Arg::Text(v) => v,
            Arg::I64(v) => v,
            Arg::I32(v) => v,
            Arg::Bool(v) => v,
            Arg::Texts(v) => v,
            Arg::Bytes(v) => v,
        }
    }
}

fn bind<'a>(types: &[Type], p: &[Val<'a>]) -> Result<Vec<Arg<'a>>> {
    p.iter()
        .zip(types)
        .map(|(v, ty)| {
            Ok(match (*v, ty) {
                (Val::Null, &Type::INT8) => Arg::I64(None),
                (Val::Null, &Type::INT4) => Arg::I32(None),
                (Val::Null, &Type::BOOL) => Arg::Bool(None),
                (Val::Null, _) => Arg::Text(None),
                (Val::Int(n), &Type::INT4) => Arg::I32(Some(i32::try_from(n).map_err(|_| {
                    LedgerError::Backend(format!("parameter {n} is out of range"))
                })?)),
                (Val::Int(n), _) => Arg::I64(Some(n)),
                (Val::Bool(b), _) => Arg::Bool(Some(b)),
                (Val::Text(s), _) => Arg::Text(Some(s)),
                (Val::Texts(a), _) => Arg::Texts(a),
            })
        })
        .collect()
}

struct PgRow<'r>(&'r Row);

impl Cells for PgRow<'_> {
    fn text(&self, i: usize) -> Result<Option<&str>> {
        Ok(self.0.try_get(i)?)
    }

    fn packed(&self, i: usize) -> Result<Option<String>> {
        match self.0.columns().get(i).map(|c| c.type_().clone()) {
            Some(Type::BYTEA) => Ok(self
                .0
                .try_get::<_, Option<&[u8]>>(i)?
                .map(crate::packed::unpack)),
            _ => Ok(self.text(i)?.map(str::to_owned)),
        }
    }

    fn blob(&self, i: usize) -> Result<Option<&[u8]>> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::BYTEA) => self.0.try_get(i)?,
            _ => None,
        })
    }

    fn int(&self, i: usize) -> Result<Option<i64>> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::INT4) => self.0.try_get::<_, Option<i32>>(i)?.map(i64::from),
            Some(Type::INT2) => self.0.try_get::<_, Option<i16>>(i)?.map(i64::from),
            Some(Type::BOOL) => self.0.try_get::<_, Option<bool>>(i)?.map(i64::from),
            _ => self.0.try_get(i)?,
        })
    }
}

/// The shared SQL (`?N` parameters) in PostgreSQL's spelling (`$N`); done once per
/// statement and connection, when it is prepared.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl<C: GenericClient> Pg<'_, C> {
    fn prep(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(&pg_sql(sql))?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

impl<C: GenericClient> Db for Pg<'_, C> {
    fn execute(&mut self, sql: &str, p: &[Val<'_>]) -> Result<u64> {
        let s = self.prep(sql)?;
        let args = bind(s.params(), p)?;
        let refs: Vec<_> = args.iter().map(Arg::as_sql).collect();
        Ok(self.c.execute(&s, &refs)?)
    }

    fn each(&mut self, sql: &str, p: &[Val<'_>], f: &mut Each<'_>) -> Result<()> {
        let s = self.prep(sql)?;
        let args = bind(s.params(), p)?;
        let mut rows = self.c.query_raw(&s, args.iter().map(Arg::as_sql))?;
        while let Some(r) = rows.next()? {
            f(&PgRow(&r))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.c.batch_execute(sql)?)
    }

    fn row_lock(&self) -> &'static str {
        // Locks the row (if any) until commit: its state cannot change under the claim.
        " FOR UPDATE"
    }

    fn change_send(&mut self, change: &SendChange, p: &[Val<'_>]) -> Result<Option<RawSend>> {
        let db: &mut dyn Db = self;
        db.row(change.returning, p, RawSend::from_row)
    }

    fn suppressions_of(&mut self, recipients: &[&str]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        self.each(
            "SELECT recipient, channel FROM suppressions WHERE recipient = ANY(?1)",
            &[Val::Texts(recipients)],
            &mut |r| {
                out.push((r.s(0)?, r.s(1)?));
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn chain_key(&self) -> &ChainKey {
        self.chain
    }

    fn events_guard(&self) -> (&'static str, &'static str) {
        (
            "ALTER TABLE events DISABLE TRIGGER events_append_only;",
            "ALTER TABLE events ENABLE TRIGGER events_append_only;",
        )
    }
}

/// A ledger stored in a PostgreSQL schema, over one connection.
pub struct PostgresLedger {
    conn: RefCell<Conn>,
    chain: ChainKey,
    target: String,
    location: (String, String),
    report: OpenReport,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("target", &self.target)
            .field("schema", &self.location.1)
            .finish_non_exhaustive()
    }
}

impl PostgresLedger {
    /// Connects to the ledger at `url` (`postgres://user[:password]@host[:port]/db`, with
    /// `?options=-csearch_path%3D<schema>` to pick the schema), creating or migrating its
    /// tables as needed, and checks `key` against the stored fingerprint.
    ///
    /// Does not touch `dispatching` rows: use [`PostgresLedger::open_locked`] (or
    /// [`Ledger::recover_dispatching`](crate::Ledger::recover_dispatching)) when holding the
    /// run lock. The URL's `sslmode` and `sslrootcert` mean what they mean to libpq (see the
    /// module `tls`); without `sslmode`, a server across the network must speak TLS.
    pub fn connect(url: &str, key: &LedgerKey) -> Result<PostgresLedger> {
        let mut target = config_for(url, "herald")?;
        let mut client = target.connect()?;
        let target = target.shown;
        let location = location(&mut client)?;
        let mut ledger = PostgresLedger {
            conn: RefCell::new(Conn {
                client,
                stmts: Stmts::new(),
            }),
            chain: ChainKey::derive(key),
            target,
            location,
            report: OpenReport::default(),
        };
        ledger.migrate()?;
        check_key(&mut ledger, key)?;
        Ok(ledger)
    }

    /// Connects for a run that holds `lock` (taken on the same database and schema), turning
    /// leftover `dispatching` rows (from a crashed run) into `unknown`; the count is in
    /// [`PostgresLedger::open_report`].
    pub fn open_locked(url: &str, key: &LedgerKey, lock: &PgRunLock) -> Result<PostgresLedger> {
        let mut ledger = PostgresLedger::connect(url, key)?;
        let held = lock.location();
        if &ledger.location != held {
            return Err(LedgerError::Backend(format!(
                "the run lock is held on database `{}` schema `{}`, but the ledger is database `{}` schema `{}`",
                held.0, held.1, ledger.location.0, ledger.location.1
            )));
        }
        ledger.report.recovered_unknown = ledger.recover_dispatching()?;
        Ok(ledger)
    }

    /// What connecting did (created, migrated, recovered).
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// The database, as `postgres://user@host:port/db` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema holding the ledger.
    pub fn schema(&self) -> &str {
        &self.location.1
    }

    /// Direct access to the connection, for backend-specific tests and tools.
    #[doc(hidden)]
    pub fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> T) -> T {
        f(&mut self.conn.borrow_mut().client)
    }

    /// Runs `f` in one write transaction that holds the `chain_lock` row, and commits.
    fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&mut Pg<'_, Transaction<'_>>, i64) -> Result<T>,
    ) -> Result<T> {
        let Conn { client, stmts } = self.conn.get_mut();
        let mut tx = client.transaction()?;
        let out = {
            let mut db = Pg {
                c: &mut tx,
                stmts,
                chain: &self.chain,
            };
            // `query_one`: a missing lock row would silently stop serialising writers.
            db.c.query_one("SELECT id FROM chain_lock WHERE id = 1 FOR UPDATE", &[])?;
            let before = crate::checkpoint::before_in(&mut db)?;
            let out = f(&mut db, now_ms())?;
            crate::checkpoint::seal_in(&mut db, &before)?;
            out
        };
        tx.commit()?;
        Ok(out)
    }

    fn migrate(&mut self) -> Result<()> {
        let target = self.target.clone();
        let Conn { client, .. } = self.conn.get_mut();
        let mut tx = client.transaction()?;
        tx.execute(
            format!("SELECT pg_advisory_xact_lock($1, {SCHEMA_KEY_SQL})").as_str(),
            &[&MIGRATE_LOCK_CLASS],
        )?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS herald_meta (\
               id SMALLINT PRIMARY KEY CHECK (id = 1), schema_version BIGINT NOT NULL)",
        )?;
        let version: i64 = tx
            .query_opt("SELECT schema_version FROM herald_meta WHERE id = 1", &[])?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(LedgerError::NewerSchema {
                path: PathBuf::from(format!("{target} (schema {})", self.location.1)),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        for sql in MIGRATIONS
            .iter()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            tx.batch_execute(sql)?;
        }
        tx.execute(
            "INSERT INTO herald_meta (id, schema_version) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET schema_version = excluded.schema_version",
            &[&SCHEMA_VERSION],
        )?;
        tx.commit()?;
        self.report.created = version == 0;
        self.report.migrated_from = Some(version);
        Ok(())
    }
}

impl Store for PostgresLedger {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.borrow_mut();
        let Conn { client, stmts } = &mut *conn;
        f(&mut Pg {
            c: client,
            stmts,
            chain: &self.chain,
        })
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.borrow_mut();
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = f(&mut Pg {
            c: &mut tx,
            stmts,
            chain: &self.chain,
        })?;
        tx.commit()?;
        Ok(out)
    }

    fn write<T>(&mut self, f: impl FnOnce(&mut dyn Db, i64) -> Result<T>) -> Result<T> {
        self.write_tx(|db, at| f(db, at))
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        // PostgreSQL checks its own storage; this checks what herald relies on.
        self.read(|db| {
            let mut problems = Vec::new();
            let version = db.row(
                "SELECT schema_version FROM herald_meta WHERE id = 1",
                &[],
                |r| r.i(0),
            )?;
            if version != Some(SCHEMA_VERSION) {
                problems.push(format!(
                    "schema version is {version:?}, expected {SCHEMA_VERSION}"
                ));
            }
            let count = |db: &mut dyn Db, sql: &str| -> Result<i64> {
                Ok(db.row(sql, &[], |r| r.i(0))?.unwrap_or(0))
            };
            if count(db, "SELECT COUNT(*) FROM chain_lock WHERE id = 1")? != 1 {
                problems.push("the chain_lock row is missing".to_owned());
            }
            let triggers = count(
                db,
                "SELECT COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname LIKE '%append_only%' \
                 AND t.tgenabled <> 'D'",
            )?;
            if triggers != 6 {
                problems.push(format!(
                    "{triggers} of 6 append-only triggers are present and enabled"
                ));
            }
            if problems.is_empty() {
                problems.push("ok".to_owned());
            }
            Ok(problems)
        })
    }

    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts> {
        self.write_tx(|db, _| {
            check_import_target(db)?;
            // The imported chain replaces this ledger's own creation event; the append-only
            // guard is lifted for that one statement, inside the transaction.
            db.c.batch_execute(
                "ALTER TABLE events DISABLE TRIGGER events_append_only; DELETE FROM events; \
                 ALTER TABLE events ENABLE TRIGGER events_append_only;",
            )?;
            let mut counts = zero_counts();
            let mut pending: Vec<RawRow> = Vec::new();
            feed(&mut |row: RawRow| {
                row.check()?;
                *counts.entry(row.table.name().to_owned()).or_default() += 1;
                if pending.first().is_some_and(|p| p.table != row.table)
                    || pending.len() >= COPY_CHUNK
                {
                    copy_rows(db.c, &std::mem::take(&mut pending))?;
                }
                if let Some((key, value)) = row.meta_pair() {
                    return import_meta(db, key, value);
                }
                pending.push(row);
                Ok(())
            })?;
            copy_rows(db.c, &pending)?;
            // Identity columns continue after the imported ids.
            for table in RawTable::ALL.iter().filter(|t| t.has_id()) {
                let name = table.name();
                db.c.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {name}"
                ))?;
            }
            Ok(counts)
        })
    }
}

/// Writes rows of one table with a binary `COPY`.
fn copy_rows(tx: &mut Transaction<'_>, rows: &[RawRow]) -> Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let table = first.table;
    let types: Vec<Type> = table
        .columns()
        .iter()
        .map(|c| match c.kind {
            RawKind::Text if crate::packed::is_packed(table, c.name) => Type::BYTEA,
            RawKind::Text => Type::TEXT,
            RawKind::Int => Type::INT8,
            RawKind::Bool => Type::BOOL,
        })
        .collect();
    let writer = tx.copy_in(
        format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            table.name(),
            table.column_list()
        )
        .as_str(),
    )?;
    let mut writer = BinaryCopyInWriter::new(writer, &types);
    for row in rows {
        let values: Vec<Arg<'_>> = table
            .columns()
            .iter()
            .zip(&row.values)
            .map(|(c, v)| match (c.kind, v) {
                (RawKind::Text, RawValue::Text(t)) if crate::packed::is_packed(table, c.name) => {
                    Arg::Bytes(Some(crate::packed::pack(t)))
                }
                (RawKind::Text, _) if crate::packed::is_packed(table, c.name) => Arg::Bytes(None),
                (RawKind::Text, RawValue::Text(t)) => Arg::Text(Some(t)),
                (RawKind::Text, _) => Arg::Text(None),
                (RawKind::Int, RawValue::Int(n)) => Arg::I64(Some(*n)),
                (RawKind::Int, _) => Arg::I64(None),
                (RawKind::Bool, RawValue::Int(n)) => Arg::Bool(Some(*n != 0)),
                (RawKind::Bool, _) => Arg::Bool(None),
            })
            .collect();
        let refs: Vec<_> = values.iter().map(Arg::as_sql).collect();
        writer.write(&refs)?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pg_sql;

    #[test]
    fn shared_parameters_are_spelt_for_postgres() {
        assert_eq!(
            pg_sql("UPDATE t SET a = ?3 WHERE b = ?1 AND c = ?12 AND d <> '?'"),
            "UPDATE t SET a = $3 WHERE b = $1 AND c = $12 AND d <> '?'"
        );
    }
}
