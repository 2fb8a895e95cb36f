//! Recipient-local time with a pinned `HERALD_NOW`: time zones and states from the phone
//! number (no `timezone` column), state quiet hours for marketing, and apply following the
//! same check as the plan.

use std::fmt::Write as _;

use crate::support::{
    LocalSandbox, PROMO_TEMPLATE, TestWorkspace, plan_campaign, plan_json_at, run,
};

/// 2026-12-03 04:30 UTC: 23:30 in New York, 21:30 in Boise, 20:30 in Seattle and Los Angeles,
/// 18:30 in Honolulu.
const LATE: &str = "2026-12-03T04:30:00Z";
/// 2026-12-03 01:30 UTC: 20:30 in Miami and New York.
const EIGHT_THIRTY_EAST: &str = "2026-12-03T01:30:00Z";

const AUDIENCE: &str = "kind: Audience
name: shipped
source: { csv: data/shipped.csv }
key: customer_id
address: phone
consent: sms_opt_in
";

const PROMO_CAMPAIGN: &str = "kind: Campaign
name: promo
template: winter-sale
audience: shipped
from: \"+15550001111\"
status: active
";

/// The base fixture with an audience of `phones` and no time-zone column.
fn workspace(phones: &[&str], marketing: bool) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write("campaigns/shipped.yaml", AUDIENCE);
    let mut csv = String::from("customer_id,phone,sms_opt_in,order_id,tracking_url\n");
    for (i, p) in phones.iter().enumerate() {
        let _ = writeln!(csv, "C-{i},{p},yes,ORD-{i},https://track.example.com/{i}");
    }
    ws.write("campaigns/data/shipped.csv", &csv);
    if marketing {
        ws.write("templates/winter-sale.yaml", PROMO_TEMPLATE);
        ws.write("campaigns/promo.yaml", PROMO_CAMPAIGN);
    }
    ws
}

fn plan(ws: &TestWorkspace, now: &str) -> serde_json::Value {
    plan_json_at(ws, now)
}

fn campaign<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan_campaign(plan, name)
}

#[test]
fn zones_come_from_the_number_and_the_strictest_candidate_wins() {
    let ws = workspace(
        &[
            "+12125550100", // New York, 23:30: held
            "+12065550101", // Seattle, 20:30: sent
            "+17755550102", // Boise 21:30 / Los Angeles 20:30: held
            "+18085550103", // Honolulu, 18:30: sent
            "+18005550104", // toll-free: unknown, held
        ],
        false,
    );
    let plan = plan(&ws, LATE);
    let c = campaign(&plan, "notify");
    assert_eq!(c["counts"]["to_send"], 2, "{c}");
    assert_eq!(c["counts"]["held_quiet_hours_zone_from_number"], 2, "{c}");
    assert_eq!(c["counts"]["held_zone_unknown"], 1, "{c}");
    assert_eq!(
        c["zones"],
        serde_json::json!({"explicit": 0, "inferred": 4, "audience_default": 0, "unplaced": 1}),
        "{c}"
    );
    // New York opens at 08:00 EST, 13:00 UTC; Nevada only at 08:00 in Los Angeles (16:00 UTC).
    assert_eq!(c["next_opening"], "2026-12-03T13:00:00Z", "{c}");

    let (code, out, err) = run(ws.herald().env("HERALD_NOW", LATE).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("held: quiet hours (zone from number) 2"),
        "{out}"
    );
    assert!(out.contains("held: time zone unknown 1"), "{out}");
    assert!(
        out.contains("time zones: 4 from the number, 1 unknown"),
        "{out}"
    );
    assert!(!out.contains("5550104"), "a full number leaked: {out}");
}

#[test]
fn florida_marketing_waits_for_eight_while_new_york_and_transactional_go() {
    let ws = workspace(&["+13055550100", "+12125550101"], true);
    let plan = plan(&ws, EIGHT_THIRTY_EAST);
    let promo = campaign(&plan, "promo");
    assert_eq!(promo["counts"]["to_send"], 1, "{promo}");
    assert_eq!(promo["counts"]["held_state_quiet_hours"], 1, "{promo}");
    assert_eq!(promo["next_opening"], "2026-12-03T13:00:00Z", "{promo}");
    let notify = campaign(&plan, "notify");
    assert_eq!(notify["counts"]["to_send"], 2, "{notify}");
    assert!(notify["counts"].get("held_state_quiet_hours").is_none());

    let (_, out, _) = run(ws.herald().env("HERALD_NOW", EIGHT_THIRTY_EAST).arg("plan"));
    assert!(
        out.contains("held: state quiet hours (marketing) 1"),
        "{out}"
    );
}

#[test]
fn apply_follows_the_same_rule_per_message() {
    let ws = workspace(&["+13055550100", "+12125550101"], true);
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", EIGHT_THIRTY_EAST)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let mut got: Vec<(String, bool)> = sb
        .messages()
        .into_iter()
        .map(|m| {
            let promo = m.text.as_deref().unwrap_or("").starts_with("Winter sale");
            (m.to, promo)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("+12125550101".to_owned(), false),
            ("+12125550101".to_owned(), true),
            ("+13055550100".to_owned(), false),
        ],
        "the Florida marketing SMS must wait for 08:00"
    );
    // At 08:00 in Miami the held marketing message goes.
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-03T13:00:00Z")
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(sb.messages().len(), 4);
}

#[test]
fn an_invalid_explicit_zone_holds_the_row_instead_of_guessing() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "campaigns/data/shipped.csv",
        "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n\
         C-1,+12065550100,Mars/Olympus,yes,ORD-1,https://track.example.com/1\n\
         C-2,+12065550101,,yes,ORD-2,https://track.example.com/2\n",
    );
    // 10:00 in Seattle: the number alone would be open.
    let plan = plan(&ws, "2026-12-02T18:00:00Z");
    let c = campaign(&plan, "notify");
    assert_eq!(c["counts"]["held_no_timezone"], 1, "{c}");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["zones"]["unplaced"], 1, "{c}");
    assert_eq!(c["zones"]["inferred"], 1, "{c}");
    let (_, out, _) = run(ws.herald().args(["validate", "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "H165"),
        "{doc}"
    );
}

#[test]
fn validate_lists_the_effective_state_rules_and_names_bad_fields() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\npolicy:\n  state_rules:\n    MS:\n      window: { start: \"09:00\", end: \"20:00\" }\n      citation: \"Miss. Code Ann. § 77-3-723(1), read as Central Standard Time\"\n    NV:\n      window: { start: \"09:00\", end: \"20:00\" }\n      days: [mon, tue, wed, thu, fri]\n      citation: \"counsel's reading\"\n    WA: none\n  state_rules_apply_to: [marketing, transactional]\n",
    );
    let (code, out, err) = run(ws.herald().args(["validate", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules = &doc["state_rules"];
    assert_eq!(
        rules["rules"]["FL"]["days"]["mon"], "08:00-20:00",
        "{rules}"
    );
    assert_eq!(rules["rules"]["FL"]["cap"]["max"], 3, "{rules}");
    assert_eq!(
        rules["rules"]["MS"]["days"]["mon"], "09:00-20:00",
        "{rules}"
    );
    assert_eq!(rules["rules"]["MS"]["source"], "overridden", "{rules}");
    assert_eq!(rules["rules"]["NV"]["days"]["sat"], serde_json::Value::Null);
    assert_eq!(rules["rules"]["NV"]["source"], "configured", "{rules}");
    assert!(rules["rules"].get("WA").is_none(), "{rules}");
    assert_eq!(rules["disabled"], serde_json::json!(["WA"]));
    assert_eq!(
        rules["apply_to"],
        serde_json::json!(["marketing", "transactional"])
    );

    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\npolicy:\n  state_rules:\n    NV:\n      window: { start: \"09:00\", end: \"20:00\" }\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let all = format!("{out}{err}");
    assert_eq!(code, 3, "{all}");
    assert!(all.contains("H016"), "{all}");
    assert!(all.contains("policy.state_rules.NV.citation"), "{all}");
    assert!(all.contains("herald.yaml:"), "{all}");
}

const RECEIPT_TEMPLATE: &str = "kind: Template
name: receipt
channel: email
category: transactional
status: published
subject: \"Your receipt\"
html: \"<p>Thanks for your order.</p>\"
text: \"Thanks for your order.\"
";

const RECEIPT_CAMPAIGN: &str = "kind: Campaign
name: receipts
template: receipt
audience: buyers
from: shop@example.com
status: active
";

/// An email audience without a zone column, with `extra` appended to its document.
fn email_workspace(extra: &str, csv: &str) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/notify.yaml")).unwrap();
    ws.write("templates/receipt.yaml", RECEIPT_TEMPLATE)
        .write("campaigns/receipts.yaml", RECEIPT_CAMPAIGN)
        .write(
            "campaigns/buyers.yaml",
            &format!(
                "kind: Audience\nname: buyers\nsource: {{ csv: data/buyers.csv }}\nkey: id\naddress: email\n{extra}"
            ),
        )
        .write("campaigns/data/buyers.csv", csv);
    ws
}

/// An email says nothing about where its reader is: without a zone it is held ("no time zone")
/// while a window applies; the audience's `default_timezone` places it; a row's own `timezone`
/// wins over the default. At 04:30 UTC it is 20:30 in Los Angeles (open) and 23:30 in New York.
#[test]
fn email_is_placed_by_the_audience_default_zone_or_held() {
    let csv = "id,email\nB-1,ana@example.com\nB-2,bo@example.com\n";
    let held = email_workspace("", csv);
    let plan_held = plan(&held, LATE);
    let c = campaign(&plan_held, "receipts");
    assert_eq!(c["counts"]["held_no_timezone"], 2, "{c}");
    assert!(c["counts"].get("to_send").is_none_or(|n| n == 0), "{c}");

    let placed = email_workspace("default_timezone: America/Los_Angeles\n", csv);
    let plan_placed = plan(&placed, LATE);
    let c = campaign(&plan_placed, "receipts");
    assert_eq!(c["counts"]["to_send"], 2, "{c}");
    assert_eq!(
        c["zones"],
        serde_json::json!({"explicit": 0, "inferred": 0, "audience_default": 2, "unplaced": 0}),
        "{c}"
    );
    let sb = LocalSandbox::start(&placed);
    let (code, out, err) = run(placed
        .herald()
        .env("HERALD_NOW", LATE)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sb.per_address().values().sum::<usize>(), 2, "{out}");

    let own_zone = email_workspace(
        "timezone: tz\ndefault_timezone: America/Los_Angeles\n",
        "id,email,tz\nB-1,ana@example.com,America/New_York\nB-2,bo@example.com,\n",
    );
    let plan_own = plan(&own_zone, LATE);
    let c = campaign(&plan_own, "receipts");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["counts"]["held_quiet_hours"], 1, "{c}");
    assert_eq!(
        c["zones"],
        serde_json::json!({"explicit": 1, "inferred": 0, "audience_default": 1, "unplaced": 0}),
        "{c}"
    );
}
