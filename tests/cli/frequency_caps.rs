//! Frequency caps across campaigns (issue 14 §3): counted from the ledger, enforced in the
//! claim transaction, shown by `plan` as "held by frequency cap" with the opening time.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};

use crate::support::{LocalSandbox, TestWorkspace, run};

/// 10:00 in New York: the federal window is open. Caps are judged on the real clock (the
/// ledger's send times are real), whatever `HERALD_NOW` says; the plan shows when a held row
/// opens on its own clock (`HERALD_NOW` plus the time left).
const NOW: &str = "2026-12-02T15:00:00Z";

/// Florida (305): built-in cap of 3 marketing messages per 24 h (Fla. Stat. § 501.616(6)(b)).
const FL: &str = "+13055550100";
/// New York (212): no state cap.
const NY: &str = "+12125550100";

const PROMO: &str = r#"kind: Template
name: promo
channel: sms
category: marketing
status: published
body: "Winter sale: {{code}} takes 20% off. Reply STOP to opt out."
variables:
  code: { description: Discount code, example: SAVE20, max_length: 12 }
"#;

fn campaign(name: &str, audience: &str) -> String {
    format!(
        "kind: Campaign\nname: {name}\ntemplate: promo\naudience: {audience}\nfrom: \"+15550001111\"\n\
         variables:\n  code: {{ column: code }}\nstatus: active\n"
    )
}

fn audience_doc(name: &str) -> String {
    format!(
        "kind: Audience\nname: {name}\nsource: {{ csv: data/{name}.csv }}\nkey: id\naddress: phone\n\
         timezone: tz\nconsent: opt_in\n"
    )
}

fn audience(rows: &[(&str, &str)]) -> String {
    let mut csv = String::from("id,phone,tz,opt_in,code\n");
    for (id, phone) in rows {
        let _ = writeln!(csv, "{id},{phone},America/New_York,yes,SAVE20");
    }
    csv
}

/// Two marketing campaigns to the same numbers in one run: the Florida number gets three
/// messages from the first campaign, so the second campaign's message to it is held by the
/// state's cap (the New York number, without a cap, gets both); `plan` then counts it as held
/// by frequency cap, opening 24 h after the first send.
#[test]
fn a_fourth_marketing_sms_within_24h_across_two_campaigns_is_held() {
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/notify.yaml")).unwrap();
    std::fs::remove_file(ws.path().join("campaigns/shipped.yaml")).unwrap();
    ws.write("templates/promo.yaml", PROMO)
        .write("campaigns/a-promo.yaml", &campaign("a-promo", "a-list"))
        .write("campaigns/b-promo.yaml", &campaign("b-promo", "b-list"))
        .write("campaigns/a-list.yaml", &audience_doc("a-list"))
        .write("campaigns/b-list.yaml", &audience_doc("b-list"))
        .write(
            "campaigns/data/a-list.csv",
            &audience(&[("A-1", FL), ("A-2", FL), ("A-3", FL), ("A-4", NY)]),
        )
        .write(
            "campaigns/data/b-list.csv",
            &audience(&[("B-1", FL), ("B-2", NY)]),
        );
    let sb = LocalSandbox::start(&ws);
    // Before anything is sent, the plan already counts what it plans: a-promo sends the
    // Florida number three messages, so b-promo's fourth is held, as apply will hold it.
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let counts = |name: &str| {
        plan["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {plan}"))["counts"]
            .clone()
    };
    assert_eq!(counts("a-promo")["to_send"], 4, "{plan}");
    assert_eq!(counts("b-promo")["to_send"], 1, "{plan}");
    assert_eq!(counts("b-promo")["held_frequency_cap"], 1, "{plan}");
    let started = Timestamp::now();
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let got = sb.per_address();
    assert_eq!(got.get(FL), Some(&3), "{got:?}\n{out}\n{err}");
    assert_eq!(got.get(NY), Some(&2), "{got:?}");

    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("held by frequency cap 1"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("held by frequency cap; the first opens at"))
        .unwrap_or_else(|| panic!("no opening time: {out}"));
    let at = line.rsplit("opens at ").next().unwrap();
    let at: Timestamp = format!("{}:00Z", at.trim_end_matches(" UTC").replacen(' ', "T", 1))
        .parse()
        .unwrap();
    // The first send was after `started` (real clock); the cap opens 24 h
    // after it, shown as that much time after the pinned now.
    let planned = Timestamp::now();
    let now: Timestamp = NOW.parse().unwrap();
    let day = SignedDuration::from_hours(24);
    let minute = SignedDuration::from_mins(1);
    let earliest = now + day - planned.duration_since(started) - minute;
    let latest = now + day;
    assert!(
        at >= earliest && at <= latest,
        "opens at {at}: expected between {earliest} and {latest} (HERALD_NOW {NOW})"
    );
    // The held row is pending in the ledger, not sent: a second apply sends nothing more.
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.per_address().get(FL), Some(&3));
}

/// An invalid cap names the file, the line and the field.
#[test]
fn an_invalid_cap_is_reported_at_its_line() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  frequency_caps:\n    - { channel: sms, category: marketing, max: 3, per: 24h }\n    - { channel: sms, category: marketing, max: 0, per: 1d }\n    - { channel: email, category: marketing, max: 2, per: 1w }\n",
    );
    let (code, out, err) = run(ws.herald().args(["validate"]));
    assert_ne!(code, 0, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("H018"), "{all}");
    assert!(
        all.contains("herald.yaml:7") && all.contains("policy.frequency_caps[1].max"),
        "{all}"
    );
    assert!(
        all.contains("herald.yaml:8") && all.contains("policy.frequency_caps[2].per"),
        "{all}"
    );
}

/// A one-campaign workspace of `rows` (id, phone, state), with `policy` in herald.yaml and the
/// audience's `state` column.
fn state_workspace(policy: &str, rows: &[(&str, &str, &str)]) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/notify.yaml")).unwrap();
    std::fs::remove_file(ws.path().join("campaigns/shipped.yaml")).unwrap();
    let mut csv = String::from("id,phone,tz,opt_in,code,st\n");
    for (id, phone, state) in rows {
        let _ = writeln!(csv, "{id},{phone},America/New_York,yes,SAVE20,{state}");
    }
    ws.write(
        "herald.yaml",
        &format!(
            "environments:\n  sandbox: {{ target: sandbox }}\ndefault_environment: sandbox\npolicy:\n{policy}"
        ),
    )
    .write("templates/promo.yaml", PROMO)
    .write("campaigns/a-promo.yaml", &campaign("a-promo", "a-list"))
    .write(
        "campaigns/a-list.yaml",
        &format!("{}state: st\n", audience_doc("a-list")),
    )
    .write("campaigns/data/a-list.csv", &csv);
    ws
}

/// Applies `ws` against a local sandbox at [`NOW`]: the sandbox, the messages it received per
/// address, and the apply output.
fn apply_and_count(
    ws: &TestWorkspace,
) -> (
    LocalSandbox,
    std::collections::BTreeMap<String, usize>,
    String,
) {
    let sb = LocalSandbox::start(ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let got = sb.per_address();
    (sb, got, format!("{out}\n{err}"))
}

/// `policy.state_rules` decides the state caps that are enforced: Florida's cap lowered to one
/// per 24 h holds the second message to a Florida number, and a state added with its own cap
/// (here New York, two per 24 h) holds the third to a New York number.
#[test]
fn a_state_rule_cap_in_herald_yaml_is_the_one_enforced() {
    let ws = state_workspace(
        "  state_rules:\n    FL: { cap: { max: 1, per: 24h } }\n    NY:\n      window: { start: \"08:00\", end: \"21:00\" }\n      cap: { max: 2, per: 24h }\n      citation: \"house rule for the test\"\n",
        &[
            ("A-1", FL, ""),
            ("A-2", FL, ""),
            ("A-3", NY, ""),
            ("A-4", NY, ""),
            ("A-5", NY, ""),
        ],
    );
    let (_sb, got, out) = apply_and_count(&ws);
    assert_eq!(got.get(FL), Some(&1), "{got:?}\n{out}");
    assert_eq!(got.get(NY), Some(&2), "{got:?}\n{out}");
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("held by frequency cap 2"), "{out}");
}

/// The audience's `state` column places the recipient for the cap as it does for the window:
/// a New York number whose row says FL gets Florida's three per 24 h; the same number without
/// a state gets all four of its rows (no New York cap).
#[test]
fn the_audience_state_column_chooses_the_state_cap() {
    const NY2: &str = "+12125550177";
    let ws = state_workspace(
        "  max_recipients_per_apply: 100\n",
        &[
            ("A-1", NY, "FL"),
            ("A-2", NY, "FL"),
            ("A-3", NY, "FL"),
            ("A-4", NY, "FL"),
            ("B-1", NY2, ""),
            ("B-2", NY2, ""),
            ("B-3", NY2, ""),
            ("B-4", NY2, ""),
        ],
    );
    let (_sb, got, out) = apply_and_count(&ws);
    assert_eq!(got.get(NY), Some(&3), "{got:?}\n{out}");
    assert_eq!(got.get(NY2), Some(&4), "{got:?}\n{out}");
}
