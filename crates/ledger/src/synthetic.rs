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
        }
    }
}

const RUN_ID: &str = "20260101T000000Z-apply-5eed0000";
const TEMPLATE: &str = "sha256:9f2c1e0d4b7a6c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

/// Row `i` after its claim (`dispatching`) or its outcome (`sent`), sealed with `seq`.
fn send_row(key: &LedgerKey, spec: &FillSpec, i: u64, sent: bool, seq: i64) -> RawSend {
    let phone = format!("+1555{:07}", i % 10_000_000);
    let phone = if i < 10_000_000 {
        phone
    } else {
        format!("+44770{i:07}")
    };
    let id = uuid::Uuid::from_u64_pair(0x4e7a_11ce_0000_4000, i);
    let conv = uuid::Uuid::from_u64_pair(0xc0_4e55_0000_4000, i);
    let (claim, outcome) = times(spec, i / spec.batch.max(1));
    RawSend {
        campaign: format!("bench-{:04}", i / spec.per_campaign.max(1)),
        row_key: format!("cust-{i:010}"),
        recipient: key.recipient_id(Channel::Sms, &phone).as_str().to_owned(),
        masked: mask_phone(&phone),
        channel: Channel::Sms.as_str().to_owned(),
        template_hash: TEMPLATE.to_owned(),
        state: if sent {
            SendState::Sent
        } else {
            SendState::Dispatching
        }
        .as_str()
        .to_owned(),
        attempts: 1,
        next_attempt_at: None,
        message_id: sent.then(|| id.to_string()),
        conversation_id: sent.then(|| conv.to_string()),
        error_code: None,
        note: None,
        run_id: Some(RUN_ID.to_owned()),
        created_at: claim,
        dispatched_at: Some(claim),
        updated_at: if sent { outcome } else { claim },
        receipt_status: None,
        receipt_at: None,
        category: Some("marketing".to_owned()),
        seq: Some(seq),
    }
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
        let mut sums = vec![Sums::default(); usize::try_from(batches).unwrap_or(0)];
        for i in 0..spec.sends {
            let b = i / batch;
            let (claim_seq, outcome_seq) = seqs(b);
            let claimed = send_row(key, spec, i, false, claim_seq);
            let sum = &mut sums[usize::try_from(b).unwrap_or(0)];
            let mac = seal.mac(RawTable::Sends, &claimed.sealed_values(claimed.seq));
            sum.claimed = sum.claimed.wrapping_add(mac.cast_unsigned());
            let row = send_row(key, spec, i, true, outcome_seq);
            let (s, mut values) = sealed(&seal, RawTable::Sends, &row.sealed_values(row.seq));
            sum.sent = sum.sent.wrapping_add(s.mac.cast_unsigned());
            if spec.images {
                let n = values.len();
                for v in &mut values[n - 3..] {
                    *v = RawValue::Null;
                }
            }
            sink(RawRow {
                table: RawTable::Sends,
                values,
            })?;
        }
        for i in 0..spec.sends {
            let b = i / batch;
            let (_, outcome_seq) = seqs(b);
            let row = send_row(key, spec, i, true, outcome_seq);
            let conv = [
                V::Text(&row.recipient),
                V::Text(&row.channel),
                V::from(row.conversation_id.as_deref()),
                V::Int(row.updated_at),
                V::Int(outcome_seq),
            ];
            let (s, mut values) = sealed(&seal, RawTable::Conversations, &conv);
            if spec.images {
                let n = values.len();
                for v in &mut values[n - 3..] {
                    *v = RawValue::Null;
                }
            }
            let sum = &mut sums[usize::try_from(b).unwrap_or(0)];
            sum.convs = sum.convs.wrapping_add(s.mac.cast_unsigned());
            sink(RawRow {
                table: RawTable::Conversations,
                values,
            })?;
        }
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
                conversations: Some(RowsDigest {
                    n,
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
