//! `herald ledger archive`: verify, audit, export and apply agree before and after a cut.

use crate::support::{LocalSandbox, TestWorkspace, phone, run, write_audience};

/// 10:00 in New York, 07:00 in Los Angeles.
const NOW: &str = "2026-12-02T15:00:00Z";
/// When the archive runs ("now" for its checks): the sends above were made before it.
const LATER: &str = "2099-06-01T00:00:00Z";

fn herald_at(ws: &TestWorkspace, now: &str, args: &[&str]) -> (i32, String, String) {
    run(ws.herald().env("HERALD_NOW", now).args(args))
}

fn archive_file(ws: &TestWorkspace) -> std::path::PathBuf {
    let dir = ws.path().join(".herald/archive");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn archive_keeps_verify_audit_export_and_apply_in_agreement() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 4, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = herald_at(&ws, NOW, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("sent 4"), "{out}");

    let (code, verify_before, _) = herald_at(&ws, NOW, &["ledger", "verify"]);
    assert_eq!(code, 0);
    let (code, audit_before, err) = herald_at(&ws, NOW, &["audit", &phone(1)]);
    assert_eq!(code, 0, "{err}");
    assert!(audit_before.contains("notify"), "{audit_before}");
    let (_, export_before, _) = herald_at(&ws, NOW, &["ledger", "export"]);
    assert_eq!(export_before.lines().count(), 5, "{export_before}");

    let (code, out, err) = herald_at(&ws, LATER, &["ledger", "archive", "--before", "2099-01-01"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("archived 4 sends and 4 facts of 1 campaigns")
            && out.contains("moved  notify")
            && out.contains(".herald/archive/local-cut-"),
        "{out}"
    );
    assert!(out.contains("VACUUM"), "{out}");
    let file = archive_file(&ws);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let db = std::fs::read(&file).unwrap();
    assert!(!db.windows(11).any(|w| w == &phone(1).as_bytes()[1..]));
    let file_arg = file.to_str().unwrap();

    // The hot ledger alone verifies (fewer sends), and with the archive the counts add up.
    let (code, out, err) = herald_at(&ws, LATER, &["ledger", "verify"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 sends"), "{out}");
    let (code, out, err) = herald_at(&ws, LATER, &["ledger", "verify", "--archive", file_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok: cut #") && out.contains("1 campaigns, 4 sends, 4 facts checked"),
        "{out}"
    );
    assert!(verify_before.contains("4 sends"), "{verify_before}");

    // Audit and export read the archived sends: the same lines as before the cut.
    let (code, audit_after, _) = herald_at(&ws, LATER, &["audit", &phone(1)]);
    assert_eq!(code, 0);
    assert!(!audit_after.contains("notify"), "{audit_after}");
    let (code, audit_joined, err) =
        herald_at(&ws, LATER, &["audit", &phone(1), "--archive", file_arg]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(audit_joined, audit_before);
    let (code, export_joined, err) =
        herald_at(&ws, LATER, &["ledger", "export", "--archive", file_arg]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(export_joined, export_before);

    // Apply refuses the archived campaign, naming it and the archive; nobody gets a second
    // message.
    let (code, out, err) = herald_at(&ws, NOW, &["apply", "--auto-approve"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("campaign `notify` was archived by cut #") && err.contains("local-cut-"),
        "{err}"
    );
    let (code, _, err) = herald_at(&ws, NOW, &["plan"]);
    assert_ne!(code, 0);
    assert!(err.contains("`notify` was archived"), "{err}");
    // `status` still works with the archived campaign in the workspace.
    let (code, _, err) = herald_at(&ws, NOW, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(sb.per_address().values().all(|n| *n == 1));
    assert_eq!(sb.per_address().len(), 4);

    // An edited archive is refused by verify and by audit.
    let c = rusqlite::Connection::open(&file).unwrap();
    c.execute(
        "UPDATE sends SET state = 'failed' WHERE row_key = (SELECT MIN(row_key) FROM sends)",
        [],
    )
    .unwrap();
    drop(c);
    let (code, _, err) = herald_at(&ws, LATER, &["ledger", "verify", "--archive", file_arg]);
    assert_eq!(code, 1);
    assert!(
        err.contains("archive verification failed") && err.contains("edited"),
        "{err}"
    );
    let (code, _, err) = herald_at(&ws, LATER, &["audit", &phone(1), "--archive", file_arg]);
    assert_ne!(code, 0);
    assert!(err.contains("fails verification"), "{err}");
}

#[test]
fn a_cut_date_inside_a_cap_window_or_in_the_future_is_refused() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  postal_address: \"Example Inc, 1 Main St, Springfield, IL 62701\"\n  frequency_caps:\n    - { channel: sms, category: marketing, max: 3, per: 24h }\n    - { channel: sms, category: marketing, max: 8, per: 30d }\n",
    );
    let (code, _, err) = herald_at(
        &ws,
        "2099-01-20T00:00:00Z",
        &["ledger", "archive", "--before", "2099-01-01"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("policy.frequency_caps[1].per") && err.contains("2098-12-21"),
        "{err}"
    );
    let (code, _, err) = herald_at(
        &ws,
        "2099-01-20T00:00:00Z",
        &["ledger", "archive", "--before", "2099-02-01"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("in the future"), "{err}");
    let (code, _, err) = herald_at(
        &ws,
        "2099-01-20T00:00:00Z",
        &["ledger", "archive", "--before", "01/02/2099"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    // Outside every window: nothing to move in a new ledger, and no file.
    let (code, out, err) = herald_at(
        &ws,
        "2099-03-01T00:00:00Z",
        &["ledger", "archive", "--before", "2099-01-01T00:00:00Z"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to archive"), "{out}");
}

#[test]
fn an_explicit_output_must_not_exist_nor_be_a_link() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 2, "America/New_York");
    let _sb = LocalSandbox::start(&ws);
    let (code, _, err) = herald_at(&ws, NOW, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
    ws.write("taken.sqlite", "x");
    let (code, _, err) = herald_at(
        &ws,
        LATER,
        &[
            "ledger",
            "archive",
            "--before",
            "2099-01-01",
            "--out",
            "taken.sqlite",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("never overwrite"), "{err}");
    std::os::unix::fs::symlink(ws.path().join("elsewhere"), ws.path().join("link.sqlite")).unwrap();
    let (code, _, err) = herald_at(
        &ws,
        LATER,
        &[
            "ledger",
            "archive",
            "--before",
            "2099-01-01",
            "--out",
            "link.sqlite",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!ws.path().join("elsewhere").exists());
    let (code, out, err) = herald_at(
        &ws,
        LATER,
        &[
            "ledger",
            "archive",
            "--before",
            "2099-01-01",
            "--out",
            "cold.sqlite",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cold.sqlite"), "{out}");
    let (code, out, err) = herald_at(
        &ws,
        LATER,
        &["ledger", "verify", "--archive", "cold.sqlite"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 sends"), "{out}");
}
