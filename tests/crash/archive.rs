//! `herald ledger archive` killed at each of its steps: the ledger is left either without a
//! cut (its sends still hot, a re-run starts over and removes the interrupted run's file) or
//! with a complete cut whose archive verifies.

use std::os::unix::process::ExitStatusExt as _;

use herald::failpoint;
use herald_ledger::SendState;
use herald_sandbox::Faults;

use crate::support::{Sandbox, Workspace, count};

const ROWS: usize = 30;

fn archive(ws: &Workspace, point: Option<&str>) -> std::process::Output {
    let mut cmd = ws.herald();
    cmd.env("HERALD_NOW", "2099-06-01T00:00:00Z").args([
        "ledger",
        "archive",
        "--before",
        "2099-01-01",
    ]);
    if let Some(p) = point {
        cmd.env("HERALD_FAILPOINT", p);
    }
    cmd.output().unwrap()
}

fn files(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.path().join(".herald/archive"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn verify_archive(ws: &Workspace, name: &str) -> String {
    let out = ws
        .herald()
        .args(["ledger", "verify", "--archive"])
        .arg(ws.path().join(".herald/archive").join(name))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn killed_at(point: &str) -> (Sandbox, Workspace) {
    let sandbox = Sandbox::start(Faults::default(), 7);
    let ws = Workspace::new(&sandbox, ROWS);
    let o = ws.apply().output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), ROWS);
    let o = archive(&ws, Some(point));
    assert_eq!(o.status.signal(), Some(6), "{point}: the process aborted");
    ws.verify().unwrap();
    (sandbox, ws)
}

#[test]
fn killed_before_the_rename_leaves_no_cut_and_a_rerun_completes() {
    let (_sb, ws) = killed_at(failpoint::ARCHIVE_BEFORE_RENAME);
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), ROWS);
    let left = files(&ws);
    assert!(
        left.len() == 1 && left[0].ends_with(".sqlite.tmp"),
        "{left:?}"
    );
    let o = archive(&ws, None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("left by an interrupted archive"), "{err}");
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), 0);
    let left = files(&ws);
    assert!(left.len() == 1 && left[0].ends_with(".sqlite"), "{left:?}");
    let text = verify_archive(&ws, &left[0]);
    assert!(text.contains(&format!("{ROWS} sends")), "{text}");
}

#[test]
fn killed_before_the_cut_leaves_no_cut_and_a_rerun_replaces_the_file() {
    let (_sb, ws) = killed_at(failpoint::ARCHIVE_BEFORE_CUT);
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), ROWS);
    let left = files(&ws);
    assert!(left.len() == 1 && left[0].ends_with(".sqlite"), "{left:?}");
    // No cut names the file: it does not verify as an archive of this ledger.
    let out = ws
        .herald()
        .args(["ledger", "verify", "--archive"])
        .arg(ws.path().join(".herald/archive").join(&left[0]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no cut of this ledger names this archive")
    );
    let o = archive(&ws, None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("left by an interrupted archive"), "{err}");
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), 0);
    let after = files(&ws);
    assert_eq!(after.len(), 1, "{after:?}");
    verify_archive(&ws, &after[0]);
}

#[test]
fn killed_after_the_cut_leaves_a_complete_cut() {
    let (_sb, ws) = killed_at(failpoint::ARCHIVE_AFTER_CUT);
    assert_eq!(count(&ws.ledger_states(), SendState::Sent), 0);
    let left = files(&ws);
    assert_eq!(left.len(), 1, "{left:?}");
    let text = verify_archive(&ws, &left[0]);
    assert!(text.contains(&format!("{ROWS} sends")), "{text}");
    let o = archive(&ws, None);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to archive"));
    assert_eq!(files(&ws), left);
    // The archived campaign is never applied again.
    let o = ws.apply().output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("was archived by cut #"));
}
