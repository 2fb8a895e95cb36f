//! `herald plan`: snapshots of every scenario in text, markdown and JSON, determinism, no
//! personal data in any format, and exit codes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::support::{TestWorkspace, phone, run, write_audience};

/// 10:00 in New York, 07:00 in Los Angeles.
const NOW: &str = "2026-12-02T15:00:00Z";

/// The plan in all three formats, one after the other.
fn plan_all(ws: &TestWorkspace) -> String {
    let mut all = String::new();
    for format in ["text", "markdown", "json"] {
        let (code, out, err) = run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--format", format]));
        assert_eq!(code, 0, "plan --format {format}: {err}");
        let _ = writeln!(all, "──── {format}\n{out}");
    }
    all
}

/// Snapshots with run-dependent values replaced: response ids, commits, temp paths.
fn snapshot(name: &str, ws: &TestWorkspace, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[uuid]",
    );
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[commit]");
    // The time-zone database in use is the machine's: its version, and the digests over it.
    settings.add_filter(r"tzdb=[A-Za-z0-9.+-]+", "tzdb=[tzdb]");
    settings.add_filter(
        r#"(herald-review-digest: |Review digest: `?|--approved-digest |"review_digest": ")sha256:[0-9a-f]{64}"#,
        "${1}[review-digest]",
    );
    settings.add_filter(
        r#"("input": "data [^"]*",\s*"digest": ")sha256:[0-9a-f]{64}"#,
        "${1}[data-digest]",
    );
    settings.add_filter(&regex_escape(&ws.path().display().to_string()), "[ws]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn apply(ws: &TestWorkspace, extra: &[&str]) {
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"])
        .args(extra));
    assert_eq!(code, 0, "apply: {err}");
}

/// Runs `f` against the embedded sandbox's state, between two herald runs.
fn with_embedded<T>(
    ws: &TestWorkspace,
    f: impl AsyncFnOnce(&herald_sandbox::RunningSandbox) -> T,
) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = herald_sandbox::SandboxConfig {
            state: herald_sandbox::StateLocation::File(ws.path().join(".herald/sandbox-state.db")),
            ..herald_sandbox::SandboxConfig::default()
        };
        let sb = herald_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let out = f(&sb).await;
        sb.shutdown().await;
        out
    })
}

/// Rows 0–2 in New York (10:00: open), rows 3–4 in Los Angeles (07:00: held until 08:00).
fn write_new_york_and_los_angeles(ws: &TestWorkspace) {
    let mut csv = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for i in 0..5 {
        let tz = if i < 3 {
            "America/New_York"
        } else {
            "America/Los_Angeles"
        };
        let _ = writeln!(
            csv,
            "C-{i},{},{tz},yes,ORD-{i},https://track.example.com/{i}",
            phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &csv);
}

fn base() -> TestWorkspace {
    TestWorkspace::fixture("base")
}

#[test]
fn first_run_creates_everything() {
    let ws = base();
    snapshot("first_run", &ws, &plan_all(&ws));
}

#[test]
fn no_changes_after_apply() {
    let ws = base();
    apply(&ws, &[]);
    let all = plan_all(&ws);
    assert!(all.contains("No changes."), "{all}");
    snapshot("no_changes", &ws, &all);
}

#[test]
fn text_edit_is_an_update_with_a_diff() {
    let ws = base();
    apply(&ws, &[]);
    let t = ws
        .read("templates/order-shipped.yaml")
        .replace("has shipped", "is on its way");
    ws.write("templates/order-shipped.yaml", &t);
    let all = plan_all(&ws);
    assert!(
        all.contains("-Your order {{order_id}} has shipped"),
        "{all}"
    );
    assert!(
        all.contains("+Your order {{order_id}} is on its way"),
        "{all}"
    );
    snapshot("text_edit", &ws, &all);
}

#[test]
fn out_of_band_edit_is_drift() {
    let ws = base();
    apply(&ws, &[]);
    let id = crate::support::response_id(&ws, "order-shipped");
    with_embedded(&ws, async |sb| {
        sb.edit_response_out_of_band(&id, "Edited in the Genesys UI {{order_id}}")
            .await
            .unwrap();
    });
    let all = plan_all(&ws);
    assert!(all.contains("drift"), "{all}");
    assert!(all.contains("Edited in the Genesys UI"), "{all}");
    snapshot("drift", &ws, &all);
}

#[test]
fn rename_keeps_the_response() {
    let ws = base();
    apply(&ws, &[]);
    let id = crate::support::response_id(&ws, "order-shipped");
    let t = ws.read("templates/order-shipped.yaml").replace(
        "name: order-shipped",
        "name: order-update\nprevious_names: [order-shipped]",
    );
    std::fs::remove_file(ws.path().join("templates/order-shipped.yaml")).unwrap();
    ws.write("templates/order-update.yaml", &t);
    let c = ws
        .read("campaigns/notify.yaml")
        .replace("template: order-shipped", "template: order-update");
    ws.write("campaigns/notify.yaml", &c);
    let all = plan_all(&ws);
    snapshot("rename", &ws, &all);
    apply(&ws, &[]);
    assert_eq!(crate::support::response_id(&ws, "order-update"), id);
}

#[test]
fn response_without_yaml_is_an_orphan() {
    let ws = base();
    ws.write(
        "templates/welcome.yaml",
        "kind: Template\nname: welcome\nchannel: sms\ncategory: transactional\nstatus: published\nbody: \"Welcome aboard. Reply STOP to opt out.\"\n",
    );
    apply(&ws, &[]);
    std::fs::remove_file(ws.path().join("templates/welcome.yaml")).unwrap();
    let all = plan_all(&ws);
    assert!(all.contains("welcome"), "{all}");
    snapshot("orphan", &ws, &all);
}

#[test]
fn half_sent_campaign() {
    let ws = base();
    write_audience(&ws, 6, "America/New_York");
    apply(&ws, &["--max-sends", "3"]);
    let all = plan_all(&ws);
    snapshot("half_sent", &ws, &all);
    let plan = crate::support::plan_json(&ws);
    assert_eq!(plan["campaigns"][0]["counts"]["to_send"], 3, "{plan}");
    assert_eq!(plan["campaigns"][0]["counts"]["already_sent"], 3, "{plan}");
}

#[test]
fn suppressed_and_quiet_hour_recipients() {
    let ws = base();
    write_new_york_and_los_angeles(&ws);
    let (code, _, err) = run(ws.herald().args(["suppress", "add", &phone(1)]));
    assert_eq!(code, 0, "{err}");
    let all = plan_all(&ws);
    snapshot("suppressed_and_quiet_hours", &ws, &all);
    let plan = crate::support::plan_json(&ws);
    let counts = &plan["campaigns"][0]["counts"];
    assert_eq!(counts["to_send"], 2, "{plan}");
    assert_eq!(counts["suppressed"], 1, "{plan}");
    assert_eq!(counts["held_quiet_hours"], 2, "{plan}");
}

/// Planning repeatedly with nothing changed gives byte-identical JSON, on stdout and in
/// `--out`, in every state of a campaign's life.
#[test]
fn planning_twice_is_byte_identical() {
    let ws = base();
    write_audience(&ws, 5, "America/New_York");
    for step in 0..3 {
        let mut seen = BTreeSet::new();
        for i in 0..3 {
            let out_file = format!("p{step}-{i}.json");
            let (code, out, err) = run(ws
                .herald()
                .env("HERALD_NOW", NOW)
                .args(["plan", "--format", "json", "--out", &out_file]));
            assert_eq!(code, 0, "{err}");
            assert_eq!(ws.read(&out_file), out, "--out matches stdout");
            seen.insert(out);
        }
        assert_eq!(seen.len(), 1, "step {step}: plans differ");
        // Move the campaign along: create the template and send two, then the rest.
        apply(&ws, &["--max-sends", "2"]);
    }
}

/// Every phone number and email address in the example audiences, as written in the data.
fn example_addresses(root: &std::path::Path) -> Vec<String> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("campaigns/data")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for token in text.split([',', '"', '\n', ' ', ':', '{', '}']) {
            let is_phone = token.starts_with('+')
                && token.len() >= 8
                && token[1..].chars().all(|c| c.is_ascii_digit());
            let is_email = token.contains('@') && token.contains('.');
            if is_phone || is_email {
                found.insert(token.to_owned());
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_plan_output_contains_an_address() {
    let ws = TestWorkspace::example();
    let addresses = example_addresses(ws.path());
    assert!(
        addresses.len() >= 10,
        "found the audience's addresses: {addresses:?}"
    );
    let mut outputs = vec![plan_all(&ws)];
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    outputs.extend([out, err, ws.read("p.json")]);
    for out in &outputs {
        for a in &addresses {
            assert!(!out.contains(a.as_str()), "plan output contains {a}");
        }
        // And nothing that looks like an unmasked phone number.
        let digits_run = out
            .split(|c: char| !c.is_ascii_digit() && c != '+')
            .filter(|t| t.starts_with('+') && t.len() >= 11)
            .collect::<Vec<_>>();
        assert!(digits_run.is_empty(), "unmasked numbers: {digits_run:?}");
    }
    assert!(outputs[0].contains("******"), "samples are shown masked");
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let ws = base();
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--detailed-exitcode"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0, "without the flag, changes are not an error");
    apply(&ws, &[]);
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "plan",
        "--detailed-exitcode",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn plan_on_an_invalid_workspace_exits_3() {
    let ws = base();
    let t = ws
        .read("templates/order-shipped.yaml")
        .replace("{{order_id}}", "{{order_number}}");
    ws.write("templates/order-shipped.yaml", &t);
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.is_empty(), "no plan is printed: {out}");
    assert!(err.contains("order_number"), "{err}");
}

/// A refused plan still gives CI a comment: `--format markdown` lists the errors (exit 3).
#[test]
fn a_refused_plan_in_markdown_lists_the_errors() {
    let ws = base();
    let t = ws
        .read("templates/order-shipped.yaml")
        .replace("{{order_id}}", "{{order_number}}");
    ws.write("templates/order-shipped.yaml", &t);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("· refused"), "{out}");
    assert!(out.contains("order_number"), "{out}");
    assert!(out.contains("templates/order-shipped.yaml"), "{out}");
    snapshot("refused_markdown", &ws, &out);
    // Text output stays empty on stdout: the errors are on stderr.
    let (code, out, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 3);
    assert!(out.is_empty(), "{out}");
}

/// After an apply the audience is swapped for a larger one with other keys, and a campaign is
/// added: the plan says so in every format.
#[test]
fn swapped_audience_and_new_campaign_are_marked() {
    let ws = base();
    write_audience(&ws, 5, "America/New_York");
    apply(&ws, &[]);
    // 12 rows, the first 2 the old keys (C-0, C-1), 10 new ones.
    let mut csv = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for i in [0, 1].into_iter().chain(10..20) {
        let _ = writeln!(
            csv,
            "C-{i},{},America/New_York,yes,ORD-{i},https://track.example.com/{i}",
            phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &csv);
    ws.write(
        "campaigns/notify-again.yaml",
        &ws.read("campaigns/notify.yaml")
            .replace("name: notify", "name: notify-again"),
    );
    let all = plan_all(&ws);
    snapshot("swapped_audience_and_new_campaign", &ws, &all);
    let plan = crate::support::plan_json(&ws);
    let by_name = |n: &str| {
        plan["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    let notify = by_name("notify");
    assert_eq!(notify["changes"]["new"], false, "{plan}");
    assert_eq!(notify["changes"]["rows_added"], 10, "{plan}");
    assert_eq!(notify["changes"]["rows_removed"], 3, "{plan}");
    let again = by_name("notify-again");
    assert_eq!(again["changes"]["new"], true, "{plan}");
    assert_eq!(again["changes"]["rows_added"], 12, "{plan}");
    // Samples are rows sent now, each with its decision and line.
    let samples = notify["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5, "{plan}");
    assert!(samples.iter().all(|s| s["reason"] == "to_send"), "{plan}");
    assert_eq!(samples[0]["line"], 4, "{plan}");
    assert!(
        all.contains("+10 rows not yet in the ledger / −3 ledger rows no longer in the audience"),
        "{all}"
    );
    assert!(
        all.contains("new campaign: nothing in the ledger yet (+12 rows)"),
        "{all}"
    );
}

/// `status` counts the rows `plan` holds for later (they are not in the ledger yet), so the
/// two agree.
#[test]
fn status_held_agrees_with_plan() {
    let ws = base();
    write_new_york_and_los_angeles(&ws);
    apply(&ws, &[]);
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("held by quiet hours 2"), "{out}");
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["status", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["campaigns"][0]["campaign"], "notify", "{doc}");
    assert_eq!(doc["campaigns"][0]["held"], 2, "{doc}");
    assert_eq!(doc["campaigns"][0]["states"]["sent"], 3, "{doc}");
    let (code, out, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("status"));
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.starts_with("notify")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1..4], ["3", "0", "2"], "{out}");
}

/// Settings changed since the last apply are named, compared with the campaign's file at the
/// commit the ledger recorded for that apply.
#[test]
fn campaign_settings_changed_since_the_last_apply_are_named() {
    let ws = base();
    write_audience(&ws, 2, "America/New_York");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(ws.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first"]);
    apply(&ws, &[]);
    let path = "campaigns/notify.yaml";
    ws.write(
        path,
        &ws.read(path)
            .replace("+15550001111", "+15550002222")
            .replace("status: active", "status: active\nrate_per_minute: 120"),
    );
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "since the last apply: changed from +1******1111 → +1******2222, rate_per_minute none → 120"
        ),
        "{out}"
    );
    let plan = crate::support::plan_json(&ws);
    let settings = &plan["campaigns"][0]["changes"]["settings"];
    assert_eq!(settings[1]["field"], "rate_per_minute", "{plan}");
    assert_eq!(settings[1]["after"], "120", "{plan}");
    // The page says it too.
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["preview", "--out", "site"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        ws.read("site/index.html")
            .contains("rate_per_minute none → 120")
    );
}
