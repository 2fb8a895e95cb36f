//! SQLite backend tests: the shared conformance suite plus what only a file-backed ledger
//! has — permissions, key and schema checks, tampering with raw rows, crash recovery and
//! the run lock across real processes.
//!
//! Cross-process tests re-execute this test binary with `HERALD_LEDGER_TEST_CHILD` set; the
//! ignored `child_process` test is the child's entry point.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use herald_ledger::{
    Channel, Claim, ClaimResult, Ledger, LedgerError, LedgerKey, LedgerLocation, LedgerLock,
    LockError, LockInfo, NewRun, Outcome, OutcomeResult, Redo, RunLock, SendState, SqliteLedger,
    Suppression, mask_email, mask_phone, migrate_ledger,
};
use jiff::Timestamp;

const CHILD_ENV: &str = "HERALD_LEDGER_TEST_CHILD";
const DIR_ENV: &str = "HERALD_LEDGER_TEST_DIR";

/// The key the v1 fixture ledger was written with (before weak keys were refused).
fn fixture_key() -> LedgerKey {
    LedgerKey::from_weak_secret_for_tests(&"3c".repeat(32))
}

fn key() -> LedgerKey {
    LedgerKey::from_secret("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8")
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    fs_err::metadata(p).unwrap().permissions().mode() & 0o777
}

fn new_run(l: &mut dyn Ledger, id: &str) {
    l.begin_run(&NewRun {
        run_id: id.into(),
        command: "apply".into(),
        user: "tester".into(),
        host: "host".into(),
        git_commit: None,
        plan_hash: None,
    })
    .unwrap();
}

fn claim(k: &LedgerKey, row: &str, phone: &str) -> Claim {
    Claim {
        row_key: row.into(),
        recipient: k.recipient_id(Channel::Sms, phone),
        masked: mask_phone(phone),
        channel: Channel::Sms,
        template_hash: "v1:t".into(),
        category: None,
        caps: Vec::new(),
    }
}

/// The shared behaviour suite, one test per case, each on a fresh ledger file.
mod conformance {
    use herald_ledger::{Ledger, SqliteLedger};

    herald_ledger::conformance_tests!(
        make = || {
            let dir = tempfile::tempdir().unwrap();
            let ledger = SqliteLedger::open(&dir.path().join("ledger.db"), &super::key()).unwrap();
            (dir, Box::new(ledger) as Box<dyn Ledger>)
        }
    );
}

/// A ledger written before both backends shared one core (the fixture was made by that
/// code: runs, template writes and a rename, claims, every outcome, resolutions, receipts,
/// inbound STOP and START, suppressions, recovered `dispatching` rows) opens, is migrated to
/// the keyed chain (its plain chain verified, every event re-linked, the migration recorded
/// as one more event), verifies against every table and keeps verifying after new writes.
#[test]
fn a_ledger_written_by_the_previous_backends_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    fs_err::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1.db"),
        &path,
    )
    .unwrap();
    let k = fixture_key();
    let plain_head: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT hash FROM events WHERE seq = 21", [], |r| r.get(0))
        .unwrap();
    let l = SqliteLedger::open(&path, &k).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(1));
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(
        (
            report.events_checked,
            report.sends_checked,
            report.suppressions_checked
        ),
        (23, 12, 2)
    );
    // Two conversions on the first open with the key: the links, then the rows' seals.
    let migration = l.events(21, 10).unwrap();
    assert_eq!(migration.len(), 2);
    assert_eq!(migration[0].kind, "chain_keyed");
    assert_eq!(migration[1].kind, "rows_sealed");
    assert!(
        migration[0]
            .payload_json
            .contains(&format!("21:{plain_head}")),
        "{}",
        migration[0].payload_json
    );
    // Every link was recomputed under the key: none of the plain hashes is left.
    assert!(
        l.events(0, 100)
            .unwrap()
            .iter()
            .all(|e| e.hash != plain_head)
    );
    // Reopening does not migrate again.
    drop(l);
    let mut l = SqliteLedger::open(&path, &k).unwrap();
    assert_eq!(l.events(0, 100).unwrap().len(), 23);
    assert_eq!(
        l.send("spring", "row-3").unwrap().unwrap().state,
        SendState::Sent
    );
    assert_eq!(
        l.send("autumn", "a-1").unwrap().unwrap().state,
        SendState::Unknown
    );

    new_run(&mut l, "run-3");
    let res = l
        .claim_batch(
            "run-3",
            "autumn",
            &[
                claim(&k, "a-1", "+15550100020"),
                claim(&k, "a-9", "+15550100029"),
            ],
            Redo::UNKNOWN,
        )
        .unwrap();
    assert_eq!(res, [ClaimResult::Claimed, ClaimResult::Claimed]);
    l.record_outcomes(
        "run-3",
        &[Outcome {
            campaign: "autumn".into(),
            row_key: "a-1".into(),
            result: OutcomeResult::Sent {
                handle: herald_ledger::DispatchHandle::message("m-a1", Some("c-a1".into())),
            },
        }],
    )
    .unwrap();
    l.finish_run("run-3", "ok").unwrap();
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 27);
}

/// Spawns this test binary running the `child_process` test in `mode`.
fn spawn_child(mode: &str, dir: &Path, umask: Option<&str>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = if let Some(mask) = umask {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("umask {mask} && exec \"$0\" \"$@\""))
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(["--ignored", "--exact", "child_process", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn().unwrap()
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
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
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    match mode.as_str() {
        // Create a ledger (and let SQLite create -wal/-shm) under the inherited umask.
        "create" => {
            let mut l = SqliteLedger::open(&dir.join("state").join("ledger.db"), &key()).unwrap();
            new_run(&mut l, "perm-run");
            fs_err::write(dir.join("created"), b"").unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        // Commit a dispatching batch, then wait to be killed before recording outcomes.
        "crash" => {
            let k = key();
            let mut l = SqliteLedger::open(&dir.join("ledger.db"), &k).unwrap();
            new_run(&mut l, "crash-run");
            let claims: Vec<Claim> = (0..5)
                .map(|i| claim(&k, &format!("row-{i}"), &format!("+1555010{i:04}")))
                .collect();
            let res = l
                .claim_batch("crash-run", "c", &claims, Redo::NONE)
                .unwrap();
            assert!(res.iter().all(|r| *r == ClaimResult::Claimed));
            fs_err::write(dir.join("dispatching"), b"").unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        // Hold the run lock until killed.
        "lock" => {
            let info = LockInfo {
                pid: std::process::id(),
                host: "child-host".into(),
                run_id: "child-run".into(),
                started_at: Timestamp::now(),
                command: "apply".into(),
            };
            let _lock = RunLock::acquire(&dir.join("ledger.db.lock"), info, None).unwrap();
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
fn files_are_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let child = KillOnDrop(spawn_child("create", dir.path(), Some("022")));
    wait_for_file(&dir.path().join("created"));
    let state = dir.path().join("state");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("ledger.db")), 0o600);
    // The child is still running with the database open, so WAL and SHM files exist.
    assert_eq!(mode(&state.join("ledger.db-wal")), 0o600);
    assert_eq!(mode(&state.join("ledger.db-shm")), 0o600);
    drop(child);
}

#[test]
fn sigkill_between_dispatching_and_outcome_leaves_unknown_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("crash", dir.path(), None);
    wait_for_file(&dir.path().join("dispatching"));
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());

    let path = dir.path().join("ledger.db");
    // A reader that does not hold the lock must not touch in-flight rows.
    let reader = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(
        reader
            .sends_in_state(None, SendState::Dispatching)
            .unwrap()
            .len(),
        5
    );
    drop(reader);

    let info = LockInfo {
        pid: std::process::id(),
        host: "h".into(),
        run_id: "next".into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    };
    let lock = RunLock::acquire(&RunLock::path_for(&path), info, None).unwrap();
    let mut l = SqliteLedger::open_locked(&path, &key(), &lock).unwrap();
    assert_eq!(l.open_report().recovered_unknown, 5);
    let unknown = l.sends_in_state(Some("c"), SendState::Unknown).unwrap();
    assert_eq!(unknown.len(), 5);
    assert!(unknown.iter().all(|s| s.attempts == 1));
    // Unknown rows are not re-dispatched by a normal claim.
    new_run(&mut l, "next");
    let res = l
        .claim_batch(
            "next",
            "c",
            &[claim(&key(), "row-0", "+15550100000")],
            Redo::NONE,
        )
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Skipped(SendState::Unknown)]);
    assert!(l.verify().unwrap().ok);
    assert_eq!(l.integrity_check().unwrap(), vec!["ok"]);
}

#[test]
fn lock_is_contended_across_processes_and_freed_when_the_holder_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("lock", dir.path(), None);
    let child_pid = child.id();
    wait_for_file(&dir.path().join("locked"));
    let lock_path = dir.path().join("ledger.db.lock");
    let me = |run: &str| LockInfo {
        pid: std::process::id(),
        host: "parent".into(),
        run_id: run.into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    };
    match RunLock::acquire(&lock_path, me("p1"), None) {
        Err(LockError::Held { holder: Some(h) }) => {
            assert_eq!(h.pid, child_pid);
            assert_eq!(h.run_id, "child-run");
            assert_eq!(h.host, "child-host");
        }
        other => panic!("expected the child to hold the lock, got {other:?}"),
    }
    let err = RunLock::acquire(&lock_path, me("p2"), Some(Duration::from_millis(300))).unwrap_err();
    assert!(err.to_string().contains("child-run"), "{err}");

    child.kill().unwrap();
    child.wait().unwrap();
    let lock = RunLock::acquire(&lock_path, me("p3"), None).unwrap();
    assert_eq!(lock.info().run_id, "p3");
    let text = fs_err::read_to_string(&lock_path).unwrap();
    assert!(text.contains("\"p3\""), "{text}");
}

#[test]
fn wrong_key_is_refused_and_right_key_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::open(&path, &key()).unwrap());
    let other =
        LedgerKey::from_secret("2c6f7741d3222100e0b4eb70681aa7a337b521862a5dd32390c1280e23ad5f73")
            .unwrap();
    match SqliteLedger::open(&path, &other) {
        Err(LedgerError::WrongKey { expected, actual }) => {
            assert_eq!(expected, key().fingerprint());
            assert_eq!(actual, other.fingerprint());
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let l = SqliteLedger::open(&path, &key()).unwrap();
    assert!(!l.open_report().created);
    assert!(l.verify().unwrap().ok);
}

#[test]
fn ledger_from_a_newer_herald_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(0));
    l.connection()
        .execute_batch(&format!(
            "PRAGMA user_version = {}",
            herald_ledger::SCHEMA_VERSION + 1
        ))
        .unwrap();
    drop(l);
    match SqliteLedger::open(&path, &key()) {
        Err(LedgerError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!(found, herald_ledger::SCHEMA_VERSION + 1);
            assert_eq!(supported, herald_ledger::SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn connection_uses_wal_full_sync_and_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let l = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
    let c = l.connection();
    let q = |sql: &str| -> String {
        c.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(q("PRAGMA journal_mode"), "Text(\"wal\")");
    assert_eq!(q("PRAGMA synchronous"), "Integer(2)"); // FULL
    assert_eq!(q("PRAGMA busy_timeout"), "Integer(10000)");
    assert_eq!(q("PRAGMA foreign_keys"), "Integer(1)");
}

/// Builds a ledger with sent rows and a suppression, for the tamper tests.
fn populated(dir: &Path) -> SqliteLedger {
    let k = key();
    let mut l = SqliteLedger::open(&dir.join("ledger.db"), &k).unwrap();
    new_run(&mut l, "r1");
    let claims: Vec<Claim> = (0..10)
        .map(|i| claim(&k, &format!("row-{i}"), &format!("+1555010{i:04}")))
        .collect();
    l.claim_batch("r1", "c", &claims, Redo::NONE).unwrap();
    let outcomes: Vec<Outcome> = (0..10)
        .map(|i| Outcome {
            campaign: "c".into(),
            row_key: format!("row-{i}"),
            result: OutcomeResult::Sent {
                handle: herald_ledger::DispatchHandle::message(format!("m{i}"), None),
            },
        })
        .collect();
    l.record_outcomes("r1", &outcomes).unwrap();
    l.suppress(&Suppression {
        recipient: k.recipient_id(Channel::Email, "jane@example.com"),
        masked: mask_email("jane@example.com"),
        channel: Some(Channel::Email),
        reason: "unsubscribe link".into(),
        source: "import".into(),
    })
    .unwrap();
    l.finish_run("r1", "ok").unwrap();
    assert!(l.verify().unwrap().ok);
    l
}

fn outcome_event_seq(l: &SqliteLedger) -> u64 {
    l.events(0, 100)
        .unwrap()
        .iter()
        .find(|e| e.kind == "outcomes_recorded")
        .unwrap()
        .seq
}

#[test]
fn verify_catches_an_edited_send_row() {
    let dir = tempfile::tempdir().unwrap();
    let l = populated(dir.path());
    let seq = outcome_event_seq(&l);
    // Someone "un-sends" a row to get it messaged again.
    l.connection()
        .execute(
            "UPDATE sends SET state = 'pending', message_id = NULL WHERE row_key = 'row-3'",
            [],
        )
        .unwrap();
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, Some(seq));
    assert!(broken.reason.contains("c/row-3"), "{}", broken.reason);
}

#[test]
fn verify_catches_deleted_and_forged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let l = populated(dir.path());
    l.connection()
        .execute("DELETE FROM suppressions", [])
        .unwrap();
    let report = l.verify().unwrap();
    assert!(!report.ok);
    assert!(report.first_broken.unwrap().reason.contains("suppression"));

    let dir2 = tempfile::tempdir().unwrap();
    let l2 = populated(dir2.path());
    l2.connection()
        .execute(
            "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, created_at, updated_at) \
             SELECT campaign, 'forged', recipient, masked, channel, template_hash, 'sent', 1, created_at, updated_at FROM sends LIMIT 1",
            [],
        )
        .unwrap();
    let broken = l2.verify().unwrap().first_broken.unwrap();
    assert_eq!(broken.seq, None);
    assert!(broken.reason.contains("c/forged"), "{}", broken.reason);
}

#[test]
fn verify_reports_the_first_edited_event() {
    let dir = tempfile::tempdir().unwrap();
    let l = populated(dir.path());
    let seq = outcome_event_seq(&l);
    let c = l.connection();
    // Ordinary SQL cannot edit events at all …
    let refused = c.execute("UPDATE events SET payload_json = '{}' WHERE seq = 1", []);
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // … so a tamperer drops the guard, then edits both the event and the row consistently.
    c.execute_batch("DROP TRIGGER events_append_only_update")
        .unwrap();
    c.execute(
        "UPDATE events SET payload_json = replace(payload_json, '\"sum\":', '\"sum\":1') WHERE seq = ?1",
        [i64::try_from(seq).unwrap()],
    )
    .unwrap();
    c.execute(
        "UPDATE sends SET message_id = 'mX' WHERE row_key = 'row-3'",
        [],
    )
    .unwrap();
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, Some(seq));
    assert!(broken.reason.contains("modified"), "{}", broken.reason);
    assert_eq!(report.events_checked, seq - 1);
}

#[test]
fn no_raw_address_reaches_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let l = populated(dir.path());
    let files = ["ledger.db", "ledger.db-wal"];
    let mut bytes = Vec::new();
    for f in files {
        bytes.extend(fs_err::read(dir.path().join(f)).unwrap());
    }
    drop(l);
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("+1******0003"), "masked form is stored");
    assert!(
        !contains("5550100003"),
        "raw phone digits must not be stored"
    );
    assert!(
        !contains("jane@example.com"),
        "raw email must not be stored"
    );
    assert!(contains("j***@example.com"));
    assert!(
        !contains("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8"),
        "key material must not be stored"
    );
}

#[test]
fn reopening_tightens_a_ledger_left_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::open(&path, &key()).unwrap());
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("ledger.db-wal")), 0o600);
    drop(l);
}

/// Schema 8's registries and send facts (and schema 10's keyword replies) move with the
/// ledger: a copy answers `audit` and the registry check as the source does.
#[test]
fn migrate_copies_registries_send_facts_and_replies() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = populated(dir.path());
    let k = key();
    let phone = "+15550100003";
    let rid = k.recipient_id(Channel::Sms, phone);
    let mut numbers = Some(vec![herald_ledger::DncChange {
        recipient: rid.clone(),
        add: true,
    }]);
    source
        .dnc_import(
            &herald_ledger::DncImport {
                source: "national".into(),
                downloaded_on: "2026-12-01".parse().unwrap(),
                kind: herald_ledger::DncFileKind::Full,
                file_digest: "sha256:00".into(),
            },
            &mut || Ok(numbers.take()),
        )
        .unwrap();
    source
        .record_send_facts(&[herald_ledger::SendFacts {
            campaign: "c".into(),
            row_key: "row-3".into(),
            facts: r#"{"zones":["America/New_York"]}"#.into(),
        }])
        .unwrap();
    let mut target = SqliteLedger::open(&dir.path().join("copy.db"), &key()).unwrap();
    let report = migrate_ledger(&source, &mut target).unwrap();
    assert_eq!(report.tables, source.table_counts().unwrap());
    assert_eq!(
        target.dnc_registries().unwrap(),
        source.dnc_registries().unwrap()
    );
    assert!(target.dnc_set().unwrap().contains(&rid));
    let (a, b) = (
        source.recipient_audit(&rid).unwrap(),
        target.recipient_audit(&rid).unwrap(),
    );
    assert_eq!(a, b);
    assert!(
        b.sends[0]
            .1
            .as_deref()
            .is_some_and(|f| f.contains("New_York"))
    );
    assert_eq!(b.registries.len(), 1);
    assert!(target.verify().unwrap().ok);
    assert!(target.check_checkpoint().unwrap().ok);
}

#[test]
fn migrate_copies_rows_and_chain_verbatim_into_a_fresh_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let source = populated(dir.path());
    let mut target = SqliteLedger::open(&dir.path().join("copy.db"), &key()).unwrap();
    let report = migrate_ledger(&source, &mut target).unwrap();
    assert_eq!(report.tables, source.table_counts().unwrap());
    assert_eq!(report.tables["sends"], 10);
    assert_eq!(report.sends_verified, 10);
    assert_eq!(report.suppressions_verified, 1);
    assert_eq!(
        source.events(0, 1000).unwrap(),
        target.events(0, 1000).unwrap()
    );
    assert_eq!(source.verify().unwrap(), target.verify().unwrap());
    assert_eq!(
        source.send("c", "row-3").unwrap(),
        target.send("c", "row-3").unwrap()
    );
    // The target now holds data: a second copy is refused and changes nothing.
    let err = migrate_ledger(&source, &mut target).unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyExists { .. }), "{err}");
    assert_eq!(target.table_counts().unwrap(), report.tables);
    // Appending continues the copied chain, and audit ids continue after the copied ones.
    target
        .suppress(&Suppression {
            recipient: key().recipient_id(Channel::Sms, "+15550109999"),
            masked: mask_phone("+15550109999"),
            channel: Some(Channel::Sms),
            reason: "STOP".into(),
            source: "serve".into(),
        })
        .unwrap();
    assert_eq!(target.suppression_history(None).unwrap().len(), 2);
    assert!(target.verify().unwrap().ok);
}

#[test]
fn migrate_refuses_a_source_that_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let source = populated(dir.path());
    source
        .connection()
        .execute(
            "UPDATE sends SET state = 'pending' WHERE row_key = 'row-1'",
            [],
        )
        .unwrap();
    let mut target = SqliteLedger::open(&dir.path().join("copy.db"), &key()).unwrap();
    let err = migrate_ledger(&source, &mut target).unwrap_err();
    assert!(err.to_string().contains("c/row-1"), "{err}");
    // Nothing was copied: the target still has only its own creation event.
    assert_eq!(target.table_counts().unwrap()["events"], 1);
    assert_eq!(target.table_counts().unwrap()["sends"], 0);
}

#[test]
fn location_locks_and_opens_a_sqlite_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let loc = LedgerLocation::parse(&format!("sqlite:{}", path.display())).unwrap();
    let info = |run: &str| LockInfo {
        pid: std::process::id(),
        host: "h".into(),
        run_id: run.into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    };
    let lock = loc.acquire_lock(info("a"), None).unwrap();
    assert!(matches!(lock, LedgerLock::File(_)));
    match loc.acquire_lock(info("b"), None) {
        Err(LockError::Held { holder: Some(h) }) => assert_eq!(h.run_id, "a"),
        other => panic!("expected Held, got {other:?}"),
    }
    let (mut l, report) = loc.open_locked(&key(), &lock).unwrap();
    assert!(report.created);
    new_run(l.as_mut(), "a");
    assert_eq!(loc.open(&key()).unwrap().runs(5).unwrap().len(), 1);
}

/// Lifts the append-only guards a tamperer with the file can drop.
fn drop_guards(c: &rusqlite::Connection) {
    c.execute_batch(
        "DROP TRIGGER template_versions_append_only_update; DROP TRIGGER template_versions_append_only_delete; \
         DROP TRIGGER suppression_audit_append_only_update; DROP TRIGGER suppression_audit_append_only_delete; \
         DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;",
    )
    .unwrap();
}

/// Every table `verify` replays: an UPDATE of a column, a DELETE and an INSERT outside
/// herald are each reported, naming the table.
#[test]
fn verify_catches_tampering_with_every_table() {
    for (i, (_, sql)) in herald_ledger::testing::TAMPERS.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
        herald_ledger::testing::populate_every_table(&mut l);
        drop_guards(l.connection());
        l.connection().execute_batch(sql).unwrap();
        herald_ledger::testing::assert_tamper_caught(&l, i);
    }
}

/// Incremental verify from a recorded verified head: what it checks, what it leaves to the
/// full verify.
#[test]
fn incremental_verify_checks_what_changed_and_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    herald_ledger::testing::register_sql_functions(&raw);
    drop_guards(&raw);
    herald_ledger::testing::incremental_verify_checks(&mut l, &mut |sql| {
        raw.execute_batch(sql).unwrap();
    });
    // A mark edited (moved forward without the key) is ignored.
    raw.execute_batch(
        "UPDATE meta SET value = '999' || substr(value, 2) WHERE key = 'verified_head'",
    )
    .unwrap();
    assert_eq!(l.verified_head().unwrap(), None);
}

/// The same tampering is caught when verify splits `sends` and `conversations` into passes
/// of one row each (what it does at millions of sends to bound its memory), and an intact
/// ledger still verifies that way.
#[test]
fn verify_in_several_passes_catches_the_same_tampering() {
    herald_ledger::testing::set_verify_keys_per_pass(1);
    for (i, (_, sql)) in herald_ledger::testing::TAMPERS.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
        herald_ledger::testing::populate_every_table(&mut l);
        drop_guards(l.connection());
        l.connection().execute_batch(sql).unwrap();
        herald_ledger::testing::assert_tamper_caught(&l, i);
    }
    herald_ledger::testing::set_verify_keys_per_pass(0);
}

/// Editing a row and its event, then recomputing the chain without the key (plain SHA-256,
/// as the links used to be), is caught: the links are keyed.
#[test]
fn a_chain_recomputed_without_the_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = populated(dir.path());
    let seq = outcome_event_seq(&l);
    let c = l.connection();
    drop_guards(c);
    c.execute(
        "UPDATE events SET payload_json = replace(payload_json, '\"sum\":', '\"sum\":1') WHERE seq = ?1",
        [i64::try_from(seq).unwrap()],
    )
    .unwrap();
    c.execute(
        "UPDATE sends SET message_id = 'mX' WHERE row_key = 'row-3'",
        [],
    )
    .unwrap();
    for sql in herald_ledger::testing::plain_relink_sql(&l) {
        c.execute_batch(&sql).unwrap();
    }
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, Some(1), "{}", broken.reason);
    assert!(broken.reason.contains("modified"), "{}", broken.reason);
    assert!(!l.verify_chain().unwrap().ok);
}

/// An old ledger whose plain chain is already broken is not re-linked (that would launder
/// the tampering): opening it fails, and the file is left as it was.
#[test]
fn a_broken_plain_chain_is_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    fs_err::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1.db"),
        &path,
    )
    .unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TRIGGER events_append_only_update; \
             UPDATE events SET at = at + 1 WHERE seq = 5;",
        )
        .unwrap();
    }
    let k = fixture_key();
    let err = SqliteLedger::open(&path, &k).unwrap_err().to_string();
    assert!(err.contains("broken") && err.contains("#5"), "{err}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let kinds: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'chain_keyed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kinds, 0);
}

/// Cutting the chain's tail together with the rows its events cover: the checkpoint, sealed
/// at the cut event, no longer names the head, and the head kept from before the cut is not
/// in the chain.
#[test]
fn a_cut_tail_no_longer_contains_the_kept_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
    herald_ledger::testing::populate_every_table(&mut l);
    let kept = l.head().unwrap().unwrap();
    drop_guards(l.connection());
    for sql in herald_ledger::testing::CUT_TAIL {
        assert_eq!(l.connection().execute(sql, []).unwrap(), 1, "{sql}");
    }
    let report = l.verify().unwrap();
    assert!(!report.ok);
    let reason = report.first_broken.unwrap().reason;
    assert!(
        reason.contains("checkpoint"),
        "the cut is reported by the checkpoint, not as: {reason}"
    );
    assert!(!l.check_checkpoint().unwrap().ok);
    assert!(!l.contains_head(&kept).unwrap());
    assert_eq!(l.head().unwrap().unwrap().seq, kept.seq - 1);
}

#[test]
fn the_run_lock_is_taken_on_the_ledgers_canonical_path() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("ledger.db");
    drop(SqliteLedger::open(&real, &key()).unwrap());
    fs_err::create_dir(dir.path().join("x")).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("alias.db")).unwrap();
    let info = |run: &str| LockInfo {
        pid: std::process::id(),
        host: "h".into(),
        run_id: run.into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    };
    let held = LedgerLocation::sqlite(&real)
        .acquire_lock(info("first"), None)
        .unwrap();
    for other in [
        dir.path().join("alias.db"),
        dir.path().join("x").join("..").join("ledger.db"),
    ] {
        match LedgerLocation::sqlite(&other).acquire_lock(info("second"), None) {
            Err(LockError::Held { holder: Some(h) }) => assert_eq!(h.run_id, "first"),
            other_result => panic!(
                "{} gave a second run the lock: {other_result:?}",
                other.display()
            ),
        }
    }
    drop(held);
    // A ledger that does not exist yet: its directory is resolved (the file is not created).
    let fresh = dir.path().join("x").join("..").join("new.db");
    let first = LedgerLocation::sqlite(&fresh)
        .acquire_lock(info("a"), None)
        .unwrap();
    assert!(matches!(
        LedgerLocation::sqlite(dir.path().join("new.db")).acquire_lock(info("b"), None),
        Err(LockError::Held { .. })
    ));
    drop(first);
}

/// Rows edited behind the chain (the chain untouched) are refused by the cheap checkpoint
/// check `apply` runs, and a later write does not absorb the edit.
#[test]
fn the_checkpoint_catches_rows_edited_behind_the_chain() {
    for (i, (_, sql)) in herald_ledger::testing::CHECKPOINT_TAMPERS
        .iter()
        .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("ledger.db"), &key()).unwrap();
        herald_ledger::testing::populate_every_table(&mut l);
        let report = l.check_checkpoint().unwrap();
        assert!(report.ok, "{report:?}");
        l.connection().execute_batch(sql).unwrap();
        herald_ledger::testing::assert_checkpoint_catches(&mut l, i);
    }
}

/// Rolls back the schema-11 seal columns of a ledger made by the current code (to simulate an
/// older schema): the seals are kept aside and the columns dropped, so the migration adds
/// them again empty.
const UNSEAL: &str = "CREATE TABLE kept_sends AS SELECT campaign, row_key, seq, mac, tags FROM sends; \
     CREATE TABLE kept_conversations AS SELECT recipient, seq, mac, tags FROM conversations; \
     ALTER TABLE sends DROP COLUMN seq; ALTER TABLE sends DROP COLUMN mac; \
     ALTER TABLE sends DROP COLUMN tags; ALTER TABLE conversations DROP COLUMN seq; \
     ALTER TABLE conversations DROP COLUMN mac; ALTER TABLE conversations DROP COLUMN tags;";

/// Puts back the seals [`UNSEAL`] kept (the rows were sealed by the code that wrote them).
const RESEAL: &str = "UPDATE sends SET (seq, mac, tags) = (SELECT seq, mac, tags FROM kept_sends k \
       WHERE k.campaign = sends.campaign AND k.row_key = sends.row_key); \
     UPDATE conversations SET (seq, mac, tags) = (SELECT seq, mac, tags FROM kept_conversations k \
       WHERE k.recipient = conversations.recipient); \
     DROP TABLE kept_sends; DROP TABLE kept_conversations;";

/// A schema-5 ledger migrates to 6 on open: its first checkpoint is sealed only after a full
/// verify passes, so a schema-5 ledger whose rows were edited gets none: it is refused. The
/// ledger is made as schema 5 wrote it: events that carry every send's image
/// and rows without seals (a synthetic fill), plus a suppression; it is then rolled back to
/// schema 5's tables.
#[test]
fn a_schema_5_ledger_gets_its_first_checkpoint_only_if_it_verifies() {
    use herald_ledger::synthetic::{FillSpec, fill_sent, mark_unsealed_sql};
    for tampered in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let mut l = SqliteLedger::open(&path, &key()).unwrap();
        let mut spec = FillSpec::new(300, 1_700_000_000_000);
        spec.images = true;
        fill_sent(&mut l, &key(), &spec).unwrap();
        let phone = "+15550107777";
        assert!(
            l.suppress(&Suppression {
                recipient: key().recipient_id(Channel::Sms, phone),
                masked: mask_phone(phone),
                channel: Some(Channel::Sms),
                reason: "STOP reply".into(),
                source: "serve".into(),
            })
            .unwrap()
        );
        drop(l);
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            let triggers: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_count_%'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(triggers.len(), 25, "{triggers:?}");
            for t in triggers {
                c.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
            }
            c.execute_batch(mark_unsealed_sql()).unwrap();
            c.execute_batch(
                "DROP TABLE dnc_registries; DROP TABLE dnc_numbers; DROP TABLE send_facts; \
                 DROP TABLE waves; DROP TABLE keyword_replies; DROP TABLE checkpoint; \
                 DROP TABLE row_counts; \
                 ALTER TABLE sends DROP COLUMN seq; ALTER TABLE sends DROP COLUMN mac; \
                 ALTER TABLE sends DROP COLUMN tags; ALTER TABLE conversations DROP COLUMN seq; \
                 ALTER TABLE conversations DROP COLUMN mac; ALTER TABLE conversations DROP COLUMN tags; \
                 PRAGMA user_version = 5;",
            )
            .unwrap();
            if tampered {
                c.execute_batch("DELETE FROM suppressions").unwrap();
            }
        }
        let opened = SqliteLedger::open(&path, &key());
        if tampered {
            // Refused before any checkpoint is sealed over the edit: the full verify that
            // precedes sealing the rows fails.
            let Err(err) = opened else {
                panic!("a tampered schema-5 ledger opened")
            };
            assert!(err.to_string().contains("fails verification"), "{err}");
            let c = rusqlite::Connection::open(&path).unwrap();
            let checkpoints: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'checkpoint'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if checkpoints == 1 {
                let n: i64 = c
                    .query_row("SELECT COUNT(*) FROM checkpoint", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(n, 0, "a checkpoint was sealed over a tampered ledger");
            }
            continue;
        }
        let l = opened.unwrap();
        assert_eq!(l.open_report().migrated_from, Some(5));
        let check = l.check_checkpoint().unwrap();
        assert!(check.ok, "{check:?}");
        assert!(l.verify().unwrap().ok);
    }
}

/// Every `sends` row with its ids as strings (schema 12 stores them as bytes).
const LOGICAL_SENDS: &str = "SELECT campaign, row_key, id_unpack(recipient), masked, channel, \
     id_unpack(template_hash), state, attempts, next_attempt_at, id_unpack(message_id), \
     id_unpack(conversation_id), error_code, note, run_id, created_at, dispatched_at, updated_at, \
     receipt_status, receipt_at, category, seq, mac, tags FROM sends ORDER BY campaign, row_key";

/// Index and trigger names with the SQL of every table, as `sqlite_master` holds them.
fn schema_objects(c: &rusqlite::Connection, kind: &str) -> Vec<(String, String)> {
    c.prepare("SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = ?1 ORDER BY name")
        .unwrap()
        .query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Every row of a query, each value in its debug form.
fn all_rows(c: &rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
            .collect()
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// A schema-6 ledger (`tests/fixtures/ledger-v6.db`, every table written by the schema-6
/// code) migrates to 7: `sends` and `suppressions` are rebuilt without the hand-written
/// channel lists, with every row, index and trigger; it still verifies, its checkpoint still
/// holds and follows new writes, and tampering is still caught. A channel the code does not
/// know is refused by the codec, not by SQL.
#[test]
fn a_schema_6_ledger_migrates_to_7_without_channel_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    fs_err::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v6.db"),
        &path,
    )
    .unwrap();
    let (indexes, triggers, sends, suppressions) = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 6);
        let tables = schema_objects(&c, "table");
        assert!(
            tables
                .iter()
                .any(|(_, sql)| sql.contains("IN ('sms', 'email')"))
        );
        (
            schema_objects(&c, "index"),
            schema_objects(&c, "trigger"),
            all_rows(&c, "SELECT * FROM sends ORDER BY campaign, row_key"),
            all_rows(&c, "SELECT * FROM suppressions ORDER BY rowid"),
        )
    };
    assert!(sends.len() >= 2 && suppressions.len() >= 2);
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(6));
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.sends_checked, sends.len() as u64);
    let check = l.check_checkpoint().unwrap();
    assert!(check.ok, "{check:?}");
    {
        let c = l.connection();
        for (name, sql) in schema_objects(c, "table") {
            assert!(!sql.contains("'sms'"), "{name} still lists channels: {sql}");
        }
        // Schemas 9 and 10 add tables with their own index and triggers; schema 11 keeps
        // `conversations` in its key's B-tree (WITHOUT ROWID): no index on the key beside it;
        // schema 12 indexes the events by kind. Every other index is as it was.
        let without_new = |objects: Vec<(String, String)>| {
            objects
                .into_iter()
                .filter(|(name, _)| {
                    !name.starts_with("keyword_replies")
                        && !name.starts_with("waves_")
                        && name != "events_kind"
                })
                .collect::<Vec<_>>()
        };
        // Schema 12 drops `sends_recipient` and keeps only the rows not `sent` in
        // `sends_state`.
        let expected: Vec<_> = indexes
            .iter()
            .filter(|(name, _)| {
                name != "sqlite_autoindex_conversations_1" && name != "sends_recipient"
            })
            .map(|(name, sql)| {
                if name == "sends_state" {
                    (name.clone(), format!("{sql} WHERE state <> 'sent'"))
                } else {
                    (name.clone(), sql.clone())
                }
            })
            .collect();
        assert_eq!(expected.len(), indexes.len() - 2);
        assert_eq!(without_new(schema_objects(c, "index")), expected);
        assert_eq!(without_new(schema_objects(c, "trigger")), triggers);
        // The rows are kept as they were (their ids read back from bytes, schema 12), and
        // sealed (schema 11) by the first open with the key.
        let now = all_rows(c, LOGICAL_SENDS);
        let old: Vec<Vec<String>> = now.iter().map(|r| r[..r.len() - 3].to_vec()).collect();
        assert_eq!(old, sends);
        assert!(
            now.iter()
                .all(|r| r[r.len() - 3..].iter().all(|v| v != "Null"))
        );
        assert_eq!(
            all_rows(c, "SELECT * FROM suppressions ORDER BY rowid"),
            suppressions
        );
    }
    // New writes are counted by the rebuilt tables' triggers and sealed into the checkpoint.
    let k = key();
    let phone = "+15550199999";
    assert!(
        l.suppress(&Suppression {
            recipient: k.recipient_id(Channel::Sms, phone),
            masked: mask_phone(phone),
            channel: Some(Channel::Sms),
            reason: "manual".into(),
            source: "cli:test".into(),
        })
        .unwrap()
    );
    assert!(l.check_checkpoint().unwrap().ok);
    assert!(l.verify().unwrap().ok);
    // Tampering behind the chain is still caught, by the checkpoint and by verify.
    l.connection()
        .execute_batch("DELETE FROM suppressions WHERE masked = '+1******9999'")
        .unwrap();
    assert!(!l.check_checkpoint().unwrap().ok);
    assert!(!l.verify().unwrap().ok);
    // An unknown channel is stored by SQL but refused when read.
    l.connection()
        .execute_batch(
            "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
             SELECT recipient, 'fax', masked, reason, source, since FROM suppressions LIMIT 1",
        )
        .unwrap();
    assert!(l.suppressions().is_err());
}

/// The benchmark fill writes the same ledger however it is made fast (rows computed once,
/// in parallel, conversations in key order, indexes built after the load): the chain's head,
/// which seals the digest of every row and conversation, is the one the row-by-row fill wrote.
#[test]
fn a_synthetic_ledger_is_the_same_however_it_is_filled() {
    use herald_ledger::synthetic::{FillSpec, fill_sent, fill_sqlite};
    let indexes = |l: &SqliteLedger| -> Vec<String> {
        let mut stmt = l
            .connection()
            .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let fresh = SqliteLedger::open(&dir.path().join("fresh.db"), &key()).unwrap();
    let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
    spec.batch = 1_000;
    spec.per_campaign = 2_000;
    let mut first_head: Option<String> = None;
    for bulk in [false, true] {
        let path = dir.path().join(format!("ledger-{bulk}.db"));
        let mut l = SqliteLedger::open(&path, &key()).unwrap();
        if bulk {
            fill_sqlite(&mut l, &key(), &spec).unwrap();
        } else {
            fill_sent(&mut l, &key(), &spec).unwrap();
        }
        // The chain head seals the digest of every row and conversation (and the schema
        // version the run was recorded under): the two fills must give the same one.
        let head = l.head().unwrap().unwrap();
        assert_eq!(head.seq, 9, "bulk: {bulk}");
        match &first_head {
            None => first_head = Some(head.hash.clone()),
            Some(h) => assert_eq!(&head.hash, h, "bulk: {bulk}"),
        }
        assert!(l.verify().unwrap().ok);
        assert!(l.check_checkpoint().unwrap().ok);
        assert_eq!(indexes(&l), indexes(&fresh), "bulk: {bulk}");
        drop(l);
        let l = SqliteLedger::open(&path, &key()).unwrap();
        let mode: String = l
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(l.verify().unwrap().ok);
    }
}

/// The benchmark helper's synthetic ledger is one `apply` could have written: it verifies
/// (every send against its events), its checkpoint holds, the planner sees its rows as sent,
/// and an edited row is caught.
#[test]
fn a_synthetic_ledger_verifies_and_catches_tampering() {
    use herald_ledger::synthetic::{FillSpec, fill_sent};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
    spec.batch = 1_000;
    spec.per_campaign = 2_000;
    let counts = fill_sent(&mut l, &key(), &spec).unwrap();
    assert_eq!(counts.get("sends"), Some(&2_500));
    assert_eq!(counts.get("events"), Some(&(3 + 2 * 3)));
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.sends_checked), (9, 2_500));
    assert!(l.check_checkpoint().unwrap().ok);
    assert_eq!(l.campaign_keys("bench-0000").unwrap().len(), 2_000);
    assert_eq!(
        l.campaign_keys("bench-0001")
            .unwrap()
            .get("cust-0000002499"),
        Some(SendState::Sent)
    );
    l.connection()
        .execute_batch(
            "UPDATE sends SET template_hash = 'sha256:00' WHERE row_key = 'cust-0000001234'",
        )
        .unwrap();
    let broken = l.verify().unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("bench-0000/cust-0000001234")
            && broken.reason.contains("template_hash"),
        "{}",
        broken.reason
    );
}

/// A synthetic ledger checked in several passes (as verify does past its per-pass budget):
/// every send is checked once, and an edited conversation or a deleted send is named.
#[test]
fn a_synthetic_ledger_verifies_in_several_passes() {
    use herald_ledger::synthetic::{FillSpec, fill_sent};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
    spec.per_campaign = 2_000;
    fill_sent(&mut l, &key(), &spec).unwrap();
    herald_ledger::testing::set_verify_keys_per_pass(700);
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.sends_checked, 2_500);
    l.connection()
        .execute_batch(
            "UPDATE conversations SET conversation_id = 'other' \
             WHERE recipient = (SELECT recipient FROM sends WHERE row_key = 'cust-0000000042')",
        )
        .unwrap();
    let broken = l.verify().unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("table `conversations`"),
        "{}",
        broken.reason
    );
    assert!(
        broken.reason.contains("conversation_id"),
        "{}",
        broken.reason
    );
    l.connection()
        .execute_batch("DELETE FROM sends WHERE row_key = 'cust-0000002001'")
        .unwrap();
    // A deleted row is counted against the event that wrote it (batch 2's outcomes, #8):
    // the events carry a digest of their rows, not their keys.
    let broken = l.verify().unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("event #8") && broken.reason.contains("deleted"),
        "{}",
        broken.reason
    );
    herald_ledger::testing::set_verify_keys_per_pass(0);
    // Most rows deleted: verify's per-pass state is sized from the table, and the events
    // naming far more rows stop it (memory stays bounded) with the deletion reported.
    l.connection()
        .execute_batch("DELETE FROM sends WHERE row_key > 'cust-0000000010'")
        .unwrap();
    let broken = l.verify().unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("table `sends`") && broken.reason.contains("deleted"),
        "{}",
        broken.reason
    );
}

/// A schema-7 ledger (made by rolling a new ledger back: the three schema-8 tables dropped,
/// `user_version` 7) migrates to 8 on open: its rows and chain are kept, the new tables are
/// empty and usable, and it verifies.
#[test]
fn a_schema_7_ledger_migrates_to_8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    herald_ledger::testing::populate_schema_8_tables(&mut l);
    let before = l.verify().unwrap();
    l.connection()
        .execute_batch(
            "DROP TABLE dnc_registries; DROP TABLE dnc_numbers; DROP TABLE send_facts; \
             DROP TABLE waves; DROP TABLE keyword_replies; DELETE FROM row_counts WHERE name = 'keyword_replies'; DELETE FROM row_counts WHERE name IN ('waves', 'sends:handed_off'); \
             PRAGMA user_version = 7;",
        )
        .unwrap();
    l.connection().execute_batch(UNSEAL).unwrap();
    drop(l);
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(7));
    l.connection().execute_batch(RESEAL).unwrap();
    let after = l.verify().unwrap();
    assert!(after.ok, "{after:?}");
    assert_eq!(after.events_checked, before.events_checked);
    assert!(l.check_checkpoint().unwrap().ok);
    assert!(l.dnc_registries().unwrap().is_empty());
    herald_ledger::testing::dnc_registries_import_lookup_and_audit(&mut l);
}

/// A schema-8 ledger (made by rolling a new ledger back: `waves` dropped, `sends` rebuilt
/// with the schema-8 state list, `user_version` 8) migrates to 9 on open: its rows and chain
/// are kept, `sends` takes `handed_off`, the `waves` table is empty and usable, the
/// checkpoint still holds, and it verifies.
#[test]
fn a_schema_8_ledger_migrates_to_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    herald_ledger::testing::populate_schema_8_tables(&mut l);
    let before = l.verify().unwrap();
    let rows_before = l.table_counts().unwrap();
    l.connection().execute_batch(UNSEAL).unwrap();
    l.connection()
        .execute_batch(&format!(
            "DROP TABLE keyword_replies; DROP TABLE waves; \
             DELETE FROM row_counts WHERE name IN ('waves', 'sends:handed_off', 'keyword_replies'); {} \
             PRAGMA user_version = 8;",
            include_str!("../src/migrations/0007_channel_list.sql")
        ))
        .unwrap();
    // The rollback is real: schema 8 refuses the new state.
    let refused = l.connection().execute(
        "UPDATE sends SET state = 'handed_off' WHERE row_key = 'k0'",
        [],
    );
    assert!(refused.is_err(), "a schema-8 `sends` took `handed_off`");
    drop(l);
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(8));
    l.connection().execute_batch(RESEAL).unwrap();
    let after = l.verify().unwrap();
    assert!(after.ok, "{after:?}");
    assert_eq!(after.events_checked, before.events_checked);
    assert!(l.check_checkpoint().unwrap().ok);
    let mut rows_after = l.table_counts().unwrap();
    assert_eq!(rows_after.remove("waves"), Some(0));
    assert_eq!(
        rows_after,
        rows_before
            .into_iter()
            .filter(|(t, _)| t != "waves")
            .collect()
    );
    assert!(l.waves(None).unwrap().is_empty());
    herald_ledger::testing::waves_hand_off_and_resolve_rows(&mut l);
}

/// A schema-10 ledger (events that carry every send's image, rows without seals) migrates to 11
/// on the first open with the key: it is verified against its images, every `sends` and
/// `conversations` row is sealed in one `rows_sealed` event, and it verifies — an edited row
/// is still named with its column, and later writes are sealed. A schema-10 ledger whose rows
/// were edited is refused, its rows left unsealed and its chain unchanged.
#[test]
fn a_schema_10_ledger_is_sealed_on_first_open_and_verifies() {
    use herald_ledger::synthetic::{FillSpec, fill_sent, mark_unsealed_sql};
    for tampered in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let mut l = SqliteLedger::open(&path, &key()).unwrap();
        let mut spec = FillSpec::new(2_500, 1_700_000_000_000);
        spec.per_campaign = 2_000;
        spec.images = true;
        fill_sent(&mut l, &key(), &spec).unwrap();
        let events = l.events(0, usize::MAX).unwrap().len();
        assert!(
            l.events(0, 5).unwrap()[2]
                .payload_json
                .contains("cust-0000000000"),
            "schema-10 events carry the rows' images"
        );
        l.connection().execute_batch(mark_unsealed_sql()).unwrap();
        l.connection()
            .execute_batch(
                "ALTER TABLE sends DROP COLUMN seq; ALTER TABLE sends DROP COLUMN mac; \
                 ALTER TABLE sends DROP COLUMN tags; ALTER TABLE conversations DROP COLUMN seq; \
                 ALTER TABLE conversations DROP COLUMN mac; ALTER TABLE conversations DROP COLUMN tags; \
                 PRAGMA user_version = 10;",
            )
            .unwrap();
        if tampered {
            l.connection()
                .execute_batch(
                    "UPDATE sends SET template_hash = 'v1:evil' WHERE row_key = 'cust-0000000042'",
                )
                .unwrap();
        }
        drop(l);
        let opened = SqliteLedger::open(&path, &key());
        if tampered {
            let Err(err) = opened else {
                panic!("a tampered schema-8 ledger is refused")
            };
            let err = err.to_string();
            assert!(
                err.contains("cannot convert") && err.contains("template_hash"),
                "{err}"
            );
            let c = rusqlite::Connection::open(&path).unwrap();
            let (n, sealed, mark): (i64, i64, i64) = c
                .query_row(
                    "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM sends WHERE mac IS NOT NULL), \
                     (SELECT COUNT(*) FROM meta WHERE key = 'rows')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!((n, sealed, mark), (i64::try_from(events).unwrap(), 0, 0));
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
        let unsealed: i64 = l
            .connection()
            .query_row(
                "SELECT (SELECT COUNT(*) FROM sends WHERE mac IS NULL) + \
                 (SELECT COUNT(*) FROM conversations WHERE mac IS NULL)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unsealed, 0);
        // Reopening does not convert again.
        drop(l);
        let mut l = SqliteLedger::open(&path, &key()).unwrap();
        assert_eq!(l.events(0, usize::MAX).unwrap().len(), events + 1);
        // Later writes are sealed and verify.
        l.begin_run(&NewRun {
            run_id: "after".into(),
            command: "apply".into(),
            user: "t".into(),
            host: "h".into(),
            git_commit: None,
            plan_hash: None,
        })
        .unwrap();
        let matched = l
            .record_receipt(
                "4e7a11ce-0000-4000-0000-000000000007",
                "delivered",
                None,
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(matched.unwrap().row_key, "cust-0000000007");
        assert!(l.verify().unwrap().ok);
        l.connection()
            .execute_batch(
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
/// deleted behind the chain.
#[test]
fn verify_after_an_archive_still_catches_a_deleted_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    herald_ledger::testing::archive_then_hot_row_deleted(&mut l, &mut |sql| {
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    });
}

/// A schema-12 ledger (no `events_kind` index, `user_version` 12) migrates to 13 on open: its
/// rows, chain and checkpoint are kept, the index is added, and an archive cut works on it.
#[test]
fn a_schema_11_ledger_migrates_to_13_and_archives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let k = key();
    let mut l = SqliteLedger::open(&path, &k).unwrap();
    new_run(&mut l, "r1");
    l.claim_batch("r1", "old", &[claim(&k, "k0", "+15550100000")], Redo::NONE)
        .unwrap();
    l.record_outcomes(
        "r1",
        &[Outcome {
            campaign: "old".into(),
            row_key: "k0".into(),
            result: OutcomeResult::Sent {
                handle: herald_ledger::DispatchHandle::message("m-0", None),
            },
        }],
    )
    .unwrap();
    let events = l.events(0, usize::MAX).unwrap().len();
    l.connection()
        .execute_batch("DROP INDEX events_kind; PRAGMA user_version = 12;")
        .unwrap();
    drop(l);
    let mut l = SqliteLedger::open(&path, &k).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(12));
    assert_eq!(l.events(0, usize::MAX).unwrap().len(), events);
    let indexed: i64 = l
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_kind'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 1);
    assert!(l.verify().unwrap().ok);
    assert!(l.check_checkpoint().unwrap().ok);
    std::thread::sleep(Duration::from_millis(5));
    let opts = herald_ledger::ArchiveOptions {
        before: Timestamp::now(),
        dir: dir.path().join("archive"),
        prefix: "t".into(),
        out: None,
    };
    let report = herald_ledger::archive_ledger(&mut l, &k, &opts, &mut |_| {}).unwrap();
    assert_eq!(report.sends(), 1);
    assert_eq!(l.archive_cuts().unwrap().len(), 1);
    assert!(l.verify().unwrap().ok);
}

/// What schema 11 held: `sends` and `conversations` with their ids as text, `sends_recipient`
/// and the whole of `sends_state` (run on a ledger's own connection: `id_unpack`).
const ROLL_BACK_TO_11: &str = "
CREATE TABLE sends_v11 (
    campaign TEXT NOT NULL, row_key TEXT NOT NULL, recipient TEXT NOT NULL, masked TEXT NOT NULL,
    channel TEXT NOT NULL, template_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'dispatching', 'sent', 'failed', 'unknown', 'suppressed', 'handed_off')),
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, message_id TEXT, conversation_id TEXT,
    error_code TEXT, note TEXT, run_id TEXT REFERENCES runs (run_id), created_at INTEGER NOT NULL,
    dispatched_at INTEGER, updated_at INTEGER NOT NULL, receipt_status TEXT, receipt_at INTEGER,
    category TEXT, seq INTEGER, mac INTEGER, tags INTEGER,
    PRIMARY KEY (campaign, row_key)
) WITHOUT ROWID;
INSERT INTO sends_v11 SELECT campaign, row_key, id_unpack(recipient), masked, channel,
    id_unpack(template_hash), state, attempts, next_attempt_at, id_unpack(message_id),
    id_unpack(conversation_id), error_code, note, run_id, created_at, dispatched_at, updated_at,
    receipt_status, receipt_at, category, seq, mac, tags FROM sends;
DROP TABLE sends;
ALTER TABLE sends_v11 RENAME TO sends;
CREATE INDEX sends_state ON sends (state, campaign);
CREATE INDEX sends_recipient ON sends (campaign, recipient);
CREATE INDEX sends_message ON sends (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX sends_sent_at ON sends (updated_at) WHERE state = 'sent';
CREATE INDEX sends_recent ON sends (recipient, dispatched_at) WHERE dispatched_at IS NOT NULL;
CREATE INDEX sends_recent_by_time ON sends (dispatched_at, category, channel, state, recipient)
    WHERE category IS NOT NULL;
CREATE TRIGGER sends_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends'; END;
CREATE TRIGGER sends_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends'; END;
CREATE TRIGGER sends_state_count_insert AFTER INSERT ON sends
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state; END;
CREATE TRIGGER sends_state_count_update AFTER UPDATE OF state ON sends WHEN OLD.state <> NEW.state
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state;
    UPDATE row_counts SET n = n + 1 WHERE name = 'sends:' || NEW.state;
END;
CREATE TRIGGER sends_state_count_delete AFTER DELETE ON sends
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'sends:' || OLD.state; END;
CREATE TABLE conversations_v11 (
    recipient TEXT PRIMARY KEY, channel TEXT NOT NULL, conversation_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL, seq INTEGER, mac INTEGER, tags INTEGER
) WITHOUT ROWID;
INSERT INTO conversations_v11 SELECT id_unpack(recipient), channel, id_unpack(conversation_id),
    updated_at, seq, mac, tags FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_v11 RENAME TO conversations;
CREATE TRIGGER conversations_count_insert AFTER INSERT ON conversations
BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'conversations'; END;
CREATE TRIGGER conversations_count_delete AFTER DELETE ON conversations
BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'conversations'; END;
PRAGMA user_version = 11;";

/// Storage classes of the id columns, as `typeof` names them.
fn id_types(c: &rusqlite::Connection) -> Vec<String> {
    all_rows(
        c,
        "SELECT DISTINCT typeof(recipient) || typeof(template_hash) FROM sends \
         UNION SELECT DISTINCT typeof(message_id) || typeof(conversation_id) FROM sends WHERE message_id IS NOT NULL \
         UNION SELECT DISTINCT typeof(recipient) || typeof(conversation_id) FROM conversations",
    )
    .into_iter()
    .flatten()
    .collect()
}

/// A schema-11 ledger (ids as text, every index of schema 11) migrates to 12 on open: its ids
/// are stored as bytes and read back as the same strings (every form, a non-UUID id
/// included), `sends_recipient` and the `sent` rows of `sends_state` are gone, and it still
/// verifies without resealing (seals are over the strings), its checkpoint holds, and an id
/// edited in its bytes is named with its column.
#[test]
fn a_schema_11_ledger_migrates_to_12() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = SqliteLedger::open(&path, &key()).unwrap();
    herald_ledger::testing::populate_packed_ids(&mut l);
    let before = herald_ledger::testing::logical_rows(&l);
    let events = l.events(0, usize::MAX).unwrap().len();
    l.connection().execute_batch(ROLL_BACK_TO_11).unwrap();
    assert_eq!(id_types(l.connection()), ["Text(\"texttext\")"]);
    drop(l);

    let l = SqliteLedger::open(&path, &key()).unwrap();
    assert_eq!(l.open_report().migrated_from, Some(11));
    assert_eq!(id_types(l.connection()), ["Text(\"blobblob\")"]);
    assert_eq!(herald_ledger::testing::logical_rows(&l), before);
    assert_eq!(l.events(0, usize::MAX).unwrap().len(), events, "no reseal");
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(l.check_checkpoint().unwrap().ok);
    let indexes: Vec<String> = schema_objects(l.connection(), "index")
        .into_iter()
        .filter(|(name, _)| name.starts_with("sends_"))
        .map(|(name, sql)| format!("{name}: {sql}"))
        .collect();
    assert!(
        !indexes.iter().any(|i| i.starts_with("sends_recipient")),
        "{indexes:?}"
    );
    assert!(
        indexes
            .iter()
            .any(|i| i.starts_with("sends_state") && i.ends_with("WHERE state <> 'sent'")),
        "{indexes:?}"
    );
    // A canonical UUID takes 17 bytes, the uppercase one is kept verbatim.
    let lens = all_rows(
        l.connection(),
        "SELECT row_key, length(message_id) FROM sends WHERE campaign = 'u' ORDER BY row_key",
    );
    assert_eq!(
        lens,
        [
            ["Text(\"u40\")", "Integer(17)"],
            ["Text(\"u41\")", "Integer(37)"],
            ["Text(\"u42\")", "Integer(8)"]
        ]
    );
    // One byte of a packed id edited: named with its column.
    l.connection()
        .execute_batch(
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
