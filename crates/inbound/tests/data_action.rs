//! The shipped Data Action (`data-action.json`) matches the receiver's contract: rendering its
//! request template the way Genesys would yields a body the receiver records.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_inbound::{ReceiverState, router};
use herald_ledger::{Channel, Ledger, LedgerKey, SqliteLedger};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const DATA_ACTION: &str = include_str!("../data-action.json");

fn action() -> Value {
    serde_json::from_str(DATA_ACTION).expect("data-action.json is valid JSON")
}

/// Renders `$esc.jsonString(${input.k})` / `$esc.jsonString($!{input.k})` like Velocity
/// would: the JSON-escaped value without quotes, or empty for an absent silent reference.
fn render(template: &str, inputs: &Value) -> String {
    let mut out = template.to_owned();
    for field in [
        "messageId",
        "conversationId",
        "from",
        "to",
        "text",
        "timestamp",
    ] {
        let escaped = inputs.get(field).map_or(String::new(), |v| {
            let quoted = serde_json::to_string(v.as_str().expect("string input")).expect("json");
            quoted[1..quoted.len() - 1].to_owned()
        });
        for reference in [
            format!("$esc.jsonString(${{input.{field}}})"),
            format!("$esc.jsonString($!{{input.{field}}})"),
        ] {
            out = out.replace(&reference, &escaped);
        }
    }
    out
}

#[test]
fn request_configuration_targets_the_receiver_with_the_secret_header() {
    let a = action();
    let request = &a["config"]["request"];
    assert_eq!(request["requestType"], "POST");
    assert!(
        request["requestUrlTemplate"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with("/v1/inbound"))
    );
    assert_eq!(
        request["headers"][herald_inbound::SECRET_HEADER],
        "${credentials.secret}"
    );
    assert_eq!(a["secure"], true, "inputs carry phone numbers and text");
}

#[test]
fn input_contract_lists_exactly_the_receiver_fields() {
    let a = action();
    let schema = &a["contract"]["input"]["inputSchema"];
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        properties,
        BTreeSet::from([
            "conversationId",
            "from",
            "messageId",
            "text",
            "timestamp",
            "to"
        ])
    );
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["from", "messageId", "text"]));
}

#[tokio::test]
async fn the_rendered_request_is_recorded_by_the_receiver() {
    let a = action();
    let template = a["config"]["request"]["requestTemplate"]
        .as_str()
        .expect("template");
    let secret = "data-action-secret-0123456789";

    let dir = tempfile::tempdir().expect("tempdir");
    let key =
        LedgerKey::from_secret("aece3cdaabac2b88bff4de0daa334acb33206990d6cdffa3b7843526fb9c6689")
            .expect("key");
    let path = dir.path().join("ledger.db");
    let ledger: Box<dyn Ledger> = Box::new(SqliteLedger::open(&path, &key).expect("open"));
    let state = ReceiverState::new(
        Arc::new(Mutex::new(ledger)),
        key.clone(),
        &[SecretString::from(secret.to_owned())],
    )
    .expect("state");
    let app = router(state);

    // Quotes, a backslash and a newline in the text; no optional inputs at all.
    let inputs = json!({
        "messageId": "6a1f0c2e-msg",
        "from": "+15550100123",
        "text": "STOP \"now\" \\ please\nthanks",
    });
    let body = render(template, &inputs);
    assert!(!body.contains('$'), "every reference rendered: {body}");
    let resp = app
        .oneshot(
            Request::post("/v1/inbound")
                .header(herald_inbound::SECRET_HEADER, secret)
                .header("Content-Type", "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let reply: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(
        reply,
        json!({ "status": "recorded", "action": "suppress", "flagged": true })
    );
    let inspect = SqliteLedger::open(&path, &key).expect("reopen");
    assert!(
        inspect
            .is_suppressed(
                &key.recipient_id(Channel::Sms, "+15550100123"),
                Channel::Sms
            )
            .expect("is_suppressed")
    );
}
