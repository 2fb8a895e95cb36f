//! The PostgreSQL ledger backend (feature `postgres`), for CI runners that keep no local
//! file and for several pipelines sharing one org.
//!
//! Owns: the PostgreSQL schema and its migrations, every PostgreSQL statement, and the run
//! lock as a session advisory lock ([`PgRunLock`]). The ledger lives in the first schema of
//! the connection's `search_path` (choose one per environment with
//! `?options=-csearch_path%3Dherald_prod` in the URL).
//!
//! Invariants: the tables, columns, states, HMAC recipients, key fingerprint and hash chain
//! are those of the SQLite backend, so rows and events copy verbatim between them. Every
//! write is one transaction that first locks the `chain_lock` row (`SELECT … FOR UPDATE`),
//! so writers from any number of processes append to the chain one at a time, and the claim
//! statements are themselves safe without that lock (row locks, `ON CONFLICT DO NOTHING …
//! RETURNING`, state-guarded updates): one key is never claimed twice. The schema version
//! lives in `herald_meta`; migrations run under a transaction-level advisory lock and a
//! database from a newer herald is refused. A wrong key is [`LedgerError::WrongKey`]. The
//! run lock is a *session* advisory lock on its own unpooled connection: it is released when
//! that connection ends, however the holder dies, so it must not go through a
//! transaction-pooling proxy. Connection URLs are never printed with their password.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::Host;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, GenericClient, NoTls, Row, Statement, Transaction};

use crate::Ledger;
use crate::chain::{Event, GENESIS, Replay, StoredEvent, SuppressionImage, event_hash};
use crate::error::{LedgerError, Result};
use crate::key::{Channel, LedgerKey, RecipientId};
use crate::lock::{LockError, LockInfo};
use crate::model::{
    CampaignCounts, Claim, ClaimResult, EventRecord, ExportRow, InboundAction, InboundRecord,
    InboundResult, KeySet, NewRun, OpenReport, Outcome, OutcomeResult, Receipt, ReceiptMatch,
    Resolution, RunRecord, SendRecord, SendState, SentMessage, Suppression, SuppressionAction,
    SuppressionAudit, SuppressionRow, SuppressionSet, TemplateBinding, TemplateVersionRecord,
    TemplateWrite, UnknownPolicy, VerifyReport,
};
use crate::raw::{RawKind, RawRow, RawSink, RawTable, RawValue, TableCounts, check_fresh};
use crate::sqlite::{
    RawSend, SCHEMA_VERSION, corrupt, corrupt_report, counts_entry, now_ms, opt_ts, parse_channel,
    parse_recipient, parse_scope, parse_state, scope_str, ts, u32_of,
};

/// PostgreSQL migrations, in order; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/postgres/0001_initial.sql")];

// Both backends always carry the same schema version.
#[allow(clippy::cast_possible_wrap)]
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// Advisory lock class of the run lock ("HRL1"); the object id is the schema's hash.
const RUN_LOCK_CLASS: i32 = 0x4852_4c31;
/// Advisory lock class serialising migrations ("HRM1").
const MIGRATE_LOCK_CLASS: i32 = 0x4852_4d31;
/// The advisory lock object id: a non-negative hash of the ledger's schema.
const SCHEMA_KEY_SQL: &str = "(hashtext(current_schema()) & 2147483647)";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
const EXPORT_PAGE: i64 = 2_000;
const COPY_CHUNK: usize = 2_000;

macro_rules! send_cols {
    () => {
        "campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
         next_attempt_at, message_id, conversation_id, error_code, note, run_id, dispatched_at, \
         updated_at"
    };
}

type Stmts = HashMap<&'static str, Statement>;

/// A connection plus its prepared statements.
struct Conn {
    client: Client,
    stmts: Stmts,
}

/// A statement runner over a client or a transaction, preparing each statement once per
/// connection.
struct Db<'a, C: GenericClient> {
    c: &'a mut C,
    stmts: &'a mut Stmts,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Db<'_, C> {
    fn prep(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>> {
        let s = self.prep(sql)?;
        Ok(self.c.query(&s, p)?)
    }

    fn query_opt(&mut self, sql: &'static str, p: Params<'_>) -> Result<Option<Row>> {
        let s = self.prep(sql)?;
        Ok(self.c.query_opt(&s, p)?)
    }

    fn query_one(&mut self, sql: &'static str, p: Params<'_>) -> Result<Row> {
        let s = self.prep(sql)?;
        Ok(self.c.query_one(&s, p)?)
    }

    fn execute(&mut self, sql: &'static str, p: Params<'_>) -> Result<u64> {
        let s = self.prep(sql)?;
        Ok(self.c.execute(&s, p)?)
    }
}

type WriteDb<'a, 't> = Db<'a, Transaction<'t>>;

/// A ledger stored in a PostgreSQL schema, over one connection.
pub struct PostgresLedger {
    conn: RefCell<Conn>,
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

/// Parses a `postgres://` URL (or key=value string) and applies herald's defaults.
fn config_for(url: &str, application: &str) -> Result<(Config, String)> {
    let mut config = Config::from_str(url).map_err(|e| {
        LedgerError::Backend(format!(
            "the PostgreSQL URL is not valid ({})",
            // The driver's parse errors name the offending option, never the password.
            e.to_string().replace(url, "<url>")
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    let target = describe(&config);
    Ok((config, target))
}

/// How `url` is shown: `postgres://user@host:port/db`, never with the password.
pub(crate) fn shown_url(url: &str) -> Result<String> {
    Ok(config_for(url, "herald")?.1)
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
fn location(c: &mut impl GenericClient) -> Result<(String, String)> {
    let row = c.query_one(
        "SELECT current_database()::text, current_schema()::text",
        &[],
    )?;
    let db: String = row.try_get(0)?;
    let schema: Option<String> = row.try_get(1)?;
    let schema = schema.ok_or_else(|| {
        LedgerError::Backend(
            "no schema selected: the first schema of the search_path must exist \
             (set it with ?options=-csearch_path%3D<schema> in the URL)"
                .to_owned(),
        )
    })?;
    Ok((db, schema))
}

fn raw_send(r: &Row) -> Result<RawSend> {
    Ok(RawSend {
        campaign: r.try_get(0)?,
        row_key: r.try_get(1)?,
        recipient: r.try_get(2)?,
        masked: r.try_get(3)?,
        channel: r.try_get(4)?,
        template_hash: r.try_get(5)?,
        state: r.try_get(6)?,
        attempts: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        message_id: r.try_get(9)?,
        conversation_id: r.try_get(10)?,
        error_code: r.try_get(11)?,
        note: r.try_get(12)?,
        run_id: r.try_get(13)?,
        dispatched_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

fn seq_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends one event to the chain inside the caller's write transaction (which holds the
/// `chain_lock` row, so nobody else appends meanwhile).
fn append_event(db: &mut WriteDb<'_, '_>, at_ms: i64, event: &Event) -> Result<()> {
    let last = db.query_opt(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    let (seq, prev) = match last {
        Some(r) => (
            u64::try_from(r.try_get::<_, i64>(0)?)
                .map_err(|_| LedgerError::Corrupt("negative event seq".into()))?
                + 1,
            r.try_get::<_, String>(1)?,
        ),
        None => (1, GENESIS.to_owned()),
    };
    let payload = event.to_payload();
    let hash = event_hash(&prev, seq, at_ms, &payload);
    db.execute(
        "INSERT INTO events (seq, at, kind, payload_json, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&seq_i64(seq)?, &at_ms, &event.kind(), &payload, &prev, &hash],
    )?;
    Ok(())
}

fn run_exists(db: &mut WriteDb<'_, '_>, run_id: &str) -> Result<()> {
    if db
        .query_opt("SELECT 1 FROM runs WHERE run_id = $1", &[&run_id])?
        .is_none()
    {
        return Err(LedgerError::NotFound {
            what: "run",
            name: run_id.to_owned(),
        });
    }
    Ok(())
}

fn suppressed_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    recipient: &RecipientId,
    channel: Channel,
) -> Result<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM suppressions WHERE recipient = $1 AND (channel = $2 OR channel = '*') LIMIT 1",
            &[&recipient.as_str(), &channel.as_str()],
        )?
        .is_some())
}

fn audit_in(
    db: &mut WriteDb<'_, '_>,
    at: i64,
    action: SuppressionAction,
    s: &Suppression,
) -> Result<()> {
    let action = match action {
        SuppressionAction::Add => "add",
        SuppressionAction::Remove => "remove",
    };
    db.execute(
        "INSERT INTO suppression_audit (action, recipient, channel, masked, reason, source, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &action,
            &s.recipient.as_str(),
            &scope_str(s.channel),
            &s.masked,
            &s.reason,
            &s.source,
            &at,
        ],
    )?;
    Ok(())
}

fn suppress_in(db: &mut WriteDb<'_, '_>, at: i64, s: &Suppression) -> Result<bool> {
    let inserted = db.execute(
        "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (recipient, channel) DO NOTHING",
        &[
            &s.recipient.as_str(),
            &scope_str(s.channel),
            &s.masked,
            &s.reason,
            &s.source,
            &at,
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    audit_in(db, at, SuppressionAction::Add, s)?;
    append_event(
        db,
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

fn unsuppress_in(
    db: &mut WriteDb<'_, '_>,
    at: i64,
    recipient: &RecipientId,
    channel: Option<Channel>,
    reason: &str,
    source: &str,
) -> Result<u64> {
    let rows = db.query(
        "DELETE FROM suppressions WHERE recipient = $1 AND ($2::text IS NULL OR channel = $2::text) \
         RETURNING channel, masked",
        &[&recipient.as_str(), &channel.map(Channel::as_str)],
    )?;
    let mut removed: Vec<(String, String)> = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    removed.sort();
    for (scope, masked) in &removed {
        let s = Suppression {
            recipient: recipient.clone(),
            masked: masked.clone(),
            channel: parse_scope(scope)?,
            reason: reason.to_owned(),
            source: source.to_owned(),
        };
        audit_in(db, at, SuppressionAction::Remove, &s)?;
        append_event(
            db,
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
    Ok(removed.len() as u64)
}

fn upsert_conversation(
    db: &mut WriteDb<'_, '_>,
    recipient: &str,
    channel: &str,
    conversation: &str,
    at: i64,
) -> Result<()> {
    db.execute(
        "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (recipient) DO UPDATE SET channel = excluded.channel, \
         conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
        &[&recipient, &channel, &conversation, &at],
    )?;
    Ok(())
}

fn binding_from_row(r: &Row) -> Result<TemplateBinding> {
    Ok(TemplateBinding {
        name: r.try_get(0)?,
        response_id: r.try_get(1)?,
        version: r.try_get(2)?,
        content_hash: r.try_get(3)?,
        remote_hash: r.try_get(4)?,
    })
}

fn table_counts_in(c: &mut impl GenericClient) -> Result<TableCounts> {
    let sql = RawTable::ALL
        .iter()
        .map(|t| format!("(SELECT COUNT(*) FROM {})", t.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let row = c.query_one(format!("SELECT {sql}").as_str(), &[])?;
    let mut out = TableCounts::new();
    for (i, t) in RawTable::ALL.iter().enumerate() {
        out.insert(t.name().to_owned(), count(row.try_get(i)?));
    }
    Ok(out)
}

impl PostgresLedger {
    /// Connects to the ledger at `url` (`postgres://user[:password]@host[:port]/db`, with
    /// `?options=-csearch_path%3D<schema>` to pick the schema), creating or migrating its
    /// tables as needed, and checks `key` against the stored fingerprint.
    ///
    /// Does not touch `dispatching` rows: use [`PostgresLedger::open_locked`] (or
    /// [`Ledger::recover_dispatching`]) when holding the run lock. The connection has no TLS:
    /// use a local or otherwise protected network path to the server.
    pub fn connect(url: &str, key: &LedgerKey) -> Result<PostgresLedger> {
        let (config, target) = config_for(url, "herald")?;
        let mut client = config.connect(NoTls)?;
        let location = location(&mut client)?;
        let mut ledger = PostgresLedger {
            conn: RefCell::new(Conn {
                client,
                stmts: Stmts::new(),
            }),
            target,
            location,
            report: OpenReport::default(),
        };
        ledger.migrate()?;
        ledger.check_key(key)?;
        Ok(ledger)
    }

    /// Connects for a run that holds `lock` (taken on the same database and schema), turning
    /// leftover `dispatching` rows (from a crashed run) into `unknown`; the count is in
    /// [`PostgresLedger::open_report`].
    pub fn open_locked(url: &str, key: &LedgerKey, lock: &PgRunLock) -> Result<PostgresLedger> {
        let mut ledger = PostgresLedger::connect(url, key)?;
        if ledger.location != lock.location {
            return Err(LedgerError::Backend(format!(
                "the run lock is held on database `{}` schema `{}`, but the ledger is database `{}` schema `{}`",
                lock.location.0, lock.location.1, ledger.location.0, ledger.location.1
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

    fn read<T>(&self, f: impl FnOnce(&mut Db<'_, Client>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.borrow_mut();
        let Conn { client, stmts } = &mut *conn;
        f(&mut Db { c: client, stmts })
    }

    /// Runs `f` in one write transaction that holds the `chain_lock` row, and commits.
    fn write<T>(&mut self, f: impl FnOnce(&mut WriteDb<'_, '_>, i64) -> Result<T>) -> Result<T> {
        let Conn { client, stmts } = self.conn.get_mut();
        let mut tx = client.transaction()?;
        let out = {
            let mut db = Db { c: &mut tx, stmts };
            // `query_one`: a missing lock row would silently stop serialising writers.
            db.query_one("SELECT id FROM chain_lock WHERE id = 1 FOR UPDATE", &[])?;
            f(&mut db, now_ms())?
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

    fn check_key(&mut self, key: &LedgerKey) -> Result<()> {
        let actual = key.fingerprint();
        self.write(|db, at| {
            let stored: Option<String> = db
                .query_opt("SELECT value FROM meta WHERE key = 'key_fingerprint'", &[])?
                .map(|r| r.try_get(0))
                .transpose()?;
            match stored {
                Some(expected) if expected == actual => Ok(()),
                Some(expected) => Err(LedgerError::WrongKey { expected, actual }),
                None => {
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('key_fingerprint', $1)",
                        &[&actual],
                    )?;
                    append_event(
                        db,
                        at,
                        &Event::LedgerCreated {
                            key_fingerprint: actual,
                            schema_version: SCHEMA_VERSION,
                        },
                    )
                }
            }
        })
    }
}

/// Decides one claim against the row's current state (`None` = absent).
enum Decision {
    Skip(SendState),
    Suppressed,
    Write { state: &'static str, bump: i64 },
}

fn decide(existing: Option<SendState>, suppressed: bool, unknown: UnknownPolicy) -> Decision {
    if let Some(s) = existing
        && !(s.is_claimable() || (s == SendState::Unknown && unknown == UnknownPolicy::Resend))
    {
        return Decision::Skip(s);
    }
    if suppressed && existing == Some(SendState::Suppressed) {
        return Decision::Suppressed;
    }
    if suppressed {
        Decision::Write {
            state: "suppressed",
            bump: 0,
        }
    } else {
        Decision::Write {
            state: "dispatching",
            bump: 1,
        }
    }
}

impl Ledger for PostgresLedger {
    fn recover_dispatching(&mut self) -> Result<u64> {
        self.write(|db, at| {
            let rows = db.query(
                concat!(
                    "UPDATE sends SET state = 'unknown', note = 'interrupted while dispatching', updated_at = $1 \
                     WHERE state = 'dispatching' RETURNING ",
                    send_cols!()
                ),
                &[&at],
            )?;
            if rows.is_empty() {
                return Ok(0);
            }
            let mut images = rows
                .iter()
                .map(|r| raw_send(r)?.image())
                .collect::<Result<Vec<_>>>()?;
            images.sort_by(|a, b| (&a.campaign, &a.row_key).cmp(&(&b.campaign, &b.row_key)));
            let n = images.len() as u64;
            append_event(db, at, &Event::DispatchingRecovered { rows: images })?;
            Ok(n)
        })
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<()> {
        self.write(|db, at| {
            let n = db.execute(
                "INSERT INTO runs (run_id, command, user_name, host, git_commit, plan_hash, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING",
                &[
                    &run.run_id,
                    &run.command,
                    &run.user,
                    &run.host,
                    &run.git_commit,
                    &run.plan_hash,
                    &at,
                ],
            )?;
            if n == 0 {
                return Err(LedgerError::AlreadyExists {
                    what: "run",
                    name: run.run_id.clone(),
                });
            }
            append_event(db, at, &Event::RunStarted { run: run.clone() })
        })
    }

    fn finish_run(&mut self, run_id: &str, outcome: &str) -> Result<()> {
        self.write(|db, at| {
            let n = db.execute(
                "UPDATE runs SET finished_at = $2, outcome = $3 WHERE run_id = $1",
                &[&run_id, &at, &outcome],
            )?;
            if n == 0 {
                return Err(LedgerError::NotFound {
                    what: "run",
                    name: run_id.to_owned(),
                });
            }
            append_event(
                db,
                at,
                &Event::RunFinished {
                    run_id: run_id.to_owned(),
                    outcome: outcome.to_owned(),
                },
            )
        })
    }

    fn runs(&self, limit_n: usize) -> Result<Vec<RunRecord>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT run_id, command, user_name, host, git_commit, plan_hash, started_at, finished_at, outcome \
                 FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $1",
                &[&limit(limit_n)],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(RunRecord {
                    run: NewRun {
                        run_id: r.try_get(0)?,
                        command: r.try_get(1)?,
                        user: r.try_get(2)?,
                        host: r.try_get(3)?,
                        git_commit: r.try_get(4)?,
                        plan_hash: r.try_get(5)?,
                    },
                    started_at: ts(r.try_get(6)?)?,
                    finished_at: opt_ts(r.try_get(7)?)?,
                    outcome: r.try_get(8)?,
                })
            })
            .collect()
    }

    fn template_binding(&self, name: &str) -> Result<Option<TemplateBinding>> {
        self.read(|db| {
            db.query_opt(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(binding_from_row)
            .transpose()
        })
    }

    fn template_bindings(&self) -> Result<Vec<TemplateBinding>> {
        self.read(|db| {
            db.query(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings ORDER BY name",
                &[],
            )?
            .iter()
            .map(binding_from_row)
            .collect()
        })
    }

    fn record_template_write(&mut self, w: &TemplateWrite) -> Result<()> {
        self.write(|db, at| {
            run_exists(db, &w.run_id)?;
            db.execute(
                "INSERT INTO template_versions (name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, run_id, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&w.name, &w.response_id, &w.version, &w.content_hash, &w.remote_hash, &w.git_commit, &w.overwrote_hash, &w.run_id, &at],
            )?;
            db.execute(
                "INSERT INTO template_bindings (name, response_id, version, content_hash, remote_hash, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET response_id = excluded.response_id, version = excluded.version, \
                 content_hash = excluded.content_hash, remote_hash = excluded.remote_hash, updated_at = excluded.updated_at",
                &[&w.name, &w.response_id, &w.version, &w.content_hash, &w.remote_hash, &at],
            )?;
            append_event(db, at, &Event::TemplateWritten { write: w.clone() })
        })
    }

    fn rename_template_binding(&mut self, run_id: &str, old: &str, new: &str) -> Result<()> {
        self.write(|db, at| {
            run_exists(db, run_id)?;
            if db
                .query_opt("SELECT 1 FROM template_bindings WHERE name = $1", &[&new])?
                .is_some()
            {
                return Err(LedgerError::AlreadyExists {
                    what: "template binding",
                    name: new.to_owned(),
                });
            }
            let n = db.execute(
                "UPDATE template_bindings SET name = $2, updated_at = $3 WHERE name = $1",
                &[&old, &new, &at],
            )?;
            if n == 0 {
                return Err(LedgerError::NotFound {
                    what: "template binding",
                    name: old.to_owned(),
                });
            }
            append_event(
                db,
                at,
                &Event::TemplateRenamed {
                    run_id: run_id.to_owned(),
                    old: old.to_owned(),
                    new: new.to_owned(),
                },
            )
        })
    }

    fn template_history(&self, name: Option<&str>) -> Result<Vec<TemplateVersionRecord>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT run_id, name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, at \
                 FROM template_versions WHERE $1::text IS NULL OR name = $1::text ORDER BY id",
                &[&name],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(TemplateVersionRecord {
                    write: TemplateWrite {
                        run_id: r.try_get(0)?,
                        name: r.try_get(1)?,
                        response_id: r.try_get(2)?,
                        version: r.try_get(3)?,
                        content_hash: r.try_get(4)?,
                        remote_hash: r.try_get(5)?,
                        git_commit: r.try_get(6)?,
                        overwrote_hash: r.try_get(7)?,
                    },
                    at: ts(r.try_get(8)?)?,
                })
            })
            .collect()
    }

    fn campaign_keys(&self, campaign: &str) -> Result<KeySet> {
        let rows = self.read(|db| {
            db.query(
                "SELECT row_key, state FROM sends WHERE campaign = $1",
                &[&campaign],
            )
        })?;
        let mut set = KeySet::default();
        for r in &rows {
            set.states
                .insert(r.try_get(0)?, parse_state(r.try_get::<_, &str>(1)?)?);
        }
        Ok(set)
    }

    fn campaign_recipients(&self, campaign: &str) -> Result<HashSet<RecipientId>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT DISTINCT recipient FROM sends WHERE campaign = $1 AND state <> 'suppressed'",
                &[&campaign],
            )
        })?;
        rows.iter()
            .map(|r| parse_recipient(r.try_get::<_, &str>(0)?))
            .collect()
    }

    fn suppression_set(&self) -> Result<SuppressionSet> {
        let rows = self.read(|db| db.query("SELECT recipient, channel FROM suppressions", &[]))?;
        let mut set = SuppressionSet::default();
        for r in &rows {
            let recipient = parse_recipient(r.try_get::<_, &str>(0)?)?;
            match parse_scope(r.try_get::<_, &str>(1)?)? {
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
        self.write(|db, at| {
            run_exists(db, run_id)?;
            // Suppressions of every recipient in the batch, in one query.
            let recipients: Vec<&str> = claims.iter().map(|c| c.recipient.as_str()).collect();
            let mut suppressed: HashMap<String, Vec<String>> = HashMap::new();
            for r in db.query(
                "SELECT recipient, channel FROM suppressions WHERE recipient = ANY($1)",
                &[&recipients],
            )? {
                suppressed
                    .entry(r.try_get(0)?)
                    .or_default()
                    .push(r.try_get(1)?);
            }
            let is_suppressed = |c: &Claim| {
                suppressed.get(c.recipient.as_str()).is_some_and(|scopes| {
                    scopes
                        .iter()
                        .any(|s| s == "*" || s == c.channel.as_str())
                })
            };
            let mut results = Vec::with_capacity(claims.len());
            let mut images = Vec::new();
            for c in claims {
                let sup = is_suppressed(c);
                // At most two rounds: a row inserted by a concurrent claimer between our
                // lookup and our insert is decided again on its committed state.
                let mut written = None;
                for _ in 0..2 {
                    // Locks the row (if any) until commit: its state cannot change under us.
                    let existing = db
                        .query_opt(
                            "SELECT state FROM sends WHERE campaign = $1 AND row_key = $2 FOR UPDATE",
                            &[&campaign, &c.row_key],
                        )?
                        .map(|r| parse_state(r.try_get::<_, &str>(0)?))
                        .transpose()?;
                    let (state, bump) = match decide(existing, sup, unknown) {
                        Decision::Skip(s) => {
                            written = Some(ClaimResult::Skipped(s));
                            break;
                        }
                        Decision::Suppressed => {
                            written = Some(ClaimResult::Suppressed);
                            break;
                        }
                        Decision::Write { state, bump } => (state, bump),
                    };
                    let row = match existing {
                        None => db.query_opt(
                            concat!(
                                "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
                                   run_id, created_at, dispatched_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $8::bigint > 0 THEN $10::bigint END, $10) \
                                 ON CONFLICT (campaign, row_key) DO NOTHING RETURNING ",
                                send_cols!()
                            ),
                            &[
                                &campaign,
                                &c.row_key,
                                &c.recipient.as_str(),
                                &c.masked,
                                &c.channel.as_str(),
                                &c.template_hash,
                                &state,
                                &bump,
                                &run_id,
                                &at,
                            ],
                        )?,
                        Some(from) => db.query_opt(
                            concat!(
                                "UPDATE sends SET recipient = $3, masked = $4, channel = $5, template_hash = $6, state = $7, \
                                   attempts = attempts + $8::bigint, next_attempt_at = NULL, message_id = NULL, conversation_id = NULL, \
                                   error_code = NULL, note = NULL, run_id = $9, \
                                   dispatched_at = CASE WHEN $8::bigint > 0 THEN $10 ELSE dispatched_at END, updated_at = $10 \
                                 WHERE campaign = $1 AND row_key = $2 AND state = $11 RETURNING ",
                                send_cols!()
                            ),
                            &[
                                &campaign,
                                &c.row_key,
                                &c.recipient.as_str(),
                                &c.masked,
                                &c.channel.as_str(),
                                &c.template_hash,
                                &state,
                                &bump,
                                &run_id,
                                &at,
                                &from.as_str(),
                            ],
                        )?,
                    };
                    if let Some(row) = row {
                        images.push(raw_send(&row)?.image()?);
                        written = Some(if sup {
                            ClaimResult::Suppressed
                        } else {
                            ClaimResult::Claimed
                        });
                        break;
                    }
                }
                results.push(written.ok_or_else(|| {
                    LedgerError::Backend(format!(
                        "send {campaign}/{} kept changing under a concurrent claim",
                        c.row_key
                    ))
                })?);
            }
            if !images.is_empty() {
                append_event(
                    db,
                    at,
                    &Event::SendsClaimed {
                        run_id: run_id.to_owned(),
                        rows: images,
                    },
                )?;
            }
            Ok(results)
        })
    }

    fn record_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
        self.write(|db, at| {
            let mut images = Vec::with_capacity(outcomes.len());
            for o in outcomes {
                let (state, message_id, conversation_id, error_code, next, note) = match &o.result
                {
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
                let row = db.query_opt(
                    concat!(
                        "UPDATE sends SET state = $3, message_id = $4, conversation_id = $5, error_code = $6, \
                         next_attempt_at = $7, note = $8, run_id = $9, updated_at = $10 \
                         WHERE campaign = $1 AND row_key = $2 AND state = 'dispatching' RETURNING ",
                        send_cols!()
                    ),
                    &[
                        &o.campaign,
                        &o.row_key,
                        &state,
                        &message_id,
                        &conversation_id,
                        &error_code,
                        &next,
                        &note,
                        &run_id,
                        &at,
                    ],
                )?;
                let Some(row) = row else {
                    let from: Option<String> = db
                        .query_opt(
                            "SELECT state FROM sends WHERE campaign = $1 AND row_key = $2",
                            &[&o.campaign, &o.row_key],
                        )?
                        .map(|r| r.try_get(0))
                        .transpose()?;
                    return Err(LedgerError::InvalidTransition {
                        campaign: o.campaign.clone(),
                        row_key: o.row_key.clone(),
                        from: from.unwrap_or_else(|| "absent".to_owned()),
                        to: state.to_owned(),
                    });
                };
                let raw = raw_send(&row)?;
                if let Some(conv) = conversation_id {
                    upsert_conversation(db, &raw.recipient, &raw.channel, conv, at)?;
                }
                images.push(raw.image()?);
            }
            if !images.is_empty() {
                append_event(
                    db,
                    at,
                    &Event::OutcomesRecorded {
                        run_id: run_id.to_owned(),
                        rows: images,
                    },
                )?;
            }
            Ok(())
        })
    }

    fn sends_in_state(&self, campaign: Option<&str>, state: SendState) -> Result<Vec<SendRecord>> {
        let rows = self.read(|db| {
            db.query(
                concat!(
                    "SELECT ",
                    send_cols!(),
                    " FROM sends WHERE state = $1 AND ($2::text IS NULL OR campaign = $2::text) ORDER BY campaign, row_key"
                ),
                &[&state.as_str(), &campaign],
            )
        })?;
        rows.iter().map(|r| raw_send(r)?.record()).collect()
    }

    fn send(&self, campaign: &str, row_key: &str) -> Result<Option<SendRecord>> {
        let row = self.read(|db| {
            db.query_opt(
                concat!(
                    "SELECT ",
                    send_cols!(),
                    " FROM sends WHERE campaign = $1 AND row_key = $2"
                ),
                &[&campaign, &row_key],
            )
        })?;
        row.map(|r| raw_send(&r)?.record()).transpose()
    }

    fn resolve_unknown(
        &mut self,
        run_id: &str,
        campaign: &str,
        row_key: &str,
        resolution: &Resolution,
    ) -> Result<()> {
        self.write(|db, at| {
            let row = match resolution {
                Resolution::Found {
                    message_id,
                    conversation_id,
                } => db.query_opt(
                    concat!(
                        "UPDATE sends SET state = 'sent', message_id = $3, conversation_id = $4, note = 'found by reconcile', \
                         run_id = $5, updated_at = $6 WHERE campaign = $1 AND row_key = $2 AND state = 'unknown' RETURNING ",
                        send_cols!()
                    ),
                    &[&campaign, &row_key, message_id, conversation_id, &run_id, &at],
                )?,
                Resolution::NotFound => db.query_opt(
                    concat!(
                        "UPDATE sends SET state = 'pending', note = 'not found by reconcile', run_id = $3, updated_at = $4 \
                         WHERE campaign = $1 AND row_key = $2 AND state = 'unknown' RETURNING ",
                        send_cols!()
                    ),
                    &[&campaign, &row_key, &run_id, &at],
                )?,
            };
            let Some(row) = row else {
                let from: Option<String> = db
                    .query_opt(
                        "SELECT state FROM sends WHERE campaign = $1 AND row_key = $2",
                        &[&campaign, &row_key],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                return Err(LedgerError::InvalidTransition {
                    campaign: campaign.to_owned(),
                    row_key: row_key.to_owned(),
                    from: from.unwrap_or_else(|| "absent".to_owned()),
                    to: match resolution {
                        Resolution::Found { .. } => "sent",
                        Resolution::NotFound => "pending",
                    }
                    .to_owned(),
                });
            };
            let raw = raw_send(&row)?;
            if let Resolution::Found {
                conversation_id: Some(conv),
                ..
            } = resolution
            {
                upsert_conversation(db, &raw.recipient, &raw.channel, conv, at)?;
            }
            append_event(
                db,
                at,
                &Event::UnknownResolved {
                    run_id: run_id.to_owned(),
                    rows: vec![raw.image()?],
                },
            )
        })
    }

    fn campaign_counts(
        &self,
        campaign: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<CampaignCounts>> {
        let (states, receipts) = self.read(|db| {
            let states = db.query(
                "SELECT campaign, state, COUNT(*), \
                 COUNT(*) FILTER (WHERE state = 'pending' AND next_attempt_at > $2) \
                 FROM sends WHERE $1::text IS NULL OR campaign = $1::text GROUP BY campaign, state",
                &[&campaign, &now.as_millisecond()],
            )?;
            let receipts = db.query(
                "SELECT campaign, receipt_status, COUNT(*) FROM sends \
                 WHERE receipt_status IS NOT NULL AND ($1::text IS NULL OR campaign = $1::text) \
                 GROUP BY campaign, receipt_status",
                &[&campaign],
            )?;
            Ok((states, receipts))
        })?;
        let mut out: BTreeMap<String, CampaignCounts> = BTreeMap::new();
        for r in &states {
            let c: String = r.try_get(0)?;
            let state = parse_state(r.try_get::<_, &str>(1)?)?;
            let entry = counts_entry(&mut out, &c);
            entry.by_state.insert(state, count(r.try_get(2)?));
            entry.held += count(r.try_get(3)?);
        }
        for r in &receipts {
            let c: String = r.try_get(0)?;
            counts_entry(&mut out, &c)
                .receipts
                .insert(r.try_get(1)?, count(r.try_get(2)?));
        }
        Ok(out.into_values().collect())
    }

    fn conversation_for(&self, recipient: &RecipientId) -> Result<Option<String>> {
        self.read(|db| {
            db.query_opt(
                "SELECT conversation_id FROM conversations WHERE recipient = $1",
                &[&recipient.as_str()],
            )?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
        })
    }

    fn suppress_many(&mut self, suppressions: &[Suppression]) -> Result<u64> {
        self.write(|db, at| {
            let mut n = 0;
            for s in suppressions {
                if suppress_in(db, at, s)? {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    fn unsuppress(
        &mut self,
        recipient: &RecipientId,
        channel: Option<Channel>,
        reason: &str,
        source: &str,
    ) -> Result<u64> {
        self.write(|db, at| unsuppress_in(db, at, recipient, channel, reason, source))
    }

    fn is_suppressed(&self, recipient: &RecipientId, channel: Channel) -> Result<bool> {
        self.read(|db| suppressed_in(db, recipient, channel))
    }

    fn suppressions(&self) -> Result<Vec<SuppressionRow>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT recipient, channel, masked, reason, source, since FROM suppressions \
                 ORDER BY since, recipient, channel",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SuppressionRow {
                    suppression: Suppression {
                        recipient: parse_recipient(r.try_get::<_, &str>(0)?)?,
                        channel: parse_scope(r.try_get::<_, &str>(1)?)?,
                        masked: r.try_get(2)?,
                        reason: r.try_get(3)?,
                        source: r.try_get(4)?,
                    },
                    since: ts(r.try_get(5)?)?,
                })
            })
            .collect()
    }

    fn suppression_history(
        &self,
        recipient: Option<&RecipientId>,
    ) -> Result<Vec<SuppressionAudit>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT action, recipient, channel, masked, reason, source, at FROM suppression_audit \
                 WHERE $1::text IS NULL OR recipient = $1::text ORDER BY id",
                &[&recipient.map(RecipientId::as_str)],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SuppressionAudit {
                    action: match r.try_get::<_, &str>(0)? {
                        "add" => SuppressionAction::Add,
                        "remove" => SuppressionAction::Remove,
                        other => return Err(corrupt("audit action", other)),
                    },
                    suppression: Suppression {
                        recipient: parse_recipient(r.try_get::<_, &str>(1)?)?,
                        channel: parse_scope(r.try_get::<_, &str>(2)?)?,
                        masked: r.try_get(3)?,
                        reason: r.try_get(4)?,
                        source: r.try_get(5)?,
                    },
                    at: ts(r.try_get(6)?)?,
                })
            })
            .collect()
    }

    fn record_inbound(&mut self, inbound: &InboundRecord) -> Result<InboundResult> {
        self.write(|db, at| {
            let action = match inbound.action {
                InboundAction::Suppress => "suppress",
                InboundAction::Resubscribe => "resubscribe",
                InboundAction::Help => "help",
                InboundAction::None => "none",
            };
            let n = db.execute(
                "INSERT INTO inbound (message_id, recipient, masked, channel, action, flagged, received_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING",
                &[
                    &inbound.message_id,
                    &inbound.recipient.as_str(),
                    &inbound.masked,
                    &inbound.channel.as_str(),
                    &action,
                    &inbound.flagged,
                    &inbound.received_at.as_millisecond(),
                    &at,
                ],
            )?;
            if n == 0 {
                return Ok(InboundResult::Duplicate);
            }
            append_event(
                db,
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
                    db,
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
                        db,
                        at,
                        &inbound.recipient,
                        Some(inbound.channel),
                        "re-subscribe keyword reply",
                        &source,
                    )? > 0
                }
                InboundAction::Help | InboundAction::None => false,
            };
            Ok(InboundResult::Recorded {
                suppression_changed: changed,
            })
        })
    }

    fn record_receipts(&mut self, receipts: &[Receipt]) -> Result<Vec<Option<ReceiptMatch>>> {
        self.write(|db, now| {
            let mut found_all = Vec::with_capacity(receipts.len());
            for rc in receipts {
                let at_ms = rc.at.as_millisecond();
                db.execute(
                    "INSERT INTO receipts (message_id, status, reason, at, recorded_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&rc.message_id, &rc.status, &rc.reason, &at_ms, &now],
                )?;
                db.execute(
                    "UPDATE sends SET receipt_status = $2, receipt_at = $3 \
                     WHERE message_id = $1 AND (receipt_at IS NULL OR receipt_at <= $3)",
                    &[&rc.message_id, &rc.status, &at_ms],
                )?;
                let found = db.query_opt(
                    "SELECT campaign, row_key, recipient, masked, channel FROM sends WHERE message_id = $1 \
                     ORDER BY campaign, row_key LIMIT 1",
                    &[&rc.message_id],
                )?;
                append_event(
                    db,
                    now,
                    &Event::ReceiptRecorded {
                        message_id: rc.message_id.clone(),
                        status: rc.status.clone(),
                        reason: rc.reason.clone(),
                    },
                )?;
                found_all.push(
                    found
                        .map(|r| {
                            Ok::<_, LedgerError>(ReceiptMatch {
                                campaign: r.try_get(0)?,
                                row_key: r.try_get(1)?,
                                recipient: parse_recipient(r.try_get::<_, &str>(2)?)?,
                                masked: r.try_get(3)?,
                                channel: parse_channel(r.try_get::<_, &str>(4)?)?,
                            })
                        })
                        .transpose()?,
                );
            }
            Ok(found_all)
        })
    }

    fn recent_sent(&self, since: Timestamp, limit_n: usize) -> Result<Vec<SentMessage>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT campaign, row_key, message_id, channel, updated_at, receipt_status FROM sends \
                 WHERE state = 'sent' AND message_id IS NOT NULL AND updated_at >= $1 \
                 ORDER BY updated_at, campaign, row_key LIMIT $2",
                &[&since.as_millisecond(), &limit(limit_n)],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(SentMessage {
                    campaign: r.try_get(0)?,
                    row_key: r.try_get(1)?,
                    message_id: r.try_get(2)?,
                    channel: parse_channel(r.try_get::<_, &str>(3)?)?,
                    sent_at: ts(r.try_get(4)?)?,
                    last_status: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn events(&self, after_seq: u64, limit_n: usize) -> Result<Vec<EventRecord>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&i64::try_from(after_seq).unwrap_or(i64::MAX), &limit(limit_n)],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(EventRecord {
                    seq: u64::try_from(r.try_get::<_, i64>(0)?)
                        .map_err(|_| LedgerError::Corrupt("negative event seq".into()))?,
                    at: ts(r.try_get(1)?)?,
                    kind: r.try_get(2)?,
                    payload_json: r.try_get(3)?,
                    prev_hash: r.try_get(4)?,
                    hash: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn verify(&self) -> Result<VerifyReport> {
        let mut conn = self.conn.borrow_mut();
        // One snapshot: events and rows agree even while a receiver keeps writing.
        let mut tx = conn
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut replay = Replay::new();
        {
            let mut rows = tx.query_raw(
                "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
                std::iter::empty::<&str>(),
            )?;
            while let Some(r) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
                replay.feed_event(&StoredEvent {
                    seq: u64::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0),
                    at_ms: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    payload_json: r.try_get(3)?,
                    prev_hash: r.try_get(4)?,
                    hash: r.try_get(5)?,
                });
                if !replay.chain_ok() {
                    break;
                }
            }
        }
        if replay.chain_ok() {
            {
                let mut rows = tx.query_raw(
                    concat!("SELECT ", send_cols!(), " FROM sends"),
                    std::iter::empty::<&str>(),
                )?;
                while let Some(r) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)?
                {
                    let raw = raw_send(&r)?;
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
            }
            let rows = tx.query(
                "SELECT recipient, channel, masked, reason, source FROM suppressions",
                &[],
            )?;
            for r in &rows {
                let (Some(recipient), Ok(scope)) = (
                    RecipientId::from_hex(r.try_get::<_, &str>(0)?),
                    parse_scope(r.try_get::<_, &str>(1)?),
                ) else {
                    return Ok(corrupt_report("a suppression row is unreadable"));
                };
                replay.check_suppression(
                    &recipient,
                    scope,
                    r.try_get::<_, &str>(2)?,
                    r.try_get::<_, &str>(3)?,
                    r.try_get::<_, &str>(4)?,
                );
            }
        }
        tx.commit()?;
        Ok(replay.finish())
    }

    fn export(
        &self,
        campaign: Option<&str>,
        sink: &mut dyn FnMut(ExportRow) -> Result<()>,
    ) -> Result<u64> {
        // Pages by key, releasing the connection between pages, so the sink may read this
        // ledger too.
        let mut after = (String::new(), String::new());
        let mut first = true;
        let mut n = 0;
        loop {
            let rows = self.read(|db| {
                db.query(
                    "SELECT s.campaign, s.row_key, s.recipient, s.masked, s.channel, s.state, s.attempts, s.template_hash, \
                     s.message_id, s.conversation_id, s.error_code, r.git_commit, s.receipt_status, s.updated_at \
                     FROM sends s LEFT JOIN runs r ON r.run_id = s.run_id \
                     WHERE ($1::text IS NULL OR s.campaign = $1::text) AND ($2 OR (s.campaign, s.row_key) > ($3, $4)) \
                     ORDER BY s.campaign, s.row_key LIMIT $5",
                    &[&campaign, &first, &after.0, &after.1, &EXPORT_PAGE],
                )
            })?;
            first = false;
            let full = rows.len() as u64 == EXPORT_PAGE.unsigned_abs();
            for r in &rows {
                let row = ExportRow {
                    campaign: r.try_get(0)?,
                    row_key: r.try_get(1)?,
                    recipient: parse_recipient(r.try_get::<_, &str>(2)?)?,
                    masked: r.try_get(3)?,
                    channel: parse_channel(r.try_get::<_, &str>(4)?)?,
                    state: parse_state(r.try_get::<_, &str>(5)?)?,
                    attempts: u32_of(r.try_get(6)?)?,
                    template_hash: r.try_get(7)?,
                    message_id: r.try_get(8)?,
                    conversation_id: r.try_get(9)?,
                    error_code: r.try_get(10)?,
                    git_commit: r.try_get(11)?,
                    receipt_status: r.try_get(12)?,
                    updated_at: ts(r.try_get(13)?)?,
                };
                after = (row.campaign.clone(), row.row_key.clone());
                sink(row)?;
                n += 1;
            }
            if !full {
                return Ok(n);
            }
        }
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        // PostgreSQL checks its own storage; this checks what herald relies on.
        self.read(|db| {
            let mut problems = Vec::new();
            let version: Option<i64> = db
                .query_opt("SELECT schema_version FROM herald_meta WHERE id = 1", &[])?
                .map(|r| r.try_get(0))
                .transpose()?;
            if version != Some(SCHEMA_VERSION) {
                problems.push(format!(
                    "schema version is {version:?}, expected {SCHEMA_VERSION}"
                ));
            }
            let lock_rows: i64 = db
                .query_one("SELECT COUNT(*) FROM chain_lock WHERE id = 1", &[])?
                .try_get(0)?;
            if lock_rows != 1 {
                problems.push("the chain_lock row is missing".to_owned());
            }
            let triggers: i64 = db
                .query_one(
                    "SELECT COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                     WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname LIKE '%append_only%' \
                     AND t.tgenabled <> 'D'",
                    &[],
                )?
                .try_get(0)?;
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

    fn table_counts(&self) -> Result<TableCounts> {
        table_counts_in(&mut self.conn.borrow_mut().client)
    }

    fn export_raw(&self, sink: &mut RawSink<'_>) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let mut tx = conn
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        for table in RawTable::ALL {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {}",
                table.column_list(),
                table.name(),
                table.order_by()
            );
            let cols = table.columns();
            let mut rows = tx.query_raw(sql.as_str(), std::iter::empty::<&str>())?;
            while let Some(r) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
                let mut values = Vec::with_capacity(cols.len());
                for (i, c) in cols.iter().enumerate() {
                    values.push(match c.kind {
                        RawKind::Text => r
                            .try_get::<_, Option<String>>(i)?
                            .map_or(RawValue::Null, RawValue::Text),
                        RawKind::Int => r
                            .try_get::<_, Option<i64>>(i)?
                            .map_or(RawValue::Null, RawValue::Int),
                        RawKind::Bool => r
                            .try_get::<_, Option<bool>>(i)?
                            .map_or(RawValue::Null, |b| RawValue::Int(i64::from(b))),
                    });
                }
                sink(RawRow { table, values })?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts> {
        self.write(|db, _| {
            let first_kind: Option<String> = db
                .query_opt("SELECT kind FROM events ORDER BY seq LIMIT 1", &[])?
                .map(|r| r.try_get(0))
                .transpose()?;
            check_fresh(&table_counts_in(db.c)?, first_kind.as_deref())?;
            // The imported chain replaces this ledger's own creation event; the append-only
            // guard is lifted for that one statement, inside the transaction.
            db.c.batch_execute(
                "ALTER TABLE events DISABLE TRIGGER events_append_only; DELETE FROM events; \
                 ALTER TABLE events ENABLE TRIGGER events_append_only;",
            )?;
            let mut counts: TableCounts = RawTable::ALL
                .iter()
                .map(|t| (t.name().to_owned(), 0))
                .collect();
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
                    return import_meta(db.c, key, value);
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
        let values: Vec<Box<dyn ToSql + Sync>> = table
            .columns()
            .iter()
            .zip(&row.values)
            .map(|(c, v)| -> Box<dyn ToSql + Sync> {
                match (c.kind, v) {
                    (RawKind::Text, RawValue::Text(t)) => Box::new(t.clone()),
                    (RawKind::Text, _) => Box::new(None::<String>),
                    (RawKind::Int, RawValue::Int(n)) => Box::new(*n),
                    (RawKind::Int, _) => Box::new(None::<i64>),
                    (RawKind::Bool, RawValue::Int(n)) => Box::new(*n != 0),
                    (RawKind::Bool, _) => Box::new(None::<bool>),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        writer.write(&refs)?;
    }
    writer.finish()?;
    Ok(())
}

/// Imports one `meta` row: the key fingerprint must match this ledger's; others are upserted.
fn import_meta(tx: &mut Transaction<'_>, key: &str, value: &str) -> Result<()> {
    if key == "key_fingerprint" {
        let ours: Option<String> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'key_fingerprint'", &[])?
            .map(|r| r.try_get(0))
            .transpose()?;
        return match ours {
            Some(actual) if actual != value => Err(LedgerError::WrongKey {
                expected: value.to_owned(),
                actual,
            }),
            _ => Ok(()),
        };
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

/// The run lock on a PostgreSQL ledger: a session advisory lock (`pg_try_advisory_lock`) on
/// a dedicated connection, plus a `run_lock` row naming the holder for `status`.
///
/// The server releases the lock when the connection ends, however the holder dies (the
/// connection uses TCP keepalives so a vanished runner is noticed). Connect directly or
/// through a session-pooling proxy, never a transaction-pooling one: the lock belongs to
/// one server session. Dropping the lock releases it.
pub struct PgRunLock {
    client: Client,
    info: LockInfo,
    target: String,
    location: (String, String),
}

impl std::fmt::Debug for PgRunLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRunLock")
            .field("target", &self.target)
            .field("schema", &self.location.1)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

const HOLDER_SQL: &str = "SELECT l.pid, l.host, l.run_id, l.started_at, l.command FROM run_lock l \
     WHERE l.id = 1 AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted \
       AND p.pid = l.backend_pid AND p.classid::bigint = $1::bigint \
       AND p.objid::bigint = (hashtext(current_schema()) & 2147483647)::bigint AND p.objsubid = 2 \
       AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

fn holder_of(client: &mut Client) -> Option<LockInfo> {
    let row = client
        .query_opt(HOLDER_SQL, &[&i64::from(RUN_LOCK_CLASS)])
        .ok()??;
    Some(LockInfo {
        pid: u32::try_from(row.try_get::<_, i64>(0).ok()?).ok()?,
        host: row.try_get(1).ok()?,
        run_id: row.try_get(2).ok()?,
        started_at: Timestamp::from_millisecond(row.try_get(3).ok()?).ok()?,
        command: row.try_get(4).ok()?,
    })
}

impl PgRunLock {
    /// Takes the run lock of the ledger at `url` (same URL, hence same schema, as the
    /// ledger). With `wait: None` it fails at once with [`LockError::Held`] naming the
    /// holder; with `Some(d)` it retries every 100 ms for up to `d` first.
    pub fn acquire(
        url: &str,
        info: LockInfo,
        wait: Option<Duration>,
    ) -> Result<PgRunLock, LockError> {
        let (mut config, target) =
            config_for(url, "herald run lock").map_err(|e| LockError::Io {
                path: PathBuf::from("<postgres url>"),
                source: std::io::Error::other(e.to_string()),
            })?;
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        let pg_target = target.clone();
        let pg = |source: postgres::Error| LockError::Postgres {
            target: pg_target.clone(),
            source,
        };
        let mut client = config.connect(NoTls).map_err(pg)?;
        // Server side: notice a vanished runner within about a minute, and never end this
        // idle session on a timeout (that would drop the lock in the middle of a run).
        for setting in [
            "SET tcp_keepalives_idle = 30",
            "SET tcp_keepalives_interval = 10",
            "SET tcp_keepalives_count = 3",
            "SET idle_session_timeout = 0",
            "SET idle_in_transaction_session_timeout = 0",
        ] {
            // Older servers lack some settings; the lock works without them.
            let _ = client.batch_execute(setting);
        }
        let location = location(&mut client).map_err(|e| LockError::Io {
            path: PathBuf::from(&target),
            source: std::io::Error::other(e.to_string()),
        })?;
        let deadline = wait.map(|d| Instant::now() + d);
        let try_sql = format!("SELECT pg_try_advisory_lock($1, {SCHEMA_KEY_SQL})");
        loop {
            let got: bool = client
                .query_one(try_sql.as_str(), &[&RUN_LOCK_CLASS])
                .and_then(|r| r.try_get(0))
                .map_err(pg)?;
            if got {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() < d) {
                std::thread::sleep(POLL);
                continue;
            }
            // The holder writes its row just after locking: retry briefly.
            let mut holder = None;
            for _ in 0..10 {
                holder = holder_of(&mut client);
                if holder.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Err(LockError::Held { holder });
        }
        let mut lock = PgRunLock {
            client,
            info,
            target,
            location,
        };
        lock.write_info().map_err(pg)?;
        Ok(lock)
    }

    fn write_info(&mut self) -> Result<(), postgres::Error> {
        let mut tx = self.client.transaction()?;
        // The table may not exist yet (the lock is taken before the ledger is migrated):
        // create it under the migration lock so it never races the migration.
        tx.execute(
            format!("SELECT pg_advisory_xact_lock($1, {SCHEMA_KEY_SQL})").as_str(),
            &[&MIGRATE_LOCK_CLASS],
        )?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS run_lock (\
               id SMALLINT PRIMARY KEY CHECK (id = 1), pid BIGINT NOT NULL, host TEXT NOT NULL, \
               run_id TEXT NOT NULL, started_at BIGINT NOT NULL, command TEXT NOT NULL, \
               backend_pid INTEGER NOT NULL, acquired_at BIGINT NOT NULL)",
        )?;
        tx.execute(
            "INSERT INTO run_lock (id, pid, host, run_id, started_at, command, backend_pid, acquired_at) \
             VALUES (1, $1, $2, $3, $4, $5, pg_backend_pid(), $6) \
             ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, run_id = excluded.run_id, \
             started_at = excluded.started_at, command = excluded.command, backend_pid = excluded.backend_pid, \
             acquired_at = excluded.acquired_at",
            &[
                &i64::from(self.info.pid),
                &self.info.host,
                &self.info.run_id,
                &self.info.started_at.as_millisecond(),
                &self.info.command,
                &now_ms(),
            ],
        )?;
        tx.commit()
    }

    /// The live holder of the run lock of the ledger at `url`, if any (for `status`). A
    /// holder row left by a process that died is not reported.
    pub fn holder(url: &str) -> Result<Option<LockInfo>, LockError> {
        let (config, target) = config_for(url, "herald status").map_err(|e| LockError::Io {
            path: PathBuf::from("<postgres url>"),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut client = config
            .connect(NoTls)
            .map_err(|source| LockError::Postgres { target, source })?;
        Ok(holder_of(&mut client))
    }

    /// Whether this lock is still held: `false` once its connection was lost (the server
    /// released the lock then, so a run must stop writing).
    pub fn is_held(&mut self) -> bool {
        self.client
            .query_one(
                format!(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND pid = pg_backend_pid() AND classid::bigint = $1::bigint \
                     AND objid::bigint = {SCHEMA_KEY_SQL}::bigint AND objsubid = 2)"
                )
                .as_str(),
                &[&i64::from(RUN_LOCK_CLASS)],
            )
            .and_then(|r| r.try_get(0))
            .unwrap_or(false)
    }

    /// The holder details recorded for this lock.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The database, as `postgres://user@host:port/db` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema whose ledger this lock guards.
    pub fn schema(&self) -> &str {
        &self.location.1
    }
}

impl Drop for PgRunLock {
    fn drop(&mut self) {
        // Best effort: closing the connection releases the lock regardless.
        let _ = self.client.execute(
            "DELETE FROM run_lock WHERE backend_pid = pg_backend_pid()",
            &[],
        );
        let _ = self.client.execute(
            format!("SELECT pg_advisory_unlock($1, {SCHEMA_KEY_SQL})").as_str(),
            &[&RUN_LOCK_CLASS],
        );
    }
}
