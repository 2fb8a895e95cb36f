//! Benchmark of the planner's bulk query (DESIGN §10 budget).
//!
//! Seeds a ledger with 500,000 sent rows of one campaign, then, in a fresh process so that
//! peak RSS covers only the planner's side, opens the ledger, loads `campaign_keys` and
//! looks up 1,000,000 audience keys (half present). Also reports claim + outcome throughput
//! in batches of 100, the shape `apply` uses.
//!
//! Run: `cargo run --release -p herald-ledger --example bench_keys`

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use herald_ledger::{
    Channel, Claim, Ledger, LedgerKey, NewRun, Outcome, OutcomeResult, Redo, SqliteLedger,
    mask_phone,
};

const EXISTING: u32 = 500_000;
const AUDIENCE: u32 = 1_000_000;
const PHASE_ENV: &str = "HERALD_BENCH_QUERY_LEDGER";

fn key() -> LedgerKey {
    LedgerKey::from_secret("c1f42c46055b1de9a6c4813f5d3bbc3f82ba17cca8283aaf7a81e22e45f1adb4")
        .expect("valid key")
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("stdout");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn claims(k: &LedgerKey, range: std::ops::Range<u32>) -> Vec<Claim> {
    range
        .map(|i| {
            let phone = format!("+1555{i:07}");
            Claim {
                row_key: format!("cust-{i:07}"),
                recipient: k.recipient_id(Channel::Sms, &phone),
                masked: mask_phone(&phone),
                channel: Channel::Sms,
                template_hash: "v1:0123456789abcdef".into(),
                category: None,
                caps: Vec::new(),
            }
        })
        .collect()
}

fn sent_all(campaign: &str, batch: &[Claim]) -> Vec<Outcome> {
    batch
        .iter()
        .map(|c| Outcome {
            campaign: campaign.into(),
            row_key: c.row_key.clone(),
            result: OutcomeResult::Sent {
                handle: herald_ledger::DispatchHandle::message(
                    format!("msg-{}", c.row_key),
                    Some(format!("conv-{}", c.row_key)),
                ),
            },
        })
        .collect()
}

fn run(l: &mut SqliteLedger, id: &str) {
    l.begin_run(&NewRun {
        run_id: id.into(),
        command: "bench".into(),
        user: "bench".into(),
        host: "bench".into(),
        git_commit: None,
        plan_hash: None,
    })
    .expect("begin_run");
}

fn seed(path: &Path) {
    let k = key();
    let mut l = SqliteLedger::open(path, &k).expect("open");
    run(&mut l, "seed");
    let t = Instant::now();
    let mut start = 0;
    while start < EXISTING {
        let end = (start + 10_000).min(EXISTING);
        let batch = claims(&k, start..end);
        l.claim_batch("seed", "big", &batch, Redo::NONE)
            .expect("claim");
        l.record_outcomes("seed", &sent_all("big", &batch))
            .expect("outcomes");
        start = end;
    }
    out(&format!(
        "seeded {EXISTING} sent rows in {:.1} s (batches of 10,000)",
        t.elapsed().as_secs_f64()
    ));

    // apply's shape: claim 100, record 100 outcomes, repeat (two FULL-sync commits per batch).
    run(&mut l, "apply");
    let n = 20_000;
    let t = Instant::now();
    for b in 0..(n / 100) {
        let batch = claims(&k, 2_000_000 + b * 100..2_000_000 + (b + 1) * 100);
        l.claim_batch("apply", "small", &batch, Redo::NONE)
            .expect("claim");
        l.record_outcomes("apply", &sent_all("small", &batch))
            .expect("outcomes");
    }
    let secs = t.elapsed().as_secs_f64();
    out(&format!(
        "claim+outcome, batches of 100: {n} sends in {secs:.2} s = {:.0} sends/s",
        f64::from(n) / secs
    ));
    let t = Instant::now();
    let report = l.verify().expect("verify");
    out(&format!(
        "verify: ok={} over {} events and {} rows in {:.2} s",
        report.ok,
        report.events_checked,
        report.sends_checked,
        t.elapsed().as_secs_f64()
    ));
}

fn query(path: &Path) {
    let t = Instant::now();
    let l = SqliteLedger::open(path, &key()).expect("open");
    let keys = l.campaign_keys("big").expect("campaign_keys");
    let loaded = t.elapsed();
    let mut present = 0u32;
    let mut buf = String::with_capacity(16);
    for i in 0..AUDIENCE {
        buf.clear();
        // Audience keys interleave existing and new rows.
        let id = if i % 2 == 0 { i / 2 } else { EXISTING + i / 2 };
        std::fmt::Write::write_fmt(&mut buf, format_args!("cust-{id:07}")).expect("fmt");
        if keys.get(&buf).is_some() {
            present += 1;
        }
    }
    let total = t.elapsed();
    assert_eq!(present, EXISTING, "half of the audience is in the ledger");
    out(&format!(
        "campaign_keys: {} keys loaded in {:.3} s; {AUDIENCE} lookups done at {:.3} s total; peak RSS {:.0} MiB",
        keys.len(),
        loaded.as_secs_f64(),
        total.as_secs_f64(),
        peak_rss_mib()
    ));
}

fn main() {
    if let Ok(path) = std::env::var(PHASE_ENV) {
        query(&PathBuf::from(path));
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger-bench.db");
    seed(&path);
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(PHASE_ENV, &path)
        .status()
        .expect("spawn query phase");
    assert!(status.success(), "query phase failed");
}
