//! The receiver against a real SQLite ledger: auth, limits, validation, idempotency,
//! suppression, failure handling and graceful shutdown.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use herald_inbound::{ReceiverState, SharedLedger, router, serve};
use herald_ledger::{Channel, Ledger, LedgerKey, RecipientId, SqliteLedger};
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const SECRET: &str = "current-secret-0123456789";
const NEXT_SECRET: &str = "next-secret-abcdefghijklmnop";
const PHONE: &str = "+15550100100";

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: LedgerKey,
    ledger: SharedLedger,
}

struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    json: Value,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.db");
        let key = LedgerKey::from_secret(
            "b3fa433e893fe97f27ae5e0e99bda6c83ba57e4db01c9ee0245f7f512fe3b402",
        )
        .expect("key");
        let ledger: Box<dyn Ledger> = Box::new(SqliteLedger::open(&path, &key).expect("open"));
        Harness {
            _dir: dir,
            path,
            key,
            ledger: Arc::new(Mutex::new(ledger)),
        }
    }

    fn state(&self, secrets: &[&str]) -> ReceiverState {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from((*s).to_owned()))
            .collect();
        ReceiverState::new(Arc::clone(&self.ledger), self.key.clone(), &secrets).expect("state")
    }

    fn app(&self) -> Router {
        router(self.state(&[SECRET]))
    }

    /// A second connection to the same ledger file, for inspection.
    fn inspect(&self) -> SqliteLedger {
        SqliteLedger::open(&self.path, &self.key).expect("reopen")
    }

    fn recipient(&self) -> RecipientId {
        self.key.recipient_id(Channel::Sms, PHONE)
    }

    fn suppressed(&self) -> bool {
        self.inspect()
            .is_suppressed(&self.recipient(), Channel::Sms)
            .expect("is_suppressed")
    }

    fn inbound_rows(&self, message_id: &str) -> i64 {
        self.inspect()
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM inbound WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .expect("count")
    }

    fn suppression_adds(&self) -> usize {
        self.inspect()
            .suppression_history(Some(&self.recipient()))
            .expect("history")
            .iter()
            .filter(|a| a.action == herald_ledger::SuppressionAction::Add)
            .count()
    }
}

fn message(id: &str, text: &str) -> String {
    message_at(id, text, "2026-03-01T12:00:00.000Z")
}

/// A reply written at `timestamp` (opt-outs are ordered by it; a tie goes to the STOP).
fn message_at(id: &str, text: &str, timestamp: &str) -> String {
    json!({
        "messageId": id,
        "conversationId": "c-1",
        "from": PHONE,
        "to": "+15550001111",
        "text": text,
        "timestamp": timestamp,
    })
    .to_string()
}

async fn send(app: &Router, secret: Option<&str>, body: impl Into<Body>) -> Reply {
    let mut req = Request::post("/v1/inbound").header(header::CONTENT_TYPE, "application/json");
    if let Some(s) = secret {
        req = req.header("X-Herald-Secret", s);
    }
    reply(app, req.body(body.into()).expect("request")).await
}

async fn reply(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).expect("every response is JSON");
    Reply {
        status,
        retry_after,
        json,
    }
}

#[tokio::test]
async fn healthz_needs_no_secret() {
    let h = Harness::new();
    let r = reply(
        &h.app(),
        Request::get("/healthz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({ "status": "ok", "ledger": "writable" }));
}

#[tokio::test]
async fn missing_or_wrong_secret_is_401_and_records_nothing() {
    let h = Harness::new();
    let app = h.app();
    for secret in [
        None,
        Some("wrong-secret-0123456789"),
        Some(""),
        Some("current-secret-012345678"),
    ] {
        let r = send(&app, secret, message("m-401", "STOP")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert!(
            r.json["error"]
                .as_str()
                .is_some_and(|e| e.contains("X-Herald-Secret")),
            "{}",
            r.json
        );
    }
    assert_eq!(h.inbound_rows("m-401"), 0);
    assert!(!h.suppressed());
}

#[tokio::test]
async fn both_secrets_are_accepted_during_rotation() {
    let h = Harness::new();
    let app = router(h.state(&[SECRET, NEXT_SECRET]));
    let r = send(&app, Some(NEXT_SECRET), message("m-next", "hello")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = send(&app, Some(SECRET), message("m-current", "hello")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // Only the configured pair: the next secret is refused by a receiver without it.
    let r = send(&h.app(), Some(NEXT_SECRET), message("m-other", "hello")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_body_is_413_whether_declared_or_streamed() {
    let h = Harness::new();
    let app = router(h.state(&[SECRET]).with_max_body_bytes(256).expect("limit"));
    let big = message("m-big", &"STOP ".repeat(100));
    assert!(big.len() > 256);

    // Content-Length declared over the limit.
    let req = Request::post("/v1/inbound")
        .header("X-Herald-Secret", SECRET)
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .expect("req");
    let r = reply(&app, req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json["error"].is_string());

    // No Content-Length: the limit applies while reading.
    let r = send(&app, Some(SECRET), big.clone()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // The secret is checked first: an unauthenticated large body is a 401.
    let r = send(&app, None, big).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // The default limit (64 KiB) rejects 64 KiB + 1.
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(64 * 1024));
    let r = send(&h.app(), Some(SECRET), huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.inbound_rows("m-big"), 0);
}

#[tokio::test]
async fn malformed_json_or_missing_fields_are_400_naming_the_field() {
    let h = Harness::new();
    let app = h.app();
    let r = send(&app, Some(SECRET), "{\"messageId\": \"m-1\", ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("not valid JSON"))
    );

    let cases = [
        (json!({"from": PHONE, "text": "STOP"}), "messageId"),
        (
            json!({"messageId": "", "from": PHONE, "text": "STOP"}),
            "messageId",
        ),
        (json!({"messageId": "m-1", "text": "STOP"}), "from"),
        (
            json!({"messageId": "m-1", "from": "5550100100", "text": "STOP"}),
            "from",
        ),
        (json!({"messageId": "m-1", "from": PHONE}), "text"),
        (
            json!({"messageId": "m-1", "from": PHONE, "text": 1}),
            "text",
        ),
        (
            json!({"messageId": "m-1", "from": PHONE, "text": "x", "timestamp": 5}),
            "timestamp",
        ),
    ];
    for (body, field) in cases {
        let r = send(&app, Some(SECRET), body.to_string()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.json["field"], field, "{body}");
        let error = r.json["error"].as_str().expect("error text");
        assert!(error.contains(field), "{error}");
        // The response never echoes the number or the text.
        assert!(
            !error.contains("5550100100") && !error.contains("STOP"),
            "{error}"
        );
    }
    assert_eq!(h.inbound_rows("m-1"), 0);
}

#[tokio::test]
async fn stop_suppresses_the_sender_on_sms_before_answering() {
    let h = Harness::new();
    assert!(!h.suppressed());
    let body = json!({
        "messageId": "m-stop",
        // Formatting is normalised to the E.164 form campaign sends are keyed by.
        "from": "+1 (555) 010-0100",
        "text": "Stop.",
        "somethingElse": [1, 2, 3],
    })
    .to_string();
    let r = send(&h.app(), Some(SECRET), body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json,
        json!({ "status": "recorded", "action": "suppress", "flagged": false })
    );
    // Committed by the time the 200 was returned: a fresh connection sees it.
    assert!(h.suppressed());
    assert!(
        !h.inspect()
            .is_suppressed(&h.recipient(), Channel::Email)
            .expect("email"),
        "scope is the sms channel"
    );
    let rows = h.inspect().suppressions().expect("suppressions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].suppression.masked, "+1******0100");
    assert_eq!(rows[0].suppression.channel, Some(Channel::Sms));
}

#[tokio::test]
async fn a_replayed_message_id_is_a_duplicate_and_changes_nothing() {
    let h = Harness::new();
    let app = h.app();
    let first = send(&app, Some(SECRET), message("m-replay", "STOP")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json["status"], "recorded");
    for _ in 0..3 {
        let again = send(&app, Some(SECRET), message("m-replay", "STOP")).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json, json!({ "status": "duplicate" }));
    }
    // A replay with a different text is not a plain duplicate (issue 17 §3): it is a 409
    // conflict, and a START in it lifts nothing.
    let again = send(&app, Some(SECRET), message("m-replay", "START")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["status"], "conflict");
    assert_eq!(h.inbound_rows("m-replay"), 1);
    assert_eq!(h.suppression_adds(), 1);
    assert!(h.suppressed());
}

#[tokio::test]
async fn flagged_sentences_suppress_and_start_resubscribes() {
    let h = Harness::new();
    let app = h.app();
    let r = send(&app, Some(SECRET), message("m-1", "please stop texting me")).await;
    assert_eq!(
        r.json,
        json!({ "status": "recorded", "action": "suppress", "flagged": true })
    );
    assert!(h.suppressed());

    // A START written at the same time as the STOP does not lift it; a later one does.
    let r = send(&app, Some(SECRET), message("m-2a", "START")).await;
    assert_eq!(
        r.json,
        json!({ "status": "recorded", "action": "resubscribe", "flagged": false })
    );
    assert!(h.suppressed());
    let r = send(
        &app,
        Some(SECRET),
        message_at("m-2", "START", "2026-03-01T12:05:00.000Z"),
    )
    .await;
    assert_eq!(
        r.json,
        json!({ "status": "recorded", "action": "resubscribe", "flagged": false })
    );
    assert!(!h.suppressed());

    let r = send(
        &app,
        Some(SECRET),
        message("m-3", "stopped by the store yesterday"),
    )
    .await;
    assert_eq!(
        r.json,
        json!({ "status": "recorded", "action": "none", "flagged": false })
    );
    assert!(!h.suppressed());
    assert_eq!(
        h.inbound_rows("m-3"),
        1,
        "every inbound message is recorded"
    );

    let r = send(&app, Some(SECRET), message("m-4", "HELP")).await;
    assert_eq!(r.json["action"], "help");
}

#[tokio::test]
async fn configured_extra_keywords_suppress() {
    let h = Harness::new();
    let app = router(
        h.state(&[SECRET])
            .with_extra_keywords(&["REMOVE".to_owned()]),
    );
    let r = send(&app, Some(SECRET), message("m-extra", "remove")).await;
    assert_eq!(r.json["action"], "suppress");
    assert!(h.suppressed());
}

#[tokio::test]
async fn a_ledger_that_cannot_commit_is_503_with_retry_after_and_a_retry_succeeds() {
    let h = Harness::new();
    let app = h.app();
    // Make the ledger's write fail: hide the table `record_inbound` inserts into.
    h.inspect()
        .connection()
        .execute_batch("ALTER TABLE inbound RENAME TO inbound_hidden")
        .expect("hide table");
    let r = send(&app, Some(SECRET), message("m-fail", "STOP")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.retry_after.as_deref(), Some("5"));
    assert!(r.json["error"].is_string());
    assert!(!h.suppressed(), "nothing is half-recorded");

    // Once the ledger recovers, the sender's retry of the same message is recorded.
    h.inspect()
        .connection()
        .execute_batch("ALTER TABLE inbound_hidden RENAME TO inbound")
        .expect("restore table");
    let r = send(&app, Some(SECRET), message("m-fail", "STOP")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "recorded");
    assert!(h.suppressed());
    assert_eq!(h.inbound_rows("m-fail"), 1);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_rejected() {
    let h = Harness::new();
    let app = h.app();
    let r = reply(
        &app,
        Request::get("/nope").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let resp = app
        .clone()
        .oneshot(
            Request::get("/v1/inbound")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_gracefully() {
    let h = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, h.state(&[SECRET]), async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{addr}/v1/inbound"))
        .header("X-Herald-Secret", SECRET)
        .header("Content-Type", "application/json")
        .body(message("m-tcp", "STOP"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["action"], "suppress");
    assert!(h.suppressed());

    stop.send(()).expect("server running");
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("shut down in time")
        .expect("task");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        reqwest::Client::new()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}
