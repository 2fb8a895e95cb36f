//! Harness for the crash, failpoint and lost-reply suites: a sandbox running in the test
//! process, a generated workspace pointing `herald` (the real binary) at it, and readers for
//! what the sandbox accepted and what the ledger recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use herald_ledger::{Ledger as _, LedgerKey, SendState, SqliteLedger};
use herald_sandbox::{Faults, RunningSandbox, SandboxConfig, StateLocation};

/// The ledger passphrase the generated workspaces use.
pub(crate) const LEDGER_KEY: &str =
    "f53dbf1165452539562a89639332ea052c8a592d67c226f34cf55e0a736af427";
/// The campaign every generated workspace sends.
pub(crate) const CAMPAIGN: &str = "notice";

/// A sandbox on an ephemeral port, served by its own runtime while the test thread blocks
/// on child processes.
pub(crate) struct Sandbox {
    rt: tokio::runtime::Runtime,
    inner: Option<RunningSandbox>,
}

impl Sandbox {
    /// Starts an unlimited sandbox with the given faults and seed.
    pub(crate) fn start(faults: Faults, seed: u64) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = SandboxConfig {
            state: StateLocation::Memory,
            rate_limit_per_minute: None,
            faults,
            seed,
            ..SandboxConfig::default()
        };
        let inner = rt
            .block_on(herald_sandbox::start(
                config,
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("sandbox starts");
        Self {
            rt,
            inner: Some(inner),
        }
    }

    fn inner(&self) -> &RunningSandbox {
        self.inner.as_ref().expect("running")
    }

    pub(crate) fn base_url(&self) -> String {
        self.inner().base_url()
    }

    /// Limits each token to `per_minute` requests (`None`: unlimited).
    pub(crate) fn set_rate_limit(&self, per_minute: Option<u32>) {
        self.inner().set_rate_limit(per_minute);
    }

    /// Answers 429 so far.
    pub(crate) fn answered_429(&self) -> u64 {
        self.inner().answered_429()
    }

    /// Requests the sandbox counted so far.
    pub(crate) fn requests(&self) -> u64 {
        self.inner().stats().requests
    }

    /// Requests the sandbox counted so far, per method and route template.
    pub(crate) fn stats(&self) -> herald_sandbox::SandboxStats {
        self.inner().stats()
    }

    /// Starts counting requests afresh.
    pub(crate) fn reset_stats(&self) {
        self.inner().reset_stats();
    }

    pub(crate) fn client_secret(&self) -> String {
        self.inner().client_secret().to_owned()
    }

    /// Row keys of every accepted message, in arrival order (the template's text is
    /// `Notice <key>.`, so the key is recoverable without touching phone numbers).
    pub(crate) fn accepted_keys(&self) -> Vec<String> {
        let messages = self
            .rt
            .block_on(self.inner().messages())
            .expect("list messages");
        messages
            .iter()
            .map(|m| {
                let text = m.text.as_deref().unwrap_or_default();
                text.strip_prefix("Notice ")
                    .and_then(|t| t.strip_suffix('.'))
                    .unwrap_or(text)
                    .to_owned()
            })
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.rt.block_on(inner.shutdown());
        }
    }
}

/// A generated workspace: one SMS template, one audience of `rows` recipients, one campaign
/// with no send window, and an environment pointing at `sandbox` with no practical limit.
pub(crate) struct Workspace {
    dir: tempfile::TempDir,
    /// Every row key of the audience.
    pub(crate) keys: Vec<String>,
}

impl Workspace {
    pub(crate) fn new(sandbox: &Sandbox, rows: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "herald.yaml",
            &format!(
                "environments:\n  crash:\n    target: genesys\n    base_url: {}\n    client_id: herald-sandbox\n    secret_file: sandbox-secret\n    rate_per_minute: 1000000\ndefault_environment: crash\npolicy:\n  max_recipients_per_apply: 1000000\n",
                sandbox.base_url()
            ),
        );
        write("sandbox-secret", &sandbox.client_secret());
        std::fs::set_permissions(
            root.join("sandbox-secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        write(
            "templates/notice.yaml",
            "kind: Template\nname: notice\nchannel: sms\ncategory: transactional\nstatus: published\nbody: \"Notice {{ref}}.\"\nvariables:\n  ref: { description: Row key, example: R-1, max_length: 20 }\n",
        );
        write(
            "campaigns/recipients.yaml",
            "kind: Audience\nname: recipients\nsource: { csv: data/recipients.csv }\nkey: key\naddress: phone\ntimezone: tz\n",
        );
        write(
            "campaigns/notice.yaml",
            &format!(
                "kind: Campaign\nname: {CAMPAIGN}\ntemplate: notice\naudience: recipients\nfrom: \"+15550001111\"\nvariables:\n  ref: {{ column: key }}\nstatus: active\nsend_window: none\n"
            ),
        );
        let keys: Vec<String> = (0..rows).map(|i| format!("R-{i:05}")).collect();
        let mut csv = String::from("key,phone,tz\n");
        for (i, key) in keys.iter().enumerate() {
            // Distinct numbers in the fictional 555 exchange of a few area codes.
            let area = [212, 312, 415, 617, 718, 202, 305, 404, 503, 602][i / 10_000];
            let _ = writeln!(csv, "{key},+1{area}555{:04},America/New_York", i % 10_000);
        }
        write("campaigns/data/recipients.csv", &csv);
        Self { dir, keys }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Appends campaign settings (e.g. `dispatch: messaging-campaign`) to the campaign.
    pub(crate) fn dispatch(&self, extra: &str) {
        let p = self.path().join("campaigns/notice.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, format!("{text}{extra}")).unwrap();
    }

    pub(crate) fn ledger_path(&self) -> PathBuf {
        self.path().join(".herald/ledger-crash.db")
    }

    /// `herald ARGS` in this workspace, with a clean environment.
    pub(crate) fn herald(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .env("HERALD_LEDGER_KEY", LEDGER_KEY)
            .env_remove("HERALD_FAILPOINT")
            .env_remove("HERALD_ENV")
            .env_remove("HERALD_LEDGER_URL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// `herald apply --auto-approve`, output captured.
    pub(crate) fn apply(&self) -> Command {
        let mut cmd = self.herald();
        cmd.args(["apply", "--auto-approve"]);
        cmd
    }

    /// Row keys per ledger state (empty before the ledger exists).
    pub(crate) fn ledger_states(&self) -> BTreeMap<SendState, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        let path = self.ledger_path();
        if !path.exists() {
            return out;
        }
        let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
        let ledger = SqliteLedger::open(&path, &key).expect("ledger opens");
        for state in SendState::ALL {
            let rows = ledger.sends_in_state(Some(CAMPAIGN), state).unwrap();
            out.insert(state, rows.into_iter().map(|r| r.row_key).collect());
        }
        out
    }

    /// `PRAGMA integrity_check` through the ledger API: `["ok"]` when sound.
    pub(crate) fn integrity(&self) -> Vec<String> {
        let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
        let ledger = SqliteLedger::open(&self.ledger_path(), &key).expect("ledger opens");
        ledger.integrity_check().unwrap()
    }

    /// Runs `herald ledger verify`; the output on failure.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let out = self.herald().args(["ledger", "verify"]).output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// Counts of one state.
pub(crate) fn count(states: &BTreeMap<SendState, BTreeSet<String>>, s: SendState) -> usize {
    states.get(&s).map_or(0, BTreeSet::len)
}

/// Keys accepted more than once.
pub(crate) fn duplicates(accepted: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut dups = BTreeSet::new();
    for k in accepted {
        if !seen.insert(k) {
            dups.insert(k.clone());
        }
    }
    dups.into_iter().collect()
}

/// The protocol's invariants that hold between any two runs:
/// no key accepted twice; every `sent` row was accepted; every accepted key is `sent`,
/// `unknown` or `dispatching` in the ledger (nothing sent behind the ledger's back); the
/// database is sound and the hash chain verifies.
pub(crate) fn check_between_runs(ws: &Workspace, sandbox: &Sandbox) -> Result<(), String> {
    let accepted = sandbox.accepted_keys();
    let dups = duplicates(&accepted);
    if !dups.is_empty() {
        return Err(format!(
            "{} keys were accepted twice (first: {})",
            dups.len(),
            dups[0]
        ));
    }
    let accepted: BTreeSet<String> = accepted.into_iter().collect();
    let states = ws.ledger_states();
    let empty = BTreeSet::new();
    let sent = states.get(&SendState::Sent).unwrap_or(&empty);
    if let Some(k) = sent.difference(&accepted).next() {
        return Err(format!(
            "row {k} is `sent` but the sandbox never accepted it"
        ));
    }
    for k in &accepted {
        let tracked = [SendState::Sent, SendState::Unknown, SendState::Dispatching]
            .iter()
            .any(|s| states.get(s).is_some_and(|set| set.contains(k)));
        if !tracked {
            return Err(format!(
                "row {k} was accepted but the ledger does not hold it as sent/unknown/dispatching"
            ));
        }
    }
    if ws.ledger_path().exists() {
        let integrity = ws.integrity();
        if integrity != ["ok"] {
            return Err(format!("integrity_check: {integrity:?}"));
        }
        ws.verify()
            .map_err(|e| format!("herald ledger verify failed: {e}"))?;
    }
    Ok(())
}
