//! Keywords and confirmations (issue 23 §4, CTIA): `herald serve` answers HELP with the
//! configured text and sends one opt-out confirmation per STOP through the agentless API,
//! both recorded in the ledger; a replayed webhook sends nothing more; no confirmation goes to
//! a number that is no longer suppressed or after five minutes. On SQLite and PostgreSQL.

use std::io::BufRead as _;

use serde_json::json;

use crate::genesys_env::{self, LEDGER_KEY, PHONES, Sandbox, WEBHOOK_SECRET, herald};
use crate::support::{TestWorkspace, run};

const HELP: &str = "Acme alerts: order updates, up to 4 msgs/month. Msg & data rates may apply. Help: acme.example/help. Reply STOP to opt out.";
const CONFIRM: &str = "Acme alerts: you are unsubscribed and will get no more messages.";

fn workspace(sandbox: &Sandbox) -> TestWorkspace {
    let ws = genesys_env::workspace(&sandbox.get().base_url());
    let yaml = ws.read("herald.yaml");
    ws.write(
        "herald.yaml",
        &format!(
            "{yaml}  keyword_replies:\n    from: \"+15550001111\"\n    help: \"{HELP}\"\n    opt_out_confirmation: \"{CONFIRM}\"\n"
        ),
    );
    ws
}

/// `herald serve` with `env` added; the child and its URL.
fn serve(ws: &TestWorkspace, env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(ws.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .env("HERALD_LEDGER_KEY", LEDGER_KEY)
        .env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("HERALD_ENV")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn herald serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let Some(url) = url else {
        let _ = child.kill();
        panic!("herald serve did not start: {line:?}");
    };
    (child, url)
}

fn post(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(url)
            .header("X-Herald-Secret", WEBHOOK_SECRET)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    })
}

fn inbound(id: &str, from: &str, text: &str, ago_secs: i64) -> serde_json::Value {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago_secs);
    json!({"messageId": id, "from": from, "text": text, "timestamp": at.to_string()})
}

/// Texts the sandbox accepted for `to`.
fn texts_to(sandbox: &Sandbox, to: &str) -> Vec<String> {
    sandbox
        .rt
        .block_on(sandbox.get().messages())
        .unwrap()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.text.unwrap_or_default())
        .collect()
}

fn audit(ws: &TestWorkspace, env: &[(&str, &str)], phone: &str) -> serde_json::Value {
    let mut cmd = herald(ws);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = run(cmd.args(["audit", phone, "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(&phone[2..]), "{out}");
    serde_json::from_str(&out).unwrap()
}

/// The whole flow against one ledger (`env` selects it).
fn replies_flow(env: &[(&str, &str)]) {
    let sandbox = Sandbox::start(None);
    let ws = workspace(&sandbox);
    let (mut child, url) = serve(&ws, env);

    // HELP: answered once with the configured text, recorded.
    let (status, answer) = post(&url, &inbound("h-1", PHONES[0], "help", 0));
    assert_eq!(
        (status, &answer["reply"]),
        (200, &json!("sent")),
        "{answer}"
    );
    assert_eq!(texts_to(&sandbox, PHONES[0]), [HELP]);
    // INFO too.
    let (_, answer) = post(&url, &inbound("h-2", PHONES[0], "INFO", 0));
    assert_eq!(answer["reply"], "sent", "{answer}");

    // STOP: one confirmation, even when the webhook is replayed.
    let stop = inbound("s-1", PHONES[1], "STOP", 0);
    let (_, answer) = post(&url, &stop);
    assert_eq!(answer["reply"], "sent", "{answer}");
    let (_, again) = post(&url, &stop);
    assert_eq!(
        (&again["status"], &again["reply"]),
        (&json!("duplicate"), &json!("already_answered")),
        "{again}"
    );
    assert_eq!(texts_to(&sandbox, PHONES[1]), [CONFIRM]);

    // A START dated after the STOP arrived first: the number is not suppressed, no
    // confirmation.
    post(&url, &inbound("r-2", PHONES[2], "START", 0));
    let (_, answer) = post(&url, &inbound("s-2", PHONES[2], "STOP", 30));
    assert_eq!(answer["reply"], "skipped", "{answer}");
    // A STOP delivered ten minutes late: suppressed, not confirmed.
    let (_, answer) = post(&url, &inbound("s-3", PHONES[3], "STOP", 600));
    assert_eq!(answer["reply"], "skipped", "{answer}");
    assert!(texts_to(&sandbox, PHONES[2]).is_empty());
    assert!(texts_to(&sandbox, PHONES[3]).is_empty());

    let _ = child.kill();
    let _ = child.wait();

    // Recorded in the ledger, chained and verified.
    let a = audit(&ws, env, PHONES[1]);
    assert_eq!(a["replies"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["replies"][0]["kind"], "opt_out_confirmation");
    assert_eq!(a["replies"][0]["state"], "sent");
    assert!(a["replies"][0]["message_id"].is_string(), "{a}");
    let a = audit(&ws, env, PHONES[0]);
    assert_eq!(a["replies"].as_array().unwrap().len(), 2, "{a}");
    let a = audit(&ws, env, PHONES[2]);
    assert_eq!(a["replies"][0]["state"], "skipped", "{a}");
    assert!(
        a["replies"][0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("not suppressed")),
        "{a}"
    );
    let a = audit(&ws, env, PHONES[3]);
    assert!(
        a["replies"][0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("5 minutes")),
        "{a}"
    );
    let mut cmd = herald(&ws);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = run(cmd.args(["ledger", "verify"]));
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn help_is_answered_and_each_stop_confirmed_once_on_sqlite() {
    replies_flow(&[]);
}

/// The same on PostgreSQL. Ignored by default; run with `HERALD_TEST_POSTGRES_URL` set and
/// `--include-ignored`.
#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn help_is_answered_and_each_stop_confirmed_once_on_postgres() {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("HERALD_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server");
    let schema = format!("herald_replies_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .expect("HERALD_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let outcome = std::panic::catch_unwind(|| replies_flow(&[("HERALD_LEDGER_URL", &url)]));
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A HELP answer without opt-out instructions, or a `from` that is not a number, is refused
/// by validation, naming the field.
#[test]
fn a_help_text_without_stop_instructions_is_refused() {
    let sandbox = Sandbox::start(None);
    let ws = genesys_env::workspace(&sandbox.get().base_url());
    let yaml = ws.read("herald.yaml");
    ws.write(
        "herald.yaml",
        &format!(
            "{yaml}  keyword_replies:\n    from: \"5550001111\"\n    help: \"Acme alerts.\"\n"
        ),
    );
    let (code, out, err) = run(herald(&ws).arg("validate"));
    assert_eq!(code, 3, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("policy.keyword_replies.help"), "{all}");
    assert!(all.contains("policy.keyword_replies.from"), "{all}");
    assert!(all.contains("herald.yaml"), "{all}");
}
