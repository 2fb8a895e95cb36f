//! No window is wider than the law (issue 21 §2): a campaign's `send_window` only narrows the
//! policy's and (for marketing) the federal 08:00–21:00; a marketing window that wraps midnight
//! is a validation error; a `state` value that is not a US state or territory leaves the
//! number's state in force; and a marketing message must be inside its window both in the row's
//! `timezone` and in the number's own zone.

use std::fmt::Write as _;

use crate::support::{
    LocalSandbox, PROMO_TEMPLATE, TestWorkspace, plan_campaign, plan_json_at, run,
};

/// 2026-12-03 02:30 UTC: 21:30 in New York, 20:30 in Chicago.
const NINE_THIRTY_EAST: &str = "2026-12-03T02:30:00Z";
/// 2026-12-03 01:30 UTC: 20:30 in Miami and New York.
const EIGHT_THIRTY_EAST: &str = "2026-12-03T01:30:00Z";
/// 2026-12-03 08:00 UTC: 03:00 in New York, 00:00 in Los Angeles.
const THREE_AM_EAST: &str = "2026-12-03T08:00:00Z";
/// 2026-12-02 15:00 UTC (a Wednesday): 10:00 in Miami, every window open.
const TEN_AM_EAST: &str = "2026-12-02T15:00:00Z";

/// The promo campaign, with `extra` (e.g. a `send_window`) appended.
fn promo_campaign(extra: &str) -> String {
    format!(
        "kind: Campaign\nname: promo\ntemplate: winter-sale\naudience: promo-list\nfrom: \"+15550001111\"\nstatus: active\n{extra}"
    )
}

/// A workspace with the base fixture's transactional `notify` campaign and a marketing
/// `promo` campaign (with `promo_extra` appended) to an audience whose rows are `rows`
/// (`phone, timezone, state`; empty values allowed).
fn workspace(promo_extra: &str, rows: &[(&str, &str, &str)]) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write("templates/winter-sale.yaml", PROMO_TEMPLATE)
        .write("campaigns/promo.yaml", &promo_campaign(promo_extra))
        .write(
            "campaigns/promo-list.yaml",
            "kind: Audience\nname: promo-list\nsource: { csv: data/promo-list.csv }\nkey: id\naddress: phone\ntimezone: tz\nstate: st\nconsent: opt_in\n",
        );
    let mut csv = String::from("id,phone,tz,st,opt_in\n");
    for (i, (phone, tz, st)) in rows.iter().enumerate() {
        let _ = writeln!(csv, "P-{i},{phone},{tz},{st},yes");
    }
    ws.write("campaigns/data/promo-list.csv", &csv);
    ws
}

fn plan(ws: &TestWorkspace, now: &str) -> serde_json::Value {
    plan_json_at(ws, now)
}

fn campaign<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan_campaign(plan, name)
}

fn count(c: &serde_json::Value, reason: &str) -> u64 {
    c["counts"]
        .get(reason)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

fn diagnostics(ws: &TestWorkspace, code: &str) -> Vec<serde_json::Value> {
    let (_, out, err) = run(ws.herald().args(["validate", "--format", "json"]));
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .cloned()
        .collect()
}

/// `{start: "22:00", end: "07:00"}` on a marketing campaign used to replace the federal
/// 08:00–21:00 and sent at 03:00 in New York. It is a validation error at the campaign's
/// `send_window` line (own or inherited from the policy), and nothing is sent.
#[test]
fn a_marketing_window_that_wraps_midnight_is_a_validation_error() {
    let ws = workspace(
        "send_window: { start: \"22:00\", end: \"07:00\" }\n",
        &[("+12125550100", "", ""), ("+13105550101", "", "")],
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let all = format!("{out}{err}");
    assert_eq!(code, 3, "{all}");
    assert!(all.contains("H175"), "{all}");
    assert!(all.contains("campaigns/promo.yaml:7"), "{all}");
    assert!(all.contains("send_window"), "{all}");
    assert!(
        all.contains("08:00"),
        "the help names a lawful window: {all}"
    );

    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", THREE_AM_EAST)
        .args(["apply", "--auto-approve"]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        sb.messages()
            .iter()
            .all(|m| !m.text.as_deref().unwrap_or("").starts_with("Winter sale")),
        "a marketing SMS went out at 03:00"
    );

    // Inherited from the policy: reported at the campaign, with the policy line related.
    let ws = workspace("", &[("+12125550100", "", "")]);
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  send_window: { start: \"22:00\", end: \"07:00\" }\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let all = format!("{out}{err}");
    assert_eq!(code, 3, "{all}");
    assert!(all.contains("H175"), "{all}");
    assert!(all.contains("campaigns/promo.yaml"), "{all}");
    assert!(all.contains("herald.yaml:5"), "{all}");

    // A window that can never open is the same error, for any category: a transactional
    // 22:00-23:00 under the default policy, a marketing 21:00-23:00 under a 07:00-23:00 policy.
    let ws = workspace(
        "send_window: { start: \"21:00\", end: \"23:00\" }\n",
        &[("+12125550100", "", "")],
    );
    let notify = ws.read("campaigns/notify.yaml");
    ws.write(
        "campaigns/notify.yaml",
        &format!("{notify}send_window: {{ start: \"22:00\", end: \"23:00\" }}\n"),
    );
    let found = diagnostics(&ws, "H175");
    let files: Vec<&str> = found
        .iter()
        .map(|d| d["primary"]["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["campaigns/notify.yaml", "campaigns/promo.yaml"],
        "{found:?}"
    );
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  send_window: { start: \"07:00\", end: \"23:00\" }\n",
    );
    let found = diagnostics(&ws, "H175");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["primary"]["file"], "campaigns/promo.yaml");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("08:00–21:00"),
        "{found:?}"
    );

    // A transactional window that wraps midnight is fine where the policy allows the night.
    ws.write("campaigns/promo.yaml", &promo_campaign(""));
    ws.write(
        "campaigns/notify.yaml",
        &format!("{notify}send_window: {{ start: \"22:00\", end: \"06:00\" }}\n"),
    );
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  send_window: { start: \"20:00\", end: \"07:00\" }\n",
    );
    let found = diagnostics(&ws, "H175");
    assert_eq!(
        found.len(),
        1,
        "only the marketing campaign inherits a night: {found:?}"
    );
    assert_eq!(found[0]["primary"]["file"], "campaigns/promo.yaml");
}

/// A campaign window wider than the policy's is narrowed to it; a marketing campaign is also
/// held to the federal 08:00–21:00 whatever the policy and the campaign say. At 21:30 in New
/// York the New York rows wait; the Chicago row (20:30) of the transactional campaign goes.
#[test]
fn a_campaign_window_only_narrows_the_policy_and_federal_windows() {
    let ws = workspace(
        "send_window: { start: \"07:00\", end: \"23:00\" }\n",
        &[("+12125550100", "America/New_York", "")],
    );
    ws.write(
        "campaigns/notify.yaml",
        "kind: Campaign\nname: notify\ntemplate: order-shipped\naudience: shipped\nfrom: \"+15550001111\"\nvariables:\n  order_id: { column: order_id }\n  tracking_link: { column: tracking_url }\nstatus: active\nsend_window: { start: \"06:00\", end: \"23:00\" }\n",
    );
    let plan_doc = plan(&ws, NINE_THIRTY_EAST);
    let notify = campaign(&plan_doc, "notify");
    assert_eq!(count(notify, "to_send"), 1, "{notify}");
    assert_eq!(count(notify, "held_quiet_hours"), 1, "{notify}");
    let promo = campaign(&plan_doc, "promo");
    assert_eq!(count(promo, "to_send"), 0, "{promo}");
    assert_eq!(count(promo, "held_quiet_hours"), 1, "{promo}");
    assert_eq!(promo["next_opening"], "2026-12-03T13:00:00Z", "{promo}");

    // A policy wider than federal does not widen marketing either (it still bounds
    // transactional messages, which the federal rule does not cover).
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  send_window: { start: \"07:00\", end: \"23:00\" }\n",
    );
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NINE_THIRTY_EAST)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let promos = sb
        .messages()
        .iter()
        .filter(|m| m.text.as_deref().unwrap_or("").starts_with("Winter sale"))
        .count();
    assert_eq!(promos, 0, "a marketing SMS went out at 21:30 local");
    assert_eq!(
        sb.messages().len(),
        2,
        "both transactional rows go by 07:00-23:00"
    );
}

/// `NA`, `US`, `XX` in the `state` column of Florida numbers used to replace Florida and lift
/// its 20:00 limit and its 3-per-day cap. Each is a row diagnostic (H176, file and line) and
/// Florida's rules still hold; a valid state that differs adds its own rules to the number's.
#[test]
fn a_state_value_that_is_not_a_us_state_leaves_the_numbers_state_in_force() {
    let ws = workspace(
        "",
        &[
            ("+13055550100", "", "NA"),
            ("+13055550101", "", "US"),
            ("+13055550102", "", "XX"),
            ("+13055550103", "", "fl"),
            ("+13055550104", "", "NY"),
        ],
    );
    let warnings = diagnostics(&ws, "H176");
    let lines: Vec<(u64, &str)> = warnings
        .iter()
        .map(|d| {
            (
                d["primary"]["line"].as_u64().unwrap(),
                d["primary"]["file"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (2, "campaigns/data/promo-list.csv"),
            (3, "campaigns/data/promo-list.csv"),
            (4, "campaigns/data/promo-list.csv"),
        ],
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|d| d["severity"] == "warning"
            && d["message"].as_str().unwrap().contains("column `st`")),
        "{warnings:?}"
    );
    assert!(
        warnings[2]["message"].as_str().unwrap().contains("`XX`"),
        "{warnings:?}"
    );

    let plan_doc = plan(&ws, EIGHT_THIRTY_EAST);
    let promo = campaign(&plan_doc, "promo");
    assert_eq!(count(promo, "to_send"), 0, "{promo}");
    assert_eq!(count(promo, "held_state_quiet_hours"), 5, "{promo}");

    // The cap: four marketing messages to one Florida number, the `state` column saying
    // something else on each row. Florida allows three in 24 hours.
    let florida = "+13055550100";
    let ws = workspace(
        "",
        &[
            (florida, "", "NA"),
            (florida, "", "US"),
            (florida, "", "XX"),
            (florida, "", "NY"),
        ],
    );
    let plan_doc = plan(&ws, TEN_AM_EAST);
    let promo = campaign(&plan_doc, "promo");
    assert_eq!(count(promo, "to_send"), 3, "{promo}");
    assert_eq!(count(promo, "held_frequency_cap"), 1, "{promo}");
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", TEN_AM_EAST)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let to_florida = sb.messages().iter().filter(|m| m.to == florida).count();
    assert_eq!(to_florida, 3, "Florida's cap of 3 per 24 h");
}

/// A row claiming `Pacific/Kiritimati` (UTC+14) for a Florida number: at 20:30 in Miami it is
/// 15:30 the next day there. Marketing waits for Florida's quiet hours to end (the window must
/// hold in the number's zone too); a transactional notice follows the row's own zone.
#[test]
fn a_far_time_zone_column_does_not_move_the_numbers_quiet_hours_for_marketing() {
    let ws = workspace("", &[("+13055550100", "Pacific/Kiritimati", "")]);
    ws.write(
        "campaigns/data/shipped.csv",
        "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n\
         C-1,+13055550100,Pacific/Kiritimati,yes,ORD-1,https://track.example.com/1\n",
    );
    let plan_doc = plan(&ws, EIGHT_THIRTY_EAST);
    let promo = campaign(&plan_doc, "promo");
    assert_eq!(count(promo, "to_send"), 0, "{promo}");
    assert_eq!(count(promo, "held_state_quiet_hours"), 1, "{promo}");
    // Both open: 08:00 in Kiritimati is 13:00 in Miami (18:00 UTC).
    assert_eq!(promo["next_opening"], "2026-12-03T18:00:00Z", "{promo}");
    let notify = campaign(&plan_doc, "notify");
    assert_eq!(count(notify, "to_send"), 1, "{notify}");

    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", EIGHT_THIRTY_EAST)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let texts: Vec<String> = sb
        .messages()
        .iter()
        .map(|m| m.text.clone().unwrap_or_default())
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(!texts[0].starts_with("Winter sale"), "{texts:?}");

    // At 08:00 in Miami it is 03:00 in Kiritimati: still held (the row's zone holds too).
    let plan_doc = plan(&ws, "2026-12-03T13:00:00Z");
    let promo = campaign(&plan_doc, "promo");
    assert_eq!(count(promo, "to_send"), 0, "{promo}");
}
