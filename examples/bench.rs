//! Benchmark harness behind `scripts/bench.sh` (DESIGN §10 budgets). Build it in release:
//!
//! ```text
//! cargo build --release --bin herald --example bench
//! target/release/examples/bench plan-setup DIR          # 1,000,000 rows, 500,000 in the ledger
//! target/release/examples/bench plan-setup-scale DIR ROWS   # ROWS rows, a ledger of ROWS sends
//! target/release/examples/bench rate HERALD SECS        # apply at 300/min, measured over SECS
//! target/release/examples/bench unlimited HERALD ROWS [PYTHON]
//! target/release/examples/bench sdk-limited PYTHON ROWS       # the SDK loop at 300/min
//! target/release/examples/bench sdk-crash PYTHON ROWS SHARE    # killed at SHARE, rerun
//! target/release/examples/bench rate-standalone HERALD SECS [PYTHON]
//! ```
//!
//! `rate-standalone` runs `herald sandbox serve --rate-limit 300` as its own process, applies
//! `SECS · 5 + 50` rows through it (more than 300/min can carry in SECS, so the sender is busy
//! for the whole horizon), then does the same with the official-SDK loop against a fresh
//! standalone sandbox. For each it reports the messages accepted in the first SECS seconds after
//! the first one (sends/s and share of the limit), the 429 answers and the most requests one
//! token had admitted in any 60 s window, both from `GET /__sandbox/stats`, and the worst closed
//! 60 s window of accept times from `GET /__sandbox/messages`.
//!
//! Every mode prints `name=value` lines that the script turns into one table.

// A benchmark reports on stdout; its counts and nanosecond spans fit f64's mantissa, and
// the kill threshold is a non-negative share of a small row count.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_ledger::synthetic::{FillSpec, RowNames, fill_sqlite};
use herald_ledger::{
    Channel, Claim, Ledger as _, LedgerKey, NewRun, Outcome, OutcomeResult, Redo, SqliteLedger,
    mask_phone,
};
use herald_sandbox::{RunningSandbox, SandboxConfig, StateLocation};

const LEDGER_KEY: &str = "09e8f43efacc007e0f594d642587925eff81c086398073b0f8c8fd93538ee713";
const CAMPAIGN: &str = "notice";
const SDK_LOOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_sdk_loop.py");

/// Phone number of row `n`: fictional 555 numbers in four area codes (up to 40,000 rows),
/// beyond that distinct exchanges of one area code.
fn phone(n: usize) -> String {
    if n < 40_000 {
        format!("+1{}555{:04}", [212, 312, 415, 617][n / 10_000], n % 10_000)
    } else {
        format!("+1646{:03}{:04}", 200 + n / 10_000, n % 10_000)
    }
}

fn row_key(n: usize) -> String {
    format!("R-{n:07}")
}

/// Area codes of the no-time-zone audience: one zone (NY, WA, HI, FL, OK, MD, TX, MA, and the
/// holiday states RI, UT, PA, AL), two zones (NV 775), toll-free (800, held as unknown).
const LOCAL_AREA_CODES: [u16; 14] = [
    212, 206, 808, 305, 405, 410, 512, 775, 800, 617, 401, 801, 215, 205,
];

/// A phone number of the no-time-zone audience, spread over [`LOCAL_AREA_CODES`]: each its
/// own up to 98,000,000 rows (the exchanges repeat every 7,000,000 rows, so the area codes
/// shift by one each time).
fn local_phone(n: usize) -> String {
    format!(
        "+1{}{:03}{:04}",
        LOCAL_AREA_CODES[(n + n / 7_000_000) % LOCAL_AREA_CODES.len()],
        200 + (n / 10_000) % 700,
        n % 10_000
    )
}

/// Writes a workspace of `rows` recipients; `env` is the environment block of herald.yaml.
fn write_workspace(root: &Path, env: &str, rows: usize) {
    write_workspace_with(root, env, rows, false);
}

/// With `local`: no time-zone column (zones and states come from the numbers), a marketing
/// template with the default federal window, so inference and the state rules are active.
fn write_workspace_with(root: &Path, env: &str, rows: usize, local: bool) {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    // The no-zone workspace also sets a frequency cap of its own (besides the built-in state
    // caps), as issue 14's budget asks for inference, state rules and a cap together.
    // It also requires consent evidence and expires `ebr` consent after 18 months, so every row
    // goes through the consent checks too.
    let caps = if local {
        "  frequency_caps:\n    - { channel: sms, category: marketing, max: 3, per: 24h }\n  require_consent_evidence: true\n  consent_expiry:\n    - { type: ebr, max_age: 18mo }\n"
    } else {
        ""
    };
    write(
        "herald.yaml",
        &format!(
            "environments:\n{env}default_environment: bench\npolicy:\n  max_recipients_per_apply: 10000000\n{caps}"
        ),
    );
    let (category, body, timezone, window) = if local {
        (
            "marketing",
            "Notice {{ref}}. Reply STOP to opt out.",
            "consent: opt_in\nconsent_evidence: { timestamp: consent_at, source: src }\nconsent_type: kind\n",
            "",
        )
    } else {
        (
            "transactional",
            "Notice {{ref}}.",
            "timezone: tz\n",
            "send_window: none\n",
        )
    };
    write(
        "templates/notice.yaml",
        &format!(
            "kind: Template\nname: notice\nchannel: sms\ncategory: {category}\nstatus: published\nbody: \"{body}\"\nvariables:\n  ref: {{ description: Row key, example: R-1, max_length: 20 }}\n"
        ),
    );
    write(
        "campaigns/recipients.yaml",
        &format!(
            "kind: Audience\nname: recipients\nsource: {{ csv: data/recipients.csv }}\nkey: key\naddress: phone\n{timezone}"
        ),
    );
    write(
        "campaigns/notice.yaml",
        &format!(
            "kind: Campaign\nname: {CAMPAIGN}\ntemplate: notice\naudience: recipients\nfrom: \"+15550001111\"\nvariables:\n  ref: {{ column: key }}\nstatus: active\n{window}"
        ),
    );
    let mut csv = String::with_capacity(rows * 72);
    if local {
        csv.push_str("key,phone,opt_in,consent_at,src,kind\n");
        for n in 0..rows {
            let _ = writeln!(
                csv,
                "{},{},yes,2026-01-05,web,ebr",
                row_key(n),
                local_phone(n)
            );
        }
    } else {
        csv.push_str("key,phone,tz\n");
        for n in 0..rows {
            let _ = writeln!(csv, "{},{},America/New_York", row_key(n), phone(n));
        }
    }
    write("campaigns/data/recipients.csv", &csv);
}

fn genesys_env(sandbox: &RunningSandbox, root: &Path, rate: u32) -> String {
    let secret = root.join("sandbox-secret");
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(&secret, sandbox.client_secret()).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "  bench:\n    target: genesys\n    base_url: {}\n    client_id: {}\n    secret_file: sandbox-secret\n    rate_per_minute: {rate}\n",
        sandbox.base_url(),
        sandbox.client_id()
    )
}

/// `plan-setup DIR` (`local`: `plan-setup-local DIR`): the 1,000,000-row workspace with
/// 500,000 rows already sent (`local`: as marketing SMS, so for 24 h the plan checks every
/// other row against the frequency caps).
fn plan_setup(dir: &Path, local: bool) {
    const ROWS: usize = 1_000_000;
    const SENT: usize = 500_000;
    let t = Instant::now();
    write_workspace_with(dir, "  bench: { target: sandbox }\n", ROWS, local);
    let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
    let mut ledger = SqliteLedger::open(&dir.join(".herald/ledger-bench.db"), &key).unwrap();
    ledger
        .begin_run(&NewRun {
            run_id: "seed".into(),
            command: "bench".into(),
            user: "bench".into(),
            host: "bench".into(),
            git_commit: None,
            plan_hash: None,
        })
        .unwrap();
    for start in (0..SENT).step_by(10_000) {
        let claims: Vec<Claim> = (start..(start + 10_000).min(SENT))
            .map(|n| {
                let p = if local { local_phone(n) } else { phone(n) };
                Claim {
                    row_key: row_key(n),
                    recipient: key.recipient_id(Channel::Sms, &p),
                    masked: mask_phone(&p),
                    channel: Channel::Sms,
                    template_hash: "seeded".into(),
                    // The no-zone workspace's campaign is marketing: its sends count towards
                    // the frequency caps of the next plan (for 24 h after the set-up).
                    category: local.then(|| "marketing".to_owned()),
                    caps: Vec::new(),
                }
            })
            .collect();
        ledger
            .claim_batch("seed", CAMPAIGN, &claims, Redo::NONE)
            .unwrap();
        let outcomes: Vec<Outcome> = claims
            .iter()
            .map(|c| Outcome {
                campaign: CAMPAIGN.into(),
                row_key: c.row_key.clone(),
                result: OutcomeResult::Sent {
                    handle: herald_ledger::DispatchHandle::message(
                        format!("m-{}", c.row_key),
                        None,
                    ),
                },
            })
            .collect();
        ledger.record_outcomes("seed", &outcomes).unwrap();
    }
    ledger.finish_run("seed", "completed").unwrap();
    println!("setup_rows={ROWS}");
    println!("setup_ledger_sent={SENT}");
    println!("setup_seconds={:.1}", t.elapsed().as_secs_f64());
}

/// Who send `i` of the `plan-setup-scale` ledger went to (its size `R` is `spec.sends`, the
/// audience's size too): sends `0..R/2` are the campaign's own rows `0..R/2` (sent, so the
/// plan skips them as final); the other half are marketing sends of other campaigns
/// (`promo-NN`, a million each) to the audience's unsent rows, inside the frequency cap's
/// window: `0.4·R` rows (`R/2..0.9·R`) had one, and `0.1·R` sends went three at a time to rows
/// `0.9·R..` (about `R/30` rows), which the cap of 3 a day then holds.
fn scale_names(spec: &FillSpec, i: u64) -> RowNames {
    let rows = spec.sends;
    let half = rows / 2;
    if i < half {
        let n = i as usize;
        return RowNames {
            campaign: CAMPAIGN.to_owned(),
            row_key: row_key(n),
            phone: local_phone(n),
            conversation: true,
        };
    }
    let j = i - half;
    let once = rows * 2 / 5;
    let (row, conversation) = if j < once {
        (half + j, true)
    } else {
        (half + once + (j - once) / 3, (j - once).is_multiple_of(3))
    };
    RowNames {
        campaign: format!("promo-{:02}", j / 1_000_000),
        row_key: format!("P-{j:08}"),
        phone: local_phone(row as usize),
        conversation,
    }
}

/// `plan-setup-scale DIR ROWS`: the `plan-setup-local` workspace with `ROWS` rows, and a
/// ledger of `ROWS` sends written in one bulk import (see [`scale_names`]), all within the
/// last three hours.
fn plan_setup_scale(dir: &Path, rows: usize) {
    let t = Instant::now();
    write_workspace_with(dir, "  bench: { target: sandbox }\n", rows, true);
    let csv_secs = t.elapsed().as_secs_f64();
    let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
    let path = dir.join(".herald/ledger-bench.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut ledger = SqliteLedger::open(&path, &key).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut spec = FillSpec::new(rows as u64, now - 3 * 3_600_000);
    spec.names = scale_names;
    let (_, row_secs, index_secs) = fill_sqlite(&mut ledger, &key, &spec).unwrap();
    println!("setup_rows={rows}");
    println!("setup_ledger_sends={rows}");
    println!("setup_csv_seconds={csv_secs:.1}");
    println!("setup_ledger_seconds={:.1}", row_secs + index_secs);
    println!("setup_seconds={:.1}", t.elapsed().as_secs_f64());
}

fn start_sandbox(rt: &tokio::runtime::Runtime, limit: Option<u32>) -> RunningSandbox {
    rt.block_on(herald_sandbox::start(
        SandboxConfig {
            state: StateLocation::Memory,
            rate_limit_per_minute: limit,
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    ))
    .unwrap()
}

fn apply(herald: &Path, root: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(herald)
        .args(["apply", "--auto-approve"])
        .current_dir(root)
        .env("HERALD_LEDGER_KEY", LEDGER_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "herald apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// Accepted-at instants in seconds since the first, sorted.
fn accepted_secs(rt: &tokio::runtime::Runtime, sandbox: &RunningSandbox) -> Vec<f64> {
    let messages = rt.block_on(sandbox.messages()).unwrap();
    let mut t: Vec<i128> = messages
        .iter()
        .map(|m| m.accepted_at.as_nanosecond())
        .collect();
    t.sort_unstable();
    let first = t.first().copied().unwrap_or(0);
    t.iter().map(|x| (x - first) as f64 / 1e9).collect()
}

/// Most messages inside any closed 60 s window.
fn worst_window(t: &[f64]) -> usize {
    let mut lo = 0;
    let mut worst = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] > 60.0 {
            lo += 1;
        }
        worst = worst.max(hi - lo + 1);
    }
    worst
}

/// `rate HERALD SECS`: apply at a 300/min limit (in-process sandbox) with more rows than the
/// limit carries in SECS seconds, counting what was accepted in the first SECS seconds.
fn rate(herald: &Path, secs: u64) {
    let limit = 300u32;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = start_sandbox(&rt, Some(limit));
    let dir = tempfile::tempdir().unwrap();
    let rows = usize::try_from(secs * 5 + 50).unwrap();
    let env = genesys_env(&sandbox, dir.path(), limit);
    write_workspace(dir.path(), &env, rows);
    let wall = apply(herald, dir.path());
    let t = accepted_secs(&rt, &sandbox);
    let within = t.iter().filter(|x| **x < secs as f64).count();
    let per_minute = within as f64 * 60.0 / secs as f64;
    let stats = sandbox.stats();
    println!("rate_rows={rows}");
    println!("rate_wall_seconds={:.1}", wall.as_secs_f64());
    println!("rate_horizon_seconds={secs}");
    println!("rate_per_minute={per_minute:.1}");
    println!(
        "rate_share_of_limit_percent={:.1}",
        per_minute * 100.0 / f64::from(limit)
    );
    println!("rate_worst_60s_window={}", worst_window(&t));
    println!("rate_max_admitted_in_60s={}", stats.max_admitted_in_60s);
    println!("rate_limit={limit}");
    println!("rate_429={}", stats.too_many_requests);
    rt.block_on(sandbox.shutdown());
}

fn duplicates(rt: &tokio::runtime::Runtime, sandbox: &RunningSandbox) -> (usize, usize) {
    let messages = rt.block_on(sandbox.messages()).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &messages {
        *seen.entry(m.text.clone().unwrap_or_default()).or_default() += 1;
    }
    (messages.len(), seen.values().filter(|n| **n > 1).count())
}

fn sdk_loop(python: &Path, sandbox: &RunningSandbox, first: usize, count: usize) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(SDK_LOOP)
        .arg(sandbox.base_url())
        .arg(sandbox.client_id())
        .arg(sandbox.from_number())
        .arg(first.to_string())
        .arg(count.to_string())
        .env("HERALD_SANDBOX_CLIENT_SECRET", sandbox.client_secret())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// `unlimited HERALD ROWS [PYTHON]`: sends per second with no limit, herald versus the SDK
/// loop, each on a fresh sandbox.
fn unlimited(herald: &Path, rows: usize, python: Option<&Path>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = start_sandbox(&rt, None);
    let dir = tempfile::tempdir().unwrap();
    let env = genesys_env(&sandbox, dir.path(), 1_000_000);
    write_workspace(dir.path(), &env, rows);
    // `BENCH_LEDGER_SENDS=N`: the ledger already holds N sends of other campaigns (a bulk
    // fill), to see what apply's memory does with the ledger's size.
    if let Some(sends) = std::env::var("BENCH_LEDGER_SENDS")
        .ok()
        .map(|n| n.parse::<u64>().expect("BENCH_LEDGER_SENDS: a number"))
    {
        let key = LedgerKey::from_secret(LEDGER_KEY).unwrap();
        let path = dir.path().join(".herald/ledger-bench.db");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut ledger = SqliteLedger::open(&path, &key).unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        fill_sqlite(&mut ledger, &key, &FillSpec::new(sends, now - 3_600_000)).unwrap();
        println!("ledger_sends={sends}");
    }
    let wall = apply(herald, dir.path());
    let t = accepted_secs(&rt, &sandbox);
    let span = t.last().copied().unwrap_or(0.0).max(1e-3);
    println!("unlimited_rows={rows}");
    println!("herald_wall_seconds={:.2}", wall.as_secs_f64());
    println!("herald_sends_per_second={:.0}", t.len() as f64 / span);
    println!(
        "herald_sends_per_second_wall={:.0}",
        t.len() as f64 / wall.as_secs_f64()
    );
    rt.block_on(sandbox.shutdown());
    let Some(python) = python else { return };
    let sandbox = start_sandbox(&rt, None);
    let started = Instant::now();
    let out = sdk_loop(python, &sandbox, 0, rows).output().unwrap();
    assert!(out.status.success(), "SDK loop failed");
    let wall = started.elapsed();
    let t = accepted_secs(&rt, &sandbox);
    let span = t.last().copied().unwrap_or(0.0).max(1e-3);
    println!("sdk_wall_seconds={:.2}", wall.as_secs_f64());
    println!("sdk_sends_per_second={:.0}", t.len() as f64 / span);
    println!(
        "sdk_sends_per_second_wall={:.0}",
        t.len() as f64 / wall.as_secs_f64()
    );
    rt.block_on(sandbox.shutdown());
}

/// `sdk-limited PYTHON ROWS`: the SDK loop against a 300/min limit: 429s.
fn sdk_limited(python: &Path, rows: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = start_sandbox(&rt, Some(300));
    let out = sdk_loop(python, &sandbox, 0, rows).output().unwrap();
    assert!(out.status.success(), "SDK loop failed");
    let t = accepted_secs(&rt, &sandbox);
    println!("sdk_limited_rows={rows}");
    println!("sdk_limited_429={}", sandbox.answered_429());
    println!("sdk_limited_worst_60s_window={}", worst_window(&t));
    rt.block_on(sandbox.shutdown());
}

/// `sdk-crash PYTHON ROWS SHARE`: the SDK loop killed once SHARE (0–1) of the rows were
/// accepted, then rerun from the start (it keeps no state): duplicates.
fn sdk_crash(python: &Path, rows: usize, kill_after: f64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = start_sandbox(&rt, None);
    let mut child = sdk_loop(python, &sandbox, 0, rows)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the given share of the rows has been accepted.
    let target = (rows as f64 * kill_after) as usize;
    while rt.block_on(sandbox.messages()).unwrap().len() < target {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = rt.block_on(sandbox.messages()).unwrap().len();
    let out = sdk_loop(python, &sandbox, 0, rows).output().unwrap();
    assert!(out.status.success(), "SDK loop failed");
    let (total, dups) = duplicates(&rt, &sandbox);
    println!("sdk_crash_rows={rows}");
    println!("sdk_crash_sent_before_kill={before}");
    println!("sdk_crash_accepted_total={total}");
    println!("sdk_crash_duplicates={dups}");
    rt.block_on(sandbox.shutdown());
}

/// A `herald sandbox serve` child process and what its banner said.
struct Standalone {
    child: std::process::Child,
    base_url: String,
    client_id: String,
    client_secret: String,
    from_number: String,
}

impl Standalone {
    fn start(herald: &Path, limit: u32) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(herald)
            .args(["sandbox", "serve", "--port", "0", "--rate-limit"])
            .arg(limit.to_string())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut field = |prefix: &str| loop {
            let line = lines.next().expect("banner line").unwrap();
            if let Some(rest) = line.split_once(prefix).map(|(_, r)| r.trim().to_owned()) {
                return rest;
            }
        };
        let base_url = field("listening on ");
        let client_id = field("client_id:");
        let client_secret = field("client_secret:");
        let from_number = field("from_number:");
        Self {
            child,
            base_url,
            client_id,
            client_secret,
            from_number,
        }
    }

    fn get(&self, rt: &tokio::runtime::Runtime, path: &str) -> serde_json::Value {
        rt.block_on(async {
            reqwest::get(format!("{}/__sandbox{path}", self.base_url))
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }

    /// Accept instants (s since the first, sorted) and the stats.
    fn results(&self, rt: &tokio::runtime::Runtime) -> (Vec<f64>, serde_json::Value) {
        let messages = self.get(rt, "/messages");
        let mut t: Vec<i128> = messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["accepted_at"]
                    .as_str()
                    .unwrap()
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_nanosecond()
            })
            .collect();
        t.sort_unstable();
        let first = t.first().copied().unwrap_or(0);
        let secs = t.iter().map(|x| (x - first) as f64 / 1e9).collect();
        (secs, self.get(rt, "/stats"))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn report_standalone(prefix: &str, t: &[f64], stats: &serde_json::Value, secs: u64, limit: u32) {
    let horizon = secs as f64;
    let within = t.iter().filter(|x| **x < horizon).count();
    let per_second = within as f64 / horizon;
    println!("{prefix}_accepted_total={}", t.len());
    println!("{prefix}_accepted_in_{secs}s={within}");
    println!("{prefix}_sends_per_second={per_second:.2}");
    println!(
        "{prefix}_share_of_limit_percent={:.1}",
        per_second * 60.0 * 100.0 / f64::from(limit)
    );
    println!("{prefix}_429={}", stats["tooManyRequests"]);
    println!("{prefix}_requests={}", stats["requests"]);
    println!("{prefix}_max_admitted_in_60s={}", stats["maxAdmittedIn60s"]);
    println!("{prefix}_worst_60s_window={}", worst_window(t));
}

/// `rate-standalone HERALD SECS [PYTHON]`: herald apply, then the SDK loop, each against its
/// own `herald sandbox serve --rate-limit 300` process, measured over SECS seconds.
fn rate_standalone(herald: &Path, secs: u64, python: Option<&Path>) {
    let limit = 300u32;
    let rows = usize::try_from(secs * 5 + 50).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("standalone_limit={limit}");
    println!("standalone_rows={rows}");
    println!("standalone_horizon_seconds={secs}");

    let sb = Standalone::start(herald, limit);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("sandbox-secret");
    std::fs::write(&secret, &sb.client_secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = format!(
        "  bench:\n    target: genesys\n    base_url: {}\n    client_id: {}\n    secret_file: sandbox-secret\n    rate_per_minute: {limit}\n",
        sb.base_url, sb.client_id
    );
    write_workspace(dir.path(), &env, rows);
    let wall = apply(herald, dir.path());
    let (t, stats) = sb.results(&rt);
    println!("herald_standalone_wall_seconds={:.1}", wall.as_secs_f64());
    report_standalone("herald_standalone", &t, &stats, secs, limit);
    sb.stop();

    let Some(python) = python else { return };
    let sb = Standalone::start(herald, limit);
    let started = Instant::now();
    let out = Command::new(python)
        .arg(SDK_LOOP)
        .arg(&sb.base_url)
        .arg(&sb.client_id)
        .arg(&sb.from_number)
        .arg("0")
        .arg(rows.to_string())
        .env("HERALD_SANDBOX_CLIENT_SECRET", &sb.client_secret)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "SDK loop failed");
    let (t, stats) = sb.results(&rt);
    println!(
        "sdk_standalone_wall_seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    report_standalone("sdk_standalone", &t, &stats, secs, limit);
    sb.stop();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = |i: usize| PathBuf::from(&args[i]);
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    match args.first().map(String::as_str) {
        Some("plan-setup") => plan_setup(&path(1), false),
        Some("plan-setup-local") => plan_setup(&path(1), true),
        Some("plan-setup-scale") => plan_setup_scale(&path(1), num(2)),
        Some("rate") => rate(&path(1), num(2) as u64),
        Some("unlimited") => unlimited(&path(1), num(2), args.get(3).map(Path::new)),
        Some("sdk-limited") => sdk_limited(&path(1), num(2)),
        Some("rate-standalone") => {
            rate_standalone(&path(1), num(2) as u64, args.get(3).map(Path::new));
        }
        Some("sdk-crash") => sdk_crash(
            &path(1),
            num(2),
            args[3].parse().expect("a share between 0 and 1"),
        ),
        _ => {
            eprintln!(
                "usage: bench plan-setup DIR | plan-setup-local DIR | plan-setup-scale DIR ROWS | rate HERALD SECS | rate-standalone HERALD SECS [PYTHON] | unlimited HERALD ROWS [PYTHON] | sdk-limited PYTHON ROWS | sdk-crash PYTHON ROWS SHARE"
            );
            std::process::exit(2);
        }
    }
}
