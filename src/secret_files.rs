//! The local files that hold secrets and state: the ledger key file, the webhook secret file
//! and the workspace's state directory (`.herald`), read or checked when a command needs them.

use anyhow::{Context as _, bail};
use herald_ledger::LedgerKey;

use crate::settings::{ENV_LEDGER_KEY, ENV_WEBHOOK_SECRET, EnvSettings, STATE_DIR, resolve_path};
use crate::spec::Target;

/// Refuses a state directory that is, or holds, a symbolic link where herald writes.
pub(crate) fn refuse_state_links(settings: &EnvSettings) -> anyhow::Result<()> {
    let state = settings.workspace_root.join(STATE_DIR);
    let name = &settings.env.name;
    // The ledger, its key and the sandbox state are written under `.herald`: a link there
    // (committed or planted) would send them elsewhere.
    if std::fs::symlink_metadata(&state).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{STATE_DIR} in the workspace is a symbolic link; herald keeps its ledger and keys only in a real directory there (remove the link)"
        );
    }
    // So would a link inside it at a file SQLite creates: the ledger, the sandbox's state,
    // their side files (journal, WAL, shared memory) and the run lock.
    for db in [format!("ledger-{name}.db"), "sandbox-state.db".to_owned()] {
        for suffix in ["", "-journal", "-wal", "-shm", ".lock"] {
            let file = format!("{db}{suffix}");
            if std::fs::symlink_metadata(state.join(&file))
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                bail!(
                    "{STATE_DIR}/{file} in the workspace is a symbolic link; herald writes its ledger and sandbox state only to real files there (remove the link)"
                );
            }
        }
    }
    Ok(())
}

impl EnvSettings {
    /// The ledger key: `HERALD_LEDGER_KEY`, else the environment's key file — else the key
    /// file environments used to share, when this environment's ledger was made with it (it is
    /// copied to the environment's file) — created on first use for a sandbox environment,
    /// required to exist otherwise (a missing key must never silently become a new one, or
    /// every opt-out would stop matching).
    pub(crate) fn ledger_key(&self) -> anyhow::Result<LedgerKey> {
        if let Some(secret) = &self.vars.ledger_key {
            return LedgerKey::from_secret(secrecy::ExposeSecret::expose_secret(secret))
                .with_context(|| format!("{ENV_LEDGER_KEY} is not a usable ledger key"));
        }
        let shown = self.shown_path(&self.key_file);
        match std::fs::symlink_metadata(&self.key_file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Its errors name the file (permissions, content, I/O).
            _ => return Ok(LedgerKey::load(&self.key_file)?),
        }
        if let Some(key) = self.adopt_shared_key()? {
            return Ok(key);
        }
        let name = &self.env.name;
        if self.env.target != Target::Sandbox {
            bail!(
                "no ledger key for environment `{name}`: run `herald ledger keygen --env {name}` to create {shown}, or set {ENV_LEDGER_KEY} to the team's key"
            );
        }
        // The sandbox makes its key on first use — but never when its ledger already holds
        // rows made with another key (a lost key file): that refusal writes no key file.
        let key = LedgerKey::generate();
        if let Some(expected) = crate::ledger_access::other_key_fingerprint(self, &key)? {
            bail!(
                "the ledger of environment `{name}` was made with the key of fingerprint {expected}, but the key file {shown} is missing: restore that key file (or set {ENV_LEDGER_KEY} to that key); no new key was written"
            );
        }
        match key.write_new(&self.key_file) {
            Ok(()) => Ok(key),
            // Another process made it meanwhile: use theirs.
            Err(herald_ledger::LedgerError::AlreadyExists { .. }) => {
                Ok(LedgerKey::load(&self.key_file)?)
            }
            Err(e) => Err(e).with_context(|| format!("writing the ledger key file {shown}")),
        }
    }

    /// The shared key file's key, copied to this environment's key file, when it exists and
    /// this environment's ledger is empty or was made with it; `None` otherwise.
    fn adopt_shared_key(&self) -> anyhow::Result<Option<LedgerKey>> {
        if std::fs::symlink_metadata(&self.shared_key_file).is_err() {
            return Ok(None);
        }
        let key = LedgerKey::load(&self.shared_key_file)?;
        if crate::ledger_access::other_key_fingerprint(self, &key)?.is_some() {
            return Ok(None);
        }
        match key.write_new(&self.key_file) {
            Ok(()) => Ok(Some(key)),
            Err(herald_ledger::LedgerError::AlreadyExists { .. }) => {
                Ok(Some(LedgerKey::load(&self.key_file)?))
            }
            Err(e) => Err(e).with_context(|| {
                format!(
                    "copying the shared ledger key to {}",
                    self.shown_path(&self.key_file)
                )
            }),
        }
    }

    /// The shared secrets `herald serve` accepts: `HERALD_WEBHOOK_SECRET` (comma-separated,
    /// two during a rotation), else the environment's `webhook_secret_file` (one per line),
    /// which must not be readable by group or others. Values are never shown in errors.
    pub(crate) fn webhook_secrets(&self) -> anyhow::Result<Vec<secrecy::SecretString>> {
        let split = |text: &str, sep: char| -> Vec<secrecy::SecretString> {
            text.split(sep)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| secrecy::SecretString::from(s.to_owned()))
                .collect()
        };
        if let Some(raw) = &self.vars.webhook_secret {
            return Ok(split(secrecy::ExposeSecret::expose_secret(raw), ','));
        }
        let Some(file) = &self.env.webhook_secret_file else {
            bail!(
                "no webhook secret for environment `{}`: set {ENV_WEBHOOK_SECRET} or `webhook_secret_file:` in herald.yaml",
                self.env.name
            );
        };
        let path = resolve_path(&self.workspace_root, file);
        let metadata = fs_err::metadata(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                bail!(
                    "webhook secret file {} is readable by group or others (mode {mode:04o}); run `chmod 600` on it",
                    path.display()
                );
            }
        }
        #[cfg(not(unix))]
        let _ = metadata;
        let text = secrecy::SecretString::from(
            fs_err::read_to_string(&path)
                .with_context(|| format!("reading the webhook secret file {}", path.display()))?,
        );
        let secrets = split(secrecy::ExposeSecret::expose_secret(&text), '\n');
        if secrets.is_empty() {
            bail!("webhook secret file {} is empty", path.display());
        }
        Ok(secrets)
    }
}
