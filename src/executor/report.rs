//! What a run reports: events for `--json` (NDJSON) and the progress display, and each
//! campaign's counts, keyed by [`Count`]. Every type serialises to the JSON `apply --json`
//! has always printed (count keys are strings, sorted; reasons are plain text).

use std::collections::BTreeMap;

use herald_ledger::SendState;
use serde::{Serialize, Serializer};

use super::Halt;
use crate::plan::Reason;

/// One of a run's counts: what happened to a row in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Count {
    /// Decided without a send, as the plan counts it (`already_sent`, `held_quiet_hours`, …);
    /// also what the claim found (`suppressed`, `held_frequency_cap`) and a send that may have
    /// gone (`unknown`).
    Row(Reason),
    /// Accepted.
    Sent,
    /// Refused for good.
    Failed,
    /// Not sent and left `pending`: the run stopped (rate limit, credentials, permissions).
    Pending,
    /// Claimed, but its send window closed before its turn.
    Held,
    /// Not started: Ctrl-C, a failed pre-flight check, or an audience that changed.
    NotStarted,
    /// Left unchanged by the claim: the row already was in this state.
    Skipped(SendState),
    /// Handed to a Genesys messaging campaign (a contact of this run's wave).
    HandedOff,
}

impl Count {
    /// A send that may have gone (and a row already `unknown`): one count.
    pub(crate) const UNKNOWN: Count = Count::Row(Reason::Unknown);

    /// The count's key in the report.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Row(r) => r.as_str(),
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Pending => "pending",
            Self::Held => "held",
            Self::NotStarted => "not_started",
            Self::HandedOff => "handed_off",
            Self::Skipped(state) => match state {
                SendState::Pending => "skipped_pending",
                SendState::Dispatching => "skipped_dispatching",
                SendState::Sent => "skipped_sent",
                SendState::Failed => "skipped_failed",
                SendState::Unknown => "skipped_unknown",
                SendState::Suppressed => "skipped_suppressed",
                SendState::HandedOff => "skipped_handed_off",
            },
        }
    }

    /// Whether the row waits for a later run: held when read (quiet hours, time zone, state
    /// rules, frequency caps) or at send time, which are one number to the reader.
    pub(crate) fn is_held(self) -> bool {
        match self {
            Self::Held => true,
            Self::Row(r) => held_reason(r),
            Self::Sent
            | Self::Failed
            | Self::Pending
            | Self::NotStarted
            | Self::Skipped(_)
            | Self::HandedOff => false,
        }
    }
}

/// Whether a plan reason holds a row for later (every `held_*` reason). Exhaustive, so a new
/// reason has to say.
fn held_reason(r: Reason) -> bool {
    match r {
        Reason::HeldFrequencyCap
        | Reason::HeldNoTimezone
        | Reason::HeldQuietHours
        | Reason::HeldQuietHoursZoneFromNumber
        | Reason::HeldStateQuietHours
        | Reason::HeldZoneUnknown => true,
        Reason::AfterSchedule
        | Reason::AlreadyFailed
        | Reason::AlreadySent
        | Reason::BeforeSchedule
        | Reason::CardNumber
        | Reason::DoNotCall
        | Reason::DuplicateAddress
        | Reason::DuplicateKey
        | Reason::InFlight
        | Reason::InvalidAddress
        | Reason::InvalidRow
        | Reason::NoConsent
        | Reason::NoConsentEvidence
        | Reason::ConsentExpired
        | Reason::OverCap
        | Reason::RenderError
        | Reason::Suppressed
        | Reason::ToSend
        | Reason::Unknown => false,
    }
}

/// Counts sort by their key, as the report's JSON map always has.
impl Ord for Count {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Count {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Counts by kind; serialised as a map from key to count, sorted by key.
pub(crate) type Counts = BTreeMap<Count, u64>;

/// What the executor did to a template, as its event reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TemplateAction {
    /// Created in Genesys.
    Created,
    /// Written back over a change made in Genesys.
    Restored,
    /// Renamed.
    Renamed,
    /// Updated.
    Updated,
    /// Changed in Genesys after the plan: not written.
    Conflict,
    /// Writing failed.
    Error,
}

impl std::fmt::Display for TemplateAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Restored => "restored over a change made in Genesys",
            Self::Renamed => "renamed",
            Self::Updated => "updated",
            Self::Conflict => "not written: changed in Genesys after the plan",
            Self::Error => "not written",
        })
    }
}

/// An event for `--json` (NDJSON) and the progress display.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// A template was written (or was not).
    Template {
        /// Name.
        name: String,
        /// What was done.
        action: TemplateAction,
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
        counts: Counts,
    },
    /// A campaign finished (or halted).
    Campaign(CampaignReport),
    /// A messaging-campaign wave's progress, as Genesys reports it.
    Wave {
        /// herald campaign.
        campaign: String,
        /// Wave number.
        wave: u32,
        /// The Genesys campaign's status (`on`, `complete`, …).
        status: String,
        /// Contacts processed (messaged or skipped).
        processed: u64,
        /// Contacts in the wave.
        contacts: u64,
    },
}

/// What happened to one campaign in this run.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct CampaignReport {
    /// Campaign name.
    pub(crate) campaign: String,
    /// Outcome counts: sent, failed, unknown, pending, suppressed, held, skipped reasons…
    pub(crate) counts: Counts,
    /// Why the campaign stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "halt_text")]
    pub(crate) halted: Option<Halt>,
    /// Sends refused, grouped by cause (the service's error code and fields): how many, and
    /// the first refusal's message (addresses masked).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) failures: BTreeMap<String, FailureCause>,
    /// For a run that stopped early: how the campaign's rows add up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) totals: Option<RowTotals>,
}

/// A halt as the report's text.
#[allow(clippy::ref_option)] // serde's `serialize_with` passes the field by reference.
fn halt_text<S: Serializer>(halt: &Option<Halt>, serializer: S) -> Result<S::Ok, S::Error> {
    match halt {
        Some(h) => serializer.collect_str(h),
        None => serializer.serialize_none(),
    }
}

/// Sends refused for one cause.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct FailureCause {
    /// How many sends failed this way.
    pub(crate) count: u64,
    /// What the service said (the first such refusal; addresses masked).
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
    /// A report for `campaign` with nothing counted yet.
    pub(crate) fn new(campaign: &str) -> Self {
        Self {
            campaign: campaign.to_owned(),
            ..Self::default()
        }
    }

    /// Rows left pending for a later run: held when read (quiet hours, time zone, state
    /// rules, frequency caps) or at send time, which are one number to the reader.
    pub(crate) fn held(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(c, _)| c.is_held())
            .map(|(_, n)| n)
            .sum()
    }

    /// The one-line outcome: `sent 7 · held 1`, or `nothing sent`.
    pub(crate) fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("sent", self.get(Count::Sent)),
            ("failed", self.get(Count::Failed)),
            ("unknown", self.get(Count::UNKNOWN)),
            ("pending", self.get(Count::Pending)),
            ("held", self.held()),
            (
                "before_schedule",
                self.get(Count::Row(Reason::BeforeSchedule)),
            ),
            ("suppressed", self.get(Count::Row(Reason::Suppressed))),
            ("not_started", self.get(Count::NotStarted)),
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

    /// Adds `n` to a count.
    pub(crate) fn add(&mut self, count: Count, n: u64) {
        *self.counts.entry(count).or_default() += n;
    }

    /// Counts one refused send under its cause's key.
    pub(crate) fn add_failure(&mut self, key: String, reason: &str) {
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
    pub(crate) fn get(&self, count: Count) -> u64 {
        self.counts.get(&count).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_count() -> Vec<Count> {
        let states = [
            SendState::Pending,
            SendState::Dispatching,
            SendState::Sent,
            SendState::Failed,
            SendState::Unknown,
            SendState::Suppressed,
        ];
        Reason::ALL
            .iter()
            .map(|r| Count::Row(*r))
            .chain([
                Count::Sent,
                Count::Failed,
                Count::Pending,
                Count::Held,
                Count::NotStarted,
            ])
            .chain(states.into_iter().map(Count::Skipped))
            .collect()
    }

    #[test]
    fn every_count_has_its_own_key() {
        let all = every_count();
        let mut keys: Vec<&str> = all.iter().map(|c| c.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all.len());
    }

    #[test]
    fn held_is_the_send_time_hold_and_every_held_reason() {
        let held: Vec<&str> = every_count()
            .into_iter()
            .filter(|c| c.is_held())
            .map(Count::as_str)
            .collect();
        let mut expected = vec![
            "held",
            "held_quiet_hours",
            "held_no_timezone",
            "held_quiet_hours_zone_from_number",
            "held_state_quiet_hours",
            "held_zone_unknown",
            "held_frequency_cap",
        ];
        let mut held = held;
        held.sort_unstable();
        expected.sort_unstable();
        assert_eq!(held, expected);
    }

    #[test]
    fn counts_serialise_as_a_map_sorted_by_key() {
        let mut report = CampaignReport::new("c");
        report.add(Count::Sent, 2);
        report.add(Count::Row(Reason::AlreadySent), 1);
        report.add(Count::Skipped(SendState::Failed), 1);
        report.add(Count::UNKNOWN, 1);
        report.add(Count::Held, 1);
        report.add(Count::Row(Reason::HeldQuietHours), 3);
        assert_eq!(
            serde_json::to_string(&report.counts).expect("serialises"),
            r#"{"already_sent":1,"held":1,"held_quiet_hours":3,"sent":2,"skipped_failed":1,"unknown":1}"#
        );
        assert_eq!(report.held(), 4);
        assert_eq!(report.summary(), "sent 2 · unknown 1 · held 4");
    }
}
