//! Hostile and careless workspaces: the workspace is a boundary (symlinks, special files,
//! loops, huge files), audiences never end silently, and marketing always keeps quiet hours.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use crate::support::{TestWorkspace, run};

const NOW: &str = "2026-12-02T15:00:00Z";
const SECRET: &str = "SUPERSECRET-token-4f1c9";

/// `validate --format json`, bounded in time: a hang or an endless walk fails the test.
fn validate_json(ws: &TestWorkspace) -> (i32, serde_json::Value, String) {
    let (code, out, err) = run(ws
        .herald()
        .timeout(Duration::from_secs(60))
        .args(["validate", "--format", "json"]));
    let json = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("validate json ({e}), code {code}: {out}\n{err}"));
    (code, json, format!("{out}\n{err}"))
}

/// The diagnostics with `code`, as (file, line, message).
fn diags(json: &serde_json::Value, code: &str) -> Vec<(String, u64, String)> {
    json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == code)
        .map(|d| {
            (
                d["primary"]["file"].as_str().unwrap_or("").to_owned(),
                d["primary"]["line"].as_u64().unwrap_or(0),
                d["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

// ---- 1. The workspace is a boundary ----

#[test]
fn a_document_symlinked_to_herald_state_is_refused_and_never_echoed() {
    let ws = TestWorkspace::fixture("base");
    ws.write(".herald/local-secret", &format!("{SECRET}\n"));
    symlink(
        "../.herald/local-secret",
        ws.path().join("templates/leak.yaml"),
    )
    .unwrap();
    // Text output too: that is what CI logs show.
    let (code, out, err) = run(ws.herald().timeout(Duration::from_secs(60)).arg("validate"));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "{out}\n{err}"
    );
    assert!(
        err.contains("H006") && err.contains("templates/leak.yaml"),
        "{err}"
    );
    let (_, json, all) = validate_json(&ws);
    assert!(!all.contains(SECRET), "{all}");
    let found = diags(&json, "H006");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0].0, "templates/leak.yaml");
    assert_eq!(found[0].1, 1, "{all}");
}

#[test]
fn documents_symlinked_outside_the_workspace_are_refused_and_never_echoed() {
    let ws = TestWorkspace::fixture("base");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(
        outside.path().join("doc.yaml"),
        format!("kind: Campaign\nname: {SECRET}\n"),
    )
    .unwrap();
    symlink(
        outside.path().join("secret"),
        ws.path().join("templates/leak.yaml"),
    )
    .unwrap();
    symlink(
        outside.path().join("doc.yaml"),
        ws.path().join("campaigns/leak.yml"),
    )
    .unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    assert!(!all.contains(SECRET), "{all}");
    let files: Vec<String> = diags(&json, "H006").into_iter().map(|d| d.0).collect();
    assert_eq!(
        files,
        ["campaigns/leak.yml", "templates/leak.yaml"],
        "{all}"
    );

    // A herald.yaml that is itself a link out of the workspace is refused the same way.
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("herald.yaml")).unwrap();
    symlink(outside.path().join("secret"), ws.path().join("herald.yaml")).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    assert!(!all.contains(SECRET), "{all}");
    let files: Vec<String> = diags(&json, "H006").into_iter().map(|d| d.0).collect();
    assert_eq!(files, ["herald.yaml"], "{all}");
}

#[test]
fn a_symlinked_directory_outside_the_workspace_is_not_walked() {
    let ws = TestWorkspace::fixture("base");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("doc.yaml"),
        format!("kind: Template\nname: {SECRET}\n"),
    )
    .unwrap();
    symlink(outside.path(), ws.path().join("templates/shared")).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    assert!(!all.contains(SECRET), "{all}");
    let files: Vec<String> = diags(&json, "H006").into_iter().map(|d| d.0).collect();
    assert_eq!(files, ["templates/shared"], "{all}");
}

#[test]
fn configured_directories_must_be_inside_the_workspace() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\ndirectories:\n  - templates\n  - campaigns\n  - ../elsewhere\n",
    );
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H006");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0].0, "herald.yaml");
    assert_eq!(found[0].1, 7, "{all}");
    assert!(found[0].2.contains("../elsewhere"), "{all}");
}

#[test]
fn audience_sources_must_resolve_inside_the_workspace() {
    let outside = tempfile::tempdir().unwrap();
    let csv = "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+12125550100,America/New_York,yes,ORD-1,https://t.example.com/1\n";
    std::fs::write(outside.path().join("list.csv"), csv).unwrap();

    // A path that climbs out.
    let ws = TestWorkspace::fixture("base");
    let rel = format!(
        "{}/list.csv",
        outside.path().display().to_string().trim_start_matches('/')
    );
    let climb = format!("../../../../../../../../../../{rel}");
    ws.write(
        "campaigns/shipped.yaml",
        &format!("kind: Audience\nname: shipped\nsource: {{ csv: \"{climb}\" }}\nkey: customer_id\naddress: phone\ntimezone: tz\nconsent: sms_opt_in\n"),
    );
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H006");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1),
        ("campaigns/shipped.yaml", 3),
        "{all}"
    );
    assert!(json["campaigns"]["notify"].is_null(), "{all}");

    // A data file that is a symlink out.
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/data/shipped.csv")).unwrap();
    symlink(
        outside.path().join("list.csv"),
        ws.path().join("campaigns/data/shipped.csv"),
    )
    .unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H006");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1),
        ("campaigns/shipped.yaml", 3),
        "{all}"
    );
    // Nothing is sent from it either.
    let (code, out, err) = run(ws
        .herald()
        .timeout(Duration::from_secs(60))
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(!out.contains("sent 1"), "{out}");
}

#[test]
fn looping_directory_symlinks_are_walked_once() {
    let ws = TestWorkspace::fixture("base");
    symlink(".", ws.path().join("templates/a")).unwrap();
    symlink(".", ws.path().join("templates/b")).unwrap();
    symlink("..", ws.path().join("campaigns/data/up")).unwrap();
    let started = std::time::Instant::now();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    assert_eq!(json["templates"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(json["campaigns"]["notify"]["rows"], 3, "{all}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_fifo_is_refused_without_being_opened() {
    let ws = TestWorkspace::fixture("base");
    mkfifo(&ws.path().join("templates/pipe.yaml"));
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H007");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0].0, "templates/pipe.yaml");
    // The same for an audience data file.
    let ws = TestWorkspace::fixture("base");
    std::fs::remove_file(ws.path().join("campaigns/data/shipped.csv")).unwrap();
    mkfifo(&ws.path().join("campaigns/data/shipped.csv"));
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H007");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1),
        ("campaigns/shipped.yaml", 3),
        "{all}"
    );
}

#[test]
fn a_device_is_refused() {
    let ws = TestWorkspace::fixture("base");
    symlink("/dev/zero", ws.path().join("templates/zero.yaml")).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let files: Vec<String> = diags(&json, "H006").into_iter().map(|d| d.0).collect();
    assert_eq!(files, ["templates/zero.yaml"], "{all}");
}

#[test]
fn an_oversized_document_is_refused_before_it_is_read() {
    let ws = TestWorkspace::fixture("base");
    // 50 MB, sparse: refused from its size alone.
    let f = std::fs::File::create(ws.path().join("templates/huge.yaml")).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H008");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0].0, "templates/huge.yaml");
    assert!(found[0].2.contains("52428800"), "{all}");
}

// ---- 2. Audiences never end silently ----

fn jsonl_workspace(data: &[u8]) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "campaigns/shipped.yaml",
        "kind: Audience\nname: shipped\nsource: { jsonl: data/shipped.jsonl }\nkey: customer_id\naddress: phone\ntimezone: tz\nconsent: sms_opt_in\n",
    );
    std::fs::write(ws.path().join("campaigns/data/shipped.jsonl"), data).unwrap();
    ws
}

fn jsonl_row(i: usize, order: &str) -> String {
    format!(
        "{{\"customer_id\":\"C-{i}\",\"phone\":\"+1212555{:04}\",\"tz\":\"America/New_York\",\"sms_opt_in\":\"yes\",\"order_id\":\"{order}\",\"tracking_url\":\"https://t.example.com/{i}\"}}\n",
        100 + i
    )
}

#[test]
fn an_undecodable_jsonl_line_is_a_row_diagnostic_and_reading_goes_on() {
    let mut data = jsonl_row(0, "ORD-0").into_bytes();
    let mut bad = jsonl_row(1, "ORD-1").into_bytes();
    let at = bad.iter().position(|b| *b == b'O').unwrap();
    bad[at] = 0xff;
    data.extend(bad);
    data.extend(b"{\"customer_id\": \"C-2\", \n");
    data.extend(jsonl_row(3, "ORD-3").into_bytes());
    let ws = jsonl_workspace(&data);
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    let st = &json["campaigns"]["notify"];
    assert_eq!(st["rows"], 4, "{all}");
    assert_eq!(st["ready"], 2, "{all}");
    let lines: Vec<u64> = diags(&json, "H164").into_iter().map(|d| d.1).collect();
    assert_eq!(lines, [2, 3], "{all}");
    // apply sends to both good rows, not just the first.
    let (code, out, err) = run(ws
        .herald()
        .timeout(Duration::from_secs(120))
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("sent 2"), "{out}\n{err}");
}

#[test]
fn an_undecodable_csv_line_is_a_row_diagnostic_and_reading_goes_on() {
    let ws = TestWorkspace::fixture("base");
    let mut data = b"customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n".to_vec();
    data.extend(b"C-0,+12125550100,America/New_York,yes,ORD-0,https://t.example.com/0\n");
    data.extend(b"C-1,+12125550101,America/New_York,yes,ORD-\xff1,https://t.example.com/1\n");
    data.extend(b"C-2,+12125550102,America/New_York,yes\n");
    data.extend(b"C-3,+12125550103,America/New_York,yes,ORD-3,https://t.example.com/3\n");
    std::fs::write(ws.path().join("campaigns/data/shipped.csv"), data).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    let st = &json["campaigns"]["notify"];
    assert_eq!(st["rows"], 4, "{all}");
    assert_eq!(st["ready"], 2, "{all}");
    let lines: Vec<u64> = diags(&json, "H164").into_iter().map(|d| d.1).collect();
    assert_eq!(lines, [3, 4], "{all}");
}

#[test]
fn a_jsonl_audience_may_start_with_a_bom() {
    let mut data = "\u{FEFF}".as_bytes().to_vec();
    data.extend(jsonl_row(0, "ORD-0").into_bytes());
    data.extend(jsonl_row(1, "ORD-1").into_bytes());
    let ws = jsonl_workspace(&data);
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    assert_eq!(json["campaigns"]["notify"]["ready"], 2, "{all}");
    assert_eq!(json["warnings"], 0, "{all}");
}

#[test]
fn a_duplicated_header_column_is_an_error_naming_both() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "campaigns/data/shipped.csv",
        "customer_id,phone,tz,sms_opt_in,order_id,tracking_url,phone\nC-1,+12125550100,America/New_York,yes,ORD-1,https://t.example.com/1,+12125550199\n",
    );
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let errors: Vec<&serde_json::Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{all}");
    let d = errors[0];
    assert_eq!(d["primary"]["file"], "campaigns/data/shipped.csv", "{all}");
    assert_eq!(d["primary"]["line"], 1, "{all}");
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains("`phone`") && msg.contains("columns 2 and 7"),
        "{msg}"
    );
}

// ---- 5. Marketing keeps quiet hours ----

fn marketing_workspace() -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    let t = ws.read("templates/order-shipped.yaml");
    ws.write(
        "templates/order-shipped.yaml",
        &t.replace("category: transactional", "category: marketing"),
    );
    ws
}

#[test]
fn a_marketing_campaign_without_quiet_hours_is_an_error() {
    let ws = marketing_workspace();
    let (code, _, all) = validate_json(&ws);
    assert_eq!(code, 0, "marketing with the default window is fine: {all}");

    let c = ws.read("campaigns/notify.yaml");
    ws.write("campaigns/notify.yaml", &format!("{c}send_window: none\n"));
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H173");
    assert_eq!(found.len(), 1, "{all}");
    let line = u64::try_from(c.lines().count() + 1).unwrap();
    assert_eq!(
        (found[0].0.as_str(), found[0].1),
        ("campaigns/notify.yaml", line)
    );

    // Inherited from the policy: the same error.
    ws.write("campaigns/notify.yaml", &c);
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\npolicy:\n  send_window: none\n",
    );
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    let found = diags(&json, "H173");
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0].0, "campaigns/notify.yaml", "{all}");

    // An invalid window is reported as such, not also as missing quiet hours.
    ws.write(
        "campaigns/notify.yaml",
        &format!("{c}send_window: {{ start: \"25:00\", end: \"21:00\" }}\n"),
    );
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\ndefault_environment: sandbox\n",
    );
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 3, "{all}");
    assert!(diags(&json, "H173").is_empty(), "{all}");
    assert_eq!(diags(&json, "H012").len(), 1, "{all}");
}

#[test]
fn the_example_workspace_still_validates() {
    let ws = TestWorkspace::example();
    let (code, _, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
}

#[test]
fn a_control_character_in_a_message_value_is_a_row_diagnostic() {
    let ws = TestWorkspace::fixture("base");
    let mut data = b"customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n".to_vec();
    data.extend(b"C-0,+12125550100,America/New_York,yes,ORD-0,https://t.example.com/0\n");
    data.extend(b"C-1,+12125550101,America/New_York,yes,ORD-\x1b[31m1,https://t.example.com/1\n");
    data.extend(b"C-2,+12125550102,America/New_York,yes,ORD-\x002,https://t.example.com/2\n");
    std::fs::write(ws.path().join("campaigns/data/shipped.csv"), data).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    assert_eq!(json["campaigns"]["notify"]["ready"], 1, "{all}");
    let found = diags(&json, "H151");
    let lines: Vec<u64> = found.iter().map(|d| d.1).collect();
    assert_eq!(lines, [3, 4], "{all}");
    assert!(found[0].2.contains("control character"), "{all}");
    // Nothing of the value is echoed, not even the escape sequence.
    assert!(!all.contains('\u{1b}'), "{all}");
}

#[test]
fn keys_with_spaces_and_rows_sharing_an_address_are_warned_about() {
    let ws = TestWorkspace::fixture("base");
    let mut data = b"customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n".to_vec();
    data.extend(b"C-1001,+12125550100,America/New_York,yes,ORD-0,https://t.example.com/0\n");
    data.extend(b"C-1001 ,+12125550100,America/New_York,yes,ORD-1,https://t.example.com/1\n");
    data.extend(b"c-1001,+12125550100,America/New_York,yes,ORD-2,https://t.example.com/2\n");
    data.extend(b"C-2,+12125550102,America/New_York,yes,ORD-3,https://t.example.com/3\n");
    std::fs::write(ws.path().join("campaigns/data/shipped.csv"), data).unwrap();
    let (code, json, all) = validate_json(&ws);
    assert_eq!(code, 0, "{all}");
    // Keys are never rewritten: all four rows stay ready, with warnings.
    assert_eq!(json["campaigns"]["notify"]["ready"], 4, "{all}");
    let spaced = diags(&json, "H169");
    assert_eq!(spaced.iter().map(|d| d.1).collect::<Vec<_>>(), [3], "{all}");
    let shared = diags(&json, "H174");
    assert_eq!(
        shared.iter().map(|d| d.1).collect::<Vec<_>>(),
        [3, 4],
        "{all}"
    );
    assert!(shared[0].2.contains("line 2"), "{all}");
    assert!(!all.contains("2125550100"), "{all}");
}
