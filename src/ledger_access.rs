//! Opening the environment's ledger (and its run lock) from resolved settings.

use anyhow::Context as _;
use herald_ledger::{Channel as LChannel, Ledger, LedgerKey, LockInfo, RunLock, SqliteLedger};

use crate::settings::{self, EnvSettings, LedgerLocation};
use crate::spec::Channel;

/// Converts the model's channel to the ledger's.
pub fn ledger_channel(c: Channel) -> LChannel {
    match c {
        Channel::Sms => LChannel::Sms,
        Channel::Email => LChannel::Email,
    }
}

/// Opens the ledger for reading and unlocked writes (status, suppress, serve): leftover
/// `dispatching` rows of a running apply are left alone.
pub fn open(settings: &EnvSettings, key: &LedgerKey) -> anyhow::Result<Box<dyn Ledger>> {
    match &settings.ledger {
        LedgerLocation::Sqlite(path) => Ok(Box::new(
            SqliteLedger::open(path, key)
                .with_context(|| format!("opening the ledger {}", path.display()))?,
        )),
        LedgerLocation::Postgres(_) => {
            anyhow::bail!("PostgreSQL ledgers are not supported by this build yet")
        }
    }
}

/// A held run lock plus the ledger opened under it (recovering a crashed run's rows).
pub struct Locked {
    /// The lock; dropping it releases it.
    pub lock: RunLock,
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
    let path = settings.sqlite_path()?;
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let info = LockInfo {
        pid: std::process::id(),
        host: settings::host_name(),
        run_id: run_id.to_owned(),
        started_at: jiff::Timestamp::now(),
        command: command.to_owned(),
    };
    let lock = match RunLock::acquire(&RunLock::path_for(path), info, wait) {
        Ok(l) => l,
        Err(e @ herald_ledger::LockError::Held { .. }) => return Ok(Err(e)),
        Err(e) => return Err(anyhow::Error::new(e).context("taking the run lock")),
    };
    let ledger = SqliteLedger::open_locked(path, key, &lock)
        .with_context(|| format!("opening the ledger {}", path.display()))?;
    let recovered_unknown = ledger.open_report().recovered_unknown;
    Ok(Ok(Locked {
        lock,
        ledger: Box::new(ledger),
        recovered_unknown,
    }))
}
