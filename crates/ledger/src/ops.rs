//! The ledger core: every [`Ledger`] operation, written once over [`Store`].
//!
//! Owns: the statements both engines share, event append (the hash chain), the claim loop,
//! outcome recording, suppression changes, verify replay, export and the key check.
//! Invariants: each `&mut self` operation is one [`Store::write`] transaction that appends its
//! events; payloads and hashes are exactly those of [`crate::chain`], so ledgers written
//! before this module existed keep verifying.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;

use crate::Ledger;
use crate::chain::{Event, GENESIS, Replay, StoredEvent, SuppressionImage, event_hash};
use crate::codec::{
    RawSend, binding, corrupt, count, export_row, limit, parse_channel, parse_recipient,
    parse_scope, parse_state, run_record, scope_str, send_cols, seq_of, suppression,
    template_version, ts,
};
use crate::error::{LedgerError, Result};
use crate::key::{Channel, LedgerKey, RecipientId};
use crate::model::{
    BrokenLink, CampaignCounts, Claim, ClaimResult, EventRecord, ExportRow, InboundAction,
    InboundRecord, InboundResult, KeySet, NewRun, Outcome, Receipt, ReceiptMatch, Resolution,
    RunRecord, SendRecord, SendState, SentMessage, Suppression, SuppressionAction,
    SuppressionAudit, SuppressionRow, SuppressionSet, TemplateBinding, TemplateVersionRecord,
    TemplateWrite, UnknownPolicy, VerifyReport,
};
use crate::raw::{RawKind, RawRow, RawSink, RawTable, RawValue, TableCounts, check_fresh};
use crate::rules::{Decision, OutcomeColumns, decide, resolved_state};
use crate::store::{Db, Store, Val, p};

/// Newest schema version this build writes (both backends).
pub const SCHEMA_VERSION: i64 = 1;

const EXPORT_PAGE: i64 = 2_000;

const SEND_BY_KEY: &str = concat!(
    "SELECT ",
    send_cols!(),
    " FROM sends WHERE campaign = $1 AND row_key = $2"
);

/// Appends one event to the chain inside the caller's write transaction.
pub(crate) fn append_event(db: &mut dyn Db, at_ms: i64, event: &Event) -> Result<()> {
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
    let hash = event_hash(&prev, seq, at_ms, &payload);
    let seq = i64::try_from(seq).map_err(|_| LedgerError::Corrupt("event seq overflow".into()))?;
    db.execute(
        "INSERT INTO events (seq, at, kind, payload_json, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
        p![seq, at_ms, event.kind(), &payload, &prev, &hash],
    )?;
    Ok(())
}

/// Checks `key` against the stored fingerprint, recording it (and the creation event) on a
/// new ledger.
pub(crate) fn check_key(store: &mut impl Store, key: &LedgerKey) -> Result<()> {
    let actual = key.fingerprint();
    store.write(|db, at| {
        let stored = db.row(
            "SELECT value FROM meta WHERE key = 'key_fingerprint'",
            &[],
            |r| r.s(0),
        )?;
        match stored {
            Some(expected) if expected == actual => Ok(()),
            Some(expected) => Err(LedgerError::WrongKey { expected, actual }),
            None => {
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('key_fingerprint', $1)",
                    p![&actual],
                )?;
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

fn run_exists(db: &mut dyn Db, run_id: &str) -> Result<()> {
    if db
        .row("SELECT 1 FROM runs WHERE run_id = $1", p![run_id], |_| {
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
            "SELECT state FROM sends WHERE campaign = $1 AND row_key = $2",
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
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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

fn suppress_in(db: &mut dyn Db, at: i64, s: &Suppression) -> Result<bool> {
    let inserted = db.execute(
        "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (recipient, channel) DO NOTHING",
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

fn unsuppress_in(
    db: &mut dyn Db,
    at: i64,
    recipient: &RecipientId,
    channel: Option<Channel>,
    reason: &str,
    source: &str,
) -> Result<u64> {
    let mut removed = db.rows(
        "DELETE FROM suppressions WHERE recipient = $1 AND (CAST($2 AS TEXT) IS NULL OR channel = CAST($2 AS TEXT)) \
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

fn upsert_conversation(db: &mut dyn Db, raw: &RawSend, conversation: &str, at: i64) -> Result<()> {
    db.execute(
        "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (recipient) DO UPDATE SET channel = excluded.channel, \
         conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
        p![&raw.recipient, &raw.channel, conversation, at],
    )?;
    Ok(())
}

/// Writes one claim's row (insert, or move from `from`); `None` if a concurrent writer got
/// there first.
fn write_claim(
    db: &mut dyn Db,
    run_id: &str,
    campaign: &str,
    c: &Claim,
    from: Option<SendState>,
    (state, bump): (SendState, i64),
    at: i64,
) -> Result<Option<RawSend>> {
    let state = state.as_str();
    match from {
        None => db.row(
            concat!(
                "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, \
                   run_id, created_at, dispatched_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN CAST($8 AS BIGINT) > 0 THEN CAST($10 AS BIGINT) END, $10) \
                 ON CONFLICT (campaign, row_key) DO NOTHING RETURNING ",
                send_cols!()
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
                at
            ],
            RawSend::from_row,
        ),
        Some(from) => db.row(
            concat!(
                "UPDATE sends SET recipient = $3, masked = $4, channel = $5, template_hash = $6, state = $7, \
                   attempts = attempts + CAST($8 AS BIGINT), next_attempt_at = NULL, message_id = NULL, \
                   conversation_id = NULL, error_code = NULL, note = NULL, run_id = $9, \
                   dispatched_at = CASE WHEN CAST($8 AS BIGINT) > 0 THEN $10 ELSE dispatched_at END, updated_at = $10 \
                 WHERE campaign = $1 AND row_key = $2 AND state = $11 RETURNING ",
                send_cols!()
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
                from.as_str()
            ],
            RawSend::from_row,
        ),
    }
}

fn claim_in(
    db: &mut dyn Db,
    at: i64,
    run_id: &str,
    campaign: &str,
    claims: &[Claim],
    unknown: UnknownPolicy,
) -> Result<Vec<ClaimResult>> {
    run_exists(db, run_id)?;
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
        "SELECT state FROM sends WHERE campaign = $1 AND row_key = $2{}",
        db.row_lock()
    );
    let mut results = Vec::with_capacity(claims.len());
    let mut images = Vec::new();
    for c in claims {
        let sup = is_suppressed(c);
        // At most two rounds: a row inserted by a concurrent claimer between the lookup and
        // the insert is decided again on its committed state.
        let mut written = None;
        for _ in 0..2 {
            // Locks the row (if any, where the engine can) until commit.
            let existing = db.row(&state_sql, p![campaign, &c.row_key], |r| {
                parse_state(r.str(0)?)
            })?;
            let write = match decide(existing, sup, unknown) {
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
            if let Some(raw) = write_claim(db, run_id, campaign, c, existing, write, at)? {
                images.push(raw.image()?);
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
    if !images.is_empty() {
        append_event(
            db,
            at,
            &Event::SendsClaimed {
                run_id: run_id.to_owned(),
                rows: images,
            },
        )?;
    }
    Ok(results)
}

fn outcomes_in(db: &mut dyn Db, at: i64, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
    let mut images = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let cols = OutcomeColumns::of(&o.result);
        let row = db.row(
            concat!(
                "UPDATE sends SET state = $3, message_id = $4, conversation_id = $5, error_code = $6, \
                 next_attempt_at = $7, note = $8, run_id = $9, updated_at = $10 \
                 WHERE campaign = $1 AND row_key = $2 AND state = 'dispatching' RETURNING ",
                send_cols!()
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
                at
            ],
            RawSend::from_row,
        )?;
        let Some(raw) = row else {
            return Err(LedgerError::InvalidTransition {
                campaign: o.campaign.clone(),
                row_key: o.row_key.clone(),
                from: state_of(db, &o.campaign, &o.row_key)?,
                to: cols.state.as_str().to_owned(),
            });
        };
        if let Some(conv) = cols.conversation_id {
            upsert_conversation(db, &raw, conv, at)?;
        }
        images.push(raw.image()?);
    }
    if !images.is_empty() {
        append_event(
            db,
            at,
            &Event::OutcomesRecorded {
                run_id: run_id.to_owned(),
                rows: images,
            },
        )?;
    }
    Ok(())
}

fn resolve_in(
    db: &mut dyn Db,
    at: i64,
    run_id: &str,
    campaign: &str,
    row_key: &str,
    resolution: &Resolution,
) -> Result<()> {
    let row = match resolution {
        Resolution::Found {
            message_id,
            conversation_id,
        } => db.row(
            concat!(
                "UPDATE sends SET state = 'sent', message_id = $3, conversation_id = $4, note = 'found by reconcile', \
                 run_id = $5, updated_at = $6 WHERE campaign = $1 AND row_key = $2 AND state = 'unknown' RETURNING ",
                send_cols!()
            ),
            p![campaign, row_key, message_id, conversation_id, run_id, at],
            RawSend::from_row,
        )?,
        Resolution::NotFound => db.row(
            concat!(
                "UPDATE sends SET state = 'pending', note = 'not found by reconcile', run_id = $3, updated_at = $4 \
                 WHERE campaign = $1 AND row_key = $2 AND state = 'unknown' RETURNING ",
                send_cols!()
            ),
            p![campaign, row_key, run_id, at],
            RawSend::from_row,
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
    if let Resolution::Found {
        conversation_id: Some(conv),
        ..
    } = resolution
    {
        upsert_conversation(db, &raw, conv, at)?;
    }
    append_event(
        db,
        at,
        &Event::UnknownResolved {
            run_id: run_id.to_owned(),
            rows: vec![raw.image()?],
        },
    )
}

fn inbound_in(db: &mut dyn Db, at: i64, inbound: &InboundRecord) -> Result<InboundResult> {
    let action = match inbound.action {
        InboundAction::Suppress => "suppress",
        InboundAction::Resubscribe => "resubscribe",
        InboundAction::Help => "help",
        InboundAction::None => "none",
    };
    let n = db.execute(
        "INSERT INTO inbound (message_id, recipient, masked, channel, action, flagged, received_at, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING",
        p![
            &inbound.message_id,
            inbound.recipient.as_str(),
            &inbound.masked,
            inbound.channel.as_str(),
            action,
            inbound.flagged,
            inbound.received_at.as_millisecond(),
            at
        ],
    )?;
    if n == 0 {
        return Ok(InboundResult::Duplicate);
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
        },
    )?;
    let source = format!("inbound:{}", inbound.message_id);
    let changed = match inbound.action {
        InboundAction::Suppress => suppress_in(
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
        InboundAction::Resubscribe => {
            unsuppress_in(
                db,
                at,
                &inbound.recipient,
                Some(inbound.channel),
                "re-subscribe keyword reply",
                &source,
            )? > 0
        }
        InboundAction::Help | InboundAction::None => false,
    };
    Ok(InboundResult::Recorded {
        suppression_changed: changed,
    })
}

fn receipts_in(
    db: &mut dyn Db,
    now: i64,
    receipts: &[Receipt],
) -> Result<Vec<Option<ReceiptMatch>>> {
    let mut found_all = Vec::with_capacity(receipts.len());
    for rc in receipts {
        let at_ms = rc.at.as_millisecond();
        db.execute(
            "INSERT INTO receipts (message_id, status, reason, at, recorded_at) VALUES ($1, $2, $3, $4, $5)",
            p![&rc.message_id, &rc.status, &rc.reason, at_ms, now],
        )?;
        db.execute(
            "UPDATE sends SET receipt_status = $2, receipt_at = $3 \
             WHERE message_id = $1 AND (receipt_at IS NULL OR receipt_at <= $3)",
            p![&rc.message_id, &rc.status, at_ms],
        )?;
        let found = db.row(
            "SELECT campaign, row_key, recipient, masked, channel FROM sends WHERE message_id = $1 \
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
        append_event(
            db,
            now,
            &Event::ReceiptRecorded {
                message_id: rc.message_id.clone(),
                status: rc.status.clone(),
                reason: rc.reason.clone(),
            },
        )?;
        found_all.push(found);
    }
    Ok(found_all)
}

pub(crate) fn corrupt_report(reason: &str) -> VerifyReport {
    VerifyReport {
        ok: false,
        events_checked: 0,
        sends_checked: 0,
        suppressions_checked: 0,
        first_broken: Some(BrokenLink {
            seq: None,
            reason: reason.to_owned(),
        }),
    }
}

/// Replays the chain and compares every current row with it, from one snapshot.
fn verify_in(db: &mut dyn Db) -> Result<VerifyReport> {
    let mut replay = Replay::new();
    db.each(
        "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events ORDER BY seq",
        &[],
        &mut |r| {
            if replay.chain_ok() {
                replay.feed_event(&StoredEvent {
                    seq: u64::try_from(r.i(0)?).unwrap_or(0),
                    at_ms: r.i(1)?,
                    kind: r.s(2)?,
                    payload_json: r.s(3)?,
                    prev_hash: r.s(4)?,
                    hash: r.s(5)?,
                });
            }
            Ok(())
        },
    )?;
    if !replay.chain_ok() {
        return Ok(replay.finish());
    }
    let mut unreadable = None;
    db.each(
        concat!("SELECT ", send_cols!(), " FROM sends"),
        &[],
        &mut |r| {
            if unreadable.is_none() {
                let raw = RawSend::from_row(r)?;
                match raw.image() {
                    Ok(image) => replay.check_send(&image),
                    Err(e) => {
                        unreadable = Some(format!(
                            "sends row {}/{} is unreadable: {e}",
                            raw.campaign, raw.row_key
                        ));
                    }
                }
            }
            Ok(())
        },
    )?;
    db.each(
        "SELECT recipient, channel, masked, reason, source FROM suppressions",
        &[],
        &mut |r| {
            if unreadable.is_some() {
                return Ok(());
            }
            let (Some(recipient), Ok(scope)) =
                (RecipientId::from_hex(r.str(0)?), parse_scope(r.str(1)?))
            else {
                unreadable = Some("a suppression row is unreadable".to_owned());
                return Ok(());
            };
            replay.check_suppression(&recipient, scope, r.str(2)?, r.str(3)?, r.str(4)?);
            Ok(())
        },
    )?;
    Ok(match unreadable {
        Some(reason) => corrupt_report(&reason),
        None => replay.finish(),
    })
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
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
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

fn counts_entry<'a>(
    out: &'a mut BTreeMap<String, CampaignCounts>,
    c: &str,
) -> &'a mut CampaignCounts {
    out.entry(c.to_owned()).or_insert_with(|| CampaignCounts {
        campaign: c.to_owned(),
        by_state: SendState::ALL.iter().map(|s| (*s, 0)).collect(),
        ..CampaignCounts::default()
    })
}

impl<S: Store> Ledger for S {
    fn recover_dispatching(&mut self) -> Result<u64> {
        self.write(|db, at| {
            let mut images = db.rows(
                concat!(
                    "UPDATE sends SET state = 'unknown', note = 'interrupted while dispatching', updated_at = $1 \
                     WHERE state = 'dispatching' RETURNING ",
                    send_cols!()
                ),
                p![at],
                |r| RawSend::from_row(r)?.image(),
            )?;
            if images.is_empty() {
                return Ok(0);
            }
            images.sort_by(|a, b| (&a.campaign, &a.row_key).cmp(&(&b.campaign, &b.row_key)));
            let n = images.len() as u64;
            append_event(db, at, &Event::DispatchingRecovered { rows: images })?;
            Ok(n)
        })
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<()> {
        self.write(|db, at| {
            let n = db.execute(
                "INSERT INTO runs (run_id, command, user_name, host, git_commit, plan_hash, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING",
                p![&run.run_id, &run.command, &run.user, &run.host, &run.git_commit, &run.plan_hash, at],
            )?;
            if n == 0 {
                return Err(LedgerError::AlreadyExists {
                    what: "run",
                    name: run.run_id.clone(),
                });
            }
            append_event(db, at, &Event::RunStarted { run: run.clone() })
        })
    }

    fn finish_run(&mut self, run_id: &str, outcome: &str) -> Result<()> {
        self.write(|db, at| {
            let n = db.execute(
                "UPDATE runs SET finished_at = $2, outcome = $3 WHERE run_id = $1",
                p![run_id, at, outcome],
            )?;
            if n == 0 {
                return Err(LedgerError::NotFound {
                    what: "run",
                    name: run_id.to_owned(),
                });
            }
            append_event(
                db,
                at,
                &Event::RunFinished {
                    run_id: run_id.to_owned(),
                    outcome: outcome.to_owned(),
                },
            )
        })
    }

    fn runs(&self, n: usize) -> Result<Vec<RunRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT run_id, command, user_name, host, git_commit, plan_hash, started_at, finished_at, outcome \
                 FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $1",
                p![limit(n)],
                run_record,
            )
        })
    }

    fn template_binding(&self, name: &str) -> Result<Option<TemplateBinding>> {
        self.read(|db| {
            db.row(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings WHERE name = $1",
                p![name],
                binding,
            )
        })
    }

    fn template_bindings(&self) -> Result<Vec<TemplateBinding>> {
        self.read(|db| {
            db.rows(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings ORDER BY name",
                &[],
                binding,
            )
        })
    }

    fn record_template_write(&mut self, w: &TemplateWrite) -> Result<()> {
        self.write(|db, at| {
            run_exists(db, &w.run_id)?;
            db.execute(
                "INSERT INTO template_versions (name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, run_id, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                p![&w.name, &w.response_id, w.version, &w.content_hash, &w.remote_hash, &w.git_commit, &w.overwrote_hash, &w.run_id, at],
            )?;
            db.execute(
                "INSERT INTO template_bindings (name, response_id, version, content_hash, remote_hash, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET response_id = excluded.response_id, version = excluded.version, \
                 content_hash = excluded.content_hash, remote_hash = excluded.remote_hash, updated_at = excluded.updated_at",
                p![&w.name, &w.response_id, w.version, &w.content_hash, &w.remote_hash, at],
            )?;
            append_event(db, at, &Event::TemplateWritten { write: w.clone() })
        })
    }

    fn rename_template_binding(&mut self, run_id: &str, old: &str, new: &str) -> Result<()> {
        self.write(|db, at| {
            run_exists(db, run_id)?;
            if db
                .row(
                    "SELECT 1 FROM template_bindings WHERE name = $1",
                    p![new],
                    |_| Ok(()),
                )?
                .is_some()
            {
                return Err(LedgerError::AlreadyExists {
                    what: "template binding",
                    name: new.to_owned(),
                });
            }
            let n = db.execute(
                "UPDATE template_bindings SET name = $2, updated_at = $3 WHERE name = $1",
                p![old, new, at],
            )?;
            if n == 0 {
                return Err(LedgerError::NotFound {
                    what: "template binding",
                    name: old.to_owned(),
                });
            }
            append_event(
                db,
                at,
                &Event::TemplateRenamed {
                    run_id: run_id.to_owned(),
                    old: old.to_owned(),
                    new: new.to_owned(),
                },
            )
        })
    }

    fn template_history(&self, name: Option<&str>) -> Result<Vec<TemplateVersionRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT run_id, name, response_id, version, content_hash, remote_hash, git_commit, overwrote_hash, at \
                 FROM template_versions WHERE CAST($1 AS TEXT) IS NULL OR name = CAST($1 AS TEXT) ORDER BY id",
                p![name],
                template_version,
            )
        })
    }

    fn campaign_keys(&self, campaign: &str) -> Result<KeySet> {
        self.read(|db| {
            let mut set = KeySet::default();
            db.each(
                "SELECT row_key, state FROM sends WHERE campaign = $1",
                p![campaign],
                &mut |r| {
                    set.states.insert(r.s(0)?, parse_state(r.str(1)?)?);
                    Ok(())
                },
            )?;
            Ok(set)
        })
    }

    fn campaign_recipients(&self, campaign: &str) -> Result<HashSet<RecipientId>> {
        self.read(|db| {
            let mut set = HashSet::new();
            db.each(
                "SELECT DISTINCT recipient FROM sends WHERE campaign = $1 AND state <> 'suppressed'",
                p![campaign],
                &mut |r| {
                    set.insert(parse_recipient(r.str(0)?)?);
                    Ok(())
                },
            )?;
            Ok(set)
        })
    }

    fn suppression_set(&self) -> Result<SuppressionSet> {
        self.read(|db| {
            let mut set = SuppressionSet::default();
            db.each(
                "SELECT recipient, channel FROM suppressions",
                &[],
                &mut |r| {
                    let recipient = parse_recipient(r.str(0)?)?;
                    match parse_scope(r.str(1)?)? {
                        None => set.all_channels.insert(recipient),
                        Some(c) => set.by_channel.entry(c).or_default().insert(recipient),
                    };
                    Ok(())
                },
            )?;
            Ok(set)
        })
    }

    fn claim_batch(
        &mut self,
        run_id: &str,
        campaign: &str,
        claims: &[Claim],
        unknown: UnknownPolicy,
    ) -> Result<Vec<ClaimResult>> {
        self.write(|db, at| claim_in(db, at, run_id, campaign, claims, unknown))
    }

    fn record_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
        self.write(|db, at| outcomes_in(db, at, run_id, outcomes))
    }

    fn sends_in_state(&self, campaign: Option<&str>, state: SendState) -> Result<Vec<SendRecord>> {
        self.read(|db| {
            db.rows(
                concat!(
                    "SELECT ",
                    send_cols!(),
                    " FROM sends WHERE state = $1 AND (CAST($2 AS TEXT) IS NULL OR campaign = CAST($2 AS TEXT)) \
                     ORDER BY campaign, row_key"
                ),
                p![state.as_str(), campaign],
                |r| RawSend::from_row(r)?.record(),
            )
        })
    }

    fn send(&self, campaign: &str, row_key: &str) -> Result<Option<SendRecord>> {
        self.read(|db| {
            db.row(SEND_BY_KEY, p![campaign, row_key], |r| {
                RawSend::from_row(r)?.record()
            })
        })
    }

    fn resolve_unknown(
        &mut self,
        run_id: &str,
        campaign: &str,
        row_key: &str,
        resolution: &Resolution,
    ) -> Result<()> {
        self.write(|db, at| resolve_in(db, at, run_id, campaign, row_key, resolution))
    }

    fn campaign_counts(
        &self,
        campaign: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<CampaignCounts>> {
        self.read(|db| {
            let mut out: BTreeMap<String, CampaignCounts> = BTreeMap::new();
            db.each(
                "SELECT campaign, state, COUNT(*), \
                 SUM(CASE WHEN state = 'pending' AND next_attempt_at > $2 THEN 1 ELSE 0 END) \
                 FROM sends WHERE CAST($1 AS TEXT) IS NULL OR campaign = CAST($1 AS TEXT) GROUP BY campaign, state",
                p![campaign, now.as_millisecond()],
                &mut |r| {
                    let entry = counts_entry(&mut out, r.str(0)?);
                    entry.by_state.insert(parse_state(r.str(1)?)?, count(r.i(2)?));
                    entry.held += count(r.i(3)?);
                    Ok(())
                },
            )?;
            db.each(
                "SELECT campaign, receipt_status, COUNT(*) FROM sends \
                 WHERE receipt_status IS NOT NULL AND (CAST($1 AS TEXT) IS NULL OR campaign = CAST($1 AS TEXT)) \
                 GROUP BY campaign, receipt_status",
                p![campaign],
                &mut |r| {
                    counts_entry(&mut out, r.str(0)?)
                        .receipts
                        .insert(r.s(1)?, count(r.i(2)?));
                    Ok(())
                },
            )?;
            Ok(out.into_values().collect())
        })
    }

    fn conversation_for(&self, recipient: &RecipientId) -> Result<Option<String>> {
        self.read(|db| {
            db.row(
                "SELECT conversation_id FROM conversations WHERE recipient = $1",
                p![recipient.as_str()],
                |r| r.s(0),
            )
        })
    }

    fn suppress_many(&mut self, suppressions: &[Suppression]) -> Result<u64> {
        self.write(|db, at| {
            let mut n = 0;
            for s in suppressions {
                if suppress_in(db, at, s)? {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    fn unsuppress(
        &mut self,
        recipient: &RecipientId,
        channel: Option<Channel>,
        reason: &str,
        source: &str,
    ) -> Result<u64> {
        self.write(|db, at| unsuppress_in(db, at, recipient, channel, reason, source))
    }

    fn is_suppressed(&self, recipient: &RecipientId, channel: Channel) -> Result<bool> {
        self.read(|db| {
            Ok(db
                .row(
                    "SELECT 1 FROM suppressions WHERE recipient = $1 AND (channel = $2 OR channel = '*') LIMIT 1",
                    p![recipient.as_str(), channel.as_str()],
                    |_| Ok(()),
                )?
                .is_some())
        })
    }

    fn suppressions(&self) -> Result<Vec<SuppressionRow>> {
        self.read(|db| {
            db.rows(
                "SELECT recipient, channel, masked, reason, source, since FROM suppressions \
                 ORDER BY since, recipient, channel",
                &[],
                |r| {
                    Ok(SuppressionRow {
                        suppression: suppression(r, 0)?,
                        since: ts(r.i(5)?)?,
                    })
                },
            )
        })
    }

    fn suppression_history(
        &self,
        recipient: Option<&RecipientId>,
    ) -> Result<Vec<SuppressionAudit>> {
        self.read(|db| {
            db.rows(
                "SELECT action, recipient, channel, masked, reason, source, at FROM suppression_audit \
                 WHERE CAST($1 AS TEXT) IS NULL OR recipient = CAST($1 AS TEXT) ORDER BY id",
                p![recipient.map(RecipientId::as_str)],
                |r| {
                    Ok(SuppressionAudit {
                        action: match r.str(0)? {
                            "add" => SuppressionAction::Add,
                            "remove" => SuppressionAction::Remove,
                            other => return Err(corrupt("audit action", other)),
                        },
                        suppression: suppression(r, 1)?,
                        at: ts(r.i(6)?)?,
                    })
                },
            )
        })
    }

    fn record_inbound(&mut self, inbound: &InboundRecord) -> Result<InboundResult> {
        self.write(|db, at| inbound_in(db, at, inbound))
    }

    fn record_receipts(&mut self, receipts: &[Receipt]) -> Result<Vec<Option<ReceiptMatch>>> {
        self.write(|db, now| receipts_in(db, now, receipts))
    }

    fn recent_sent(&self, since: Timestamp, n: usize) -> Result<Vec<SentMessage>> {
        self.read(|db| {
            db.rows(
                "SELECT campaign, row_key, message_id, channel, updated_at, receipt_status FROM sends \
                 WHERE state = 'sent' AND message_id IS NOT NULL AND updated_at >= $1 \
                 ORDER BY updated_at, campaign, row_key LIMIT $2",
                p![since.as_millisecond(), limit(n)],
                |r| {
                    Ok(SentMessage {
                        campaign: r.s(0)?,
                        row_key: r.s(1)?,
                        message_id: r.s(2)?,
                        channel: parse_channel(r.str(3)?)?,
                        sent_at: ts(r.i(4)?)?,
                        last_status: r.os(5)?,
                    })
                },
            )
        })
    }

    fn events(&self, after_seq: u64, n: usize) -> Result<Vec<EventRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                p![i64::try_from(after_seq).unwrap_or(i64::MAX), limit(n)],
                |r| {
                    Ok(EventRecord {
                        seq: seq_of(r.i(0)?)?,
                        at: ts(r.i(1)?)?,
                        kind: r.s(2)?,
                        payload_json: r.s(3)?,
                        prev_hash: r.s(4)?,
                        hash: r.s(5)?,
                    })
                },
            )
        })
    }

    fn verify(&self) -> Result<VerifyReport> {
        // One snapshot: events and rows agree even while a receiver keeps writing.
        self.snapshot(verify_in)
    }

    fn export(
        &self,
        campaign: Option<&str>,
        sink: &mut dyn FnMut(ExportRow) -> Result<()>,
    ) -> Result<u64> {
        // Pages by key, releasing the connection between pages, so the sink may read this
        // ledger too.
        let mut after = (String::new(), String::new());
        let mut first = true;
        let mut n = 0;
        loop {
            let rows = self.read(|db| {
                db.rows(
                    "SELECT s.campaign, s.row_key, s.recipient, s.masked, s.channel, s.state, s.attempts, s.template_hash, \
                     s.message_id, s.conversation_id, s.error_code, r.git_commit, s.receipt_status, s.updated_at \
                     FROM sends s LEFT JOIN runs r ON r.run_id = s.run_id \
                     WHERE (CAST($1 AS TEXT) IS NULL OR s.campaign = CAST($1 AS TEXT)) \
                     AND ($2 OR (s.campaign, s.row_key) > ($3, $4)) \
                     ORDER BY s.campaign, s.row_key LIMIT $5",
                    p![campaign, first, &after.0, &after.1, EXPORT_PAGE],
                    export_row,
                )
            })?;
            first = false;
            let full = rows.len() as u64 == EXPORT_PAGE.unsigned_abs();
            for row in rows {
                after = (row.campaign.clone(), row.row_key.clone());
                sink(row)?;
                n += 1;
            }
            if !full {
                return Ok(n);
            }
        }
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        Store::integrity_check(self)
    }

    fn table_counts(&self) -> Result<TableCounts> {
        self.read(table_counts_in)
    }

    fn export_raw(&self, sink: &mut RawSink<'_>) -> Result<()> {
        // One snapshot: every table comes from the same point in time.
        self.snapshot(|db| {
            for table in RawTable::ALL {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    table.column_list(),
                    table.name(),
                    table.order_by()
                );
                let cols = table.columns();
                db.each(&sql, &[], &mut |r| {
                    let mut values = Vec::with_capacity(cols.len());
                    for (i, c) in cols.iter().enumerate() {
                        let value = match c.kind {
                            RawKind::Text => {
                                r.text(i).map(|t| t.map(str::to_owned).map(RawValue::Text))
                            }
                            RawKind::Int | RawKind::Bool => r.int(i).map(|n| n.map(RawValue::Int)),
                        };
                        let value = value.map_err(|_| {
                            corrupt(
                                "value of the wrong kind in",
                                &format!("{}.{}", table.name(), c.name),
                            )
                        })?;
                        values.push(value.unwrap_or(RawValue::Null));
                    }
                    let row = RawRow { table, values };
                    row.check()?;
                    sink(row)
                })?;
            }
            Ok(())
        })
    }

    fn import_raw(
        &mut self,
        feed: &mut dyn FnMut(&mut RawSink<'_>) -> Result<()>,
    ) -> Result<TableCounts> {
        Store::import_raw(self, feed)
    }
}
