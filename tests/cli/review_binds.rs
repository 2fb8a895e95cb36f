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
    assert!(out.contains("unknown"), "the drop fault left unknown rows: {out}");
    sb.set_faults(Faults::default());
    // Two new rows: the reviewed plan sends exactly these.
    write_audience(&ws, 22, "America/New_York");
    let before = sb.messages().len();

    // The review excludes `unknown` rows (maybe sent): they are not in its outcome.
    let digest = review(&ws);
    for extra in [
        vec!["--approved-digest", digest.as_str()],
        vec!["--approved-digest", digest.as_str(), "--approved-plan", "plan.json"],
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
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--approved-digest", &digest, "--approved-plan", "plan.json"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), before + 2);
}
