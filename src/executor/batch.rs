//! One batch of the send protocol: pre-flight, claim, dispatch (paced, each message's window
//! checked again), record.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use herald_ledger::{Claim, ClaimResult, Outcome, OutcomeResult, UnknownPolicy};
use jiff::Timestamp;

use super::dispatch::{Dispatch, Dispatched};
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
        let template = run.template;
        let channel = template.channel;
        let cap_rules = crate::spec::caps::CapRules::of(&self.ws.project.policy);
        let claims: Vec<Claim> = batch
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
            .collect();
        let policy = if self.options.resend_unknown {
            UnknownPolicy::Resend
        } else {
            UnknownPolicy::Skip
        };
        let results = self
            .ledger
            .claim_batch(self.run_id, run.campaign.name.as_str(), &claims, policy)
            .map_err(|e| Halt::Claim(Arc::new(e)))?;
        failpoint::hit(failpoint::AFTER_CLAIM);
        let mut counts = Counts::new();
        let mut to_send = Vec::new();
        for ((r, _), result) in batch.drain(..).zip(results) {
            let count = match result {
                ClaimResult::Claimed => {
                    to_send.push(r);
                    continue;
                }
                ClaimResult::Suppressed => Count::Row(Reason::Suppressed),
                ClaimResult::Capped(_) => Count::Row(Reason::HeldFrequencyCap),
                ClaimResult::Skipped(state) => Count::Skipped(state),
            };
            *counts.entry(count).or_default() += 1;
        }
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
        for cause in refused {
            report.add_failure(cause.key, &cause.reason);
        }
        (self.on_event)(&Event::Batch {
            campaign: run.campaign.name.to_string(),
            counts,
        });
        match stop {
            Some(why) => Err(Halt::Stopped(why)),
            None => Ok(()),
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
}
