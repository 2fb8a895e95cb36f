//! What an approved or saved plan lets apply send is only what the review saw: flags and
//! waits that reach rows outside the reviewed set are refused.

use herald_sandbox::Faults;

use crate::support::{LocalSandbox, TestWorkspace, run, write_audience};

/// 10:00 in New York.
const NOW: &str = "2026-12-02T15:00:00Z";

/// The Markdown plan's review digest at `NOW`; also saves the plan as `plan.json`.
fn review(ws: &TestWorkspace) -> String {
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "plan",
        "--format",
        "json",
        "--out",
        "plan.json",
    ]));
    assert_eq!(code, 0, "{err}");
    md.lines()
        .find_map(|l| l.strip_prefix("<!-- herald-review-digest: "))
        .unwrap_or_else(|| panic!("no digest marker in\n{md}"))
        .trim_end_matches("-->")
        .trim()
        .to_owned()
}

#[test]
fn resend_unknown_is_refused_under_an_approved_digest_or_a_saved_plan() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 20, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    sb.set_faults(Faults {
        drop_ratio: 0.4,
        ..Faults::default()
    });
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("unknown"),
        "the drop fault left unknown rows: {out}"
    );
    sb.set_faults(Faults::default());
    // Two new rows: the reviewed plan sends exactly these.
    write_audience(&ws, 22, "America/New_York");
    let before = sb.messages().len();

    // The review excludes `unknown` rows (maybe sent): they are not in its outcome.
    let digest = review(&ws);
    for extra in [
        vec!["--approved-digest", digest.as_str()],
        vec![
            "--approved-digest",
            digest.as_str(),
            "--approved-plan",
            "plan.json",
        ],
        vec!["plan.json"],
    ] {
        let (code, out, err) = run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["apply", "--resend-unknown"])
            .args(&extra));
        assert_eq!(code, 1, "{extra:?} was not refused:\n{out}\n{err}");
        assert!(err.contains("--resend-unknown"), "{extra:?}: {err}");
        assert_eq!(
            sb.messages().len(),
            before,
            "{extra:?}: unreviewed unknown rows were resent"
        );
    }
    // Without the flag the reviewed plan applies: the two new rows, no `unknown` row.
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "apply",
        "--approved-digest",
        &digest,
        "--approved-plan",
        "plan.json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), before + 2);
}

/// Opens the environment's ledger file directly, as someone with the file could.
fn raw_ledger(ws: &TestWorkspace) -> herald_ledger::SqliteLedger {
    let key = herald_ledger::LedgerKey::load(&ws.path().join(".herald/ledger-local.key")).unwrap();
    herald_ledger::SqliteLedger::open(&ws.path().join(".herald/ledger-local.db"), &key).unwrap()
}

const NOTIFY: &str = "kind: Campaign
name: notify
template: order-shipped
audience: shipped
from: \"+15550001111\"
variables:
  order_id: { column: order_id }
  tracking_link: { column: tracking_url }
send_window: none
status: active
";

/// Sends one row, then holds the other two by the schedule for a few seconds, reviews that
/// plan and runs `apply --wait --approved-digest` on it with the real clock (a pinned clock
/// never waits), calling `meanwhile` while it waits. Returns (exit code, stderr).
fn wait_under_review(
    ws: &TestWorkspace,
    sb: &LocalSandbox,
    meanwhile: impl FnOnce(),
) -> (i32, String) {
    let (code, _, err) = run(ws
        .herald()
        .args(["apply", "--auto-approve", "--max-sends", "1"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), 1, "one row sent before the review");
    let opens = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(8);
    ws.write(
        "campaigns/notify.yaml",
        &NOTIFY.replace(
            "status: active",
            &format!("schedule: {{ not_before: {opens} }}\nstatus: active"),
        ),
    );
    let (code, md, err) = run(ws.herald().args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    let digest = md
        .lines()
        .find_map(|l| l.strip_prefix("<!-- herald-review-digest: "))
        .unwrap_or_else(|| panic!("no digest marker in\n{md}"))
        .trim_end_matches("-->")
        .trim()
        .to_owned();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("HERALD_LEDGER_KEY")
        .args(["apply", "--wait", "--approved-digest", &digest])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    meanwhile();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn held_workspace() -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 3, "America/New_York");
    ws.write("campaigns/notify.yaml", NOTIFY);
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

/// `apply --wait` plans again when held rows open; that plan must still be the approved one
/// (the same comparison as the approval check, less the run's own progress), from a ledger
/// that still matches its checkpoint. Here a send made before the review is deleted from the
/// ledger while apply waits: the re-plan would send to a key the review never approved (a
/// second message to someone already texted).
#[test]
fn a_wait_replan_that_differs_from_the_approved_plan_sends_nothing_more() {
    let (ws, sb) = held_workspace();
    let (code, err) = wait_under_review(&ws, &sb, || {
        raw_ledger(&ws)
            .connection()
            .execute_batch("DELETE FROM sends WHERE row_key = 'C-0'")
            .unwrap();
    });
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("changed while waiting"), "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    let dupes: Vec<_> = sb
        .per_address()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(
        dupes.is_empty(),
        "a recipient outside the review was texted again: {dupes:?}"
    );
}

/// The same wait with nothing changed sends the two held rows once they open.
#[test]
fn a_wait_replan_of_the_approved_plan_sends_the_held_rows() {
    let (ws, sb) = held_workspace();
    let (code, err) = wait_under_review(&ws, &sb, || {});
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), 3, "{err}");
    assert!(sb.per_address().values().all(|n| *n == 1));
}

/// `--retry-failed` is part of the review: a digest approved without it does not let apply
/// retry refused rows, and one approved with it does not let apply leave them out.
#[test]
fn retrying_failed_rows_needs_a_review_that_retries_them() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 8, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    let provisioned = sb.sandbox().org();
    let mut org = provisioned.clone();
    org.sms_numbers.clear();
    sb.sandbox().set_org(org).unwrap();
    let (code, out, _) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed 8"), "{out}");
    sb.sandbox().set_org(provisioned).unwrap();

    let without = review(&ws);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "apply",
        "--retry-failed",
        "--approved-digest",
        &without,
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not the approved plan"), "{err}");
    assert!(sb.messages().is_empty());

    let (code, md, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "plan",
        "--retry-failed",
        "--format",
        "markdown",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("8 failed rows to retry"), "{md}");
    let with = md
        .lines()
        .find_map(|l| l.strip_prefix("<!-- herald-review-digest: "))
        .expect("digest")
        .trim_end_matches("-->")
        .trim()
        .to_owned();
    assert_ne!(with, without);
    let (code, _, err) =
        run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["apply", "--approved-digest", &with]));
    assert_eq!(code, 1, "without the flag the plan differs: {err}");
    assert!(sb.messages().is_empty());
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "apply",
        "--retry-failed",
        "--approved-digest",
        &with,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 8"), "{out}");
    assert_eq!(sb.messages().len(), 8);
}
