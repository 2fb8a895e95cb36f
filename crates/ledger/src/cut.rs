//! The hot ledger's side of `herald ledger archive`: which campaigns may move, their rows as
//! logical [`RawRow`]s, and the cut — one write transaction that removes them and appends the
//! `archived` event (see [`crate::archive`] for the archive file).
//!
//! Every statement that names `sends` columns is in one of the functions at the top
//! ([`campaign_states_in`], [`campaign_sends_in`], [`delete_campaign_sends_in`]), written
//! against the logical columns of [`RawTable::Sends`].
//!
//! Invariants: a campaign moves whole, only when every row is in a final state (`sent`,
//! `failed`, `suppressed`), none of its waves is open and its last update is before the cut
//! date; the cut re-checks all of that inside its transaction and removes exactly the rows the
//! archive holds (count and keyed sum per campaign), so a row that changed after the archive
//! was written aborts the cut. The event records, per earlier event, how many of its rows were
//! removed and their MAC sum recomputed from their columns (like `sends_claimed` records what
//! it overwrote), so `verify` of the hot ledger alone still balances every event.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::archive::{ArchiveCut, ArchiveCutRecord, RowMacKey};
use crate::audit::raw_values;
use crate::chain::{ArchivedCounts, Event};
use crate::codec::{RawSend, count, parse_state, seq_of, ts};
use crate::error::{LedgerError, Result};
use crate::model::{ChainHead, SendState};
use crate::raw::{RawRow, RawSink, RawTable};
use crate::seal::{DigestBuilder, SealKey};
use crate::store::{Cells, Db, p};
use crate::writes::{append_sealed, next_seq};

/// Send states a campaign's rows must all be in to be archived.
const FINAL: [SendState; 3] = [SendState::Sent, SendState::Failed, SendState::Suppressed];

/// `(campaign, state, rows, last updated_at)` of every campaign, grouped.
fn campaign_states_in(db: &mut dyn Db) -> Result<Vec<(String, String, u64, i64)>> {
    db.rows(
        "SELECT campaign, state, COUNT(*), MAX(updated_at) FROM sends GROUP BY campaign, state \
         ORDER BY campaign, state",
        &[],
        |r| Ok((r.s(0)?, r.s(1)?, count(r.i(2)?), r.i(3)?)),
    )
}

/// Streams one campaign's `sends` rows (every logical column, [`RawTable::Sends`] order) in
/// row-key order.
fn campaign_sends_in(
    db: &mut dyn Db,
    campaign: &str,
    f: &mut dyn FnMut(&dyn Cells) -> Result<()>,
) -> Result<()> {
    let sql = format!(
        "SELECT {} FROM sends WHERE campaign = ?1 ORDER BY row_key",
        RawTable::Sends.select_list()
    );
    db.each(&sql, p![campaign], f)
}

/// Removes one campaign's `sends` rows; returns how many.
fn delete_campaign_sends_in(db: &mut dyn Db, campaign: &str) -> Result<u64> {
    db.execute("DELETE FROM sends WHERE campaign = ?1", p![campaign])
}

fn campaign_facts_in(
    db: &mut dyn Db,
    campaign: &str,
    f: &mut dyn FnMut(&dyn Cells) -> Result<()>,
) -> Result<()> {
    let sql = format!(
        "SELECT {} FROM send_facts WHERE campaign = ?1 ORDER BY row_key",
        RawTable::SendFacts.column_list()
    );
    db.each(&sql, p![campaign], f)
}

/// A campaign `herald ledger archive` looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCandidate {
    /// The campaign.
    pub campaign: String,
    /// Its send rows.
    pub sends: u64,
    /// Its last update (the newest `updated_at` of its rows).
    pub last_update: Timestamp,
    /// Why it stays hot (`None`: it moves).
    pub kept: Option<String>,
}

/// Per campaign: rows, last update, and the rows in states that are not final.
type Seen = (u64, i64, Vec<(String, u64)>);

/// Every campaign with send rows and whether it may move at a cut before `before`.
pub(crate) fn candidates_in(db: &mut dyn Db, before: Timestamp) -> Result<Vec<ArchiveCandidate>> {
    let before_ms = before.as_millisecond();
    let mut by: BTreeMap<String, Seen> = BTreeMap::new();
    for (campaign, state, n, last) in campaign_states_in(db)? {
        let e = by.entry(campaign).or_insert((0, i64::MIN, Vec::new()));
        e.0 += n;
        e.1 = e.1.max(last);
        if !FINAL.contains(&parse_state(&state)?) {
            e.2.push((state, n));
        }
    }
    let open: BTreeMap<String, u64> = db
        .rows(
            "SELECT campaign, COUNT(*) FROM waves WHERE status NOT IN ('done', 'stopped') \
             GROUP BY campaign",
            &[],
            |r| Ok((r.s(0)?, count(r.i(1)?))),
        )?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(by.len());
    for (campaign, (sends, last, open_states)) in by {
        let kept = if let Some(n) = open.get(&campaign) {
            Some(format!("{n} wave(s) still open"))
        } else if !open_states.is_empty() {
            let list = open_states
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ");
            Some(format!("rows not in a final state ({list})"))
        } else if last >= before_ms {
            Some("updated on or after the cut date".to_owned())
        } else {
            None
        };
        out.push(ArchiveCandidate {
            campaign,
            sends,
            last_update: ts(last)?,
            kept,
        });
    }
    Ok(out)
}

/// Streams the `sends` rows, then the `send_facts` rows, of each campaign into `sink`.
pub(crate) fn rows_in(db: &mut dyn Db, campaigns: &[String], sink: &mut RawSink<'_>) -> Result<()> {
    for c in campaigns {
        campaign_sends_in(db, c, &mut |r| {
            sink(RawRow {
                table: RawTable::Sends,
                values: raw_values(RawTable::Sends, r)?,
            })
        })?;
        campaign_facts_in(db, c, &mut |r| {
            sink(RawRow {
                table: RawTable::SendFacts,
                values: raw_values(RawTable::SendFacts, r)?,
            })
        })?;
    }
    Ok(())
}

/// The cut, inside the caller's write transaction (see the module docs).
pub(crate) fn cut_in(db: &mut dyn Db, at: i64, cut: &ArchiveCut) -> Result<ChainHead> {
    let seq = next_seq(db)?;
    if seq != cut.seq {
        return Err(LedgerError::Refused(format!(
            "the ledger changed while the archive was written (its next event is #{seq}, the \
             archive was made for #{}); nothing was removed: run `herald ledger archive` again",
            cut.seq
        )));
    }
    let archived: Vec<String> = archived_in(db)?
        .into_iter()
        .flat_map(|c| c.campaigns.into_iter().map(|(name, _, _)| name))
        .collect();
    let candidates = candidates_in(db, ts(cut.before_ms)?)?;
    let seal_key = SealKey::derive(db.chain_key());
    let row_key = RowMacKey::derive(db.chain_key());
    let mut digest = DigestBuilder::new(seq);
    let mut moved = Vec::with_capacity(cut.campaigns.len());
    for c in &cut.campaigns {
        if archived.contains(&c.campaign) {
            return Err(LedgerError::Refused(format!(
                "campaign `{}` was already archived",
                c.campaign
            )));
        }
        match candidates.iter().find(|k| k.campaign == c.campaign) {
            Some(k) if k.kept.is_none() => {}
            Some(k) => {
                return Err(LedgerError::Refused(format!(
                    "campaign `{}` can no longer be archived: {}; nothing was removed",
                    c.campaign,
                    k.kept.as_deref().unwrap_or("")
                )));
            }
            None => {
                return Err(LedgerError::Refused(format!(
                    "campaign `{}` has no send rows; nothing was removed",
                    c.campaign
                )));
            }
        }
        let (mut n, mut sum) = (0u64, 0u64);
        let mut bad: Option<String> = None;
        campaign_sends_in(db, &c.campaign, &mut |r| {
            let pre = RawSend::from_row(r)?;
            let mac = seal_key.mac(RawTable::Sends, &pre.sealed_values(pre.seq));
            if r.int(21)? != Some(mac) && bad.is_none() {
                bad = Some(format!("{}/{}", pre.campaign, pre.row_key));
            }
            digest.replaced(pre.seq, mac);
            let values = raw_values(RawTable::Sends, r)?;
            n += 1;
            sum = sum.wrapping_add(row_key.mac(RawTable::Sends, &values));
            Ok(())
        })?;
        if let Some(row) = bad {
            return Err(LedgerError::Corrupt(format!(
                "send row {row} does not match its seal (changed behind the chain); nothing was \
                 removed: run `herald ledger verify`"
            )));
        }
        let (mut fn_, mut fsum) = (0u64, 0u64);
        campaign_facts_in(db, &c.campaign, &mut |r| {
            let values = raw_values(RawTable::SendFacts, r)?;
            fn_ += 1;
            fsum = fsum.wrapping_add(row_key.mac(RawTable::SendFacts, &values));
            Ok(())
        })?;
        if (n, sum, fn_, fsum) != (c.sends, c.sends_sum, c.facts, c.facts_sum) {
            return Err(LedgerError::Refused(format!(
                "campaign `{}` changed after the archive was written ({n} sends and {fn_} facts \
                 now, {} and {} archived); nothing was removed: run `herald ledger archive` again",
                c.campaign, c.sends, c.facts
            )));
        }
        db.execute(
            "DELETE FROM send_facts WHERE campaign = ?1",
            p![&c.campaign],
        )?;
        let removed = delete_campaign_sends_in(db, &c.campaign)?;
        if removed != n {
            return Err(LedgerError::Backend(format!(
                "removing campaign `{}` deleted {removed} rows, expected {n}",
                c.campaign
            )));
        }
        moved.push(ArchivedCounts {
            campaign: c.campaign.clone(),
            sends: n,
            facts: fn_,
        });
    }
    let sends = digest.finish().unwrap_or_default();
    let event = Event::Archived {
        archive: cut.archive.clone(),
        archive_head: cut.archive_head.clone(),
        ledger_head: format!("{}:{}", cut.ledger_head.seq, cut.ledger_head.hash),
        before: cut.before_ms,
        campaigns: moved,
        sends,
    };
    append_sealed(db, at, &event, seq)?;
    let hash = db
        .row(
            "SELECT hash FROM events WHERE seq = ?1",
            p![i64::try_from(seq).unwrap_or(i64::MAX)],
            |r| r.s(0),
        )?
        .ok_or_else(|| LedgerError::Backend("the archived event vanished".into()))?;
    Ok(ChainHead { seq, hash })
}

/// Every cut recorded in the chain (the `archived` events), oldest first.
pub(crate) fn archived_in(db: &mut dyn Db) -> Result<Vec<ArchiveCutRecord>> {
    let mut out = Vec::new();
    db.each(
        "SELECT seq, at, payload_json, hash FROM events WHERE kind = 'archived' ORDER BY seq",
        &[],
        &mut |r| {
            let seq = seq_of(r.i(0)?)?;
            let ev: Event = serde_json::from_str(r.str(2)?)
                .map_err(|e| LedgerError::Corrupt(format!("event #{seq}: {e}")))?;
            if let Event::Archived {
                archive,
                archive_head,
                ledger_head,
                before,
                campaigns,
                ..
            } = ev
            {
                out.push(ArchiveCutRecord {
                    seq,
                    hash: r.s(3)?,
                    at: ts(r.i(1)?)?,
                    archive,
                    archive_head,
                    ledger_head: ChainHead::parse(&ledger_head).map_err(LedgerError::Corrupt)?,
                    before: ts(before)?,
                    campaigns: campaigns
                        .into_iter()
                        .map(|c| (c.campaign, c.sends, c.facts))
                        .collect(),
                });
            }
            Ok(())
        },
    )?;
    Ok(out)
}
