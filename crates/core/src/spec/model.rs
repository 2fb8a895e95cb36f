//! Validated model: what every command downstream of [`crate::load`] works with. Values here
//! have passed every check that does not need the audience data or the network.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::civil::Time;
use serde::Serialize;

use super::{Category, Channel, ContentHash, DedupeBy, Name, Target, TemplateStatus};
use crate::diag::Pos;

/// The loaded, validated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The directory holding `herald.yaml`.
    pub root: PathBuf,
    /// `herald.yaml`.
    pub project: Project,
    /// Templates by name.
    pub templates: BTreeMap<Name, Template>,
    /// Audiences by name.
    pub audiences: BTreeMap<Name, Audience>,
    /// Campaigns by name.
    pub campaigns: BTreeMap<Name, Campaign>,
    /// Every input file (workspace-relative path) with the SHA-256 of its bytes.
    pub files: BTreeMap<String, ContentHash>,
    /// "Now" for consent expiry (the command's clock, `HERALD_NOW` in tests); without it no
    /// consent expires.
    pub clock: Option<jiff::Timestamp>,
}

/// `herald.yaml`, with defaults applied.
#[derive(Debug, Clone)]
pub struct Project {
    /// Environments by name; always contains `sandbox`.
    pub environments: BTreeMap<String, Environment>,
    /// The environment used without `--env`.
    pub default_environment: String,
    /// Directories scanned for documents.
    pub directories: Vec<String>,
    /// Compliance policy.
    pub policy: Policy,
}

/// A deployment target.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Sandbox or Genesys.
    pub target: Target,
    /// Region id (Genesys).
    pub region: Option<String>,
    /// API base URL override.
    pub base_url: Option<String>,
    /// The managed Response Management library.
    pub library: String,
    /// Ledger location override.
    pub ledger: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// Secret file path.
    pub secret_file: Option<String>,
    /// Credential command.
    pub credential_command: Option<Vec<String>>,
    /// The `herald serve` shared-secret file.
    pub webhook_secret_file: Option<String>,
    /// Requests per minute per token.
    pub rate_per_minute: u32,
}

/// The default managed library name.
pub const DEFAULT_LIBRARY: &str = "Herald campaigns";
/// The Genesys default per-token request limit.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 300;

/// Compliance policy with defaults applied. Its canonical JSON (every field) is part of the
/// review digest.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Default send window; `None` means any hour.
    pub send_window: Option<Window>,
    /// Cap per campaign per apply.
    pub max_recipients_per_apply: u64,
    /// Denied name patterns (lowercase substrings).
    pub deny_variable_patterns: Vec<String>,
    /// Extra opt-out keywords.
    pub extra_opt_out_keywords: Vec<String>,
    /// Frequency caps across campaigns (`policy.frequency_caps`).
    pub frequency_caps: Vec<super::caps::FrequencyCap>,
    /// The effective state rules (built-in table plus `policy.state_rules`).
    pub state_rules: super::state_rules::StateRules,
    /// The sender's postal address every marketing email must show (`policy.postal_address`).
    pub postal_address: Option<String>,
    /// The audience column recording a recipient's express written consent to marketing
    /// texts (`policy.dnc.express_consent_column`): a row saying yes is not held by a
    /// Do-Not-Call registry. Left out of the canonical JSON when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnc_express_consent_column: Option<String>,
    /// Marketing SMS rows need consent evidence (`policy.require_consent_evidence`).
    pub require_consent_evidence: bool,
    /// Consent expiries (`policy.consent_expiry`, default CASL's).
    pub consent_expiry: Vec<super::consent::ConsentExpiry>,
    /// Time zones for number prefixes (`policy.zone_overrides`), longest prefix first.
    pub zone_overrides: Vec<super::consent::ZoneOverride>,
    /// `herald serve`'s HELP answer and opt-out confirmation (`policy.keyword_replies`).
    /// Left out of the canonical JSON when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_replies: Option<KeywordReplies>,
}

/// `policy.keyword_replies`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeywordReplies {
    /// The E.164 number replies are sent from.
    pub from: String,
    /// The HELP/INFO answer.
    pub help: Option<String>,
    /// The opt-out confirmation.
    pub opt_out_confirmation: Option<String>,
}

/// The default denied variable-name patterns (PCI DSS, HIPAA, credentials).
pub const DEFAULT_DENY_PATTERNS: &[&str] = &[
    "ssn",
    "social_security",
    "card",
    "pan",
    "cvv",
    "password",
    "diagnosis",
];

/// A daily window in recipient-local time: `[start, end)`; `start > end` wraps midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Opening time.
    #[serde(serialize_with = "ser_time")]
    pub start: Time,
    /// Closing time (exclusive).
    #[serde(serialize_with = "ser_time")]
    pub end: Time,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes fields by reference
fn ser_time<S: serde::Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.strftime("%H:%M").to_string())
}

impl Window {
    /// Whether a local time of day falls inside the window.
    pub fn contains(&self, t: Time) -> bool {
        if self.start <= self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// A location in a workspace file, for diagnostics raised after loading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// Workspace-relative path.
    pub file: String,
    /// Position of the document's `name`.
    pub pos: Option<Pos>,
}

/// A validated template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Identity and Genesys response name.
    pub name: Name,
    /// SMS or email.
    pub channel: Channel,
    /// Transactional or marketing.
    pub category: Category,
    /// Published or draft.
    pub status: TemplateStatus,
    /// Earlier names.
    pub previous_names: Vec<Name>,
    /// Reviewer notes.
    pub description: Option<String>,
    /// The texts.
    pub content: Content,
    /// Declared variables by id.
    pub variables: BTreeMap<String, Variable>,
    /// Canonical content hash (see [`crate::hash`]).
    pub hash: ContentHash,
    /// Where it was defined.
    pub origin: Origin,
    /// Positions of each variable declaration.
    pub variable_pos: BTreeMap<String, Option<Pos>>,
}

/// Message texts by channel. CRLF has been normalised to LF; nothing else is changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// An SMS body.
    Sms {
        /// The text.
        body: String,
    },
    /// An email.
    Email {
        /// Subject line.
        subject: String,
        /// HTML body.
        html: String,
        /// Optional plain-text body.
        text: Option<String>,
    },
}

impl Content {
    /// Every text with its field name, in a fixed order.
    pub fn texts(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Sms { body } => vec![("body", body)],
            Self::Email {
                subject,
                html,
                text,
            } => {
                let mut v = vec![("subject", subject.as_str()), ("html", html.as_str())];
                if let Some(t) = text {
                    v.push(("text", t));
                }
                v
            }
        }
    }
}

/// A declared template variable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Variable {
    /// Description.
    pub description: Option<String>,
    /// Example value.
    pub example: Option<String>,
    /// Maximum length in characters.
    pub max_length: Option<u32>,
}

/// Where an audience's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A CSV file (absolute path).
    Csv(PathBuf),
    /// A JSON-lines file (absolute path).
    Jsonl(PathBuf),
}

impl Source {
    /// The file path.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Csv(p) | Self::Jsonl(p) => p,
        }
    }
}

/// A validated audience. Its canonical JSON (every field but where it was defined and the
/// machine's path of its data) is part of the review digest.
#[derive(Debug, Clone, Serialize)]
pub struct Audience {
    /// Identity.
    pub name: Name,
    /// Data file.
    #[serde(skip)]
    pub source: Source,
    /// Workspace-relative path of the data file, for messages.
    pub source_display: String,
    /// Key column.
    pub key: String,
    /// Address column.
    pub address: String,
    /// Time-zone column.
    pub timezone: Option<String>,
    /// Zone for rows without one whose address gives none (email).
    #[serde(serialize_with = "ser_zone")]
    pub default_timezone: Option<jiff::tz::TimeZone>,
    /// State column.
    pub state: Option<String>,
    /// Consent column.
    pub consent: Option<String>,
    /// Consent evidence columns.
    pub consent_evidence: super::ConsentEvidenceDoc,
    /// Consent-type column.
    pub consent_type: Option<String>,
    /// Where it was defined.
    #[serde(skip)]
    pub origin: Origin,
}

#[allow(clippy::ref_option)] // serde passes fields by reference
fn ser_zone<S: serde::Serializer>(
    tz: &Option<jiff::tz::TimeZone>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match tz {
        Some(tz) => s.serialize_some(tz.iana_name().unwrap_or("?")),
        None => s.serialize_none(),
    }
}

/// Where a campaign takes a variable's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableSource {
    /// An audience column.
    Column(String),
    /// A literal.
    Value(String),
}

/// A validated campaign. Its canonical JSON (every field but where it was defined) is part of
/// the review digest.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// Identity.
    pub name: Name,
    /// Template name.
    pub template: Name,
    /// Audience name.
    pub audience: Name,
    /// Sender number or email address.
    pub from: String,
    /// Email sender display name.
    pub from_name: Option<String>,
    /// Email reply-to.
    pub reply_to: Option<String>,
    /// Variable mapping.
    pub variables: BTreeMap<String, VariableSource>,
    /// No send before.
    pub not_before: Option<jiff::Timestamp>,
    /// No send at or after.
    pub not_after: Option<jiff::Timestamp>,
    /// Active or paused.
    pub active: bool,
    /// Rate override (messages per minute).
    pub rate_per_minute: Option<u32>,
    /// The effective send window (`None`: any hour).
    pub send_window: Option<Window>,
    /// Dedupe rule.
    pub dedupe_by: DedupeBy,
    /// How its messages leave herald. Left out of the canonical JSON when agentless (the
    /// default), so the settings hash of a campaign written before the choice existed holds.
    #[serde(skip_serializing_if = "Dispatch::is_agentless")]
    pub dispatch: Dispatch,
    /// Where it was defined.
    #[serde(skip)]
    pub origin: Origin,
}

/// Genesys' cap on outbound email campaign throughput per org, in messages per minute
/// (Genesys help, "Create a messaging campaign"); a campaign may not ask for more.
pub const EMAIL_CAMPAIGN_MAX_PER_MINUTE: u32 = 1200;

/// How a campaign's messages leave herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Dispatch {
    /// One agentless Genesys API call per message, paced by herald.
    #[default]
    Agentless,
    /// A Genesys outbound messaging campaign over a contact list herald uploads per wave;
    /// Genesys paces it at `messages_per_minute`.
    MessagingCampaign {
        /// The campaign's `messagesPerMinute`.
        messages_per_minute: u32,
    },
}

impl Dispatch {
    /// Whether this is the default, agentless dispatch.
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde passes fields by reference
    pub fn is_agentless(&self) -> bool {
        matches!(self, Self::Agentless)
    }

    /// The spelling in campaign YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Agentless => "agentless",
            Self::MessagingCampaign { .. } => "messaging-campaign",
        }
    }
}
