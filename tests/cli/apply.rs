//! `herald apply`: exactly-once sends against a sandbox (embedded, or running in the test
//! process so the test can inject faults and read every accepted message).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use herald_sandbox::Faults;

use crate::support::{LocalSandbox, TestWorkspace, phone, run, write_audience};

/// 10:00 in New York, 07:00 in Los Angeles.
const NOW: &str = "2026-12-02T15:00:00Z";

/// The base fixture with `n` New York recipients, pointed at a sandbox in the test process.
fn local(n: usize) -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, n, "America/New_York");
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

fn apply(ws: &TestWorkspace, extra: &[&str]) -> (i32, String, String) {
    run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"])
        .args(extra))
}

fn apply_at(ws: &TestWorkspace, now: &str) -> (i32, String, String) {
    run(ws
        .herald()
        .env("HERALD_NOW", now)
        .args(["apply", "--auto-approve"]))
}

/// Asserts every address in `expected` got exactly one message, and nobody else got any.
fn assert_exactly_once(sb: &LocalSandbox, expected: impl IntoIterator<Item = String>) {
    let got = sb.per_address();
    let dupes: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicate sends: {dupes:?}");
    let expected: BTreeSet<String> = expected.into_iter().collect();
    let got: BTreeSet<String> = got.into_keys().collect();
    assert_eq!(got, expected);
}

fn all(n: usize) -> Vec<String> {
    (0..n).map(phone).collect()
}

#[test]
fn full_run_then_second_run_sends_nothing() {
    let (ws, sb) = local(5);
    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("notify") && out.contains("sent 5"), "{out}");
    assert!(
        err.contains(": created (version 1)"),
        "text apply lists its template writes: {err}"
    );
    assert_exactly_once(&sb, all(5));
    let texts: BTreeSet<_> = sb.messages().into_iter().filter_map(|m| m.text).collect();
    assert!(texts.contains(
        "Your order ORD-3 has shipped. Track it at https://track.example.com/3. Reply STOP to opt out."
    ));

    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    assert_exactly_once(&sb, all(5));
}

/// The default environment: the embedded sandbox keeps its state in `.herald/`, which the
/// test reopens after the runs to count what it accepted.
#[test]
fn embedded_sandbox_sends_once_across_runs() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 4, "America/New_York");
    for _ in 0..2 {
        let (code, _, err) = apply(&ws, &[]);
        assert_eq!(code, 0, "{err}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let messages = rt.block_on(async {
        let config = herald_sandbox::SandboxConfig {
            state: herald_sandbox::StateLocation::File(ws.path().join(".herald/sandbox-state.db")),
            ..herald_sandbox::SandboxConfig::default()
        };
        let sb = herald_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let m = sb.messages().await.unwrap();
        sb.shutdown().await;
        m
    });
    let mut to: Vec<_> = messages.into_iter().map(|m| m.to).collect();
    to.sort();
    assert_eq!(to, all(4));
}

/// A burst of 429s (with `Retry-After`) arriving while sends are in flight: the sends that got
/// a 429 were not processed, so they are retried, and no row is sent twice.
#[test]
fn burst_of_429s_mid_run_is_retried_without_duplicates() {
    let n = 60;
    let (ws, sb) = local(n);
    sb.set_faults(Faults {
        latency_ms: 10,
        ..Faults::default()
    });
    let child = spawn_apply(&ws);
    wait_for_messages(&sb, 10);
    sb.set_faults(Faults {
        latency_ms: 10,
        burst_429: 8,
        burst_retry_after_secs: 1,
        ..Faults::default()
    });
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("rate limited"), "the burst hit the run: {err}");
    assert_eq!(sb.sandbox().faults().burst_429, 0, "the burst was consumed");
    assert_exactly_once(&sb, all(n));
}

/// 429s that outlast the `--rate-limit-wait` budget stop the run (exit 1, with a message
/// saying to rerun) and leave the unsent rows pending; the rerun sends each of them once.
#[test]
fn rate_limit_past_the_wait_budget_stops_the_run_resumably() {
    let n = 60;
    let (ws, sb) = local(n);
    sb.set_faults(Faults {
        latency_ms: 10,
        ..Faults::default()
    });
    let child = spawn_apply_with(&ws, &["--rate-limit-wait", "2s"]);
    wait_for_messages(&sb, 10);
    sb.set_faults(Faults {
        burst_429: 1_000_000,
        burst_retry_after_secs: 1,
        ..Faults::default()
    });
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stopped: rate-limited for 2s; rerun to resume"),
        "{err}"
    );
    let sent_before = sb.messages().len();
    assert!(sent_before < n, "the run stopped before the end");
    sb.set_faults(Faults::default());
    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("sent {}", n - sent_before)), "{out}");
    assert_exactly_once(&sb, all(n));
}

/// `herald apply --auto-approve` in the background, output captured.
fn spawn_apply(ws: &TestWorkspace) -> std::process::Child {
    spawn_apply_with(ws, &[])
}

fn spawn_apply_with(ws: &TestWorkspace, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_messages(sb: &LocalSandbox, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sb.messages().len() < at_least {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A sandbox enforcing Genesys's default 300/min, and herald configured for the same: the
/// client-side bucket keeps every request within the limit, so nothing is lost or repeated.
#[test]
fn rate_limited_run_sends_each_row_once() {
    let ws = TestWorkspace::fixture("base");
    write_audience(&ws, 40, "America/New_York");
    let sb = LocalSandbox::start_with(&ws, Some(300), 300);
    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 40"), "{out}");
    assert_exactly_once(&sb, all(40));
}

#[test]
fn dropped_sends_end_unknown_and_are_never_resent() {
    let (ws, sb) = local(20);
    sb.set_faults(Faults {
        drop_ratio: 0.3,
        ..Faults::default()
    });
    let (code, out, err) = apply(&ws, &[]);
    // Maybe-sent is not a failure of the run, but it is called out.
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unknown"), "some sends were dropped: {out}");
    assert!(err.contains("not resent"), "{err}");
    assert!(err.contains("herald reconcile"), "{err}");
    let after_first = sb.per_address();

    sb.set_faults(Faults::default());
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    // The dropped sends were accepted by the sandbox: each address has exactly one message,
    // so nothing `unknown` was resent.
    assert_exactly_once(&sb, all(20));
    assert!(sb.per_address().len() >= after_first.len());

    let (code, out, _) = run(ws.herald().args(["status", "--format", "json"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("\"unknown\""),
        "status reports the unknown rows: {out}"
    );
}

#[test]
fn saved_plan_is_refused_after_an_out_of_band_template_edit() {
    let (ws, sb) = local(6);
    let (code, _, err) = apply(&ws, &["--max-sends", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sb.messages().len(), 2);
    let id = crate::support::response_id(&ws, "order-shipped");

    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    sb.edit_out_of_band(&id, "Edited in the Genesys UI {{order_id}}");

    let (code, out, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0);
    assert!(out.contains("drift"), "plan shows the drift: {out}");

    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stale plan: template order-shipped is not applied: it changed in Genesys since the plan (version 1 → version 2)"),
        "{err}"
    );
    assert!(err.contains("campaign notify"), "{err}");
    assert_eq!(sb.messages().len(), 2, "nothing was sent");
}

/// Without a saved plan, apply re-plans: the drift is part of the new plan (restore), so the
/// reviewed text is written back and only the reviewed text is ever sent.
#[test]
fn fresh_apply_after_drift_restores_the_reviewed_text() {
    let (ws, sb) = local(4);
    let (code, _, err) = apply(&ws, &["--max-sends", "2"]);
    assert_eq!(code, 0, "{err}");
    let id = crate::support::response_id(&ws, "order-shipped");
    sb.edit_out_of_band(&id, "Edited in the Genesys UI {{order_id}}");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("drift"), "the re-plan shows the drift: {err}");
    assert_exactly_once(&sb, all(4));
    assert!(
        sb.messages().iter().all(|m| m
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("Your order"))),
        "only the reviewed text was sent"
    );
    let plan = crate::support::plan_json(&ws);
    assert_eq!(plan["templates"][0]["action"], "noop", "{plan}");
}

#[test]
fn opted_out_recipients_are_never_sent() {
    let (ws, sb) = local(4);
    let (code, _, err) = run(ws.herald().args(["suppress", "add", &phone(1)]));
    assert_eq!(code, 0, "{err}");
    // A STOP reply arrives through Genesys; the operator records it.
    sb.inbound(&phone(2), "STOP");
    let (code, _, err) =
        run(ws
            .herald()
            .args(["suppress", "add", &phone(2), "--reason", "inbound-stop"]));
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 2"), "{out}");
    assert_exactly_once(&sb, [phone(0), phone(3)]);
}

#[test]
fn quiet_hours_hold_until_the_window_opens() {
    let (ws, sb) = local(1);
    // 21:00 and 07:59 in New York (EST, UTC-5): held.
    for now in ["2026-12-03T02:00:00Z", "2026-12-03T12:59:00Z"] {
        let (code, out, err) = apply_at(&ws, now);
        assert_eq!(code, 0, "{now}: {err}");
        assert!(sb.messages().is_empty(), "{now}: {out}");
    }
    // 08:00: sent.
    let (code, _, err) = apply_at(&ws, "2026-12-03T13:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(1));

    // 20:59 is still inside the window.
    let (ws, sb) = local(1);
    let (code, _, err) = apply_at(&ws, "2026-12-03T01:59:00Z");
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(1));
}

/// One recipient in New York (21:00: closed) and one in Chicago (20:00: open): the summary says
/// what was held, and the held row goes out once the window opens.
#[test]
fn apply_summary_reports_held_rows() {
    let ws = TestWorkspace::fixture("base");
    let sb = LocalSandbox::start(&ws);
    let (code, out, err) = apply_at(&ws, "2026-12-03T02:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("notify                           sent 1 · held 1"),
        "{out}"
    );
    assert_exactly_once(&sb, ["+13125550101".to_owned()]);
    let (code, out, err) = apply_at(&ws, "2026-12-03T13:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 1"), "{out}");
    assert_eq!(sb.per_address().len(), 2);
}

/// 12:30 UTC is 07:30 in New York the day before clocks go forward (EST) and 08:30 on the day
/// (EDT): quiet hours follow the recipient's zone rules, not a fixed offset.
#[test]
fn quiet_hours_follow_daylight_saving() {
    let (ws, sb) = local(1);
    let (code, _, err) = apply_at(&ws, "2027-03-13T12:30:00Z");
    assert_eq!(code, 0, "{err}");
    assert!(sb.messages().is_empty());
    let (code, _, err) = apply_at(&ws, "2027-03-14T12:30:00Z");
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(1));
}

#[test]
fn saved_plan_is_refused_when_the_audience_changed() {
    let (ws, sb) = local(3);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    write_audience(&ws, 4, "America/New_York");
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stale plan: campaign notify is not applied: its audience file campaigns/data/shipped.csv changed since the plan"),
        "{err}"
    );
    assert!(sb.messages().is_empty());
}

#[test]
fn saved_plan_is_refused_when_the_template_text_changed() {
    let (ws, sb) = local(3);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    let t = ws
        .read("templates/order-shipped.yaml")
        .replace("has shipped", "is on its way");
    ws.write("templates/order-shipped.yaml", &t);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "stale plan: template order-shipped is not applied: its text changed since the plan"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "stale plan: campaign notify is not applied: its template changed since the plan"
        ),
        "{err}"
    );
    assert!(sb.messages().is_empty());
    let plan = crate::support::plan_json(&ws);
    assert_eq!(
        plan["library"]["create"], true,
        "nothing was written: {plan}"
    );
}

#[test]
fn saved_plan_is_applied_exactly_without_a_prompt() {
    let (ws, sb) = local(3);
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--out", "p.json"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 3"), "{out}");
    assert!(!err.contains("Apply this plan?"), "{err}");
    assert_exactly_once(&sb, all(3));
    // Applying the same plan again: its send keys are now in the ledger.
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stale plan"), "{err}");
    assert_exactly_once(&sb, all(3));
}

#[test]
fn non_tty_without_auto_approve_fails() {
    let (ws, sb) = local(2);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("apply"));
    assert_eq!(code, 1);
    assert!(
        err.contains("stdin is not a terminal") && err.contains("--auto-approve"),
        "{err}"
    );
    assert!(sb.messages().is_empty());
}

#[test]
fn a_held_lock_exits_4_naming_the_holder() {
    let (ws, sb) = local(2);
    let lock_path = herald_ledger::RunLock::path_for(&ws.path().join(".herald/ledger-local.db"));
    let info = herald_ledger::LockInfo {
        pid: 4242,
        host: "ci-runner-7".into(),
        run_id: "run-held-by-test".into(),
        started_at: "2026-12-02T14:59:00Z".parse().unwrap(),
        command: "apply".into(),
    };
    let lock = herald_ledger::RunLock::acquire(&lock_path, info, None).expect("lock");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("pid 4242 on ci-runner-7, run run-held-by-test"),
        "{err}"
    );
    assert!(sb.messages().is_empty());
    drop(lock);
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(2));
}

#[test]
fn ctrl_c_mid_run_then_resume_sends_each_row_once() {
    let n = 200;
    let (ws, sb) = local(n);
    sb.set_faults(Faults {
        latency_ms: 20,
        ..Faults::default()
    });
    let child = spawn_apply(&ws);
    wait_for_messages(&sb, 20);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let partial = sb.messages().len();
    assert!(partial < n, "stopped before the end ({partial})");
    let summary = String::from_utf8_lossy(&out.stdout);
    let (already, now, left, rows) = interrupted_totals(&summary, "notify");
    assert_eq!(already + now + left, rows, "{summary}");
    assert_eq!(rows, n as u64, "{summary}");
    assert_eq!(already, 0, "{summary}");
    assert_eq!(
        now, partial as u64,
        "sent now is what the sandbox accepted: {summary}"
    );

    sb.set_faults(Faults::default());
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(n));
}

/// Parses `NAME  already sent A + sent now S + left L = R rows` from an interrupted run's
/// summary.
fn interrupted_totals(summary: &str, campaign: &str) -> (u64, u64, u64, u64) {
    let line = summary
        .lines()
        .find(|l| l.starts_with(campaign) && l.contains("already sent"))
        .unwrap_or_else(|| panic!("no totals line for {campaign}: {summary}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 4, "{line}");
    (nums[0], nums[1], nums[2], nums[3])
}

/// Two interrupted runs in a row: the second one's summary counts what the first sent as
/// "already sent", and the three numbers still add up to the audience's rows.
#[test]
fn second_interrupted_run_counts_earlier_sends() {
    let n = 300;
    let (ws, sb) = local(n);
    sb.set_faults(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let interrupt = |at_least: usize| {
        let child = spawn_apply(&ws);
        wait_for_messages(&sb, at_least);
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = interrupt(20);
    let after_first = sb.messages().len() as u64;
    let (_, now1, _, _) = interrupted_totals(&first, "notify");
    assert_eq!(now1, after_first, "{first}");
    let second = interrupt(usize::try_from(after_first).unwrap() + 20);
    let (already, now, left, rows) = interrupted_totals(&second, "notify");
    assert_eq!(already, after_first, "{second}");
    assert_eq!(now, sb.messages().len() as u64 - after_first, "{second}");
    assert_eq!(already + now + left, rows, "{second}");
    assert_eq!(rows, n as u64);

    sb.set_faults(Faults::default());
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(n));
}

/// Sends Genesys refuses (here: a `from` number the org has not provisioned) make the run
/// exit 1 with one line per cause, counted.
#[test]
fn failed_sends_exit_1_with_one_line_per_cause() {
    let (ws, sb) = local(7);
    let campaign = ws
        .read("campaigns/notify.yaml")
        .replace("+15550001111", "+15550009999");
    ws.write("campaigns/notify.yaml", &campaign);
    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("failed 7"), "{out}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("7 failed:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("provisioned"), "{err}");
    assert!(lines[0].contains("notify"), "{err}");
    assert!(!err.contains("+15550009999"), "the number is masked: {err}");
    assert!(sb.messages().is_empty());
}

/// The template is edited in Genesys while a campaign is sending: the pre-flight check before
/// the next batch halts the campaign with a clear message, nothing is sent with the edited
/// text, and a later (re-reviewed) apply restores the template and finishes exactly once.
#[test]
fn template_edited_mid_campaign_halts_it() {
    let n = 250;
    let (ws, sb) = local(n);
    let (code, _, err) = apply(&ws, &["--max-sends", "1"]);
    assert_eq!(code, 0, "{err}");
    let id = crate::support::response_id(&ws, "order-shipped");
    sb.set_faults(Faults {
        latency_ms: 20,
        ..Faults::default()
    });
    let child = spawn_apply(&ws);
    wait_for_messages(&sb, 10);
    sb.edit_out_of_band(&id, "Edited in the Genesys UI {{order_id}}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("campaign notify: the template in Genesys changed during the campaign"),
        "{err}"
    );
    let halted_at = sb.messages().len();
    assert!(halted_at < n, "the campaign stopped early ({halted_at})");
    assert!(
        sb.messages().iter().all(|m| m
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("Your order"))),
        "nothing was sent with the edited text"
    );

    sb.set_faults(Faults::default());
    let (code, out, _) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_eq!(code, 0);
    assert!(out.contains("drift"), "{out}");
    let (code, _, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert_exactly_once(&sb, all(n));
}

/// A plan narrowed with `--campaign` applies exactly what it reviewed: the other campaign is
/// neither sent nor reported as stale.
#[test]
fn narrowed_saved_plan_applies_only_its_objects() {
    let (ws, sb) = local(3);
    let other = ws
        .read("campaigns/notify.yaml")
        .replace("name: notify", "name: notify-again");
    ws.write("campaigns/notify-again.yaml", &other);
    let (code, _, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "plan",
        "--campaign",
        "notify",
        "--out",
        "p.json",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["apply", "p.json"]));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("stale"), "{err}");
    assert!(
        out.contains("notify ") && !out.contains("notify-again"),
        "{out}"
    );
    assert_exactly_once(&sb, all(3));
    let plan = crate::support::plan_json(&ws);
    let again = plan["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "notify-again")
        .unwrap();
    assert_eq!(again["counts"]["to_send"], 3, "{plan}");
}

/// A sender number the org does not have: the campaign stops after its first batch (every
/// send refused for one cause) instead of burning the whole audience, and once the number is
/// provisioned, `plan --retry-failed` shows the refused rows and `apply --retry-failed` sends
/// them, each recipient once.
#[test]
fn a_wrong_sender_stops_after_the_first_batch_and_failed_rows_can_be_retried() {
    let (ws, sb) = local(250);
    let provisioned = sb.sandbox().org();
    let mut org = provisioned.clone();
    org.sms_numbers.clear();
    sb.sandbox().set_org(org).unwrap();

    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("its first 100 sends were all refused for the same reason")
            && err.contains("--retry-failed"),
        "{err}"
    );
    assert!(
        out.contains("failed 100"),
        "only the first batch is spent: {out}"
    );
    let both = format!("{out}{err}");
    assert_eq!(
        both.matches("were all refused").count(),
        1,
        "told once: {both}"
    );
    assert!(sb.messages().is_empty());

    sb.sandbox().set_org(provisioned).unwrap();
    let plan = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--retry-failed"]));
    assert_eq!(plan.0, 0, "{}", plan.2);
    assert!(
        plan.1.contains("250 to send now") && plan.1.contains("100 failed rows to retry"),
        "{}",
        plan.1
    );
    // Without the flag the refused rows stay refused.
    let (code, out, err) = apply(&ws, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 150"), "{out}");
    assert_eq!(sb.messages().len(), 150);

    let (code, out, err) = apply(&ws, &["--retry-failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent 100"), "{out}");
    assert_exactly_once(&sb, all(250));

    // Nothing is left to retry, and a sent row is never sent again.
    let (code, _, err) = apply(&ws, &["--retry-failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    assert_exactly_once(&sb, all(250));
}

/// `--format json` streams the same NDJSON events as the older `--json`: every line is one
/// object with an `event`, the last one the summary.
#[test]
fn format_json_streams_events_ending_with_the_summary() {
    let (ws, sb) = local(3);
    let (code, out, err) = apply(&ws, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(events.iter().all(|e| e["event"].is_string()), "{out}");
    assert!(events.iter().any(|e| e["event"] == "template"), "{out}");
    let last = events.last().expect("events");
    assert_eq!(last["event"], "summary");
    assert_eq!(last["outcome"], "ok");
    assert_exactly_once(&sb, all(3));
}
