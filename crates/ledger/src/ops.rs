//! The ledger core: every [`Ledger`] operation, written once over [`Store`].
//!
//! Owns: the read statements both engines share and the dispatch of every operation to
//! [`crate::writes`] (changes) and [`crate::audit`] (verify, raw copy).
//! Invariants: each `&mut self` operation is one [`Store::write`] transaction that appends its
//! events; payloads and hashes are exactly those of [`crate::chain`], so ledgers written
//! before this module existed keep verifying.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;

use crate::Ledger;
use crate::audit::{table_counts_in, verify_chain_in, verify_in};
use crate::chain::Event;
use crate::codec::{
    RawSend, SEND_BY_KEY, binding, corrupt, count, export_row, limit, parse_channel,
    parse_recipient, parse_scope, parse_state, run_record, send_cols, seq_of, suppression,
    template_version, ts,
};
use crate::error::{LedgerError, Result};
use crate::key::{Channel, RecipientId};
use crate::model::{
    CampaignCounts, ChainHead, Claim, ClaimResult, EventRecord, ExportRow, InboundRecord,
    InboundResult, KeySet, NewRun, Outcome, Receipt, ReceiptMatch, RecentSends, Redo, Resolution,
    RunRecord, SendRecord, SendState, SentMessage, Suppression, SuppressionAction,
    SuppressionAudit, SuppressionRow, SuppressionSet, TemplateBinding, TemplateVersionRecord,
    TemplateWrite, VerifyReport,
};
use crate::raw::{RawKind, RawRow, RawSink, RawTable, RawValue, TableCounts};
use crate::store::{Store, p};
use crate::writes::{
    Sealer, append_event, append_sealed, claim_in, inbound_in, outcomes_in, receipts_in,
    resolve_in, run_exists, suppress_in, unsuppress_in,
};

/// Newest schema version this build writes (both backends).
pub const SCHEMA_VERSION: i64 = 13;

const EXPORT_PAGE: i64 = 2_000;

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
            let mut sealer = Sealer::new(db)?;
            let pre = db.rows(
                concat!(
                    "SELECT ",
                    send_cols!(),
                    " FROM sends WHERE state = 'dispatching' AND state <> 'sent' ORDER BY campaign, row_key"
                ),
                &[],
                RawSend::from_row,
            )?;
            if pre.is_empty() {
                return Ok(0);
            }
            for old in &pre {
                sealer.replaced_send(old);
                let post = db
                    .rows(
                        concat!(
                            "UPDATE sends SET state = 'unknown', note = 'interrupted while dispatching', updated_at = ?3 \
                             WHERE campaign = ?1 AND row_key = ?2 AND state = 'dispatching' RETURNING ",
                            send_cols!()
                        ),
                        p![&old.campaign, &old.row_key, at],
                        RawSend::from_row,
                    )?
                    .pop()
                    .ok_or_else(|| LedgerError::Backend("a dispatching send vanished".into()))?;
                sealer.write_send(db, &post)?;
            }
            let n = pre.len() as u64;
            let seq = sealer.seq();
            let event = Event::DispatchingRecovered {
                rows: Vec::new(),
                digest: sealer.sends.finish(),
            };
            append_sealed(db, at, &event, seq)?;
            Ok(n)
        })
    }

    fn begin_run(&mut self, run: &NewRun) -> Result<()> {
        self.write(|db, at| {
            let n = db.execute(
                "INSERT INTO runs (run_id, command, user_name, host, git_commit, plan_hash, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id) DO NOTHING",
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
                "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE run_id = ?1",
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
                 FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?1",
                p![limit(n)],
                run_record,
            )
        })
    }

    fn template_binding(&self, name: &str) -> Result<Option<TemplateBinding>> {
        self.read(|db| {
            db.row(
                "SELECT name, response_id, version, content_hash, remote_hash FROM template_bindings WHERE name = ?1",
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                p![&w.name, &w.response_id, w.version, &w.content_hash, &w.remote_hash, &w.git_commit, &w.overwrote_hash, &w.run_id, at],
            )?;
            db.execute(
                "INSERT INTO template_bindings (name, response_id, version, content_hash, remote_hash, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
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
                    "SELECT 1 FROM template_bindings WHERE name = ?1",
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
                "UPDATE template_bindings SET name = ?2, updated_at = ?3 WHERE name = ?1",
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
                 FROM template_versions WHERE CAST(?1 AS TEXT) IS NULL OR name = CAST(?1 AS TEXT) ORDER BY id",
                p![name],
                template_version,
            )
        })
    }

    fn recent_sends(
        &self,
        since: Timestamp,
        channel: Channel,
        category: &str,
    ) -> Result<RecentSends> {
        self.read(|db| {
            // The state is filtered here, not in SQL: given `state IN (…)`, SQLite's planner
            // walks the `sends_state` index over every sent row of every campaign (half a
            // second on a million-row ledger) instead of the partial time index.
            let mut pairs = crate::model::RecentPairs::default();
            db.each(
                "SELECT recipient, dispatched_at, state FROM sends \
                 WHERE dispatched_at > ?1 AND category IS NOT NULL AND category = ?2 \
                 AND channel = ?3",
                p![since.as_millisecond(), category, channel.as_str()],
                &mut |r| {
                    if matches!(r.str(2)?, "dispatching" | "sent" | "unknown" | "handed_off") {
                        let recipient = crate::packed::recipient_cell(r, 0)?;
                        pairs.push((recipient, r.i(1)?));
                    }
                    Ok(())
                },
            )?;
            Ok(RecentSends::from_pairs(pairs))
        })
    }

    fn campaign_keys(&self, campaign: &str) -> Result<KeySet> {
        self.read(|db| {
            let mut set = KeySet::default();
            db.each(
                "SELECT row_key, state FROM sends WHERE campaign = ?1",
                p![campaign],
                &mut |r| {
                    set.insert(r.str(0)?, parse_state(r.str(1)?)?);
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
                "SELECT recipient FROM sends WHERE campaign = ?1 AND state <> 'suppressed'",
                p![campaign],
                &mut |r| {
                    set.insert(RecipientId::from_bytes(crate::packed::recipient_cell(
                        r, 0,
                    )?));
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
        redo: Redo,
    ) -> Result<Vec<ClaimResult>> {
        self.write(|db, at| claim_in(db, at, run_id, campaign, claims, redo, None))
    }

    fn record_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
        self.write(|db, at| outcomes_in(db, at, run_id, outcomes, SendState::Dispatching))
    }

    fn record_wave(&mut self, run_id: &str, wave: &crate::Wave) -> Result<()> {
        self.write(|db, at| crate::waves::record_wave_in(db, at, run_id, wave))
    }

    fn waves(&self, campaign: Option<&str>) -> Result<Vec<crate::WaveRecord>> {
        self.read(|db| crate::waves::waves_in(db, campaign))
    }

    fn hand_off_batch(
        &mut self,
        run_id: &str,
        campaign: &str,
        wave: u32,
        claims: &[Claim],
        redo: Redo,
    ) -> Result<Vec<ClaimResult>> {
        self.write(|db, at| claim_in(db, at, run_id, campaign, claims, redo, Some(wave)))
    }

    fn record_wave_outcomes(&mut self, run_id: &str, outcomes: &[Outcome]) -> Result<()> {
        self.write(|db, at| outcomes_in(db, at, run_id, outcomes, SendState::HandedOff))
    }

    fn handed_off_page(
        &self,
        campaign: &str,
        wave: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let note = crate::waves::wave_note(wave);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|db| {
            db.rows(
                "SELECT row_key FROM sends WHERE campaign = ?1 AND state = ?2 AND note = ?3 \
                 AND (CAST(?4 AS TEXT) IS NULL OR row_key > CAST(?4 AS TEXT)) \
                 ORDER BY row_key LIMIT ?5",
                p![campaign, SendState::HandedOff.as_str(), &note, after, limit],
                |r| r.str(0).map(str::to_owned),
            )
        })
    }

    fn sends_in_state(&self, campaign: Option<&str>, state: SendState) -> Result<Vec<SendRecord>> {
        // `sends_state` holds only the rows not `sent`; the extra term lets the planner use it.
        let sql = if state == SendState::Sent {
            concat!(
                "SELECT ",
                send_cols!(),
                " FROM sends WHERE state = ?1 AND (CAST(?2 AS TEXT) IS NULL OR campaign = CAST(?2 AS TEXT)) \
                 ORDER BY campaign, row_key"
            )
        } else {
            concat!(
                "SELECT ",
                send_cols!(),
                " FROM sends WHERE state = ?1 AND state <> 'sent' \
                 AND (CAST(?2 AS TEXT) IS NULL OR campaign = CAST(?2 AS TEXT)) ORDER BY campaign, row_key"
            )
        };
        self.read(|db| {
            db.rows(sql, p![state.as_str(), campaign], |r| {
                RawSend::from_row(r)?.record()
            })
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
                 SUM(CASE WHEN state = 'pending' AND next_attempt_at > ?2 THEN 1 ELSE 0 END) \
                 FROM sends WHERE CAST(?1 AS TEXT) IS NULL OR campaign = CAST(?1 AS TEXT) GROUP BY campaign, state",
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
                 WHERE receipt_status IS NOT NULL AND (CAST(?1 AS TEXT) IS NULL OR campaign = CAST(?1 AS TEXT)) \
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
                "SELECT id_unpack(conversation_id) FROM conversations WHERE recipient = id_pack(?1)",
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
                    "SELECT 1 FROM suppressions WHERE recipient = ?1 AND (channel = ?2 OR channel = '*') LIMIT 1",
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
                 WHERE CAST(?1 AS TEXT) IS NULL OR recipient = CAST(?1 AS TEXT) ORDER BY id",
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
                "SELECT campaign, row_key, id_unpack(message_id), channel, updated_at, receipt_status, id_unpack(conversation_id) FROM sends \
                 WHERE state = 'sent' AND message_id IS NOT NULL AND updated_at >= ?1 \
                 ORDER BY updated_at, campaign, row_key LIMIT ?2",
                p![since.as_millisecond(), limit(n)],
                |r| {
                    Ok(SentMessage {
                        campaign: r.s(0)?,
                        row_key: r.s(1)?,
                        message_id: r.s(2)?,
                        channel: parse_channel(r.str(3)?)?,
                        sent_at: ts(r.i(4)?)?,
                        last_status: r.os(5)?,
                        conversation_id: r.os(6)?,
                    })
                },
            )
        })
    }

    fn events(&self, after_seq: u64, n: usize) -> Result<Vec<EventRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT seq, at, kind, payload_json, prev_hash, hash FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
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

    fn dnc_import(
        &mut self,
        import: &crate::DncImport,
        next: &mut dyn FnMut() -> Result<Option<Vec<crate::DncChange>>>,
    ) -> Result<crate::DncImportReport> {
        self.write(|db, at| crate::dnc::import_in(db, at, import, next))
    }

    fn dnc_registries(&self) -> Result<Vec<crate::DncRegistry>> {
        self.read(crate::dnc::registries_in)
    }

    fn dnc_lookup(&self, recipients: &[RecipientId]) -> Result<Vec<(RecipientId, String)>> {
        self.read(|db| crate::dnc::lookup_in(db, recipients))
    }

    fn dnc_set(&self) -> Result<crate::DncSet> {
        self.read(crate::dnc::set_in)
    }

    fn claim_reply(&mut self, claim: &crate::ReplyClaim) -> Result<crate::ReplyClaimResult> {
        self.write(|db, at| crate::replies::claim_in(db, at, claim))
    }

    fn record_reply(&mut self, inbound_id: &str, outcome: &crate::ReplyOutcome) -> Result<()> {
        self.write(|db, at| crate::replies::record_in(db, at, inbound_id, outcome))
    }

    fn replies_to(&self, recipient: &RecipientId) -> Result<Vec<crate::ReplyRecord>> {
        self.read(|db| crate::replies::of_recipient_in(db, recipient))
    }

    fn record_send_facts(&mut self, facts: &[crate::SendFacts]) -> Result<()> {
        if facts.is_empty() {
            return Ok(());
        }
        self.write(|db, at| crate::dnc::record_facts_in(db, at, facts))
    }

    fn recipient_audit(&self, recipient: &RecipientId) -> Result<crate::RecipientAudit> {
        self.snapshot(|db| crate::dnc::audit_in(db, recipient))
    }

    fn verify(&self) -> Result<VerifyReport> {
        // One snapshot: events and rows agree even while a receiver keeps writing. After the
        // replay, the checkpoint must be sealed at the head and match the tables.
        self.snapshot(|db| {
            let mut report = verify_in(db)?;
            if report.ok {
                let check = crate::checkpoint::check_in(db)?;
                if !check.ok {
                    report.ok = false;
                    report.first_broken = Some(crate::model::BrokenLink {
                        seq: check.seq,
                        reason: check.problem.unwrap_or_default(),
                    });
                }
            }
            Ok(report)
        })
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
                    "SELECT s.campaign, s.row_key, id_unpack(s.recipient), s.masked, s.channel, s.state, s.attempts, id_unpack(s.template_hash), \
                     id_unpack(s.message_id), id_unpack(s.conversation_id), s.error_code, r.git_commit, s.receipt_status, s.updated_at \
                     FROM sends s LEFT JOIN runs r ON r.run_id = s.run_id \
                     WHERE (CAST(?1 AS TEXT) IS NULL OR s.campaign = CAST(?1 AS TEXT)) \
                     AND (?2 OR (s.campaign, s.row_key) > (?3, ?4)) \
                     ORDER BY s.campaign, s.row_key LIMIT ?5",
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

    fn probe_write(&mut self) -> Result<()> {
        const ROLLBACK: &str = "write probe done; rolling back";
        let outcome = self.write(|db, at| {
            // A real row write (it needs the writer lock and a writable database), undone
            // by returning an error, which rolls the transaction back.
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('write_probe', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                p![at.to_string().as_str()],
            )?;
            Err::<(), _>(LedgerError::Backend(ROLLBACK.to_owned()))
        });
        match outcome {
            Err(LedgerError::Backend(reason)) if reason == ROLLBACK => Ok(()),
            Err(e) => Err(e),
            Ok(()) => unreachable!("the probe always rolls back"),
        }
    }

    fn table_counts(&self) -> Result<TableCounts> {
        self.read(table_counts_in)
    }

    fn verified_head(&self) -> Result<Option<ChainHead>> {
        self.read(crate::incremental::mark_in)
    }

    fn record_verified(&mut self, head: &ChainHead) -> Result<()> {
        self.write(|db, _| crate::incremental::record_mark_in(db, head))
    }

    fn verify_since(&self, since: &ChainHead) -> Result<VerifyReport> {
        self.snapshot(|db| crate::incremental::verify_since_in(db, since))
    }

    fn verify_chain(&self) -> Result<VerifyReport> {
        self.snapshot(verify_chain_in)
    }

    fn head(&self) -> Result<Option<ChainHead>> {
        self.read(|db| {
            db.row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                &[],
                |r| {
                    Ok(ChainHead {
                        seq: seq_of(r.i(0)?)?,
                        hash: r.s(1)?,
                    })
                },
            )
        })
    }

    fn check_checkpoint(&self) -> Result<crate::CheckpointReport> {
        self.snapshot(crate::checkpoint::check_in)
    }

    fn contains_head(&self, head: &ChainHead) -> Result<bool> {
        let Ok(seq) = i64::try_from(head.seq) else {
            return Ok(false);
        };
        self.read(|db| {
            Ok(db
                .row("SELECT hash FROM events WHERE seq = ?1", p![seq], |r| {
                    r.s(0)
                })?
                .is_some_and(|hash| head.matches(head.seq, &hash)))
        })
    }

    fn export_raw(&self, sink: &mut RawSink<'_>) -> Result<()> {
        // One snapshot: every table comes from the same point in time.
        self.snapshot(|db| {
            for table in RawTable::ALL {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    table.select_list(),
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

    fn archive_candidates(&self, before: Timestamp) -> Result<Vec<crate::ArchiveCandidate>> {
        self.snapshot(|db| crate::cut::candidates_in(db, before))
    }

    fn archive_rows(&self, campaigns: &[String], sink: &mut RawSink<'_>) -> Result<()> {
        self.snapshot(|db| crate::cut::rows_in(db, campaigns, sink))
    }

    fn archive_cut(&mut self, cut: &crate::ArchiveCut) -> Result<ChainHead> {
        self.write(|db, at| crate::cut::cut_in(db, at, cut))
    }

    fn archive_cuts(&self) -> Result<Vec<crate::ArchiveCutRecord>> {
        self.read(crate::cut::archived_in)
    }
}
