//! Proofs of the send protocol's claims under crashes and lost replies: no message is sent
//! twice, none is lost, and a crash costs at most one batch of `unknown` rows.
//!
//! Everything here runs the real `herald` binary against a sandbox served from this process.
//! The bounded crash run and the failpoint and lost-reply tests run in the normal
//! `cargo test`; the full crash run (2,000 recipients, at least 200 kills) is ignored:
//!
//! ```text
//! cargo test --release --test crash -- --ignored --nocapture
//! HERALD_CRASH_SEED=1234 cargo test --release --test crash -- --ignored --nocapture
//! ```

// The suites report seeds and kill counts on stderr so a failure can be replayed.
#![allow(clippy::print_stderr)]

mod archive;
mod postgres;
mod support;
mod waves;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use herald::failpoint;
use herald_ledger::SendState;
use herald_sandbox::Faults;

use support::{Sandbox, Workspace, check_between_runs, count, duplicates};

/// The executor's batch size: the most rows one crash may leave `unknown`.
const BATCH: usize = herald::executor::BATCH_SIZE;

/// A small, seeded generator (splitmix64) so kill times replay from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seed from `HERALD_CRASH_SEED`, else `default`.
fn seed_or(default: u64) -> u64 {
    std::env::var("HERALD_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

#[derive(Debug)]
struct CrashReport {
    startup_ms: u64,
    kills: usize,
    /// Runs that completed the campaign before the kill budget was spent.
    finished_early: usize,
    restarts_checked: usize,
    sent: usize,
    unknown: usize,
    worst_unknown_per_crash: usize,
    elapsed: Duration,
}

/// Runs `herald apply` over a `rows`-recipient campaign, killing it (`SIGKILL`) at seeded random
/// moments until it has been killed `kills` times, then lets it finish. Kill delays are
/// drawn below a ceiling that adapts so that kills spread over the whole campaign (from
/// start-up to the last batch) instead of ending it early. Invariants are checked after every
/// kill and at the end.
fn crash_run(seed: u64, rows: usize, kills: usize, latency_ms: u64) -> Result<CrashReport, String> {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let sandbox = Sandbox::start(
        Faults {
            latency_ms,
            ..Faults::default()
        },
        seed,
    );
    let ws = Workspace::new(&sandbox, rows);
    let logs = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Calibrate on start-up: `herald plan` does what `apply` does before its first send.
    let t = Instant::now();
    let planned = ws
        .herald()
        .arg("plan")
        .output()
        .map_err(|e| e.to_string())?;
    if !planned.status.success() {
        return Err(format!(
            "herald plan failed: {}",
            String::from_utf8_lossy(&planned.stderr)
        ));
    }
    let startup_ms = u64::try_from(t.elapsed().as_millis())
        .unwrap_or(1_000)
        .max(10);
    let mut ceiling_ms = startup_ms;
    let mut killed = 0usize;
    let mut after_done = 0usize;
    let mut checked = 0usize;
    let mut worst = 0usize;
    let mut maybe_sent_before = 0usize;
    loop {
        let log = logs.path().join(format!("run-{killed}.log"));
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = ws
            .apply()
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = if killed < kills {
            // One kill in six lands later, so that some runs get whole batches through.
            let late = if rng.below(6) == 0 {
                rng.below(6 * startup_ms)
            } else {
                0
            };
            Some(Instant::now() + Duration::from_millis(1 + rng.below(ceiling_ms) + late))
        } else {
            None
        };
        let finished = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break Some(status);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break None;
            }
            if started.elapsed() > Duration::from_secs(3_600) {
                let _ = child.kill();
                return Err("gave up after an hour".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if let Some(status) = finished {
            if !status.success() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "apply exited with {status} after {killed} kills:\n{text}"
                ));
            }
            if killed >= kills {
                break;
            }
            // The campaign finished before the kill budget was spent: keep killing reruns
            // (start-up, lock, recovery and an empty plan) until it is.
            after_done += 1;
            continue;
        }
        child.kill().map_err(|e| e.to_string())?;
        child.wait().map_err(|e| e.to_string())?;
        killed += 1;
        let states = ws.ledger_states();
        let maybe_sent =
            count(&states, SendState::Unknown) + count(&states, SendState::Dispatching);
        let added = maybe_sent.saturating_sub(maybe_sent_before);
        if added > BATCH {
            return Err(format!(
                "kill {killed} left {added} more rows unknown (> {BATCH})"
            ));
        }
        worst = worst.max(added);
        maybe_sent_before = maybe_sent;
        check_between_runs(&ws, &sandbox).map_err(|e| format!("after kill {killed}: {e}"))?;
        checked += 1;
        // Steer: progress ahead of the kill schedule → kill sooner, behind → later.
        let done = count(&states, SendState::Sent) + maybe_sent;
        // The schedule aims to finish the campaign at 85 % of the kill budget.
        ceiling_ms = if done * kills * 85 > killed * rows * 100 {
            (ceiling_ms * 17 / 20).max(startup_ms / 3)
        } else {
            (ceiling_ms + startup_ms / 20 + 1).min(60_000)
        };
    }
    check_between_runs(&ws, &sandbox).map_err(|e| format!("at the end: {e}"))?;
    let states = ws.ledger_states();
    let sent = states.get(&SendState::Sent).cloned().unwrap_or_default();
    let unknown = states.get(&SendState::Unknown).cloned().unwrap_or_default();
    let all: BTreeSet<String> = ws.keys.iter().cloned().collect();
    let covered: BTreeSet<String> = sent.union(&unknown).cloned().collect();
    if covered != all {
        let missing = all.difference(&covered).count();
        return Err(format!(
            "{missing} planned rows are neither sent nor unknown"
        ));
    }
    if unknown.len() > killed * BATCH {
        return Err(format!("{} unknown after {killed} kills", unknown.len()));
    }
    Ok(CrashReport {
        startup_ms,
        kills: killed,
        finished_early: after_done,
        restarts_checked: checked,
        sent: sent.len(),
        unknown: unknown.len(),
        worst_unknown_per_crash: worst,
        elapsed: started.elapsed(),
    })
}

fn run_and_report(default_seed: u64, rows: usize, kills: usize, latency_ms: u64) -> CrashReport {
    let seed = seed_or(default_seed);
    eprintln!("crash run: seed {seed}, {rows} recipients, {kills} kills");
    match crash_run(seed, rows, kills, latency_ms) {
        Ok(report) => {
            eprintln!(
                "crash run: seed {seed}: {report:?} in {:.1} s (start-up {} ms, {} reruns after the campaign finished)",
                report.elapsed.as_secs_f64(),
                report.startup_ms,
                report.finished_early
            );
            report
        }
        Err(e) => panic!(
            "crash run failed with seed {seed} (replay: HERALD_CRASH_SEED={seed} cargo test --test crash): {e}"
        ),
    }
}

/// Bounded crash run for every `cargo test`: a few hundred recipients, a dozen kills.
#[test]
fn crash_suite_bounded() {
    let report = run_and_report(0x5EED_0001, 500, 12, 5);
    assert!(report.kills >= 12, "{report:?}");
    assert_eq!(report.sent + report.unknown, 500);
    assert!(report.worst_unknown_per_crash <= BATCH);
}

/// The full crash run: 2,000 recipients, at least 200 SIGKILLs. A random seed unless
/// `HERALD_CRASH_SEED` is set. Run with
/// `cargo test --release --test crash -- --ignored --nocapture`.
#[test]
#[ignore = "several minutes; run with `cargo test --release --test crash -- --ignored`"]
fn crash_suite_full() {
    let default_seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let report = run_and_report(default_seed, 2_000, 200, 20);
    assert!(report.kills >= 200, "{report:?}");
    assert_eq!(report.sent + report.unknown, 2_000);
    assert_eq!(report.restarts_checked, report.kills);
}

/// What a failpoint run left behind, for the assertions below.
struct FailpointOutcome {
    /// Keys the sandbox accepted while the aborted run was alive.
    accepted_in_crash: BTreeSet<String>,
    /// Keys the sandbox accepted in the recovery run.
    accepted_in_recovery: Vec<String>,
    sent: BTreeSet<String>,
    unknown: BTreeSet<String>,
    recovery_stderr: String,
}

const FAILPOINT_ROWS: usize = 250;

/// Aborts `herald apply` at `point`, then runs it again to completion.
fn run_failpoint(point: &str) -> FailpointOutcome {
    let sandbox = Sandbox::start(Faults::default(), 7);
    let ws = Workspace::new(&sandbox, FAILPOINT_ROWS);
    let crashed = ws.apply().env("HERALD_FAILPOINT", point).output().unwrap();
    assert_eq!(
        crashed.status.signal(),
        Some(6),
        "{point}: expected SIGABRT, got {} ({})",
        crashed.status,
        String::from_utf8_lossy(&crashed.stderr)
    );
    check_between_runs(&ws, &sandbox).unwrap_or_else(|e| panic!("{point}: {e}"));
    let accepted_in_crash: BTreeSet<String> = sandbox.accepted_keys().into_iter().collect();
    let recovery = ws.apply().output().unwrap();
    assert!(
        recovery.status.success(),
        "{point}: recovery run failed: {}",
        String::from_utf8_lossy(&recovery.stderr)
    );
    check_between_runs(&ws, &sandbox).unwrap_or_else(|e| panic!("{point}: {e}"));
    let all = sandbox.accepted_keys();
    assert!(duplicates(&all).is_empty(), "{point}: duplicates");
    let accepted_in_recovery = all
        .into_iter()
        .filter(|k| !accepted_in_crash.contains(k))
        .collect();
    let states = ws.ledger_states();
    FailpointOutcome {
        accepted_in_crash,
        accepted_in_recovery,
        sent: states.get(&SendState::Sent).cloned().unwrap_or_default(),
        unknown: states.get(&SendState::Unknown).cloned().unwrap_or_default(),
        recovery_stderr: String::from_utf8_lossy(&recovery.stderr).into_owned(),
    }
}

/// Checks the outcome of a crash inside the first batch: that batch is `unknown` (maybe
/// sent), never resent; every other row is sent exactly once by the recovery run.
fn assert_first_batch_unknown(point: &str, o: &FailpointOutcome) {
    assert_eq!(o.unknown.len(), BATCH, "{point}: unknown rows");
    assert_eq!(o.sent.len(), FAILPOINT_ROWS - BATCH, "{point}: sent rows");
    assert!(
        o.accepted_in_recovery
            .iter()
            .all(|k| !o.unknown.contains(k)),
        "{point}: an unknown row was resent"
    );
    assert_eq!(o.accepted_in_recovery.len(), FAILPOINT_ROWS - BATCH);
    assert!(o.accepted_in_crash.is_subset(&o.unknown), "{point}");
    assert!(
        o.recovery_stderr.contains("unknown"),
        "{point}: the recovery run does not warn: {}",
        o.recovery_stderr
    );
}

#[test]
fn failpoint_after_claim_leaves_the_batch_unknown_and_unsent() {
    let o = run_failpoint(failpoint::AFTER_CLAIM);
    assert_first_batch_unknown(failpoint::AFTER_CLAIM, &o);
    assert!(
        o.accepted_in_crash.is_empty(),
        "nothing was sent before the abort"
    );
}

#[test]
fn failpoint_after_first_send_leaves_the_batch_unknown() {
    let o = run_failpoint(failpoint::AFTER_SEND);
    assert_first_batch_unknown(failpoint::AFTER_SEND, &o);
    assert!(
        !o.accepted_in_crash.is_empty(),
        "the first send was accepted"
    );
}

#[test]
fn failpoint_mid_batch_leaves_the_batch_unknown() {
    let o = run_failpoint(failpoint::MID_BATCH);
    assert_first_batch_unknown(failpoint::MID_BATCH, &o);
    assert!(
        o.accepted_in_crash.len() >= BATCH / 2,
        "half the batch returned"
    );
}

#[test]
fn failpoint_before_record_leaves_the_whole_sent_batch_unknown() {
    let o = run_failpoint(failpoint::BEFORE_RECORD);
    assert_first_batch_unknown(failpoint::BEFORE_RECORD, &o);
    assert_eq!(
        o.accepted_in_crash, o.unknown,
        "every send of the batch returned"
    );
}

#[test]
fn failpoint_after_record_loses_nothing() {
    let o = run_failpoint(failpoint::AFTER_RECORD);
    assert!(o.unknown.is_empty(), "{:?}", o.unknown.len());
    assert_eq!(o.sent.len(), FAILPOINT_ROWS);
    assert_eq!(o.accepted_in_crash.len(), BATCH);
    assert_eq!(o.accepted_in_recovery.len(), FAILPOINT_ROWS - BATCH);
}

/// The sandbox accepts every send but drops 5 % of the connections before answering: herald
/// must neither resend those (no duplicate) nor call them sent; exactly the dropped ones end
/// `unknown`.
#[test]
fn lost_replies_become_unknown_and_are_never_resent() {
    let rows = 1_000;
    let sandbox = Sandbox::start(
        Faults {
            drop_ratio: 0.05,
            ..Faults::default()
        },
        42,
    );
    let ws = Workspace::new(&sandbox, rows);
    let out = ws.apply().output().unwrap();
    assert!(
        out.status.code().is_some(),
        "apply was killed: {}",
        out.status
    );
    let accepted = sandbox.accepted_keys();
    assert!(
        duplicates(&accepted).is_empty(),
        "a dropped send was retried"
    );
    assert_eq!(accepted.len(), rows, "every send reached the sandbox once");
    let accepted: BTreeSet<String> = accepted.into_iter().collect();
    let states = ws.ledger_states();
    let sent = states.get(&SendState::Sent).cloned().unwrap_or_default();
    let unknown = states.get(&SendState::Unknown).cloned().unwrap_or_default();
    let dropped: BTreeSet<String> = accepted.difference(&sent).cloned().collect();
    assert_eq!(
        unknown, dropped,
        "unknown rows are exactly the dropped replies"
    );
    // 5 % of 1,000 with a fixed seed: well inside 2–10 %.
    assert!(
        (20..=100).contains(&unknown.len()),
        "{} dropped",
        unknown.len()
    );
    // A second run sends nothing more.
    let again = ws.apply().output().unwrap();
    assert!(again.status.code().is_some());
    assert_eq!(
        sandbox.accepted_keys().len(),
        rows,
        "a rerun resent something"
    );
    check_between_runs(&ws, &sandbox).unwrap();
}
