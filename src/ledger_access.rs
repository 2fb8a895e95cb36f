//! Opening the environment's ledger (SQLite file or PostgreSQL) and its run lock from
//! resolved settings.

use anyhow::Context as _;
use herald_ledger::{Ledger, LedgerKey, LedgerLocation, LedgerLock, LockInfo};

use crate::settings::{EnvSettings, LedgerLocation as Where};

/// The ledger crate's view of where the ledger lives (creating a SQLite file's directory).
pub fn location(settings: &EnvSettings) -> anyhow::Result<LedgerLocation> {
    match &settings.ledger {
        Where::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                fs_err::create_dir_all(dir)?;
            }
            Ok(LedgerLocation::sqlite(path.clone()))
        }
        Where::Postgres(url) => Ok(LedgerLocation::parse(url)?),
    }
}

/// The fingerprint of the key the environment's ledger was made with, when it is not `key`'s
/// (the ledger already holds rows made with another key). A SQLite ledger that does not exist
/// yet holds none, and is not created; an existing ledger without a key yet adopts `key`.
pub fn other_key_fingerprint(
    settings: &EnvSettings,
    key: &LedgerKey,
) -> anyhow::Result<Option<String>> {
    if let Where::Sqlite(path) = &settings.ledger
        && std::fs::symlink_metadata(path).is_err()
    {
        return Ok(None);
    }
    let loc = location(settings)?;
    match loc.open(key) {
        Ok(_) => Ok(None),
        Err(herald_ledger::LedgerError::WrongKey { expected, .. }) => Ok(Some(expected)),
        Err(e) => Err(anyhow::Error::new(e).context(format!("opening the ledger {loc}"))),
    }
}

/// Opens the ledger for reading and unlocked writes (status, suppress, serve): leftover
/// `dispatching` rows of a running apply are left alone.
pub fn open(settings: &EnvSettings, key: &LedgerKey) -> anyhow::Result<Box<dyn Ledger>> {
    let loc = location(settings)?;
    loc.open(key)
        .with_context(|| format!("opening the ledger {loc}"))
}

/// A held run lock plus the ledger opened under it (recovering a crashed run's rows).
pub struct Locked {
    /// The lock; dropping it releases it.
    pub lock: LedgerLock,
    /// The ledger.
    pub ledger: Box<dyn Ledger>,
    /// How many `dispatching` rows a crashed run left, now `unknown`.
    pub recovered_unknown: u64,
}

/// Takes the environment's run lock (waiting up to `wait`) and opens the ledger under it.
/// A lock held by a live process is `LockError::Held`, which callers map to exit code 4.
pub fn open_locked(
    settings: &EnvSettings,
    key: &LedgerKey,
    run_id: &str,
    command: &str,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<Result<Locked, herald_ledger::LockError>> {
    let loc = location(settings)?;
    let info = LockInfo {
        pid: std::process::id(),
        host: settings.vars.host.clone(),
        run_id: run_id.to_owned(),
        started_at: jiff::Timestamp::now(),
        command: command.to_owned(),
    };
    let lock = match loc.acquire_lock(info, wait) {
        Ok(l) => l,
        Err(e @ herald_ledger::LockError::Held { .. }) => return Ok(Err(e)),
        Err(e) => return Err(anyhow::Error::new(e).context("taking the run lock")),
    };
    let (ledger, report) = loc
        .open_locked(key, &lock)
        .with_context(|| format!("opening the ledger {loc}"))?;
    Ok(Ok(Locked {
        lock,
        ledger,
        recovered_unknown: report.recovered_unknown,
    }))
}
