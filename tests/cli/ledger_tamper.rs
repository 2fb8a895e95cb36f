//! The tamper-evident ledger from the command line: every writing command prints the chain
//! head, `ledger head` prints it, and `ledger verify`/`apply --expect-head` refuse a ledger
//! whose chain does not contain a kept head (restored backup, cut tail); `verify` names the
//! table edited outside herald.

use crate::support::{LocalSandbox, TestWorkspace, phone, run, write_audience};

/// 10:00 in New York.
const NOW: &str = "2026-12-02T15:00:00Z";

fn apply(ws: &TestWorkspace, extra: &[&str]) -> (i32, String, String) {
    run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"])
        .args(extra))
}

/// The `SEQ:HASH` of the `ledger head …` line in `text`.
fn head_in(text: &str) -> String {
    let line = text
        .lines()
        .find_map(|l| {
            l.split_once("ledger head ")
                .map(|(_, h)| h.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no `ledger head` line in: {text}"));
    let (seq, hash) = line.split_once(':').expect("SEQ:HASH");
    assert!(seq.parse::<u64>().is_ok(), "{line}");
    assert!(
        hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{line}"
    );
    line
}

fn ledger_path(ws: &TestWorkspace) -> std::path::PathBuf {
    ws.path().join(".herald/ledger-local.db")
}

/// Opens the environment's ledger file directly, as someone with the file could.
fn raw(ws: &TestWorkspace) -> herald_ledger::SqliteLedger {
    let key = herald_ledger::LedgerKey::load(&ws.path().join(".herald/ledger-local.key")).unwrap();
    herald_ledger::SqliteLedger::open(&ledger_path(ws), &key).unwrap()
}

#[test]
fn writing_commands_print_the_head_and_ledger_head_agrees() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 3, "America/New_York");
    let _sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let after_apply = head_in(&err);
    let (code, out, _) = run(ws.herald().args(["ledger", "head"]));
    assert_eq!(code, 0);
    assert_eq!(head_in(&out), after_apply);

    // --json: the summary carries it.
    write_audience(&ws, 4, "America/New_York");
    let (code, out, err) = apply(&ws, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("summary line");
    let json_head = summary["ledger_head"].as_str().unwrap().to_owned();
    assert_ne!(json_head, after_apply);
    let (_, out, _) = run(ws.herald().args(["ledger", "head", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["head"], json_head.as_str());
    assert_eq!(v["hash"].as_str().unwrap().len(), 64);

    // suppress add prints the new head too.
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    assert_ne!(head_in(&err), json_head);
    let (code, out, _) = run(ws
        .herald()
        .args(["ledger", "verify", "--expect-head", &json_head]));
    assert_eq!(
        code, 0,
        "a head the chain has grown past is still contained: {out}"
    );
}

#[test]
fn a_restored_backup_is_refused_with_expect_head_and_nothing_is_sent() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 3, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    // A backup taken now (the ledger is closed: no WAL is pending).
    let backup = std::fs::read(ledger_path(&ws)).unwrap();
    write_audience(&ws, 5, "America/New_York");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let kept = head_in(&err);
    assert_eq!(sb.messages().len(), 5);

    // The old copy is put back: on its own it is consistent…
    std::fs::write(ledger_path(&ws), backup).unwrap();
    let (code, _, err) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 0, "{err}");
    // … but it does not contain the head kept from the last apply.
    let (code, _, err) = run(ws
        .herald()
        .args(["ledger", "verify", "--expect-head", &kept]));
    assert_eq!(code, 1);
    assert!(err.contains("does not contain the expected head"), "{err}");
    let (code, _, err) = apply(&ws, &["--expect-head", &kept]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("apply refused"), "{err}");
    assert_eq!(sb.messages().len(), 5, "nothing may be sent again");
}

#[test]
fn a_cut_tail_is_caught_with_expect_head() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 3, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    let kept = head_in(&err);
    // Cut the suppression's event and the rows it covers, consistently.
    {
        let l = raw(&ws);
        l.connection()
            .execute_batch(
                "DROP TRIGGER events_append_only_delete; DROP TRIGGER suppression_audit_append_only_delete; \
                 DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events); \
                 DELETE FROM suppression_audit WHERE id = (SELECT MAX(id) FROM suppression_audit); \
                 DELETE FROM suppressions;",
            )
            .unwrap();
    }
    // The checkpoint was sealed at the cut event: plain `verify` already sees it.
    let (code, _, err) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    let (code, _, err) = run(ws
        .herald()
        .args(["ledger", "verify", "--expect-head", &kept]));
    assert_eq!(code, 1);
    assert!(err.contains("does not contain the expected head"), "{err}");
    let (code, _, err) = apply(&ws, &["--expect-head", &kept]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(sb.messages().len(), 3);
}

#[test]
fn verify_names_the_table_edited_outside_herald() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 2, "America/New_York");
    let _sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    for (table, sql) in [
        ("runs", "UPDATE runs SET user_name = 'someone-else'"),
        (
            "template_bindings",
            "UPDATE template_bindings SET response_id = 'other'",
        ),
        ("conversations", "DELETE FROM conversations"),
    ] {
        let backup = std::fs::read(ledger_path(&ws)).unwrap();
        raw(&ws).connection().execute_batch(sql).unwrap();
        let (code, _, err) = run(ws.herald().args(["ledger", "verify"]));
        assert_eq!(code, 1, "{sql}");
        assert!(err.contains(&format!("table `{table}`")), "{sql}: {err}");
        std::fs::write(ledger_path(&ws), backup).unwrap();
    }
}

/// `ledger verify --incremental`: a full verify the first time (none recorded yet), then
/// only what changed since the recorded head plus the checkpoint; an old send moved to
/// another state is caught, an old send's template hash edited in place is the full verify's.
#[test]
fn incremental_verify_checks_since_the_last_verified_head() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 2, "America/New_York");
    let _sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(ws.herald().args(["ledger", "verify", "--incremental"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("running a full verify"), "{err}");
    assert!(out.contains("2 sends"), "{out}");
    let (code, out, err) = run(ws.herald().args(["ledger", "verify", "--incremental"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 events and 0 sends written since the verified head"),
        "{out}"
    );

    let backup = std::fs::read(ledger_path(&ws)).unwrap();
    raw(&ws)
        .connection()
        .execute_batch("UPDATE sends SET template_hash = 'v1:other'")
        .unwrap();
    let (code, _, err) = run(ws.herald().args(["ledger", "verify", "--incremental"]));
    assert_eq!(
        code, 0,
        "in-place edits of older rows are the full verify's: {err}"
    );
    let (code, _, err) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 1, "{err}");
    // The row is always named; its column when the seal's 3-bit column tags tell (they miss
    // one edit in eight, and the ledger key is drawn per workspace).
    assert!(
        err.contains("row notify/C-")
            && (err.contains("template_hash") || err.contains("a column differs")),
        "{err}"
    );
    std::fs::write(ledger_path(&ws), &backup).unwrap();

    raw(&ws)
        .connection()
        .execute_batch("UPDATE sends SET state = 'pending'")
        .unwrap();
    let (code, _, err) = run(ws.herald().args(["ledger", "verify", "--incremental"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    std::fs::write(ledger_path(&ws), &backup).unwrap();
}

#[test]
fn a_malformed_expect_head_is_a_usage_error() {
    let ws = TestWorkspace::example();
    let (code, _, err) = run(ws
        .herald()
        .args(["ledger", "verify", "--expect-head", "12:abc"]));
    assert_eq!(code, 1, "a command-line usage error: {err}");
    assert!(err.contains("12 to 64 hex digits"), "{err}");
}

/// Rows edited behind the chain (the events untouched): `apply` checks the checkpoint before
/// anything is written or sent, with or without `--expect-head`, and texts nobody.
#[test]
fn rows_edited_behind_the_chain_are_refused_before_any_send() {
    for (what, sql) in [
        ("table `suppressions`", "DELETE FROM suppressions"),
        (
            "sends in state",
            "UPDATE sends SET state = 'failed' WHERE row_key = 'C-0'",
        ),
        ("table `sends`", "DELETE FROM sends WHERE row_key = 'C-1'"),
    ] {
        let ws = TestWorkspace::fixture("base");
        write_audience(&ws, 3, "America/New_York");
        let sb = LocalSandbox::start(&ws);
        let (code, _, err) = apply(&ws, &[]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = run(ws.herald().args(["suppress", "add", &phone(3)]));
        assert_eq!(code, 0, "{err}");
        let kept = head_in(&err);
        raw(&ws).connection().execute_batch(sql).unwrap();
        write_audience(&ws, 4, "America/New_York");
        for extra in [&["--expect-head", kept.as_str()][..], &[]] {
            let (code, _, err) = apply(&ws, extra);
            assert_eq!(code, 1, "{sql} {extra:?}: {err}");
            assert!(err.contains("apply refused"), "{err}");
            assert!(err.contains(what), "{sql}: {err}");
            assert!(!err.contains(&phone(3)), "no full number in output: {err}");
        }
        assert_eq!(sb.messages().len(), 3, "{sql}: nothing may be sent");
    }
}

/// The default flow, without `--expect-head`: each apply records the ledger's head in the org
/// (a response in a library of its own), and the next apply refuses a ledger whose chain does
/// not contain it — an older copy put back, or another ledger — before anything is sent.
#[test]
fn a_restored_or_swapped_ledger_is_refused_by_the_org_witness() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 3, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "first run, no witness yet: {err}");
    let backup = std::fs::read(ledger_path(&ws)).unwrap();
    write_audience(&ws, 5, "America/New_York");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let kept = head_in(&err);
    assert_eq!(sb.messages().len(), 5);

    // An older copy put back: consistent on its own, but it lacks the witnessed head.
    let current = std::fs::read(ledger_path(&ws)).unwrap();
    std::fs::write(ledger_path(&ws), &backup).unwrap();
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("apply refused"), "{err}");
    assert!(err.contains(&kept), "names the witnessed head: {err}");
    assert_eq!(sb.messages().len(), 5, "nothing may be sent again");

    // Another ledger (made with the same key) swapped in: refused too.
    std::fs::remove_file(ledger_path(&ws)).unwrap();
    let (code, _, err) = run(ws.herald().args(["suppress", "add", &phone(9)]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("apply refused"), "{err}");
    assert_eq!(sb.messages().len(), 5);

    // The current ledger back: apply goes on (nothing left to send).
    std::fs::write(ledger_path(&ws), &current).unwrap();
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), 5);
}

/// `ledger verify --format json`: one object on stdout, `ok` true on a sound ledger, and on
/// an edited one `ok` false with the broken link's reason (exit 1 either way for a failure).
#[test]
fn verify_as_json_says_what_was_checked_and_what_broke() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 2, "America/New_York");
    let _sb = LocalSandbox::start(&ws);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(ws.herald().args(["ledger", "verify", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["mode"], "full");
    assert_eq!(doc["sends_checked"], 2);
    assert!(doc["ledger"]["head"].is_string(), "{doc}");

    raw(&ws)
        .connection()
        .execute_batch("DELETE FROM conversations")
        .unwrap();
    let (code, out, _) = run(ws.herald().args(["ledger", "verify", "--format", "json"]));
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(doc["ok"], false);
    assert!(
        doc["first_broken"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("table `conversations`")),
        "{doc}"
    );
}
