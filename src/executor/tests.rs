//! The executor drives any [`Dispatch`]: a fake that records its calls stands in for the
//! agentless API, against a real ledger and workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use herald_ledger::{DispatchHandle, Ledger, LedgerKey, NewRun, SendState, SqliteLedger};

use super::dispatch::{Dispatch, Dispatched, PreflightError, Refusal};
use super::*;
use crate::plan::Reason;
use crate::plan::campaigns::{PlanContext, PlannedSends};

const NOW: &str = "2026-03-02T18:00:00Z";

/// Records every dispatch; refuses, loses or stops on the addresses it was told to.
#[derive(Default)]
struct Fake {
    calls: Arc<Mutex<Vec<String>>>,
    refuse: BTreeSet<String>,
    lose: BTreeSet<String>,
    stop_at: Option<String>,
}

impl Fake {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

impl Dispatch for Fake {
    type Job = String;

    fn prepare(&self, _campaign: &Campaign, recipient: &Recipient) -> String {
        recipient.address.as_str().to_owned()
    }

    fn dispatch(&self, to: String) -> impl Future<Output = Dispatched> + Send + 'static {
        let calls = self.calls.clone();
        let result = if self.refuse.contains(&to) {
            Dispatched::Failed {
                code: "bad.address".into(),
                cause: Refusal {
                    key: "bad.address".into(),
                    reason: "bad.address: not a mobile number".into(),
                },
            }
        } else if self.lose.contains(&to) {
            Dispatched::Unknown {
                reason: "timeout".into(),
            }
        } else if self.stop_at.as_ref() == Some(&to) {
            Dispatched::Stopped {
                note: "rate limited (429)".into(),
                stop: "stopped: rate-limited".into(),
            }
        } else {
            Dispatched::Sent(DispatchHandle::message(format!("m-{to}"), None))
        };
        async move {
            calls.lock().expect("not poisoned").push(to);
            result
        }
    }

    async fn preflight(&self, _response_id: &str, _expected: &str) -> Result<(), PreflightError> {
        Ok(())
    }
}

fn phone(i: usize) -> String {
    format!("+1212555{i:04}")
}

/// A workspace of one SMS campaign over `rows` recipients (every tenth without consent).
fn workspace(root: &Path, rows: usize) -> Workspace {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/base");
    for rel in [
        "herald.yaml",
        "templates/order-shipped.yaml",
        "campaigns/shipped.yaml",
    ] {
        let to = root.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dir");
        std::fs::copy(base.join(rel), to).expect("copy");
    }
    let campaign = std::fs::read_to_string(base.join("campaigns/notify.yaml")).expect("read");
    std::fs::write(
        root.join("campaigns/notify.yaml"),
        format!("{campaign}send_window: none\n"),
    )
    .expect("write");
    write_audience(root, rows, "");
    let loaded = crate::load::load(root);
    assert!(
        !loaded.has_errors(),
        "{:?}",
        loaded
            .diagnostics
            .iter()
            .map(|d| &d.message)
            .collect::<Vec<_>>()
    );
    loaded.workspace
}

fn write_audience(root: &Path, rows: usize, suffix: &str) {
    let mut csv = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for i in 0..rows {
        let consent = if i % 10 == 9 { "no" } else { "yes" };
        let _ = writeln!(
            csv,
            "C-{i},{},America/New_York,{consent},ORD-{i}{suffix},https://track.example.com/{i}",
            phone(i)
        );
    }
    std::fs::create_dir_all(root.join("campaigns/data")).expect("dir");
    std::fs::write(root.join("campaigns/data/shipped.csv"), csv).expect("write");
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    ws: Workspace,
    key: LedgerKey,
    ledger: SqliteLedger,
    rt: tokio::runtime::Runtime,
}

fn setup(rows: usize) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("ws");
    let ws = workspace(&root, rows);
    let key = LedgerKey::from_secret("a passphrase of some length, 42 zebras quietly")
        .expect("strong key");
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db"), &key).expect("ledger");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Setup {
        _dir: dir,
        root,
        ws,
        key,
        ledger,
        rt,
    }
}

/// Plans `notify` and sends it through `fake` as run `run_id`; returns the report and the
/// events.
fn run(s: &mut Setup, fake: &Fake, run_id: &str, tamper: bool) -> (CampaignReport, Vec<Event>) {
    s.ledger
        .begin_run(&NewRun {
            run_id: run_id.into(),
            command: "apply".into(),
            user: "test".into(),
            host: "test".into(),
            git_commit: None,
            plan_hash: None,
        })
        .expect("begin run");
    let now: jiff::Timestamp = NOW.parse().expect("time");
    let campaign = s.ws.campaigns.values().next().expect("one campaign");
    let ctx = PlanContext {
        ws: &s.ws,
        now,
        default_rate: 1_000_000,
        redo: herald_ledger::Redo::NONE,
    };
    let mut diags = Vec::new();
    let planned = crate::gather::plan_one(
        &ctx,
        &s.ledger,
        &s.key,
        campaign,
        true,
        &mut PlannedSends::default(),
        &mut diags,
    )
    .expect("plan");
    if tamper {
        write_audience(&s.root, 250, "x");
    }
    let mut events = Vec::new();
    let mut on_event = |e: &Event| events.push(e.clone());
    let mut exec = Executor {
        ws: &s.ws,
        ledger: &mut s.ledger,
        key: &s.key,
        dispatch: fake,
        rt: &s.rt,
        run_id,
        options: ApplyOptions {
            max_sends: None,
            redo: herald_ledger::Redo::NONE,
            preflight_every: 1,
        },
        interrupted: Arc::new(AtomicBool::new(false)),
        sent_in_run: 0,
        on_event: &mut on_event,
        fixed_now: Some(now),
        wave: None,
    };
    let report = exec
        .run_campaign(campaign, &planned.plan, "r-1", "h", &planned.inputs)
        .expect("run");
    drop(exec);
    (report, events)
}

fn states(s: &Setup) -> BTreeMap<String, SendState> {
    let keys = s.ledger.campaign_keys("notify").expect("keys");
    (0..250)
        .filter_map(|i| {
            let k = format!("C-{i}");
            keys.get(&k).map(|state| (k, state))
        })
        .collect()
}

#[test]
fn every_claimed_message_is_dispatched_once_and_recorded_as_it_came_back() {
    let mut s = setup(250);
    let fake = Fake {
        refuse: BTreeSet::from([phone(3)]),
        lose: BTreeSet::from([phone(4)]),
        ..Fake::default()
    };
    let (report, events) = run(&mut s, &fake, "run-1", false);
    let consenting: Vec<String> = (0..250).filter(|i| i % 10 != 9).map(phone).collect();
    let mut calls = fake.calls();
    calls.sort();
    let mut expected = consenting.clone();
    expected.sort();
    assert_eq!(calls, expected, "each consenting recipient exactly once");
    assert_eq!(report.get(Count::Sent), 223);
    assert_eq!(report.get(Count::Failed), 1);
    assert_eq!(report.get(Count::UNKNOWN), 1);
    assert_eq!(report.get(Count::Row(Reason::NoConsent)), 25);
    assert!(report.halted.is_none());
    assert_eq!(
        report.failure_lines(),
        ["campaign notify: 1 failed: bad.address: not a mobile number"]
    );
    let batches = events
        .iter()
        .filter(|e| matches!(e, Event::Batch { .. }))
        .count();
    assert_eq!(batches, 3, "225 sends in batches of at most {BATCH_SIZE}");
    let states = states(&s);
    assert_eq!(states.get("C-3"), Some(&SendState::Failed));
    assert_eq!(states.get("C-4"), Some(&SendState::Unknown));
    assert_eq!(states.get("C-0"), Some(&SendState::Sent));
    assert_eq!(states.get("C-9"), None, "no consent: never claimed");

    // A second run sends nothing again: sent, failed and unknown rows are final.
    let again = Fake::default();
    let (report, _) = run(&mut s, &again, "run-2", false);
    assert!(again.calls().is_empty());
    assert_eq!(report.get(Count::Sent), 0);
}

#[test]
fn a_stop_ends_the_campaign_after_its_batch_is_recorded() {
    let mut s = setup(250);
    let fake = Fake {
        stop_at: Some(phone(150)),
        ..Fake::default()
    };
    let (report, _) = run(&mut s, &fake, "run-1", false);
    assert_eq!(
        report.halted.as_ref().map(ToString::to_string).as_deref(),
        Some("stopped: rate-limited")
    );
    assert_eq!(report.get(Count::Pending), 1);
    assert_eq!(
        fake.calls().len(),
        200,
        "the second batch finished; no third"
    );
    assert_eq!(states(&s).get("C-150"), Some(&SendState::Pending));
    assert_eq!(states(&s).get("C-240"), None);
}

#[test]
fn an_audience_that_changed_after_the_plan_is_not_sent_from() {
    let mut s = setup(250);
    let fake = Fake::default();
    let (report, _) = run(&mut s, &fake, "run-1", true);
    assert!(fake.calls().is_empty());
    assert!(
        matches!(report.halted, Some(Halt::AudienceChanged { .. })),
        "{:?}",
        report.halted
    );
    assert_eq!(
        report.halted.map(|h| h.to_string()).as_deref(),
        Some(
            "its audience file campaigns/data/shipped.csv changed after the plan; nothing was sent: plan again"
        )
    );
    assert!(states(&s).is_empty());
}
