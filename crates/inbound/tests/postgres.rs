//! Readiness on a PostgreSQL ledger: `/healthz` is 503 while another session holds the
//! ledger's write lock, and 200 again once it is released. Ignored by default; run it with
//! `HERALD_TEST_POSTGRES_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`) and
//! `--include-ignored`, as `.ci/run` does. Asked for without the variable, it fails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_inbound::{ReceiverState, router};
use herald_ledger::{Channel, Ledger, LedgerKey, PostgresLedger};
use secrecy::SecretString;
use tower::ServiceExt as _;

const URL_ENV: &str = "HERALD_TEST_POSTGRES_URL";
const SECRET: &str = "postgres-secret-0123456789";

fn admin(base: &str) -> postgres::Client {
    postgres::Client::connect(base, postgres::NoTls).unwrap_or_else(|e| {
        panic!("{URL_ENV} is set but the PostgreSQL server cannot be reached: {e}")
    })
}

/// A private schema, dropped with everything in it on drop.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(base: &str) -> Schema {
        let name = format!("herald_inbound_test_{}", uuid::Uuid::new_v4().simple());
        admin(base)
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        Schema {
            base: base.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

async fn status(app: &axum::Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.expect("infallible").status()
}

fn healthz() -> Request<Body> {
    Request::get("/healthz").body(Body::empty()).expect("req")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
async fn healthz_follows_the_postgres_write_lock_and_replies_are_recorded() {
    let base = std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("HERALD_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server");
    let key =
        LedgerKey::from_secret("aece3cdaabac2b88bff4de0daa334acb33206990d6cdffa3b7843526fb9c6689")
            .expect("key");
    // The synchronous PostgreSQL client runs its own runtime: use it on blocking threads.
    let (schema, ledger, key) = tokio::task::spawn_blocking(move || {
        let schema = Schema::new(&base);
        let ledger: Box<dyn Ledger> =
            Box::new(PostgresLedger::connect(&schema.url(), &key).expect("connect"));
        (schema, ledger, key)
    })
    .await
    .expect("task");
    let shared = Arc::new(Mutex::new(ledger));
    let state = ReceiverState::new(
        Arc::clone(&shared),
        key.clone(),
        &[SecretString::from(SECRET.to_owned())],
    )
    .expect("state")
    .with_health_timeout(Duration::from_millis(500))
    .expect("timeout");
    let app = router(state);
    assert_eq!(status(&app, healthz()).await, StatusCode::OK);

    let stop = Request::post("/v1/inbound")
        .header("X-Herald-Secret", SECRET)
        .body(Body::from(
            r#"{"messageId":"pg-1","from":"+15550100199","text":"STOP"}"#,
        ))
        .expect("req");
    assert_eq!(status(&app, stop).await, StatusCode::OK);

    // Another session holds the row every ledger write locks first.
    let lock_url = schema.url();
    let (hold, release) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&lock_url, postgres::NoTls).expect("connect");
        let mut tx = c.transaction().expect("begin");
        tx.query_one("SELECT id FROM chain_lock WHERE id = 1 FOR UPDATE", &[])
            .expect("lock");
        locked.send(()).expect("signal");
        let _ = release.recv();
        tx.rollback().expect("rollback");
    });
    is_locked.recv().expect("locked");
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the probe cache
    assert_eq!(
        status(&app, healthz()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    hold.send(()).expect("release");
    holder.join().expect("holder");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if status(&app, healthz()).await == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "healthz never recovered");
    }
    let suppressed = tokio::task::spawn_blocking(move || {
        let ledger = shared.lock().expect("ledger");
        ledger
            .is_suppressed(
                &key.recipient_id(Channel::Sms, "+15550100199"),
                Channel::Sms,
            )
            .expect("query")
    })
    .await
    .expect("task");
    assert!(suppressed);
    // Dropping the receiver on an async thread must not panic (the ledger's client closes
    // its connection by blocking on its own runtime).
    drop(app);
    tokio::task::spawn_blocking(move || drop(schema))
        .await
        .expect("drop schema");
}
