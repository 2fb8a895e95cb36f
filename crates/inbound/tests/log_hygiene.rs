//! Logs mask the sender and never contain the message text or a secret.
//!
//! Its own test binary with a global subscriber: tracing caches callsite interest
//! process-wide, so a thread-local subscriber next to parallel tests can miss events.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_inbound::{ReceiverState, router};
use herald_ledger::{Ledger, LedgerKey, SqliteLedger};
use secrecy::SecretString;
use serde_json::json;
use tower::ServiceExt as _;

const SECRET: &str = "log-test-secret-0123456789";

/// Captures log output in memory.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn send(app: &Router, secret: &str, body: String) -> StatusCode {
    let req = Request::post("/v1/inbound")
        .header("X-Herald-Secret", secret)
        .body(Body::from(body))
        .expect("request");
    app.clone().oneshot(req).await.expect("infallible").status()
}

fn message(id: &str, from: &str, text: &str) -> String {
    json!({ "messageId": id, "from": from, "text": text }).to_string()
}

#[tokio::test]
async fn logs_mask_the_number_and_never_contain_the_text_or_the_secret() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("only subscriber in this binary");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let key =
        LedgerKey::from_secret("1122454f612f9c32fbe417b559a7b6467d4bed89941acae38afcdbbc4202871b")
            .expect("key");
    let ledger: Box<dyn Ledger> = Box::new(SqliteLedger::open(&path, &key).expect("open"));
    let state = ReceiverState::new(
        Arc::new(Mutex::new(ledger)),
        key.clone(),
        &[SecretString::from(SECRET.to_owned())],
    )
    .expect("state");
    let app = router(state);

    let phone = "+15550100100";
    let text = "please stop texting me about the sofa";
    // Recorded (flagged), duplicate, wrong secret, invalid number, ledger failure.
    assert_eq!(
        send(&app, SECRET, message("m-1", phone, text)).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, SECRET, message("m-1", phone, text)).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "wrong-secret-0123456789", message("m-2", phone, text)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, SECRET, message("m-3", "15550100100", text)).await,
        StatusCode::BAD_REQUEST
    );
    // The same id with another text: a flagged conflict, logged with the masked number only.
    assert_eq!(
        send(
            &app,
            SECRET,
            message("m-1", phone, "STOP texting me about the sofa")
        )
        .await,
        StatusCode::CONFLICT
    );
    // An unmapped Data Action placeholder names the field, not the value.
    assert_eq!(
        send(&app, SECRET, message("m-5", phone, "${input.text} sofa")).await,
        StatusCode::BAD_REQUEST
    );
    SqliteLedger::open(&path, &key)
        .expect("reopen")
        .connection()
        .execute_batch("ALTER TABLE inbound RENAME TO inbound_hidden")
        .expect("hide table");
    assert_eq!(
        send(&app, SECRET, message("m-4", phone, text)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let out = String::from_utf8(logs.0.lock().expect("log buffer").clone()).expect("utf-8");
    assert!(out.contains("+1******0100"), "{out}");
    assert!(out.contains("flagged for review"), "{out}");
    assert!(out.contains("already recorded"), "{out}");
    assert!(out.contains("X-Herald-Secret"), "{out}");
    assert!(out.contains("NOT recorded"), "{out}");
    assert!(out.contains("different text"), "{out}");
    assert!(
        out.contains("placeholder") && out.contains("field=\"text\""),
        "{out}"
    );
    // One line per request, with its outcome.
    assert!(out.contains("outcome=\"replay_conflict\""), "{out}");
    assert!(
        out.contains("outcome=\"recorded\"") && out.contains("status=200"),
        "{out}"
    );
    for secret_or_pii in ["5550100100", "sofa", "texting", SECRET, "wrong-secret"] {
        assert!(
            !out.contains(secret_or_pii),
            "{secret_or_pii:?} leaked:\n{out}"
        );
    }
}
