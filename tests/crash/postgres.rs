//! The crash invariants with two `herald apply` processes on one PostgreSQL ledger: the
//! second waits on the advisory run lock, takes over when the first is killed, and no
//! message is sent twice. Ignored by default; run it with `HERALD_TEST_POSTGRES_URL` set and
//! `cargo test --test crash -- --include-ignored postgres::` (as `.ci/run` does). Asked for
//! without the variable, it fails.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use herald_ledger::{Ledger as _, LedgerKey, PostgresLedger, SendState};
use herald_sandbox::Faults;

use crate::support::{LEDGER_KEY, Sandbox, Workspace, duplicates};

const ROWS: usize = 400;

/// A fresh schema on the test server, dropped at the end.
pub(crate) struct Schema {
    admin: postgres::Client,
    name: String,
    pub(crate) url: String,
}

impl Schema {
    pub(crate) fn create(base: &str) -> Self {
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
        unknown <= herald::executor::BATCH_SIZE,
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

/// Numbers (Florida, built-in cap 3 per 24 h) in the frequency-cap test.
const CAPPED_NUMBERS: usize = 30;

/// A workspace with two marketing campaigns, each with two rows per Florida number: four
/// candidate messages per number, of which the state's cap allows three.
fn capped_workspace(sandbox: &Sandbox) -> tempfile::TempDir {
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
            "environments:\n  crash:\n    target: genesys\n    base_url: {}\n    client_id: herald-sandbox\n    secret_file: sandbox-secret\n    rate_per_minute: 1000000\ndefault_environment: crash\n",
            sandbox.base_url()
        ),
    );
    write("sandbox-secret", &sandbox.client_secret());
    std::fs::set_permissions(
        root.join("sandbox-secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    write(
        "templates/offer.yaml",
        "kind: Template\nname: offer\nchannel: sms\ncategory: marketing\nstatus: published\nbody: \"Offer {{ref}}: reply STOP to opt out\"\nvariables:\n  ref: { description: Row key, example: A-00-0, max_length: 20 }\n",
    );
    for c in ["a", "b"] {
        write(
            &format!("campaigns/{c}-list.yaml"),
            &format!(
                "kind: Audience\nname: {c}-list\nsource: {{ csv: data/{c}.csv }}\nkey: key\naddress: phone\ntimezone: tz\nconsent: opt_in\n"
            ),
        );
        write(
            &format!("campaigns/{c}-offer.yaml"),
            &format!(
                "kind: Campaign\nname: {c}-offer\ntemplate: offer\naudience: {c}-list\nfrom: \"+15550001111\"\nvariables:\n  ref: {{ column: key }}\nstatus: active\n"
            ),
        );
        let mut csv = String::from("key,phone,tz,opt_in\n");
        for i in 0..CAPPED_NUMBERS {
            for n in 0..2 {
                let _ = writeln!(csv, "{c}-{i:02}-{n},+1305555{i:04},America/New_York,yes");
            }
        }
        write(&format!("campaigns/data/{c}.csv"), &csv);
    }
    dir
}

/// Two `herald apply` processes, one per campaign, started at once on one PostgreSQL ledger:
/// no Florida number gets more than the state's three marketing messages in 24 hours.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn two_applies_of_two_campaigns_never_exceed_a_frequency_cap() {
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
        11,
    );
    let dir = capped_workspace(&sandbox);
    let apply = |campaign: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .env("HERALD_LEDGER_KEY", LEDGER_KEY)
            .env("HERALD_LEDGER_URL", &schema.url)
            // 10:00 in New York: the calling window is open. Caps use the real clock.
            .env("HERALD_NOW", "2026-12-02T15:00:00Z")
            .env_remove("HERALD_FAILPOINT")
            .env_remove("HERALD_ENV")
            .env_remove("RUST_LOG")
            .args([
                "apply",
                "--auto-approve",
                "--lock-timeout",
                "120",
                "--campaign",
                campaign,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (apply("a-offer"), apply("b-offer"));
    for (name, child) in [("a-offer", a), ("b-offer", b)] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut per_number: std::collections::BTreeMap<String, usize> =
        std::collections::BTreeMap::new();
    for text in sandbox.accepted_keys() {
        // "Offer a-07-1: reply STOP to opt out" → number 07.
        let number = text
            .split('-')
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected message {text}"))
            .to_owned();
        *per_number.entry(number).or_default() += 1;
    }
    assert_eq!(per_number.len(), CAPPED_NUMBERS, "{per_number:?}");
    let wrong: Vec<_> = per_number.iter().filter(|(_, n)| **n != 3).collect();
    assert!(wrong.is_empty(), "numbers not sent exactly 3: {wrong:?}");

    let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
    let ledger = PostgresLedger::connect(&schema.url, &key).unwrap();
    let pending: usize = ["a-offer", "b-offer"]
        .iter()
        .map(|c| {
            ledger
                .sends_in_state(Some(c), SendState::Pending)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(pending, CAPPED_NUMBERS, "one held message per number");
    assert!(ledger.verify().unwrap().ok, "the hash chain verifies");
}
