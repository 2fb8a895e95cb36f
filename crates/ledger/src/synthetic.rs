//! Synthetic ledgers of a given size, for benchmarks (behind the `testing` feature).
//!
//! [`fill_sent`] writes `sends` rows already `sent` into a fresh ledger through
//! [`Ledger::import_raw`] (one transaction, a binary `COPY` on PostgreSQL), together with the
//! events `apply` would have appended for them: one run, then per batch a `sends_claimed` and
//! an `outcomes_recorded` event with the rows' images, linked under the ledger's chain key.
//! The result is indistinguishable from a ledger written by `apply` in batches of `batch`
//! (it verifies, its checkpoint is sealed by the import), but it is written without a claim
//! round trip per batch. Rows, recipients and ids are derived from the row number, so two
//! fills of the same size hold the same rows.

use crate::Ledger;
use crate::chain::{ChainKey, Event, GENESIS, LinkRule, SendImage, event_hash};
use crate::error::Result;
use crate::key::{Channel, LedgerKey, mask_phone};
use crate::model::{NewRun, SendState};
use crate::ops::SCHEMA_VERSION;
use crate::raw::{RawRow, RawSink, RawTable, RawValue, TableCounts};

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
}

impl FillSpec {
    /// `sends` rows in batches of 1,000, a million per campaign, starting at `start_ms`.
    pub fn new(sends: u64, start_ms: i64) -> FillSpec {
        FillSpec {
            sends,
            batch: 1_000,
            per_campaign: 1_000_000,
            start_ms,
        }
    }
}

const RUN_ID: &str = "20260101T000000Z-apply-5eed0000";
const TEMPLATE: &str = "sha256:9f2c1e0d4b7a6c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

/// The send image of row `i` after its claim (`dispatching`) or its outcome (`sent`).
fn image(key: &LedgerKey, spec: &FillSpec, i: u64, sent: bool) -> SendImage {
    let phone = format!("+1555{:07}", i % 10_000_000);
    let phone = if i < 10_000_000 {
        phone
    } else {
        format!("+44770{i:07}")
    };
    let id = uuid::Uuid::from_u64_pair(0x4e7a_11ce_0000_4000, i);
    let conv = uuid::Uuid::from_u64_pair(0xc0_4e55_0000_4000, i);
    SendImage {
        campaign: format!("bench-{:04}", i / spec.per_campaign.max(1)),
        row_key: format!("cust-{i:010}"),
        recipient: key.recipient_id(Channel::Sms, &phone),
        masked: mask_phone(&phone),
        channel: Channel::Sms,
        template_hash: TEMPLATE.to_owned(),
        state: if sent {
            SendState::Sent
        } else {
            SendState::Dispatching
        },
        attempts: 1,
        next_attempt_at: None,
        message_id: sent.then(|| id.to_string()),
        conversation_id: sent.then(|| conv.to_string()),
        error_code: None,
        note: None,
        category: Some("marketing".to_owned()),
    }
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
        for i in 0..spec.sends {
            let img = image(key, spec, i, true);
            let (claim, outcome) = times(spec, i / batch);
            sink(RawRow {
                table: RawTable::Sends,
                values: vec![
                    RawValue::Text(img.campaign),
                    RawValue::Text(img.row_key),
                    text(img.recipient.as_str()),
                    RawValue::Text(img.masked),
                    text(img.channel.as_str()),
                    RawValue::Text(img.template_hash),
                    text(img.state.as_str()),
                    RawValue::Int(i64::from(img.attempts)),
                    RawValue::Null,
                    otext(img.message_id.as_ref()),
                    otext(img.conversation_id.as_ref()),
                    RawValue::Null,
                    RawValue::Null,
                    text(RUN_ID),
                    RawValue::Int(claim),
                    RawValue::Int(claim),
                    RawValue::Int(outcome),
                    RawValue::Null,
                    RawValue::Null,
                    otext(img.category.as_ref()),
                ],
            })?;
        }
        for i in 0..spec.sends {
            let img = image(key, spec, i, true);
            let (_, outcome) = times(spec, i / batch);
            sink(RawRow {
                table: RawTable::Conversations,
                values: vec![
                    text(img.recipient.as_str()),
                    text(img.channel.as_str()),
                    otext(img.conversation_id.as_ref()),
                    RawValue::Int(outcome),
                ],
            })?;
        }
        let mut chain = Chain {
            key: &chain_key,
            seq: 0,
            prev: GENESIS.to_owned(),
        };
        let created = Event::LedgerCreated {
            key_fingerprint: key.fingerprint(),
            schema_version: SCHEMA_VERSION,
        };
        sink(chain.row(spec.start_ms, &created))?;
        sink(chain.row(spec.start_ms, &Event::RunStarted { run: run.clone() }))?;
        for b in 0..batches {
            let rows = b * batch..((b + 1) * batch).min(spec.sends);
            let (claim, outcome) = times(spec, b);
            let claimed = Event::SendsClaimed {
                run_id: RUN_ID.to_owned(),
                rows: rows.clone().map(|i| image(key, spec, i, false)).collect(),
            };
            sink(chain.row(claim, &claimed))?;
            let recorded = Event::OutcomesRecorded {
                run_id: RUN_ID.to_owned(),
                rows: rows.map(|i| image(key, spec, i, true)).collect(),
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
