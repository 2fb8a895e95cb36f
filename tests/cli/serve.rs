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
