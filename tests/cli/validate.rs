//! `herald validate`: one fixture workspace per diagnostic code, each reported exactly once
//! with its location; snapshots pin the rendered text.

use std::fmt::Write as _;

use crate::support::{TestWorkspace, herald_snapshot, run};

fn validate(ws: &TestWorkspace) -> (i32, String, String) {
    run(ws.herald().arg("validate"))
}

fn codes(ws: &TestWorkspace) -> Vec<String> {
    let (_, out, _) = run(ws.herald().args(["validate", "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json output");
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_example_workspace_is_valid() {
    let ws = TestWorkspace::example();
    herald_snapshot!(ws.herald().arg("validate"));
}

#[test]
fn the_base_fixture_is_valid() {
    let ws = TestWorkspace::fixture("base");
    let (code, out, err) = validate(&ws);
    assert_eq!(code, 0, "{out}{err}");
    assert!(codes(&ws).is_empty());
}

/// (case name, expected code, files to write over the base fixture)
/// (case name, expected code, files to write)
type Case = (&'static str, &'static str, Vec<(&'static str, String)>);

fn cases() -> Vec<Case> {
    let template = |body: &str, vars: &str| {
        format!(
            "kind: Template\nname: order-shipped\nchannel: sms\ncategory: transactional\nstatus: published\nbody: \"{body}\"\nvariables:\n{vars}"
        )
    };
    let both_vars =
        "  order_id: { description: Order number }\n  tracking_link: { description: URL }\n";
    let campaign = |vars: &str, extra: &str| {
        format!(
            "kind: Campaign\nname: notify\ntemplate: order-shipped\naudience: shipped\nfrom: \"+15550001111\"\nvariables:\n{vars}status: active\n{extra}"
        )
    };
    let good_map = "  order_id: { column: order_id }\n  tracking_link: { column: tracking_url }\n";
    vec![
        ("yaml_syntax", "H002", vec![("templates/order-shipped.yaml", "kind: Template\nname: [unclosed\n".into())]),
        ("duplicate_yaml_key", "H002", vec![("campaigns/notify.yaml", campaign(good_map, "status: paused\n"))]),
        ("unknown_field", "H002", vec![("templates/extra.yaml", format!("{}colour: blue\n", template("{{order_id}} {{tracking_link}} STOP", both_vars)).replace("name: order-shipped", "name: extra"))]),
        ("unknown_enum_value", "H002", vec![("campaigns/notify.yaml", campaign(good_map, "").replace("status: active", "status: yes"))]),
        ("missing_kind", "H003", vec![("templates/nokind.yaml", "name: x\n".into())]),
        ("duplicate_name", "H004", vec![("templates/copy.yaml", template("{{order_id}} {{tracking_link}}", both_vars))]),
        ("bad_name", "H005", vec![("campaigns/notify.yaml", campaign(good_map, "").replace("name: notify", "name: Notify Me"))]),
        ("undeclared_placeholder", "H101", vec![("templates/order-shipped.yaml", template("Order {{order_id}} via {{tracking_link}} for {{customer}}", both_vars))]),
        ("unused_variable", "H102", vec![("templates/order-shipped.yaml", template("Order {{order_id}} via {{tracking_link}}", &format!("{both_vars}  spare: {{ description: unused }}\n")))]),
        ("malformed_placeholder", "H103", vec![("templates/order-shipped.yaml", template("Order {{order_id}} via {{tracking_link}} and {{oops", both_vars))]),
        ("missing_template", "H110", vec![("campaigns/notify.yaml", campaign(good_map, "").replace("template: order-shipped", "template: order-shiped"))]),
        ("draft_template", "H111", vec![("templates/order-shipped.yaml", template("Order {{order_id}} via {{tracking_link}}", both_vars).replace("status: published", "status: draft"))]),
        ("missing_audience", "H112", vec![("campaigns/notify.yaml", campaign(good_map, "").replace("audience: shipped", "audience: shiped"))]),
        ("the_guides_trap", "H120", vec![("campaigns/notify.yaml", campaign("  orderId: { column: order_id }\n  tracking_link: { column: tracking_url }\n", ""))]),
        ("unmapped_extra", "H121", vec![("campaigns/notify.yaml", campaign(&format!("{good_map}  promo: {{ value: x }}\n"), ""))]),
        ("missing_column", "H163", vec![("campaigns/notify.yaml", campaign("  order_id: { column: order_number }\n  tracking_link: { column: tracking_url }\n", ""))]),
        ("denied_variable", "H130", vec![
            ("templates/order-shipped.yaml", template("Order {{order_id}} via {{tracking_link}} {{card_last4}}", &format!("{both_vars}  card_last4: {{ description: x }}\n"))),
            ("campaigns/notify.yaml", campaign(&format!("{good_map}  card_last4: {{ value: \"1234\" }}\n"), "")),
        ]),
        ("marketing_sms_without_stop", "H140", vec![("templates/order-shipped.yaml", template("Sale! Order {{order_id}} via {{tracking_link}}", both_vars).replace("transactional", "marketing"))]),
        ("marketing_email_without_unsubscribe", "H141", vec![("templates/mail.yaml", "kind: Template\nname: mail\nchannel: email\ncategory: marketing\nstatus: published\nsubject: Hello\nhtml: \"<p>News</p><p>Example Inc, 1 Main St, Springfield, IL 62701</p>\"\n".into())]),
        ("marketing_email_without_address", "H142", vec![("templates/mail.yaml", "kind: Template\nname: mail\nchannel: email\ncategory: marketing\nstatus: published\nsubject: Hello\nhtml: \"<p>News</p><a href='https://x.example.com/u'>Unsubscribe</a>\"\n".into())]),
        ("sms_over_765", "H150", vec![("templates/order-shipped.yaml", template(&format!("{} {{{{order_id}}}} {{{{tracking_link}}}}", "x".repeat(770)), both_vars))]),
        ("value_too_long", "H151", vec![("campaigns/data/shipped.csv", "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+12125550100,America/New_York,yes,ORD-1-THIS-IS-FAR-TOO-LONG-FOR-IT,https://t.example.com/1\n".into())]),
        ("card_number_in_text", "H152", vec![("campaigns/data/shipped.csv", "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+12125550100,America/New_York,yes,4111111111111111,https://t.example.com/1\n".into())]),
        ("invalid_phone", "H160", vec![("campaigns/data/shipped.csv", "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,212-555-0100,America/New_York,yes,ORD-1,https://t.example.com/1\n".into())]),
        ("duplicate_key", "H162", vec![("campaigns/data/shipped.csv", "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+12125550100,America/New_York,yes,ORD-1,https://t.example.com/1\nC-1,+12125550199,America/New_York,yes,ORD-2,https://t.example.com/2\n".into())]),
        ("unknown_timezone", "H165", vec![("campaigns/data/shipped.csv", "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+12125550100,America/Gotham,yes,ORD-1,https://t.example.com/1\n".into())]),
        ("bad_sender", "H170", vec![("campaigns/notify.yaml", campaign(good_map, "").replace("+15550001111", "5550001111"))]),
        ("schedule_backwards", "H171", vec![("campaigns/notify.yaml", campaign(good_map, "schedule: { not_before: 2026-12-01T00:00:00Z, not_after: 2026-11-01T00:00:00Z }\n"))]),
    ]
}

#[test]
fn each_mistake_is_reported_once_with_its_location() {
    let mut snapshots = Vec::new();
    for (name, code, files) in cases() {
        let ws = TestWorkspace::fixture("base");
        for (rel, text) in &files {
            ws.write(rel, text);
        }
        let found = codes(&ws);
        let n = found.iter().filter(|c| *c == code).count();
        assert_eq!(
            n, 1,
            "case {name}: expected {code} exactly once, got {found:?}"
        );
        let (exit, _, err) = validate(&ws);
        let is_error = !matches!(code, "H151" | "H160" | "H165");
        assert_eq!(
            exit,
            if is_error { 3 } else { 0 },
            "case {name}: exit code; stderr:\n{err}"
        );
        assert!(err.contains(&format!("[{code}]")), "case {name}: {err}");
        // The location of the first file written is named, with a line number.
        let first = files[0].0;
        assert!(
            err.contains(&format!("{first}:")),
            "case {name}: no location for {first} in:\n{err}"
        );
        snapshots.push(format!("=== {name} ({code}) ===\n{}", err.trim_end()));
    }
    insta::assert_snapshot!("diagnostics", snapshots.join("\n\n"));
}

#[test]
fn the_guides_trap_names_both_places() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "campaigns/notify.yaml",
        "kind: Campaign\nname: notify\ntemplate: order-shipped\naudience: shipped\nfrom: \"+15550001111\"\nvariables:\n  orderId: { column: order_id }\n  tracking_link: { column: tracking_url }\nstatus: active\n",
    );
    // H120 at the campaign's `orderId` line (7), pointing back to the template's declaration
    // (templates/order-shipped.yaml:8) and suggesting the rename; H121 for the stray mapping.
    herald_snapshot!(ws.herald().arg("validate"));
}

#[test]
fn json_format_is_machine_readable() {
    let ws = TestWorkspace::fixture("base");
    ws.write("templates/order-shipped.yaml", "kind: Template\nname: order-shipped\nchannel: sms\ncategory: transactional\nstatus: published\nbody: \"{{order_id}} {{x}}\"\nvariables:\n  order_id: {}\n");
    let (code, out, _) = run(ws.herald().args(["validate", "--format", "json"]));
    assert_eq!(code, 3);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["valid"], false);
    let d = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "H101")
        .unwrap();
    assert_eq!(d["severity"], "error");
    assert_eq!(d["primary"]["file"], "templates/order-shipped.yaml");
    assert_eq!(d["primary"]["line"], 6);
}

#[test]
fn row_diagnostics_never_print_addresses() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "campaigns/data/shipped.csv",
        "customer_id,phone,tz,sms_opt_in,order_id,tracking_url\nC-1,+1212555010,America/New_York,yes,ORD-1,u\nC-2,+12125550100,America/New_York,yes,ORD-2,u\nC-2,+13125550177,America/New_York,yes,ORD-3,u\n",
    );
    let (_, out, err) = validate(&ws);
    for secret in ["+1212555010", "2125550100", "3125550177"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} leaked:\n{out}{err}"
        );
    }
    assert!(err.contains("campaigns/data/shipped.csv:2"), "{err}");
    assert!(err.contains("campaigns/data/shipped.csv:4"), "{err}");
}

#[test]
fn many_bad_rows_are_summarised() {
    let ws = TestWorkspace::fixture("base");
    let mut csv = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for i in 0..40 {
        let _ = writeln!(csv, "C-{i},not-a-number,America/New_York,yes,ORD-{i},u");
    }
    ws.write("campaigns/data/shipped.csv", &csv);
    let found = codes(&ws);
    assert_eq!(
        found.iter().filter(|c| *c == "H160").count(),
        6,
        "5 listed + 1 summary: {found:?}"
    );
    let (_, _, err) = validate(&ws);
    assert!(err.contains("and 35 more rows"), "{err}");
}

#[test]
fn missing_workspace_is_a_clear_error() {
    let ws = TestWorkspace::empty();
    herald_snapshot!(ws.herald().arg("validate"));
}
