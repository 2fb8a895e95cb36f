//! One batch of the send protocol: pre-flight, claim, dispatch (paced, each message's window
//! checked again), record.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use herald_ledger::{Claim, ClaimResult, Outcome, OutcomeResult};
use jiff::Timestamp;

use super::dispatch::{Dispatch, Dispatched, Refusal};
use super::report::{Count, Counts, Event};
use super::{CONCURRENCY, CampaignReport, Executor, Halt, Pacer, Pending};
use crate::failpoint;
use crate::messages::Recipient;
use crate::plan::Reason;
use crate::schedule::Timing;
use crate::spec::model::{Campaign, Template};

/// What every batch of one campaign shares.
pub(super) struct Run<'a> {
    /// The campaign.
    pub(super) campaign: &'a Campaign,
    /// Its template.
    pub(super) template: &'a Template,
    /// The template's bound response.
    pub(super) response_id: &'a str,
    /// The response's reviewed canonical hash.
    pub(super) expected_hash: &'a str,
    /// The campaign's pacer, if it has a rate of its own.
    pub(super) pacer: Option<&'a Arc<Pacer>>,
}

/// What happened to one claimed message.
enum SendResult {
    /// It was dispatched, with this result.
    Done(Dispatched),
    /// Not sent (its window closed before its turn, or Ctrl-C): pending until this instant
    /// (if known), with why.
    Held(Option<Timestamp>, Hold),
}

/// Why a claimed message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Ctrl-C came before its turn.
    Interrupted,
    /// Its send window (quiet hours, schedule) closed before its turn.
    WindowClosed,
}

impl Hold {
    /// The report count it adds to.
    fn count(self) -> Count {
        match self {
            Self::Interrupted => Count::NotStarted,
            Self::WindowClosed => Count::Held,
        }
    }

    /// The reason recorded with the pending row.
    fn reason(self) -> &'static str {
        match self {
            Self::Interrupted => "interrupted before sending",
            Self::WindowClosed => "quiet hours at send time",
        }
    }
}

/// A send on its way: a task, or a message held before it started.
enum InFlight {
    Task(tokio::task::JoinHandle<Dispatched>),
    Held(Option<Timestamp>, Hold),
}

impl<D: Dispatch> Executor<'_, D> {
    /// Records why each claimed message of a batch was allowed (see [`super::facts`]), in one
    /// write before any of them is sent.
    pub(super) fn record_facts(
        &mut self,
        run: &Run<'_>,
        claimed: &[Box<Recipient>],
        rids: &[herald_ledger::RecipientId],
    ) -> herald_ledger::Result<()> {
        if claimed.is_empty() {
            return Ok(());
        }
        let template = run.template;
        let applies = crate::plan::campaigns::dnc_applies(template.channel, template.category);
        let registries = if applies {
            self.ledger.dnc_registries()?
        } else {
            Vec::new()
        };
        let mut listed: std::collections::HashMap<_, Vec<String>> =
            std::collections::HashMap::new();
        if !registries.is_empty() {
            for (rid, source) in self.ledger.dnc_lookup(rids)? {
                listed.entry(rid).or_default().push(source);
            }
        }
        let check = super::facts::DncCheck {
            key: self.key,
            applies,
            registries: &registries,
            listed: &listed,
        };
        let now = self.now();
        let facts: Vec<herald_ledger::SendFacts> = claimed
            .iter()
            .zip(rids)
            .map(|(r, rid)| herald_ledger::SendFacts {
                campaign: run.campaign.name.to_string(),
                row_key: r.key.clone(),
                facts: super::facts::send_facts(
                    self.ws,
                    run.campaign,
                    template,
                    r,
                    rid,
                    now,
                    &check,
                ),
            })
            .collect();
        self.ledger.record_send_facts(&facts)
    }

    /// The ledger claims of a batch's rows (their recipient ids computed once).
    pub(super) fn claims(&self, run: &Run<'_>, batch: &mut [Pending]) -> Vec<Claim> {
        let template = run.template;
        let channel = template.channel;
        let cap_rules = crate::spec::caps::CapRules::of(&self.ws.project.policy);
        batch
            .iter_mut()
            .map(|(r, rid)| Claim {
                row_key: r.key.clone(),
                recipient: rid
                    .take()
                    .unwrap_or_else(|| self.key.recipient_id(channel, &r.address.normalized())),
                masked: r.address.masked(),
                channel,
                template_hash: template.hash.to_string(),
                category: Some(template.category.as_str().to_owned()),
                caps: ledger_caps(
                    cap_rules,
                    template.channel,
                    template.category,
                    r.place.states(),
                ),
            })
            .collect()
    }

    /// Sends one batch and records its outcomes (the batch is emptied); `Err` stops the
    /// campaign, after anything dispatched was recorded.
    pub(super) fn flush(
        &mut self,
        run: &Run<'_>,
        batch: &mut Vec<Pending>,
        batches: &mut usize,
        report: &mut CampaignReport,
    ) -> Result<(), Halt> {
        if self.interrupted() {
            report.add(Count::NotStarted, batch.len() as u64);
            batch.clear();
            return Err(Halt::Interrupted);
        }
        if (*batches).is_multiple_of(self.options.preflight_every.max(1))
            && let Err(why) = self
                .rt
                .block_on(self.dispatch.preflight(run.response_id, run.expected_hash))
        {
            report.add(Count::NotStarted, batch.len() as u64);
            batch.clear();
            return Err(why.into());
        }
        *batches += 1;
        let claims = self.claims(run, batch);
        let policy = self.options.redo;
        let results = self
            .ledger
            .claim_batch(self.run_id, run.campaign.name.as_str(), &claims, policy)
            .map_err(|e| Halt::Claim(Arc::new(e)))?;
        failpoint::hit(failpoint::AFTER_CLAIM);
        let mut counts = Counts::new();
        let mut to_send = Vec::new();
        let mut claimed = Vec::new();
        for (((r, _), result), claim) in batch.drain(..).zip(results).zip(&claims) {
            let count = match result {
                ClaimResult::Claimed => {
                    claimed.push(claim.recipient.clone());
                    to_send.push(r);
                    continue;
                }
                ClaimResult::Suppressed => Count::Row(Reason::Suppressed),
                ClaimResult::Capped(_) => Count::Row(Reason::HeldFrequencyCap),
                ClaimResult::Skipped(state) => Count::Skipped(state),
            };
            *counts.entry(count).or_default() += 1;
        }
        self.record_facts(run, &to_send, &claimed)
            .map_err(|e| Halt::Claim(Arc::new(e)))?;
        let sent = self.send_all(run, &to_send);
        failpoint::hit(failpoint::BEFORE_RECORD);
        let mut stop = None;
        let mut refused = Vec::new();
        let mut outcomes = Vec::with_capacity(to_send.len());
        for (r, res) in to_send.iter().zip(sent) {
            let (count, result) = match res {
                SendResult::Done(Dispatched::Sent(handle)) => {
                    (Count::Sent, OutcomeResult::Sent { handle })
                }
                SendResult::Done(Dispatched::Failed { code, cause }) => {
                    refused.push(cause);
                    (Count::Failed, OutcomeResult::Failed { code })
                }
                SendResult::Done(Dispatched::Unknown { reason }) => {
                    (Count::UNKNOWN, OutcomeResult::Unknown { reason })
                }
                SendResult::Done(Dispatched::Stopped { note, stop: why }) => {
                    stop.get_or_insert(why);
                    (
                        Count::Pending,
                        OutcomeResult::Pending {
                            next_attempt_at: None,
                            reason: note,
                        },
                    )
                }
                SendResult::Held(at, why) => (
                    why.count(),
                    OutcomeResult::Pending {
                        next_attempt_at: at,
                        reason: why.reason().into(),
                    },
                ),
            };
            *counts.entry(count).or_default() += 1;
            outcomes.push(Outcome {
                campaign: run.campaign.name.to_string(),
                row_key: r.key.clone(),
                result,
            });
        }
        self.ledger
            .record_outcomes(self.run_id, &outcomes)
            .map_err(|e| Halt::Record(Arc::new(e)))?;
        failpoint::hit(failpoint::AFTER_RECORD);
        self.sent_in_run += counts.get(&Count::Sent).copied().unwrap_or(0);
        for (k, v) in &counts {
            report.add(*k, *v);
        }
        let first_refused_alike =
            first_batch_refused_alike(*batches, report, &refused, to_send.len());
        for cause in refused {
            report.add_failure(cause.key, &cause.reason);
        }
        (self.on_event)(&Event::Batch {
            campaign: run.campaign.name.to_string(),
            counts,
        });
        match (stop, first_refused_alike) {
            (Some(why), _) => Err(Halt::Stopped(why)),
            (None, Some(halt)) => Err(halt),
            (None, None) => Ok(()),
        }
    }

    /// Dispatches each message, paced; quiet hours and the schedule are checked again for
    /// each message just before it goes (a paced batch can take minutes), and a message whose
    /// window closed meanwhile is held instead of sent.
    fn send_all(&self, run: &Run<'_>, recipients: &[Box<Recipient>]) -> Vec<SendResult> {
        let campaign = run.campaign;
        let pacer = run.pacer.cloned();
        let fixed_now = self.fixed_now;
        let interrupted = self.interrupted.clone();
        let rules = crate::local_time::LocalRules::for_campaign(self.ws, campaign);
        let half = recipients.len().div_ceil(2);
        let returned = Arc::new(AtomicUsize::new(0));
        let dispatch = self.dispatch;
        self.rt.block_on(async move {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let mut handles = Vec::with_capacity(recipients.len());
            for r in recipients {
                if let Some(p) = &pacer {
                    p.until_ready().await;
                }
                if interrupted.load(Ordering::SeqCst) {
                    // Ctrl-C: nothing more leaves; the rest of the batch is recorded pending.
                    handles.push(InFlight::Held(None, Hold::Interrupted));
                    continue;
                }
                let now = fixed_now.unwrap_or_else(Timestamp::now);
                // The same check as the plan's (crate::local_time::timing), per message.
                match crate::local_time::timing(campaign, &rules, &r.place, now) {
                    Timing::Now => {}
                    Timing::QuietHours(t)
                    | Timing::BeforeSchedule(t)
                    | Timing::QuietHoursZoneFromNumber(t)
                    | Timing::StateQuietHours(t, _) => {
                        handles.push(InFlight::Held(Some(t), Hold::WindowClosed));
                        continue;
                    }
                    Timing::AfterSchedule | Timing::NoTimezone | Timing::ZoneUnknown => {
                        handles.push(InFlight::Held(None, Hold::WindowClosed));
                        continue;
                    }
                }
                let job = dispatch.dispatch(dispatch.prepare(campaign, r));
                let returned = returned.clone();
                let permit = semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                handles.push(InFlight::Task(tokio::spawn(async move {
                    let _permit = permit;
                    let result = job.await;
                    failpoint::hit(failpoint::AFTER_SEND);
                    if returned.fetch_add(1, Ordering::SeqCst) + 1 == half {
                        failpoint::hit(failpoint::MID_BATCH);
                    }
                    result
                })));
            }
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(match h {
                    InFlight::Held(at, why) => SendResult::Held(at, why),
                    InFlight::Task(h) => {
                        SendResult::Done(h.await.unwrap_or_else(|e| Dispatched::Unknown {
                            reason: format!("send task failed: {e}"),
                        }))
                    }
                });
            }
            out
        })
    }
}

/// The frequency caps one message must respect, in the ledger's form: the claim counts the
/// recipient's sends of the same channel and category in every campaign against each.
fn ledger_caps(
    rules: crate::spec::caps::CapRules<'_>,
    channel: crate::spec::Channel,
    category: crate::spec::Category,
    states: impl IntoIterator<Item = crate::spec::state_rules::StateCode>,
) -> Vec<herald_ledger::FrequencyCap> {
    rules
        .applicable(channel, category, states)
        .into_iter()
        .map(|c| herald_ledger::FrequencyCap {
            max: c.max,
            per_ms: i64::try_from(c.per.as_millis()).unwrap_or(i64::MAX),
        })
        .collect()
}

/// Fewest refusals of one cause that stop a campaign's first batch: below it, a batch is too
/// small to tell a configuration error from a few bad rows.
const SAME_REFUSAL_MIN: usize = 5;

/// [`Halt::SameRefusal`] when this was the campaign's first batch of the run (`batches` = 1),
/// nothing of the campaign was sent in it, and every one of its `dispatched` sends (at least
/// [`SAME_REFUSAL_MIN`]) was refused for one cause.
fn first_batch_refused_alike(
    batches: usize,
    report: &CampaignReport,
    refused: &[Refusal],
    dispatched: usize,
) -> Option<Halt> {
    let first = refused.first()?;
    (batches == 1
        && report.get(Count::Sent) == 0
        && dispatched >= SAME_REFUSAL_MIN
        && refused.len() == dispatched
        && refused.iter().all(|r| r.key == first.key))
    .then(|| Halt::SameRefusal {
        count: refused.len(),
        reason: first.reason.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_count_and_record_as_their_kind() {
        assert_eq!(Hold::Interrupted.count(), Count::NotStarted);
        assert_eq!(Hold::Interrupted.reason(), "interrupted before sending");
        assert_eq!(Hold::WindowClosed.count(), Count::Held);
        assert_eq!(Hold::WindowClosed.reason(), "quiet hours at send time");
    }

    fn refusal(key: &str) -> Refusal {
        Refusal {
            key: key.to_owned(),
            reason: format!("refused: {key}"),
        }
    }

    #[test]
    fn only_a_first_batch_refused_for_one_cause_stops_the_campaign() {
        let none_sent = CampaignReport::default();
        let same = vec![refusal("number"); 6];
        assert!(matches!(
            first_batch_refused_alike(1, &none_sent, &same, 6),
            Some(Halt::SameRefusal { count: 6, .. })
        ));
        // A later batch, a batch with a send or a hold, or too few sends: rows' own problems.
        assert!(first_batch_refused_alike(2, &none_sent, &same, 6).is_none());
        assert!(first_batch_refused_alike(1, &none_sent, &same, 7).is_none());
        assert!(first_batch_refused_alike(1, &none_sent, &same[..4], 4).is_none());
        let mut some_sent = CampaignReport::default();
        some_sent.add(Count::Sent, 1);
        assert!(first_batch_refused_alike(1, &some_sent, &same, 6).is_none());
        // Different causes.
        let mut mixed = same.clone();
        mixed.push(refusal("address"));
        assert!(first_batch_refused_alike(1, &none_sent, &mixed, 7).is_none());
    }
}
