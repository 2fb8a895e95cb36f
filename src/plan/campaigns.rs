//! Campaign send plans: each audience row classified against the ledger, the suppression
//! list, the schedule, quiet hours and the per-apply cap. The same [`RowDecider`] drives
//! `apply`, so the plan and the run can never disagree about a row.

use std::collections::HashSet;

use herald_ledger::{KeySet, LedgerKey, RecipientId, SendState, SuppressionSet};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::{CampaignPlan, CampaignStatus, Counts, KeyDigest, Reason, Sample, SmsCost};
use crate::ledger_access::ledger_channel;
use crate::recipients::{Message, Recipient, Row, SkipReason};
use crate::schedule::{Timing, timing};
use crate::spec::DedupeBy;
use crate::spec::model::{Campaign, Workspace};

/// What happens to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it now.
    Send,
    /// Already in the ledger in a state that is never sent again without help.
    InLedger(SendState),
    /// The recipient is on the suppression list.
    Suppressed,
    /// Another row of this campaign already reached this address (`dedupe_by: address`).
    AddressAlreadySent,
    /// Waits for the schedule or quiet hours.
    Wait(Timing),
    /// Over the per-apply cap.
    OverCap,
    /// Not sendable (validation).
    Skip(SkipReason),
}

impl Decision {
    /// The plan's count key.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Send => Reason::ToSend,
            Self::InLedger(SendState::Sent) => Reason::AlreadySent,
            Self::InLedger(SendState::Failed) => Reason::AlreadyFailed,
            Self::InLedger(SendState::Unknown) => Reason::Unknown,
            Self::InLedger(_) => Reason::InFlight,
            Self::Suppressed => Reason::Suppressed,
            Self::AddressAlreadySent => Reason::DuplicateAddress,
            Self::Wait(Timing::BeforeSchedule(_)) => Reason::BeforeSchedule,
            Self::Wait(Timing::AfterSchedule) => Reason::AfterSchedule,
            Self::Wait(Timing::QuietHours(_)) => Reason::HeldQuietHours,
            Self::Wait(Timing::NoTimezone) => Reason::HeldNoTimezone,
            Self::Wait(Timing::Now) | Self::OverCap => Reason::OverCap,
            Self::Skip(r) => match r {
                SkipReason::InvalidRow => Reason::InvalidRow,
                SkipReason::NoConsent => Reason::NoConsent,
                SkipReason::InvalidAddress => Reason::InvalidAddress,
                SkipReason::RenderError => Reason::RenderError,
                SkipReason::CardNumber => Reason::CardNumber,
                SkipReason::DuplicateKey => Reason::DuplicateKey,
                SkipReason::DuplicateAddress => Reason::DuplicateAddress,
            },
        }
    }
}

/// Whether a ledger state means the row is never sent again by a normal run (`unknown` is
/// sent again only with `--resend-unknown`).
pub fn is_final(state: SendState, resend_unknown: bool) -> bool {
    match state {
        SendState::Sent | SendState::Failed | SendState::Dispatching => true,
        SendState::Unknown => !resend_unknown,
        SendState::Pending | SendState::Suppressed => false,
    }
}

/// The ledger facts a campaign's decisions depend on.
pub struct LedgerFacts {
    /// Existing rows of the campaign and their states.
    pub keys: KeySet,
    /// Recipients already claimed by the campaign (for `dedupe_by: address`).
    pub recipients: HashSet<RecipientId>,
    /// Active suppressions.
    pub suppressions: SuppressionSet,
}

/// Decides rows of one campaign, in audience order.
pub struct RowDecider<'a> {
    campaign: &'a Campaign,
    channel: herald_ledger::Channel,
    facts: &'a LedgerFacts,
    key: &'a LedgerKey,
    cap: u64,
    sent_now: u64,
    digest: Sha256,
    eligible: u64,
    resend_unknown: bool,
}

impl<'a> RowDecider<'a> {
    /// A decider for `campaign` with at most `cap` sends.
    pub fn new(
        campaign: &'a Campaign,
        channel: crate::spec::Channel,
        facts: &'a LedgerFacts,
        key: &'a LedgerKey,
        cap: u64,
    ) -> Self {
        Self {
            campaign,
            channel: ledger_channel(channel),
            facts,
            key,
            cap,
            sent_now: 0,
            digest: Sha256::new(),
            eligible: 0,
            resend_unknown: false,
        }
    }

    /// Treats `unknown` rows as sendable (`--resend-unknown`); they are not part of the
    /// reviewed key digest.
    #[must_use]
    pub fn resend_unknown(mut self, yes: bool) -> Self {
        self.resend_unknown = yes;
        self
    }

    /// The recipient id of a ready row.
    pub fn recipient_id(&self, r: &Recipient) -> RecipientId {
        self.key.recipient_id(self.channel, &r.address.normalized())
    }

    /// Decides one row at `now`. Rows that could be sent (now or later) feed the key digest.
    pub fn decide(&mut self, row: &Row, now: Timestamp) -> Decision {
        let r = match row {
            Row::Skipped(s) => return Decision::Skip(s.reason),
            Row::Known { key, .. } => {
                return Decision::InLedger(
                    self.facts
                        .keys
                        .states
                        .get(key)
                        .copied()
                        .unwrap_or(SendState::Sent),
                );
            }
            Row::Ready(r) => r,
        };
        let resending = match self.facts.keys.states.get(&r.key) {
            None | Some(SendState::Pending | SendState::Suppressed) => false,
            Some(SendState::Unknown) if self.resend_unknown => true,
            Some(state) => return Decision::InLedger(*state),
        };
        // The HMAC is only needed to check suppressions and address dedupe.
        let needs_rid = self.campaign.dedupe_by == DedupeBy::Address
            || !self.facts.suppressions.all_channels.is_empty()
            || self
                .facts
                .suppressions
                .by_channel
                .get(&self.channel)
                .is_some_and(|s| !s.is_empty());
        let rid = if needs_rid {
            Some(self.recipient_id(r))
        } else {
            None
        };
        let rid = rid.as_ref();
        if self.campaign.dedupe_by == DedupeBy::Address
            && !self.facts.keys.states.contains_key(&r.key)
            && rid.is_some_and(|rid| self.facts.recipients.contains(rid))
        {
            return Decision::AddressAlreadySent;
        }
        if !resending {
            // Eligible: part of the reviewed set, whatever time or suppression say now.
            self.digest.update(r.key.as_bytes());
            self.digest.update(b"\n");
            self.eligible += 1;
        }
        if let Some(rid) = rid
            && (self.facts.suppressions.all_channels.contains(rid)
                || self
                    .facts
                    .suppressions
                    .by_channel
                    .get(&self.channel)
                    .is_some_and(|s| s.contains(rid)))
        {
            return Decision::Suppressed;
        }
        match timing(self.campaign, r.tz.as_ref(), now) {
            Timing::Now => {}
            other => return Decision::Wait(other),
        }
        if self.sent_now >= self.cap {
            return Decision::OverCap;
        }
        self.sent_now += 1;
        Decision::Send
    }

    /// The digest of every eligible key seen so far.
    pub fn key_digest(&self) -> KeyDigest {
        KeyDigest {
            count: self.eligible,
            digest: format!("sha256:{}", hex::encode(self.digest.clone().finalize())),
        }
    }
}

/// Inputs shared by every campaign plan.
pub struct PlanContext<'a> {
    /// The workspace.
    pub ws: &'a Workspace,
    /// The ledger key (recipient ids).
    pub key: &'a LedgerKey,
    /// "Now".
    pub now: Timestamp,
    /// The environment's default rate.
    pub default_rate: u32,
}

fn sms_cost(m: &Message) -> Option<SmsCost> {
    match m {
        Message::Sms { info, .. } => Some(SmsCost {
            encoding: info.encoding.to_string(),
            segments: info.segments,
            chars: info.chars,
        }),
        Message::Email { .. } => None,
    }
}

/// Plans one campaign. `blocked_by` marks a campaign whose template cannot be used; rows are
/// still counted so reviewers see the scale. Diagnostics from the scan go to `diags`.
pub fn plan_campaign(
    ctx: &PlanContext<'_>,
    campaign: &Campaign,
    facts: &LedgerFacts,
    blocked_by: Option<String>,
    diags: &mut Vec<crate::diag::Diagnostic>,
) -> CampaignPlan {
    let ws = ctx.ws;
    let template = &ws.templates[&campaign.template];
    let audience = &ws.audiences[&campaign.audience];
    let cap = ws.project.policy.max_recipients_per_apply;
    let mut decider = RowDecider::new(campaign, template.channel, facts, ctx.key, cap);
    let mut counts = Counts::default();
    let mut segments = 0u64;
    let mut sample = None;
    let mut next_opening: Option<Timestamp> = None;
    let known = |key: &str| {
        facts
            .keys
            .states
            .get(key)
            .is_some_and(|s| is_final(*s, false))
    };
    let stats = crate::validate::scan_campaign(ws, campaign, diags, Some(&known), |row| {
        let decision = decider.decide(row, ctx.now);
        counts.add(decision.reason(), 1);
        if let Decision::Wait(Timing::QuietHours(at) | Timing::BeforeSchedule(at)) = decision {
            next_opening = Some(next_opening.map_or(at, |n| n.min(at)));
        }
        if let (Decision::Send, Row::Ready(r)) = (&decision, row) {
            if let Some(c) = sms_cost(&r.message) {
                segments += c.segments as u64;
            }
            if sample.is_none() {
                sample = Some(Sample {
                    to: r.address.masked(),
                    // A message may quote an address (a footer "sent to {{email}}"): never show it.
                    text: crate::text::mask_contacts(match &r.message {
                        Message::Sms { text, .. } => text,
                        Message::Email { subject, .. } => subject,
                    }),
                    sms: sms_cost(&r.message),
                });
            }
        }
    });
    let rate = campaign.rate_per_minute.unwrap_or(ctx.default_rate).max(1);
    let to_send = counts.to_send;
    let plan_status = if blocked_by.is_some() {
        CampaignStatus::Blocked
    } else if campaign.active {
        CampaignStatus::Active
    } else {
        CampaignStatus::Paused
    };
    CampaignPlan {
        name: campaign.name.to_string(),
        status: plan_status,
        blocked_by,
        template: template.name.to_string(),
        template_hash: template.hash.to_string(),
        channel: template.channel.as_str().to_owned(),
        audience: audience.name.to_string(),
        audience_file: audience.source_display.clone(),
        audience_hash: crate::hash::sha256_file(audience.source.path())
            .map(|h| h.to_string())
            .unwrap_or_default(),
        rows: stats.map_or(0, |s| s.rows),
        counts,
        next_opening,
        send_keys: decider.key_digest(),
        segments,
        rate_per_minute: rate,
        estimated_seconds: (to_send * 60).div_ceil(u64::from(rate)),
        sample,
    }
}
