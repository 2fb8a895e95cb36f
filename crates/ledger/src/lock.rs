//! The per-environment run lock.
//!
//! Owns: mutual exclusion between herald processes that write sends for one environment.
//! It is an exclusive OS lock (`flock(2)` via `File::try_lock`) on a sidecar file next to the
//! ledger's canonical path (`ledger-<env>.db.lock`; symlinks and `..` resolved, so two
//! spellings of one file share one lock), never on the database file itself: closing any descriptor
//! of a SQLite file would drop SQLite's own POSIX locks. Invariants: the holder's
//! [`LockInfo`] is written into the file only after the lock is held; the kernel releases
//! the lock when the holder exits or is killed, so there is no stale-lock cleanup; dropping
//! a [`RunLock`] clears the file and releases the lock.

use std::fs::TryLockError;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::fsutil;

/// Who holds (or wants) the run lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Run id.
    pub run_id: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// The command (`apply`, `reconcile`, …).
    pub command: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`herald {}` (pid {} on {}, run {}, started {})",
            self.command, self.pid, self.host, self.run_id, self.started_at
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock (after waiting, if a wait was requested).
    #[error("the ledger is locked by {}", holder.as_ref().map_or_else(|| "another herald process (holder details unreadable)".to_owned(), ToString::to_string))]
    Held {
        /// The holder, if its details could be read from the lock file.
        holder: Option<LockInfo>,
    },
    /// The PostgreSQL connection holding (or asking for) the advisory lock failed.
    #[cfg(feature = "postgres")]
    #[error("run lock on {target}: {source}")]
    Postgres {
        /// The database URL, without its password.
        target: String,
        /// The driver error.
        source: postgres::Error,
    },
    /// The advisory lock cannot hold on this connection: the statements after taking it ran
    /// in another server session (a transaction-pooling proxy is in the way).
    #[cfg(feature = "postgres")]
    #[error("run lock on {target}: {reason}")]
    Session {
        /// The database URL, without its password.
        target: String,
        /// What was seen, and what to do.
        reason: String,
    },
    /// The lock file could not be created, opened or written.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held run lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: std::fs::File,
    path: PathBuf,
    info: LockInfo,
}

/// A held run lock of either backend, for code that works with both; released when dropped.
#[derive(Debug)]
pub enum LedgerLock {
    /// The file lock next to a SQLite ledger.
    File(RunLock),
    /// The session advisory lock of a PostgreSQL ledger.
    #[cfg(feature = "postgres")]
    Postgres(Box<crate::PgRunLock>),
}

impl LedgerLock {
    /// The holder details recorded for this lock.
    pub fn info(&self) -> &LockInfo {
        match self {
            LedgerLock::File(l) => l.info(),
            #[cfg(feature = "postgres")]
            LedgerLock::Postgres(l) => l.info(),
        }
    }
}

impl From<RunLock> for LedgerLock {
    fn from(lock: RunLock) -> LedgerLock {
        LedgerLock::File(lock)
    }
}

#[cfg(feature = "postgres")]
impl From<crate::PgRunLock> for LedgerLock {
    fn from(lock: crate::PgRunLock) -> LedgerLock {
        LedgerLock::Postgres(Box::new(lock))
    }
}

/// How often a waiting `acquire` retries.
const POLL: Duration = Duration::from_millis(100);

impl RunLock {
    /// The lock path for a ledger file: `<ledger>.lock` next to the ledger's canonical path,
    /// so that every spelling of one file (a symlink, `x/../ledger.db`, a relative path)
    /// names one lock. The file is resolved if it exists, else its directory is (a ledger not
    /// created yet); a path that cannot be resolved at all is used as given.
    pub fn path_for(ledger_path: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(ledger_path).ok().or_else(|| {
            let name = ledger_path.file_name()?;
            let parent = match ledger_path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(parent).ok()?.join(name))
        });
        let mut s = canonical
            .as_deref()
            .unwrap_or(ledger_path)
            .as_os_str()
            .to_owned();
        s.push(".lock");
        PathBuf::from(s)
    }

    /// Takes the lock at `path` (created 0600, parent 0700 if missing).
    ///
    /// With `wait: None` it fails at once with [`LockError::Held`] naming the holder;
    /// with `Some(d)` it retries every 100 ms for up to `d` first.
    pub fn acquire(
        path: &Path,
        info: LockInfo,
        wait: Option<Duration>,
    ) -> Result<RunLock, LockError> {
        let io = |source: std::io::Error| LockError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::create_private_dir(parent)
                .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let deadline = wait.map(|d| Instant::now() + d);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if deadline.is_some_and(|d| Instant::now() < d) {
                        std::thread::sleep(POLL);
                        continue;
                    }
                    return Err(LockError::Held {
                        holder: read_holder(path),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let mut lock = RunLock {
            file,
            path: path.to_owned(),
            info,
        };
        lock.write_info().map_err(io)?;
        Ok(lock)
    }

    fn write_info(&mut self) -> std::io::Result<()> {
        let meta = self.file.metadata()?;
        if meta.permissions().mode() & 0o077 != 0 {
            self.file
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        let json = serde_json::to_vec(&self.info).map_err(std::io::Error::other)?;
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&json)?;
        self.file.sync_data()
    }

    /// The holder details written into the lock file.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the holder details first so nobody reads a released holder; errors are moot:
        // closing the file releases the lock regardless.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Reads the holder details; the holder may be between locking and writing them, so retry
/// briefly on an empty or partial file.
fn read_holder(path: &Path) -> Option<LockInfo> {
    for _ in 0..10 {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(path)
            && f.read_to_string(&mut text).is_ok()
            && let Ok(info) = serde_json::from_str::<LockInfo>(&text)
        {
            return Some(info);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(run: &str) -> LockInfo {
        LockInfo {
            pid: std::process::id(),
            host: "test-host".into(),
            run_id: run.into(),
            started_at: Timestamp::from_second(1_800_000_000).unwrap(),
            command: "apply".into(),
        }
    }

    #[test]
    fn second_acquire_names_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let path = RunLock::path_for(&dir.path().join("ledger-sandbox.db"));
        assert!(path.to_string_lossy().ends_with("ledger-sandbox.db.lock"));
        let held = RunLock::acquire(&path, info("run-1"), None).unwrap();
        assert_eq!(
            fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        match RunLock::acquire(&path, info("run-2"), None) {
            Err(LockError::Held { holder: Some(h) }) => assert_eq!(h.run_id, "run-1"),
            other => panic!("expected Held with holder, got {other:?}"),
        }
        drop(held);
        let again = RunLock::acquire(&path, info("run-3"), None).unwrap();
        assert_eq!(again.info().run_id, "run-3");
    }

    #[test]
    fn waiting_acquire_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        let held = RunLock::acquire(&path, info("first"), None).unwrap();
        let p2 = path.clone();
        let waiter = std::thread::spawn(move || {
            RunLock::acquire(&p2, info("second"), Some(Duration::from_secs(30)))
                .map(|l| l.info().run_id.clone())
        });
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), "second");
    }
}
