//! The executor: turns a reviewed plan into Genesys state and delivered messages.
//!
//! Send protocol (DESIGN §5), per campaign, in batches of at most [`BATCH_SIZE`]:
//! 1. pre-flight: the remote template's canonical hash must equal the reviewed one;
//! 2. one ledger transaction claims the batch (suppressions re-checked inside it);
//! 3. the claimed messages are dispatched concurrently, paced; quiet hours are checked again
//!    per message at send time;
//! 4. one ledger transaction records every outcome before the next batch is claimed.
//!
//! The executor owns all four steps. How a claimed message is sent is a [`Dispatch`]
//! ([`dispatch`]); the agentless API ([`agentless`]) is the one in use. A campaign's rows are
//! decided with the ledger facts its plan read, and its audience is read once more, checked
//! block by block against the seal its plan made (an audience that changed since the plan is
//! not sent from).
//!
//! Named failpoints ([`crate::failpoint`]) sit at each edge of this protocol for crash tests.
//!
//! A crash leaves at most one batch `dispatching`; the next locked open turns it `unknown`,
//! which is never resent without `reconcile` or `--resend-unknown`.
//!
//! The ledger is used only from the calling (non-async) thread; HTTP runs on the runtime.

pub(crate) mod agentless;
mod batch;
pub(crate) mod dispatch;
mod facts;
mod pacer;
pub(crate) mod report;
pub(crate) mod templates;
#[cfg(test)]
mod tests;
pub(crate) mod wave;
pub(crate) mod wave_drive;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use herald_ledger::{Ledger, LedgerError, LedgerKey, RecipientId};
use jiff::Timestamp;

pub(crate) use dispatch::Dispatch;
pub(crate) use pacer::{Pacer, pacer};
pub(crate) use report::{CampaignReport, Count, Event, RowTotals};
pub(crate) use templates::{TemplateOutcome, TemplateWriter};

use self::dispatch::PreflightError;
use crate::audience::{AudienceSeal, CampaignRows, SealCheck};
use crate::gather::CampaignInputs;
use crate::messages::{Recipient, Row};
use crate::plan::CampaignPlan;
use crate::plan::campaigns::{RowDecider, RowDecision};
use crate::spec::model::{Campaign, Workspace};

/// Most messages claimed in one ledger transaction.
pub const BATCH_SIZE: usize = 100;
/// Most requests in flight at once.
pub(crate) const CONCURRENCY: usize = 32;

/// Run-wide options.
#[derive(Debug, Clone)]
pub(crate) struct ApplyOptions {
    /// Stop after this many sends in the run (canary).
    pub(crate) max_sends: Option<u64>,
    /// Which ended sends are dispatched again: `unknown` (the at-least-once escape hatch)
    /// and `failed` (refused, so never delivered; `--retry-failed`).
    pub(crate) redo: herald_ledger::Redo,
    /// Pre-flight template check every this many batches (1 = every batch).
    pub(crate) preflight_every: usize,
}

/// Why a campaign stopped before its last row.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Halt {
    /// Ctrl-C.
    #[error("interrupted (Ctrl-C): run `herald apply` again to resume")]
    Interrupted,
    /// The template is no longer the reviewed one (or could not be checked).
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The ledger refused a claim.
    #[error("ledger claim failed: {0}")]
    Claim(Arc<LedgerError>),
    /// The ledger could not record a batch's outcomes.
    #[error("ledger could not record a batch's outcomes: {0}")]
    Record(Arc<LedgerError>),
    /// The sender said the run cannot go on (rate limited, credentials, permissions).
    #[error("{0}")]
    Stopped(String),
    /// Every send of the campaign's first batch was refused for one cause (a sender number
    /// the org does not have, say): the rest of the audience is not spent on it.
    #[error(
        "its first {count} sends were all refused for the same reason ({reason}); the campaign stopped so the rest of its audience is not spent on it. Fix the cause, then `herald plan --retry-failed` shows the refused rows and `herald apply --retry-failed` sends them"
    )]
    SameRefusal {
        /// Sends refused.
        count: usize,
        /// The refusal, as the report words it.
        reason: String,
    },
    /// The audience file is not the one the plan read.
    #[error("its audience file {file} changed after the plan; nothing was sent: plan again")]
    AudienceChanged {
        /// The file, as the workspace names it.
        file: String,
    },
    /// The audience file changed while it was read: rows read before the change were sent.
    #[error(
        "its audience file {file} changed after the plan; sending stopped where it differs (only rows of the planned file were sent): plan again"
    )]
    AudienceChangedWhileSending {
        /// The file, as the workspace names it.
        file: String,
    },
}

/// Shared state of one run's campaign sends.
pub(crate) struct Executor<'a, D: Dispatch> {
    /// The workspace.
    pub(crate) ws: &'a Workspace,
    /// The ledger (locked).
    pub(crate) ledger: &'a mut dyn Ledger,
    /// Recipient keys.
    pub(crate) key: &'a LedgerKey,
    /// How claimed messages are sent.
    pub(crate) dispatch: &'a D,
    /// The runtime that runs the sends.
    pub(crate) rt: &'a tokio::runtime::Runtime,
    /// This run's id.
    pub(crate) run_id: &'a str,
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
    /// The messaging-campaign wave the current campaign hands its rows to, if it has
    /// `dispatch: messaging-campaign` (see [`wave`]).
    pub(crate) wave: Option<wave::WaveRun>,
}

/// A claimed-to-be row on its way to a batch: the recipient and, when deciding it needed
/// one, its recipient id (not computed twice).
type Pending = (Box<Recipient>, Option<RecipientId>);

impl<D: Dispatch> Executor<'_, D> {
    fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }

    /// Whether Ctrl-C was pressed.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Sends one campaign. `response_id` is the template's bound response, whose canonical
    /// hash must stay `expected_hash` (pre-flight); `inputs` are the ledger facts and the
    /// audience seal of the plan `cplan` belongs to.
    pub(crate) fn run_campaign(
        &mut self,
        campaign: &Campaign,
        cplan: &CampaignPlan,
        response_id: &str,
        expected_hash: &str,
        inputs: &CampaignInputs,
    ) -> anyhow::Result<CampaignReport> {
        let pacer = campaign.rate_per_minute.map(|r| Arc::new(pacer(r)));
        let mut report = CampaignReport::new(campaign.name.as_str());
        let template = &self.ws.templates[&campaign.template];
        let facts = &inputs.facts;
        let policy_cap = self.ws.project.policy.max_recipients_per_apply;
        let cap = match self.options.max_sends {
            Some(m) => policy_cap.min(m.saturating_sub(self.sent_in_run)),
            None => policy_cap,
        };
        let rules = crate::local_time::LocalRules::for_campaign(self.ws, campaign);
        let mut decider = RowDecider::new(campaign, rules, template.channel, facts, cap)
            .redo(self.options.redo)
            .frequency_caps(
                crate::spec::caps::CapRules::of(&self.ws.project.policy),
                template.category,
            )
            .do_not_call(crate::plan::campaigns::dnc_applies(
                template.channel,
                template.category,
            ));
        // The audience must still be the reviewed file: a new export that landed after the
        // plan (or during a confirmation prompt) is not sent under the old review. Its rows are
        // read once more, each block checked against the plan's seal before it is used.
        let audience = &self.ws.audiences[&campaign.audience];
        let file = audience.source_display.clone();
        let seal = match &inputs.seal {
            Some(seal) if seal.hash().as_str() == cplan.audience_hash => seal.clone(),
            _ => AudienceSeal::read(audience.source.path())?,
        };
        if seal.hash().as_str() != cplan.audience_hash {
            return Ok(self.halt_before_sending(report, Halt::AudienceChanged { file }));
        }
        let check = SealCheck::new(seal);
        let (rows, missing) = match CampaignRows::open_checked(self.ws, campaign, &check) {
            Ok(opened) => opened,
            Err(_) if check.changed() => {
                return Ok(self.halt_before_sending(report, Halt::AudienceChanged { file }));
            }
            Err(e) => return Err(e.into()),
        };
        let redo = self.options.redo;
        let rows = rows.skip_known(|key: &str| facts.is_final(key, redo));
        anyhow::ensure!(
            missing.is_empty(),
            "audience lacks columns {}",
            missing.join(", ")
        );
        // A wave hands rows off in batches of one upload request.
        let size = if self.wave.is_some() {
            herald_genesys::CONTACTS_PER_REQUEST
        } else {
            BATCH_SIZE
        };
        let mut batch: Vec<Pending> = Vec::with_capacity(size);
        let mut batches = 0usize;
        let mut halted = None;
        let run = batch::Run {
            campaign,
            template,
            response_id,
            expected_hash,
            pacer: pacer.as_ref(),
        };
        for row in rows {
            if check.changed() {
                // This row is the read error a changed block ends the stream with.
                report.add(Count::NotStarted, batch.len() as u64);
                batch.clear();
                halted = Some(if batches == 0 {
                    Halt::AudienceChanged { file }
                } else {
                    Halt::AudienceChangedWhileSending { file }
                });
                break;
            }
            let decision = decider.decide(&row, self.now());
            match (&decision, row) {
                (RowDecision::Send, Row::Ready(r)) => batch.push((r, decider.take_recipient_id())),
                (d, _) => report.add(Count::Row(d.reason()), 1),
            }
            if batch.len() == size
                && let Err(why) = self.flush_any(&run, &mut batch, &mut batches, &mut report)
            {
                halted = Some(why);
                break;
            }
        }
        if halted.is_none()
            && !batch.is_empty()
            && let Err(why) = self.flush_any(&run, &mut batch, &mut batches, &mut report)
        {
            halted = Some(why);
        }
        report.halted = halted;
        (self.on_event)(&Event::Campaign(report.clone()));
        Ok(report)
    }

    /// One batch: sent (agentless) or handed to the wave being built.
    fn flush_any(
        &mut self,
        run: &batch::Run<'_>,
        batch: &mut Vec<Pending>,
        batches: &mut usize,
        report: &mut CampaignReport,
    ) -> Result<(), Halt> {
        if self.wave.is_some() {
            self.flush_wave(run, batch, batches, report)
        } else {
            self.flush(run, batch, batches, report)
        }
    }

    /// Reports a campaign that stopped before its first row.
    fn halt_before_sending(&mut self, report: CampaignReport, halt: Halt) -> CampaignReport {
        let report = CampaignReport {
            halted: Some(halt),
            ..report
        };
        (self.on_event)(&Event::Campaign(report.clone()));
        report
    }
}
