//! `herald reconcile` and `herald import` against a sandbox in the test process.

use herald_sandbox::Faults;

use crate::support::{LocalSandbox, TestWorkspace, phone, plan_json, run, write_audience};

fn local(n: usize) -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, n, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

fn status_unknown(ws: &TestWorkspace) -> u64 {
    let (_, out, _) = run(ws.herald().args(["status", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["states"]["unknown"].as_u64().unwrap_or(0))
        .sum()
}

fn apply(ws: &TestWorkspace) -> (i32, String, String) {
    run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["apply", "--auto-approve"]))
}

#[test]
fn dropped_replies_are_found_and_marked_sent() {
    let (ws, sb) = local(20);
    sb.set_faults(Faults {
        drop_ratio: 0.4,
        ..Faults::default()
    });
    let (code, _, err) = apply(&ws);
    assert_eq!(code, 0, "{err}");
    let unknown = status_unknown(&ws);
    assert!(unknown > 0, "the drop fault left unknown rows");
    sb.set_faults(Faults::default());
    let (code, out, err) = run(ws.herald().arg("reconcile"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{unknown} found (now sent), 0 not sent")),
        "{out}"
    );
    assert!(!out.contains("2125550"), "addresses are masked: {out}");
    assert_eq!(status_unknown(&ws), 0);
    // Nothing is resent: every address got exactly one message.
    let (code, _, _) = apply(&ws);
    assert_eq!(code, 0);
    let per = sb.per_address();
    assert_eq!(per.len(), 20);
    assert!(per.values().all(|n| *n == 1), "{per:?}");
}

#[test]
fn unknown_sends_that_never_arrived_become_pending_after_the_settle_time() {
    let (ws, sb) = local(20);
    // Write the template first (its create is not retried either).
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", "2026-12-02T15:00:00Z").args([
        "apply",
        "--auto-approve",
        "--max-sends",
        "0",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(sb.messages().is_empty());
    // 503s are answered before the sandbox records anything: maybe-sent to herald, not sent.
    sb.set_faults(Faults {
        error_5xx_ratio: 0.3,
        ..Faults::default()
    });
    let (_, out, err) = apply(&ws);
    let unknown = status_unknown(&ws);
    assert!(unknown > 0, "503s on sends leave unknown rows: {out}{err}");
    sb.set_faults(Faults::default());
    // Too early: nothing is decided.
    let (code, out, err) = run(ws.herald().arg("reconcile"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "0 found (now sent), 0 not sent (now pending), {unknown} still unknown"
        )),
        "{out}"
    );
    assert!(out.contains("not indexed yet"), "{out}");
    // The same report as JSON: each send masked, with its finding and the totals.
    let (code, out, err) = run(ws.herald().args(["reconcile", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["totals"]["still_unknown"], unknown);
    let sends = doc["sends"].as_array().expect("sends");
    assert_eq!(sends.len() as u64, unknown);
    assert!(sends.iter().all(|s| s["finding"] == "not_indexed"), "{out}");
    assert!(!out.contains(&phone(0)[2..]), "addresses are masked: {out}");
    // After the settle time the absent ones are pending, and the next apply sends them once.
    let (code, out, err) = run(ws.herald().args(["reconcile", "--settle-secs", "0"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "0 found (now sent), {unknown} not sent (now pending)"
        )),
        "{out}"
    );
    let (code, out, err) = apply(&ws);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("sent {unknown}")), "{out}");
    let per = sb.per_address();
    assert_eq!(per.len(), 20, "every recipient reached");
    assert!(per.values().all(|n| *n == 1), "no duplicates: {per:?}");
    assert!(per.contains_key(&phone(0)));
}

#[test]
fn nothing_to_reconcile() {
    let (ws, _sb) = local(2);
    let (code, out, _) = run(ws.herald().arg("reconcile"));
    assert_eq!(code, 0);
    assert_eq!(out, "no unknown sends\n");
}

#[test]
fn nothing_to_reconcile_as_json() {
    let (ws, _sb) = local(2);
    let (code, out, _) = run(ws.herald().args(["reconcile", "--format", "json"]));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["sends"], serde_json::json!([]));
    assert_eq!(doc["totals"]["found"], 0);
}

#[test]
fn import_adopts_a_drifted_remote_text_and_the_plan_is_then_clean() {
    let (ws, sb) = local(2);
    let (code, _, err) = apply(&ws);
    assert_eq!(code, 0, "{err}");
    let id = crate::support::response_id(&ws, "order-shipped");
    sb.edit_out_of_band(
        &id,
        "Order {{order_id}} is on its way: {{tracking_link}}. Reply STOP to opt out.",
    );
    let plan = plan_json(&ws);
    assert_eq!(plan["templates"][0]["action"], "drift");
    let (code, out, err) =
        run(ws
            .herald()
            .args(["import", "order-shipped", "nope", "--format", "json"]));
    assert_eq!(
        code, 0,
        "as in text, a name not found is reported, not fatal: {err}"
    );
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(doc["imported"][0]["name"], "order-shipped", "{doc}");
    assert_eq!(doc["not_found"], serde_json::json!(["nope"]), "{doc}");
    assert!(doc["ledger"]["head"].is_string(), "{doc}");
    let yaml = ws.read("templates/order-shipped.yaml");
    assert!(yaml.contains("Order {{order_id}} is on its way"), "{yaml}");
    assert!(
        yaml.contains("category: transactional"),
        "the existing category is kept: {yaml}"
    );
    let (code, _, err) = run(ws.herald().arg("validate"));
    assert_eq!(code, 0, "the imported YAML validates: {err}");
    let plan = plan_json(&ws);
    assert_eq!(plan["templates"][0]["action"], "noop", "{plan}");
}

#[test]
fn import_of_an_unknown_name_fails() {
    let (ws, _sb) = local(1);
    let (code, _, _) = apply(&ws);
    assert_eq!(code, 0);
    let (code, _, err) = run(ws.herald().args(["import", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("no response named `nope`"), "{err}");
}

#[test]
fn a_saved_plan_is_stale_when_the_audience_definition_changed() {
    let (ws, sb) = local(3);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    // Same keys and data file, but the consent column is no longer required: not reviewed.
    let yaml = ws
        .read("campaigns/shipped.yaml")
        .replace("consent: sms_opt_in\n", "");
    ws.write("campaigns/shipped.yaml", &yaml);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["apply", "p.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stale plan: campaign notify is not applied: campaigns/shipped.yaml changed since the plan"), "{err}");
    assert!(sb.messages().is_empty(), "nothing unreviewed was sent");
}

#[test]
fn plan_samples_mask_addresses_quoted_in_the_text() {
    let (ws, _sb) = local(2);
    ws.write(
        "templates/order-shipped.yaml",
        "kind: Template\nname: order-shipped\nchannel: sms\ncategory: transactional\nstatus: published\nbody: \"Order {{order_id}} ({{tracking_link}}) for {{phone}}. Reply STOP to opt out.\"\nvariables:\n  order_id: {}\n  tracking_link: {}\n  phone: {}\n",
    );
    let yaml = ws
        .read("campaigns/notify.yaml")
        .replace("variables:\n", "variables:\n  phone: { column: phone }\n");
    ws.write("campaigns/notify.yaml", &yaml);
    for format in ["text", "markdown", "json"] {
        let (code, out, err) = run(ws
            .herald()
            .env("HERALD_NOW", "2026-12-02T15:00:00Z")
            .args(["plan", "--format", format]));
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains(&phone(0)[1..]),
            "{format} plan shows a full number:\n{out}"
        );
        assert!(out.contains("+1******0100"), "{format}: {out}");
    }
}

/// Over a thousand `unknown` rows are looked up in bulk — one paged analytics query per
/// sender and time slice, not one per row — and the rows not found are sent by the next apply,
/// each exactly once.
#[test]
fn a_thousand_unknown_rows_reconcile_in_a_few_paged_queries() {
    let n = 1_200;
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, n, "America/New_York");
    let sb = LocalSandbox::start_with(&ws, None, 600_000);
    // Most sends are accepted then dropped (maybe sent, in fact sent); a few get a 503 before
    // the sandbox records them (maybe sent, in fact not sent).
    sb.set_faults(Faults {
        drop_ratio: 0.9,
        error_5xx_ratio: 0.02,
        ..Faults::default()
    });
    let (_, out, err) = apply(&ws);
    let unknown = status_unknown(&ws);
    assert!(unknown >= 1_000, "{unknown} unknown rows: {out}{err}");
    sb.set_faults(Faults::default());
    sb.sandbox().reset_stats();
    let (code, out, err) = run(ws.herald().args(["reconcile", "--settle-secs", "0"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_unknown(&ws), 0, "{out}");
    let stats = sb.sandbox().stats();
    let analytics: u64 = stats
        .routes
        .iter()
        .filter(|r| r.route.contains("/analytics/"))
        .map(|r| r.requests)
        .sum();
    // 40 requests for 2,000 rows, scaled to 1,200.
    assert!(
        analytics > 0 && analytics <= 24,
        "{analytics} analytics requests: {:?}",
        stats.routes
    );
    let accepted = sb.messages().len();
    assert!(
        out.contains(&format!("{} not sent (now pending)", n - accepted)),
        "{out}"
    );
    let (code, _, err) = apply(&ws);
    assert_eq!(code, 0, "{err}");
    let per = sb.per_address();
    assert_eq!(per.len(), n);
    assert!(
        per.values().all(|c| *c == 1),
        "a recipient got two messages"
    );
}
