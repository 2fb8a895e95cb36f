//! The crash invariants with two `herald apply` processes on one PostgreSQL ledger: the
//! second waits on the advisory run lock, takes over when the first is killed, and no
//! message is sent twice. Ignored by default; run it with `HERALD_TEST_POSTGRES_URL` set and
//! `cargo test --test crash -- --include-ignored postgres::` (as `.ci/run` does). Asked for
//! without the variable, it fails.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use herald_ledger::{Ledger as _, LedgerKey, PostgresLedger, SendState};
use herald_sandbox::Faults;

use crate::support::{LEDGER_KEY, Sandbox, Workspace, duplicates};

const ROWS: usize = 400;

/// A fresh schema on the test server, dropped at the end.
struct Schema {
    admin: postgres::Client,
    name: String,
    url: String,
}

impl Schema {
    fn create(base: &str) -> Self {
        let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap_or_else(|e| {
            panic!("HERALD_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
        });
        let name = format!("herald_it_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{name}");
        Self { admin, name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn two_applies_on_one_postgres_ledger_never_send_twice() {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("HERALD_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server");
    let schema = Schema::create(&base);
    let sandbox = Sandbox::start(
        Faults {
            latency_ms: 5,
            ..Faults::default()
        },
        7,
    );
    let ws = Workspace::new(&sandbox, ROWS);
    let apply = |extra: &[&str]| {
        let mut cmd = ws.apply();
        cmd.env("HERALD_LEDGER_URL", &schema.url)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    // A starts sending; B starts while A holds the lock and waits for it.
    let mut a = apply(&[]).spawn().unwrap();
    let started = Instant::now();
    while sandbox.accepted_keys().len() < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first apply never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let b = apply(&["--lock-timeout", "120"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A dies mid-campaign; its advisory lock goes with its connection, and B takes over.
    a.kill().unwrap();
    let status = a.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    let out = b.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the second apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A third run finds nothing left but A's in-flight batch, which stays `unknown`.
    let out = apply(&[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let accepted = sandbox.accepted_keys();
    assert!(
        duplicates(&accepted).is_empty(),
        "sent twice: {:?}",
        duplicates(&accepted)
    );
    let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
    let ledger = PostgresLedger::connect(&schema.url, &key).unwrap();
    let count = |s: SendState| {
        ledger
            .sends_in_state(Some(crate::support::CAMPAIGN), s)
            .unwrap()
            .len()
    };
    let (sent, unknown) = (count(SendState::Sent), count(SendState::Unknown));
    assert_eq!(sent + unknown, ROWS, "every row is sent or unknown");
    assert!(
        unknown <= herald::apply::BATCH_SIZE,
        "one crash costs at most one batch: {unknown}"
    );
    assert!(accepted.len() >= sent, "every sent row was accepted");
    assert_eq!(count(SendState::Dispatching), 0);
    assert!(ledger.verify().unwrap().ok, "the hash chain verifies");
    let out = ws
        .herald()
        .env("HERALD_LEDGER_URL", &schema.url)
        .args(["ledger", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
