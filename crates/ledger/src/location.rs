//! Where a ledger lives, for code that serves both backends.
//!
//! Owns: parsing a ledger spec (`postgres://…`, `postgresql://…`, `sqlite:PATH` or a plain
//! path) and taking the matching run lock and opening the matching backend. Invariants: a
//! PostgreSQL URL is never shown with its password (`Debug` and `Display` print
//! `postgres://user@host:port/db`); a lock of one backend never guards the other's ledger.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{LedgerError, Result};
use crate::key::LedgerKey;
use crate::lock::{LedgerLock, LockError, LockInfo, RunLock};
use crate::model::OpenReport;
use crate::{Ledger, SqliteLedger};

/// A ledger's location: a SQLite file or a PostgreSQL database (and schema).
#[derive(Clone)]
pub struct LedgerLocation(Place);

#[derive(Clone)]
enum Place {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres {
        url: String,
        shown: String,
    },
}

impl LedgerLocation {
    /// Parses `postgres://…` / `postgresql://…` (PostgreSQL), `sqlite:PATH` or a plain path
    /// (SQLite). A PostgreSQL URL in a build without the `postgres` feature is an error.
    pub fn parse(spec: &str) -> Result<LedgerLocation> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                return Ok(LedgerLocation(Place::Postgres {
                    url: spec.to_owned(),
                    shown: crate::postgres::shown_url(spec)?,
                }));
            }
            #[cfg(not(feature = "postgres"))]
            {
                return Err(LedgerError::Backend(
                    "this herald was built without PostgreSQL support".to_owned(),
                ));
            }
        }
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        if path.is_empty() {
            return Err(LedgerError::Backend("empty ledger path".to_owned()));
        }
        Ok(LedgerLocation::sqlite(path))
    }

    /// A SQLite ledger file.
    pub fn sqlite(path: impl Into<PathBuf>) -> LedgerLocation {
        LedgerLocation(Place::Sqlite(path.into()))
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.0 {
            Place::Sqlite(p) => Some(p),
            #[cfg(feature = "postgres")]
            Place::Postgres { .. } => None,
        }
    }

    /// Whether this is a PostgreSQL ledger.
    pub fn is_postgres(&self) -> bool {
        self.sqlite_path().is_none()
    }

    /// Takes the run lock: the file lock next to a SQLite ledger, the advisory lock of a
    /// PostgreSQL one. `wait` as in [`RunLock::acquire`].
    pub fn acquire_lock(
        &self,
        info: LockInfo,
        wait: Option<Duration>,
    ) -> Result<LedgerLock, LockError> {
        match &self.0 {
            Place::Sqlite(p) => Ok(RunLock::acquire(&RunLock::path_for(p), info, wait)?.into()),
            #[cfg(feature = "postgres")]
            Place::Postgres { url, .. } => Ok(crate::PgRunLock::acquire(url, info, wait)?.into()),
        }
    }

    /// Opens the ledger without touching `dispatching` rows (readers, `status`, `verify`).
    pub fn open(&self, key: &LedgerKey) -> Result<Box<dyn Ledger>> {
        Ok(match &self.0 {
            Place::Sqlite(p) => Box::new(SqliteLedger::open(p, key)?),
            #[cfg(feature = "postgres")]
            Place::Postgres { url, .. } => Box::new(crate::PostgresLedger::connect(url, key)?),
        })
    }

    /// Opens the ledger for the holder of `lock`, recovering a crashed run's `dispatching`
    /// rows as `unknown`. A lock of the other backend is refused.
    pub fn open_locked(
        &self,
        key: &LedgerKey,
        lock: &LedgerLock,
    ) -> Result<(Box<dyn Ledger>, OpenReport)> {
        match (&self.0, lock) {
            (Place::Sqlite(p), LedgerLock::File(l)) => {
                let ledger = SqliteLedger::open_locked(p, key, l)?;
                let report = ledger.open_report();
                Ok((Box::new(ledger), report))
            }
            #[cfg(feature = "postgres")]
            (Place::Postgres { url, .. }, LedgerLock::Postgres(l)) => {
                let ledger = crate::PostgresLedger::open_locked(url, key, l)?;
                let report = ledger.open_report();
                Ok((Box::new(ledger), report))
            }
            #[cfg(feature = "postgres")]
            _ => Err(LedgerError::Backend(format!(
                "the run lock held is not the lock of the ledger at {self}"
            ))),
        }
    }
}

impl fmt::Display for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Place::Sqlite(p) => write!(f, "{}", p.display()),
            #[cfg(feature = "postgres")]
            Place::Postgres { shown, .. } => f.write_str(shown),
        }
    }
}

impl fmt::Debug for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends_and_hides_the_password() {
        let l = LedgerLocation::parse("sqlite:.herald/ledger-prod.db").unwrap();
        assert_eq!(l.sqlite_path(), Some(Path::new(".herald/ledger-prod.db")));
        assert!(!l.is_postgres());
        let plain = LedgerLocation::parse("/var/lib/herald/l.db").unwrap();
        assert_eq!(plain.to_string(), "/var/lib/herald/l.db");
        assert!(LedgerLocation::parse("sqlite:").is_err());
        #[cfg(feature = "postgres")]
        {
            let pg = LedgerLocation::parse(
                "postgres://ci:s3cr3t-pw@db.internal:6432/herald?options=-csearch_path%3Dprod",
            )
            .unwrap();
            assert!(pg.is_postgres());
            assert_eq!(pg.to_string(), "postgres://ci@db.internal:6432/herald");
            assert!(!format!("{pg:?}").contains("s3cr3t"));
            let bad = LedgerLocation::parse("postgres://ci:s3cr3t@db/x?nonsense_option=1");
            let err = bad.unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{err}");
            // The TLS options are not part of what is shown, and their errors hide the URL.
            let tls = LedgerLocation::parse(
                "postgres://ci:s3cr3t@db.internal/herald?sslmode=verify-full&sslrootcert=%2Fca.pem",
            )
            .unwrap();
            assert_eq!(tls.to_string(), "postgres://ci@db.internal:5432/herald");
            for bad in [
                "postgres://ci:s3cr3t@db/x?sslmode=verify",
                "postgres://ci:s3cr3t@db/x?sslmode=require&sslrootcert=system",
                "postgres://ci:s3cr3t@db/x?sslkey=k.pem",
            ] {
                let err = LedgerLocation::parse(bad).unwrap_err().to_string();
                assert!(!err.contains("s3cr3t") && err.contains("ssl"), "{err}");
            }
        }
    }
}
