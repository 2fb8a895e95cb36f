//! The executor: turns a reviewed plan into Genesys state and delivered messages.
//!
//! Send protocol (DESIGN §5), per campaign, in batches of at most [`BATCH_SIZE`]:
//! 1. pre-flight: the remote template's canonical hash must equal the reviewed one;
//! 2. one ledger transaction claims the batch (suppressions re-checked inside it);
//! 3. the claimed messages are sent concurrently under the client's shared rate limiter;
//!    quiet hours are checked again per message at send time;
//! 4. one ledger transaction records every outcome before the next batch is claimed.
//!
//! Named failpoints ([`crate::failpoint`]) sit at each edge of this protocol for crash tests.
//!
//! A crash leaves at most one batch `dispatching`; the next locked open turns it `unknown`,
//! which is never resent without `reconcile` or `--resend-unknown`.
//!
//! The ledger is used only from the calling (non-async) thread; HTTP runs on the runtime.

// Rows arrive boxed from the audience stream; re-boxing them into a batch would copy.
#![allow(clippy::vec_box)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use herald_genesys::{AgentlessEmail, AgentlessSms, ApiError, EmailAddress, GenesysClient};
use herald_ledger::{
    Claim, ClaimResult, Ledger, LedgerKey, Outcome, OutcomeResult, TemplateWrite, UnknownPolicy,
};
use jiff::Timestamp;
use serde::Serialize;

use crate::audience::CampaignRows;
use crate::failpoint;
use crate::gather::{desired_draft, response_hash};
use crate::messages::{Message, Recipient, Row};
use crate::plan::campaigns::{RowDecider, RowDecision};
use crate::plan::{CampaignPlan, Reason, TemplateAction, TemplatePlan};
use crate::schedule::Timing;
use crate::spec::model::{Campaign, Template, Workspace};

/// Most messages claimed in one ledger transaction.
pub const BATCH_SIZE: usize = 100;
/// Most requests in flight at once.
pub(crate) const CONCURRENCY: usize = 32;

/// Run-wide options.
#[derive(Debug, Clone)]
pub(crate) struct ApplyOptions {
    /// Stop after this many sends in the run (canary).
    pub(crate) max_sends: Option<u64>,
    /// Re-dispatch `unknown` rows (at-least-once escape hatch).
    pub(crate) resend_unknown: bool,
    /// Pre-flight template check every this many batches (1 = every batch).
    pub(crate) preflight_every: usize,
}

/// An event for `--json` (NDJSON) and the progress display.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// A template was written (or left alone).
    Template {
        /// Name.
        name: String,
        /// What was done.
        action: String,
        /// Remote version after the write.
        version: Option<u32>,
        /// Error, if it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A batch's outcomes were committed.
    Batch {
        /// Campaign.
        campaign: String,
        /// Counts in this batch.
        counts: BTreeMap<String, u64>,
    },
    /// A campaign finished (or halted).
    Campaign(CampaignReport),
}

/// What happened to one campaign in this run.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct CampaignReport {
    /// Campaign name.
    pub(crate) campaign: String,
    /// Outcome counts: sent, failed, unknown, pending, suppressed, held, skipped reasons…
    pub(crate) counts: BTreeMap<String, u64>,
    /// Why the campaign stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) halted: Option<String>,
    /// Sends Genesys refused, grouped by cause (its error code and fields): how many, and
    /// the first refusal's message (addresses masked).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) failures: BTreeMap<String, FailureCause>,
    /// For a run that stopped early: how the campaign's rows add up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) totals: Option<RowTotals>,
}

/// Sends refused for one cause.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct FailureCause {
    /// How many sends failed this way.
    pub(crate) count: u64,
    /// What Genesys said (the first such refusal; addresses masked).
    pub(crate) reason: String,
}

/// A campaign's rows after an interrupted run: `already_sent + sent_now + left = rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct RowTotals {
    /// Audience rows.
    pub(crate) rows: u64,
    /// Sent by earlier runs.
    pub(crate) already_sent: u64,
    /// Sent by this run.
    pub(crate) sent_now: u64,
    /// Not sent (yet): everything else, including rows a later run will not send
    /// (suppressed, no consent, failed, unknown).
    pub(crate) left: u64,
}

impl RowTotals {
    /// Totals from the plan's row count and already-sent count and this run's sends.
    pub(crate) fn new(rows: u64, already_sent: u64, sent_now: u64) -> Self {
        Self {
            rows,
            already_sent,
            sent_now,
            left: rows.saturating_sub(already_sent).saturating_sub(sent_now),
        }
    }
}

impl CampaignReport {
    /// Rows left pending for a later run: held when read (quiet hours, time zone, state
    /// rules, frequency caps) or at send time, which are one number to the reader.
    pub(crate) fn held(&self) -> u64 {
        [
            "held",
            "held_quiet_hours",
            "held_no_timezone",
            "held_quiet_hours_zone_from_number",
            "held_state_quiet_hours",
            "held_zone_unknown",
            "held_frequency_cap",
        ]
        .iter()
        .map(|k| self.get(k))
        .sum()
    }

    /// The one-line outcome: `sent 7 · held 1`, or `nothing sent`.
    pub(crate) fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("sent", self.get("sent")),
            ("failed", self.get("failed")),
            ("unknown", self.get("unknown")),
            ("pending", self.get("pending")),
            ("held", self.held()),
            ("before_schedule", self.get("before_schedule")),
            ("suppressed", self.get("suppressed")),
            ("not_started", self.get("not_started")),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
        if parts.is_empty() {
            "nothing sent".to_owned()
        } else {
            parts.join(" · ")
        }
    }

    fn add(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_owned()).or_default() += n;
    }

    fn add_failure(&mut self, key: String, reason: &str) {
        let cause = self.failures.entry(key).or_default();
        if cause.count == 0 {
            reason.clone_into(&mut cause.reason);
        }
        cause.count += 1;
    }

    /// One line per cause of failed sends: `7 failed: <reason>`.
    pub(crate) fn failure_lines(&self) -> Vec<String> {
        self.failures
            .values()
            .map(|c| {
                format!(
                    "campaign {}: {} failed: {}",
                    self.campaign, c.count, c.reason
                )
            })
            .collect()
    }

    /// A count.
    pub(crate) fn get(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
}

/// Shared state of one run.
pub(crate) struct Executor<'a> {
    /// The workspace.
    pub(crate) ws: &'a Workspace,
    /// The ledger (locked).
    pub(crate) ledger: &'a mut dyn Ledger,
    /// Recipient keys.
    pub(crate) key: &'a LedgerKey,
    /// The client.
    pub(crate) client: &'a GenesysClient,
    /// The runtime that runs HTTP.
    pub(crate) rt: &'a tokio::runtime::Runtime,
    /// This run's id.
    pub(crate) run_id: String,
    /// Git commit of the workspace.
    pub(crate) git_commit: Option<String>,
    /// Options.
    pub(crate) options: ApplyOptions,
    /// Set by Ctrl-C: stop before the next batch.
    pub(crate) interrupted: Arc<AtomicBool>,
    /// Sends so far in this run.
    pub(crate) sent_in_run: u64,
    /// Receives events as they happen.
    pub(crate) on_event: &'a mut dyn FnMut(&Event),
    /// A fixed clock for tests (`HERALD_NOW`), else real time.
    pub(crate) fixed_now: Option<Timestamp>,
    /// The current campaign's pacer (its `rate_per_minute`), set by `run_campaign`.
    pub(crate) pacer: Option<Arc<Pacer>>,
}

/// A template phase result: the response id campaigns pre-flight, or why they cannot use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateOutcome {
    /// Written or bound: the response id.
    Ready(String),
    /// Not applied: the saved plan is stale for it (why).
    Stale(String),
    /// A draft: never written.
    Draft,
    /// Writing failed, or the library is unavailable (why).
    Failed(String),
}

impl std::fmt::Display for TemplateOutcome {
    /// Why campaigns cannot use the template (or the response id when they can).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(id) => write!(f, "response {id}"),
            Self::Stale(why) => write!(f, "stale: {why}"),
            Self::Draft => f.write_str("draft"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

impl From<Result<String, String>> for TemplateOutcome {
    fn from(r: Result<String, String>) -> Self {
        match r {
            Ok(id) => Self::Ready(id),
            Err(why) => Self::Failed(why),
        }
    }
}

fn describe(e: &ApiError) -> String {
    let mut s = e.to_string();
    if let Some(c) = e.context_id().filter(|c| !s.contains(*c)) {
        s = format!("{s} (correlation id {c})");
    }
    s
}

impl Executor<'_> {
    fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }

    /// Ensures the managed library exists; returns its id.
    pub(crate) fn ensure_library(
        &mut self,
        name: &str,
        existing: Option<&str>,
    ) -> anyhow::Result<String> {
        if let Some(id) = existing {
            return Ok(id.to_owned());
        }
        let client = self.client.clone();
        let name = name.to_owned();
        let lib = self.rt.block_on(async move {
            match client.find_library_by_name(&name).await? {
                Some(l) => Ok::<_, ApiError>(l),
                None => client.create_library(&name).await,
            }
        })?;
        Ok(lib.id)
    }

    /// Writes one template as planned (create, or PUT with the planned version) and records
    /// the write. A conflict stops this template and the campaigns using it.
    pub(crate) fn apply_template(
        &mut self,
        t: &Template,
        plan: &TemplatePlan,
        library_id: &str,
    ) -> TemplateOutcome {
        self.write_template(t, plan, library_id).into()
    }

    fn write_template(
        &mut self,
        t: &Template,
        plan: &TemplatePlan,
        library_id: &str,
    ) -> Result<String, String> {
        let draft = desired_draft(t, library_id);
        let client = self.client.clone();
        let result = match (plan.action, &plan.remote) {
            (TemplateAction::Draft, _) => return Err(format!("template `{}` is a draft", t.name)),
            (TemplateAction::Create, _) => self.rt.block_on(client.create_response(&draft)),
            (TemplateAction::Noop, Some(r)) => {
                // Bind (or re-bind) without writing, so later plans know this response.
                let bound = self.ledger.template_binding(t.name.as_str()).ok().flatten();
                if bound.as_ref().is_some_and(|b| {
                    b.response_id == r.id
                        && b.remote_hash == r.hash
                        && b.version == i64::from(r.version)
                }) {
                    return Ok(r.id.clone());
                }
                let write = TemplateWrite {
                    run_id: self.run_id.clone(),
                    name: t.name.to_string(),
                    response_id: r.id.clone(),
                    version: i64::from(r.version),
                    content_hash: t.hash.to_string(),
                    remote_hash: r.hash.clone(),
                    git_commit: self.git_commit.clone(),
                    overwrote_hash: None,
                };
                return self
                    .ledger
                    .record_template_write(&write)
                    .map(|()| r.id.clone())
                    .map_err(|e| e.to_string());
            }
            (TemplateAction::Noop, None) => {
                return Err(format!("template `{}` has no remote response", t.name));
            }
            (_, Some(r)) => {
                if plan.action == TemplateAction::Rename
                    && let Some(from) = &plan.renamed_from
                    && self.ledger.template_binding(from).ok().flatten().is_some()
                    && let Err(e) =
                        self.ledger
                            .rename_template_binding(&self.run_id, from, t.name.as_str())
                {
                    return Err(e.to_string());
                }
                self.rt
                    .block_on(client.update_response(&r.id, r.version, &draft))
            }
            (_, None) => self.rt.block_on(client.create_response(&draft)),
        };
        let response = match result {
            Ok(r) => r,
            Err(ApiError::Conflict { .. }) => {
                let msg = format!(
                    "template `{}` was changed in Genesys after the plan (it was version {}); nothing was written. Run `herald plan` again to review the remote change",
                    t.name,
                    plan.remote.as_ref().map_or(0, |r| r.version)
                );
                (self.on_event)(&Event::Template {
                    name: t.name.to_string(),
                    action: "conflict".into(),
                    version: None,
                    error: Some(msg.clone()),
                });
                return Err(msg);
            }
            Err(e) => {
                let msg = format!("writing template `{}` failed: {}", t.name, describe(&e));
                (self.on_event)(&Event::Template {
                    name: t.name.to_string(),
                    action: "error".into(),
                    version: None,
                    error: Some(msg.clone()),
                });
                return Err(msg);
            }
        };
        let write = TemplateWrite {
            run_id: self.run_id.clone(),
            name: t.name.to_string(),
            response_id: response.id.clone(),
            version: i64::from(response.version),
            content_hash: t.hash.to_string(),
            remote_hash: response_hash(&response),
            git_commit: self.git_commit.clone(),
            overwrote_hash: (plan.action == TemplateAction::Drift)
                .then(|| plan.remote.as_ref().map(|r| r.hash.clone()))
                .flatten(),
        };
        if let Err(e) = self.ledger.record_template_write(&write) {
            return Err(format!(
                "template `{}` was written (response {}) but the ledger could not record it: {e}",
                t.name, response.id
            ));
        }
        let action = match plan.action {
            TemplateAction::Create => "created",
            TemplateAction::Drift => "restored",
            TemplateAction::Rename => "renamed",
            _ => "updated",
        };
        (self.on_event)(&Event::Template {
            name: t.name.to_string(),
            action: action.into(),
            version: Some(response.version),
            error: None,
        });
        Ok(response.id)
    }

    fn preflight(&self, response_id: &str, expected: &str) -> Result<(), String> {
        match self.rt.block_on(self.client.get_response(response_id)) {
            Ok(r) if response_hash(&r) == expected => Ok(()),
            Ok(r) => Err(format!(
                "the template in Genesys changed during the campaign (response {response_id} is now version {}): sending stopped; run `herald plan` to review",
                r.version
            )),
            Err(ApiError::NotFound { .. }) => Err(format!(
                "the template response {response_id} was deleted in Genesys: sending stopped"
            )),
            Err(e) => Err(format!(
                "pre-flight template check failed: {}",
                describe(&e)
            )),
        }
    }

    /// Sends one campaign. `response_id` is the template's bound response.
    pub(crate) fn run_campaign(
        &mut self,
        campaign: &Campaign,
        cplan: &CampaignPlan,
        tplan: &TemplatePlan,
        response_id: &str,
    ) -> anyhow::Result<CampaignReport> {
        self.pacer = campaign.rate_per_minute.map(|r| Arc::new(pacer(r)));
        let mut report = CampaignReport {
            campaign: campaign.name.to_string(),
            ..Default::default()
        };
        let template = &self.ws.templates[&campaign.template];
        let facts = crate::gather::ledger_facts(self.ledger, self.key, self.ws, campaign)?;
        let policy_cap = self.ws.project.policy.max_recipients_per_apply;
        let cap = match self.options.max_sends {
            Some(m) => policy_cap.min(m.saturating_sub(self.sent_in_run)),
            None => policy_cap,
        };
        let rules = crate::local_time::LocalRules::for_campaign(self.ws, campaign);
        let mut decider = RowDecider::new(campaign, rules, template.channel, &facts, cap)
            .resend_unknown(self.options.resend_unknown)
            .frequency_caps(
                crate::spec::caps::CapRules::of(&self.ws.project.policy),
                template.category,
            );
        // The audience must still be the reviewed file: a new export that landed after the
        // plan (or during a confirmation prompt) is not sent under the old review.
        let audience = &self.ws.audiences[&campaign.audience];
        let now_hash = crate::gather::sha256_file(audience.source.path())?.to_string();
        if now_hash != cplan.audience_hash {
            let report = CampaignReport {
                campaign: campaign.name.to_string(),
                halted: Some(format!(
                    "its audience file {} changed after the plan; nothing was sent: plan again",
                    audience.source_display
                )),
                ..Default::default()
            };
            (self.on_event)(&Event::Campaign(report.clone()));
            return Ok(report);
        }
        let (rows, missing) = CampaignRows::open(self.ws, campaign)?;
        let resend = self.options.resend_unknown;
        let rows = rows.skip_known(|key: &str| facts.is_final(key, resend));
        anyhow::ensure!(
            missing.is_empty(),
            "audience lacks columns {}",
            missing.join(", ")
        );
        let mut batch: Vec<Box<Recipient>> = Vec::with_capacity(BATCH_SIZE);
        let mut batches = 0usize;
        let mut halted = None;
        for row in rows {
            let decision = decider.decide(&row, self.now());
            match (&decision, row) {
                (RowDecision::Send, Row::Ready(r)) => batch.push(r),
                (d, _) => report.add(d.reason().as_str(), 1),
            }
            if batch.len() == BATCH_SIZE
                && let Err(why) = self.flush(
                    campaign,
                    template,
                    tplan,
                    response_id,
                    &mut batch,
                    &mut batches,
                    &mut report,
                )
            {
                halted = Some(why);
                break;
            }
        }
        if halted.is_none()
            && !batch.is_empty()
            && let Err(why) = self.flush(
                campaign,
                template,
                tplan,
                response_id,
                &mut batch,
                &mut batches,
                &mut report,
            )
        {
            halted = Some(why);
        }
        report.halted = halted;
        (self.on_event)(&Event::Campaign(report.clone()));
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn flush(
        &mut self,
        campaign: &Campaign,
        template: &Template,
        tplan: &TemplatePlan,
        response_id: &str,
        batch: &mut Vec<Box<Recipient>>,
        batches: &mut usize,
        report: &mut CampaignReport,
    ) -> Result<(), String> {
        if self.interrupted.load(Ordering::SeqCst) {
            report.add("not_started", batch.len() as u64);
            batch.clear();
            return Err("interrupted (Ctrl-C): run `herald apply` again to resume".into());
        }
        if (*batches).is_multiple_of(self.options.preflight_every.max(1))
            && let Err(why) = self.preflight(response_id, &tplan.desired_remote_hash)
        {
            report.add("not_started", batch.len() as u64);
            batch.clear();
            return Err(why);
        }
        *batches += 1;
        let channel = template.channel;
        let cap_rules = crate::spec::caps::CapRules::of(&self.ws.project.policy);
        let claims: Vec<Claim> = batch
            .iter()
            .map(|r| {
                let normalized = r.address.normalized();
                Claim {
                    row_key: r.key.clone(),
                    recipient: self.key.recipient_id(channel, &normalized),
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
                }
            })
            .collect();
        let policy = if self.options.resend_unknown {
            UnknownPolicy::Resend
        } else {
            UnknownPolicy::Skip
        };
        let results = self
            .ledger
            .claim_batch(&self.run_id, campaign.name.as_str(), &claims, policy)
            .map_err(|e| format!("ledger claim failed: {e}"))?;
        failpoint::hit(failpoint::AFTER_CLAIM);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut outcomes = Vec::new();
        let mut to_send = Vec::new();
        for (r, result) in batch.drain(..).zip(results) {
            match result {
                ClaimResult::Claimed => to_send.push(r),
                ClaimResult::Suppressed => *counts.entry("suppressed".into()).or_default() += 1,
                ClaimResult::Capped(_) => {
                    *counts
                        .entry(Reason::HeldFrequencyCap.as_str().into())
                        .or_default() += 1;
                }
                ClaimResult::Skipped(state) => {
                    *counts
                        .entry(format!("skipped_{}", state.as_str()))
                        .or_default() += 1;
                }
            }
        }
        let pacer = self.pacer.clone();
        let sent = self.send_all(campaign, &to_send, pacer.as_ref());
        failpoint::hit(failpoint::BEFORE_RECORD);
        let mut stop = None;
        let mut refused = Vec::new();
        for (r, res) in to_send.iter().zip(sent) {
            let (key, result) = match res {
                SendResult::Done(res) => {
                    let cause = res.as_ref().err().map(failure_cause);
                    let (key, result) = classify(res, &mut stop);
                    if let (OutcomeResult::Failed { .. }, Some(cause)) = (&result, cause) {
                        refused.push(cause);
                    }
                    (key, result)
                }
                SendResult::Held(at, why) => (
                    why.count_key(),
                    OutcomeResult::Pending {
                        next_attempt_at: at,
                        reason: why.reason().into(),
                    },
                ),
            };
            *counts.entry(key.into()).or_default() += 1;
            outcomes.push(Outcome {
                campaign: campaign.name.to_string(),
                row_key: r.key.clone(),
                result,
            });
        }
        self.ledger
            .record_outcomes(&self.run_id, &outcomes)
            .map_err(|e| format!("ledger could not record a batch's outcomes: {e}"))?;
        failpoint::hit(failpoint::AFTER_RECORD);
        self.sent_in_run += counts.get("sent").copied().unwrap_or(0);
        for (k, v) in &counts {
            report.add(k, *v);
        }
        for (key, reason) in refused {
            report.add_failure(key, &reason);
        }
        (self.on_event)(&Event::Batch {
            campaign: campaign.name.to_string(),
            counts,
        });
        match stop {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Sends each message, paced; quiet hours and the schedule are checked again for each
    /// message just before it goes (a paced batch can take minutes), and a message whose
    /// window closed meanwhile is held instead of sent.
    fn send_all(
        &self,
        campaign: &Campaign,
        recipients: &[Box<Recipient>],
        pacer: Option<&Arc<Pacer>>,
    ) -> Vec<SendResult> {
        let client = self.client.clone();
        let pacer = pacer.cloned();
        let fixed_now = self.fixed_now;
        let interrupted = self.interrupted.clone();
        let rules = crate::local_time::LocalRules::for_campaign(self.ws, campaign);
        let zones: Vec<crate::local_time::Placement> =
            recipients.iter().map(|r| r.place.clone()).collect();
        let jobs: Vec<Job> = recipients
            .iter()
            .map(|r| match &r.message {
                Message::Sms { text, .. } => Job::Sms(AgentlessSms {
                    from: campaign.from.clone(),
                    to: r.address.as_str().to_owned(),
                    text: text.clone(),
                }),
                Message::Email {
                    subject,
                    html,
                    text,
                } => Job::Email(AgentlessEmail {
                    from: EmailAddress {
                        email: campaign.from.clone(),
                        name: campaign.from_name.clone(),
                    },
                    to: EmailAddress {
                        email: r.address.as_str().to_owned(),
                        name: None,
                    },
                    subject: subject.clone(),
                    text_body: text.clone(),
                    html_body: Some(html.clone()),
                    reply_to: campaign
                        .reply_to
                        .clone()
                        .map(|email| EmailAddress { email, name: None }),
                }),
            })
            .collect();
        let half = jobs.len().div_ceil(2);
        let returned = Arc::new(AtomicUsize::new(0));
        self.rt.block_on(async move {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
            let mut handles = Vec::with_capacity(jobs.len());
            for (job, tz) in jobs.into_iter().zip(zones) {
                let client = client.clone();
                if let Some(p) = &pacer {
                    p.until_ready().await;
                }
                if interrupted.load(Ordering::SeqCst) {
                    // Ctrl-C: nothing more leaves; the rest of the batch is recorded pending.
                    handles.push(Dispatch::Held(None, Hold::Interrupted));
                    continue;
                }
                let now = fixed_now.unwrap_or_else(Timestamp::now);
                // The same check as the plan's (crate::local_time::timing), per message.
                match crate::local_time::timing(campaign, &rules, &tz, now) {
                    Timing::Now => {}
                    Timing::QuietHours(t)
                    | Timing::BeforeSchedule(t)
                    | Timing::QuietHoursZoneFromNumber(t)
                    | Timing::StateQuietHours(t) => {
                        handles.push(Dispatch::Held(Some(t), Hold::WindowClosed));
                        continue;
                    }
                    Timing::AfterSchedule | Timing::NoTimezone | Timing::ZoneUnknown => {
                        handles.push(Dispatch::Held(None, Hold::WindowClosed));
                        continue;
                    }
                }
                let returned = returned.clone();
                let permit = semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                handles.push(Dispatch::Task(tokio::spawn(async move {
                    let _permit = permit;
                    let result = match job {
                        Job::Sms(sms) => client
                            .send_sms(&sms)
                            .await
                            .map(|s| (s.message_id, Some(s.conversation_id))),
                        Job::Email(email) => client
                            .send_email(&email)
                            .await
                            .map(|s| (s.id, Some(s.conversation_id))),
                    };
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
                    Dispatch::Held(at, why) => SendResult::Held(at, why),
                    Dispatch::Task(h) => SendResult::Done(h.await.unwrap_or_else(|e| {
                        Err(ApiError::Unknown {
                            reason: format!("send task failed: {e}"),
                            info: None,
                        })
                    })),
                });
            }
            out
        })
    }
}

/// What happened to one message of a batch.
enum SendResult {
    /// It was sent (or the attempt failed as the error says).
    Done(Result<(String, Option<String>), ApiError>),
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
    fn count_key(self) -> &'static str {
        match self {
            Self::Interrupted => "not_started",
            Self::WindowClosed => "held",
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

enum Dispatch {
    Task(tokio::task::JoinHandle<Result<(String, Option<String>), ApiError>>),
    Held(Option<Timestamp>, Hold),
}

/// Paces one campaign's sends at its `rate_per_minute` (on top of the client's per-token limit).
pub(crate) type Pacer = governor::DefaultDirectRateLimiter;

/// A pacer that never lets more than `per_minute` sends start in any 60 s window: one send
/// per `60 s / per_minute` (rounded up), no burst.
pub(crate) fn pacer(per_minute: u32) -> Pacer {
    governor::RateLimiter::direct(pacer_quota(per_minute))
}

fn pacer_quota(per_minute: u32) -> governor::Quota {
    let period_us = 60_000_000u64.div_ceil(u64::from(per_minute.max(1))) + 1;
    governor::Quota::with_period(std::time::Duration::from_micros(period_us))
        .expect("non-zero period")
}

enum Job {
    Sms(AgentlessSms),
    Email(AgentlessEmail),
}

/// Maps a send result to its ledger outcome (DESIGN §5); sets `stop` when the run cannot go
/// on (credentials or permissions).
fn classify(
    res: Result<(String, Option<String>), ApiError>,
    stop: &mut Option<String>,
) -> (&'static str, OutcomeResult) {
    match res {
        Ok((message_id, conversation_id)) => (
            "sent",
            OutcomeResult::Sent {
                message_id,
                conversation_id,
            },
        ),
        Err(ApiError::RateLimited { budget, .. }) => {
            stop.get_or_insert_with(|| {
                format!(
                    "stopped: rate-limited for {}; rerun to resume",
                    go_duration(budget)
                )
            });
            (
                "pending",
                OutcomeResult::Pending {
                    next_attempt_at: None,
                    reason: "rate limited (429)".into(),
                },
            )
        }
        Err(e @ (ApiError::NotSent { .. } | ApiError::Auth { .. } | ApiError::Config { .. })) => {
            stop.get_or_insert_with(|| format!("stopped: {}", describe(&e)));
            (
                "pending",
                OutcomeResult::Pending {
                    next_attempt_at: None,
                    reason: "not sent".into(),
                },
            )
        }
        Err(e @ (ApiError::Unauthorized { .. } | ApiError::Forbidden { .. })) => {
            stop.get_or_insert_with(|| {
                format!(
                    "stopped: Genesys refused the credentials or a permission: {}",
                    describe(&e)
                )
            });
            (
                "pending",
                OutcomeResult::Pending {
                    next_attempt_at: None,
                    reason: "unauthorized".into(),
                },
            )
        }
        Err(
            e @ (ApiError::Rejected { .. } | ApiError::NotFound { .. } | ApiError::Conflict { .. }),
        ) => (
            "failed",
            OutcomeResult::Failed {
                code: e.code().unwrap_or("rejected").to_owned(),
            },
        ),
        Err(e) => (
            "unknown",
            OutcomeResult::Unknown {
                reason: short_reason(&e),
            },
        ),
    }
}

/// A duration as `10m0s` / `1h0m0s` / `45s`.
fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// The cause of a refused send, for grouping: a key (the Genesys error code and the fields
/// it names) and a readable reason (code and message, without the per-request correlation id).
fn failure_cause(e: &ApiError) -> (String, String) {
    match e {
        ApiError::Rejected {
            status,
            code,
            message,
            details,
            ..
        } => {
            let code = code.clone().unwrap_or_else(|| format!("HTTP {status}"));
            let key = format!("{code} {}", details.join("; "));
            let reason = match message {
                Some(m) => format!("{code}: {m}"),
                None if details.is_empty() => code,
                None => format!("{code} ({})", details.join("; ")),
            };
            (key, reason)
        }
        other => {
            let code = other.code().map_or_else(
                || format!("HTTP {}", other.status().unwrap_or(0)),
                str::to_owned,
            );
            let mut reason = other.to_string();
            if let Some(c) = other.context_id() {
                reason = reason.replace(&format!(" [correlation id {c}]"), "");
            }
            (code, reason)
        }
    }
}

fn short_reason(e: &ApiError) -> String {
    match e {
        ApiError::Unknown { reason, .. } => reason.clone(),
        ApiError::Server { .. } => format!("server error {}", e.status().unwrap_or(500)),
        _ => "transport error".to_owned(),
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

    use std::time::Duration;

    #[test]
    fn template_outcomes_say_why_campaigns_cannot_use_them() {
        assert_eq!(
            TemplateOutcome::Stale("its text changed".into()).to_string(),
            "stale: its text changed"
        );
        assert_eq!(TemplateOutcome::Draft.to_string(), "draft");
        assert_eq!(
            TemplateOutcome::from(Err::<String, _>("writing failed".into())),
            TemplateOutcome::Failed("writing failed".into())
        );
        assert_eq!(
            TemplateOutcome::from(Ok::<_, String>("r-1".into())),
            TemplateOutcome::Ready("r-1".into())
        );
    }

    #[test]
    fn holds_count_and_record_as_their_kind() {
        assert_eq!(Hold::Interrupted.count_key(), "not_started");
        assert_eq!(Hold::Interrupted.reason(), "interrupted before sending");
        assert_eq!(Hold::WindowClosed.count_key(), "held");
        assert_eq!(Hold::WindowClosed.reason(), "quiet hours at send time");
    }

    use governor::clock::FakeRelativeClock;

    /// Drives a pacer on a virtual clock for `secs` seconds as a sender would: send when it
    /// admits, else wait exactly as long as it says. Returns the admission times (ns).
    fn admissions(per_minute: u32, secs: u64) -> Vec<u64> {
        use governor::clock::{Clock as _, Reference as _};
        let clock = FakeRelativeClock::default();
        let start = clock.now();
        let p = governor::RateLimiter::direct_with_clock(pacer_quota(per_minute), clock.clone());
        let end = Duration::from_secs(secs);
        let mut at = Vec::new();
        loop {
            let elapsed = Duration::from(clock.now().duration_since(start));
            if elapsed >= end {
                return at;
            }
            match p.check() {
                Ok(()) => at.push(u64::try_from(elapsed.as_nanos()).expect("fits")),
                Err(not_until) => clock.advance(not_until.wait_time_from(clock.now())),
            }
        }
    }

    /// The most admissions in any closed 60 s window starting at an admission.
    fn busiest_minute(at: &[u64]) -> usize {
        const MINUTE: u64 = 60_000_000_000;
        let mut end = 0;
        let mut most = 0;
        for (start, t) in at.iter().enumerate() {
            while end < at.len() && at[end] <= t + MINUTE {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    #[test]
    fn pacer_never_admits_more_than_the_rate_in_a_window() {
        for rate in [7u32, 120, 600] {
            let at = admissions(rate, 180);
            let rate = rate as usize;
            assert_eq!(
                busiest_minute(&at),
                rate,
                "{rate}/min: every 60 s window holds at most the rate, and the rate is reached"
            );
            assert!(
                at.windows(2).all(|w| w[0] != w[1]),
                "{rate}/min: no burst (two admissions at the same instant)"
            );
            assert!(
                at.len() >= rate * 3 - 1,
                "{rate}/min over 3 minutes admitted only {}",
                at.len()
            );
        }
    }
}
