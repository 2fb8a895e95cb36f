//! Approval bound to what was reviewed: `plan` prints a review digest, and
//! `apply --approved-digest` applies only the plan with that digest.

use crate::support::{LocalSandbox, TestWorkspace, plan_json, run, write_audience};

const NOW: &str = "2026-12-02T15:00:00Z";

fn local(n: usize) -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, n, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

/// The Markdown plan (as posted on the pull request), saved as `review.md`, and its digest.
fn review(ws: &TestWorkspace) -> String {
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    ws.write("review.md", &md);
    let line = md
        .lines()
        .find_map(|l| l.strip_prefix("<!-- herald-review-digest: "))
        .unwrap_or_else(|| panic!("no digest marker in\n{md}"));
    line.trim_end_matches("-->").trim().to_owned()
}

fn apply_approved(ws: &TestWorkspace, digest: &str, with_plan: bool) -> (i32, String, String) {
    let mut cmd = ws.herald();
    cmd.env("HERALD_NOW", NOW)
        .args(["apply", "--approved-digest", digest]);
    if with_plan {
        cmd.args(["--approved-plan", "review.md"]);
    }
    run(&mut cmd)
}

/// Nothing was written to Genesys: the template is still to be created.
fn nothing_written(ws: &TestWorkspace, sb: &LocalSandbox) {
    assert!(sb.messages().is_empty(), "messages were sent");
    let plan = plan_json(ws);
    assert!(
        plan["templates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["action"] == "create"),
        "a template was written: {plan}"
    );
}

#[test]
fn every_plan_format_prints_the_same_review_digest() {
    let (ws, _sb) = local(3);
    let digest = review(&ws);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let json = plan_json(&ws);
    assert_eq!(json["review_digest"], digest.as_str());
    assert_eq!(json["format_version"], 3);
    let (code, text, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["plan"]));
    assert_eq!(code, 0, "{err}");
    assert!(text.contains(&format!("Review digest: {digest}")), "{text}");
}

#[test]
fn the_matching_digest_applies() {
    let (ws, sb) = local(3);
    let digest = review(&ws);
    let (code, out, err) = apply_approved(&ws, &digest, true);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sb.messages().len(), 3);
}

#[test]
fn a_template_edited_after_review_is_refused_by_name() {
    let (ws, sb) = local(3);
    let digest = review(&ws);
    let t = ws
        .read("templates/order-shipped.yaml")
        .replace("has shipped", "is on its way");
    ws.write("templates/order-shipped.yaml", &t);
    let (code, _, err) = apply_approved(&ws, &digest, true);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not the approved plan"), "{err}");
    assert!(
        err.contains("template order-shipped: its text or settings changed"),
        "{err}"
    );
    assert!(
        err.contains("campaign notify: its template changed"),
        "{err}"
    );
    nothing_written(&ws, &sb);
}

#[test]
fn an_audience_that_gained_rows_is_refused_with_the_count() {
    let (ws, sb) = local(3);
    let digest = review(&ws);
    write_audience(&ws, 6, "America/New_York");
    let (code, _, err) = apply_approved(&ws, &digest, true);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("campaign notify: its audience gained 3 rows since the review (3 → 6)"),
        "{err}"
    );
    assert!(!err.contains("template order-shipped"), "{err}");
    nothing_written(&ws, &sb);
}

#[test]
fn without_the_reviewed_plan_the_refusal_names_both_digests() {
    let (ws, sb) = local(3);
    let digest = review(&ws);
    write_audience(&ws, 4, "America/New_York");
    let (code, _, err) = apply_approved(&ws, &digest, false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("not the approved {digest}")), "{err}");
    assert!(err.contains("--approved-plan"), "{err}");
    nothing_written(&ws, &sb);
}

#[test]
fn a_reviewed_plan_that_does_not_match_the_digest_is_an_error() {
    let (ws, sb) = local(3);
    review(&ws);
    let other = format!("sha256:{}", "0".repeat(64));
    let (code, _, err) = apply_approved(&ws, &other, true);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("review.md is not the approved plan"), "{err}");
    let (code, _, err) = apply_approved(&ws, "sha256:xyz", false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("64 lowercase hex digits"), "{err}");
    nothing_written(&ws, &sb);
}

#[test]
fn an_older_saved_plan_is_refused_and_a_newer_format_too() {
    let (ws, sb) = local(2);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "plan",
        "--out",
        "plan.json",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    let mut plan: serde_json::Value = serde_json::from_str(&ws.read("plan.json")).unwrap();
    plan["format_version"] = 4.into();
    ws.write("plan4.json", &serde_json::to_string_pretty(&plan).unwrap());
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "plan4.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("plan format 4, made by a newer herald (this herald reads format 3)"),
        "{err}"
    );
    assert!(sb.messages().is_empty());

    // A format-1 plan (before the review digest) and a format-2 plan (whose review left out
    // the policy, the environment and the rows' contents) are refused, not applied.
    for old in [1, 2] {
        let obj = plan.as_object_mut().unwrap();
        obj.insert("format_version".into(), old.into());
        if old == 1 {
            obj.remove("review_digest");
            obj.remove("review");
        }
        ws.write("old.json", &serde_json::to_string_pretty(&plan).unwrap());
        let (code, _, err) = run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["apply", "old.json"]));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!(
                "old.json was made by an older herald (plan format {old}; this herald reads format 3)"
            )),
            "{err}"
        );
        assert!(err.contains("plan again"), "{err}");
        assert!(sb.messages().is_empty());
    }
}

#[test]
fn markdown_shows_a_new_templates_full_text_masked() {
    let (ws, _sb) = local(1);
    ws.write(
        "templates/help-email.yaml",
        r#"kind: Template
name: help-email
channel: email
category: transactional
status: draft
subject: "Your order & <help>"
html: "<p>Write to help.desk@example.com</p>"
text: |
  Write to help.desk@example.com or call +12125550199.
"#,
    );
    // A draft is never pushed: the plan shows no text for it.
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    assert!(!md.contains("help-email</code> — create"), "{md}");
    ws.write(
        "templates/help-email.yaml",
        &ws.read("templates/help-email.yaml")
            .replace("status: draft", "status: published"),
    );
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("<code>help-email</code> — create"), "{md}");
    assert!(
        md.contains("`subject` (new):\n\n<pre>Your order &amp; &lt;help&gt;</pre>"),
        "{md}"
    );
    assert!(
        md.contains("<pre>Write to h***@example.com or call +1******0199.</pre>"),
        "{md}"
    );
    assert!(!md.contains("help.desk@"), "{md}");
    assert!(!md.contains("5550199"), "{md}");
    assert!(md.contains("<code>order-shipped</code> — create"), "{md}");
    assert!(md.contains("`body` (new):"), "{md}");
}
