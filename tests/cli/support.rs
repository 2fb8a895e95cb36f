//! Test harness: a temporary workspace and a command builder running the real binary with
//! colour off and a fixed time zone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary workspace directory.
pub(crate) struct TestWorkspace {
    pub(crate) dir: tempfile::TempDir,
}

impl TestWorkspace {
    /// An empty directory.
    pub(crate) fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A copy of the repository's example workspace.
    pub(crate) fn example() -> Self {
        let ws = Self::empty();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for rel in ["herald.yaml", "templates", "campaigns"] {
            copy_tree(&root.join(rel), &ws.path().join(rel));
        }
        ws
    }

    /// A copy of a fixture under tests/fixtures/.
    pub(crate) fn fixture(name: &str) -> Self {
        let ws = Self::empty();
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
            ws.path(),
        );
        ws
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parents).
    pub(crate) fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// `herald ARGS` in this workspace.
    pub(crate) fn herald(&self) -> Command {
        let mut cmd = herald_cmd();
        cmd.current_dir(self.path());
        cmd
    }
}

/// The herald binary with a clean, deterministic environment.
pub(crate) fn herald_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("RUST_LOG")
        .env_remove("HERALD_LEDGER_KEY");
    cmd
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// Output of a finished command: (exit code, stdout, stderr).
pub(crate) fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run herald");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[allow(dead_code)]
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Genesys sandbox running in the test process, with the workspace's `local` environment
/// pointed at it, so a test can inject faults and read every accepted message.
pub(crate) struct LocalSandbox {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) sandbox: Option<herald_sandbox::RunningSandbox>,
}

#[allow(dead_code)]
impl LocalSandbox {
    /// Starts an in-memory sandbox with no rate limit and makes `local` (at 6000 requests/min)
    /// the workspace's default environment.
    pub(crate) fn start(ws: &TestWorkspace) -> Self {
        Self::start_with(ws, None, 6000)
    }

    /// Starts a sandbox with the given per-token limit; `rate` is herald's own client limit.
    pub(crate) fn start_with(ws: &TestWorkspace, limit: Option<u32>, rate: u32) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = herald_sandbox::SandboxConfig {
            rate_limit_per_minute: limit,
            delivery_step_ms: 10,
            ..herald_sandbox::SandboxConfig::default()
        };
        let sandbox = rt
            .block_on(herald_sandbox::start(
                config,
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("start sandbox");
        // A team key, as a real environment requires one to exist.
        herald_ledger::LedgerKey::load_or_create(&ws.path().join(".herald/ledger-local.key"))
            .expect("ledger key");
        let secret = ws.path().join("local-secret");
        std::fs::write(&secret, sandbox.client_secret()).unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        // The workspace's own `policy:` section (the last top-level key, by convention in
        // these tests) is kept; only the environments change.
        let existing = std::fs::read_to_string(ws.path().join("herald.yaml")).unwrap_or_default();
        let policy = existing
            .find("\npolicy:")
            .map_or("", |at| &existing[at + 1..]);
        ws.write(
            "herald.yaml",
            &format!(
                "environments:\n  local:\n    target: genesys\n    base_url: {}\n    client_id: {}\n    secret_file: local-secret\n    rate_per_minute: {rate}\ndefault_environment: local\n{policy}",
                sandbox.base_url(),
                sandbox.client_id()
            ),
        );
        Self {
            rt,
            sandbox: Some(sandbox),
        }
    }

    pub(crate) fn sandbox(&self) -> &herald_sandbox::RunningSandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// Every accepted message.
    pub(crate) fn messages(&self) -> Vec<herald_sandbox::AcceptedMessage> {
        self.rt
            .block_on(self.sandbox().messages())
            .expect("messages")
    }

    /// How many messages each recipient address received.
    pub(crate) fn per_address(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for msg in self.messages() {
            *m.entry(msg.to).or_insert(0) += 1;
        }
        m
    }

    pub(crate) fn set_faults(&self, faults: herald_sandbox::Faults) {
        self.sandbox().set_faults(faults).expect("faults");
    }

    /// Edits a response's text outside herald (drift).
    pub(crate) fn edit_out_of_band(&self, id: &str, text: &str) {
        self.rt
            .block_on(self.sandbox().edit_response_out_of_band(id, text))
            .expect("edit");
    }

    /// Injects an inbound reply.
    pub(crate) fn inbound(&self, from: &str, text: &str) {
        self.rt
            .block_on(self.sandbox().inbound(from, text))
            .expect("inbound");
    }
}

impl Drop for LocalSandbox {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// The fictional NANP number of row `i` (555-01xx numbers are reserved for fiction; larger
/// audiences use other 555 lines of the same exchange).
#[allow(dead_code)]
pub(crate) fn phone(i: usize) -> String {
    format!("+1212555{:04}", 100 + i)
}

/// Writes `campaigns/data/shipped.csv` with `n` consenting rows in `tz` (keys C-0…).
#[allow(dead_code)]
pub(crate) fn write_audience(ws: &TestWorkspace, n: usize, tz: &str) {
    let mut csv = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for i in 0..n {
        let _ = writeln!(
            csv,
            "C-{i},{},{tz},yes,ORD-{i},https://track.example.com/{i}",
            phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &csv);
}

/// Parses a `plan --format json` document, with the clock pinned to 2026-12-02T15:00:00Z.
#[allow(dead_code)]
pub(crate) fn plan_json(ws: &TestWorkspace) -> serde_json::Value {
    plan_json_at(ws, "2026-12-02T15:00:00Z")
}

/// Parses a `plan --format json` document, with the clock pinned to `now`.
#[allow(dead_code)]
pub(crate) fn plan_json_at(ws: &TestWorkspace, now: &str) -> serde_json::Value {
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", now)
        .args(["plan", "--format", "json"]));
    assert_eq!(code, 0, "plan failed: {out}{err}");
    serde_json::from_str(&out).expect("plan json")
}

/// One campaign of a JSON plan, by name.
#[allow(dead_code)]
pub(crate) fn plan_campaign<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no campaign {name} in {plan}"))
}

/// A published marketing SMS template, `winter-sale`, with its opt-out instruction.
#[allow(dead_code)]
pub(crate) const PROMO_TEMPLATE: &str = "kind: Template
name: winter-sale
channel: sms
category: marketing
status: published
body: \"Winter sale: 20% off until Sunday. Reply STOP to opt out.\"
";

/// The response id bound to a template, from the current plan.
#[allow(dead_code)]
pub(crate) fn response_id(ws: &TestWorkspace, template: &str) -> String {
    let plan = plan_json(ws);
    plan["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == template)
        .and_then(|t| t["remote"]["id"].as_str())
        .expect("template is bound to a response")
        .to_owned()
}

/// Everything a command printed, in one deterministic text: whether it succeeded, its exit code,
/// its stdout and its stderr. Snapshot it with [`herald_snapshot!`], which also hides anything
/// that differs between machines.
#[allow(dead_code)]
pub(crate) fn whole_output(cmd: &mut Command) -> String {
    // A fixed terminal width, so clap wraps help and usage text the same everywhere.
    let (code, out, err) = run(cmd.env("COLUMNS", "100"));
    format!(
        "success: {}\nexit_code: {code}\n----- stdout -----\n{out}\n----- stderr -----\n{err}",
        code == 0
    )
}

/// The insta filters every whole-output snapshot runs through: temporary directories (with any
/// path below them) and the repository root become placeholders, and phone numbers and email
/// addresses are replaced, so no snapshot holds a machine path or a recipient's address.
#[allow(dead_code)]
pub(crate) fn snapshot_filters() -> Vec<(String, String)> {
    let mut filters = Vec::new();
    let temp = std::env::temp_dir();
    for (dir, name) in [(repo_root(), "[REPO]"), (temp, "[TEMP]")] {
        let text = dir.to_string_lossy().trim_end_matches('/').to_owned();
        // The temporary workspace's own random directory name goes with the prefix.
        let tail = if name == "[TEMP]" {
            r"(/\.tmp[A-Za-z0-9]+)?"
        } else {
            ""
        };
        filters.push((format!("{}{tail}", regex_escape(&text)), name.to_owned()));
        if let Ok(real) = dir.canonicalize() {
            let real = real.to_string_lossy().trim_end_matches('/').to_owned();
            if real != text {
                filters.push((format!("{}{tail}", regex_escape(&real)), name.to_owned()));
            }
        }
    }
    filters.push((r"\+[1-9][0-9]{7,14}".to_owned(), "[PHONE]".to_owned()));
    filters.push((
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}".to_owned(),
        "[EMAIL]".to_owned(),
    ));
    filters
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshots a command's whole output (see [`whole_output`]) through [`snapshot_filters`]:
/// `herald_snapshot!(cmd)` names the snapshot after the test, `herald_snapshot!("name", cmd)`
/// names it explicitly. It evaluates to the unfiltered text, for further assertions.
macro_rules! herald_snapshot {
    ($cmd:expr) => {{
        let text = $crate::support::whole_output($cmd);
        let mut settings = insta::Settings::clone_current();
        for (from, to) in $crate::support::snapshot_filters() {
            settings.add_filter(&from, to);
        }
        settings.bind(|| insta::assert_snapshot!(text));
        text
    }};
    ($name:expr, $cmd:expr) => {{
        let text = $crate::support::whole_output($cmd);
        let mut settings = insta::Settings::clone_current();
        for (from, to) in $crate::support::snapshot_filters() {
            settings.add_filter(&from, to);
        }
        settings.bind(|| insta::assert_snapshot!($name, text));
        text
    }};
}
#[allow(unused_imports)]
pub(crate) use herald_snapshot;

#[test]
fn snapshot_filters_hide_paths_numbers_and_addresses() {
    let ws = TestWorkspace::empty();
    let text = format!(
        "{}/herald.yaml {} +12125550100 avery@example.com +1******0100 a***@example.com",
        ws.path().display(),
        repo_root().join("schema").display()
    );
    let mut settings = insta::Settings::clone_current();
    for (from, to) in snapshot_filters() {
        settings.add_filter(&from, to);
    }
    settings.bind(|| {
        insta::assert_snapshot!(text, @"[TEMP]/herald.yaml [REPO]/schema [PHONE] [EMAIL] +1******0100 a***@example.com");
    });
}
