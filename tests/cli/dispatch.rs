//! `dispatch:` on a campaign: validation (file, line, field), what `herald plan` shows for a
//! messaging campaign in every format, the review digest binding it, and apply handing a
//! messaging campaign to Genesys once (never falling back to agentless sends).

use crate::support::{LocalSandbox, TestWorkspace, plan_campaign, plan_json, run, write_audience};

/// 10:00 in New York.
const NOW: &str = "2026-12-02T15:00:00Z";

const NOTIFY: &str = "kind: Campaign
name: notify
template: order-shipped
audience: shipped
from: \"+15550001111\"
variables:
  order_id: { column: order_id }
  tracking_link: { column: tracking_url }
status: active
";

fn with_dispatch(extra: &str) -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write("campaigns/notify.yaml", &format!("{NOTIFY}{extra}"));
    ws
}

fn h180(ws: &TestWorkspace) -> Vec<serde_json::Value> {
    let (code, out, err) = run(ws.herald().args(["validate", "--format", "json"]));
    assert_ne!(code, 0, "validate should fail: {out}{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "H181")
        .cloned()
        .collect()
}

#[test]
fn bad_dispatch_settings_are_errors_at_their_field() {
    // Each case: the extra YAML, the line the error points at, words of its message.
    let cases = [
        (
            "dispatch: messaging-campaign\n",
            10,
            "needs `messages_per_minute`",
        ),
        (
            "dispatch: messaging-campaign\nmessages_per_minute: 0\n",
            11,
            "at least 1",
        ),
        (
            "messages_per_minute: 50\n",
            10,
            "only to `dispatch: messaging-campaign`",
        ),
        (
            "dispatch: agentless\nmessages_per_minute: 50\n",
            11,
            "only to `dispatch: messaging-campaign`",
        ),
        (
            "dispatch: messaging-campaign\nmessages_per_minute: 50\nrate_per_minute: 10\n",
            12,
            "rate_per_minute applies only to agentless",
        ),
    ];
    for (extra, line, words) in cases {
        let ws = with_dispatch(extra);
        let d = h180(&ws);
        assert_eq!(d.len(), 1, "{extra}: {d:?}");
        assert_eq!(d[0]["primary"]["file"], "campaigns/notify.yaml", "{extra}");
        assert_eq!(d[0]["primary"]["line"], line, "{extra}: {d:?}");
        assert!(
            d[0]["message"].as_str().unwrap().contains(words),
            "{extra}: {d:?}"
        );
    }
    // An unknown value is a parse error at its line, naming the accepted values.
    let ws = with_dispatch("dispatch: campaign\n");
    let (code, out, err) = run(ws.herald().args(["validate"]));
    assert_ne!(code, 0);
    let all = format!("{out}{err}");
    assert!(all.contains("notify.yaml"), "{all}");
    assert!(all.contains(":10"), "{all}");
    assert!(all.contains("messaging-campaign"), "{all}");
}

#[test]
fn an_email_campaign_asks_for_at_most_the_org_cap() {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "templates/receipt.yaml",
        "kind: Template\nname: receipt\nchannel: email\ncategory: transactional\nstatus: published\nsubject: Your receipt\nhtml: <p>Thanks</p>\n",
    );
    ws.write(
        "campaigns/mail.yaml",
        "kind: Campaign\nname: mail\ntemplate: receipt\naudience: shipped\nfrom: shop@example.com\nstatus: paused\ndispatch: messaging-campaign\nmessages_per_minute: 5000\n",
    );
    let d = h180(&ws);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["primary"]["file"], "campaigns/mail.yaml");
    assert_eq!(d[0]["primary"]["line"], 8);
    assert!(d[0]["message"].as_str().unwrap().contains("1200"), "{d:?}");
}

#[test]
fn plan_shows_the_dispatch_contacts_requests_and_duration() {
    let ws = with_dispatch("dispatch: messaging-campaign\nmessages_per_minute: 100\n");
    write_audience(&ws, 2500, "America/New_York");
    let plan = plan_json(&ws);
    let c = plan_campaign(&plan, "notify");
    assert_eq!(c["counts"]["to_send"], 2500, "{c}");
    assert_eq!(c["rate_per_minute"], 100);
    assert_eq!(c["estimated_seconds"], 1500);
    let d = &c["dispatch"];
    assert_eq!(d["kind"], "messaging-campaign");
    assert_eq!(d["messages_per_minute"], 100);
    assert_eq!(d["contacts"], 2500);
    // 3 uploads of ≤1,000; list look-up and creation, campaign creation and start; a poll
    // every 5 min (a quarter of 25 min, at most 5 min) and a status read at the end; 3 bulk
    // reads of the outcomes.
    assert_eq!(d["requests"]["uploads"], 3);
    assert_eq!(d["requests"]["campaign_calls"], 4);
    assert_eq!(d["requests"]["polls"], 6);
    assert_eq!(d["requests"]["outcome_reads"], 3);
    assert_eq!(d["requests"]["sends"], 0);
    assert_eq!(d["requests"]["total"], 16);

    let (code, text, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["plan"]));
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("dispatch messaging-campaign"), "{text}");
    assert!(
        text.contains("Genesys messaging campaign at 100/min: 2500 contacts, ~16 API requests (3 uploads of ≤1000, 4 campaign calls, ~6 polls, 3 outcome reads), ~25m"),
        "{text}"
    );
    assert!(text.contains("at 100/min"), "{text}");
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("| messaging-campaign (100/min) |"), "{md}");
    assert!(md.contains("2500 contacts, ~16 API requests"), "{md}");

    // Agentless: one request per message, at the environment's rate.
    let ws = with_dispatch("");
    write_audience(&ws, 2500, "America/New_York");
    let plan = plan_json(&ws);
    let d = &plan_campaign(&plan, "notify")["dispatch"];
    assert_eq!(d["kind"], "agentless");
    assert_eq!(d["requests"]["sends"], 2500);
    assert_eq!(d["requests"]["total"], 2500);
    assert_eq!(d["contacts"], 0);
}

#[test]
fn the_review_digest_binds_the_dispatch() {
    let digest = |extra: &str| {
        let ws = with_dispatch(extra);
        plan_json(&ws)["review_digest"].as_str().unwrap().to_owned()
    };
    let default = digest("");
    // Saying the default changes the file, not the settings.
    let settings = |extra: &str| {
        let ws = with_dispatch(extra);
        let plan = plan_json(&ws);
        plan["review"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["object"] == "campaign notify")
            .unwrap()["input"]
            .as_str()
            .unwrap()
            .split(' ')
            .find(|f| f.starts_with("settings="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(settings(""), settings("dispatch: agentless\n"));
    let mc100 = "dispatch: messaging-campaign\nmessages_per_minute: 100\n";
    let mc200 = "dispatch: messaging-campaign\nmessages_per_minute: 200\n";
    assert_ne!(settings(""), settings(mc100));
    assert_ne!(settings(mc100), settings(mc200));
    assert_ne!(default, digest(mc100));
    assert_ne!(digest(mc100), digest(mc200));
}

#[test]
fn apply_hands_a_messaging_campaign_to_genesys_once() {
    let ws = with_dispatch("dispatch: messaging-campaign\nmessages_per_minute: 6000\n");
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    // Genesys messaged each recipient once, from the campaign's contact list.
    let per = sb.per_address();
    assert_eq!(per.len(), 2, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    assert!(err.contains("wave 1"), "{err}");
    // No full address in what herald printed.
    for addr in per.keys() {
        assert!(
            !out.contains(addr.as_str()) && !err.contains(addr.as_str()),
            "{out}{err}"
        );
    }
    // The ledger answers for both: sent, nothing left to send.
    let plan = plan_json(&ws);
    let c = plan_campaign(&plan, "notify");
    assert!(c["counts"].get("to_send").is_none(), "{c}");
    assert_eq!(c["counts"]["already_sent"], 2, "{c}");
    // A re-run makes no new wave and messages nobody again.
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(sb.messages().len(), 2);
    let (code, out, err) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 0, "{out}{err}");
}

/// Waits until the sandbox accepted `n` messages (the wave's campaign runs on without herald).
fn wait_for_messages(sb: &LocalSandbox, n: usize) {
    let started = std::time::Instant::now();
    while sb.messages().len() < n {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the sandbox sent {} of {n}",
            sb.messages().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn reconcile_resolves_a_crashed_wave_by_contact_id() {
    let ws = with_dispatch("dispatch: messaging-campaign\nmessages_per_minute: 6000\n");
    let sb = LocalSandbox::start(&ws);
    let (code, _, _) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .env("HERALD_FAILPOINT", "wave-after-start")
        .args(["apply", "--auto-approve"]));
    assert_ne!(code, 0, "the run was aborted after starting the wave");
    let (code, _, err) = run(ws.herald().args(["status"]));
    assert_eq!(code, 0);
    assert!(err.contains("2 sends are handed off"), "{err}");
    wait_for_messages(&sb, 2);
    let (code, out, err) = run(ws.herald().args(["reconcile", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let w = &doc["waves"][0];
    assert_eq!(w["wave"], 1, "{doc}");
    assert_eq!(w["sent"], 2, "{doc}");
    assert_eq!(w["handed_off"], 0, "{doc}");
    assert_eq!(w["status"], "done", "{doc}");
    // Two contacts: one bulk read, plus the campaign and its progress.
    assert!(w["requests"].as_u64().unwrap() <= 4, "{doc}");
    let plan = plan_json(&ws);
    assert_eq!(plan_campaign(&plan, "notify")["counts"]["already_sent"], 2);
    // Nothing to reconcile any more, and nobody was messaged twice.
    let (code, out, err) = run(ws.herald().args(["reconcile"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("wave 1"), "{out}");
    assert_eq!(sb.messages().len(), 2);
}

#[test]
fn campaign_stop_stops_a_running_wave_and_the_rest_goes_in_the_next() {
    let ws = with_dispatch("dispatch: messaging-campaign\nmessages_per_minute: 6000\n");
    write_audience(&ws, 1000, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    // The run dies while Genesys messages the wave (its campaign keeps going).
    let (code, _, _) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .env("HERALD_FAILPOINT", "wave-mid-dispatch")
        .args(["apply", "--auto-approve"]));
    assert_ne!(code, 0);
    let (code, out, err) = run(ws
        .herald()
        .args(["campaign", "stop", "notify", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let w = &doc["waves"][0];
    assert_eq!(w["status"], "stopped", "{doc}");
    let (sent, pending) = (w["sent"].as_u64().unwrap(), w["pending"].as_u64().unwrap());
    assert_eq!(sent + pending, 1000, "{doc}");
    assert!(pending > 0, "stopped before the end: {doc}");
    // No new messages after the stop.
    let stopped_at = sb.messages().len();
    assert_eq!(stopped_at as u64, sent, "the ledger shows who was messaged");
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(sb.messages().len(), stopped_at, "messages after the stop");
    // The next apply hands the rest to a new wave: everybody once.
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("wave 2"), "{err}");
    let per = sb.per_address();
    assert_eq!(per.len(), 1000);
    assert!(per.values().all(|n| *n == 1));
    // Stopping with nothing running says so.
    let (code, out, _) = run(ws.herald().args(["campaign", "stop", "notify"]));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to stop"), "{out}");
}
