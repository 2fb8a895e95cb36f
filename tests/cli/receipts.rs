//! `herald receipts`: delivery receipts are recorded and `RecipientOptedOut` failures suppress.

use crate::genesys_env::{self, PHONES, Sandbox, herald};
use crate::support::run;

#[test]
fn receipts_suppress_recipients_genesys_reports_opted_out() {
    let sandbox = Sandbox::start(None);
    let ws = genesys_env::workspace(&sandbox.get().base_url());

    // The second recipient opted out with the carrier/Genesys; herald does not know yet.
    sandbox.reply(PHONES[1], "STOP");
    let (code, out, err) = run(herald(&ws).args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sandbox.recipients().len(), 4, "Genesys accepts the send");

    let (code, out, err) = run(herald(&ws).args(["receipts"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 messages sent since"), "{out}");
    assert!(out.contains("delivery-success   3"), "{out}");
    assert!(out.contains("delivery-failed    1"), "{out}");
    assert!(out.contains("1 newly suppressed"), "{out}");
    assert!(
        out.contains("+1******0101  RecipientOptedOut  (notify / C-2)"),
        "{out}"
    );
    assert!(!out.contains(PHONES[1]) && !err.contains(PHONES[1]));

    let (_, list, _) = run(herald(&ws).args(["suppress", "list", "--format", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["masked"], "+1******0101");
    assert_eq!(rows[0]["source"], "receipts");
    assert_eq!(rows[0]["channel"], "sms");

    // Again: delivered messages are not polled, the failure is re-checked, nothing is new.
    let (code, out, err) = run(herald(&ws).args(["receipts", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["messages"], 4);
    assert_eq!(doc["polled"], 1, "{doc}");
    assert_eq!(doc["newly_suppressed"], serde_json::json!([]));

    let (_, export, _) = run(herald(&ws).args(["ledger", "export", "--format", "jsonl"]));
    let statuses: Vec<String> = export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| format!("{}={}", r["row_key"], r["receipt_status"]))
        .collect();
    assert!(
        statuses.contains(&"\"C-2\"=\"delivery-failed\"".to_owned())
            && statuses.contains(&"\"C-1\"=\"delivery-success\"".to_owned()),
        "{statuses:?}"
    );
}

#[test]
fn receipts_rejects_a_bad_duration() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let (code, _, err) = run(herald(&ws).args(["receipts", "--since", "3 weeks"]));
    assert_eq!(code, 1, "usage errors exit 1: {err}");
    assert!(err.contains("--since"), "{err}");
}

#[test]
fn receipts_with_nothing_sent_needs_no_connection() {
    // Port 9 (discard) is not a Genesys API: any request would fail.
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let (code, out, err) = run(herald(&ws).args(["receipts", "--since", "1h"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 messages sent since 2026-11-25 14:00:00Z"),
        "{out}"
    );
    assert!(out.contains("0 newly suppressed"), "{out}");
}

/// Receipts read delivery statuses in bulk: 300 delivered texts cost one analytics query, not
/// 300 message look-ups; only the opted-out recipient's failure is looked up on its own.
#[test]
fn receipts_read_statuses_in_bulk() {
    use crate::support::{LocalSandbox, TestWorkspace, phone, write_audience};
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 300, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    sb.inbound(&phone(7), "STOP");
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    std::thread::sleep(std::time::Duration::from_millis(200));

    let (code, out, err) = run(ws.herald().args(["receipts", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["polled"], 300, "{doc}");
    assert_eq!(doc["in_bulk"], 299, "{doc}");
    assert_eq!(doc["one_by_one"], 1, "{doc}");
    assert_eq!(doc["by_status"]["delivery-success"], 299, "{doc}");
    assert_eq!(doc["newly_suppressed"].as_array().map(Vec::len), Some(1));
    let stats = sb.sandbox().stats();
    let details = stats.requests_to("GET", "/api/v2/conversations/messages/{messageId}/details");
    let queries = stats.requests_to("POST", "/api/v2/analytics/conversations/details/query");
    assert_eq!(details, 1, "only the failure is looked up on its own");
    assert!(queries <= 3, "one paged query for 300 messages: {queries}");
}
