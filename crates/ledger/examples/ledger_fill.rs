//! Benchmark helper: a ledger of a given size, and its size and verify cost.
//!
//! ```sh
//! cargo build --release -p herald-ledger --example ledger_fill
//! F=target/release/examples/ledger_fill
//! $F fill sqlite l.db 1000000                   # a new SQLite ledger with 1,000,000 sent rows
//! $F fill postgres "$URL" 1000000               # the same in a new PostgreSQL schema (URL's search_path)
//! $F fill sqlite l8.db 1000000 1000 v8          # what schema 8 held: image events, unsealed rows
//! $F open sqlite l8.db                          # time the first open: verify the images, seal
//! $F size sqlite l.db                           # bytes on disk, bytes per send, per table/index
//! $F size postgres "$URL"
//! /usr/bin/time -v $F verify sqlite l.db        # full verify: events, sends, seconds, sends/s
//! $F verify sqlite l.db record                  # … and record its head as verified
//! $F incremental sqlite l.db 1000               # 1,000 more sends as `apply` writes them, then
//!                                               # a timed verify from the recorded head
//! ```
//!
//! The key is fixed (`KEY` below; `HERALD_LEDGER_KEY` overrides it), so the ledgers it writes
//! open with `herald` under that key. See BENCHMARKS.md ("The ledger at scale").

#![allow(clippy::cast_precision_loss, reason = "rates and sizes for display")]

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use herald_ledger::synthetic::{FillSpec, fill_sent, fill_sqlite};
use herald_ledger::{
    Channel, Claim, DispatchHandle, Ledger, LedgerKey, NewRun, Outcome, OutcomeResult, Redo,
    SqliteLedger, mask_phone,
};

const KEY: &str = "09e8f43efacc007e0f594d642587925eff81c086398073b0f8c8fd93538ee713";

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("stdout");
}

fn key() -> LedgerKey {
    let secret = std::env::var("HERALD_LEDGER_KEY").unwrap_or_else(|_| KEY.to_owned());
    LedgerKey::from_secret(&secret).expect("a valid ledger key")
}

fn open(backend: &str, target: &str, k: &LedgerKey) -> Box<dyn Ledger> {
    match backend {
        "sqlite" => Box::new(SqliteLedger::open(Path::new(target), k).expect("open SQLite ledger")),
        #[cfg(feature = "postgres")]
        "postgres" => Box::new(
            herald_ledger::PostgresLedger::connect(target, k).expect("connect PostgreSQL ledger"),
        ),
        other => panic!("unknown backend {other}: sqlite or postgres"),
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Times an open (on a ledger filled with `v8`: the conversion to sealed rows).
fn open_timed(backend: &str, target: &str) {
    let k = key();
    let t = Instant::now();
    let ledger = open(backend, target, &k);
    let secs = t.elapsed().as_secs_f64();
    let events = ledger.events(0, usize::MAX).expect("events");
    out(&format!(
        "opened in {secs:.1} s; last event {}",
        events.last().map_or("none", |e| e.kind.as_str())
    ));
}

fn fill(backend: &str, target: &str, sends: u64, batch: Option<u64>, v8: bool) {
    let k = key();
    let t = Instant::now();
    let mut spec = FillSpec::new(sends, now_ms() - 86_400_000);
    if let Some(b) = batch {
        spec.batch = b;
    }
    spec.images = v8;
    let counts = if backend == "sqlite" {
        let mut l = SqliteLedger::open(Path::new(target), &k).expect("open SQLite ledger");
        let (counts, rows, indexes) = fill_sqlite(&mut l, &k, &spec).expect("fill");
        out(&format!("rows in {rows:.1} s, indexes in {indexes:.1} s"));
        counts
    } else {
        let mut l = open(backend, target, &k);
        fill_sent(l.as_mut(), &k, &spec).expect("fill")
    };
    if v8 {
        let sql = herald_ledger::synthetic::mark_unsealed_sql();
        mark_unsealed(backend, target, sql);
    }
    let secs = t.elapsed().as_secs_f64();
    out(&format!(
        "filled {sends} sends ({} events) in {secs:.1} s ({:.0} sends/s)",
        counts.get("events").copied().unwrap_or(0),
        sends as f64 / secs
    ));
}

fn verify(backend: &str, target: &str, record: bool) {
    let k = key();
    let mut ledger = open(backend, target, &k);
    let head = ledger.head().expect("head").expect("a head");
    let t = Instant::now();
    let report = ledger.verify().expect("verify");
    if record && report.ok {
        ledger
            .record_verified(&head)
            .expect("record the verified head");
    }
    let secs = t.elapsed().as_secs_f64();
    out(&format!(
        "verify ok={} events={} sends={} in {secs:.1} s ({:.0} sends/s)",
        report.ok,
        report.events_checked,
        report.sends_checked,
        report.sends_checked as f64 / secs
    ));
    assert!(report.ok, "verify failed: {:?}", report.first_broken);
}

/// Writes `new` sends the way `apply` does (claims and outcomes in batches of 100), then
/// times a verify from the recorded verified head.
fn incremental(backend: &str, target: &str, new: u64) {
    let k = key();
    let mut ledger = open(backend, target, &k);
    let mark = ledger
        .verified_head()
        .expect("verified head")
        .expect("no verified head: run `verify BACKEND TARGET record` first");
    if new > 0 {
        let run_id = format!("bench-incremental-{}", now_ms());
        ledger
            .begin_run(&NewRun {
                run_id: run_id.clone(),
                command: "apply".into(),
                user: "bench".into(),
                host: "bench".into(),
                git_commit: None,
                plan_hash: None,
            })
            .expect("begin run");
        let ids: Vec<u64> = (0..new).collect();
        for chunk in ids.chunks(100) {
            let claims: Vec<Claim> = chunk
                .iter()
                .map(|i| {
                    let phone = format!("+1555{:07}", 9_000_000 + i);
                    Claim {
                        row_key: format!("{run_id}-{i}"),
                        recipient: k.recipient_id(Channel::Sms, &phone),
                        masked: mask_phone(&phone),
                        channel: Channel::Sms,
                        template_hash: "sha256:bench".into(),
                        category: Some("marketing".into()),
                        caps: vec![],
                    }
                })
                .collect();
            ledger
                .claim_batch(&run_id, "bench-incremental", &claims, Redo::NONE)
                .expect("claim");
            let outcomes: Vec<Outcome> = claims
                .iter()
                .map(|c| Outcome {
                    campaign: "bench-incremental".into(),
                    row_key: c.row_key.clone(),
                    result: OutcomeResult::Sent {
                        handle: DispatchHandle::message(
                            format!("m-{}", c.row_key),
                            Some(format!("c-{}", c.row_key)),
                        ),
                    },
                })
                .collect();
            ledger
                .record_outcomes(&run_id, &outcomes)
                .expect("outcomes");
        }
        ledger.finish_run(&run_id, "ok").expect("finish run");
    }
    let t = Instant::now();
    let report = ledger.verify_since(&mark).expect("verify since");
    let secs = t.elapsed().as_secs_f64();
    out(&format!(
        "incremental verify from {mark} ok={} events={} sends={} in {secs:.2} s",
        report.ok, report.events_checked, report.sends_checked
    ));
    assert!(report.ok, "verify failed: {:?}", report.first_broken);
}

fn sends_of(ledger: &dyn Ledger) -> u64 {
    ledger
        .table_counts()
        .expect("counts")
        .get("sends")
        .copied()
        .unwrap_or(0)
}

fn size_sqlite(path: &str) {
    let k = key();
    let ledger = SqliteLedger::open(Path::new(path), &k).expect("open");
    let sends = sends_of(&ledger).max(1);
    let conn = ledger.connection();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    let bytes = std::fs::metadata(path).expect("file").len();
    out(&format!(
        "file {bytes} bytes, {sends} sends: {:.0} bytes/send",
        bytes as f64 / sends as f64
    ));
    let mut stmt = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .expect("dbstat (SQLite built with SQLITE_ENABLE_DBSTAT_VTAB)");
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("dbstat");
    for row in rows {
        let (name, size) = row.expect("row");
        out(&format!(
            "  {name:<32} {size:>14} bytes {:>8.1} bytes/send",
            size as f64 / sends as f64
        ));
    }
}

#[cfg(feature = "postgres")]
fn size_postgres(url: &str) {
    let k = key();
    let ledger = herald_ledger::PostgresLedger::connect(url, &k).expect("connect");
    let sends = sends_of(&ledger).max(1);
    let schema = ledger.schema().to_owned();
    ledger.with_client(|c| {
        c.batch_execute("VACUUM ANALYZE").expect("vacuum");
        let rows = c
            .query(
                "SELECT c.relname::text, pg_total_relation_size(c.oid)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 2 DESC",
                &[&schema],
            )
            .expect("sizes");
        let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
        out(&format!(
            "schema {schema}: {total} bytes (tables, indexes, TOAST), {sends} sends: {:.0} bytes/send",
            total as f64 / sends as f64
        ));
        for r in rows {
            let (name, size): (String, i64) = (r.get(0), r.get(1));
            out(&format!(
                "  {name:<32} {size:>14} bytes {:>8.1} bytes/send",
                size as f64 / sends as f64
            ));
        }
    });
}

/// Runs `sql` on the ledger directly (not through herald).
fn mark_unsealed(backend: &str, target: &str, sql: &str) {
    if backend == "sqlite" {
        rusqlite::Connection::open(target)
            .and_then(|c| c.execute_batch(sql))
            .expect("mark the ledger unsealed");
        return;
    }
    #[cfg(feature = "postgres")]
    {
        let mut c = postgres::Client::connect(target, postgres::NoTls).expect("connect");
        c.batch_execute(sql).expect("mark the ledger unsealed");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match (arg(0), arg(1)) {
        ("fill", backend) => fill(
            backend,
            arg(2),
            arg(3).replace('_', "").parse().expect("a number of sends"),
            args.get(4).map(|b| b.parse().expect("a batch size")),
            arg(5) == "v8",
        ),
        ("open", backend) => open_timed(backend, arg(2)),
        ("verify", backend) => verify(backend, arg(2), arg(3) == "record"),
        ("incremental", backend) => incremental(
            backend,
            arg(2),
            arg(3).replace('_', "").parse().unwrap_or(0),
        ),
        ("size", "sqlite") => size_sqlite(arg(2)),
        #[cfg(feature = "postgres")]
        ("size", "postgres") => size_postgres(arg(2)),
        _ => panic!(
            "usage: ledger_fill fill BACKEND TARGET SENDS [BATCH] | verify BACKEND TARGET [record] | incremental BACKEND TARGET [NEW] | size BACKEND TARGET"
        ),
    }
}
