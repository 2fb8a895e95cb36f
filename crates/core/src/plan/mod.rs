//! The plan: what `apply` will do, as a value. Templates are state (level-based reconcile
//! against Response Management); campaigns are events (audience rows against the ledger).
//! The plan document is versioned, deterministic (sorted, no wall-clock fields) and holds no
//! phone number or email address.
//!
//! Pure: the observed state comes in as [`observed`] values and audience rows (gathered by
//! [`crate::gather`]); [`report`] formats a plan for people.

pub mod campaigns;
pub mod contract;
pub mod observed;
pub mod outcome;
pub mod report;
pub mod review;
pub mod templates;

use std::collections::BTreeMap;

use schemars::JsonSchema;

pub use contract::{CampaignStatus, Counts, Narrowing, Reason, ZonePlacement};
use serde::{Deserialize, Serialize};

/// Version of the saved plan format. Version 2 added `review_digest` and `review`; version 3
/// the review format `herald-review-v2` (environment, policy, built-in data, each campaign's
/// settings, audience data and outcome) and the campaigns' `outcome`. Older saved plans are
/// refused: their review left out inputs that decide what is sent.
///
/// The per-campaign `zones` object and the count keys of recipient-local holds
/// (`held_quiet_hours_zone_from_number`, `held_state_quiet_hours`, `held_zone_unknown`) need no
/// new version: a plan saved before them reads as zero placements and zero such holds.
pub const PLAN_FORMAT_VERSION: u32 = 3;

/// The oldest saved plan format this herald reads.
pub const PLAN_FORMAT_OLDEST: u32 = 3;

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Plan document format version.
    pub format_version: u32,
    /// herald version that made it.
    pub herald_version: String,
    /// Target environment.
    pub environment: String,
    /// The git state of the workspace.
    pub workspace: WorkspaceState,
    /// `sha256:` + hex over the reviewed objects (see [`review`]): what
    /// `apply --approved-digest` compares.
    #[serde(default)]
    pub review_digest: String,
    /// SHA-256 of every input file (workspace-relative path → hash).
    pub inputs: BTreeMap<String, String>,
    /// The managed Response Management library.
    pub library: LibraryPlan,
    /// One entry per template.
    pub templates: Vec<TemplatePlan>,
    /// Responses in the managed library that no template claims.
    pub orphans: Vec<RemoteRef>,
    /// One entry per campaign.
    pub campaigns: Vec<CampaignPlan>,
    /// Set when `--campaign`/`--template` narrowed the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrowed_to: Option<Vec<Narrowing>>,
    /// The review digest's input, one entry per object, so a refusal can name what changed.
    #[serde(default)]
    pub review: Vec<review::ReviewObject>,
    /// The Do-Not-Call registries loaded in the ledger, with their age on the plan's day
    /// (absent when none is loaded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnc_registries: Vec<RegistryAge>,
}

/// A loaded Do-Not-Call registry as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegistryAge {
    /// `national` or a two-letter state code.
    pub source: String,
    /// The day its download was made (`YYYY-MM-DD`).
    pub downloaded_on: String,
    /// Whole days from then to the plan's day (UTC).
    pub age_days: i64,
    /// Numbers it holds.
    pub numbers: u64,
    /// Older than the Telemarketing Sales Rule's 31 days: marketing SMS to the numbers it
    /// covers is refused (H180).
    pub stale: bool,
}

impl RegistryAge {
    /// `national downloaded 2026-12-01 (6 days old)`, with `STALE` past 31 days.
    pub fn line(&self) -> String {
        format!(
            "{} downloaded {} ({} day{} old{}), {} numbers",
            self.source,
            self.downloaded_on,
            self.age_days,
            if self.age_days == 1 { "" } else { "s" },
            if self.stale {
                ", STALE: marketing texts to the numbers it covers are refused"
            } else {
                ""
            },
            self.numbers
        )
    }
}

/// Git commit and dirty flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceState {
    /// `HEAD` commit, when the workspace is a git repository.
    pub commit: Option<String>,
    /// Whether tracked files differ from `HEAD`.
    pub dirty: bool,
}

/// The managed library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LibraryPlan {
    /// Its name.
    pub name: String,
    /// Its id, when it exists.
    pub id: Option<String>,
    /// Whether apply creates it.
    pub create: bool,
}

/// What happens to a template.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TemplateAction {
    /// New response.
    Create,
    /// Changed text, pushed with the remote version.
    Update,
    /// Changed in Genesys outside herald since the last apply; apply restores the reviewed text.
    Drift,
    /// Renamed (keeps the response id), maybe with other changes.
    Rename,
    /// Remote equals desired.
    Noop,
    /// A draft: never pushed.
    Draft,
}

impl TemplateAction {
    /// Whether apply writes something.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Drift | Self::Rename
        )
    }
}

/// A remote response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoteRef {
    /// Response id.
    pub id: String,
    /// Response name.
    pub name: String,
    /// Its `version`.
    pub version: u32,
    /// Canonical hash of its content.
    pub hash: String,
}

/// One changed text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TextChange {
    /// `body`, `subject`, `html` or `text`.
    pub field: String,
    /// Unified diff, remote → desired.
    pub diff: String,
    /// Only whitespace differs.
    pub whitespace_only: bool,
}

/// SMS cost as written (with placeholders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SmsCost {
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    /// Segments.
    pub segments: usize,
    /// Characters.
    pub chars: usize,
}

/// The plan for one template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplatePlan {
    /// Template name.
    pub name: String,
    /// `sms` or `email`.
    pub channel: String,
    /// What apply does.
    pub action: TemplateAction,
    /// herald's content hash of the reviewed template (recorded with every send).
    pub content_hash: String,
    /// Canonical hash of the response apply writes.
    pub desired_remote_hash: String,
    /// The remote response it was diffed against.
    pub remote: Option<RemoteRef>,
    /// For renames: the previous name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Text diffs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<TextChange>,
    /// SMS cost before (remote) and after (desired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_before: Option<SmsCost>,
    /// SMS cost of the desired text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_after: Option<SmsCost>,
    /// Variables added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables_added: Vec<String>,
    /// Variables removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables_removed: Vec<String>,
    /// Notes for reviewers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For a new template: its full text as written (SMS `body`; email `subject` and `text`),
    /// addresses masked, so reviewers read what they approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_texts: Vec<NewText>,
}

/// One field of a new template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewText {
    /// `body`, `subject` or `text`.
    pub field: String,
    /// The text, with placeholders, addresses masked.
    pub text: String,
}

/// A masked example of what recipients get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sample {
    /// Masked address.
    pub to: String,
    /// SMS text, or email subject.
    pub text: String,
    /// SMS cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsCost>,
    /// 1-based line in the audience data file (0 in plans saved before it existed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: u64,
    /// What happens to the row: its count key (`to_send`, `held_quiet_hours`, …). Empty in
    /// plans saved before it existed, whose one sample was always a row sent now.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// For a held row: when it opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub opens_at: Option<jiff::Timestamp>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Sample {
    /// The row's decision (`to_send` for plans saved before samples named it).
    pub fn reason(&self) -> Reason {
        Reason::parse(&self.reason).unwrap_or(Reason::ToSend)
    }
}

/// What changed in a campaign since the last apply, as the ledger tells it: whether the
/// ledger holds no row of it yet, how many sendable audience rows it does not hold yet (`+N`:
/// new rows, and rows held or not sent so far) and how many of its rows the audience no
/// longer has (`−M`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CampaignChanges {
    /// The ledger holds no row of this campaign: it was never applied (or sent nothing).
    pub new: bool,
    /// Sendable audience rows the ledger does not hold yet.
    pub rows_added: u64,
    /// Rows in the ledger that the audience no longer has.
    pub rows_removed: u64,
    /// Settings of the campaign's file that differ from the file at the commit of the last
    /// apply (as the ledger recorded it), when that commit is known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingChange>,
}

/// One campaign setting that changed since the last apply (addresses masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettingChange {
    /// The field: `audience`, `from`, `send_window`, `rate_per_minute`, …
    pub field: String,
    /// Its value at the last apply (`none` when absent).
    pub before: String,
    /// Its value now (`none` when absent).
    pub after: String,
}

impl CampaignChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Digest of the exact set of keys a campaign would send (eligible now or held for later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyDigest {
    /// How many keys.
    pub count: u64,
    /// SHA-256 over the keys in audience order.
    pub digest: String,
}

/// The plan for one campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CampaignPlan {
    /// Campaign name.
    pub name: String,
    /// `active`, `paused` or `blocked`.
    pub status: CampaignStatus,
    /// Why it is blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// Template name.
    pub template: String,
    /// Template content hash the sends will record.
    pub template_hash: String,
    /// `sms` or `email`.
    pub channel: String,
    /// Audience name.
    pub audience: String,
    /// Audience data file (workspace-relative).
    pub audience_file: String,
    /// SHA-256 of the audience data file.
    pub audience_hash: String,
    /// Rows read.
    pub rows: u64,
    /// Rows by outcome: `to_send`, `already_sent`, `suppressed`, `no_consent`, `held_quiet_hours`, …
    pub counts: Counts,
    /// Earliest instant a held row opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub next_opening: Option<jiff::Timestamp>,
    /// Earliest instant a row held by a frequency cap opens (counted as
    /// `held_frequency_cap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub frequency_cap_opens: Option<jiff::Timestamp>,
    /// Rows held by a state rule (counted as `held_state_quiet_hours`), by the rule and what
    /// closed it: `"Rhode Island: Sunday"`, `"Alabama: Christmas Day"`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub held_by: std::collections::BTreeMap<String, u64>,
    /// How the rows were placed in time (explicit zone, from the number, audience default,
    /// unplaced). Absent in plans saved before it existed.
    #[serde(default, skip_serializing_if = "ZonePlacement::is_empty")]
    pub zones: ZonePlacement,
    /// Keys eligible to send (now or once held rows open): what apply may send.
    pub send_keys: KeyDigest,
    /// What those rows would send: key, address, placement and rendered message (see
    /// [`outcome`]).
    pub outcome: outcome::OutcomeDigest,
    /// SMS segments of the messages to send now.
    pub segments: u64,
    /// Messages per minute.
    pub rate_per_minute: u32,
    /// Estimated duration of sending now, in seconds.
    pub estimated_seconds: u64,
    /// How the messages leave herald and the Genesys API requests that takes (absent in plans
    /// saved before the choice existed: agentless).
    #[serde(default)]
    pub dispatch: DispatchPlan,
    /// A masked rendered example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// Up to [`MAX_SAMPLES`] masked examples, each with its decision: rows sent now first,
    /// then (when fewer are sent) held rows, then rows not sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// What changed since the last apply (see [`CampaignChanges`]).
    #[serde(default, skip_serializing_if = "CampaignChanges::is_empty")]
    pub changes: CampaignChanges,
    /// Of the rows to send now, those Genesys refused before (`failed`) that this plan sends
    /// again (`--retry-failed`); counted in `counts.to_send` too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_failed: u64,
}

/// How a campaign's messages leave herald, and what sending now costs in API requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DispatchPlan {
    /// `agentless` or `messaging-campaign`.
    pub kind: String,
    /// A messaging campaign's `messagesPerMinute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_minute: Option<u32>,
    /// Contacts uploaded to a Genesys contact list now (messaging campaign; 0 for agentless).
    #[serde(default)]
    pub contacts: u64,
    /// The Genesys API requests sending now makes (an estimate: retries not counted).
    #[serde(default)]
    pub requests: DispatchRequests,
}

impl Default for DispatchPlan {
    fn default() -> Self {
        Self {
            kind: "agentless".to_owned(),
            messages_per_minute: None,
            contacts: 0,
            requests: DispatchRequests::default(),
        }
    }
}

/// The Genesys API requests of one send, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DispatchRequests {
    /// Agentless: one request per message.
    pub sends: u64,
    /// Messaging campaign: contact uploads of at most [`CONTACTS_PER_REQUEST`] contacts.
    pub uploads: u64,
    /// Messaging campaign: look up and create the contact list, create the campaign `off` and
    /// start it (see [`CAMPAIGN_CALLS_PER_WAVE`]).
    pub campaign_calls: u64,
    /// Messaging campaign: progress and status reads while it runs (see [`poll_requests`]).
    pub polls: u64,
    /// Messaging campaign: bulk reads of the contacts' evaluations (at most
    /// [`CONTACTS_PER_REQUEST`] each) to record each outcome.
    pub outcome_reads: u64,
    /// All of them.
    pub total: u64,
}

/// Contacts per upload (`POST …/contactlists/{id}/contacts`) and per bulk read
/// (`POST …/contacts/bulk`): Genesys' documented limit per upload request.
pub const CONTACTS_PER_REQUEST: u64 = 1000;

/// Requests a messaging campaign wave makes besides uploads, polls and reads: look up and
/// create the contact list, create the campaign `off` and start it (a version-guarded PUT of
/// the campaign as created).
pub const CAMPAIGN_CALLS_PER_WAVE: u64 = 4;

/// Polls over a wave's expected duration.
pub const POLLS_PER_WAVE: u64 = 4;
/// The shortest time between two polls of a wave, in seconds.
pub const POLL_MIN_SECONDS: u64 = 1;
/// The longest time between two polls of a wave, in seconds.
pub const POLL_MAX_SECONDS: u64 = 300;
/// How often a wave's progress is polled, for a wave expected to last `estimated` seconds:
/// [`POLLS_PER_WAVE`] polls a wave, between [`POLL_MIN_SECONDS`] and [`POLL_MAX_SECONDS`]
/// apart.
pub fn poll_interval_seconds(estimated: u64) -> u64 {
    (estimated / POLLS_PER_WAVE).clamp(POLL_MIN_SECONDS, POLL_MAX_SECONDS)
}

/// The poll requests of a wave expected to last `estimated` seconds: a progress read every
/// [`poll_interval_seconds`] after the start and a read of the campaign's status once the list
/// is done (`herald apply` reads it too whenever the progress stalls: a stop, an invalid
/// campaign).
pub fn poll_requests(estimated: u64) -> u64 {
    estimated.div_ceil(poll_interval_seconds(estimated)).max(1) + 1
}

impl DispatchPlan {
    /// The plan of sending `to_send` messages through `dispatch`, taking `estimated_seconds`.
    pub fn new(
        dispatch: crate::spec::model::Dispatch,
        to_send: u64,
        estimated_seconds: u64,
    ) -> Self {
        use crate::spec::model::Dispatch;
        match dispatch {
            Dispatch::Agentless => Self {
                requests: DispatchRequests {
                    sends: to_send,
                    total: to_send,
                    ..DispatchRequests::default()
                },
                ..Self::default()
            },
            Dispatch::MessagingCampaign {
                messages_per_minute,
            } => {
                let mut r = DispatchRequests::default();
                if to_send > 0 {
                    r.uploads = to_send.div_ceil(CONTACTS_PER_REQUEST);
                    r.campaign_calls = CAMPAIGN_CALLS_PER_WAVE;
                    r.polls = poll_requests(estimated_seconds);
                    r.outcome_reads = to_send.div_ceil(CONTACTS_PER_REQUEST);
                    r.total = r.uploads + r.campaign_calls + r.polls + r.outcome_reads;
                }
                Self {
                    kind: dispatch.as_str().to_owned(),
                    messages_per_minute: Some(messages_per_minute),
                    contacts: to_send,
                    requests: r,
                }
            }
        }
    }

    /// Whether the messages go through a Genesys messaging campaign.
    pub fn is_messaging_campaign(&self) -> bool {
        self.kind == "messaging-campaign"
    }
}

/// The most samples a campaign's plan keeps.
pub const MAX_SAMPLES: usize = 5;

impl CampaignPlan {
    /// Rows sent now.
    pub fn to_send(&self) -> u64 {
        self.counts.to_send
    }
}

impl Plan {
    /// Whether apply would change anything (write a template or send a message).
    pub fn has_changes(&self) -> bool {
        self.library.create
            || self.templates.iter().any(|t| t.action.is_change())
            || self
                .campaigns
                .iter()
                .any(|c| c.status == CampaignStatus::Active && c.to_send() > 0)
    }

    /// Deterministic JSON (the saved plan).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plans serialise");
        s.push('\n');
        s
    }

    /// SHA-256 of the saved form.
    pub fn hash(&self) -> String {
        crate::hash::sha256(self.to_json().as_bytes()).to_string()
    }
}
