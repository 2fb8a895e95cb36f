//! `herald status`, `suppress …` and `ledger …` on the example workspace's sandbox ledger.

use std::fmt::Write as _;

use crate::support::{TestWorkspace, run};

#[test]
fn suppress_round_trip_is_masked_and_audited() {
    let ws = TestWorkspace::example();
    let (code, out, err) =
        run(ws
            .herald()
            .args(["suppress", "add", "+12125550100", "--reason", "called in"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "suppressed +1******0100 (sms)\n");
    let (_, out, _) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert!(out.starts_with("already suppressed"), "{out}");
    let (_, out, _) = run(ws.herald().args(["suppress", "list"]));
    assert!(
        out.contains("+1******0100") && out.contains("called in") && out.contains("1 suppression"),
        "{out}"
    );
    assert!(!out.contains("2125550100"), "{out}");
    // The key file is created 0600 and the database holds no raw number.
    let db = std::fs::read(ws.path().join(".herald/ledger-sandbox.db")).unwrap();
    assert!(!db.windows(12).any(|w| w == b"+12125550100"));
    let (code, out, _) = run(ws.herald().args(["suppress", "remove", "+12125550100"]));
    assert_eq!(code, 0);
    assert!(out.contains("removed 1 suppression"), "{out}");
    let (code, _, err) = run(ws.herald().args(["suppress", "remove", "+12125550100"]));
    assert_eq!(code, 1, "removing twice is reported");
    assert!(err.contains("was not suppressed"), "{err}");
    let (code, out, _) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("ledger ok:"), "{out}");
}

#[test]
fn suppress_import_is_all_or_nothing() {
    let ws = TestWorkspace::example();
    ws.write(
        "dnc.csv",
        "name,phone\nA,+12125550100\nB,+13125550101\nC,555-0102\n",
    );
    let (code, _, err) = run(ws.herald().args(["suppress", "import", "dnc.csv"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("line 4") && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, out, _) = run(ws.herald().args(["suppress", "list", "--format", "json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    ws.write("dnc.csv", "name,phone\nA,+12125550100\nB,+13125550101\n");
    let (code, out, _) = run(ws.herald().args(["suppress", "import", "dnc.csv"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("imported 2 addresses: 2 newly suppressed"),
        "{out}"
    );
    let (_, out, _) = run(ws.herald().args(["status"]));
    assert!(out.contains("2 suppressed recipients"), "{out}");
}

#[test]
fn status_lists_workspace_campaigns_and_unknown_env_is_an_error() {
    let ws = TestWorkspace::example();
    let (code, out, _) = run(ws.herald().args(["status", "--format", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["campaign"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "december-newsletter",
            "order-shipped-2026-11-25",
            "winter-sale-2026"
        ]
    );
    let (code, _, err) = run(ws.herald().args(["status", "--env", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("environment `nope` is not defined"), "{err}");
}

#[test]
fn a_wrong_ledger_key_is_refused() {
    let ws = TestWorkspace::example();
    let (code, _, _) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_LEDGER_KEY", "a-completely-different-key-123")
        .args(["status"]));
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("key"), "{err}");
}

/// `ledger export --format csv` never hands a spreadsheet a formula (CSV injection): a cell
/// from an audience or a remote system that begins with `=`, `+`, `-` or `@` is prefixed
/// with `'`, and masked numbers stay readable.
#[test]
fn csv_export_neutralises_formula_cells() {
    let ws = TestWorkspace::fixture("base");
    let mut audience = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for (i, key) in [
        "=HYPERLINK(\"http://evil.test\",\"x\")",
        "@SUM(1)",
        "-2+3",
        "C-4",
    ]
    .iter()
    .enumerate()
    {
        let key = key.replace('"', "\"\"");
        let _ = writeln!(
            audience,
            "\"{key}\",{},America/New_York,yes,ORD-{i},https://track.example.com/{i}",
            crate::support::phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &audience);
    let _sb = crate::support::LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, export, err) = run(ws.herald().args(["ledger", "export", "--format", "csv"]));
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let mut keys = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        for cell in &record {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unsafe cell {cell:?} in\n{export}"
            );
        }
        assert!(record[3].starts_with("'+1******"), "{export}");
        keys.push(record[1].to_owned());
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "'-2+3",
            "'=HYPERLINK(\"http://evil.test\",\"x\")",
            "'@SUM(1)",
            "C-4"
        ]
    );
}
