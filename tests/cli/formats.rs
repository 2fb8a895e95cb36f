//! `--format json` on the commands that write: each prints one JSON object on stdout with the
//! ledger's head, addresses masked.

use crate::support::{LocalSandbox, TestWorkspace, run};

fn json(ws: &TestWorkspace, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(ws.herald().args(args));
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn suppress_dnc_and_migrate_speak_json() {
    let ws = TestWorkspace::fixture("base");
    let _sb = LocalSandbox::start(&ws);
    let doc = json(
        &ws,
        &["suppress", "add", "+13125550111", "--format", "json"],
    );
    assert_eq!(doc["suppressed"], true);
    assert_eq!(doc["masked"], "+1******0111");
    assert_eq!(doc["channel"], "sms");
    assert!(doc["ledger"]["head"].is_string(), "{doc}");
    let again = json(
        &ws,
        &["suppress", "add", "+13125550111", "--format", "json"],
    );
    assert_eq!(again["suppressed"], false);

    ws.write("more.txt", "+13125550112\n+13125550113\n");
    let doc = json(&ws, &["suppress", "import", "more.txt", "--format", "json"]);
    assert_eq!(doc["addresses"], 2);
    assert_eq!(doc["newly_suppressed"], 2);

    let doc = json(
        &ws,
        &["suppress", "remove", "+13125550111", "--format", "json"],
    );
    assert_eq!(doc["removed"], 1);
    let (code, out, _) =
        run(ws
            .herald()
            .args(["suppress", "remove", "+13125550111", "--format", "json"]));
    assert_eq!(code, 1, "nothing to remove is still a failure");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["removed"],
        0
    );

    ws.write("dnc.txt", "2125550100\n3125550199\n");
    let doc = json(
        &ws,
        &[
            "dnc",
            "import",
            "dnc.txt",
            "--source",
            "national",
            "--downloaded",
            "2026-12-01",
            "--format",
            "json",
        ],
    );
    assert_eq!(doc["numbers"], 2);
    assert_eq!(doc["kind"], "full");

    let from = ws.path().join(".herald/ledger-local.db");
    let to = ws.path().join("copy.db");
    let doc = json(
        &ws,
        &[
            "ledger",
            "migrate",
            "--from",
            from.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(doc["rows"].as_u64().unwrap() > 0, "{doc}");
    assert!(doc["ledger"]["head"].is_string(), "{doc}");
    let all = doc.to_string();
    for number in ["3125550111", "3125550112", "2125550100"] {
        assert!(!all.contains(number), "{number} in {all}");
    }
}
