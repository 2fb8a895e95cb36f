//! The receiver in production (issue 15 §4, issue 17 §3): metrics, readiness, timeouts,
//! graceful shutdown with a slow request in flight, unmapped placeholders and replayed ids
//! whose text differs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use herald_inbound::{ReceiverState, ServeOptions, SharedLedger, router, serve_with};
use herald_ledger::{Channel, Ledger, LedgerKey, SqliteLedger};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

const SECRET: &str = "production-secret-0123456789";
const PHONE: &str = "+15550100177";

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: LedgerKey,
    ledger: SharedLedger,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.db");
        let key = LedgerKey::from_secret(
            "2f10397a67ef094aabb38778cac243ae23e1caf6d207be12d2985b6e0a9b0e95",
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

    fn state(&self) -> ReceiverState {
        ReceiverState::new(
            Arc::clone(&self.ledger),
            self.key.clone(),
            &[SecretString::from(SECRET.to_owned())],
        )
        .expect("state")
    }

    fn inspect(&self) -> SqliteLedger {
        SqliteLedger::open(&self.path, &self.key).expect("reopen")
    }

    /// Another connection holding the SQLite write lock until `COMMIT`.
    fn lock_ledger(&self) -> SqliteLedger {
        let locker = self.inspect();
        locker
            .connection()
            .execute_batch("BEGIN EXCLUSIVE")
            .expect("lock");
        locker
    }

    fn suppressed(&self) -> bool {
        self.inspect()
            .is_suppressed(&self.key.recipient_id(Channel::Sms, PHONE), Channel::Sms)
            .expect("is_suppressed")
    }

    fn inbound_rows(&self) -> i64 {
        self.inspect()
            .connection()
            .query_row("SELECT COUNT(*) FROM inbound", [], |r| r.get(0))
            .expect("count")
    }
}

fn message(id: &str, text: &str) -> Value {
    json!({ "messageId": id, "from": PHONE, "text": text })
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).expect("utf-8"),
    )
}

async fn post(app: &Router, secret: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::post("/v1/inbound")
        .header("X-Herald-Secret", secret)
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, text) = call(app, req).await;
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

async fn get(app: &Router, path: &str) -> (StatusCode, Option<String>, String) {
    call(app, Request::get(path).body(Body::empty()).expect("req")).await
}

/// The value of one sample line (`name{labels} value`) of the exposition.
fn sample(metrics: &str, series: &str) -> String {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{metrics}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn metrics_count_outcomes_opt_outs_secrets_and_ledger_latency_and_name_nobody() {
    let h = Harness::new();
    let app = router(h.state());
    assert_eq!(post(&app, SECRET, &message("m-met-1", "STOP")).await.0, 200);
    assert_eq!(post(&app, SECRET, &message("m-met-1", "STOP")).await.0, 200);
    assert_eq!(
        post(&app, SECRET, &message("m-met-2", "START")).await.0,
        200
    );
    assert_eq!(
        post(&app, SECRET, &message("m-met-3", "thanks")).await.0,
        200
    );
    assert_eq!(
        post(&app, "wrong-secret-0123456789", &message("m-met-4", "STOP"))
            .await
            .0,
        401
    );
    assert_eq!(
        post(&app, SECRET, &json!({"messageId": "m-met-5"})).await.0,
        400
    );
    assert_eq!(get(&app, "/nope").await.0, StatusCode::NOT_FOUND);

    // No shared secret: the page holds counts under fixed labels only (docs/deploy.md).
    let (status, content_type, metrics) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{metrics}"
    );
    let req = |outcome: &str| {
        sample(
            &metrics,
            &format!("herald_inbound_requests_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(req("recorded"), "3", "{metrics}");
    assert_eq!(req("duplicate"), "1");
    assert_eq!(req("unauthorized"), "1");
    assert_eq!(req("bad_request"), "1");
    assert_eq!(req("not_found"), "1");
    assert_eq!(
        req("unavailable"),
        "0",
        "every outcome is exported from the start"
    );
    assert_eq!(sample(&metrics, "herald_inbound_opt_outs_total"), "1");
    assert_eq!(sample(&metrics, "herald_inbound_resubscribes_total"), "1");
    assert_eq!(
        sample(&metrics, "herald_inbound_rejected_secrets_total"),
        "1"
    );
    assert_eq!(
        sample(&metrics, "herald_inbound_ledger_write_seconds_count"),
        "4",
        "one observation per ledger write, duplicates included"
    );
    assert!(
        sample(&metrics, "herald_inbound_ledger_write_seconds_sum")
            .parse::<f64>()
            .expect("number")
            > 0.0
    );
    assert!(metrics.contains("# TYPE herald_inbound_ledger_write_seconds histogram"));
    for leak in [
        "5550100177",
        "0177",
        "m-met-",
        SECRET,
        "wrong-secret",
        "thanks",
    ] {
        assert!(!metrics.contains(leak), "{leak:?} in /metrics:\n{metrics}");
    }
}

#[tokio::test]
async fn healthz_is_503_while_the_ledger_cannot_open_a_write_transaction() {
    let h = Harness::new();
    let app = router(
        h.state()
            .with_health_timeout(Duration::from_millis(300))
            .expect("timeout"),
    );
    let (status, _, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another writer holds the lock: a write would wait, so the receiver is not ready.
    let locker = h.lock_ledger();
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the probe cache
    let resp = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["ledger"], "not writable");
    // Liveness does not depend on the ledger.
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    let (_, _, metrics) = get(&app, "/metrics").await;
    assert_eq!(sample(&metrics, "herald_inbound_ledger_writable"), "0");

    locker.connection().execute_batch("COMMIT").expect("unlock");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if get(&app, "/healthz").await.0 == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "healthz never recovered");
    }
    let (_, _, metrics) = get(&app, "/metrics").await;
    assert_eq!(sample(&metrics, "herald_inbound_ledger_writable"), "1");
}

#[tokio::test]
async fn unmapped_placeholders_in_any_field_are_400_naming_the_field() {
    let h = Harness::new();
    let app = router(h.state());
    let cases = [
        (message("p-1", "${input.text}"), "text"),
        (message("p-2", "$!{input.text}"), "text"),
        (
            json!({"messageId": "p-3", "from": "${input.from}", "text": "STOP"}),
            "from",
        ),
        (message("${input.messageId}", "STOP"), "messageId"),
        (
            json!({"messageId": "p-4", "from": PHONE, "text": "STOP", "conversationId": "${input.conversationId}"}),
            "conversationId",
        ),
        (
            json!({"messageId": "p-5", "from": PHONE, "text": "STOP", "to": "$input.to"}),
            "to",
        ),
        (
            json!({"messageId": "p-6", "from": PHONE, "text": "STOP", "extra": {"note": "id ${input.id}"}}),
            "extra.note",
        ),
        (
            json!({"messageId": "p-7", "from": PHONE, "text": "STOP", "tags": ["a", "${input.tag}"]}),
            "tags[1]",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = post(&app, SECRET, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        let error = answer["error"].as_str().expect("error");
        assert!(
            error.contains(&format!("`{field}`")) && error.contains("placeholder"),
            "{error}"
        );
        assert!(
            !error.contains("input.") || error.contains("${input.…}"),
            "{error}"
        );
    }
    assert_eq!(h.inbound_rows(), 0, "nothing recorded");
    assert!(!h.suppressed());
    // A dollar sign in an ordinary reply is fine.
    let (status, _) = post(&app, SECRET, &message("p-ok", "STOP, I paid $5 already")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_id_with_a_different_text_is_a_flagged_conflict_and_a_stop_in_it_still_counts() {
    let h = Harness::new();
    let app = router(h.state());
    let (status, answer) = post(&app, SECRET, &message("r-1", "what time do you open?")).await;
    assert_eq!(
        (status, &answer["status"]),
        (StatusCode::OK, &json!("recorded"))
    );
    assert!(!h.suppressed());

    // The same id again with the same text: a retry, a plain duplicate.
    let (status, answer) = post(&app, SECRET, &message("r-1", "what time do you open?")).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"status": "duplicate"}))
    );

    // The same id with another text (a mis-mapped id): flagged, and the STOP is honoured.
    let (status, answer) = post(&app, SECRET, &message("r-1", "STOP")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["status"], "conflict");
    assert_eq!(answer["field"], "messageId");
    assert_eq!(answer["suppressed"], true);
    assert!(h.suppressed(), "a STOP is never lost to a reused id");
    let history = h.inspect().suppression_history(None).expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].suppression.source, "inbound-replay:r-1");
    assert!(history[0].suppression.reason.contains("flagged for review"));

    // A START under a reused id lifts nothing.
    let (status, answer) = post(&app, SECRET, &message("r-1", "START")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["suppressed"], false);
    assert!(h.suppressed());
    assert_eq!(h.inbound_rows(), 1);

    let (_, _, metrics) = get(&app, "/metrics").await;
    assert_eq!(
        sample(&metrics, "herald_inbound_replay_conflicts_total"),
        "2"
    );
    assert_eq!(
        sample(
            &metrics,
            "herald_inbound_requests_total{outcome=\"replay_conflict\"}"
        ),
        "2"
    );
}

/// Starts `serve_with` on a free port; returns its address, the shutdown trigger and the task.
async fn start(
    state: ReceiverState,
    options: ServeOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(listener, state, options, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Reads until the server closes the connection; returns what arrived and how long it took.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let result = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0_u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "the server kept the connection open: {:?}",
        String::from_utf8_lossy(&got)
    );
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_header_idle_and_slow_body_connections_are_closed() {
    let h = Harness::new();
    let state = h
        .state()
        .with_body_timeout(Duration::from_millis(400))
        .expect("timeout");
    let options = ServeOptions {
        header_timeout: Duration::from_millis(400),
    };
    let (addr, stop, server) = start(state, options).await;

    // Half a request head, then silence.
    let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"POST /v1/inbound HTTP/1.1\r\nHost: herald\r\nX-Herald-Sec")
        .await
        .expect("write");
    // A connection that never sends anything.
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // A keep-alive connection left idle after one request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: herald\r\n\r\n")
        .await
        .expect("write");
    // A complete head whose body stops short.
    let mut slow_body = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow_body
        .write_all(
            format!(
                "POST /v1/inbound HTTP/1.1\r\nHost: herald\r\nX-Herald-Secret: {SECRET}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"messageId\":"
            )
            .as_bytes(),
        )
        .await
        .expect("write");

    let (got, took) = read_until_closed(&mut half).await;
    assert!(got.is_empty() || got.contains(" 408 "), "{got}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (got, took) = read_until_closed(&mut silent).await;
    assert!(got.is_empty() || got.contains(" 408 "), "{got}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (got, _) = read_until_closed(&mut idle).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let (got, _) = read_until_closed(&mut slow_body).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("did not arrive within"), "{got}");
    assert_eq!(h.inbound_rows(), 0);

    stop.send(()).expect("running");
    server.await.expect("task").expect("serve");
}

#[tokio::test]
async fn shutdown_waits_for_a_slow_in_flight_request_and_commits_it() {
    let h = Harness::new();
    let (addr, stop, server) = start(h.state(), ServeOptions::default()).await;

    // The ledger is busy, so this STOP is still in flight when shutdown starts.
    let locker = h.lock_ledger();
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{addr}/v1/inbound"))
            .header("X-Herald-Secret", SECRET)
            .body(message("slow-1", "STOP").to_string())
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).expect("running");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!server.is_finished(), "shutdown waits for the request");
    assert!(!request.is_finished());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections once shutdown started"
    );

    locker.connection().execute_batch("COMMIT").expect("unlock");
    let response = tokio::time::timeout(Duration::from_secs(15), request)
        .await
        .expect("answered")
        .expect("task")
        .expect("response");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "recorded");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stopped after the request")
        .expect("task")
        .expect("serve");
    assert!(h.suppressed(), "the answered STOP is committed");
}

/// The replay check is kept in the ledger (a keyed MAC of the text), so it survives a
/// restart: a new receiver on the same ledger still answers a reused id with another text
/// with `409`, and the STOP in it still counts.
#[tokio::test]
async fn a_replay_conflict_is_recognised_after_a_restart() {
    let h = Harness::new();
    let before = router(h.state());
    let (status, _) = post(&before, SECRET, &message("restart-1", "see you then")).await;
    assert_eq!(status, StatusCode::OK);
    drop(before);

    // A new receiver process: nothing in memory.
    let after = router(h.state());
    let (status, answer) = post(&after, SECRET, &message("restart-1", "see you then")).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"status": "duplicate"}))
    );
    let (status, answer) = post(&after, SECRET, &message("restart-1", "STOP")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["suppressed"], true);
    assert!(h.suppressed());
    let kinds: Vec<String> = h
        .inspect()
        .events(0, 100)
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"inbound_conflict".to_owned()), "{kinds:?}");
    // The text itself is never stored.
    let stored: Option<String> = h
        .inspect()
        .connection()
        .query_row(
            "SELECT text_mac FROM inbound WHERE message_id = 'restart-1'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    let stored = stored.expect("text_mac recorded");
    assert_eq!(stored, h.key.text_mac("see you then"));
    assert!(!stored.contains("see you"));
}

/// Readiness needs a real write: a ledger that can open a write transaction but fails when
/// a row is written (as on a full disk or a file system remounted read-only; simulated
/// here by a temporary trigger on the receiver's own connection) is not ready.
#[tokio::test]
async fn healthz_is_503_when_the_ledger_cannot_really_write() {
    let h = Harness::new();
    let app = router(
        h.state()
            .with_health_timeout(Duration::from_millis(500))
            .expect("timeout"),
    );
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    let failing = SqliteLedger::open(&h.path, &h.key).expect("open");
    failing
        .connection()
        .execute_batch(
            "CREATE TEMP TRIGGER no_space BEFORE INSERT ON main.meta \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .expect("trigger");
    *h.ledger.lock().expect("lock") = Box::new(failing);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the probe cache
    let (status, _, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}
