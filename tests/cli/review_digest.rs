//! The review digest covers everything that decides what is sent: an audience row's number,
//! variables, state or time zone edited under the same key, the policy (send window, state
//! rules) and the target environment. Each edit after the review makes `apply` refuse the
//! approved digest, alone, with the Markdown plan and with a saved plan, sending nothing.

use std::fmt::Write as _;

use crate::support::{LocalSandbox, PROMO_TEMPLATE, TestWorkspace, phone, run};

/// 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles (before the 08:00 window opens).
const NOW: &str = "2026-12-02T15:00:00Z";
/// 2026-12-03 01:30 UTC: 20:30 in Miami and New York, 19:30 in Chicago.
const EVENING: &str = "2026-12-03T01:30:00Z";

/// Writes the audience: one row per `(zone, state)`, keys C-0…, consenting.
fn write_rows(ws: &TestWorkspace, rows: &[(&str, &str)]) {
    let mut csv = String::from("customer_id,phone,tz,st,sms_opt_in,order_id,tracking_url\n");
    for (i, (tz, st)) in rows.iter().enumerate() {
        let _ = writeln!(
            csv,
            "C-{i},{},{tz},{st},yes,ORD-{i},https://track.example.com/{i}",
            phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &csv);
}

const AUDIENCE: &str = "kind: Audience
name: shipped
source: { csv: data/shipped.csv }
key: customer_id
address: phone
timezone: tz
state: st
consent: sms_opt_in
";

const PROMO_CAMPAIGN: &str = "kind: Campaign
name: promo
template: winter-sale
audience: shipped
from: \"+15550001111\"
status: active
";

/// The base workspace with a state column, `herald.yaml`'s `policy` section, a local
/// sandbox, and (with `marketing`) the `promo` campaign.
fn workspace(
    rows: &[(&str, &str)],
    policy: &str,
    marketing: bool,
) -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::fixture("base");
    ws.write("campaigns/shipped.yaml", AUDIENCE);
    write_rows(&ws, rows);
    if marketing {
        ws.write("templates/winter-sale.yaml", PROMO_TEMPLATE);
        ws.write("campaigns/promo.yaml", PROMO_CAMPAIGN);
    }
    ws.write(
        "herald.yaml",
        &format!("environments:\n  sandbox: {{ target: sandbox }}\ndefault_environment: sandbox\npolicy:\n{policy}"),
    );
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

/// Reviews the plan at `now`: saves the Markdown plan as `review.md` and the plan as
/// `plan.json`; returns the digest.
fn review(ws: &TestWorkspace, now: &str) -> String {
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", now)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    ws.write("review.md", &md);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", now).args([
        "plan",
        "--format",
        "json",
        "--out",
        "plan.json",
    ]));
    assert_eq!(code, 0, "{err}");
    let digest = md
        .lines()
        .find_map(|l| l.strip_prefix("<!-- herald-review-digest: "))
        .unwrap_or_else(|| panic!("no digest marker in\n{md}"))
        .trim_end_matches("-->")
        .trim()
        .to_owned();
    let saved: serde_json::Value = serde_json::from_str(&ws.read("plan.json")).unwrap();
    assert_eq!(
        saved["review_digest"],
        digest.as_str(),
        "plan.json and review.md differ"
    );
    digest
}

/// `apply --approved-digest D` (alone, with `review.md`, with `plan.json`) must refuse, send
/// nothing, and (with a reviewed plan) name every `expected` text.
fn refused(ws: &TestWorkspace, sb: &LocalSandbox, now: &str, digest: &str, expected: &[&str]) {
    for with in [None, Some("review.md"), Some("plan.json")] {
        let mut cmd = ws.herald();
        cmd.env("HERALD_NOW", now)
            .args(["apply", "--approved-digest", digest]);
        if let Some(file) = with {
            cmd.args(["--approved-plan", file]);
        }
        let (code, out, err) = run(&mut cmd);
        assert_eq!(
            code, 1,
            "apply with {with:?} was not refused:\n{out}\n{err}"
        );
        assert!(
            err.contains("this is not the approved plan; nothing was written or sent"),
            "{with:?}: {err}"
        );
        if with.is_some() {
            for e in expected {
                assert!(err.contains(e), "{with:?}: `{e}` not in\n{err}");
            }
        }
        assert!(sb.messages().is_empty(), "{with:?}: messages were sent");
        for leak in ["+1212555", "2125550"] {
            assert!(!err.contains(leak), "a number leaked: {err}");
        }
    }
}

/// The audience file with one line changed.
fn edit_audience(ws: &TestWorkspace, from: &str, to: &str) {
    let csv = ws.read("campaigns/data/shipped.csv");
    assert!(csv.contains(from), "{from} not in {csv}");
    ws.write("campaigns/data/shipped.csv", &csv.replacen(from, to, 1));
}

const NY3: &[(&str, &str)] = &[
    ("America/New_York", "NY"),
    ("America/New_York", "NY"),
    ("America/New_York", "NY"),
];

#[test]
fn a_rows_number_changed_under_the_same_key_is_refused() {
    let (ws, sb) = workspace(NY3, "  max_recipients_per_apply: 100\n", false);
    let digest = review(&ws, NOW);
    edit_audience(&ws, &phone(1), "+12125550177");
    refused(
        &ws,
        &sb,
        NOW,
        &digest,
        &["campaign notify: its audience data changed since the review (rows 3 → 3)"],
    );
    // The saved plan holds enough to count the changed sends; the Markdown plan the counts.
    let mut cmd = ws.herald();
    cmd.env("HERALD_NOW", NOW).args([
        "apply",
        "--approved-digest",
        &digest,
        "--approved-plan",
        "plan.json",
    ]);
    let (_, _, err) = run(&mut cmd);
    assert!(
        err.contains(
            "what it sends changed since the review (sends 3 → 3; at least 1 send changed"
        ),
        "{err}"
    );
}

#[test]
fn a_rows_variable_changed_under_the_same_key_is_refused() {
    let (ws, sb) = workspace(NY3, "  max_recipients_per_apply: 100\n", false);
    let digest = review(&ws, NOW);
    edit_audience(&ws, "ORD-2,", "ORD-9,");
    refused(
        &ws,
        &sb,
        NOW,
        &digest,
        &[
            "campaign notify: its audience data changed since the review (rows 3 → 3)",
            "what it sends changed since the review (sends 3 → 3",
        ],
    );
}

#[test]
fn a_wider_policy_send_window_is_refused() {
    // 07:00 in Los Angeles: both rows are held until 08:00.
    let rows = &[("America/Los_Angeles", "CA"), ("America/Los_Angeles", "CA")];
    let (ws, sb) = workspace(
        rows,
        "  send_window: { start: \"08:00\", end: \"21:00\" }\n",
        false,
    );
    let digest = review(&ws, NOW);
    let yaml = ws
        .read("herald.yaml")
        .replace("start: \"08:00\"", "start: \"06:00\"");
    ws.write("herald.yaml", &yaml);
    // Unchecked, the wider window would send both now.
    let plan = crate::support::plan_json(&ws);
    assert_eq!(plan["campaigns"][0]["counts"]["to_send"], 2, "{plan}");
    refused(
        &ws,
        &sb,
        NOW,
        &digest,
        &["policy: the effective policy in herald.yaml changed since the review"],
    );
}

/// Miami (a Florida state rule: marketing 08:00–20:00) and New York, at 20:30 local.
const FL_NY: &[(&str, &str)] = &[("America/New_York", "FL"), ("America/New_York", "NY")];

fn promo_to_send(ws: &TestWorkspace) -> serde_json::Value {
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", EVENING)
        .args(["plan", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    plan["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "promo")
        .unwrap()["counts"]["to_send"]
        .clone()
}

#[test]
fn a_state_rule_turned_off_is_refused() {
    let (ws, sb) = workspace(FL_NY, "  max_recipients_per_apply: 100\n", true);
    assert_eq!(promo_to_send(&ws), 1);
    let digest = review(&ws, EVENING);
    let yaml = ws.read("herald.yaml") + "  state_rules:\n    FL: none\n";
    ws.write("herald.yaml", &yaml);
    assert_eq!(
        promo_to_send(&ws),
        2,
        "the edit should release the Florida row"
    );
    refused(
        &ws,
        &sb,
        EVENING,
        &digest,
        &["policy: the effective policy in herald.yaml changed since the review"],
    );
}

#[test]
fn a_rows_state_edited_under_the_same_key_is_refused() {
    let (ws, sb) = workspace(FL_NY, "  max_recipients_per_apply: 100\n", true);
    let digest = review(&ws, EVENING);
    edit_audience(&ws, "America/New_York,FL,", "America/New_York,NY,");
    assert_eq!(
        promo_to_send(&ws),
        2,
        "the edit should release the Florida row"
    );
    refused(
        &ws,
        &sb,
        EVENING,
        &digest,
        &[
            "campaign promo: its audience data changed since the review (rows 2 → 2)",
            "campaign promo: its audience data changed since the review (rows 2 → 2); what it sends changed",
        ],
    );
}

#[test]
fn a_rows_time_zone_edited_under_the_same_key_is_refused() {
    let (ws, sb) = workspace(FL_NY, "  max_recipients_per_apply: 100\n", true);
    let digest = review(&ws, EVENING);
    // 19:30 in Chicago: inside Florida's window. The number's own zone still holds a marketing
    // row (section 2 of the same issue), so the edit no longer releases it; the digest must
    // refuse the edited row all the same, since its placement is part of what is sent.
    edit_audience(&ws, "America/New_York,FL,", "America/Chicago,FL,");
    assert_eq!(
        promo_to_send(&ws),
        1,
        "the number's own zone keeps the Florida row held"
    );
    refused(
        &ws,
        &sb,
        EVENING,
        &digest,
        &[
            "campaign promo: its audience data changed since the review (rows 2 → 2); what it sends changed",
        ],
    );
}

#[test]
fn another_environment_of_the_same_commit_has_another_digest_and_is_refused() {
    let (ws, sb) = workspace(NY3, "  max_recipients_per_apply: 100\n", false);
    // A second environment at the same API, org and client as `local`.
    let yaml = ws.read("herald.yaml");
    let local = yaml
        .split("default_environment")
        .next()
        .unwrap()
        .strip_prefix("environments:\n")
        .unwrap()
        .replacen("  local:", "  other:", 1);
    ws.write(
        "herald.yaml",
        &yaml.replacen(
            "default_environment",
            &format!("{local}default_environment"),
            1,
        ),
    );
    // The same team key for both environments (each has its own key file).
    std::fs::copy(
        ws.path().join(".herald/ledger-local.key"),
        ws.path().join(".herald/ledger-other.key"),
    )
    .unwrap();
    let digest = review(&ws, NOW);
    let digest_of = |env: &str| {
        let (code, out, err) = run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--format", "json", "--env", env]));
        assert_eq!(code, 0, "{err}");
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
        plan["review_digest"].as_str().unwrap().to_owned()
    };
    assert_eq!(digest_of("local"), digest);
    assert_ne!(digest_of("other"), digest);
    assert_ne!(digest_of("sandbox"), digest);
    for with in [None, Some("review.md")] {
        let mut cmd = ws.herald();
        cmd.env("HERALD_NOW", NOW)
            .args(["apply", "--env", "other", "--approved-digest", &digest]);
        if let Some(file) = with {
            cmd.args(["--approved-plan", file]);
        }
        let (code, _, err) = run(&mut cmd);
        assert_eq!(code, 1, "{with:?}: {err}");
        if with.is_some() {
            assert!(
                err.contains(
                    "environment: this run targets another environment: name local → other"
                ),
                "{err}"
            );
        }
    }
    // A saved plan names its environment and is refused for another.
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "apply",
        "--env",
        "other",
        "--approved-digest",
        &digest,
        "--approved-plan",
        "plan.json",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(sb.messages().is_empty());
    // The reviewed environment applies.
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "apply",
        "--approved-digest",
        &digest,
        "--approved-plan",
        "plan.json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sb.messages().len(), 3);
}

#[test]
fn an_unchanged_plan_applies_with_each_form_of_approval() {
    let (ws, sb) = workspace(FL_NY, "  max_recipients_per_apply: 100\n", true);
    let digest = review(&ws, EVENING);
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", EVENING).args([
        "apply",
        "--approved-digest",
        &digest,
        "--approved-plan",
        "review.md",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    // notify (transactional) sends both; promo holds the Florida row.
    assert_eq!(sb.messages().len(), 3);
}

#[test]
fn a_review_from_an_older_herald_is_refused_not_accepted() {
    let (ws, sb) = workspace(NY3, "  max_recipients_per_apply: 100\n", false);
    let digest = review(&ws, NOW);
    // A Markdown plan of the earlier review format names no format.
    let md = ws
        .read("review.md")
        .lines()
        .filter(|l| !l.contains("herald-review-format:"))
        .collect::<Vec<_>>()
        .join("\n");
    ws.write("old.md", &md);
    let mut plan: serde_json::Value = serde_json::from_str(&ws.read("plan.json")).unwrap();
    plan["format_version"] = 2.into();
    ws.write("old.json", &serde_json::to_string_pretty(&plan).unwrap());
    for file in ["old.md", "old.json"] {
        let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
            "apply",
            "--approved-digest",
            &digest,
            "--approved-plan",
            file,
        ]));
        assert_eq!(code, 1, "{file}: {err}");
        assert!(err.contains("was made by an older herald"), "{err}");
        assert!(err.contains("plan again"), "{err}");
    }
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "old.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("was made by an older herald"), "{err}");
    assert!(sb.messages().is_empty());
}

#[test]
fn a_saved_plan_made_with_other_time_zone_data_is_stale() {
    let (ws, sb) = workspace(NY3, "  max_recipients_per_apply: 100\n", false);
    review(&ws, NOW);
    // The plan as another machine (another tzdata release) would have saved it.
    let mut plan: serde_json::Value = serde_json::from_str(&ws.read("plan.json")).unwrap();
    for o in plan["review"].as_array_mut().unwrap() {
        if o["object"] == "data" {
            o["input"] = "data herald=0.1.0 numbering=x tzdb=bundled-1999a".into();
            o["digest"] = format!("sha256:{}", "1".repeat(64)).into();
        }
    }
    ws.write("plan.json", &serde_json::to_string_pretty(&plan).unwrap());
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "plan.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("campaign notify is not applied: herald's version or time-zone data changed since the plan"),
        "{err}"
    );
    assert!(sb.messages().is_empty());
}
