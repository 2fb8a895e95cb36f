//! Reading a ledger whole: verify (the chain's links, then a replay of the events against
//! every table, one replay function per table), table counts, and what the raw copy between
//! backends needs (import target check, `meta` import, raw rows as parameters).

use std::collections::{BTreeMap, HashMap};

use crate::chain::{ChainCheck, Event, LinkRule, StoredEvent, SuppressionImage};
use crate::codec::{corrupt, count, scope_str};
use crate::compact::{BigReplay, Seeds, each_event, keys_per_pass};
use crate::error::{LedgerError, Result};
use crate::model::{BrokenLink, InboundAction, SendState, SuppressionAction, VerifyReport};
use crate::raw::{RawKind, RawRow, RawTable, RawValue, TableCounts, check_fresh};
use crate::seal::{Groups, SealKey, check_table};
use crate::store::{Cells, Db, Val, p};

/// Checks the chain and compares every row of every table with it, from one snapshot.
///
/// The tables that grow with every send (`sends`, `conversations`) are checked against the
/// digests their events carry ([`crate::seal`]): one stream of each table, memory one entry
/// per event. The other tables are replayed column by column.
pub(crate) fn verify_in(db: &mut dyn Db) -> Result<VerifyReport> {
    let key = db.chain_key().clone();
    let mut chain = ChainCheck::new(LinkRule::Keyed(&key));
    let mut replay = TableReplay::new();
    let mut digests = Digests::new(0);
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            if chain.ok() {
                let ev = stored_event(r)?;
                if let Some(event) = chain.feed(&ev) {
                    replay.apply(ev.seq, ev.at_ms, &event);
                    digests.apply(ev.seq, &event);
                }
            }
            Ok(())
        },
    )?;
    let events = chain.events();
    if let Some(broken) = chain.into_broken() {
        return Ok(VerifyReport {
            ok: false,
            events_checked: events,
            sends_checked: 0,
            suppressions_checked: 0,
            first_broken: Some(broken),
        });
    }
    let mut broken_in: HashMap<RawTable, BrokenLink> = HashMap::new();
    let mut checked: HashMap<RawTable, u64> = HashMap::new();
    for table in RawTable::ALL {
        let Some(expected) = replay.tables.remove(&table) else {
            continue;
        };
        let (rows, broken) = compare_table(db, table, expected)?;
        checked.insert(table, rows);
        if let Some(broken) = broken {
            broken_in.insert(table, broken);
        }
    }
    for (table, rows, broken) in digests.check(db)? {
        checked.insert(table, rows);
        if let Some(broken) = broken {
            broken_in.insert(table, broken);
        }
    }
    let first_broken = RawTable::ALL.iter().find_map(|t| broken_in.remove(t));
    Ok(VerifyReport {
        ok: first_broken.is_none(),
        events_checked: events,
        sends_checked: checked.get(&RawTable::Sends).copied().unwrap_or(0),
        suppressions_checked: checked.get(&RawTable::Suppressions).copied().unwrap_or(0),
        first_broken,
    })
}

fn compare_table(
    db: &mut dyn Db,
    table: RawTable,
    expected: TableState,
) -> Result<(u64, Option<BrokenLink>)> {
    let mut cmp = Compare::new(table, expected);
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        table.select_list(),
        table.name(),
        table.order_by()
    );
    db.each(&sql, &[], &mut |r| {
        let values = raw_values(table, r)?;
        cmp.row(&values);
        Ok(())
    })?;
    let rows = cmp.rows;
    Ok((rows, cmp.finish()))
}

/// The digests of `sends` and `conversations` rows the events carry, folded in `seq` order,
/// and the check of both tables against them (see [`crate::seal`]).
pub(crate) struct Digests {
    sends: Groups,
    convs: Groups,
    /// The last event that carried row images (written before schema 11), and the last
    /// `rows_sealed` event: images after the last seal were never sealed.
    last_images: Option<u64>,
    last_sealed: Option<u64>,
}

impl Digests {
    /// Digests of the events after `after` (0: all).
    pub(crate) fn new(after: u64) -> Digests {
        Digests {
            sends: Groups::after(after),
            convs: Groups::after(after),
            last_images: None,
            last_sealed: None,
        }
    }

    pub(crate) fn apply(&mut self, seq: u64, event: &Event) {
        let kind = event.kind();
        let (rows, sends, convs) = match event {
            Event::SendsClaimed { rows, digest, .. }
            | Event::DispatchingRecovered { rows, digest } => (!rows.is_empty(), digest, &None),
            Event::OutcomesRecorded {
                rows,
                digest,
                conversations,
                ..
            }
            | Event::UnknownResolved {
                rows,
                digest,
                conversations,
                ..
            } => (!rows.is_empty(), digest, conversations),
            Event::ReceiptRecorded { digest, .. } => (false, digest, &None),
            Event::Archived { sends, .. } => {
                self.sends.apply(seq, kind, sends);
                return;
            }
            Event::RowsSealed {
                sends,
                conversations,
            } => {
                self.last_sealed = Some(seq);
                self.sends.apply(seq, kind, sends);
                self.convs.apply(seq, kind, conversations);
                return;
            }
            _ => return,
        };
        if rows {
            self.last_images = Some(seq);
        }
        if let Some(d) = sends {
            self.sends.apply(seq, kind, d);
        }
        if let Some(d) = convs {
            self.convs.apply(seq, kind, d);
        }
    }

    /// Streams both tables against the digests: `(table, rows checked, first problem)`.
    pub(crate) fn check(
        mut self,
        db: &mut dyn Db,
    ) -> Result<Vec<(RawTable, u64, Option<BrokenLink>)>> {
        if let Some(seq) = self.last_images
            && self.last_sealed.is_none_or(|s| s < seq)
        {
            let broken = BrokenLink {
                seq: Some(seq),
                reason: format!(
                    "table `sends`: event #{seq} carries row images that no `rows_sealed` event \
                     sealed: the ledger was not converted by herald"
                ),
            };
            return Ok(vec![(RawTable::Sends, 0, Some(broken))]);
        }
        let key = SealKey::derive(db.chain_key());
        let (n_sends, sends) = check_table(db, &key, RawTable::Sends, &mut self.sends)?;
        let (n_convs, convs) = check_table(db, &key, RawTable::Conversations, &mut self.convs)?;
        Ok(vec![
            (RawTable::Sends, n_sends, sends),
            (RawTable::Conversations, n_convs, convs),
        ])
    }
}

/// The verify of a ledger written before schema 11, whose events carry every send's image:
/// the same checks, with `sends` and `conversations` replayed from the images
/// ([`crate::compact`], in bounded passes). Run once, when such a ledger is converted.
pub(crate) fn verify_images_in(db: &mut dyn Db) -> Result<VerifyReport> {
    let key = db.chain_key().clone();
    let (n_sends, n_convs) = db
        .row(
            "SELECT (SELECT COUNT(*) FROM sends), (SELECT COUNT(*) FROM conversations)",
            &[],
            |r| Ok((count(r.i(0)?), count(r.i(1)?))),
        )?
        .unwrap_or_default();
    let passes = n_sends.max(n_convs).div_ceil(keys_per_pass()).max(1);
    let seeds = Seeds::new();
    let mut big = BigReplay::new(&seeds, 0, passes, n_sends, n_convs);
    let mut chain = ChainCheck::new(LinkRule::Keyed(&key));
    let mut replay = TableReplay::new();
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            if chain.ok() {
                let ev = stored_event(r)?;
                if let Some(event) = chain.feed(&ev) {
                    replay.apply(ev.seq, ev.at_ms, &event);
                    big.apply(ev.seq, ev.at_ms, &event);
                }
            }
            Ok(())
        },
    )?;
    let events = chain.events();
    if let Some(broken) = chain.into_broken() {
        return Ok(VerifyReport {
            ok: false,
            events_checked: events,
            sends_checked: 0,
            suppressions_checked: 0,
            first_broken: Some(broken),
        });
    }
    let mut broken_in: HashMap<RawTable, BrokenLink> = HashMap::new();
    let mut checked: HashMap<RawTable, u64> = HashMap::new();
    for table in RawTable::ALL {
        let Some(expected) = replay.tables.remove(&table) else {
            continue;
        };
        let mut cmp = Compare::new(table, expected);
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            table.select_list(),
            table.name(),
            table.order_by()
        );
        db.each(&sql, &[], &mut |r| {
            let values = raw_values(table, r)?;
            cmp.row(&values);
            Ok(())
        })?;
        checked.insert(table, cmp.rows);
        if let Some(broken) = cmp.finish() {
            broken_in.insert(table, broken);
        }
    }
    // Each pass checks its share of both tables; a table already found broken is not
    // checked again, so the first broken table in `RawTable::ALL` order is the one reported.
    for part in 0..passes {
        let big_tables = [RawTable::Sends, RawTable::Conversations];
        if big_tables.iter().all(|t| broken_in.contains_key(t)) {
            break;
        }
        if part > 0 {
            big = BigReplay::new(&seeds, part, passes, n_sends, n_convs);
            each_event(db, &mut |seq, at, event| big.apply(seq, at, event))?;
        }
        for table in big_tables {
            if broken_in.contains_key(&table) {
                continue;
            }
            let (rows, broken) = if table == RawTable::Sends {
                big.check_sends(db)?
            } else {
                big.check_conversations(db)?
            };
            *checked.entry(table).or_default() += rows;
            if let Some(b) = broken {
                broken_in.insert(table, b);
            }
        }
    }
    let first_broken = RawTable::ALL.iter().find_map(|t| broken_in.remove(t));
    Ok(VerifyReport {
        ok: first_broken.is_none(),
        events_checked: events,
        sends_checked: checked.get(&RawTable::Sends).copied().unwrap_or(0),
        suppressions_checked: checked.get(&RawTable::Suppressions).copied().unwrap_or(0),
        first_broken,
    })
}

/// Checks the chain's keyed links only, streaming.
pub(crate) fn verify_chain_in(db: &mut dyn Db) -> Result<VerifyReport> {
    let key = db.chain_key().clone();
    let mut chain = ChainCheck::new(LinkRule::Keyed(&key));
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            if chain.ok() {
                chain.feed(&stored_event(r)?);
            }
            Ok(())
        },
    )?;
    let events_checked = chain.events();
    let first_broken = chain.into_broken();
    Ok(VerifyReport {
        ok: first_broken.is_none(),
        events_checked,
        sends_checked: 0,
        suppressions_checked: 0,
        first_broken,
    })
}

pub(crate) fn stored_event(r: &dyn Cells) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: u64::try_from(r.i(0)?).unwrap_or(0),
        at_ms: r.i(1)?,
        kind: r.s(2)?,
        payload_json: r.s(3)?,
        prev_hash: r.s(4)?,
        hash: r.s(5)?,
    })
}

/// One row's values in [`RawTable::columns`] order.
pub(crate) fn raw_values(table: RawTable, r: &dyn Cells) -> Result<Vec<RawValue>> {
    let mut values = Vec::with_capacity(table.columns().len());
    for (i, c) in table.columns().iter().enumerate() {
        let value = match c.kind {
            RawKind::Text => r.text(i).map(|t| t.map(str::to_owned).map(RawValue::Text)),
            RawKind::Int | RawKind::Bool => r.int(i).map(|n| n.map(RawValue::Int)),
        }
        .map_err(|_| {
            corrupt(
                "value of the wrong kind in",
                &format!("{}.{}", table.name(), c.name),
            )
        })?;
        values.push(value.unwrap_or(RawValue::Null));
    }
    Ok(values)
}

// ---------------------------------------------------------------------------------------
// Table replay: what every table must hold, rebuilt from the events alone.
//
// Each table has ONE replay function (`replay_<table>`) that reads the events touching it
// and sets the columns they determine; [`COVERED`] lists, per table, every column some
// event determines. A column a replay does not set is not compared (e.g. a field that
// events written before the keyed chain did not carry). To cover a new column: carry its
// value in the event that writes it (an optional field, so old payloads still decode), set
// it in that table's replay function, and add it to [`COVERED`]; the unit test
// `every_column_is_covered_or_exempt` fails until a new column is one or the other.
// ---------------------------------------------------------------------------------------

/// Expected columns of one row, and the last event that changed it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExpRow {
    seq: u64,
    pub(crate) cols: BTreeMap<&'static str, RawValue>,
}

impl ExpRow {
    fn set(&mut self, col: &'static str, v: RawValue) {
        self.cols.insert(col, v);
    }
}

/// What one table must hold: keyed rows (by primary key) or, for append-only tables with an
/// `id`, rows in `id` order.
#[derive(Debug, Default)]
pub(crate) struct TableState {
    pub(crate) keyed: BTreeMap<String, ExpRow>,
    appended: Vec<ExpRow>,
    /// A secondary index a replay may keep (sends: message id → row keys).
    index: HashMap<String, Vec<String>>,
}

/// The event being replayed.
struct Ctx<'e> {
    seq: u64,
    at: i64,
    event: &'e Event,
}

type ReplayFn = fn(&mut TableState, &Ctx<'_>);

/// Every table that influences a decision or an audit answer, with its replay function.
/// (`meta` is checked at open: key fingerprint; `events` is the chain itself.)
const REPLAYS: &[(RawTable, ReplayFn)] = &[
    (RawTable::Runs, replay_runs),
    (RawTable::TemplateBindings, replay_template_bindings),
    (RawTable::TemplateVersions, replay_template_versions),
    (RawTable::Sends, replay_sends_at),
    (RawTable::Conversations, replay_conversations_at),
    (RawTable::Suppressions, replay_suppressions),
    (RawTable::SuppressionAudit, replay_suppression_audit),
    (RawTable::Inbound, replay_inbound),
    (RawTable::Receipts, replay_receipts),
    (RawTable::Waves, replay_waves),
    (RawTable::KeywordReplies, replay_keyword_replies),
];

/// Every column a replay function sets, per table.
#[cfg(test)]
const COVERED: &[(RawTable, &[&str])] = &[
    (
        RawTable::Runs,
        &[
            "run_id",
            "command",
            "user_name",
            "host",
            "git_commit",
            "plan_hash",
            "started_at",
            "finished_at",
            "outcome",
        ],
    ),
    (
        RawTable::TemplateBindings,
        &[
            "name",
            "response_id",
            "version",
            "content_hash",
            "remote_hash",
            "updated_at",
        ],
    ),
    (
        RawTable::TemplateVersions,
        &[
            "name",
            "response_id",
            "version",
            "content_hash",
            "remote_hash",
            "git_commit",
            "overwrote_hash",
            "run_id",
            "at",
        ],
    ),
    (
        RawTable::Sends,
        &[
            "campaign",
            "row_key",
            "recipient",
            "masked",
            "channel",
            "template_hash",
            "state",
            "attempts",
            "next_attempt_at",
            "message_id",
            "conversation_id",
            "error_code",
            "note",
            "category",
            "run_id",
            "created_at",
            "dispatched_at",
            "updated_at",
            "receipt_status",
            "receipt_at",
        ],
    ),
    (
        RawTable::Conversations,
        &["recipient", "channel", "conversation_id", "updated_at"],
    ),
    (
        RawTable::Suppressions,
        &[
            "recipient",
            "channel",
            "masked",
            "reason",
            "source",
            "since",
        ],
    ),
    (
        RawTable::SuppressionAudit,
        &[
            "action",
            "recipient",
            "channel",
            "masked",
            "reason",
            "source",
            "at",
        ],
    ),
    (
        RawTable::Inbound,
        &[
            "message_id",
            "recipient",
            "masked",
            "channel",
            "action",
            "flagged",
            "received_at",
            "recorded_at",
            "text_mac",
        ],
    ),
    (
        RawTable::Receipts,
        &["message_id", "status", "reason", "at", "recorded_at"],
    ),
    (
        RawTable::Waves,
        &[
            "campaign",
            "wave",
            "channel",
            "status",
            "contacts",
            "contact_list_id",
            "genesys_campaign_id",
            "run_id",
            "created_at",
            "updated_at",
        ],
    ),
    (
        RawTable::KeywordReplies,
        &[
            "inbound_id",
            "kind",
            "recipient",
            "masked",
            "state",
            "text_hash",
            "message_id",
            "note",
            "claimed_at",
            "updated_at",
        ],
    ),
];

/// Tables verify does not rebuild from the events, because no event carries their rows: a
/// registry's numbers (its `dnc_imported` event carries the file's digest and counts) and the
/// facts of each send (written beside the claim, outside the chain). `ledger migrate` copies
/// them all the same.
#[cfg(test)]
const NOT_REPLAYED: &[RawTable] = &[
    RawTable::DncRegistries,
    RawTable::DncNumbers,
    RawTable::SendFacts,
];

/// Columns deliberately not compared: the `id` of append-only tables (compared by order),
/// and the seals of `sends` and `conversations` rows (checked by [`crate::seal`]).
#[cfg(test)]
const EXEMPT: &[(RawTable, &str)] = &[
    (RawTable::Sends, "seq"),
    (RawTable::Sends, "mac"),
    (RawTable::Sends, "tags"),
    (RawTable::Conversations, "seq"),
    (RawTable::Conversations, "mac"),
    (RawTable::Conversations, "tags"),
    (RawTable::TemplateVersions, "id"),
    (RawTable::SuppressionAudit, "id"),
    (RawTable::Receipts, "id"),
];

struct TableReplay {
    tables: HashMap<RawTable, TableState>,
}

impl TableReplay {
    fn new() -> TableReplay {
        TableReplay {
            tables: REPLAYS
                .iter()
                .filter(|(t, _)| !matches!(t, RawTable::Sends | RawTable::Conversations))
                .map(|(t, _)| (*t, TableState::default()))
                .collect(),
        }
    }

    fn apply(&mut self, seq: u64, at: i64, event: &Event) {
        let ctx = Ctx { seq, at, event };
        for (table, replay) in REPLAYS {
            if let Some(state) = self.tables.get_mut(table) {
                replay(state, &ctx);
            }
        }
    }
}

fn txt(s: &str) -> RawValue {
    RawValue::Text(s.to_owned())
}

fn otxt(s: Option<&str>) -> RawValue {
    s.map_or(RawValue::Null, txt)
}

fn oint(n: Option<i64>) -> RawValue {
    n.map_or(RawValue::Null, RawValue::Int)
}

fn key_of(parts: &[&str]) -> String {
    parts.join("/")
}

fn replay_runs(t: &mut TableState, c: &Ctx<'_>) {
    match c.event {
        Event::RunStarted { run } => {
            let mut row = ExpRow {
                seq: c.seq,
                ..ExpRow::default()
            };
            row.set("run_id", txt(&run.run_id));
            row.set("command", txt(&run.command));
            row.set("user_name", txt(&run.user));
            row.set("host", txt(&run.host));
            row.set("git_commit", otxt(run.git_commit.as_deref()));
            row.set("plan_hash", otxt(run.plan_hash.as_deref()));
            row.set("started_at", RawValue::Int(c.at));
            row.set("finished_at", RawValue::Null);
            row.set("outcome", RawValue::Null);
            t.keyed.insert(run.run_id.clone(), row);
        }
        Event::RunFinished { run_id, outcome } => {
            if let Some(row) = t.keyed.get_mut(run_id) {
                row.seq = c.seq;
                row.set("finished_at", RawValue::Int(c.at));
                row.set("outcome", txt(outcome));
            }
        }
        _ => {}
    }
}

fn replay_template_bindings(t: &mut TableState, c: &Ctx<'_>) {
    match c.event {
        Event::TemplateWritten { write: w } => {
            let mut row = ExpRow {
                seq: c.seq,
                ..ExpRow::default()
            };
            row.set("name", txt(&w.name));
            row.set("response_id", txt(&w.response_id));
            row.set("version", RawValue::Int(w.version));
            row.set("content_hash", txt(&w.content_hash));
            row.set("remote_hash", txt(&w.remote_hash));
            row.set("updated_at", RawValue::Int(c.at));
            t.keyed.insert(w.name.clone(), row);
        }
        Event::TemplateRenamed { old, new, .. } => {
            if let Some(mut row) = t.keyed.remove(old) {
                row.seq = c.seq;
                row.set("name", txt(new));
                row.set("updated_at", RawValue::Int(c.at));
                t.keyed.insert(new.clone(), row);
            }
        }
        _ => {}
    }
}

fn replay_template_versions(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::TemplateWritten { write: w } = c.event {
        let mut row = ExpRow {
            seq: c.seq,
            ..ExpRow::default()
        };
        row.set("name", txt(&w.name));
        row.set("response_id", txt(&w.response_id));
        row.set("version", RawValue::Int(w.version));
        row.set("content_hash", txt(&w.content_hash));
        row.set("remote_hash", txt(&w.remote_hash));
        row.set("git_commit", otxt(w.git_commit.as_deref()));
        row.set("overwrote_hash", otxt(w.overwrote_hash.as_deref()));
        row.set("run_id", txt(&w.run_id));
        row.set("at", RawValue::Int(c.at));
        t.appended.push(row);
    }
}

/// [`replay_sends_at`] for one event (the compact replay's diagnosis).
pub(crate) fn replay_sends(t: &mut TableState, seq: u64, at: i64, event: &Event) {
    replay_sends_at(t, &Ctx { seq, at, event });
}

/// [`replay_conversations_at`] for one event (the compact replay's diagnosis).
pub(crate) fn replay_conversations(t: &mut TableState, seq: u64, at: i64, event: &Event) {
    replay_conversations_at(t, &Ctx { seq, at, event });
}

fn replay_sends_at(t: &mut TableState, c: &Ctx<'_>) {
    let (rows, run_id, claimed) = match c.event {
        Event::SendsClaimed { run_id, rows, .. } => (rows, Some(run_id), true),
        Event::OutcomesRecorded { run_id, rows, .. }
        | Event::UnknownResolved { run_id, rows, .. } => (rows, Some(run_id), false),
        Event::DispatchingRecovered { rows, .. } => (rows, None, false),
        Event::ReceiptRecorded {
            message_id,
            status,
            receipt_at,
            ..
        } => {
            let keys = t.index.get(message_id).cloned().unwrap_or_default();
            for key in keys {
                let Some(row) = t.keyed.get_mut(&key) else {
                    continue;
                };
                if row.cols.get("message_id") != Some(&txt(message_id)) {
                    continue;
                }
                if let Some(at) = receipt_at {
                    let newer = match row.cols.get("receipt_at") {
                        Some(RawValue::Int(prev)) => *prev <= *at,
                        Some(_) => true,
                        // Not comparable since an old receipt event: stays unchecked.
                        None => false,
                    };
                    if newer {
                        row.seq = c.seq;
                        row.set("receipt_status", txt(status));
                        row.set("receipt_at", RawValue::Int(*at));
                    }
                } else {
                    // An event from before the keyed chain does not carry the receipt's
                    // time: which receipt is newest cannot be replayed.
                    row.cols.remove("receipt_status");
                    row.cols.remove("receipt_at");
                }
            }
            return;
        }
        _ => return,
    };
    for img in rows {
        let key = key_of(&[&img.campaign, &img.row_key]);
        let row = t.keyed.entry(key.clone()).or_insert_with(|| {
            let mut row = ExpRow::default();
            row.set("created_at", RawValue::Int(c.at));
            row.set("dispatched_at", RawValue::Null);
            row.set("receipt_status", RawValue::Null);
            row.set("receipt_at", RawValue::Null);
            row.set("run_id", RawValue::Null);
            row
        });
        row.seq = c.seq;
        row.set("campaign", txt(&img.campaign));
        row.set("row_key", txt(&img.row_key));
        row.set("recipient", txt(img.recipient.as_str()));
        row.set("masked", txt(&img.masked));
        row.set("channel", txt(img.channel.as_str()));
        row.set("template_hash", txt(&img.template_hash));
        row.set("state", txt(img.state.as_str()));
        row.set("attempts", RawValue::Int(i64::from(img.attempts)));
        row.set("next_attempt_at", oint(img.next_attempt_at));
        row.set("message_id", otxt(img.message_id.as_deref()));
        row.set("conversation_id", otxt(img.conversation_id.as_deref()));
        row.set("error_code", otxt(img.error_code.as_deref()));
        row.set("note", otxt(img.note.as_deref()));
        // Carried since schema 4; an older image leaves the category unchecked.
        if let Some(cat) = &img.category {
            row.set("category", txt(cat));
        } else {
            row.cols.remove("category");
        }
        row.set("updated_at", RawValue::Int(c.at));
        if let Some(run_id) = run_id {
            row.set("run_id", txt(run_id));
        }
        // A claim that dispatches or hands off (attempts + 1) stamps `dispatched_at`.
        if claimed && matches!(img.state, SendState::Dispatching | SendState::HandedOff) {
            row.set("dispatched_at", RawValue::Int(c.at));
        }
        if let Some(m) = &img.message_id {
            let keys = t.index.entry(m.clone()).or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
}

fn replay_conversations_at(t: &mut TableState, c: &Ctx<'_>) {
    let rows = match c.event {
        Event::OutcomesRecorded { rows, .. } => rows.iter().collect::<Vec<_>>(),
        // Only `Found` (→ sent) writes the map; `NotFound` keeps an older conversation id.
        Event::UnknownResolved { rows, .. } => {
            rows.iter().filter(|r| r.state == SendState::Sent).collect()
        }
        _ => return,
    };
    for img in rows {
        if let Some(conv) = &img.conversation_id {
            let mut row = ExpRow {
                seq: c.seq,
                ..ExpRow::default()
            };
            row.set("recipient", txt(img.recipient.as_str()));
            row.set("channel", txt(img.channel.as_str()));
            row.set("conversation_id", txt(conv));
            row.set("updated_at", RawValue::Int(c.at));
            t.keyed.insert(img.recipient.as_str().to_owned(), row);
        }
    }
}

fn suppression_cols(row: &mut ExpRow, s: &SuppressionImage) {
    row.set("recipient", txt(s.recipient.as_str()));
    row.set("channel", txt(scope_str(s.channel)));
    row.set("masked", txt(&s.masked));
    row.set("reason", txt(&s.reason));
    row.set("source", txt(&s.source));
}

fn replay_suppressions(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::SuppressionChanged { change } = c.event {
        let key = key_of(&[change.recipient.as_str(), scope_str(change.channel)]);
        match change.action {
            SuppressionAction::Add => {
                let mut row = ExpRow {
                    seq: c.seq,
                    ..ExpRow::default()
                };
                suppression_cols(&mut row, change);
                row.set("since", RawValue::Int(c.at));
                t.keyed.insert(key, row);
            }
            SuppressionAction::Remove => {
                t.keyed.remove(&key);
            }
        }
    }
}

fn replay_suppression_audit(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::SuppressionChanged { change } = c.event {
        let mut row = ExpRow {
            seq: c.seq,
            ..ExpRow::default()
        };
        suppression_cols(&mut row, change);
        row.set(
            "action",
            txt(match change.action {
                SuppressionAction::Add => "add",
                SuppressionAction::Remove => "remove",
            }),
        );
        row.set("at", RawValue::Int(c.at));
        t.appended.push(row);
    }
}

fn replay_inbound(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::InboundRecorded {
        message_id,
        recipient,
        channel,
        action,
        flagged,
        masked,
        received_at,
        text_mac,
        ..
    } = c.event
    {
        let mut row = ExpRow {
            seq: c.seq,
            ..ExpRow::default()
        };
        row.set("message_id", txt(message_id));
        row.set("recipient", txt(recipient.as_str()));
        row.set("channel", txt(channel.as_str()));
        row.set("action", txt(inbound_action_str(*action)));
        row.set("flagged", RawValue::Int(i64::from(*flagged)));
        row.set("recorded_at", RawValue::Int(c.at));
        // Carried since the keyed chain; older events leave these unchecked.
        if let Some(m) = masked {
            row.set("masked", txt(m));
        }
        if let Some(at) = received_at {
            row.set("received_at", RawValue::Int(*at));
        }
        if let Some(m) = text_mac {
            row.set("text_mac", txt(m));
        }
        t.keyed.insert(message_id.clone(), row);
    }
}

fn replay_waves(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::WaveRecorded { run_id, wave: w } = c.event {
        let key = key_of(&[&w.campaign, &w.wave.to_string()]);
        let row = t.keyed.entry(key).or_insert_with(|| {
            let mut row = ExpRow::default();
            row.set("created_at", RawValue::Int(c.at));
            row
        });
        row.seq = c.seq;
        row.set("campaign", txt(&w.campaign));
        row.set("wave", RawValue::Int(i64::from(w.wave)));
        row.set("channel", txt(w.channel.as_str()));
        row.set("status", txt(w.status.as_str()));
        row.set(
            "contacts",
            RawValue::Int(i64::try_from(w.contacts).unwrap_or(i64::MAX)),
        );
        row.set("contact_list_id", otxt(w.contact_list_id.as_deref()));
        row.set(
            "genesys_campaign_id",
            otxt(w.genesys_campaign_id.as_deref()),
        );
        row.set("run_id", txt(run_id));
        row.set("updated_at", RawValue::Int(c.at));
    }
}

fn replay_receipts(t: &mut TableState, c: &Ctx<'_>) {
    if let Event::ReceiptRecorded {
        message_id,
        status,
        reason,
        receipt_at,
        ..
    } = c.event
    {
        let mut row = ExpRow {
            seq: c.seq,
            ..ExpRow::default()
        };
        row.set("message_id", txt(message_id));
        row.set("status", txt(status));
        row.set("reason", otxt(reason.as_deref()));
        row.set("recorded_at", RawValue::Int(c.at));
        if let Some(at) = receipt_at {
            row.set("at", RawValue::Int(*at));
        }
        t.appended.push(row);
    }
}

fn replay_keyword_replies(t: &mut TableState, c: &Ctx<'_>) {
    match c.event {
        Event::ReplyClaimed {
            inbound_id,
            reply: kind,
            recipient,
            masked,
            state,
            text_hash,
            note,
        } => {
            let mut row = ExpRow {
                seq: c.seq,
                ..ExpRow::default()
            };
            row.set("inbound_id", txt(inbound_id));
            row.set("kind", txt(kind));
            row.set("recipient", txt(recipient.as_str()));
            row.set("masked", txt(masked));
            row.set("state", txt(state));
            row.set("text_hash", txt(text_hash));
            row.set("message_id", RawValue::Null);
            row.set("note", otxt(note.as_deref()));
            row.set("claimed_at", RawValue::Int(c.at));
            row.set("updated_at", RawValue::Int(c.at));
            t.keyed.insert(inbound_id.clone(), row);
        }
        Event::ReplyRecorded {
            inbound_id,
            state,
            message_id,
            note,
        } => {
            if let Some(row) = t.keyed.get_mut(inbound_id) {
                row.seq = c.seq;
                row.set("state", txt(state));
                row.set("message_id", otxt(message_id.as_deref()));
                row.set("note", otxt(note.as_deref()));
                row.set("updated_at", RawValue::Int(c.at));
            }
        }
        _ => {}
    }
}

/// The stored spelling of an inbound action.
pub(crate) fn inbound_action_str(action: InboundAction) -> &'static str {
    match action {
        InboundAction::Suppress => "suppress",
        InboundAction::Resubscribe => "resubscribe",
        InboundAction::Help => "help",
        InboundAction::None => "none",
    }
}

/// Compares the current rows of one table (streamed in primary-key order) with its replay.
pub(crate) struct Compare {
    table: RawTable,
    expected: TableState,
    next_appended: usize,
    rows: u64,
    broken: Option<BrokenLink>,
}

impl Compare {
    pub(crate) fn new(table: RawTable, expected: TableState) -> Compare {
        Compare {
            table,
            expected,
            next_appended: 0,
            rows: 0,
            broken: None,
        }
    }

    fn fail(&mut self, seq: Option<u64>, what: &str) {
        if self.broken.is_none() {
            self.broken = Some(BrokenLink {
                seq,
                reason: format!("table `{}`: {what}", self.table.name()),
            });
        }
    }

    pub(crate) fn row(&mut self, values: &[RawValue]) {
        self.rows += 1;
        if self.broken.is_some() {
            return;
        }
        let cols = self.table.columns();
        let value = |name: &str| {
            cols.iter()
                .position(|c| c.name == name)
                .and_then(|i| values.get(i))
        };
        let (label, expected) = if self.table.has_id() {
            let id = match value("id") {
                Some(RawValue::Int(n)) => n.to_string(),
                _ => "?".to_owned(),
            };
            let exp = self.expected.appended.get(self.next_appended).cloned();
            self.next_appended += 1;
            (format!("row id {id}"), exp)
        } else {
            let key = primary_key(self.table)
                .iter()
                .map(|c| match value(c) {
                    Some(RawValue::Text(t)) => t.clone(),
                    Some(RawValue::Int(n)) => n.to_string(),
                    _ => String::new(),
                })
                .collect::<Vec<_>>();
            let key = key.join("/");
            let exp = self.expected.keyed.remove(&key);
            (format!("row {key}"), exp)
        };
        let Some(exp) = expected else {
            self.fail(
                None,
                &format!("{label} was never recorded by any event (inserted outside herald)"),
            );
            return;
        };
        for (col, want) in &exp.cols {
            if value(col) != Some(want) {
                self.fail(
                    Some(exp.seq),
                    &format!(
                        "{label} column `{col}` differs from what the events recorded (last changed by event #{})",
                        exp.seq
                    ),
                );
                return;
            }
        }
    }

    pub(crate) fn finish(mut self) -> Option<BrokenLink> {
        if self.broken.is_none() {
            let missing = self
                .expected
                .appended
                .get(self.next_appended)
                .map(|r| (r.seq, "a row".to_owned()))
                .or_else(|| {
                    self.expected
                        .keyed
                        .iter()
                        .min_by_key(|(_, r)| r.seq)
                        .map(|(k, r)| (r.seq, format!("row {k}")))
                });
            if let Some((seq, label)) = missing {
                self.fail(
                    Some(seq),
                    &format!("{label} recorded by event #{seq} was deleted"),
                );
            }
        }
        self.broken
    }
}

/// Primary-key columns of a keyed table (the key the replay files rows under).
fn primary_key(table: RawTable) -> &'static [&'static str] {
    match table {
        RawTable::Meta => &["key"],
        RawTable::Runs => &["run_id"],
        RawTable::TemplateBindings => &["name"],
        RawTable::Sends | RawTable::SendFacts => &["campaign", "row_key"],
        RawTable::Conversations => &["recipient"],
        RawTable::Suppressions => &["recipient", "channel"],
        RawTable::Inbound => &["message_id"],
        RawTable::Waves => &["campaign", "wave"],
        RawTable::KeywordReplies => &["inbound_id"],
        RawTable::DncRegistries => &["source"],
        RawTable::DncNumbers => &["recipient", "source"],
        RawTable::Events => &["seq"],
        RawTable::TemplateVersions | RawTable::SuppressionAudit | RawTable::Receipts => &["id"],
    }
}

/// Row count of every table, in one statement.
pub(crate) fn table_counts_in(db: &mut dyn Db) -> Result<TableCounts> {
    let sql = RawTable::ALL
        .iter()
        .map(|t| format!("(SELECT COUNT(*) FROM {})", t.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let counts = db
        .row(&format!("SELECT {sql}"), &[], |r| {
            (0..RawTable::ALL.len())
                .map(|i| r.i(i))
                .collect::<Result<Vec<_>>>()
        })?
        .unwrap_or_default();
    Ok(RawTable::ALL
        .iter()
        .zip(counts)
        .map(|(t, n)| (t.name().to_owned(), count(n)))
        .collect())
}

/// Refuses an import into a ledger that holds more than its own creation.
pub(crate) fn check_import_target(db: &mut dyn Db) -> Result<()> {
    let first_kind = db.row("SELECT kind FROM events ORDER BY seq LIMIT 1", &[], |r| {
        r.s(0)
    })?;
    check_fresh(&table_counts_in(db)?, first_kind.as_deref())
}

/// Imports one `meta` row: the key fingerprint must match this ledger's; others are upserted.
pub(crate) fn import_meta(db: &mut dyn Db, key: &str, value: &str) -> Result<()> {
    if key == "key_fingerprint" {
        let ours = db.row(
            "SELECT value FROM meta WHERE key = 'key_fingerprint'",
            &[],
            |r| r.s(0),
        )?;
        return match ours {
            Some(actual) if actual != value => Err(LedgerError::WrongKey {
                expected: value.to_owned(),
                actual,
            }),
            _ => Ok(()),
        };
    }
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![key, value],
    )?;
    Ok(())
}

/// Counts of each table, all zero.
pub(crate) fn zero_counts() -> TableCounts {
    RawTable::ALL
        .iter()
        .map(|t| (t.name().to_owned(), 0))
        .collect()
}

/// A raw row's values as statement parameters.
pub(crate) fn raw_params(row: &RawRow) -> Vec<Val<'_>> {
    row.values
        .iter()
        .map(|v| match v {
            RawValue::Null => Val::Null,
            RawValue::Int(n) => Val::Int(*n),
            RawValue::Text(t) => Val::Text(t),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column of a replayed table is either rebuilt from the events or listed as exempt;
    /// a new column fails here until it is one or the other.
    #[test]
    fn every_column_is_covered_or_exempt() {
        for (table, _) in REPLAYS {
            let covered = COVERED
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, c)| *c)
                .unwrap_or_default();
            for col in table.columns() {
                assert!(
                    covered.contains(&col.name) || EXEMPT.contains(&(*table, col.name)),
                    "column {}.{} is neither replayed by verify nor exempt",
                    table.name(),
                    col.name
                );
            }
        }
        for table in RawTable::ALL {
            assert!(
                matches!(table, RawTable::Meta | RawTable::Events)
                    || NOT_REPLAYED.contains(&table)
                    || REPLAYS.iter().any(|(t, _)| *t == table),
                "table {} is not replayed by verify",
                table.name()
            );
        }
    }
}
