//! Synthetic ledgers of a given size, for benchmarks (behind the `testing` feature).
//!
//! [`fill_sent`] writes `sends` rows already `sent` into a fresh ledger through
//! [`Ledger::import_raw`] (one transaction, a binary `COPY` on PostgreSQL), together with the
//! events `apply` would have appended for them: one run, then per batch a `sends_claimed` and
//! an `outcomes_recorded` event with the digest of the rows they wrote (see [`crate::seal`]),
//! linked under the ledger's chain key; every row carries its seal.
//! The result is indistinguishable from a ledger written by `apply` in batches of `batch`
//! (it verifies, its checkpoint is sealed by the import), but it is written without a claim
//! round trip per batch. Rows, recipients and ids are derived from the row number, so two
//! fills of the same size hold the same rows.
//!
//! Each row is computed once (one keyed recipient id, two seals), on a thread of its own while
//! the ledger writes the rows before it; conversations are written in key order (sorted by
//! recipient), so that no table is filled in random order.

use crate::Ledger;
use crate::chain::{ChainKey, Event, GENESIS, LinkRule, SendImage, event_hash};
use crate::codec::RawSend;
use crate::error::Result;
use crate::key::{Channel, LedgerKey, mask_phone};
use crate::model::{NewRun, SendState};
use crate::ops::SCHEMA_VERSION;
use crate::raw::{RawRow, RawSink, RawTable, RawValue, TableCounts};
use crate::seal::{RowsDigest, Seal, SealKey, V};

/// What [`fill_sent`] writes.
#[derive(Debug, Clone)]
pub struct FillSpec {
    /// Sends in all (every one `sent`).
    pub sends: u64,
    /// Sends per claim / outcome event (`apply` records up to its batch size per event).
    pub batch: u64,
    /// Sends per campaign (campaigns are `bench-0000`, `bench-0001`, …).
    pub per_campaign: u64,
    /// Unix ms of the first event; each batch is one ms later than the previous one.
    pub start_ms: i64,
    /// Write what a schema-10 ledger holds instead: events that carry every row's image and
    /// rows without seals (to test and time the conversion to sealed rows; the ledger must
    /// then be marked unconverted, see [`mark_unsealed_sql`]).
    pub images: bool,
    /// The campaign, row key and number of row `i` (default: [`bench_names`]). Rows are
    /// written in row order, fastest when that is `(campaign, row_key)` order.
    pub names: fn(&FillSpec, u64) -> RowNames,
}

/// Who row `i` of a fill was sent to, and for which campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowNames {
    /// The campaign.
    pub campaign: String,
    /// The row key in the campaign.
    pub row_key: String,
    /// The recipient's number (E.164).
    pub phone: String,
    /// Whether the send opened the recipient's conversation (it has a conversation id and a
    /// `conversations` row). At most one send per number may: a number sent to again is
    /// sent without one.
    pub conversation: bool,
}

/// The default names: campaign `bench-NNNN` per `per_campaign` rows, row key `cust-` and the
/// row number, number `+1555` and seven digits (`+44770…` past ten million), each its own.
pub fn bench_names(spec: &FillSpec, i: u64) -> RowNames {
    let phone = if i < 10_000_000 {
        format!("+1555{i:07}")
    } else {
        format!("+44770{i:07}")
    };
    RowNames {
        campaign: format!("bench-{:04}", i / spec.per_campaign.max(1)),
        row_key: format!("cust-{i:010}"),
        phone,
        conversation: true,
    }
}

impl FillSpec {
    /// `sends` rows in batches of 1,000, a million per campaign, starting at `start_ms`.
    pub fn new(sends: u64, start_ms: i64) -> FillSpec {
        FillSpec {
            sends,
            batch: 1_000,
            per_campaign: 1_000_000,
            start_ms,
            images: false,
            names: bench_names,
        }
    }
}

const RUN_ID: &str = "20260101T000000Z-apply-5eed0000";
const TEMPLATE: &str = "sha256:9f2c1e0d4b7a6c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

/// Row `i` as its outcome left it (`sent`), sealed with `seq`.
fn sent_row(key: &LedgerKey, spec: &FillSpec, i: u64, seq: i64) -> RawSend {
    let names = (spec.names)(spec, i);
    let id = uuid::Uuid::from_u64_pair(0x4e7a_11ce_0000_4000, i);
    let conv = uuid::Uuid::from_u64_pair(0xc0_4e55_0000_4000, i);
    let (claim, outcome) = times(spec, i / spec.batch.max(1));
    RawSend {
        campaign: names.campaign,
        row_key: names.row_key,
        recipient: key
            .recipient_id(Channel::Sms, &names.phone)
            .as_str()
            .to_owned(),
        masked: mask_phone(&names.phone),
        channel: Channel::Sms.as_str().to_owned(),
        template_hash: TEMPLATE.to_owned(),
        state: SendState::Sent.as_str().to_owned(),
        attempts: 1,
        next_attempt_at: None,
        message_id: Some(id.to_string()),
        conversation_id: names.conversation.then(|| conv.to_string()),
        error_code: None,
        note: None,
        run_id: Some(RUN_ID.to_owned()),
        created_at: claim,
        dispatched_at: Some(claim),
        updated_at: outcome,
        receipt_status: None,
        receipt_at: None,
        category: Some("marketing".to_owned()),
        seq: Some(seq),
    }
}

/// The same row after its claim (`dispatching`), sealed with `seq`.
fn claimed_row(sent: &RawSend, seq: i64) -> RawSend {
    RawSend {
        campaign: sent.campaign.clone(),
        row_key: sent.row_key.clone(),
        recipient: sent.recipient.clone(),
        masked: sent.masked.clone(),
        channel: sent.channel.clone(),
        template_hash: sent.template_hash.clone(),
        state: SendState::Dispatching.as_str().to_owned(),
        attempts: sent.attempts,
        next_attempt_at: sent.next_attempt_at,
        message_id: None,
        conversation_id: None,
        error_code: None,
        note: None,
        run_id: sent.run_id.clone(),
        created_at: sent.created_at,
        dispatched_at: sent.dispatched_at,
        updated_at: sent.created_at,
        receipt_status: None,
        receipt_at: None,
        category: sent.category.clone(),
        seq: Some(seq),
    }
}

/// Row `i` after its claim (`dispatching`) or its outcome (`sent`), sealed with `seq`.
fn send_row(key: &LedgerKey, spec: &FillSpec, i: u64, sent: bool, seq: i64) -> RawSend {
    let row = sent_row(key, spec, i, seq);
    if sent { row } else { claimed_row(&row, seq) }
}

/// The statements that make a ledger filled with [`FillSpec::images`] what a schema-10
/// ledger is: the rows' mark removed, so the next open with the key verifies the images and
/// seals the rows. (The seal columns stay, empty: what migration 0011 adds.)
pub fn mark_unsealed_sql() -> &'static str {
    "DELETE FROM meta WHERE key = 'rows'"
}

fn image_of(row: &RawSend) -> SendImage {
    SendImage {
        campaign: row.campaign.clone(),
        row_key: row.row_key.clone(),
        recipient: crate::key::RecipientId::from_hex(&row.recipient).expect("a recipient id"),
        masked: row.masked.clone(),
        channel: Channel::Sms,
        template_hash: row.template_hash.clone(),
        state: SendState::parse(&row.state).expect("a state"),
        attempts: 1,
        next_attempt_at: None,
        message_id: row.message_id.clone(),
        conversation_id: row.conversation_id.clone(),
        error_code: None,
        note: None,
        category: row.category.clone(),
    }
}

/// Event numbers of batch `b`'s claim and outcome (1 is the creation, 2 the run's start).
fn seqs(b: u64) -> (i64, i64) {
    let claim = 3 + 2 * i64::try_from(b).unwrap_or(i64::MAX / 4);
    (claim, claim + 1)
}

fn sealed(seal: &SealKey, table: RawTable, values: &[V<'_>]) -> (Seal, Vec<RawValue>) {
    let s = seal.seal(table, values);
    let mut out: Vec<RawValue> = values
        .iter()
        .map(|v| match v {
            V::Null => RawValue::Null,
            V::Int(n) => RawValue::Int(*n),
            V::Text(t) => text(t),
        })
        .collect();
    out.push(RawValue::Int(s.mac));
    out.push(RawValue::Int(s.tags));
    (s, out)
}

/// Wrapping MAC sums of one batch: its rows as claimed, as sent, and their conversations.
#[derive(Default, Clone, Copy)]
struct Sums {
    claimed: u64,
    sent: u64,
    convs: u64,
    /// Conversations the batch opened.
    conv_n: u64,
}

/// Rows per message from the thread that computes them to the one that writes them.
const CHUNK: usize = 4_096;

/// Writes every `sends` row, then every `conversations` row (in key order), into `sink`,
/// computing them on a second thread; returns each batch's MAC sums.
fn write_rows(
    key: &LedgerKey,
    spec: &FillSpec,
    seal: &SealKey,
    batches: u64,
    sink: &mut RawSink<'_>,
) -> Result<Vec<Sums>> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawRow>>(8);
        let producer = scope.spawn(move || make_rows(key, spec, seal, batches, &tx));
        let mut written = Ok(());
        'chunks: for chunk in &rx {
            for row in chunk {
                written = sink(row);
                if written.is_err() {
                    break 'chunks;
                }
            }
        }
        // A failed write stops the producer at its next chunk.
        drop(rx);
        let sums = producer.join().expect("the row producer panicked");
        written.map(|()| sums)
    })
}

/// Computes the rows [`write_rows`] writes and sends them in chunks to `tx` (stops early when
/// the writer is gone).
fn make_rows(
    key: &LedgerKey,
    spec: &FillSpec,
    seal: &SealKey,
    batches: u64,
    tx: &std::sync::mpsc::SyncSender<Vec<RawRow>>,
) -> Vec<Sums> {
    let batch = spec.batch.max(1);
    let mut sums = vec![Sums::default(); usize::try_from(batches).unwrap_or(0)];
    // The conversations to write: recipient and row, sorted by recipient after the sends.
    let mut convs: Vec<([u8; 32], u64)> = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<RawRow>| {
        let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
        tx.send(full).is_ok()
    };
    for i in 0..spec.sends {
        let b = i / batch;
        let (claim_seq, outcome_seq) = seqs(b);
        let row = sent_row(key, spec, i, outcome_seq);
        let claimed = claimed_row(&row, claim_seq);
        let sum = &mut sums[usize::try_from(b).unwrap_or(0)];
        let mac = seal.mac(RawTable::Sends, &claimed.sealed_values(claimed.seq));
        sum.claimed = sum.claimed.wrapping_add(mac.cast_unsigned());
        let (s, mut values) = sealed(seal, RawTable::Sends, &row.sealed_values(row.seq));
        sum.sent = sum.sent.wrapping_add(s.mac.cast_unsigned());
        if spec.images {
            let n = values.len();
            for v in &mut values[n - 3..] {
                *v = RawValue::Null;
            }
        }
        if row.conversation_id.is_some() {
            let id = crate::key::recipient_bytes(&row.recipient).expect("a recipient id");
            convs.push((id, i));
        }
        chunk.push(RawRow {
            table: RawTable::Sends,
            values,
        });
        if chunk.len() == CHUNK && !flush(&mut chunk) {
            return sums;
        }
    }
    convs.sort_unstable();
    for (id, i) in convs {
        let b = i / batch;
        let (_, outcome_seq) = seqs(b);
        let recipient = hex::encode(id);
        let conversation = uuid::Uuid::from_u64_pair(0xc0_4e55_0000_4000, i).to_string();
        let conv = [
            V::Text(&recipient),
            V::Text(Channel::Sms.as_str()),
            V::Text(&conversation),
            V::Int(times(spec, b).1),
            V::Int(outcome_seq),
        ];
        let (s, mut values) = sealed(seal, RawTable::Conversations, &conv);
        if spec.images {
            let n = values.len();
            for v in &mut values[n - 3..] {
                *v = RawValue::Null;
            }
        }
        let sum = &mut sums[usize::try_from(b).unwrap_or(0)];
        sum.convs = sum.convs.wrapping_add(s.mac.cast_unsigned());
        sum.conv_n += 1;
        chunk.push(RawRow {
            table: RawTable::Conversations,
            values,
        });
        if chunk.len() == CHUNK && !flush(&mut chunk) {
            return sums;
        }
    }
    flush(&mut chunk);
    sums
}

fn text(s: &str) -> RawValue {
    RawValue::Text(s.to_owned())
}

fn otext(s: Option<&String>) -> RawValue {
    s.map_or(RawValue::Null, |s| text(s))
}

/// Claim and outcome times of batch `b`.
fn times(spec: &FillSpec, b: u64) -> (i64, i64) {
    let claim = spec.start_ms + 1 + 2 * i64::try_from(b).unwrap_or(i64::MAX / 4);
    (claim, claim + 1)
}

/// Appends events to a chain being written.
struct Chain<'k> {
    key: &'k ChainKey,
    seq: u64,
    prev: String,
}

impl Chain<'_> {
    fn row(&mut self, at: i64, event: &Event) -> RawRow {
        self.seq += 1;
        let payload = event.to_payload();
        let hash = event_hash(
            LinkRule::Keyed(self.key),
            &self.prev,
            self.seq,
            at,
            &payload,
        );
        let prev = std::mem::replace(&mut self.prev, hash.clone());
        RawRow {
            table: RawTable::Events,
            values: vec![
                RawValue::Int(i64::try_from(self.seq).unwrap_or(i64::MAX)),
                RawValue::Int(at),
                text(event.kind()),
                RawValue::Text(payload),
                RawValue::Text(prev),
                RawValue::Text(hash),
            ],
        }
    }
}

/// [`fill_sent`] into a fresh SQLite ledger loaded as a throwaway file: no rollback journal and
/// no syncs while it is written (a failure leaves a file to delete, not a ledger), a 1 GiB
/// page cache, and the secondary indexes keyed by recipient (see [`random_order`]) built once
/// the rows are in (by sorting) instead of filled row by row in random order; the others grow
/// in order with the rows, which is cheaper than a build. The ledger is back in
/// WAL mode, with every index, when this returns. Returns the rows written per table and the
/// seconds spent on the rows and on the indexes.
///
/// # Errors
/// As [`fill_sent`], and any failure of the settings or of an index build.
pub fn fill_sqlite(
    ledger: &mut crate::SqliteLedger,
    key: &LedgerKey,
    spec: &FillSpec,
) -> Result<(TableCounts, f64, f64)> {
    let t = std::time::Instant::now();
    let conn = ledger.connection();
    let mode: String = conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0))?;
    if mode != "off" {
        return Err(crate::LedgerError::Corrupt(format!(
            "journal mode stayed {mode}"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; PRAGMA threads = 2",
    )?;
    let indexes: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('sends', 'conversations')",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?
        .into_iter()
        .filter(|(_, sql)| random_order(sql))
        .collect();
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    let counts = fill_sent(ledger, key, spec)?;
    let rows = t.elapsed().as_secs_f64();
    let conn = ledger.connection();
    for (_, sql) in &indexes {
        conn.execute_batch(sql)?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if mode != "wal" {
        return Err(crate::LedgerError::Corrupt(format!(
            "journal mode stayed {mode}"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -2000")?;
    Ok((counts, rows, t.elapsed().as_secs_f64() - rows))
}

/// Whether the index `CREATE INDEX …` statement `sql` leads with the recipient (or with the
/// campaign and then the recipient): a keyed, random order, in which a bulk load would
/// touch a random page of the index for every row.
fn random_order(sql: &str) -> bool {
    let Some(columns) = sql
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
    else {
        return false;
    };
    let columns: Vec<&str> = columns.0.split(',').map(str::trim).collect();
    columns.iter().take(2).any(|c| *c == "recipient")
}

/// Writes `spec.sends` sent rows and their events into `ledger`, which must be fresh and
/// opened with `key`. Returns the rows written per table.
pub fn fill_sent(ledger: &mut dyn Ledger, key: &LedgerKey, spec: &FillSpec) -> Result<TableCounts> {
    let chain_key = ChainKey::derive(key);
    let batch = spec.batch.max(1);
    let batches = spec.sends.div_ceil(batch);
    let run = NewRun {
        run_id: RUN_ID.to_owned(),
        command: "apply".to_owned(),
        user: "bench".to_owned(),
        host: "bench".to_owned(),
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        plan_hash: None,
    };
    let end_ms = times(spec, batches).0;
    ledger.import_raw(&mut |sink: &mut RawSink<'_>| {
        sink(RawRow {
            table: RawTable::Runs,
            values: vec![
                text(&run.run_id),
                text(&run.command),
                text(&run.user),
                text(&run.host),
                otext(run.git_commit.as_ref()),
                RawValue::Null,
                RawValue::Int(spec.start_ms),
                RawValue::Int(end_ms),
                text("ok"),
            ],
        })?;
        let seal = SealKey::derive(&chain_key);
        let sums = write_rows(key, spec, &seal, batches, sink)?;
        let mut chain = Chain {
            key: &chain_key,
            seq: 0,
            prev: GENESIS.to_owned(),
        };
        let created = Event::LedgerCreated {
            key_fingerprint: key.fingerprint(),
            schema_version: if spec.images { 8 } else { SCHEMA_VERSION },
        };
        sink(chain.row(spec.start_ms, &created))?;
        sink(chain.row(spec.start_ms, &Event::RunStarted { run: run.clone() }))?;
        for b in 0..batches {
            let n = ((b + 1) * batch).min(spec.sends) - b * batch;
            let (claim, outcome) = times(spec, b);
            let (claim_seq, _) = seqs(b);
            let sum = sums[usize::try_from(b).unwrap_or(0)];
            if spec.images {
                let rows = b * batch..((b + 1) * batch).min(spec.sends);
                let (c, o) = seqs(b);
                let claimed = Event::SendsClaimed {
                    run_id: RUN_ID.to_owned(),
                    rows: rows
                        .clone()
                        .map(|i| image_of(&send_row(key, spec, i, false, c)))
                        .collect(),
                    digest: None,
                };
                sink(chain.row(claim, &claimed))?;
                let recorded = Event::OutcomesRecorded {
                    run_id: RUN_ID.to_owned(),
                    rows: rows
                        .map(|i| image_of(&send_row(key, spec, i, true, o)))
                        .collect(),
                    digest: None,
                    conversations: None,
                };
                sink(chain.row(outcome, &recorded))?;
                continue;
            }
            let claimed = Event::SendsClaimed {
                run_id: RUN_ID.to_owned(),
                rows: Vec::new(),
                digest: Some(RowsDigest {
                    n,
                    sum: sum.claimed,
                    prev: Vec::new(),
                }),
            };
            sink(chain.row(claim, &claimed))?;
            let recorded = Event::OutcomesRecorded {
                run_id: RUN_ID.to_owned(),
                rows: Vec::new(),
                digest: Some(RowsDigest {
                    n,
                    sum: sum.sent,
                    prev: vec![[claim_seq.cast_unsigned(), n, sum.claimed]],
                }),
                conversations: (sum.conv_n > 0).then(|| RowsDigest {
                    n: sum.conv_n,
                    sum: sum.convs,
                    prev: Vec::new(),
                }),
            };
            sink(chain.row(outcome, &recorded))?;
        }
        let finished = Event::RunFinished {
            run_id: RUN_ID.to_owned(),
            outcome: "ok".to_owned(),
        };
        sink(chain.row(end_ms, &finished))
    })
}
