//! Issue 23 with a pinned `HERALD_NOW`: states' hours, Sundays and holidays as data (the plan
//! names the rule that held a row), consent (a marketing audience must name its consent column;
//! evidence and expiry), impossible exchanges and time-zone overrides.

use std::fmt::Write as _;

use crate::support::{PROMO_TEMPLATE, TestWorkspace, plan_campaign, plan_json_at, run};

const AUDIENCE: &str = "kind: Audience
name: shipped
source: { csv: data/shipped.csv }
key: customer_id
address: phone
consent: sms_opt_in
consent_evidence: { timestamp: consent_at, source: consent_source }
consent_type: consent_kind
";

const PROMO_CAMPAIGN: &str = "kind: Campaign
name: promo
template: winter-sale
audience: shipped
from: \"+15550001111\"
status: active
";

/// A row: phone, consent timestamp, consent kind.
type Row<'a> = (&'a str, &'a str, &'a str);

/// The base fixture with a marketing campaign to `rows` (every row says yes; source `web`).
fn workspace(rows: &[Row<'_>], policy: &str) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write("campaigns/shipped.yaml", AUDIENCE);
    let mut csv = String::from(
        "customer_id,phone,sms_opt_in,consent_at,consent_source,consent_kind,order_id,tracking_url\n",
    );
    for (i, (p, at, kind)) in rows.iter().enumerate() {
        let _ = writeln!(
            csv,
            "C-{i},{p},yes,{at},web,{kind},ORD-{i},https://track.example.com/{i}"
        );
    }
    ws.write("campaigns/data/shipped.csv", &csv);
    ws.write("templates/winter-sale.yaml", PROMO_TEMPLATE);
    ws.write("campaigns/promo.yaml", PROMO_CAMPAIGN);
    if !policy.is_empty() {
        let yaml = ws.read("herald.yaml");
        ws.write("herald.yaml", &format!("{yaml}{policy}"));
    }
    ws
}

fn phones(list: &[&'static str]) -> Vec<Row<'static>> {
    list.iter().map(|p| (*p, "", "")).collect()
}

fn promo(ws: &TestWorkspace, now: &str) -> serde_json::Value {
    let plan = plan_json_at(ws, now);
    plan_campaign(&plan, "promo").clone()
}

fn plan_text(ws: &TestWorkspace, now: &str) -> String {
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", now).arg("plan"));
    assert_eq!(code, 0, "{out}{err}");
    out
}

#[test]
fn rhode_island_sunday_is_held_and_named_until_monday_nine() {
    // Sunday 2026-12-06 12:00 in Providence and New York.
    let now = "2026-12-06T17:00:00Z";
    let ws = workspace(&phones(&["+14015550100", "+12125550101"]), "");
    let c = promo(&ws, now);
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["counts"]["held_state_quiet_hours"], 1, "{c}");
    assert_eq!(c["held_by"]["Rhode Island: Sunday"], 1, "{c}");
    assert_eq!(c["next_opening"], "2026-12-07T14:00:00Z", "{c}");
    let out = plan_text(&ws, now);
    assert!(out.contains("held by Rhode Island: Sunday 1"), "{out}");
    assert!(!out.contains("5550100"), "a full number leaked: {out}");
    // The reviewer's page names it too.
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", now)
        .args(["preview", "--out", "site"]));
    assert_eq!(code, 0, "{err}");
    let page = ws.read("site/index.html");
    assert!(page.contains("by Rhode Island: Sunday 1"), "{page}");
}

#[test]
fn rhode_island_saturday_closes_at_five() {
    // Saturday 2026-12-05 17:30 in Providence: the Saturday window is 10:00-17:00; Sunday is
    // closed, so the row opens Monday 09:00.
    let ws = workspace(&phones(&["+14015550100"]), "");
    let c = promo(&ws, "2026-12-05T22:30:00Z");
    assert_eq!(c["held_by"]["Rhode Island: outside 10:00-17:00"], 1, "{c}");
    assert_eq!(c["next_opening"], "2026-12-07T14:00:00Z", "{c}");
}

#[test]
fn utah_pioneer_day_is_a_legal_holiday() {
    // Friday 2026-07-24 12:00 in Salt Lake City.
    let now = "2026-07-24T18:00:00Z";
    let ws = workspace(&phones(&["+18015550100", "+12125550101"]), "");
    let c = promo(&ws, now);
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["held_by"]["Utah: Pioneer Day"], 1, "{c}");
    // Saturday 08:00 in Utah.
    assert_eq!(c["next_opening"], "2026-07-25T14:00:00Z", "{c}");
}

#[test]
fn massachusetts_at_20_30_is_held_new_york_is_sent() {
    // 20:30 in Boston and New York.
    let now = "2026-12-03T01:30:00Z";
    let ws = workspace(&phones(&["+16175550100", "+12125550101"]), "");
    let c = promo(&ws, now);
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["held_by"]["Massachusetts: outside 08:00-20:00"], 1, "{c}");
    assert_eq!(c["next_opening"], "2026-12-03T13:00:00Z", "{c}");
}

#[test]
fn pennsylvania_thanksgiving_and_alabama_christmas_are_held() {
    let ws = workspace(&phones(&["+12155550100", "+12125550101"]), "");
    // Thanksgiving 2026-11-26, 12:00 in Philadelphia.
    let c = promo(&ws, "2026-11-26T17:00:00Z");
    assert_eq!(c["held_by"]["Pennsylvania: Thanksgiving Day"], 1, "{c}");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");

    let ws = workspace(&phones(&["+12055550100", "+12125550101"]), "");
    // Christmas 2026 (a Friday), 12:00 in Birmingham.
    let c = promo(&ws, "2026-12-25T18:00:00Z");
    assert_eq!(c["held_by"]["Alabama: Christmas Day"], 1, "{c}");
    // Saturday 08:00 in Alabama.
    assert_eq!(c["next_opening"], "2026-12-26T14:00:00Z", "{c}");
}

#[test]
fn a_calendar_can_be_turned_off_and_dates_added_in_policy() {
    let policy =
        "  state_rules:\n    AL: { calendar: none }\n    UT: { holidays: [\"2026-07-23\"] }\n";
    let ws = workspace(&phones(&["+12055550100"]), policy);
    let c = promo(&ws, "2026-12-25T18:00:00Z");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    let ws = workspace(&phones(&["+18015550100"]), policy);
    let c = promo(&ws, "2026-07-23T18:00:00Z");
    assert_eq!(c["held_by"]["Utah: holiday (configured)"], 1, "{c}");
    let ws = workspace(
        &phones(&["+18015550100"]),
        "  state_rules:\n    UT: { calendar: easter }\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let out = format!("{out}{err}");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H016") && out.contains("policy.state_rules.UT.calendar"),
        "{out}"
    );
}

#[test]
fn a_marketing_audience_without_consent_fails_validation() {
    let ws = workspace(&phones(&["+12125550100"]), "");
    ws.write(
        "campaigns/shipped.yaml",
        "kind: Audience\nname: shipped\nsource: { csv: data/shipped.csv }\nkey: customer_id\naddress: phone\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let out = format!("{out}{err}");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("H177"), "{out}");
    assert!(out.contains("audience `shipped`"), "{out}");
    // The transactional campaign on the same audience is not the problem.
    assert!(!out.contains("`notify`"), "{out}");
}

#[test]
fn consent_evidence_can_be_required() {
    let rows = [
        ("+12125550100", "2026-01-05T10:00:00Z", "express"),
        ("+12125550101", "", "express"),
    ];
    let ws = workspace(&rows, "  require_consent_evidence: true\n");
    let c = promo(&ws, "2026-12-03T15:00:00Z");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    assert_eq!(c["counts"]["no_consent_evidence"], 1, "{c}");
    let out = plan_text(&ws, "2026-12-03T15:00:00Z");
    assert!(out.contains("no consent evidence 1"), "{out}");

    // Without evidence columns on the audience, validation names what is missing.
    ws.write(
        "campaigns/shipped.yaml",
        "kind: Audience\nname: shipped\nsource: { csv: data/shipped.csv }\nkey: customer_id\naddress: phone\nconsent: sms_opt_in\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let out = format!("{out}{err}");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H177") && out.contains("consent_evidence.timestamp"),
        "{out}"
    );
}

#[test]
fn expired_implied_consent_is_skipped() {
    let policy = "  consent_expiry:\n    - { type: ebr, max_age: 18mo, citation: \"16 CFR 310.2(q)\" }\n    - { type: implied, max_age: 2y, region: canada }\n";
    let rows = [
        ("+12125550100", "2025-01-02", "ebr"),     // 23 months: expired
        ("+12125550101", "2026-01-02", "ebr"),     // 11 months: fine
        ("+12125550102", "2020-01-02", "express"), // express does not expire
        ("+12125550103", "", "ebr"),               // no timestamp: age unknown
        ("+14165550104", "2024-06-01", "implied"), // Toronto, 30 months: expired (CASL)
        ("+12125550105", "2024-06-01", "implied"), // New York: the CASL entry does not cover it
    ];
    let ws = workspace(&rows, policy);
    let now = "2026-12-03T15:00:00Z"; // 10:00 in New York and Toronto
    let c = promo(&ws, now);
    assert_eq!(c["counts"]["consent_expired"], 2, "{c}");
    assert_eq!(c["counts"]["no_consent_evidence"], 1, "{c}");
    assert_eq!(c["counts"]["to_send"], 3, "{c}");
    let out = plan_text(&ws, now);
    assert!(out.contains("consent expired 2"), "{out}");
    // validate lists each skipped row with its reason, without the number.
    let (_, out, err) = run(ws.herald().env("HERALD_NOW", now).arg("validate"));
    let out = format!("{out}{err}");
    assert!(
        out.contains("consent expired: `ebr` consent given 2025-01-02 lasts 18mo"),
        "{out}"
    );
    assert!(!out.contains("5550100"), "{out}");
}

#[test]
fn casl_two_years_apply_by_default_to_canadian_numbers() {
    let rows = [
        ("+14165550100", "2024-06-01", "implied"),
        ("+14165550101", "2025-06-01", "implied"),
    ];
    let ws = workspace(&rows, "");
    let c = promo(&ws, "2026-12-03T15:00:00Z");
    assert_eq!(c["counts"]["consent_expired"], 1, "{c}");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
}

#[test]
fn an_impossible_exchange_is_an_invalid_row() {
    let ws = workspace(
        &phones(&["+12120550100", "+12121550101", "+12125550102"]),
        "",
    );
    let c = promo(&ws, "2026-12-03T15:00:00Z");
    assert_eq!(c["counts"]["invalid_address"], 2, "{c}");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    let (_, out, err) = run(ws.herald().arg("validate"));
    let out = format!("{out}{err}");
    assert!(
        out.contains("exchange (NXX) cannot start with 0 or 1"),
        "{out}"
    );
    assert!(!out.contains("0550100"), "{out}");
}

#[test]
fn saskatchewan_474_and_unalaska_907_581_are_placed_by_the_overrides() {
    // Summer: 2026-07-06 02:30Z is 20:30 in Regina (CST all year), 21:30 in Winnipeg (CDT).
    let ws = workspace(&phones(&["+14745550100"]), "");
    let c = promo(&ws, "2026-07-06T02:30:00Z");
    assert_eq!(
        c["counts"]["to_send"], 1,
        "474 is in Regina, not Winnipeg: {c}"
    );
    // Winter: 2026-12-03 06:30Z is 21:30 in Anchorage, 20:30 in Honolulu.
    let ws = workspace(&phones(&["+19075810100"]), "");
    let c = promo(&ws, "2026-12-03T06:30:00Z");
    assert!(
        c["counts"].get("to_send").is_none(),
        "907-581 is in Alaska time: {c}"
    );
    assert_eq!(c["counts"]["held_quiet_hours_zone_from_number"], 1, "{c}");
    assert_eq!(c["next_opening"], "2026-12-03T17:00:00Z", "{c}");
}

#[test]
fn policy_zone_overrides_add_prefixes_and_are_validated() {
    // A policy override moves 212-555 to Los Angeles: at 23:30 in New York it is 20:30 there.
    let ws = workspace(
        &phones(&["+12125550100", "+12125560101"]),
        "  zone_overrides:\n    \"+1212555\": America/Los_Angeles\n",
    );
    let c = promo(&ws, "2026-12-03T04:30:00Z");
    assert_eq!(c["counts"]["to_send"], 1, "{c}");
    let ws = workspace(
        &phones(&["+12125550100"]),
        "  zone_overrides:\n    \"1212\": America/New_York\n    \"+1907\": Alaska/Anchorage\n",
    );
    let (code, out, err) = run(ws.herald().arg("validate"));
    let out = format!("{out}{err}");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("H017"), "{out}");
    assert!(out.contains("policy.zone_overrides.1212"), "{out}");
    assert!(
        out.contains("`Alaska/Anchorage` is not a known IANA time zone"),
        "{out}"
    );
}
