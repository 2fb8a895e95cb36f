//! The ledger's write operations, each run inside one [`Store::write`] transaction: event
//! append (the hash chain), the key check, the claim loop, outcomes, resolutions,
//! suppression changes, inbound replies and receipts.
//!
//! Invariants: every change appends the event that records it, with the payloads and hashes
//! of [`crate::chain`]; the claim and outcome rules come from [`crate::rules`].

use std::collections::HashMap;

use crate::audit::{inbound_action_str, stored_event};
use crate::chain::{ChainCheck, Event, GENESIS, LinkRule, SuppressionImage, event_hash};
use crate::codec::{
    RawSend, SEND_BY_KEY, parse_channel, parse_recipient, parse_scope, parse_state, scope_str,
    send_cols, seq_of,
};
use crate::error::{LedgerError, Result};
use crate::key::{Channel, LedgerKey, RecipientId};
use crate::model::{
    Claim, ClaimResult, InboundAction, InboundRecord, InboundResult, Outcome, Receipt,
    ReceiptMatch, Redo, Resolution, SendState, Suppression, SuppressionAction,
};
use crate::raw::RawTable;
use crate::rules::{Decision, OutcomeColumns, decide, resolved_state};
use crate::seal::{DigestBuilder, Seal, SealKey, V};
use crate::store::{Db, Store, Val, p, send_change};

use crate::ops::SCHEMA_VERSION;

/// Appends one event to the chain inside the caller's write transaction.
pub(crate) fn append_event(db: &mut dyn Db, at_ms: i64, event: &Event) -> Result<()> {
    append(db, at_ms, event).map(|_| ())
}

/// The number the next event will get.
pub(crate) fn next_seq(db: &mut dyn Db) -> Result<u64> {
    Ok(db
        .row("SELECT MAX(seq) FROM events", &[], |r| r.int(0))?
        .flatten()
        .map_or(Ok(0), seq_of)?
        + 1)
}

/// Appends the event whose rows were sealed with `seq` (see [`Sealer`]).
pub(crate) fn append_sealed(db: &mut dyn Db, at_ms: i64, event: &Event, seq: u64) -> Result<()> {
    let got = append(db, at_ms, event)?;
    if got != seq {
        return Err(LedgerError::Backend(format!(
            "rows were sealed for event #{seq} but the event became #{got}"
        )));
    }
    Ok(())
}

/// The rows one write changes in `sends` and `conversations`, sealed for the event that
/// records them (see [`crate::seal`]).
pub(crate) struct Sealer {
    key: SealKey,
    pub(crate) sends: DigestBuilder,
    pub(crate) convs: DigestBuilder,
}

impl Sealer {
    /// Rows sealed for the next event of the chain.
    pub(crate) fn new(db: &mut dyn Db) -> Result<Sealer> {
        let seq = next_seq(db)?;
        Ok(Sealer {
            key: SealKey::derive(db.chain_key()),
            sends: DigestBuilder::new(seq),
            convs: DigestBuilder::new(seq),
        })
    }

    pub(crate) fn seq(&self) -> u64 {
        self.sends.seq()
    }

    fn seq_i64(&self) -> Result<i64> {
        i64::try_from(self.seq()).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))
    }

    /// A `sends` row as it was before this write changed it.
    pub(crate) fn replaced_send(&mut self, pre: &RawSend) {
        let mac = self.key.mac(RawTable::Sends, &pre.sealed_values(pre.seq));
        self.sends.replaced(pre.seq, mac);
    }

    /// Seals a `sends` row as this write left it.
    pub(crate) fn write_send(&mut self, db: &mut dyn Db, post: &RawSend) -> Result<()> {
        let seq = self.seq_i64()?;
        let seal = self
            .key
            .seal(RawTable::Sends, &post.sealed_values(Some(seq)));
        db.execute(
            "UPDATE sends SET seq = ?3, mac = ?4, tags = ?5 WHERE campaign = ?1 AND row_key = ?2",
            p![&post.campaign, &post.row_key, seq, seal.mac, seal.tags],
        )?;
        self.sends.written(seal.mac);
        Ok(())
    }

    /// Writes (inserts or replaces) and seals the conversation of `recipient`.
    pub(crate) fn conversation(
        &mut self,
        db: &mut dyn Db,
        recipient: &str,
        channel: &str,
        conversation: &str,
        at: i64,
    ) -> Result<()> {
        let pre = db.row(
            "SELECT id_unpack(recipient), channel, id_unpack(conversation_id), updated_at, seq FROM conversations \
             WHERE recipient = id_pack(?1)",
            p![recipient],
            |r| Ok((r.os(0)?, r.os(1)?, r.os(2)?, r.int(3)?, r.int(4)?)),
        )?;
        if let Some((r, ch, conv, upd, seq)) = &pre {
            let values = [
                V::from(r.as_deref()),
                V::from(ch.as_deref()),
                V::from(conv.as_deref()),
                V::from(*upd),
                V::from(*seq),
            ];
            let mac = self.key.mac(RawTable::Conversations, &values);
            self.convs.replaced(*seq, mac);
        }
        let seq = self.seq_i64()?;
        let values = [
            V::Text(recipient),
            V::Text(channel),
            V::Text(conversation),
            V::Int(at),
            V::Int(seq),
        ];
        let seal = self.key.seal(RawTable::Conversations, &values);
        db.execute(
            "INSERT INTO conversations (recipient, channel, conversation_id, updated_at, seq, mac, tags) \
             VALUES (id_pack(?1), ?2, id_pack(?3), ?4, ?5, ?6, ?7) \
             ON CONFLICT (recipient) DO UPDATE SET channel = excluded.channel, \
             conversation_id = excluded.conversation_id, updated_at = excluded.updated_at, \
             seq = excluded.seq, mac = excluded.mac, tags = excluded.tags",
            p![recipient, channel, conversation, at, seq, seal.mac, seal.tags],
        )?;
        self.convs.written(seal.mac);
        Ok(())
    }

    /// Seals every `sends` and `conversations` row of the ledger with event `seq` (the
    /// conversion of an older ledger; see [`seal_rows`]).
    fn seal_all(&mut self, db: &mut dyn Db) -> Result<()> {
        // In pages by key, so memory stays flat whatever the ledger's size.
        let mut after = (String::new(), String::new());
        loop {
            let page = db.rows(
                concat!(
                    "SELECT ",
                    send_cols!(),
                    " FROM sends WHERE campaign > ?1 OR (campaign = ?1 AND row_key > ?2) \
                     ORDER BY campaign, row_key LIMIT 10000"
                ),
                p![&after.0, &after.1],
                RawSend::from_row,
            )?;
            let Some(last) = page.last() else { break };
            after = (last.campaign.clone(), last.row_key.clone());
            let seq = self.seq_i64()?;
            let mut sealed = Vec::with_capacity(page.len());
            for raw in &page {
                let seal = self
                    .key
                    .seal(RawTable::Sends, &raw.sealed_values(Some(seq)));
                self.sends.written(seal.mac);
                sealed.push((vec![raw.campaign.as_str(), raw.row_key.as_str()], seal));
            }
            set_seals(db, RawTable::Sends, seq, &sealed)?;
        }
        let seq = self.seq_i64()?;
        let mut after = String::new();
        loop {
            let page = db.rows(
                "SELECT id_unpack(recipient), channel, id_unpack(conversation_id), updated_at FROM conversations \
                 WHERE recipient > id_pack(?1) ORDER BY recipient LIMIT 10000",
                p![&after],
                |r| Ok((r.s(0)?, r.s(1)?, r.s(2)?, r.i(3)?)),
            )?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.0);
            self.seal_conversations(db, &page, seq)?;
        }
        Ok(())
    }

    fn seal_conversations(
        &mut self,
        db: &mut dyn Db,
        page: &[(String, String, String, i64)],
        seq: i64,
    ) -> Result<()> {
        let mut sealed = Vec::with_capacity(page.len());
        for (recipient, channel, conv, at) in page {
            let values = [
                V::Text(recipient),
                V::Text(channel),
                V::Text(conv),
                V::Int(*at),
                V::Int(seq),
            ];
            let seal = self.key.seal(RawTable::Conversations, &values);
            self.convs.written(seal.mac);
            sealed.push((vec![recipient.as_str()], seal));
        }
        set_seals(db, RawTable::Conversations, seq, &sealed)
    }
}

/// Sets `seq` and the seals of many rows of `table` (each named by its primary key), in
/// statements of up to 500 rows: one round trip per statement, not per row.
fn set_seals(db: &mut dyn Db, table: RawTable, seq: i64, rows: &[(Vec<&str>, Seal)]) -> Result<()> {
    let keys: &[&str] = match table {
        RawTable::Sends => &["campaign", "row_key"],
        _ => &["recipient"],
    };
    for chunk in rows.chunks(500) {
        let mut params = vec![Val::Int(seq)];
        let mut tuples = Vec::with_capacity(chunk.len());
        for (key, seal) in chunk {
            let mut cols = Vec::with_capacity(keys.len() + 2);
            for (part, name) in key.iter().zip(keys) {
                params.push(Val::Text(part));
                cols.push(crate::packed::insert_value(table, name, params.len()));
            }
            for n in [seal.mac, seal.tags] {
                params.push(Val::Int(n));
                cols.push(format!("CAST(?{} AS BIGINT)", params.len()));
            }
            tuples.push(format!("({})", cols.join(", ")));
        }
        let on = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{t}.{k} = v.column{}", i + 1, t = table.name()))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "UPDATE {t} SET seq = CAST(?1 AS BIGINT), mac = v.column{m}, tags = v.column{g} \
             FROM (VALUES {values}) AS v WHERE {on}",
            t = table.name(),
            m = keys.len() + 1,
            g = keys.len() + 2,
            values = tuples.join(", "),
        );
        let changed = db.execute(&sql, &params)?;
        if changed != chunk.len() as u64 {
            return Err(LedgerError::Backend(format!(
                "sealing {} rows of {} changed {changed}",
                chunk.len(),
                table.name()
            )));
        }
    }
    Ok(())
}

/// `meta.rows` of a ledger whose `sends` and `conversations` rows are sealed.
pub(crate) const ROWS_MARK: &str = "sealed-v1";

/// The conversion of a ledger written before schema 9 (whose events carry every send's
/// image): verifies it in full against those images (a ledger that fails is refused, never
/// sealed: that would launder the tampering), seals every `sends` and `conversations` row
/// with one `rows_sealed` event, and marks the ledger — in the caller's write transaction.
fn seal_rows(db: &mut dyn Db, at: i64) -> Result<()> {
    let report = crate::audit::verify_images_in(db)?;
    if let Some(broken) = report.first_broken {
        return Err(LedgerError::Corrupt(format!(
            "cannot convert this ledger to sealed rows: it fails verification ({}); \
             nothing was changed",
            broken.reason
        )));
    }
    let mut sealer = Sealer::new(db)?;
    sealer.seal_all(db)?;
    let seq = sealer.seq();
    let event = Event::RowsSealed {
        sends: sealer.sends.finish().unwrap_or_default(),
        conversations: sealer.convs.finish().unwrap_or_default(),
    };
    append_sealed(db, at, &event, seq)?;
    set_rows_mark(db)
}

fn set_rows_mark(db: &mut dyn Db) -> Result<()> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('rows', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![ROWS_MARK],
    )?;
    Ok(())
}

fn append(db: &mut dyn Db, at_ms: i64, event: &Event) -> Result<u64> {
    let last = db.row(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
        |r| Ok((seq_of(r.i(0)?)?, r.s(1)?)),
    )?;
    let (seq, prev) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let payload = event.to_payload();
    let hash = event_hash(LinkRule::Keyed(db.chain_key()), &prev, seq, at_ms, &payload);
    let n = i64::try_from(seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?;
    db.execute(
        "INSERT INTO events (seq, at, kind, payload_json, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        p![n, at_ms, event.kind(), &payload, &prev, &hash],
    )?;
    Ok(seq)
}

/// `meta.chain` of a ledger whose links are keyed.
pub(crate) const CHAIN_MARK: &str = "hmac-sha256-v2";

/// Checks `key` against the stored fingerprint, recording it (and the creation event) on a
/// new ledger, and re-links an old ledger's plain chain under the key (see [`relink`]).
pub(crate) fn check_key(store: &mut impl Store, key: &LedgerKey) -> Result<()> {
    let actual = key.fingerprint();
    store.write(|db, at| {
        let stored = db.row(
            "SELECT value FROM meta WHERE key = 'key_fingerprint'",
            &[],
            |r| r.s(0),
        )?;
        match stored {
            Some(expected) if expected == actual => {
                let mark = db.row("SELECT value FROM meta WHERE key = 'chain'", &[], |r| {
                    r.s(0)
                })?;
                if mark.as_deref() != Some(CHAIN_MARK) {
                    relink(db, at)?;
                }
                let rows = db.row("SELECT value FROM meta WHERE key = 'rows'", &[], |r| r.s(0))?;
                if rows.as_deref() == Some(ROWS_MARK) {
                    Ok(())
                } else {
                    seal_rows(db, at)
                }
            }
            Some(expected) => Err(LedgerError::WrongKey { expected, actual }),
            None => {
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_fingerprint', ?1)",
                    p![&actual],
                )?;
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('chain', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    p![CHAIN_MARK],
                )?;
                set_rows_mark(db)?;
                append_event(
                    db,
                    at,
                    &Event::LedgerCreated {
                        key_fingerprint: actual,
                        schema_version: SCHEMA_VERSION,
                    },
                )
            }
        }
    })
}

/// The keyed-chain migration of a ledger written with plain SHA-256 links: verifies the old
/// chain (a broken one is refused, never re-linked: that would launder the tampering),
/// recomputes every link under the chain key, marks the ledger and records the migration as
/// a `chain_keyed` event — all in the caller's write transaction.
fn relink(db: &mut dyn Db, at: i64) -> Result<()> {
    let mut events = Vec::new();
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            events.push(stored_event(r)?);
            Ok(())
        },
    )?;
    let mut plain = ChainCheck::new(LinkRule::Plain);
    for ev in &events {
        plain.feed(ev);
    }
    let (head_seq, head_hash) = {
        let (s, h) = plain.head();
        (s, h.to_owned())
    };
    if let Some(broken) = plain.into_broken() {
        return Err(LedgerError::Corrupt(format!(
            "cannot migrate this ledger to the keyed chain: its existing chain is broken ({}); \
             nothing was changed",
            broken.reason
        )));
    }
    let (lift, restore) = db.events_guard();
    db.batch(lift)?;
    let mut prev = GENESIS.to_owned();
    for ev in &events {
        let hash = event_hash(
            LinkRule::Keyed(db.chain_key()),
            &prev,
            ev.seq,
            ev.at_ms,
            &ev.payload_json,
        );
        let seq =
            i64::try_from(ev.seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?;
        db.execute(
            "UPDATE events SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
            p![seq, &prev, &hash],
        )?;
        prev = hash;
    }
    db.batch(restore)?;
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('chain', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![CHAIN_MARK],
    )?;
    append_event(
        db,
        at,
        &Event::ChainKeyed {
            plain_head: format!("{head_seq}:{head_hash}"),
            relinked: events.len() as u64,
        },
    )
}

pub(crate) fn run_exists(db: &mut dyn Db, run_id: &str) -> Result<()> {
    if db
        .row("SELECT 1 FROM runs WHERE run_id = ?1", p![run_id], |_| {
            Ok(())
        })?
        .is_none()
    {
        return Err(LedgerError::NotFound {
            what: "run",
            name: run_id.to_owned(),
        });
    }
    Ok(())
}

fn state_of(db: &mut dyn Db, campaign: &str, row_key: &str) -> Result<String> {
    Ok(db
        .row(
            "SELECT state FROM sends WHERE campaign = ?1 AND row_key = ?2",
            p![campaign, row_key],
            |r| r.s(0),
        )?
        .unwrap_or_else(|| "absent".to_owned()))
}

fn suppression_event(action: SuppressionAction, s: &Suppression) -> Event {
    Event::SuppressionChanged {
        change: SuppressionImage {
            action,
            recipient: s.recipient.clone(),
            channel: s.channel,
            masked: s.masked.clone(),
            reason: s.reason.clone(),
            source: s.source.clone(),
        },
    }
}

fn audit_in(db: &mut dyn Db, at: i64, action: SuppressionAction, s: &Suppression) -> Result<()> {
    let action_str = match action {
        SuppressionAction::Add => "add",
        SuppressionAction::Remove => "remove",
    };
    db.execute(
        "INSERT INTO suppression_audit (action, recipient, channel, masked, reason, source, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![
            action_str,
            s.recipient.as_str(),
            scope_str(s.channel),
            &s.masked,
            &s.reason,
            &s.source,
            at
        ],
    )?;
    append_event(db, at, &suppression_event(action, s))
}

pub(crate) fn suppress_in(db: &mut dyn Db, at: i64, s: &Suppression) -> Result<bool> {
    let inserted = db.execute(
        "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (recipient, channel) DO NOTHING",
        p![
            s.recipient.as_str(),
            scope_str(s.channel),
            &s.masked,
            &s.reason,
            &s.source,
            at
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    audit_in(db, at, SuppressionAction::Add, s)?;
    Ok(true)
}

pub(crate) fn unsuppress_in(
    db: &mut dyn Db,
    at: i64,
    recipient: &RecipientId,
    channel: Option<Channel>,
    reason: &str,
    source: &str,
) -> Result<u64> {
    let mut removed = db.rows(
        "DELETE FROM suppressions WHERE recipient = ?1 AND (CAST(?2 AS TEXT) IS NULL OR channel = CAST(?2 AS TEXT)) \
         RETURNING channel, masked",
        p![recipient.as_str(), channel.map(Channel::as_str)],
        |r| Ok((r.s(0)?, r.s(1)?)),
    )?;
    removed.sort();
    for (scope, masked) in &removed {
        let s = Suppression {
            recipient: recipient.clone(),
            masked: masked.clone(),
            channel: parse_scope(scope)?,
            reason: reason.to_owned(),
            source: source.to_owned(),
        };
        audit_in(db, at, SuppressionAction::Remove, &s)?;
    }
    Ok(removed.len() as u64)
}

/// Writes one claim's row (insert, or move from `from`); `None` if a concurrent writer got
/// there first.
fn write_claim(
    db: &mut dyn Db,
    run_id: &str,
    campaign: &str,
    c: &Claim,
    from: Option<SendState>,
    (state, bump, note): (SendState, i64, Option<&str>),
    at: i64,
) -> Result<Option<RawSend>> {
    let state = state.as_str();
    match from {
        None => db.change_send(
            &send_change!(
                "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
                   run_id, created_at, dispatched_at, updated_at, category, note) \
                 VALUES (?1, ?2, id_pack(?3), ?4, ?5, id_pack(?6), ?7, ?8, ?9, ?10, CASE WHEN CAST(?8 AS BIGINT) > 0 THEN CAST(?10 AS BIGINT) END, ?10, ?11, ?12) \
                 ON CONFLICT (campaign, row_key) DO NOTHING",
            ),
            p![
                campaign,
                &c.row_key,
                c.recipient.as_str(),
                &c.masked,
                c.channel.as_str(),
                &c.template_hash,
                state,
                bump,
                run_id,
                at,
                c.category.as_deref(),
                note
            ],
        ),
        Some(from) => db.change_send(
            &send_change!(
                "UPDATE sends SET recipient = id_pack(?3), masked = ?4, channel = ?5, template_hash = id_pack(?6), state = ?7, \
                   attempts = attempts + CAST(?8 AS BIGINT), next_attempt_at = NULL, message_id = NULL, \
                   conversation_id = NULL, error_code = NULL, note = ?13, run_id = ?9, \
                   dispatched_at = CASE WHEN CAST(?8 AS BIGINT) > 0 THEN ?10 ELSE dispatched_at END, updated_at = ?10, \
                   category = COALESCE(?12, category) \
                 WHERE campaign = ?1 AND row_key = ?2 AND state = ?11",
            ),
            p![
                campaign,
                &c.row_key,
                c.recipient.as_str(),
                &c.masked,
                c.channel.as_str(),
                &c.template_hash,
                state,
                bump,
                run_id,
                at,
                from.as_str(),
                c.category.as_deref(),
                note
            ],
        ),
    }
}

/// Writes a claim held by a frequency cap: the row (inserted, or moved from `from`) is
/// `pending` until `until`; `None` if a concurrent writer got there first.
fn hold_claim(
    db: &mut dyn Db,
    run_id: &str,
    campaign: &str,
    c: &Claim,
    from: Option<SendState>,
    until: i64,
    at: i64,
) -> Result<Option<RawSend>> {
    match from {
        None => db.change_send(
            &send_change!(
                "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
                   next_attempt_at, note, run_id, created_at, updated_at, category) \
                 VALUES (?1, ?2, id_pack(?3), ?4, ?5, id_pack(?6), 'pending', 0, ?7, ?8, ?9, ?10, ?10, ?11) \
                 ON CONFLICT (campaign, row_key) DO NOTHING",
            ),
            p![
                campaign,
                &c.row_key,
                c.recipient.as_str(),
                &c.masked,
                c.channel.as_str(),
                &c.template_hash,
                until,
                CAP_NOTE,
                run_id,
                at,
                c.category.as_deref()
            ],
        ),
        Some(from) => db.change_send(
            &send_change!(
                "UPDATE sends SET recipient = id_pack(?3), masked = ?4, channel = ?5, template_hash = id_pack(?6), state = 'pending', \
                   next_attempt_at = ?7, note = ?8, message_id = NULL, conversation_id = NULL, error_code = NULL, \
                   run_id = ?9, updated_at = ?10, category = COALESCE(?12, category) \
                 WHERE campaign = ?1 AND row_key = ?2 AND state = ?11",
            ),
            p![
                campaign,
                &c.row_key,
                c.recipient.as_str(),
                &c.masked,
                c.channel.as_str(),
                &c.template_hash,
                until,
                CAP_NOTE,
                run_id,
                at,
                from.as_str(),
                c.category.as_deref()
            ],
        ),
    }
}

/// The note on a row held by a frequency cap.
pub(crate) const CAP_NOTE: &str = "frequency cap";

/// When the claim's frequency caps let it go, if one of them is reached at `at`: the
/// recipient's sends of the claim's channel and category that may have reached them
/// (`dispatching`, `sent`, `unknown`; not `failed`, which Genesys refused) with a send time
/// in the last `per`, across every campaign. With `max` of them, the claim waits until the
/// oldest of the newest `max` leaves the window. Runs inside the claim transaction, which
/// every backend serialises (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the `chain_lock` row lock
/// taken first, and READ COMMITTED statements see every earlier commit), so sends claimed by
/// a concurrent run, or earlier in this batch, are counted.
fn cap_until(db: &mut dyn Db, c: &Claim, at: i64) -> Result<Option<i64>> {
    let Some(category) = c.category.as_deref() else {
        return Ok(None);
    };
    let mut until: Option<i64> = None;
    for cap in &c.caps {
        let max = i64::from(cap.max);
        let times = db.rows(
            "SELECT dispatched_at FROM sends WHERE recipient = id_pack(?1) AND dispatched_at > ?2 \
             AND channel = ?3 AND category = ?4 AND state IN ('dispatching', 'sent', 'unknown', 'handed_off') \
             ORDER BY dispatched_at DESC LIMIT ?5",
            p![
                c.recipient.as_str(),
                at.saturating_sub(cap.per_ms),
                c.channel.as_str(),
                category,
                max
            ],
            |r| r.i(0),
        )?;
        // Newest first from the query; the core's rule takes them oldest first.
        let ascending: Vec<i64> = times.into_iter().rev().collect();
        if let Some(opens) = herald_core::send::cap_opens_at(&ascending, cap.max, cap.per_ms, at) {
            until = Some(until.map_or(opens, |u| u.max(opens)));
        }
    }
    Ok(until)
}

/// Claims a batch: a claim that may go becomes `dispatching` (`hand_off: None`) or, handed to
/// wave `n` of a messaging campaign (`hand_off: Some(n)`; the wave must be `recorded`),
/// `handed_off` with the note `wave n`. Suppressions and frequency caps apply the same way.
pub(crate) fn claim_in(
    db: &mut dyn Db,
    at: i64,
    run_id: &str,
    campaign: &str,
    claims: &[Claim],
    redo: Redo,
    hand_off: Option<u32>,
) -> Result<Vec<ClaimResult>> {
    run_exists(db, run_id)?;
    let note = match hand_off {
        None => None,
        Some(n) => {
            let status = crate::waves::wave_in(db, campaign, n)?.map(|w| w.wave.status);
            if status != Some(crate::waves::WaveStatus::Recorded) {
                return Err(LedgerError::Refused(format!(
                    "wave {n} of campaign {campaign} is {}: rows are handed off only to a wave \
                     that is recorded and not yet uploaded",
                    status.map_or("not recorded", |s| s.as_str())
                )));
            }
            Some(crate::waves::wave_note(n))
        }
    };
    // Suppressions of every recipient in the batch, in one lookup.
    let recipients: Vec<&str> = claims.iter().map(|c| c.recipient.as_str()).collect();
    let mut suppressed: HashMap<String, Vec<String>> = HashMap::new();
    for (recipient, scope) in db.suppressions_of(&recipients)? {
        suppressed.entry(recipient).or_default().push(scope);
    }
    let is_suppressed = |c: &Claim| {
        suppressed
            .get(c.recipient.as_str())
            .is_some_and(|scopes| scopes.iter().any(|s| s == "*" || s == c.channel.as_str()))
    };
    let state_sql = format!(
        "SELECT {} FROM sends WHERE campaign = ?1 AND row_key = ?2{}",
        send_cols!(),
        db.row_lock()
    );
    let mut results = Vec::with_capacity(claims.len());
    let mut sealer = Sealer::new(db)?;
    for c in claims {
        let sup = is_suppressed(c);
        // At most two rounds: a row inserted by a concurrent claimer between the lookup and
        // the insert is decided again on its committed state.
        let mut written = None;
        for _ in 0..2 {
            // Locks the row (if any, where the engine can) until commit.
            let pre = db.row(&state_sql, p![campaign, &c.row_key], RawSend::from_row)?;
            let existing = pre.as_ref().map(|r| parse_state(&r.state)).transpose()?;
            let write = match decide(existing, sup, redo) {
                Decision::Skip(s) => {
                    written = Some(ClaimResult::Skipped(s));
                    break;
                }
                Decision::Suppressed => {
                    written = Some(ClaimResult::Suppressed);
                    break;
                }
                Decision::Write { state, bump } => (state, bump),
            };
            if write.0 == SendState::Dispatching
                && let Some(until) = cap_until(db, c, at)?
            {
                if let Some(raw) = hold_claim(db, run_id, campaign, c, existing, until, at)? {
                    if let Some(pre) = &pre {
                        sealer.replaced_send(pre);
                    }
                    sealer.write_send(db, &raw)?;
                    written = Some(ClaimResult::Capped(until));
                    break;
                }
                continue;
            }
            let write = match (write.0, &note) {
                (SendState::Dispatching, Some(note)) => {
                    (SendState::HandedOff, write.1, Some(note.as_str()))
                }
                (state, _) => (state, write.1, None),
            };
            if let Some(raw) = write_claim(db, run_id, campaign, c, existing, write, at)? {
                if let Some(pre) = &pre {
                    sealer.replaced_send(pre);
                }
                sealer.write_send(db, &raw)?;
                written = Some(if sup {
                    ClaimResult::Suppressed
                } else {
                    ClaimResult::Claimed
                });
                break;
            }
        }
        results.push(written.ok_or_else(|| {
            LedgerError::Backend(format!(
                "send {campaign}/{} kept changing under a concurrent claim",
                c.row_key
            ))
        })?);
    }
    let seq = sealer.seq();
    if let Some(digest) = sealer.sends.finish() {
        let event = Event::SendsClaimed {
            run_id: run_id.to_owned(),
            rows: Vec::new(),
            digest: Some(digest),
        };
        append_sealed(db, at, &event, seq)?;
    }
    Ok(results)
}

/// Records outcomes of rows in state `from` (`dispatching`, or `handed_off` for a wave's
/// contacts, whose `wave N` note stays unless the outcome brings its own).
pub(crate) fn outcomes_in(
    db: &mut dyn Db,
    at: i64,
    run_id: &str,
    outcomes: &[Outcome],
    from: SendState,
) -> Result<()> {
    let mut sealer = Sealer::new(db)?;
    let keep_note = from == SendState::HandedOff;
    for o in outcomes {
        let cols = OutcomeColumns::of(&o.result);
        let pre = db.row(SEND_BY_KEY, p![&o.campaign, &o.row_key], RawSend::from_row)?;
        let row = db.change_send(
            &send_change!(
                "UPDATE sends SET state = ?3, message_id = id_pack(?4), conversation_id = id_pack(?5), error_code = ?6, \
                 next_attempt_at = ?7, note = CASE WHEN CAST(?12 AS BIGINT) = 1 THEN COALESCE(?8, note) ELSE ?8 END, \
                 run_id = ?9, updated_at = ?10 \
                 WHERE campaign = ?1 AND row_key = ?2 AND state = ?11",
            ),
            p![
                &o.campaign,
                &o.row_key,
                cols.state.as_str(),
                cols.message_id,
                cols.conversation_id,
                cols.error_code,
                cols.next_attempt_at,
                cols.note,
                run_id,
                at,
                from.as_str(),
                i64::from(keep_note)
            ],
        )?;
        let Some(raw) = row else {
            return Err(LedgerError::InvalidTransition {
                campaign: o.campaign.clone(),
                row_key: o.row_key.clone(),
                from: state_of(db, &o.campaign, &o.row_key)?,
                to: cols.state.as_str().to_owned(),
            });
        };
        if let Some(pre) = &pre {
            sealer.replaced_send(pre);
        }
        sealer.write_send(db, &raw)?;
        if let Some(conv) = cols.conversation_id {
            sealer.conversation(db, &raw.recipient, &raw.channel, conv, at)?;
        }
    }
    let seq = sealer.seq();
    let conversations = sealer.convs.finish();
    if let Some(digest) = sealer.sends.finish() {
        let event = Event::OutcomesRecorded {
            run_id: run_id.to_owned(),
            rows: Vec::new(),
            digest: Some(digest),
            conversations,
        };
        append_sealed(db, at, &event, seq)?;
    }
    Ok(())
}

pub(crate) fn resolve_in(
    db: &mut dyn Db,
    at: i64,
    run_id: &str,
    campaign: &str,
    row_key: &str,
    resolution: &Resolution,
) -> Result<()> {
    let mut sealer = Sealer::new(db)?;
    let pre = db.row(SEND_BY_KEY, p![campaign, row_key], RawSend::from_row)?;
    let row = match resolution {
        Resolution::Found {
            message_id,
            conversation_id,
        } => db.change_send(
            &send_change!(
                "UPDATE sends SET state = 'sent', message_id = id_pack(?3), conversation_id = id_pack(?4), note = 'found by reconcile', \
                 run_id = ?5, updated_at = ?6 WHERE campaign = ?1 AND row_key = ?2 AND state = 'unknown'",
            ),
            p![campaign, row_key, message_id, conversation_id, run_id, at],
        )?,
        Resolution::NotFound => db.change_send(
            &send_change!(
                "UPDATE sends SET state = 'pending', note = 'not found by reconcile', run_id = ?3, updated_at = ?4 \
                 WHERE campaign = ?1 AND row_key = ?2 AND state = 'unknown'",
            ),
            p![campaign, row_key, run_id, at],
        )?,
    };
    let Some(raw) = row else {
        return Err(LedgerError::InvalidTransition {
            campaign: campaign.to_owned(),
            row_key: row_key.to_owned(),
            from: state_of(db, campaign, row_key)?,
            to: resolved_state(resolution).as_str().to_owned(),
        });
    };
    if let Some(pre) = &pre {
        sealer.replaced_send(pre);
    }
    sealer.write_send(db, &raw)?;
    if let Resolution::Found {
        conversation_id: Some(conv),
        ..
    } = resolution
    {
        sealer.conversation(db, &raw.recipient, &raw.channel, conv, at)?;
    }
    let seq = sealer.seq();
    let event = Event::UnknownResolved {
        run_id: run_id.to_owned(),
        rows: Vec::new(),
        digest: sealer.sends.finish(),
        conversations: sealer.convs.finish(),
    };
    append_sealed(db, at, &event, seq)
}

/// Suppression sources a re-subscribe keyword may lift: an inbound STOP recorded by
/// [`inbound_in`]. Every other source (manual, import, legal, receipts, a STOP in a
/// conflicting replay) needs a person to lift it.
const LIFTABLE_SOURCE: &str = "inbound:";

/// The latest recorded message time of a recipient's `action` on a channel.
fn latest_inbound(db: &mut dyn Db, inbound: &InboundRecord, action: &str) -> Result<Option<i64>> {
    Ok(db
        .row(
            "SELECT MAX(received_at) FROM inbound \
             WHERE recipient = ?1 AND channel = ?2 AND action = ?3 AND message_id <> ?4",
            p![
                inbound.recipient.as_str(),
                inbound.channel.as_str(),
                action,
                &inbound.message_id
            ],
            |r| r.int(0),
        )?
        .flatten())
}

/// What an opt-out or re-subscribe keyword does, decided by the messages' own timestamps
/// (not arrival order) and by the authority of the suppression in place:
/// - a STOP suppresses unless a START with a *later* timestamp than it and than every other
///   STOP is recorded (the newest message wins; a tie goes to the STOP);
/// - a START lifts the channel's suppression only if its timestamp is later than every
///   recorded STOP and every suppression that applies comes from an inbound STOP.
///
/// Returns whether to apply the keyword, and the note recorded when it is not applied.
fn opt_out_decision(
    db: &mut dyn Db,
    inbound: &InboundRecord,
    at: i64,
) -> Result<(bool, Option<String>)> {
    match inbound.action {
        InboundAction::Suppress => {
            let start = latest_inbound(db, inbound, "resubscribe")?;
            let stop = latest_inbound(db, inbound, "suppress")?;
            Ok(match start {
                Some(start) if start > at && stop.is_none_or(|stop| start > stop) => (
                    false,
                    Some("STOP not applied: a START with a later timestamp is recorded".to_owned()),
                ),
                _ => (true, None),
            })
        }
        InboundAction::Resubscribe => {
            let sources = db.rows(
                "SELECT source FROM suppressions WHERE recipient = ?1 AND (channel = ?2 OR channel = '*') \
                 ORDER BY channel, source",
                p![inbound.recipient.as_str(), inbound.channel.as_str()],
                |r| r.s(0),
            )?;
            if let Some(source) = sources.iter().find(|s| !s.starts_with(LIFTABLE_SOURCE)) {
                return Ok((
                    false,
                    Some(format!("START ignored: suppressed by {source}")),
                ));
            }
            let stop = latest_inbound(db, inbound, "suppress")?;
            Ok(match stop {
                Some(stop) if stop >= at => (
                    false,
                    Some("START ignored: older than the latest STOP".to_owned()),
                ),
                _ => (true, None),
            })
        }
        InboundAction::Help | InboundAction::None => Ok((false, None)),
    }
}

pub(crate) fn inbound_in(
    db: &mut dyn Db,
    at: i64,
    inbound: &InboundRecord,
) -> Result<InboundResult> {
    // Opt-outs are ordered by the earlier of the message's own time and the time the ledger
    // recorded it: a START dated in the future (a mis-mapped field, a forged request, a
    // skewed clock — by any margin) counts from when it arrived, so it never outranks a STOP
    // sent after it arrived.
    let written = inbound.received_at.as_millisecond().min(at);
    // Decided before the insert, against the messages recorded so far.
    let (apply, note) = opt_out_decision(db, inbound, written)?;
    let n = db.execute(
        "INSERT INTO inbound (message_id, recipient, masked, channel, action, flagged, received_at, recorded_at, text_mac) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (message_id) DO NOTHING",
        p![
            &inbound.message_id,
            inbound.recipient.as_str(),
            &inbound.masked,
            inbound.channel.as_str(),
            inbound_action_str(inbound.action),
            inbound.flagged,
            written,
            at,
            &inbound.text_mac
        ],
    )?;
    if n == 0 {
        return replay_in(db, at, inbound);
    }
    append_event(
        db,
        at,
        &Event::InboundRecorded {
            message_id: inbound.message_id.clone(),
            recipient: inbound.recipient.clone(),
            channel: inbound.channel,
            action: inbound.action,
            flagged: inbound.flagged,
            masked: Some(inbound.masked.clone()),
            received_at: Some(written),
            text_mac: inbound.text_mac.clone(),
            note,
        },
    )?;
    let source = format!("{LIFTABLE_SOURCE}{}", inbound.message_id);
    let changed = match inbound.action {
        InboundAction::Suppress if apply => suppress_in(
            db,
            at,
            &Suppression {
                recipient: inbound.recipient.clone(),
                masked: inbound.masked.clone(),
                channel: Some(inbound.channel),
                reason: if inbound.flagged {
                    "opt-out keyword inside a longer reply (flagged for review)".to_owned()
                } else {
                    "opt-out keyword reply".to_owned()
                },
                source,
            },
        )?,
        InboundAction::Resubscribe if apply => {
            unsuppress_in(
                db,
                at,
                &inbound.recipient,
                Some(inbound.channel),
                "re-subscribe keyword reply",
                &source,
            )? > 0
        }
        _ => false,
    };
    Ok(InboundResult::Recorded {
        suppression_changed: changed,
    })
}

/// A message id already recorded: a plain duplicate when its text is the same (or either
/// text is unknown), else a conflict recorded as its own event; an opt-out keyword in a
/// conflict still suppresses (a STOP is never lost to a mis-mapped id), anything else
/// changes nothing.
fn replay_in(db: &mut dyn Db, at: i64, inbound: &InboundRecord) -> Result<InboundResult> {
    let first = db
        .row(
            "SELECT text_mac FROM inbound WHERE message_id = ?1",
            p![&inbound.message_id],
            |r| r.os(0),
        )?
        .flatten();
    let (Some(first), Some(text_mac)) = (first, inbound.text_mac.as_ref()) else {
        return Ok(InboundResult::Duplicate);
    };
    if first == *text_mac {
        return Ok(InboundResult::Duplicate);
    }
    append_event(
        db,
        at,
        &Event::InboundConflict {
            message_id: inbound.message_id.clone(),
            recipient: inbound.recipient.clone(),
            channel: inbound.channel,
            action: inbound.action,
            text_mac: text_mac.clone(),
        },
    )?;
    let changed = inbound.action == InboundAction::Suppress
        && suppress_in(
            db,
            at,
            &Suppression {
                recipient: inbound.recipient.clone(),
                masked: inbound.masked.clone(),
                channel: Some(inbound.channel),
                reason:
                    "opt-out keyword in a replayed message id whose text differs (flagged for review)"
                        .to_owned(),
                source: format!("inbound-replay:{}", inbound.message_id),
            },
        )?;
    Ok(InboundResult::Conflict {
        suppression_changed: changed,
    })
}

pub(crate) fn receipts_in(
    db: &mut dyn Db,
    now: i64,
    receipts: &[Receipt],
) -> Result<Vec<Option<ReceiptMatch>>> {
    let mut found_all = Vec::with_capacity(receipts.len());
    for rc in receipts {
        let at_ms = rc.at.as_millisecond();
        db.execute(
            "INSERT INTO receipts (message_id, status, reason, at, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            p![&rc.message_id, &rc.status, &rc.reason, at_ms, now],
        )?;
        let mut sealer = Sealer::new(db)?;
        let pre = db.rows(
            concat!(
                "SELECT ",
                send_cols!(),
                " FROM sends WHERE message_id = id_pack(?1) AND (receipt_at IS NULL OR receipt_at <= ?2)"
            ),
            p![&rc.message_id, at_ms],
            RawSend::from_row,
        )?;
        db.execute(
            "UPDATE sends SET receipt_status = ?2, receipt_at = ?3 \
             WHERE message_id = id_pack(?1) AND (receipt_at IS NULL OR receipt_at <= ?3)",
            p![&rc.message_id, &rc.status, at_ms],
        )?;
        for old in &pre {
            sealer.replaced_send(old);
            let post = db
                .row(
                    SEND_BY_KEY,
                    p![&old.campaign, &old.row_key],
                    RawSend::from_row,
                )?
                .ok_or_else(|| LedgerError::Backend("a receipt's send vanished".into()))?;
            sealer.write_send(db, &post)?;
        }
        let found = db.row(
            "SELECT campaign, row_key, id_unpack(recipient), masked, channel FROM sends WHERE message_id = id_pack(?1) \
             ORDER BY campaign, row_key LIMIT 1",
            p![&rc.message_id],
            |r| {
                Ok(ReceiptMatch {
                    campaign: r.s(0)?,
                    row_key: r.s(1)?,
                    recipient: parse_recipient(r.str(2)?)?,
                    masked: r.s(3)?,
                    channel: parse_channel(r.str(4)?)?,
                })
            },
        )?;
        let seq = sealer.seq();
        let event = Event::ReceiptRecorded {
            message_id: rc.message_id.clone(),
            status: rc.status.clone(),
            reason: rc.reason.clone(),
            receipt_at: Some(at_ms),
            digest: sealer.sends.finish(),
        };
        append_sealed(db, now, &event, seq)?;
        found_all.push(found);
    }
    Ok(found_all)
}
