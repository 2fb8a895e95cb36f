//! `herald serve`: the CLI-started receiver authenticates, caps bodies, records STOP replies
//! once, and stops cleanly on SIGTERM.

use serde_json::json;

use crate::genesys_env::{self, LEDGER_KEY, PHONES, Sandbox, Served, WEBHOOK_SECRET, herald};
use crate::support::{TestWorkspace, run};

/// A tiny client runtime for posting to the receiver.
fn post(url: &str, secret: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            req = req.header("X-Herald-Secret", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    })
}

fn stop(message_id: &str, from: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"messageId": message_id, "from": from, "text": text})).unwrap()
}

fn suppressions(ws: &TestWorkspace) -> Vec<serde_json::Value> {
    let (code, out, err) = run(herald(ws).args(["suppress", "list", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn serve_authenticates_caps_bodies_dedupes_and_stops_on_sigterm() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let served = Served::start(&ws, Some(WEBHOOK_SECRET));

    let body = stop("m-1", PHONES[0], "STOP");
    assert_eq!(post(&served.url, None, body.clone()).0, 401);
    assert_eq!(
        post(&served.url, Some("not-the-secret-at-all"), body.clone()).0,
        401
    );
    let huge = stop("m-2", PHONES[1], &"x".repeat(70 * 1024));
    assert_eq!(post(&served.url, Some(WEBHOOK_SECRET), huge).0, 413);
    assert!(
        suppressions(&ws).is_empty(),
        "rejected requests suppress nothing"
    );

    let (status, answer) = post(&served.url, Some(WEBHOOK_SECRET), body.clone());
    assert_eq!((status, &answer["status"]), (200, &json!("recorded")));
    assert_eq!(answer["action"], "suppress");
    // The configured extra keyword counts too.
    let (_, answer) = post(
        &served.url,
        Some(WEBHOOK_SECRET),
        stop("m-3", PHONES[2], "remove"),
    );
    assert_eq!(answer["action"], "suppress");

    // A replay (same message id) changes nothing, even from another number.
    let (status, answer) = post(
        &served.url,
        Some(WEBHOOK_SECRET),
        stop("m-1", PHONES[3], "STOP"),
    );
    assert_eq!((status, &answer["status"]), (200, &json!("duplicate")));
    let rows = suppressions(&ws);
    let masked: Vec<&str> = rows.iter().map(|r| r["masked"].as_str().unwrap()).collect();
    assert_eq!(masked, ["+1******0100", "+1******0102"], "{rows:?}");

    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    for secret_or_number in [WEBHOOK_SECRET, LEDGER_KEY, PHONES[0], PHONES[2]] {
        assert!(!stderr.contains(secret_or_number), "leaked: {stderr}");
    }
}

#[test]
fn serve_accepts_both_secrets_during_a_rotation() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let next = "the-next-webhook-secret-abcdef";
    let served = Served::start(&ws, Some(&format!("{WEBHOOK_SECRET}, {next}")));
    assert_eq!(
        post(
            &served.url,
            Some(WEBHOOK_SECRET),
            stop("a", PHONES[0], "hi")
        )
        .0,
        200
    );
    assert_eq!(
        post(&served.url, Some(next), stop("b", PHONES[0], "hi")).0,
        200
    );
    assert_eq!(
        post(&served.url, Some("x"), stop("c", PHONES[0], "hi")).0,
        401
    );
}

#[test]
fn serve_reads_a_private_secret_file_and_refuses_a_readable_one() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let yaml = ws.read("herald.yaml").replace(
        "    secret_file: sandbox.secret\n",
        "    secret_file: sandbox.secret\n    webhook_secret_file: webhook.secret\n",
    );
    ws.write("herald.yaml", &yaml);
    ws.write("webhook.secret", &format!("{WEBHOOK_SECRET}\n"));
    genesys_env::chmod(&ws, "webhook.secret", 0o644);

    let mut cmd = herald(&ws);
    cmd.env_remove("HERALD_WEBHOOK_SECRET")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "no URL is printed: {out}");
    assert!(
        err.contains("readable by group or others") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(WEBHOOK_SECRET));

    genesys_env::chmod(&ws, "webhook.secret", 0o600);
    let served = Served::start(&ws, None);
    assert_eq!(
        post(
            &served.url,
            Some(WEBHOOK_SECRET),
            stop("f", PHONES[0], "hi")
        )
        .0,
        200
    );
}

#[test]
fn serve_without_a_secret_or_with_a_short_one_does_not_start() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let mut cmd = herald(&ws);
    cmd.env_remove("HERALD_WEBHOOK_SECRET").arg("serve");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("HERALD_WEBHOOK_SECRET") && err.contains("webhook_secret_file"),
        "{err}"
    );

    let mut cmd = herald(&ws);
    cmd.env("HERALD_WEBHOOK_SECRET", "short").arg("serve");
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 1);
    assert!(
        err.contains("shorter than 16 bytes") && !err.contains("short,"),
        "{err}"
    );
}

/// Issue #8 end to end: a STOP reply the sandbox forwards to `herald serve` lands in the
/// ledger, and the campaign's next apply suppresses that recipient instead of messaging it.
#[test]
fn stop_reply_forwarded_to_serve_stops_later_sends() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let served = Served::start(&ws, Some(WEBHOOK_SECRET));
    let sandbox = Sandbox::start(Some(&served.url));
    genesys_env::point_at(&ws, &sandbox.get().base_url());

    let (code, out, err) = run(herald(&ws).args(["apply", "--auto-approve", "--max-sends", "2"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sorted(sandbox.recipients()), [PHONES[0], PHONES[1]]);

    // The third recipient replies STOP before their message goes out.
    sandbox.reply(PHONES[2], "STOP");
    let rows = suppressions(&ws);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["masked"], "+1******0102");

    let (code, out, err) = run(herald(&ws).args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let sent = sorted(sandbox.recipients());
    assert_eq!(
        sent,
        sorted(vec![PHONES[0].into(), PHONES[1].into(), PHONES[3].into()])
    );
    assert!(!sent.contains(&PHONES[2].to_owned()));

    assert!(out.contains("sent 1 · suppressed 1"), "{out}");
    assert!(!out.contains(PHONES[2]) && !err.contains(PHONES[2]));
    // The suppressed row holds no send, and a later apply still does not message it.
    let (code, out, err) = run(herald(&ws).args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sandbox.recipients().len(), 3);
    let (code, export, err) = run(herald(&ws).args(["ledger", "export", "--format", "jsonl"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(export.lines().count(), 3, "{export}");
    assert!(!export.contains("\"C-3\""), "{export}");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `herald serve` with extra flags; returns the child (stdout read up to the URL), the URL
/// and the child's stderr.
fn serve_with_args(
    ws: &TestWorkspace,
    extra: &[&str],
) -> (std::process::Child, String, std::process::ChildStderr) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(ws.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env("HERALD_LEDGER_KEY", LEDGER_KEY)
        .env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("HERALD_ENV")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn herald serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    let stderr = child.stderr.take().unwrap();
    (child, url, stderr)
}

fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn read_all(stderr: std::process::ChildStderr) -> String {
    use std::io::Read as _;
    let mut out = String::new();
    std::io::BufReader::new(stderr)
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// The SQLite ledger file of the workspace's environment.
fn ledger_file(ws: &TestWorkspace) -> std::path::PathBuf {
    fs_err::read_dir(ws.path().join(".herald"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("ledger-") && p.extension().is_some_and(|e| e == "db")
            })
        })
        .expect("ledger file")
}

/// Issue 15 §4: SIGTERM during a slow request (the ledger is busy) lets it finish and commit
/// before the process exits 0.
#[test]
fn sigterm_lets_a_slow_in_flight_request_finish_before_exiting() {
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let (mut child, url, stderr) = serve_with_args(&ws, &[]);
    let key = herald_ledger::LedgerKey::from_secret(LEDGER_KEY).unwrap();
    let locker = herald_ledger::SqliteLedger::open(&ledger_file(&ws), &key).unwrap();
    locker
        .connection()
        .execute_batch("BEGIN EXCLUSIVE")
        .unwrap();

    let in_flight = {
        let url = url.clone();
        std::thread::spawn(move || {
            post(
                &url,
                Some(WEBHOOK_SECRET),
                stop("slow-1", PHONES[0], "STOP"),
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    sigterm(&child);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process waits for the request in flight"
    );
    locker.connection().execute_batch("COMMIT").unwrap();

    let (status, answer) = in_flight.join().unwrap();
    assert_eq!((status, &answer["status"]), (200, &json!("recorded")));
    let code = child.wait().unwrap().code();
    let err = read_all(stderr);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopped"), "{err}");
    let rows = suppressions(&ws);
    assert_eq!(rows.len(), 1, "the answered STOP is committed: {rows:?}");
}

/// Issue 15 §4 and 17 §3: JSON log lines (one per request, masked), `/metrics`, readiness,
/// and the header timeout closing a half-sent request head.
#[test]
fn json_logs_metrics_healthz_and_header_timeout() {
    use std::io::{Read as _, Write as _};
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let (child, url, stderr) =
        serve_with_args(&ws, &["--log-format", "json", "--header-timeout", "1s"]);
    let base = url.trim_end_matches("/v1/inbound").to_owned();

    let (status, _) = post(&url, Some(WEBHOOK_SECRET), stop("j-1", PHONES[1], "STOP"));
    assert_eq!(status, 200);
    assert_eq!(
        post(
            &url,
            Some("wrong-secret-0123456789"),
            stop("j-2", PHONES[1], "STOP")
        )
        .0,
        401
    );
    let (status, _) = post(
        &url,
        Some(WEBHOOK_SECRET),
        stop("j-3", PHONES[1], "${input.text}"),
    );
    assert_eq!(status, 400);

    let get = |path: &str| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };
    let (status, health) = get("/healthz");
    assert_eq!(status, 200, "{health}");
    let (status, metrics) = get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("herald_inbound_requests_total{outcome=\"recorded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("herald_inbound_opt_outs_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("herald_inbound_rejected_secrets_total 1"),
        "{metrics}"
    );
    assert!(
        // No number (full or masked) and no message id: only fixed label values. (Digits alone
        // are not checked: a latency sum such as 0.0101… may contain any run of them.)
        !metrics.contains(PHONES[1])
            && !metrics.contains(&PHONES[1][PHONES[1].len() - 7..])
            && !metrics.contains("******")
            && !metrics.contains("j-1"),
        "{metrics}"
    );

    // Half a request head: closed after the 1 s header timeout.
    let addr = base.trim_start_matches("http://");
    let mut half = std::net::TcpStream::connect(addr).unwrap();
    half.write_all(b"POST /v1/inbound HTTP/1.1\r\nHost: x\r\nX-Herald")
        .unwrap();
    half.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = half.read_to_end(&mut buf);
    assert!(
        read.is_ok() && started.elapsed() < std::time::Duration::from_secs(4),
        "slow-header connection not closed: {read:?} after {:?}",
        started.elapsed()
    );

    sigterm(&child);
    let err = read_all(stderr);
    let mut child = child;
    assert_eq!(child.wait().unwrap().code(), Some(0), "{err}");
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = |outcome: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request" && l["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {outcome} request line in:\n{err}"))
    };
    let recorded = request("recorded");
    assert_eq!(recorded["status"], 200);
    assert_eq!(recorded["path"], "/v1/inbound");
    assert!(recorded["latency_ms"].is_u64(), "{recorded}");
    assert_eq!(request("unauthorized")["status"], 401);
    assert_eq!(request("bad_request")["status"], 400);
    assert!(
        lines
            .iter()
            .any(|l| l["from"] == "+1******0101" && l["action"] == "suppress"),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains("stopped")))
    );
    for leak in [
        PHONES[1],
        WEBHOOK_SECRET,
        LEDGER_KEY,
        "wrong-secret",
        "${input.text}",
    ] {
        assert!(!err.contains(leak), "{leak} leaked:\n{err}");
    }
}

/// `herald serve` on a PostgreSQL ledger exits 0 on SIGTERM (dropping the ledger's
/// synchronous client on an async thread used to abort the process). Ignored by default; run
/// with `HERALD_TEST_POSTGRES_URL` set and `--include-ignored` (as `.ci/run` does).
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn serve_on_a_postgres_ledger_stops_cleanly_on_sigterm() {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("HERALD_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server");
    let schema = format!("herald_serve_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .expect("HERALD_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");

    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(ws.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .env("HERALD_LEDGER_KEY", LEDGER_KEY)
        .env("HERALD_LEDGER_URL", &url)
        .env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("HERALD_ENV")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn herald serve");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let served = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let stderr = child.stderr.take().unwrap();
    let outcome = served.map(|u| post(&u, Some(WEBHOOK_SECRET), stop("pg-1", PHONES[0], "STOP")));
    sigterm(&child);
    let code = child.wait().unwrap().code();
    let err = read_all(stderr);
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));

    let (status, answer) = outcome.unwrap_or_else(|| panic!("did not start: {line:?}\n{err}"));
    assert_eq!((status, &answer["status"]), (200, &json!("recorded")));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("stopped") && !err.contains("panicked"),
        "{err}"
    );
}
