//! The PostgreSQL run lock ([`PgRunLock`]): a session advisory lock on its own connection.
//!
//! Owns: taking, reporting and releasing the lock, and the `run_lock` row naming the holder.
//! Invariants: the lock belongs to one server session, so it is released when that
//! connection ends however the holder dies; it must not go through a transaction-pooling
//! proxy, and taking it checks that the next statement still runs in the session that holds
//! it (else it is refused, see [`session_problem`]). Connection URLs are never printed with
//! their password.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use postgres::Client;

use crate::codec::now_ms;
use crate::lock::{LockError, LockInfo};
use crate::postgres::{MIGRATE_LOCK_CLASS, SCHEMA_KEY_SQL, config_for, location};

/// Advisory lock class of the run lock ("HRL1"); the object id is the schema's hash.
const RUN_LOCK_CLASS: i32 = 0x4852_4c31;

const POLL: Duration = Duration::from_millis(100);

/// The run lock on a PostgreSQL ledger: a session advisory lock (`pg_try_advisory_lock`) on
/// a dedicated connection, plus a `run_lock` row naming the holder for `status`.
///
/// The server releases the lock when the connection ends, however the holder dies (the
/// connection uses TCP keepalives so a vanished runner is noticed). Connect directly or
/// through a session-pooling proxy, never a transaction-pooling one: the lock belongs to
/// one server session. Dropping the lock releases it.
pub struct PgRunLock {
    client: Client,
    /// The server process (session) that holds the lock.
    backend_pid: i32,
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
        let setup = |e: crate::LedgerError| LockError::Io {
            path: PathBuf::from("<postgres url>"),
            source: std::io::Error::other(e.to_string()),
        };
        let mut pg_target = config_for(url, "herald run lock").map_err(setup)?;
        let tls = pg_target.tls().map_err(setup)?;
        let target = pg_target.shown.clone();
        let config = &mut pg_target.config;
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
        let mut client = tls.connect(config).map_err(pg)?;
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
        // Taking and checking the lock use the simple protocol (no prepared statements), so
        // a transaction-pooling proxy is told apart by the session check below.
        let try_sql = format!(
            "SELECT pg_try_advisory_lock({RUN_LOCK_CLASS}, {SCHEMA_KEY_SQL}), pg_backend_pid()"
        );
        let backend_pid = loop {
            let (got, pid) = simple_row(&mut client, &try_sql).map_err(pg)?;
            if got {
                break pid;
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
        };
        // A transaction-pooling proxy may run the next statement on another server
        // connection, where the lock is not held: refuse rather than run unguarded.
        let (now_pid, visible) = session_state(&mut client, backend_pid).map_err(pg)?;
        if let Some(reason) = session_problem(backend_pid, now_pid, visible) {
            // The lock stays with the pooler's server session that took it, blocking every
            // later run: end that session if it is idle (the pooler opens another).
            let _ = client.simple_query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE pid = {backend_pid} AND state = 'idle'"
            ));
            return Err(LockError::Session { target, reason });
        }
        let mut lock = PgRunLock {
            client,
            backend_pid,
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
        let setup = |e: crate::LedgerError| LockError::Io {
            path: PathBuf::from("<postgres url>"),
            source: std::io::Error::other(e.to_string()),
        };
        let mut pg_target = config_for(url, "herald status").map_err(setup)?;
        let tls = pg_target.tls().map_err(setup)?;
        let target = pg_target.shown.clone();
        let mut client = tls
            .connect(&mut pg_target.config)
            .map_err(|source| LockError::Postgres { target, source })?;
        Ok(holder_of(&mut client))
    }

    /// Whether this lock is still held by this connection's session: `false` once the
    /// connection was lost (the server released the lock then, so a run must stop writing)
    /// or when the statement ran in another server session.
    pub fn is_held(&mut self) -> bool {
        session_state(&mut self.client, self.backend_pid)
            .is_ok_and(|(pid, visible)| session_problem(self.backend_pid, pid, visible).is_none())
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

    /// `(database, schema)` of the lock.
    pub(crate) fn location(&self) -> &(String, String) {
        &self.location
    }
}

/// `(pg_backend_pid(), whether the run lock is granted to server process lock_pid)`, read
/// in one statement on `client`.
fn session_state(client: &mut Client, lock_pid: i32) -> Result<(i32, bool), postgres::Error> {
    let (visible, pid) = simple_row(
        client,
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = {lock_pid} AND classid::bigint = {RUN_LOCK_CLASS} \
             AND objid::bigint = {SCHEMA_KEY_SQL}::bigint AND objsubid = 2), pg_backend_pid()"
        ),
    )?;
    Ok((pid, visible))
}

/// The `(boolean, integer)` row of `sql`, run with the simple query protocol; a missing or
/// unparsable value reads as `(false, 0)`.
fn simple_row(client: &mut Client, sql: &str) -> Result<(bool, i32), postgres::Error> {
    let messages = client.simple_query(sql)?;
    let row = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    let flag = row.and_then(|r| r.get(0)) == Some("t");
    let pid = row
        .and_then(|r| r.get(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Ok((flag, pid))
}

/// Why the run lock taken by server process `lock_pid` cannot guard this connection, seen
/// from a later statement that ran in server process `now_pid` and found the lock `visible`
/// (granted to `lock_pid`) or not; `None` when it holds.
pub(crate) fn session_problem(lock_pid: i32, now_pid: i32, visible: bool) -> Option<String> {
    const FIX: &str = "the run lock is a session advisory lock and cannot hold through a \
        transaction-pooling proxy (PgBouncer pool_mode=transaction, Supavisor or pgcat in \
        transaction mode); connect the ledger to PostgreSQL directly or through a \
        session-pooling port";
    if now_pid != lock_pid {
        Some(format!(
            "the lock was taken in server session {lock_pid} but the next statement ran in \
             session {now_pid}: {FIX}"
        ))
    } else if !visible {
        Some(format!(
            "the lock taken in server session {lock_pid} is no longer held there: {FIX}"
        ))
    } else {
        None
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

#[cfg(test)]
mod tests {
    use super::session_problem;

    #[test]
    fn a_lock_seen_from_another_session_is_refused_naming_the_pooler() {
        assert_eq!(session_problem(41, 41, true), None);
        let moved = session_problem(41, 57, false).unwrap();
        assert!(moved.contains("taken in server session 41"), "{moved}");
        assert!(moved.contains("ran in session 57"), "{moved}");
        assert!(moved.contains("PgBouncer pool_mode=transaction"), "{moved}");
        // Same pid reported but the lock not granted to it: still refused.
        let lost = session_problem(41, 41, false).unwrap();
        assert!(lost.contains("no longer held"), "{lost}");
        assert!(
            lost.contains("connect the ledger to PostgreSQL directly"),
            "{lost}"
        );
    }
}
