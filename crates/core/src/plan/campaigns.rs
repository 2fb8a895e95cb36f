//! Campaign send plans: each audience row classified against the ledger, the suppression
//! list, the schedule, quiet hours and the per-apply cap. The same [`RowDecider`] drives
//! `apply`, so the plan and the run can never disagree about a row.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use sha2::{Digest, Sha256};

use super::observed::{LedgerFacts, SendState, cap_opening};
use super::{
    CampaignChanges, CampaignPlan, CampaignStatus, Counts, DispatchPlan, KeyDigest, MAX_SAMPLES,
    Reason, Sample, SmsCost, ZonePlacement,
};
use crate::local_time::{LocalRules, RowZones, timing};
use crate::messages::{Message, Recipient, Row, SkipReason};
use crate::schedule::Timing;
use crate::send::Redo;
use crate::spec::caps::CapRules;
use crate::spec::model::{Campaign, Dispatch, Workspace};
use crate::spec::state_rules::StateCode;
use crate::spec::{Category, Channel, DedupeBy};

/// Timings by (zone-set address, states), each with the zone set it was computed for.
type TimingMemo =
    foldhash::HashMap<(usize, Option<StateCode>, Option<StateCode>), (Arc<[TimeZone]>, Timing)>;

/// Messages a plan has already decided to send, counted per recipient for frequency caps.
///
/// The ledger does not hold them yet, but `apply` will have claimed them by the time it reaches
/// a later row of the campaign or a later campaign, and its claims count them. So a plan that
/// sends a recipient's third message in one campaign holds the fourth in the next one, as
/// `apply` will. Only active campaigns add to it (paused ones are not sent).
///
/// A recipient is the 64-bit hash of its id, 16 bytes per recipient: ids are keyed MACs in a
/// real ledger, uniform and not choosable without the ledger key, so two recipients sharing a
/// hash is a chance of about one in 2^64 per pair, and would only make the plan hold a message
/// that `apply` (whose claim counts exactly) then sends.
#[derive(Default)]
pub struct PlannedSends {
    hasher: foldhash::fast::RandomState,
    /// Per channel and category (at most four), planned messages by recipient.
    counts: Vec<((Channel, Category), foldhash::HashMap<u64, u32>)>,
}

impl PlannedSends {
    fn tag<R: std::hash::Hash>(&self, recipient: &R) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, recipient)
    }

    /// Messages of `channel` and `category` planned for `recipient` so far.
    fn count<R: std::hash::Hash>(
        &self,
        channel: Channel,
        category: Category,
        recipient: &R,
    ) -> u32 {
        self.counts
            .iter()
            .find(|(scope, _)| *scope == (channel, category))
            .and_then(|(_, m)| m.get(&self.tag(recipient)))
            .copied()
            .unwrap_or(0)
    }

    fn record<R: std::hash::Hash>(&mut self, channel: Channel, category: Category, recipient: &R) {
        let tag = self.tag(recipient);
        let scope = (channel, category);
        if !self.counts.iter().any(|(s, _)| *s == scope) {
            self.counts.push((scope, foldhash::HashMap::default()));
        }
        if let Some((_, by_recipient)) = self.counts.iter_mut().find(|(s, _)| *s == scope) {
            *by_recipient.entry(tag).or_insert(0) += 1;
        }
    }
}

/// What happens to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowDecision {
    /// Send it now.
    Send,
    /// Already in the ledger in a state that is never sent again without help.
    InLedger(SendState),
    /// The recipient is on the suppression list.
    Suppressed,
    /// The number is on a loaded Do-Not-Call registry, without express written consent.
    DoNotCall,
    /// Another row of this campaign already reached this address (`dedupe_by: address`).
    AddressAlreadySent,
    /// Waits for the schedule or quiet hours.
    Wait(Timing),
    /// Over the per-apply cap.
    OverCap,
    /// Held by a frequency cap across campaigns until this instant.
    FrequencyCap(Timestamp),
    /// Not sendable (validation).
    Skip(SkipReason),
}

impl RowDecision {
    /// The plan's count key.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Send => Reason::ToSend,
            Self::InLedger(SendState::Sent) => Reason::AlreadySent,
            Self::InLedger(SendState::Failed) => Reason::AlreadyFailed,
            Self::InLedger(SendState::Unknown) => Reason::Unknown,
            Self::InLedger(_) => Reason::InFlight,
            Self::Suppressed => Reason::Suppressed,
            Self::DoNotCall => Reason::DoNotCall,
            Self::AddressAlreadySent => Reason::DuplicateAddress,
            Self::Wait(Timing::BeforeSchedule(_)) => Reason::BeforeSchedule,
            Self::Wait(Timing::AfterSchedule) => Reason::AfterSchedule,
            Self::Wait(Timing::QuietHours(_)) => Reason::HeldQuietHours,
            Self::Wait(Timing::NoTimezone) => Reason::HeldNoTimezone,
            Self::Wait(Timing::QuietHoursZoneFromNumber(_)) => Reason::HeldQuietHoursZoneFromNumber,
            Self::Wait(Timing::StateQuietHours(..)) => Reason::HeldStateQuietHours,
            Self::Wait(Timing::ZoneUnknown) => Reason::HeldZoneUnknown,
            Self::Wait(Timing::Now) | Self::OverCap => Reason::OverCap,
            Self::FrequencyCap(_) => Reason::HeldFrequencyCap,
            Self::Skip(r) => match r {
                SkipReason::InvalidRow => Reason::InvalidRow,
                SkipReason::NoConsent => Reason::NoConsent,
                SkipReason::NoConsentEvidence => Reason::NoConsentEvidence,
                SkipReason::ConsentExpired => Reason::ConsentExpired,
                SkipReason::InvalidAddress => Reason::InvalidAddress,
                SkipReason::RenderError => Reason::RenderError,
                SkipReason::CardNumber => Reason::CardNumber,
                SkipReason::DuplicateKey => Reason::DuplicateKey,
                SkipReason::DuplicateAddress => Reason::DuplicateAddress,
            },
        }
    }
}

/// Whether a ledger state means the row is never sent again by a run that redoes `redo`.
pub fn is_final(state: SendState, redo: Redo) -> bool {
    state.is_final(redo)
}

/// Decides rows of one campaign, in audience order.
pub struct RowDecider<'a, F: LedgerFacts> {
    campaign: &'a Campaign,
    rules: LocalRules<'a>,
    channel: Channel,
    facts: &'a F,
    cap: u64,
    sent_now: u64,
    digest: Sha256,
    eligible: u64,
    /// What the eligible rows would send (see [`super::outcome`]).
    outcome: super::outcome::OutcomeHasher,
    redo: Redo,
    last_recipient: Option<F::RecipientId>,
    /// Timings of number-inferred placements at `memo_now`, by (zone set, state): a million
    /// rows share a few hundred zone sets, and the timing depends on nothing else. The entry
    /// holds its zone set, so the address in the key cannot be reused while it is cached.
    memo: TimingMemo,
    memo_now: Option<Timestamp>,
    /// The frequency caps checked, and the category of the campaign's messages.
    caps: Option<(CapRules<'a>, Category)>,
    /// Sends decided earlier in this plan (a plan only; `apply`'s claims count its own).
    planned: Option<&'a mut PlannedSends>,
    /// Whether Do-Not-Call registries apply (marketing SMS).
    dnc: bool,
}

impl<'a, F: LedgerFacts> RowDecider<'a, F> {
    /// A decider for `campaign` (with the state `rules` its messages follow) with at most
    /// `cap` sends.
    pub fn new(
        campaign: &'a Campaign,
        rules: LocalRules<'a>,
        channel: Channel,
        facts: &'a F,
        cap: u64,
    ) -> Self {
        Self {
            campaign,
            rules,
            channel,
            facts,
            cap,
            sent_now: 0,
            digest: Sha256::new(),
            eligible: 0,
            outcome: super::outcome::OutcomeHasher::default(),
            redo: Redo::NONE,
            last_recipient: None,
            caps: None,
            planned: None,
            memo: TimingMemo::default(),
            memo_now: None,
            dnc: false,
        }
    }

    /// Holds rows whose number a loaded Do-Not-Call registry lists (marketing SMS), unless
    /// the row carries express written consent.
    #[must_use]
    pub fn do_not_call(mut self, applies: bool) -> Self {
        self.dnc = applies;
        self
    }

    /// Holds rows over a frequency cap (`policy.frequency_caps`, and the cap of the
    /// recipient's state rule), counting the ledger's recent sends of `category` across
    /// campaigns.
    #[must_use]
    pub fn frequency_caps(mut self, rules: CapRules<'a>, category: Category) -> Self {
        self.caps = Some((rules, category));
        self
    }

    /// Counts the sends this plan decided before (earlier rows and campaigns) against the
    /// frequency caps, and adds this decider's sends to them.
    #[must_use]
    pub fn planned_sends(mut self, planned: &'a mut PlannedSends) -> Self {
        self.planned = Some(planned);
        self
    }

    /// Treats `unknown` rows as sendable (`--resend-unknown`; they are not part of the
    /// reviewed key digest) and `failed` rows as sendable (`--retry-failed`; they are).
    #[must_use]
    pub fn redo(mut self, redo: Redo) -> Self {
        self.redo = redo;
        self
    }

    /// The recipient id of a ready row.
    pub fn recipient_id(&self, r: &Recipient) -> F::RecipientId {
        self.facts
            .recipient_id(self.channel, &r.address.normalized())
    }

    /// The recipient id computed while deciding the last row, if the decision needed one
    /// (suppressions or `dedupe_by: address`). A sender takes it instead of computing the
    /// keyed hash a second time.
    pub fn take_recipient_id(&mut self) -> Option<F::RecipientId> {
        self.last_recipient.take()
    }

    /// Decides one row at `now`. Rows that could be sent (now or later) feed the key digest.
    pub fn decide(&mut self, row: &Row, now: Timestamp) -> RowDecision {
        self.last_recipient = None;
        let r = match row {
            Row::Skipped(s) => return RowDecision::Skip(s.reason),
            Row::Known { key, .. } => {
                return RowDecision::InLedger(self.facts.state(key).unwrap_or(SendState::Sent));
            }
            Row::Ready(r) => r,
        };
        let existing = self.facts.state(&r.key);
        let resending = match existing {
            None | Some(SendState::Pending | SendState::Suppressed) => false,
            Some(SendState::Unknown) if self.redo.unknown => true,
            // A refused send retried on request: reviewed like a new row.
            Some(SendState::Failed) if self.redo.failed => false,
            Some(state) => return RowDecision::InLedger(state),
        };
        // The keyed hash is only needed to check suppressions and address dedupe.
        let dedupe = self.campaign.dedupe_by == DedupeBy::Address;
        let needs_rid = dedupe || self.facts.any_suppressed(self.channel);
        let rid = needs_rid.then(|| self.recipient_id(r));
        if dedupe
            && existing.is_none()
            && rid
                .as_ref()
                .is_some_and(|rid| self.facts.campaign_reached(rid))
        {
            return RowDecision::AddressAlreadySent;
        }
        // A marketing SMS to a number on a Do-Not-Call registry is never sent without express
        // written consent. Decided before the row joins the reviewed set, so a registry hit
        // changes the plan's digests.
        let mut rid = rid;
        if self.dnc && !r.express_consent && self.facts.any_dnc() {
            let id = rid.take().unwrap_or_else(|| self.recipient_id(r));
            let listed = self.facts.dnc_listed(&id);
            rid = Some(id);
            if listed {
                self.last_recipient = rid;
                return RowDecision::DoNotCall;
            }
        }
        if !resending {
            // Eligible: part of the reviewed set, whatever time or suppression say now.
            self.digest.update(r.key.as_bytes());
            self.digest.update(b"\n");
            self.eligible += 1;
            self.outcome.add(r);
        }
        if let Some(rid) = &rid
            && self.facts.is_suppressed(rid, self.channel)
        {
            return RowDecision::Suppressed;
        }
        match self.timing(r, now) {
            Timing::Now => {}
            other => return RowDecision::Wait(other),
        }
        // The category, when a cap limits this message and this send must be counted.
        let mut counted = None;
        if let Some((rules, category)) = self.caps
            && (self.planned.is_some() || self.facts.any_recent_sends())
        {
            let limits = rules.applicable(self.channel, category, r.place.states());
            if !limits.is_empty() {
                let id = rid.take().unwrap_or_else(|| self.recipient_id(r));
                let clock = self.facts.cap_clock(now);
                let recent = self.facts.recent_sends(&id);
                let planned = self
                    .planned
                    .as_deref()
                    .map_or(0, |p| p.count(self.channel, category, &id));
                let opens = if planned == 0 {
                    cap_opening(recent, &limits, clock)
                } else {
                    // Planned sends go at the cap clock, after every recorded one.
                    let mut times = recent.to_vec();
                    times.extend(std::iter::repeat_n(
                        clock.as_millisecond(),
                        planned as usize,
                    ));
                    cap_opening(&times, &limits, clock)
                };
                rid = Some(id);
                if let Some(at) = opens {
                    return RowDecision::FrequencyCap(at);
                }
                counted = Some(category);
            }
        }
        if self.sent_now >= self.cap {
            return RowDecision::OverCap;
        }
        self.sent_now += 1;
        if let (Some(category), Some(planned), Some(id)) =
            (counted, self.planned.as_deref_mut(), rid.as_ref())
        {
            planned.record(self.channel, category, id);
        }
        self.last_recipient = rid;
        RowDecision::Send
    }

    /// [`timing`] for one row, memoised for rows placed by their number.
    fn timing(&mut self, r: &Recipient, now: Timestamp) -> Timing {
        let RowZones::FromNumber(zones) = &r.place.zones else {
            return timing(self.campaign, &self.rules, &r.place, now);
        };
        if self.memo_now != Some(now) {
            self.memo.clear();
            self.memo_now = Some(now);
        }
        let key = (zones.as_ptr() as usize, r.place.state, r.place.number_state);
        if let Some((_, t)) = self.memo.get(&key) {
            return *t;
        }
        let t = timing(self.campaign, &self.rules, &r.place, now);
        self.memo.insert(key, (zones.clone(), t));
        t
    }

    /// The digest of every eligible key seen so far.
    pub fn key_digest(&self) -> KeyDigest {
        KeyDigest {
            count: self.eligible,
            digest: format!("sha256:{}", hex::encode(self.digest.clone().finalize())),
        }
    }

    /// The outcome digest of every eligible row seen so far: key, address, placement and
    /// rendered message (see [`super::outcome`]).
    pub fn outcome_digest(&self) -> super::outcome::OutcomeDigest {
        self.outcome.digest()
    }
}

/// Whether the Do-Not-Call registries apply to a campaign's messages: marketing SMS (texts
/// are calls under the TCPA; 47 CFR 64.1200(c)(2)).
pub fn dnc_applies(channel: Channel, category: Category) -> bool {
    channel == Channel::Sms && category == Category::Marketing
}

/// The Telemarketing Sales Rule's scrub interval: a registry download older than this many
/// days may not be used for marketing (16 CFR 310.4(b)(3)(iv)).
pub const DNC_MAX_AGE_DAYS: i64 = 31;

/// Whole days from a registry's download day to `today`.
pub fn dnc_age_days(downloaded_on: jiff::civil::Date, today: jiff::civil::Date) -> i64 {
    (today - downloaded_on).get_days().into()
}

/// Inputs shared by every campaign plan.
pub struct PlanContext<'a> {
    /// The workspace.
    pub ws: &'a Workspace,
    /// "Now".
    pub now: Timestamp,
    /// The environment's default rate.
    pub default_rate: u32,
    /// Which ended sends the plan sends again (`--retry-failed`).
    pub redo: Redo,
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

/// Plans one campaign from its audience rows, streamed once. `blocked_by` marks a campaign
/// whose template cannot be used; rows are still counted so reviewers see the scale.
/// `audience_hash` is left empty: the gathering side hashes the file while the rows stream and
/// fills it in.
pub fn plan_campaign<F: LedgerFacts>(
    ctx: &PlanContext<'_>,
    campaign: &Campaign,
    facts: &F,
    blocked_by: Option<String>,
    planned: &mut PlannedSends,
    rows: impl IntoIterator<Item = Row>,
) -> CampaignPlan {
    let ws = ctx.ws;
    let template = &ws.templates[&campaign.template];
    let audience = &ws.audiences[&campaign.audience];
    let cap = ws.project.policy.max_recipients_per_apply;
    let rules = LocalRules::for_campaign(ws, campaign);
    let mut decider = RowDecider::new(campaign, rules, template.channel, facts, cap)
        .frequency_caps(CapRules::of(&ws.project.policy), template.category)
        .redo(ctx.redo)
        .do_not_call(dnc_applies(template.channel, template.category));
    // A paused or blocked campaign sends nothing, so its rows hold nothing back.
    let mut unsent = PlannedSends::default();
    decider = decider.planned_sends(if campaign.active && blocked_by.is_none() {
        planned
    } else {
        &mut unsent
    });
    let mut zones = ZonePlacement::default();
    let mut counts = Counts::default();
    let mut read = 0u64;
    let mut segments = 0u64;
    let mut samples = SamplePicker::default();
    let mut next_opening: Option<Timestamp> = None;
    let mut frequency_cap_opens: Option<Timestamp> = None;
    // Rows held by a state rule, by the rule and reason that held them (a handful of kinds).
    let mut held_by: Vec<(crate::spec::state_rules::StateHold, u64)> = Vec::new();
    // Rows of this audience the ledger already holds, and sendable rows it does not hold yet.
    let mut in_ledger = 0u64;
    let mut added = 0u64;
    let mut retry_failed = 0u64;
    for row in rows {
        read += 1;
        let decision = decider.decide(&row, ctx.now);
        counts.add(decision.reason(), 1);
        let known = match &row {
            Row::Known { .. } => true,
            Row::Ready(r) => facts.state(&r.key).is_some(),
            Row::Skipped(_) => false,
        };
        in_ledger += u64::from(known);
        added += u64::from(!known && matches!(row, Row::Ready(_)));
        if let Row::Ready(r) = &row {
            zones.add(r.place.zones.source());
        }
        let mut opens = None;
        if let RowDecision::Wait(Timing::StateQuietHours(_, hold)) = decision {
            match held_by.iter_mut().find(|(h, _)| *h == hold) {
                Some((_, n)) => *n += 1,
                None => held_by.push((hold, 1)),
            }
        }
        if let RowDecision::Wait(
            Timing::QuietHours(at)
            | Timing::BeforeSchedule(at)
            | Timing::QuietHoursZoneFromNumber(at)
            | Timing::StateQuietHours(at, _),
        ) = decision
        {
            next_opening = Some(next_opening.map_or(at, |n| n.min(at)));
            opens = Some(at);
        }
        if let RowDecision::FrequencyCap(judged) = decision {
            // Caps are judged on the clock of the ledger's send times (`cap_clock`, the real
            // one); the opening is shown on the plan's clock, at the same distance from its
            // "now" (rounded up to the minute, so planning twice gives the same plan), so a
            // pinned `HERALD_NOW` moves it with everything else.
            let left = judged.duration_since(facts.cap_clock(ctx.now));
            let secs = u64::try_from(left.as_secs()).unwrap_or(0);
            let left =
                jiff::SignedDuration::from_mins(i64::try_from(secs.div_ceil(60)).unwrap_or(0));
            let at = ctx.now.checked_add(left).unwrap_or(judged);
            next_opening = Some(next_opening.map_or(at, |n| n.min(at)));
            frequency_cap_opens = Some(frequency_cap_opens.map_or(at, |n| n.min(at)));
            opens = Some(at);
        }
        if let (RowDecision::Send, Row::Ready(r)) = (&decision, &row) {
            if let Some(c) = sms_cost(&r.message) {
                segments += c.segments as u64;
            }
            retry_failed += u64::from(facts.state(&r.key) == Some(SendState::Failed));
        }
        if let Row::Ready(r) = &row {
            samples.offer(r, decision.reason(), opens);
        }
    }
    let changes = CampaignChanges {
        new: facts.ledger_rows() == Some(0),
        rows_added: added,
        rows_removed: facts
            .ledger_rows()
            .map_or(0, |n| n.saturating_sub(in_ledger)),
        settings: Vec::new(),
    };
    let samples = samples.finish();
    let rate = match campaign.dispatch {
        Dispatch::MessagingCampaign {
            messages_per_minute,
        } => messages_per_minute,
        Dispatch::Agentless => campaign.rate_per_minute.unwrap_or(ctx.default_rate),
    }
    .max(1);
    let estimated_seconds = (counts.to_send * 60).div_ceil(u64::from(rate));
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
        audience_hash: String::new(),
        rows: read,
        counts,
        next_opening,
        frequency_cap_opens,
        held_by: held_by
            .into_iter()
            .map(|(hold, n)| (hold.to_string(), n))
            .collect(),
        zones,
        send_keys: decider.key_digest(),
        outcome: decider.outcome_digest(),
        segments,
        rate_per_minute: rate,
        estimated_seconds,
        dispatch: DispatchPlan::new(campaign.dispatch, to_send, estimated_seconds),
        sample: samples
            .first()
            .filter(|s| s.reason() == Reason::ToSend)
            .map(|s| Sample {
                line: 0,
                reason: String::new(),
                opens_at: None,
                ..s.clone()
            }),
        samples,
        changes,
        retry_failed,
    }
}

/// Picks a campaign's samples while the rows stream: the first rows sent now, then, to fill
/// up to [`MAX_SAMPLES`], the first held rows, then the first rows not sent for another reason.
#[derive(Default)]
struct SamplePicker {
    send: Vec<Sample>,
    held: Vec<Sample>,
    other: Vec<Sample>,
}

impl SamplePicker {
    fn offer(
        &mut self,
        r: &crate::messages::Recipient,
        reason: Reason,
        opens_at: Option<Timestamp>,
    ) {
        let bucket = if reason == Reason::ToSend {
            &mut self.send
        } else if opens_at.is_some() || is_hold(reason) {
            &mut self.held
        } else {
            &mut self.other
        };
        if bucket.len() >= MAX_SAMPLES {
            return;
        }
        bucket.push(Sample {
            to: r.address.masked(),
            // A message may quote an address (a footer "sent to {{email}}"): never show it.
            text: crate::text::mask_contacts(match &r.message {
                Message::Sms { text, .. } => text,
                Message::Email { subject, .. } => subject,
            }),
            sms: sms_cost(&r.message),
            line: r.line,
            reason: reason.as_str().to_owned(),
            opens_at,
        });
    }

    fn finish(self) -> Vec<Sample> {
        self.send
            .into_iter()
            .chain(self.held)
            .chain(self.other)
            .take(MAX_SAMPLES)
            .collect()
    }
}

/// Whether a row counted for `reason` waits to be sent later.
fn is_hold(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::HeldQuietHours
            | Reason::HeldNoTimezone
            | Reason::HeldQuietHoursZoneFromNumber
            | Reason::HeldStateQuietHours
            | Reason::HeldZoneUnknown
            | Reason::HeldFrequencyCap
            | Reason::BeforeSchedule
    )
}
