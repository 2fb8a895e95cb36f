//! PostgreSQL backend tests: the shared conformance suite, concurrent claimers, the advisory
//! run lock across real processes, migration from and to SQLite, key/schema checks,
//! tampering and privacy.
//!
//! They are ignored by default (the runner lists them as ignored); run them with
//! `HERALD_TEST_POSTGRES_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`) and
//! `-- --include-ignored`, as `.ci/run` does. A run that asks for them fails if the variable
//! is unset or the server cannot be reached. Every ledger lives in its own
//! `herald_test_<random>` schema, dropped at the end, so tests run in parallel.
#![cfg(feature = "postgres")]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use herald_ledger::{
    Channel, Claim, ClaimResult, FrequencyCap, InboundAction, InboundRecord, Ledger, LedgerError,
    LedgerKey, LedgerLocation, LedgerLock, LockError, LockInfo, NewRun, Outcome, OutcomeResult,
    PgRunLock, PostgresLedger, RawTable, Redo, SendState, SqliteLedger, Suppression, TemplateWrite,
    mask_email, mask_phone, migrate_ledger,
};
use jiff::Timestamp;

const URL_ENV: &str = "HERALD_TEST_POSTGRES_URL";
const CHILD_ENV: &str = "HERALD_LEDGER_TEST_CHILD";
const CHILD_URL_ENV: &str = "HERALD_LEDGER_TEST_PG_URL";
const DIR_ENV: &str = "HERALD_LEDGER_TEST_DIR";
/// Rows two concurrent claimers compete for.
const ROWS: u32 = 300;

/// The server URL. Every test here is ignored unless asked for (`--include-ignored`, as
/// `.ci/run` does) and then fails without a server: a requested run never passes silently.
fn server() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_ENV} is not set: the PostgreSQL tests need a server \
             (e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

fn admin(base: &str) -> postgres::Client {
    postgres::Client::connect(base, postgres::NoTls).unwrap_or_else(|e| {
        panic!("{URL_ENV} is set but the PostgreSQL server cannot be reached: {e}")
    })
}

/// A private schema for one ledger, dropped (with everything in it) on drop.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(base: &str) -> Schema {
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        admin(base)
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Schema {
            base: base.to_owned(),
            name,
        }
    }

    /// The server URL with this schema as the `search_path`.
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }

    fn client(&self) -> postgres::Client {
        let mut c = admin(&self.base);
        c.batch_execute(&format!("SET search_path = {}", self.name))
            .unwrap();
        c
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// The key the v1 fixture ledger was written with (before weak keys were refused).
fn fixture_key() -> LedgerKey {
    LedgerKey::from_weak_secret_for_tests(&"3c".repeat(32))
}

fn key() -> LedgerKey {
    LedgerKey::from_secret("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8")
        .unwrap()
}

fn new_run(l: &mut dyn Ledger, id: &str) {
    l.begin_run(&NewRun {
        run_id: id.into(),
        command: "apply".into(),
        user: "tester".into(),
        host: "host".into(),
        git_commit: Some("abc123".into()),
        plan_hash: None,
    })
    .unwrap();
}

fn phone(i: u32) -> String {
    format!("+1555010{i:04}")
}

fn claim(k: &LedgerKey, row: &str, i: u32) -> Claim {
    Claim {
        row_key: row.into(),
        recipient: k.recipient_id(Channel::Sms, &phone(i)),
        masked: mask_phone(&phone(i)),
        channel: Channel::Sms,
        template_hash: "v1:t".into(),
        category: None,
        caps: Vec::new(),
    }
}

fn sent(row: &str, msg: &str) -> Outcome {
    Outcome {
        campaign: "c".into(),
        row_key: row.into(),
        result: OutcomeResult::Sent {
            handle: herald_ledger::DispatchHandle::message(msg, Some(format!("conv-{msg}"))),
        },
    }
}

fn lock_info(run: &str, host: &str) -> LockInfo {
    LockInfo {
        pid: std::process::id(),
        host: host.into(),
        run_id: run.into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    }
}

/// The shared behaviour suite, one test per case, each in a fresh schema.
mod conformance {
    use herald_ledger::{Ledger, PostgresLedger};

    use super::{Schema, key, server};

    herald_ledger::conformance_tests!(
        #[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
        make = || {
            let schema = Schema::new(&server());
            let ledger = PostgresLedger::connect(&schema.url(), &key()).unwrap();
            assert!(ledger.open_report().created);
            (schema, Box::new(ledger) as Box<dyn Ledger>)
        }
    );
}

/// Two runs claiming two campaigns to the same recipients at once, each batch in its own
/// transaction: the frequency cap (2 per 24 h) holds across both. Each recipient has two rows
/// in each campaign (four candidates), so each gets exactly two sends, never three.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn concurrent_claims_in_two_campaigns_never_exceed_a_frequency_cap() {
    const RECIPIENTS: u32 = 60;
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    drop(PostgresLedger::connect(&url, &key()).unwrap());
    let barrier = Arc::new(Barrier::new(2));
    let worker = |name: &'static str, campaign: &'static str, reverse: bool| {
        let url = url.clone();
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let k = key();
            let mut l = PostgresLedger::connect(&url, &k).unwrap();
            new_run(&mut l, name);
            let claims: Vec<Claim> = (0..RECIPIENTS)
                .flat_map(|i| [0, 1].map(|n| (i, n)))
                .map(|(i, n)| Claim {
                    category: Some("marketing".into()),
                    caps: vec![FrequencyCap {
                        max: 2,
                        per_ms: 24 * 60 * 60 * 1000,
                    }],
                    ..claim(&k, &format!("r{i:03}-{n}"), i)
                })
                .collect();
            let mut claims = claims;
            if reverse {
                claims.reverse();
            }
            barrier.wait();
            let (mut claimed, mut capped) = (Vec::new(), 0);
            for chunk in claims.chunks(5) {
                let res = l.claim_batch(name, campaign, chunk, Redo::NONE).unwrap();
                let mut outcomes = Vec::new();
                for (c, r) in chunk.iter().zip(res) {
                    match r {
                        ClaimResult::Claimed => {
                            outcomes.push(Outcome {
                                campaign: campaign.into(),
                                row_key: c.row_key.clone(),
                                result: OutcomeResult::Sent {
                                    handle: herald_ledger::DispatchHandle::message(
                                        format!("{name}-{}", c.row_key),
                                        None,
                                    ),
                                },
                            });
                            claimed.push(c.recipient.clone());
                        }
                        ClaimResult::Capped(_) => capped += 1,
                        other => panic!("{name}: unexpected {other:?} for {}", c.row_key),
                    }
                }
                l.record_outcomes(name, &outcomes).unwrap();
            }
            (claimed, capped)
        })
    };
    let a = worker("run-a", "spring", false);
    let b = worker("run-b", "summer", true);
    let (a, a_capped) = a.join().unwrap();
    let (b, b_capped) = b.join().unwrap();
    let mut per_recipient: std::collections::HashMap<_, u32> = std::collections::HashMap::new();
    for r in a.iter().chain(&b) {
        *per_recipient.entry(r.clone()).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), RECIPIENTS as usize);
    let over: Vec<_> = per_recipient.values().filter(|n| **n != 2).collect();
    assert!(
        over.is_empty(),
        "a recipient got other than 2 sends: {over:?}"
    );
    assert_eq!(a_capped + b_capped, 2 * RECIPIENTS as usize);
    // Both really ran against each other: each was held by the other's sends somewhere.
    assert!(
        !a.is_empty() && !b.is_empty() && a_capped > 0 && b_capped > 0,
        "{} / {} claimed, {a_capped} / {b_capped} capped",
        a.len(),
        b.len()
    );
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn concurrent_claimers_never_claim_one_key_twice() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    drop(PostgresLedger::connect(&url, &key()).unwrap());
    let barrier = Arc::new(Barrier::new(2));
    let worker = |name: &'static str, reverse: bool| {
        let url = url.clone();
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let k = key();
            let mut l = PostgresLedger::connect(&url, &k).unwrap();
            new_run(&mut l, name);
            let mut claims: Vec<Claim> = (0..ROWS)
                .map(|i| claim(&k, &format!("row-{i:03}"), i))
                .collect();
            if reverse {
                claims.reverse();
            }
            barrier.wait();
            let mut mine: Vec<String> = Vec::new();
            let mut skipped = 0;
            for chunk in claims.chunks(7) {
                let res = l.claim_batch(name, "c", chunk, Redo::NONE).unwrap();
                let mut outcomes = Vec::new();
                for (c, r) in chunk.iter().zip(res) {
                    match r {
                        ClaimResult::Claimed => {
                            outcomes.push(sent(&c.row_key, &format!("{name}-{}", c.row_key)));
                            mine.push(c.row_key.clone());
                        }
                        ClaimResult::Skipped(SendState::Dispatching | SendState::Sent) => {
                            skipped += 1;
                        }
                        other => panic!("{name}: unexpected {other:?} for {}", c.row_key),
                    }
                }
                // Send what was claimed, as apply does, before the next batch.
                l.record_outcomes(name, &outcomes).unwrap();
            }
            (mine, skipped)
        })
    };
    let a = worker("run-a", false);
    let b = worker("run-b", true);
    let (a, a_skipped) = a.join().unwrap();
    let (b, b_skipped) = b.join().unwrap();

    let a_set: HashSet<&String> = a.iter().collect();
    let b_set: HashSet<&String> = b.iter().collect();
    assert_eq!(a.len(), a_set.len(), "run-a claimed a key twice");
    assert_eq!(b.len(), b_set.len(), "run-b claimed a key twice");
    let both: Vec<_> = a_set.intersection(&b_set).collect();
    assert!(both.is_empty(), "claimed by both runners: {both:?}");
    assert_eq!(a.len() + b.len(), ROWS as usize);
    assert_eq!(a_skipped + b_skipped, ROWS as usize);
    // Both really ran against each other (each saw the other's rows).
    assert!(a_skipped > 0 && b_skipped > 0, "{a_skipped} / {b_skipped}");

    let l = PostgresLedger::connect(&url, &key()).unwrap();
    let rows = l.sends_in_state(Some("c"), SendState::Sent).unwrap();
    assert_eq!(rows.len(), ROWS as usize);
    assert!(
        rows.iter().all(|r| r.attempts == 1),
        "a row was dispatched twice"
    );
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.sends_checked, u64::from(ROWS));
}

/// Spawns this test binary running the `child_process` test in `mode`.
fn spawn_child(mode: &str, url: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_process", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(CHILD_URL_ENV, url)
        .env(DIR_ENV, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_file(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "child never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Entry point of child processes; does nothing unless started by another test.
#[test]
#[ignore = "child-process helper, started by the cross-process tests"]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let url = std::env::var(CHILD_URL_ENV).unwrap();
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    match mode.as_str() {
        // Hold the advisory run lock, with a claimed batch in flight, until killed.
        "pg-lock" => {
            let lock =
                PgRunLock::acquire(&url, lock_info("child-run", "child-host"), None).unwrap();
            let k = key();
            let mut l = PostgresLedger::open_locked(&url, &k, &lock).unwrap();
            new_run(&mut l, "child-run");
            let claims: Vec<Claim> = (0..4).map(|i| claim(&k, &format!("row-{i}"), i)).collect();
            l.claim_batch("child-run", "c", &claims, Redo::NONE)
                .unwrap();
            fs_err::write(dir.join("locked"), b"").unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown child mode {other}"),
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn advisory_lock_is_released_when_the_holder_is_killed() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(spawn_child("pg-lock", &url, dir.path()));
    let child_pid = child.0.id();
    wait_for_file(&dir.path().join("locked"), &mut child.0);

    match PgRunLock::acquire(&url, lock_info("p1", "parent"), None) {
        Err(LockError::Held { holder: Some(h) }) => {
            assert_eq!(h.pid, child_pid);
            assert_eq!(h.run_id, "child-run");
            assert_eq!(h.host, "child-host");
        }
        other => panic!("expected the child to hold the lock, got {other:?}"),
    }
    let err = PgRunLock::acquire(
        &url,
        lock_info("p2", "parent"),
        Some(Duration::from_millis(300)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("child-run"), "{err}");
    assert_eq!(
        PgRunLock::holder(&url).unwrap().map(|h| h.pid),
        Some(child_pid)
    );
    // Another schema on the same server is another ledger with its own lock.
    let other = Schema::new(&base);
    let other_lock = PgRunLock::acquire(&other.url(), lock_info("o", "parent"), None).unwrap();
    assert_eq!(other_lock.schema(), other.name);

    child.0.kill().unwrap(); // SIGKILL: the process never unlocks
    child.0.wait().unwrap();
    // The server ends the dead session and drops its advisory lock.
    let mut lock = PgRunLock::acquire(
        &url,
        lock_info("p3", "parent"),
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    assert!(lock.is_held());
    let holder = PgRunLock::holder(&url).unwrap().unwrap();
    assert_eq!(
        (holder.pid, holder.run_id.as_str()),
        (std::process::id(), "p3")
    );

    // The crashed run's in-flight rows become unknown for the new holder only.
    let reader = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(
        reader
            .sends_in_state(None, SendState::Dispatching)
            .unwrap()
            .len(),
        4
    );
    let l = PostgresLedger::open_locked(&url, &key(), &lock).unwrap();
    assert_eq!(l.open_report().recovered_unknown, 4);
    assert_eq!(
        reader
            .sends_in_state(None, SendState::Unknown)
            .unwrap()
            .len(),
        4
    );
    assert!(l.verify().unwrap().ok);
    // A lock taken on one schema does not open another schema's ledger.
    let err = PostgresLedger::open_locked(&other.url(), &key(), &lock).unwrap_err();
    assert!(matches!(err, LedgerError::Backend(_)), "{err}");

    let neutral = LedgerLock::from(lock);
    assert_eq!(neutral.info().run_id, "p3");
    drop(neutral);
    assert_eq!(PgRunLock::holder(&url).unwrap(), None);
    let again = PgRunLock::acquire(&url, lock_info("p4", "parent"), None).unwrap();
    assert_eq!(again.info().run_id, "p4");
}

/// A ledger with every kind of row: runs, templates, sends in several states,
/// suppressions (added and removed), inbound replies and receipts.
/// A registry and a send's facts (schema 8) and a keyword reply (schema 10) for the numbers
/// of [`populate`].
fn add_reply(l: &mut dyn Ledger) {
    let k = key();
    let mut numbers = Some(vec![herald_ledger::DncChange {
        recipient: k.recipient_id(Channel::Sms, &phone(3)),
        add: true,
    }]);
    l.dnc_import(
        &herald_ledger::DncImport {
            source: "national".into(),
            downloaded_on: "2026-12-01".parse().unwrap(),
            kind: herald_ledger::DncFileKind::Full,
            file_digest: "sha256:00".into(),
        },
        &mut || Ok(numbers.take()),
    )
    .unwrap();
    l.record_send_facts(&[herald_ledger::SendFacts {
        campaign: "c".into(),
        row_key: "row-00".into(),
        facts: r#"{"zones":["America/New_York"]}"#.into(),
    }])
    .unwrap();
    assert_eq!(
        l.claim_reply(&herald_ledger::ReplyClaim {
            inbound_id: "in-1".into(),
            kind: herald_ledger::ReplyKind::Help,
            recipient: k.recipient_id(Channel::Sms, &phone(3)),
            masked: mask_phone(&phone(3)),
            text_hash: "0".repeat(64),
            skip: None,
        })
        .unwrap(),
        herald_ledger::ReplyClaimResult::Claimed
    );
    l.record_reply(
        "in-1",
        &herald_ledger::ReplyOutcome::Sent("m-confirm".into()),
    )
    .unwrap();
}

fn populate(l: &mut dyn Ledger) {
    let k = key();
    new_run(l, "r1");
    l.record_template_write(&TemplateWrite {
        run_id: "r1".into(),
        name: "promo".into(),
        response_id: "resp-1".into(),
        version: 1,
        content_hash: "v1:h".into(),
        remote_hash: "v1:h".into(),
        git_commit: Some("abc123".into()),
        overwrote_hash: None,
    })
    .unwrap();
    let claims: Vec<Claim> = (0..12)
        .map(|i| claim(&k, &format!("row-{i:02}"), i))
        .collect();
    l.claim_batch("r1", "c", &claims, Redo::NONE).unwrap();
    let mut outcomes: Vec<Outcome> = (0..8)
        .map(|i| sent(&format!("row-{i:02}"), &format!("m{i}")))
        .collect();
    outcomes.push(Outcome {
        campaign: "c".into(),
        row_key: "row-08".into(),
        result: OutcomeResult::Unknown {
            reason: "timeout".into(),
        },
    });
    l.record_outcomes("r1", &outcomes).unwrap();
    l.record_receipt("m1", "Delivered", None, Timestamp::now())
        .unwrap();
    l.suppress(&Suppression {
        recipient: k.recipient_id(Channel::Email, "jane@example.com"),
        masked: mask_email("jane@example.com"),
        channel: None,
        reason: "GDPR objection".into(),
        source: "cli:alice".into(),
    })
    .unwrap();
    l.record_inbound(&InboundRecord {
        message_id: "in-1".into(),
        recipient: k.recipient_id(Channel::Sms, &phone(3)),
        masked: mask_phone(&phone(3)),
        channel: Channel::Sms,
        action: InboundAction::Suppress,
        flagged: true,
        received_at: Timestamp::now(),
        text_mac: None,
    })
    .unwrap();
    l.unsuppress(
        &k.recipient_id(Channel::Sms, &phone(3)),
        None,
        "re-consented",
        "cli:bob",
    )
    .unwrap();
    l.recover_dispatching().unwrap();
    l.finish_run("r1", "ok").unwrap();
    assert!(l.verify().unwrap().ok);
}

fn assert_same(a: &dyn Ledger, b: &dyn Ledger) {
    assert_eq!(a.table_counts().unwrap(), b.table_counts().unwrap());
    assert_eq!(a.events(0, 10_000).unwrap(), b.events(0, 10_000).unwrap());
    assert_eq!(
        a.sends_in_state(None, SendState::Unknown).unwrap(),
        b.sends_in_state(None, SendState::Unknown).unwrap()
    );
    assert_eq!(a.runs(10).unwrap(), b.runs(10).unwrap());
    assert_eq!(a.suppressions().unwrap(), b.suppressions().unwrap());
    assert_eq!(
        a.suppression_history(None).unwrap(),
        b.suppression_history(None).unwrap()
    );
    assert_eq!(
        a.template_history(None).unwrap(),
        b.template_history(None).unwrap()
    );
    let (va, vb) = (a.verify().unwrap(), b.verify().unwrap());
    assert!(va.ok && vb.ok, "{va:?} / {vb:?}");
    assert_eq!(va, vb);
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn migrate_sqlite_to_postgres_and_back() {
    let base = server();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
    populate(&mut lite);
    // A messaging-campaign wave with a handed-off row: `waves` is copied too.
    let wave = herald_ledger::Wave {
        campaign: "mc".into(),
        wave: 1,
        channel: Channel::Sms,
        status: herald_ledger::WaveStatus::Recorded,
        contacts: 0,
        contact_list_id: None,
        genesys_campaign_id: None,
    };
    lite.record_wave("r1", &wave).unwrap();
    lite.hand_off_batch("r1", "mc", 1, &[claim(&key(), "row-h", 40)], Redo::NONE)
        .unwrap();
    add_reply(&mut lite);

    let schema = Schema::new(&base);
    let mut pg = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    let report = migrate_ledger(&lite, &mut pg).unwrap();
    assert_eq!(report.tables["sends"], 13);
    assert_eq!(report.tables["waves"], 1);
    assert_eq!(
        report.tables["events"],
        lite.events(0, 10_000).unwrap().len() as u64
    );
    assert_eq!(report.tables, lite.table_counts().unwrap());
    assert!(
        report.tables.values().all(|n| *n > 0),
        "{:?}",
        report.tables
    );
    assert_eq!(report.sends_verified, 13);
    assert_same(&lite, &pg);
    assert_eq!(pg.waves(None).unwrap(), lite.waves(None).unwrap());

    // A second copy into a ledger that now holds data is refused, and changes nothing.
    let before = pg.table_counts().unwrap();
    let err = migrate_ledger(&lite, &mut pg).unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyExists { .. }), "{err}");
    assert_eq!(pg.table_counts().unwrap(), before);

    // The copy is a working ledger: the chain continues and ids continue after the copy.
    new_run(&mut pg, "r2");
    let res = pg
        .claim_batch(
            "r2",
            "c",
            &[claim(&key(), "row-08", 8), claim(&key(), "row-20", 20)],
            Redo::NONE,
        )
        .unwrap();
    assert_eq!(
        res,
        vec![
            ClaimResult::Skipped(SendState::Unknown),
            ClaimResult::Claimed
        ]
    );
    pg.suppress(&Suppression {
        recipient: key().recipient_id(Channel::Sms, &phone(30)),
        masked: mask_phone(&phone(30)),
        channel: Some(Channel::Sms),
        reason: "STOP".into(),
        source: "serve".into(),
    })
    .unwrap();
    assert_eq!(pg.suppression_history(None).unwrap().len(), 4);
    assert!(pg.verify().unwrap().ok);

    // And back to a new SQLite file, byte for byte the same history.
    let mut back = SqliteLedger::open(&dir.path().join("back.db"), &key()).unwrap();
    migrate_ledger(&pg, &mut back).unwrap();
    assert_same(&pg, &back);

    // A target created with another key is refused before anything is written.
    let other = Schema::new(&base);
    let other_key =
        LedgerKey::from_secret("1816585037f66bfc0cf0026303055b3b191c665f9cc2040c4d1a433756a07b7f")
            .unwrap();
    let mut wrong = PostgresLedger::connect(&other.url(), &other_key).unwrap();
    match migrate_ledger(&lite, &mut wrong) {
        Err(LedgerError::WrongKey { expected, actual }) => {
            assert_eq!(expected, key().fingerprint());
            assert_eq!(actual, other_key.fingerprint());
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert_eq!(wrong.table_counts().unwrap()["events"], 1);
    assert!(wrong.verify().unwrap().ok);
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn wrong_key_and_newer_schema_are_refused() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let first = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(first.open_report().migrated_from, Some(0));
    assert_eq!(first.schema(), schema.name);
    assert!(!format!("{first:?}").contains("search_path"));
    drop(first);
    let other =
        LedgerKey::from_secret("1816585037f66bfc0cf0026303055b3b191c665f9cc2040c4d1a433756a07b7f")
            .unwrap();
    match PostgresLedger::connect(&url, &other) {
        Err(LedgerError::WrongKey { expected, actual }) => {
            assert_eq!(expected, key().fingerprint());
            assert_eq!(actual, other.fingerprint());
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let again = PostgresLedger::connect(&url, &key()).unwrap();
    assert!(!again.open_report().created);
    assert_eq!(again.open_report().migrated_from, None);
    assert_eq!(again.integrity_check().unwrap(), vec!["ok"]);
    drop(again);

    // The backend-neutral location picks the advisory lock and refuses a mismatched lock.
    let loc = LedgerLocation::parse(&url).unwrap();
    assert!(loc.is_postgres());
    let lock = loc.acquire_lock(lock_info("loc", "h"), None).unwrap();
    assert!(matches!(lock, LedgerLock::Postgres(_)));
    let (mut l, report) = loc.open_locked(&key(), &lock).unwrap();
    assert_eq!(report.recovered_unknown, 0);
    new_run(l.as_mut(), "loc");
    drop(l);
    let dir = tempfile::tempdir().unwrap();
    let file = LedgerLocation::sqlite(dir.path().join("l.db"));
    let err = file.open_locked(&key(), &lock).err().unwrap();
    assert!(matches!(err, LedgerError::Backend(_)), "{err}");
    drop(lock);

    schema
        .client()
        .batch_execute(&format!(
            "UPDATE herald_meta SET schema_version = {}",
            herald_ledger::SCHEMA_VERSION + 1
        ))
        .unwrap();
    match PostgresLedger::connect(&url, &key()) {
        Err(LedgerError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!(found, herald_ledger::SCHEMA_VERSION + 1);
            assert_eq!(supported, herald_ledger::SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }

    // A search_path naming no existing schema is refused with an explanation.
    let missing = format!(
        "{base}{}options=-csearch_path%3Dherald_test_does_not_exist",
        if base.contains('?') { '&' } else { '?' }
    );
    let err = PostgresLedger::connect(&missing, &key()).unwrap_err();
    assert!(err.to_string().contains("no schema selected"), "{err}");
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_catches_tampering_and_history_is_append_only() {
    let base = server();
    let schema = Schema::new(&base);
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    populate(&mut l);
    let mut c = schema.client();
    for sql in [
        "UPDATE events SET payload_json = '{}' WHERE seq = 1",
        "DELETE FROM events",
        "TRUNCATE events",
        "DELETE FROM suppression_audit",
        "UPDATE template_versions SET version = 9",
    ] {
        let err = c.batch_execute(sql).unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().contains("append-only")),
            "{sql}: {err}"
        );
    }
    // Someone "un-sends" a row to get it messaged again.
    c.batch_execute(
        "UPDATE sends SET state = 'pending', message_id = NULL WHERE row_key = 'row-03'",
    )
    .unwrap();
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert!(broken.reason.contains("c/row-03"), "{}", broken.reason);
    assert!(broken.seq.is_some());

    // Disabling the guards shows up in the integrity check.
    c.batch_execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .unwrap();
    let problems = l.integrity_check().unwrap();
    assert_ne!(problems, vec!["ok"]);
    assert!(problems[0].contains("append-only"), "{problems:?}");
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn no_raw_address_reaches_the_database() {
    let base = server();
    let schema = Schema::new(&base);
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    populate(&mut l);
    let mut c = schema.client();
    let mut text = String::new();
    for table in RawTable::ALL {
        let row = c
            .query_one(
                &format!(
                    "SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM {} t",
                    table.name()
                ),
                &[],
            )
            .unwrap();
        text.push_str(row.get::<_, &str>(0));
    }
    assert!(text.contains("+1******0003"), "masked form is stored");
    assert!(
        !text.contains("5550100003"),
        "raw phone digits must not be stored"
    );
    assert!(
        !text.contains("jane@example.com"),
        "raw email must not be stored"
    );
    assert!(text.contains("j***@example.com"));
    assert!(
        !text.contains("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8"),
        "key material must not be stored"
    );
    assert!(text.contains(&key().fingerprint()));
}

/// A SQLite ledger written before both backends shared one core is migrated to the keyed
/// chain on open (one `chain_keyed` event more), copies into PostgreSQL and verifies there,
/// and the chain continues.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_ledger_written_by_the_previous_backends_migrates_and_verifies() {
    let base = server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    fs_err::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1.db"),
        &path,
    )
    .unwrap();
    let k = fixture_key();
    let lite = SqliteLedger::open(&path, &k).unwrap();
    let schema = Schema::new(&base);
    let mut pg = PostgresLedger::connect(&schema.url(), &k).unwrap();
    let report = migrate_ledger(&lite, &mut pg).unwrap();
    assert_eq!(
        (
            report.events_verified,
            report.sends_verified,
            report.suppressions_verified
        ),
        (23, 12, 2)
    );
    new_run(&mut pg, "run-3");
    let res = pg
        .claim_batch(
            "run-3",
            "autumn",
            &[claim(&k, "a-1", 20), claim(&k, "a-9", 29)],
            Redo::UNKNOWN,
        )
        .unwrap();
    assert_eq!(res, [ClaimResult::Claimed, ClaimResult::Claimed]);
    let report = pg.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 25);
}

/// Lifts the append-only guards someone with the schema owner's rights can disable.
fn disable_guards(c: &mut postgres::Client) {
    c.batch_execute(
        "ALTER TABLE template_versions DISABLE TRIGGER template_versions_append_only; \
         ALTER TABLE suppression_audit DISABLE TRIGGER suppression_audit_append_only; \
         ALTER TABLE events DISABLE TRIGGER events_append_only;",
    )
    .unwrap();
}

/// Every table `verify` replays: an UPDATE of a column, a DELETE and an INSERT outside
/// herald are each reported, naming the table (the same cases as on SQLite).
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_catches_tampering_with_every_table() {
    let base = server();
    for (i, (_, sql)) in herald_ledger::testing::TAMPERS.iter().enumerate() {
        let schema = Schema::new(&base);
        let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
        herald_ledger::testing::populate_every_table(&mut l);
        let mut c = schema.client();
        disable_guards(&mut c);
        c.batch_execute(sql).unwrap();
        herald_ledger::testing::assert_tamper_caught(&l, i);
    }
}

/// Incremental verify from a recorded verified head (the same cases as on SQLite).
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn incremental_verify_checks_what_changed_and_the_checkpoint() {
    let base = server();
    let schema = Schema::new(&base);
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    let mut c = schema.client();
    disable_guards(&mut c);
    herald_ledger::testing::incremental_verify_checks(&mut l, &mut |sql| {
        c.batch_execute(sql).unwrap();
    });
    c.batch_execute(
        "UPDATE meta SET value = '999' || substr(value, 2) WHERE key = 'verified_head'",
    )
    .unwrap();
    assert_eq!(l.verified_head().unwrap(), None);
}

/// Editing a row and its event, then recomputing the chain without the key (plain SHA-256,
/// as the links used to be), is caught: the links are keyed.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_chain_recomputed_without_the_key_is_refused() {
    let base = server();
    let schema = Schema::new(&base);
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    populate(&mut l);
    let mut c = schema.client();
    disable_guards(&mut c);
    c.batch_execute(
        "UPDATE events SET payload_json = replace(payload_json, '\"sum\":', '\"sum\":1') \
         WHERE kind = 'outcomes_recorded'; \
         UPDATE sends SET message_id = 'mX' WHERE row_key = 'row-03';",
    )
    .unwrap();
    for sql in herald_ledger::testing::plain_relink_sql(&l) {
        c.batch_execute(&sql).unwrap();
    }
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, Some(1), "{}", broken.reason);
    assert!(broken.reason.contains("modified"), "{}", broken.reason);
    assert!(!l.verify_chain().unwrap().ok);
}

/// Cutting the chain's tail together with the rows its events cover: the checkpoint, sealed
/// at the cut event, no longer names the head, and the head kept from before the cut is not
/// in the chain.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_cut_tail_no_longer_contains_the_kept_head() {
    let base = server();
    let schema = Schema::new(&base);
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    herald_ledger::testing::populate_every_table(&mut l);
    let kept = l.head().unwrap().unwrap();
    let mut c = schema.client();
    disable_guards(&mut c);
    for sql in herald_ledger::testing::CUT_TAIL {
        assert_eq!(c.execute(*sql, &[]).unwrap(), 1, "{sql}");
    }
    let report = l.verify().unwrap();
    assert!(!report.ok);
    assert!(
        report.first_broken.unwrap().reason.contains("checkpoint"),
        "the cut is reported by the checkpoint"
    );
    assert!(!l.check_checkpoint().unwrap().ok);
    assert!(!l.contains_head(&kept).unwrap());
    assert_eq!(l.head().unwrap().unwrap().seq, kept.seq - 1);
}

/// A PostgreSQL ledger at schema 1 (before `inbound.text_mac`) migrates in place on connect,
/// keeps its rows and chain, and records text MACs afterwards.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_1_ledger_migrates_and_verifies() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    populate(&mut l);
    let before = l.verify().unwrap();
    drop(l);
    // Back to what schema 1 created.
    schema.client().batch_execute(CHANNEL_CHECKS).unwrap();
    schema
        .client()
        .batch_execute(
            "DROP TABLE dnc_registries; DROP TABLE dnc_numbers; DROP TABLE send_facts; DROP TABLE waves; DROP TABLE keyword_replies; DELETE FROM row_counts WHERE name = 'keyword_replies'; \
             DROP INDEX inbound_recipient; ALTER TABLE inbound DROP COLUMN text_mac; \
             DROP INDEX sends_recent; DROP INDEX sends_recent_by_time; \
             ALTER TABLE sends DROP COLUMN category; \
             DROP TABLE checkpoint; DROP TABLE row_counts; \
             DROP FUNCTION herald_count_rows() CASCADE; DROP FUNCTION herald_count_send_states() CASCADE; \
             UPDATE herald_meta SET schema_version = 1",
        )
        .unwrap();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(1));
    let after = l.verify().unwrap();
    assert!(after.ok, "{after:?}");
    assert_eq!(after.events_checked, before.events_checked);
    assert_eq!(l.integrity_check().unwrap(), vec!["ok"]);
    let k = key();
    let reply = InboundRecord {
        message_id: "in-2".into(),
        recipient: k.recipient_id(Channel::Sms, &phone(4)),
        masked: mask_phone(&phone(4)),
        channel: Channel::Sms,
        action: InboundAction::Help,
        flagged: false,
        received_at: Timestamp::now(),
        text_mac: Some(k.text_mac("HELP")),
    };
    l.record_inbound(&reply).unwrap();
    let conflict = InboundRecord {
        text_mac: Some(k.text_mac("help me")),
        ..reply
    };
    assert_eq!(
        l.record_inbound(&conflict).unwrap(),
        herald_ledger::InboundResult::Conflict {
            suppression_changed: false
        }
    );
    // The old row has no MAC: a replay of it is a plain duplicate.
    let old = InboundRecord {
        message_id: "in-1".into(),
        ..conflict
    };
    assert_eq!(
        l.record_inbound(&old).unwrap(),
        herald_ledger::InboundResult::Duplicate
    );
    assert!(l.verify().unwrap().ok);
}

/// Rows edited behind the chain (the chain untouched) are refused by the cheap checkpoint
/// check `apply` runs, and a later write does not absorb the edit (as on SQLite).
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn the_checkpoint_catches_rows_edited_behind_the_chain() {
    let base = server();
    for (i, (_, sql)) in herald_ledger::testing::CHECKPOINT_TAMPERS
        .iter()
        .enumerate()
    {
        let schema = Schema::new(&base);
        let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
        herald_ledger::testing::populate_every_table(&mut l);
        let report = l.check_checkpoint().unwrap();
        assert!(report.ok, "{report:?}");
        schema.client().batch_execute(sql).unwrap();
        herald_ledger::testing::assert_checkpoint_catches(&mut l, i);
    }
}

/// What schemas 1 to 6 had and schema 7 dropped: the hand-written channel lists of `sends`
/// and `suppressions`.
const CHANNEL_CHECKS: &str = "ALTER TABLE sends ADD CONSTRAINT sends_channel_check \
       CHECK (channel IN ('sms', 'email')); \
     ALTER TABLE suppressions ADD CONSTRAINT suppressions_channel_check \
       CHECK (channel IN ('sms', 'email', '*'));";

/// Back to what schema 5 had: no checkpoint, no row counts (and the channel lists).
const TO_SCHEMA_5: &str = "DROP TABLE dnc_registries; DROP TABLE dnc_numbers; DROP TABLE send_facts; DROP TABLE waves; DROP TABLE keyword_replies; DELETE FROM row_counts WHERE name = 'keyword_replies'; \
     DROP TABLE checkpoint; DROP TABLE row_counts; \
     DROP FUNCTION herald_count_rows() CASCADE; DROP FUNCTION herald_count_send_states() CASCADE; \
     UPDATE herald_meta SET schema_version = 5";

/// A schema-5 ledger migrates to 6 on connect: its first checkpoint is sealed only after a
/// full verify passes, so a schema-5 ledger whose rows were edited gets none and `apply`'s
/// check refuses it.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_5_ledger_gets_its_first_checkpoint_only_if_it_verifies() {
    let base = server();
    for tampered in [false, true] {
        let schema = Schema::new(&base);
        let url = schema.url();
        let mut l = PostgresLedger::connect(&url, &key()).unwrap();
        herald_ledger::testing::populate_schema_8_tables(&mut l);
        drop(l);
        schema.client().batch_execute(CHANNEL_CHECKS).unwrap();
        schema.client().batch_execute(TO_SCHEMA_5).unwrap();
        if tampered {
            schema
                .client()
                .batch_execute("DELETE FROM suppressions")
                .unwrap();
        }
        let l = PostgresLedger::connect(&url, &key()).unwrap();
        assert_eq!(l.open_report().migrated_from, Some(5));
        let check = l.check_checkpoint().unwrap();
        assert_eq!(check.ok, !tampered, "{check:?}");
        assert_eq!(l.verify().unwrap().ok, !tampered);
        if tampered {
            assert!(check.problem.unwrap().contains("no checkpoint"));
        }
    }
}

/// A schema-6 ledger migrates to 7 on connect: the channel lists go, every row stays, it
/// still verifies and its checkpoint still holds; a channel the code does not know is
/// refused by the codec, not by SQL.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_6_ledger_migrates_to_7_without_channel_lists() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    herald_ledger::testing::populate_schema_8_tables(&mut l);
    let counts = l.table_counts().unwrap();
    drop(l);
    // Back to schema 6: the channel lists, and the row counts kept by row-level triggers
    // (schema 6's own migration, over the schema-5 tables).
    schema.client().batch_execute(CHANNEL_CHECKS).unwrap();
    schema.client().batch_execute(TO_SCHEMA_5).unwrap();
    schema
        .client()
        .batch_execute(include_str!(
            "../src/migrations/postgres/0006_checkpoint.sql"
        ))
        .unwrap();
    schema
        .client()
        .batch_execute("UPDATE herald_meta SET schema_version = 6")
        .unwrap();
    let row_triggers = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            "SELECT COUNT(*) FROM information_schema.triggers \
             WHERE trigger_schema = current_schema() AND action_orientation = 'ROW'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(row_triggers(&mut schema.client()) > 0);
    let channel_checks = |c: &mut postgres::Client| -> i64 {
        c.query_one(
            // `OFFSET 0` keeps the filter on this schema before `pg_get_constraintdef`, which
            // fails on a constraint that another test's schema drops meanwhile.
            "SELECT COUNT(*) FROM (SELECT oid FROM pg_constraint \
             WHERE connamespace = current_schema()::regnamespace AND contype = 'c' OFFSET 0) c \
             WHERE pg_get_constraintdef(c.oid) LIKE '%sms%'",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(channel_checks(&mut schema.client()), 2);
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(6));
    assert_eq!(channel_checks(&mut schema.client()), 0);
    // Row counts are kept per statement now (the append-only guards stay row-level).
    let counting_row_triggers: i64 = schema
        .client()
        .query_one(
            "SELECT COUNT(*) FROM information_schema.triggers \
             WHERE trigger_schema = current_schema() AND action_orientation = 'ROW' \
             AND action_statement LIKE '%herald_count%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(counting_row_triggers, 0);
    assert_eq!(l.table_counts().unwrap(), counts);
    assert!(l.verify().unwrap().ok);
    assert!(l.check_checkpoint().unwrap().ok);
    // New writes are counted by the statement triggers and sealed into the checkpoint.
    let phone = "+15550199999";
    assert!(
        l.suppress(&Suppression {
            recipient: key().recipient_id(Channel::Sms, phone),
            masked: mask_phone(phone),
            channel: Some(Channel::Sms),
            reason: "manual".into(),
            source: "cli:test".into(),
        })
        .unwrap()
    );
    new_run(&mut l, "after-7");
    let claims: Vec<Claim> = (0..3)
        .map(|i| {
            let phone = format!("+1555019900{i}");
            Claim {
                row_key: format!("k7-{i}"),
                recipient: key().recipient_id(Channel::Sms, &phone),
                masked: mask_phone(&phone),
                channel: Channel::Sms,
                template_hash: "sha256:07".into(),
                category: None,
                caps: Vec::new(),
            }
        })
        .collect();
    l.claim_batch("after-7", "c7", &claims, Redo::NONE).unwrap();
    let outcomes: Vec<Outcome> = claims
        .iter()
        .map(|c| Outcome {
            campaign: "c7".into(),
            row_key: c.row_key.clone(),
            result: OutcomeResult::Sent {
                handle: herald_ledger::DispatchHandle::message(format!("m7-{}", c.row_key), None),
            },
        })
        .collect();
    l.record_outcomes("after-7", &outcomes).unwrap();
    assert!(l.check_checkpoint().unwrap().ok);
    assert!(l.verify().unwrap().ok);
    let sent: i64 = schema
        .client()
        .query_one("SELECT n FROM row_counts WHERE name = 'sends:sent'", &[])
        .unwrap()
        .get(0);
    let counted: i64 = schema
        .client()
        .query_one("SELECT COUNT(*) FROM sends WHERE state = 'sent'", &[])
        .unwrap()
        .get(0);
    assert_eq!(sent, counted);
    schema
        .client()
        .batch_execute(
            "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
             SELECT recipient, 'fax', masked, reason, source, since FROM suppressions LIMIT 1",
        )
        .unwrap();
    assert!(l.suppressions().is_err());
    assert!(!l.check_checkpoint().unwrap().ok);
}

/// The benchmark helper writes a PostgreSQL ledger that verifies, with a checkpoint that holds.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_synthetic_ledger_verifies() {
    use herald_ledger::synthetic::{FillSpec, fill_sent};
    let schema = Schema::new(&server());
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
    spec.batch = 1_000;
    fill_sent(&mut l, &key(), &spec).unwrap();
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.sends_checked), (9, 2_500));
    assert!(l.check_checkpoint().unwrap().ok);
    schema
        .client()
        .batch_execute("DELETE FROM sends WHERE row_key = 'cust-0000001234'")
        .unwrap();
    assert!(!l.verify().unwrap().ok);
}

/// A PostgreSQL ledger at schema 7 (before the Do-Not-Call registries) migrates to 8 on
/// connect: its rows and chain are kept, the new tables are empty and usable, and it verifies.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_7_ledger_migrates_to_8() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    populate(&mut l);
    let before = l.verify().unwrap();
    drop(l);
    schema
        .client()
        .batch_execute(
            "DROP TABLE dnc_registries; DROP TABLE dnc_numbers; DROP TABLE send_facts; DROP TABLE waves; DROP TABLE keyword_replies; DELETE FROM row_counts WHERE name = 'keyword_replies'; \
             DELETE FROM row_counts WHERE name IN ('waves', 'sends:handed_off'); \
             UPDATE herald_meta SET schema_version = 7",
        )
        .unwrap();
    let l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(7));
    let after = l.verify().unwrap();
    assert!(after.ok, "{after:?}");
    assert_eq!(after.events_checked, before.events_checked);
    assert!(l.check_checkpoint().unwrap().ok);
    assert!(l.dnc_registries().unwrap().is_empty());
    let mut l = l;
    herald_ledger::testing::dnc_registries_import_lookup_and_audit(&mut l);
}

/// A PostgreSQL ledger at schema 8 (before messaging-campaign waves) migrates to 9 on
/// connect: its rows and chain are kept, `sends` takes `handed_off`, the `waves` table is
/// empty and usable, the checkpoint still holds, and it verifies.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_8_ledger_migrates_to_9() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    herald_ledger::testing::populate_schema_8_tables(&mut l);
    let before = l.verify().unwrap();
    drop(l);
    schema
        .client()
        .batch_execute(
            "DROP TABLE keyword_replies; DROP TABLE waves; DELETE FROM row_counts WHERE name IN ('waves', 'sends:handed_off', 'keyword_replies'); \
             ALTER TABLE sends DROP CONSTRAINT sends_state_check; \
             ALTER TABLE sends ADD CONSTRAINT sends_state_check CHECK \
             (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed')); \
             UPDATE herald_meta SET schema_version = 8",
        )
        .unwrap();
    let refused = schema
        .client()
        .batch_execute("UPDATE sends SET state = 'handed_off' WHERE row_key = 'k0'");
    assert!(refused.is_err(), "a schema-8 `sends` took `handed_off`");
    let l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(8));
    let after = l.verify().unwrap();
    assert!(after.ok, "{after:?}");
    assert_eq!(after.events_checked, before.events_checked);
    assert!(l.check_checkpoint().unwrap().ok);
    assert!(l.waves(None).unwrap().is_empty());
    let mut l = l;
    herald_ledger::testing::waves_hand_off_and_resolve_rows(&mut l);
}

/// A PostgreSQL ledger at schema 10 (events that carry every send's image, rows without
/// seals) migrates to 11 on connect: verified against its images, every `sends` and
/// `conversations` row sealed in one `rows_sealed` event, and it verifies; an edited row is
/// still named with its column. A schema-8 ledger whose rows were edited is refused and its
/// rows stay unsealed.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_10_ledger_is_sealed_on_connect_and_verifies() {
    use herald_ledger::synthetic::{FillSpec, fill_sent, mark_unsealed_sql};
    let base = server();
    for tampered in [false, true] {
        let schema = Schema::new(&base);
        let url = schema.url();
        let mut l = PostgresLedger::connect(&url, &key()).unwrap();
        let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
        spec.per_campaign = 2_000;
        spec.images = true;
        fill_sent(&mut l, &key(), &spec).unwrap();
        let events = l.events(0, usize::MAX).unwrap().len();
        drop(l);
        let mut c = schema.client();
        c.batch_execute(mark_unsealed_sql()).unwrap();
        c.batch_execute(
            "ALTER TABLE sends DROP COLUMN seq, DROP COLUMN mac, DROP COLUMN tags; \
             ALTER TABLE conversations DROP COLUMN seq, DROP COLUMN mac, DROP COLUMN tags; \
             UPDATE herald_meta SET schema_version = 10",
        )
        .unwrap();
        if tampered {
            c.batch_execute(
                "UPDATE sends SET template_hash = 'v1:evil' WHERE row_key = 'cust-0000000042'",
            )
            .unwrap();
        }
        let opened = PostgresLedger::connect(&url, &key());
        if tampered {
            let Err(err) = opened else {
                panic!("a tampered schema-8 ledger is refused")
            };
            let err = err.to_string();
            assert!(
                err.contains("cannot convert") && err.contains("template_hash"),
                "{err}"
            );
            let row = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM sends WHERE mac IS NOT NULL)",
                    &[],
                )
                .unwrap();
            let (n, sealed): (i64, i64) = (row.get(0), row.get(1));
            assert_eq!((n, sealed), (i64::try_from(events).unwrap(), 0));
            continue;
        }
        let l = opened.unwrap();
        assert_eq!(l.open_report().migrated_from, Some(10));
        let all = l.events(0, usize::MAX).unwrap();
        assert_eq!(all.len(), events + 1);
        assert_eq!(all.last().unwrap().kind, "rows_sealed");
        let report = l.verify().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.sends_checked, 2_500);
        assert!(l.check_checkpoint().unwrap().ok);
        c.batch_execute(
            "UPDATE sends SET template_hash = 'v1:evil' WHERE row_key = 'cust-0000000042'",
        )
        .unwrap();
        let broken = l.verify().unwrap().first_broken.unwrap();
        assert!(
            broken.reason.contains("bench-0000/cust-0000000042")
                && broken.reason.contains("template_hash"),
            "{}",
            broken.reason
        );
    }
}

/// After a cut, the hot ledger's verify still balances every event and still catches a hot row
/// deleted behind the chain (the same case as on SQLite).
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_after_an_archive_still_catches_a_deleted_row() {
    let schema = Schema::new(&server());
    let mut l = PostgresLedger::connect(&schema.url(), &key()).unwrap();
    let mut c = schema.client();
    herald_ledger::testing::archive_then_hot_row_deleted(&mut l, &mut |sql| {
        c.batch_execute(sql).unwrap();
    });
}

/// A schema-12 PostgreSQL ledger (no `events_kind` index) migrates to 13 on connect: its rows,
/// chain and checkpoint are kept and the index is added.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn a_schema_11_ledger_migrates_to_13() {
    let schema = Schema::new(&server());
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    l.begin_run(&NewRun {
        run_id: "r1".into(),
        command: "apply".into(),
        user: "t".into(),
        host: "h".into(),
        git_commit: None,
        plan_hash: None,
    })
    .unwrap();
    l.suppress(&Suppression {
        recipient: key().recipient_id(Channel::Sms, "+15550100000"),
        masked: mask_phone("+15550100000"),
        channel: Some(Channel::Sms),
        reason: "test".into(),
        source: "cli:test".into(),
    })
    .unwrap();
    let events = l.events(0, usize::MAX).unwrap().len();
    drop(l);
    let mut c = schema.client();
    c.batch_execute("DROP INDEX events_kind; UPDATE herald_meta SET schema_version = 12")
        .unwrap();
    let l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(12));
    assert_eq!(l.events(0, usize::MAX).unwrap().len(), events);
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'events_kind' \
             AND schemaname = current_schema()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert!(l.verify().unwrap().ok);
    assert!(l.check_checkpoint().unwrap().ok);
}

/// A schema-11 ledger (ids as text, `sends_recipient` and the whole of `sends_state`, no
/// `id_pack` / `id_unpack` functions) migrates to 12 on connect: its ids are stored as bytes
/// and read back as the same strings (every form, a non-UUID id included), and it still
/// verifies without resealing, its checkpoint holds, and an id edited in its bytes is named
/// with its column.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and pass --include-ignored"]
fn a_schema_11_ledger_migrates_to_12() {
    let base = server();
    let schema = Schema::new(&base);
    let url = schema.url();
    let mut l = PostgresLedger::connect(&url, &key()).unwrap();
    herald_ledger::testing::populate_packed_ids(&mut l);
    let before = herald_ledger::testing::logical_rows(&l);
    let events = l.events(0, usize::MAX).unwrap().len();
    drop(l);
    let mut c = schema.client();
    let id_types = |c: &mut postgres::Client| -> Vec<String> {
        c.query(
            "SELECT DISTINCT data_type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name IN ('sends', 'conversations') \
             AND column_name IN ('recipient', 'template_hash', 'message_id', 'conversation_id')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    c.batch_execute(
        "ALTER TABLE sends \
           ALTER COLUMN recipient TYPE text COLLATE \"C\" USING id_unpack(recipient), \
           ALTER COLUMN template_hash TYPE text USING id_unpack(template_hash), \
           ALTER COLUMN message_id TYPE text COLLATE \"C\" USING id_unpack(message_id), \
           ALTER COLUMN conversation_id TYPE text USING id_unpack(conversation_id); \
         ALTER TABLE conversations \
           ALTER COLUMN recipient TYPE text COLLATE \"C\" USING id_unpack(recipient), \
           ALTER COLUMN conversation_id TYPE text USING id_unpack(conversation_id); \
         DROP INDEX sends_state; \
         CREATE INDEX sends_state ON sends (state, campaign); \
         CREATE INDEX sends_recipient ON sends (campaign, recipient); \
         DROP FUNCTION id_pack(text); DROP FUNCTION id_unpack(bytea); \
         UPDATE herald_meta SET schema_version = 11",
    )
    .unwrap();
    assert_eq!(id_types(&mut c), ["text"]);

    let l = PostgresLedger::connect(&url, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(11));
    assert_eq!(id_types(&mut c), ["bytea"]);
    assert_eq!(herald_ledger::testing::logical_rows(&l), before);
    assert_eq!(l.events(0, usize::MAX).unwrap().len(), events, "no reseal");
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(l.check_checkpoint().unwrap().ok);
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname || ': ' || indexdef FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = 'sends'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !indexes.iter().any(|i| i.starts_with("sends_recipient")),
        "{indexes:?}"
    );
    assert!(
        indexes
            .iter()
            .any(|i| i.starts_with("sends_state") && i.contains("WHERE (state <> 'sent'")),
        "{indexes:?}"
    );
    let lens: Vec<(String, i32)> = c
        .query(
            "SELECT row_key, length(message_id) FROM sends WHERE campaign = 'u' ORDER BY row_key",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        lens,
        [("u40".into(), 17), ("u41".into(), 37), ("u42".into(), 8)]
    );
    c.batch_execute(
        "UPDATE sends SET message_id = id_pack('4e7a11ce-0000-4000-8000-00000000002b') \
         WHERE row_key = 'u40'",
    )
    .unwrap();
    let broken = l.verify().unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("u/u40") && broken.reason.contains("message_id"),
        "{}",
        broken.reason
    );
}
