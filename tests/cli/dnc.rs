//! Do-Not-Call registries (issue 23 §2) and the answer for every send (§5): `herald dnc
//! import`, marketing SMS to a registered number held in plan and apply, a stale registry
//! refused, a change list's deletion lifting the hold, a malformed file named at its line, and
//! `herald audit` (text and JSON) with the recipient masked.

use std::fmt::Write as _;

use crate::support::{LocalSandbox, TestWorkspace, plan_campaign, run, whole_output};

/// 10:00 in New York on a Wednesday.
const NOW: &str = "2026-12-02T15:00:00Z";

/// On the national registry (New York).
const LISTED: &str = "+12125550100";
/// Not on it.
const CLEAR: &str = "+12125550101";
/// On it, with express written consent.
const CONSENTED: &str = "+12125550102";

const PROMO: &str = r#"kind: Template
name: promo
channel: sms
category: marketing
status: published
body: "Winter sale: 20% off. Reply STOP to opt out."
"#;

fn workspace(express_column: bool) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/notify.yaml")).unwrap();
    std::fs::remove_file(ws.path().join("campaigns/shipped.yaml")).unwrap();
    let mut csv = String::from("id,phone,tz,opt_in,written_ok\n");
    for (id, phone, ok) in [
        ("C-1", LISTED, "no"),
        ("C-2", CLEAR, "no"),
        ("C-3", CONSENTED, "yes"),
    ] {
        let _ = writeln!(csv, "{id},{phone},America/New_York,yes,{ok}");
    }
    ws.write("templates/promo.yaml", PROMO)
        .write(
            "campaigns/promo.yaml",
            "kind: Campaign\nname: promo\ntemplate: promo\naudience: promo-list\nfrom: \"+15550001111\"\nstatus: active\n",
        )
        .write(
            "campaigns/promo-list.yaml",
            "kind: Audience\nname: promo-list\nsource: { csv: data/promo-list.csv }\nkey: id\naddress: phone\ntimezone: tz\nconsent: opt_in\n",
        )
        .write("campaigns/data/promo-list.csv", &csv);
    if express_column {
        let yaml = ws.read("herald.yaml");
        let yaml = if yaml.contains("\npolicy:\n") {
            yaml.replacen(
                "\npolicy:\n",
                "\npolicy:\n  dnc:\n    express_consent_column: written_ok\n",
                1,
            )
        } else {
            format!("{yaml}\npolicy:\n  dnc:\n    express_consent_column: written_ok\n")
        };
        ws.write("herald.yaml", &yaml);
    }
    ws
}

fn registry_file(ws: &TestWorkspace, name: &str, lines: &[&str]) -> String {
    let mut text = String::new();
    for l in lines {
        let _ = writeln!(text, "{l}");
    }
    ws.write(name, &text);
    ws.path().join(name).to_string_lossy().into_owned()
}

fn import(ws: &TestWorkspace, file: &str, args: &[&str]) -> (i32, String, String) {
    run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["dnc", "import", file])
        .args(args))
}

fn plan(ws: &TestWorkspace) -> (i32, serde_json::Value, String) {
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "json"]));
    (code, serde_json::from_str(&out).unwrap_or_default(), err)
}

/// A number on the national registry is held as "do-not-call registry" (and not sent by
/// apply); a listed row with express written consent is sent; the plan shows the registry's
/// age; a change list deleting the number lifts the hold.
#[test]
fn a_registry_hit_is_held_and_a_deletion_lifts_it() {
    let ws = workspace(true);
    let sb = LocalSandbox::start(&ws);
    let full = registry_file(
        &ws,
        "dnc/national.txt",
        &["212,5550100", "2125550102", "305,5550199"],
    );
    let (code, out, err) = import(
        &ws,
        &full,
        &["--source", "national", "--downloaded", "2026-11-30"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("it now holds 3 numbers"), "{out}");
    assert!(
        !out.contains("5550100") && !err.contains("5550100"),
        "{out}{err}"
    );

    let (code, plan_doc, err) = plan(&ws);
    assert_eq!(code, 0, "{err}");
    let counts = &plan_campaign(&plan_doc, "promo")["counts"];
    assert_eq!(counts["do_not_call"], 1, "{plan_doc}");
    assert_eq!(counts["to_send"], 2, "{plan_doc}");
    assert_eq!(plan_doc["dnc_registries"][0]["source"], "national");
    assert_eq!(plan_doc["dnc_registries"][0]["age_days"], 2);
    let (_, text, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert!(
        text.contains(
            "Do-not-call registry: national downloaded 2026-11-30 (2 days old), 3 numbers"
        ),
        "{text}"
    );
    assert!(text.contains("do-not-call registry 1"), "{text}");
    let digest_before = plan_doc["review_digest"].clone();
    // Registries too large to hold in memory are looked up in batches instead: same plan.
    let (code, batched, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .env("HERALD_DNC_IN_MEMORY", "0")
        .args(["plan", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let batched: serde_json::Value = serde_json::from_str(&batched).unwrap();
    assert_eq!(plan_campaign(&batched, "promo")["counts"], *counts);
    assert_eq!(batched["review_digest"], digest_before);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .env("HERALD_DNC_IN_MEMORY", "lots")
        .arg("plan"));
    assert_ne!(code, 0);
    assert!(err.contains("HERALD_DNC_IN_MEMORY"), "{err}");
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["dnc", "list", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["source"], "national");
    assert_eq!(list[0]["age_days"], 2);
    assert_eq!(list[0]["stale"], false);
    assert_eq!(list[0]["numbers"], 3);

    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let got = sb.per_address();
    assert_eq!(got.get(LISTED), None, "{got:?}");
    assert_eq!(got.get(CLEAR), Some(&1), "{got:?}");
    assert_eq!(got.get(CONSENTED), Some(&1), "{got:?}");

    // The change list deletes the number: the next plan sends it.
    let changes = registry_file(&ws, "dnc/changes.txt", &["212,5550100,D", "213,5550123,A"]);
    let (code, out, err) = import(
        &ws,
        &changes,
        &[
            "--source",
            "national",
            "--downloaded",
            "2026-12-01",
            "--kind",
            "changes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 added, 1 deleted"), "{out}");
    let (code, plan_doc, err) = plan(&ws);
    assert_eq!(code, 0, "{err}");
    let counts = &plan_campaign(&plan_doc, "promo")["counts"];
    assert_eq!(counts.get("do_not_call"), None, "{plan_doc}");
    assert_eq!(counts["to_send"], 1, "{plan_doc}");
    assert_ne!(plan_doc["review_digest"], digest_before);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(sb.per_address().get(LISTED), Some(&1));
    // The imports are events of the chain, which still verifies.
    let (code, out, err) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 0, "{out}{err}");
}

/// Without express written consent configured, a listed number is held even when the row has
/// the column: only the policy names the column that counts.
#[test]
fn without_the_policy_column_every_listed_number_is_held() {
    let ws = workspace(false);
    let full = registry_file(&ws, "dnc/national.txt", &["212,5550100", "2125550102"]);
    let (code, out, err) = import(
        &ws,
        &full,
        &["--source", "national", "--downloaded", "2026-11-30"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, plan_doc, err) = plan(&ws);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        plan_campaign(&plan_doc, "promo")["counts"]["do_not_call"],
        2
    );
}

/// A national registry downloaded more than 31 days before the plan's day refuses marketing
/// to US numbers at plan and at apply (H180), naming the registry, its age and the rule;
/// nothing is sent. A state registry covers only its state's numbers.
#[test]
fn a_stale_registry_refuses_marketing() {
    let ws = workspace(false);
    let sb = LocalSandbox::start(&ws);
    let fl = registry_file(&ws, "dnc/fl.txt", &["305,5550199"]);
    let (code, out, err) = import(&ws, &fl, &["--source", "FL", "--downloaded", "2026-10-01"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("62 days old"), "{err}");
    // Florida's registry is stale, but the audience has only New York numbers.
    let (code, _, err) = plan(&ws);
    assert_eq!(code, 0, "{err}");

    let national = registry_file(&ws, "dnc/national.txt", &["305,5550199"]);
    let (code, out, err) = import(
        &ws,
        &national,
        &["--source", "national", "--downloaded", "2026-10-31"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 3, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("H180"), "{all}");
    assert!(
        all.contains("the national do-not-call registry covers, but its download is 32 days old (downloaded 2026-10-31); the limit is 31 days"),
        "{all}"
    );
    // The same refusal when the registries are looked up in batches instead of held.
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .env("HERALD_DNC_IN_MEMORY", "0")
        .arg("plan"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(format!("{out}{err}").contains("H180"), "{out}{err}");
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(sb.messages().is_empty());
    // 31 days is still fresh.
    let (code, out, err) = import(
        &ws,
        &national,
        &["--source", "national", "--downloaded", "2026-11-01"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = plan(&ws);
    assert_eq!(code, 0, "{err}");
}

/// A malformed line stops the import, naming the file, the line and the field (never the
/// digits), and nothing is loaded.
#[test]
fn a_malformed_registry_line_is_named_and_nothing_is_loaded() {
    let ws = workspace(false);
    let bad = registry_file(
        &ws,
        "dnc/national.txt",
        &["212,5550100", "212,555010", "212,5550102"],
    );
    let (code, out, err) = import(
        &ws,
        &bad,
        &["--source", "national", "--downloaded", "2026-11-30"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("national.txt:2: number: 6 digits, expected 7"),
        "{err}"
    );
    assert!(!err.contains("555010"), "{err}");
    let (_, out, _) = run(ws.herald().env("HERALD_NOW", NOW).args(["dnc", "list"]));
    assert_eq!(out, "no do-not-call registry loaded\n");
    let (code, _, err) = import(
        &ws,
        &bad,
        &["--source", "Texas", "--downloaded", "2026-11-30"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("--source Texas"), "{err}");
}

/// `herald audit` answers from the ledger alone: every send with why it was allowed (zones,
/// state, local time, rules, consent, registry check), suppressions and registry listings,
/// with the recipient masked; text and JSON.
#[test]
fn audit_shows_every_send_with_its_facts_masked() {
    let ws = workspace(true);
    let _sb = LocalSandbox::start(&ws);
    let full = registry_file(&ws, "dnc/national.txt", &["212,5550100", "2125550102"]);
    let (code, out, err) = import(
        &ws,
        &full,
        &["--source", "national", "--downloaded", "2026-11-30"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        run(ws
            .herald()
            .args(["suppress", "add", CONSENTED, "--reason", "complaint 4711"]));
    assert_eq!(code, 0, "{out}{err}");

    let mut settings = insta::Settings::clone_current();
    for (from, to) in crate::support::snapshot_filters() {
        settings.add_filter(&from, to);
    }
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    settings.add_filter(
        r"herald=[^ ,;\x22]+ numbering=[^ ,;\x22]+ tzdb=[^ ,;\x22]+",
        "[DATA]",
    );
    settings.add_filter(r"message [0-9a-f-]{32,36}", "message [ID]");
    settings.add_filter(r#""message_id": "[^"]+""#, r#""message_id": "[ID]""#);
    settings.add_filter(r#""run_id": "[^"]+""#, r#""run_id": "[RUN]""#);
    settings.add_filter(
        r#""template_hash": "[^"]+""#,
        r#""template_hash": "[HASH]""#,
    );
    settings.add_filter(r"source cli:\S+", "source cli:[USER]");
    settings.add_filter(r#""source": "cli:[^"]+""#, r#""source": "cli:[USER]""#);
    let text = whole_output(
        ws.herald()
            .env("HERALD_NOW", NOW)
            .args(["audit", CONSENTED]),
    );
    let json = whole_output(
        ws.herald()
            .env("HERALD_NOW", NOW)
            .args(["audit", CONSENTED, "--format", "json"]),
    );
    for out in [&text, &json] {
        assert!(!out.contains("5550102"), "{out}");
        assert!(out.contains("+1******0102"), "{out}");
    }
    settings.bind(|| {
        insta::assert_snapshot!("audit_text", text);
        insta::assert_snapshot!("audit_json", json);
    });
    let (code, csv, err) = run(ws.herald().args(["audit", CONSENTED, "--format", "csv"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        csv.starts_with("kind,at,recipient,campaign,row_key,channel,state,detail,facts\n"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("send,")).count(),
        1,
        "{csv}"
    );
    assert_eq!(
        csv.lines()
            .filter(|l| l.starts_with("suppression,"))
            .count(),
        1,
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("registry,")).count(),
        1,
        "{csv}"
    );
    // A recipient the ledger never saw: empty answers, exit 0.
    let (code, out, _) = run(ws.herald().args(["audit", "+13125550199"]));
    assert_eq!(code, 0);
    assert!(out.contains("sends: 0"), "{out}");
}

/// The same on a PostgreSQL ledger: import, hold, apply, audit. Ignored by default; run with
/// `HERALD_TEST_POSTGRES_URL` set and `--include-ignored`.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn registries_and_audit_on_a_postgres_ledger() {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("HERALD_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server");
    let schema = format!("herald_dnc_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .expect("HERALD_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let ws = workspace(true);
    let sb = LocalSandbox::start(&ws);
    let herald = |args: &[&str]| {
        run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .env("HERALD_LEDGER_URL", &url)
            .args(args))
    };
    let full = registry_file(&ws, "dnc/national.txt", &["212,5550100", "2125550102"]);
    let (code, out, err) = herald(&[
        "dnc",
        "import",
        &full,
        "--source",
        "national",
        "--downloaded",
        "2026-11-30",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = herald(&["plan", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan_doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        plan_campaign(&plan_doc, "promo")["counts"]["do_not_call"],
        1,
        "{plan_doc}"
    );
    let (code, out, err) = herald(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(sb.per_address().get(LISTED), None);
    assert_eq!(sb.per_address().get(CONSENTED), Some(&1));
    let (code, out, err) = herald(&["audit", CONSENTED, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["recipient"], "+1******0102");
    assert_eq!(
        doc["sends"][0]["facts"]["dnc"],
        "listed on national; sent on express written consent (column written_ok)"
    );
    assert_eq!(doc["registries"][0]["source"], "national");
    let (code, out, err) = herald(&["ledger", "verify"]);
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    assert_eq!(code, 0, "{out}{err}");
}

/// Each send records its consent evidence as a keyed reference (§5): the same evidence gives
/// the same reference, other evidence another, and neither the values nor the number appear
/// in `herald audit`.
#[test]
fn each_send_records_its_consent_evidence_as_a_keyed_reference() {
    let ws = workspace(false);
    let _sb = LocalSandbox::start(&ws);
    let mut csv = String::from("id,phone,tz,opt_in,consented_at,consent_src\n");
    for (id, phone, src) in [
        ("C-1", LISTED, "web-form-77"),
        ("C-2", CLEAR, "web-form-77"),
        ("C-3", CONSENTED, "kiosk-12"),
    ] {
        let _ = writeln!(
            csv,
            "{id},{phone},America/New_York,yes,2026-11-01T10:00:00Z,{src}"
        );
    }
    ws.write("campaigns/data/promo-list.csv", &csv).write(
        "campaigns/promo-list.yaml",
        "kind: Audience\nname: promo-list\nsource: { csv: data/promo-list.csv }\nkey: id\naddress: phone\ntimezone: tz\nconsent: opt_in\nconsent_evidence: { timestamp: consented_at, source: consent_src }\n",
    );
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    let facts = |phone: &str| {
        let (code, out, err) = run(ws.herald().args(["audit", phone, "--format", "json"]));
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains("web-form-77") && !out.contains("kiosk-12") && !out.contains(&phone[2..]),
            "{out}"
        );
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        doc["sends"][0]["facts"].clone()
    };
    let (a, b, c) = (facts(LISTED), facts(CLEAR), facts(CONSENTED));
    let reference =
        |f: &serde_json::Value| f["consent_ref"].as_str().unwrap_or_default().to_owned();
    assert!(reference(&a).starts_with("ck1:"), "{a}");
    assert_eq!(reference(&a).len(), 4 + 32, "{a}");
    assert_eq!(reference(&a), reference(&b));
    assert_ne!(reference(&a), reference(&c));
    assert_eq!(
        a["consent_evidence"],
        "timestamp consented_at, source consent_src"
    );
    // The other facts of §5 are there too.
    for field in ["zones", "states", "local_time", "rules", "rule_data", "dnc"] {
        assert!(!a[field].is_null(), "{field} missing: {a}");
    }
}
