//! Raw YAML documents as written by users: `herald.yaml`, `Template`, `Audience`, `Campaign`.
//!
//! Every struct denies unknown fields; fields that later checks point at are
//! `Spanned` so diagnostics can name their line and column. The JSON Schemas in `schema/`
//! are generated from these types.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

/// `herald.yaml`: environments, the default environment and the compliance policy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectDoc {
    /// Named deployment targets; `sandbox` (the built-in emulator) exists even when not listed.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentDoc>,
    /// The environment used when `--env` is not given (default: `sandbox`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub default_environment: Option<Spanned<String>>,
    /// Directories scanned for Template, Audience and Campaign documents
    /// (default: `templates` and `campaigns`).
    #[serde(default)]
    pub directories: Option<Vec<String>>,
    /// Compliance policy applied to every campaign.
    #[serde(default)]
    pub policy: PolicyDoc,
}

/// Where an environment sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The built-in Genesys emulator, run in-process.
    Sandbox,
    /// A Genesys Cloud org (or anything speaking its API at `base_url`).
    Genesys,
}

/// One environment in `herald.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDoc {
    /// `sandbox` or `genesys`.
    pub target: Target,
    /// Genesys region id such as `us_east_1` (or `GENESYSCLOUD_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// API base URL override: a Genesys Cloud region's API host over https (e.g.
    /// <https://api.mypurecloud.ie>) or this machine, e.g. a standalone `herald sandbox serve`
    /// at <http://127.0.0.1:8787>. Any other host only from `HERALD_BASE_URL`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Spanned<String>>,
    /// The Response Management library herald manages (default: `Herald campaigns`).
    #[serde(default)]
    pub library: Option<String>,
    /// Ledger location: a `SQLite` path or a `postgres://` URL
    /// (default: `.herald/ledger-<env>.db`).
    #[serde(default)]
    pub ledger: Option<String>,
    /// OAuth client id (or `GENESYSCLOUD_OAUTHCLIENT_ID`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// File holding the OAuth client secret (must not be group- or world-readable).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// Command printing the OAuth client secret on stdout (e.g. a Vault or AWS CLI call).
    #[serde(default)]
    pub credential_command: Option<Vec<String>>,
    /// File holding the shared secret(s) `herald serve` accepts in `X-Herald-Secret`, one per
    /// line (two during a rotation); must not be group- or world-readable. Overridden by
    /// `HERALD_WEBHOOK_SECRET`.
    #[serde(default)]
    pub webhook_secret_file: Option<String>,
    /// Requests per minute per token (default 300, the Genesys default).
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
}

/// Compliance policy.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Recipient-local hours in which messages may be sent (TCPA: 08:00–21:00 by default).
    #[serde(default)]
    pub send_window: Option<SendWindowDoc>,
    /// Most recipients one apply may send to, per campaign (default 50000).
    #[serde(default)]
    pub max_recipients_per_apply: Option<u64>,
    /// Variable or column names matching any of these (substrings, compared without case after
    /// NFKC and the Unicode confusable skeleton, so look-alike letters match) are refused:
    /// card, health and credential data must never go into a message.
    #[serde(default)]
    pub deny_variable_patterns: Option<Vec<String>>,
    /// Extra opt-out keywords on top of the standard list.
    #[serde(default)]
    pub extra_opt_out_keywords: Option<Vec<String>>,
    /// Limits on messages per recipient across every campaign of the environment, e.g.
    /// `[{ channel: sms, category: marketing, max: 3, per: 24h }]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<super::caps::FrequencyCapDoc>>")]
    pub frequency_caps: Option<Vec<Spanned<super::caps::FrequencyCapDoc>>>,
    /// State rules for marketing messages, by two-letter state code: override a built-in rule
    /// field by field, add a state (with its `citation`), or `none` to turn a rule off.
    #[serde(default)]
    pub state_rules: Option<BTreeMap<String, super::state_rules::StateRuleEntryDoc>>,
    /// The template categories the state rules apply to (default: `[marketing]`; transactional
    /// messages follow the send window only).
    #[serde(default)]
    pub state_rules_apply_to: Option<Vec<Category>>,
    /// The sender's valid physical postal address (CAN-SPAM, 15 U.S.C. 7704(a)(5)(A)(iii)):
    /// every marketing email must show it, word for word, in its HTML and plain-text parts.
    #[serde(default)]
    pub postal_address: Option<String>,
    /// Marketing SMS rows must carry consent evidence (the audience's `consent_evidence`
    /// timestamp and source, and seller when declared); a row without it is skipped.
    #[serde(default)]
    pub require_consent_evidence: Option<bool>,
    /// How long a kind of consent lasts, by the audience's `consent_type` value, e.g.
    /// `[{ type: ebr, max_age: 18mo }]`. Replaces the default (CASL: `implied` consent to
    /// Canadian numbers lasts 2 years).
    #[serde(default)]
    pub consent_expiry: Option<Vec<super::consent::ConsentExpiryDoc>>,
    /// Time zones for number prefixes where the numbering data is wrong, e.g.
    /// `{ "+1907581": America/Anchorage }`; checked before herald's own overrides.
    #[serde(default)]
    pub zone_overrides: Option<BTreeMap<String, super::consent::ZonesDoc>>,
    /// Do-Not-Call registries (`herald dnc import`): how a row shows the express written
    /// consent that lets a marketing SMS reach a registered number.
    #[serde(default)]
    pub dnc: Option<DncPolicyDoc>,
    /// What `herald serve` answers to HELP/INFO and the one confirmation it sends after a
    /// STOP (CTIA), through the agentless messaging API. Unset: no replies.
    #[serde(default)]
    pub keyword_replies: Option<KeywordRepliesDoc>,
}

/// `policy.keyword_replies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordRepliesDoc {
    /// The org's SMS number (E.164) the replies are sent from.
    pub from: String,
    /// The answer to HELP and INFO: the program's name, how to get help, how often messages
    /// come, "Msg & data rates may apply" and how to opt out (it must say how: "Reply STOP to
    /// opt out"). Unset: HELP is recorded, not answered.
    #[serde(default)]
    pub help: Option<String>,
    /// The one confirmation sent after a STOP, within five minutes: no marketing, only that
    /// no more messages will be sent. Unset: no confirmation.
    #[serde(default)]
    pub opt_out_confirmation: Option<String>,
}

/// `policy.dnc`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DncPolicyDoc {
    /// The audience column that records the recipient's express written consent (a signed
    /// written agreement to receive marketing texts from this seller, 47 CFR 64.1200(f)(9)):
    /// a row whose value is yes/true/y/1 is not held by a Do-Not-Call registry. Every
    /// marketing SMS audience must then have this column.
    #[serde(default)]
    pub express_consent_column: Option<String>,
}

/// A daily window in the recipient's local time, `HH:MM` to `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDoc {
    /// Opening time, `HH:MM`.
    pub start: String,
    /// Closing time, `HH:MM` (exclusive).
    pub end: String,
}

/// A send window, or `none` to send at any hour (e.g. fraud alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SendWindowDoc {
    /// The literal `none`: no quiet hours.
    None(NoneLiteral),
    /// A window.
    Window(WindowDoc),
}

/// The literal string `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum NoneLiteral {
    /// `none`
    #[serde(rename = "none")]
    None,
}

impl<'de> Deserialize<'de> for SendWindowDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SendWindowDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`none` or a mapping with `start` and `end`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "none" {
                    Ok(SendWindowDoc::None(NoneLiteral::None))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                WindowDoc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SendWindowDoc::Window)
            }
        }
        deserializer.deserialize_any(V)
    }
}

pub use crate::channel::Channel;

/// Message category; marketing messages need opt-out text (CTIA, CAN-SPAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Messages the recipient expects as part of a transaction.
    Transactional,
    /// Promotional messages.
    Marketing,
}

/// Whether a template may be pushed and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    /// Reviewed: pushed to Genesys and usable by campaigns.
    Published,
    /// Work in progress: never pushed, never sent.
    Draft,
}

/// The `kind` of a Template document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum TemplateKind {
    /// `Template`
    Template,
}

/// The `kind` of an Audience document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum AudienceKind {
    /// `Audience`
    Audience,
}

/// The `kind` of a Campaign document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum CampaignKind {
    /// `Campaign`
    Campaign,
}

/// A message template: the compliance source of truth, pushed to Genesys Response Management.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateDoc {
    /// Always `Template`.
    pub kind: TemplateKind,
    /// Identity; also the Genesys response name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `sms` or `email`.
    pub channel: Channel,
    /// `transactional` or `marketing`.
    pub category: Category,
    /// `published` or `draft` (drafts are never pushed or sent).
    pub status: TemplateStatus,
    /// Earlier names of this template; a rename keeps the Genesys response id.
    #[serde(default)]
    pub previous_names: Vec<String>,
    /// Free text for reviewers.
    #[serde(default)]
    pub description: Option<String>,
    /// SMS text with `{{variable}}` placeholders.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// Email subject.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub subject: Option<Spanned<String>>,
    /// Email HTML body.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub html: Option<Spanned<String>>,
    /// Email plain-text alternative.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub text: Option<Spanned<String>>,
    /// Every placeholder the texts use, exactly.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VariableDoc>")]
    pub variables: BTreeMap<String, Spanned<VariableDoc>>,
}

/// A template variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableDoc {
    /// What the value is, for reviewers.
    #[serde(default)]
    pub description: Option<String>,
    /// A realistic example value, used for previews and length checks.
    #[serde(default)]
    pub example: Option<String>,
    /// Longest value accepted; longer rows are not sent.
    #[serde(default)]
    pub max_length: Option<u32>,
}

/// Where an audience's rows come from (path relative to the audience file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceDoc {
    /// A CSV file with a header row.
    Csv(String),
    /// A file of JSON objects, one per line.
    Jsonl(String),
}

/// A set of recipients.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceDoc {
    /// Always `Audience`.
    pub kind: AudienceKind,
    /// Identity.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free text for reviewers.
    #[serde(default)]
    pub description: Option<String>,
    /// `{ csv: path }` or `{ jsonl: path }`.
    #[schemars(with = "SourceDoc")]
    pub source: Spanned<SourceDoc>,
    /// Column with the unique recipient key (e.g. a CRM id); duplicates are an error.
    pub key: String,
    /// Column with the E.164 phone (SMS) or email address (email).
    pub address: String,
    /// Optional column with the recipient's IANA time zone. Without it (or when it is empty),
    /// a phone number's zone comes from its prefix.
    #[serde(default)]
    pub timezone: Option<String>,
    /// IANA time zone for rows with no `timezone` value whose address gives no zone: an email,
    /// or a phone number without one (toll-free). Without it such rows are held while a send
    /// window applies.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub default_timezone: Option<Spanned<String>>,
    /// Optional column with the recipient's two-letter US state. A phone number's own state
    /// (from its area code) always applies; a different valid state in this column adds its
    /// rules, and a value that is not a US state or territory code is reported and ignored.
    #[serde(default)]
    pub state: Option<String>,
    /// Optional column saying whether the recipient consented; rows without consent are skipped.
    /// Required for an audience of a marketing SMS campaign.
    #[serde(default)]
    pub consent: Option<String>,
    /// Optional columns holding the evidence of each row's consent: when it was given
    /// (`timestamp`, RFC 3339 or `YYYY-MM-DD`), where (`source`: a form, a keyword, a
    /// checkout) and to which seller (`seller`).
    #[serde(default)]
    pub consent_evidence: Option<ConsentEvidenceDoc>,
    /// Optional column naming the kind of consent (`express`, `implied`, `ebr`, …), matched
    /// against `policy.consent_expiry`.
    #[serde(default)]
    pub consent_type: Option<String>,
}

/// The audience columns that hold consent evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentEvidenceDoc {
    /// Column with the time consent was given.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Column with where consent was given.
    #[serde(default)]
    pub source: Option<String>,
    /// Column with the seller the consent names.
    #[serde(default)]
    pub seller: Option<String>,
}

/// Where a campaign takes a template variable's value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VariableSourceDoc {
    /// A column of the audience.
    Column(String),
    /// The same literal value for every recipient.
    Value(String),
}

/// When a campaign may send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDoc {
    /// No message before this instant (RFC 3339).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_before: Option<jiff::Timestamp>,
    /// No message at or after this instant (RFC 3339).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_after: Option<jiff::Timestamp>,
}

/// Whether a campaign sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Sends on apply.
    Active,
    /// Planned and reported, never sent.
    Paused,
}

/// Deduplication rule within a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupeBy {
    /// One message per audience row key.
    #[default]
    Key,
    /// One message per address, whatever the number of rows.
    Address,
}

/// A campaign: a template sent to an audience.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignDoc {
    /// Always `Campaign`.
    pub kind: CampaignKind,
    /// Identity; with a row key it identifies a send, forever.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free text for reviewers.
    #[serde(default)]
    pub description: Option<String>,
    /// The template to send.
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// The audience to send to.
    #[schemars(with = "String")]
    pub audience: Spanned<String>,
    /// Sender: a provisioned SMS number (E.164) or a sender email address.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// Email only: the sender's display name.
    #[serde(default)]
    pub from_name: Option<String>,
    /// Email only: reply-to address.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Every template variable, mapped to a column or a literal value.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VariableSourceDoc>")]
    pub variables: BTreeMap<String, Spanned<VariableSourceDoc>>,
    /// Sending interval.
    #[serde(default)]
    #[schemars(with = "Option<ScheduleDoc>")]
    pub schedule: Option<Spanned<ScheduleDoc>>,
    /// `active` or `paused`.
    pub status: CampaignStatus,
    /// Messages per minute (default: the environment's rate).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub rate_per_minute: Option<Spanned<u32>>,
    /// Narrows the policy's send window (the two are intersected; for marketing also with the
    /// federal 08:00–21:00, and a marketing window may not wrap midnight); `none` for
    /// non-marketing messages that may go out at any hour.
    #[serde(default)]
    #[schemars(with = "Option<SendWindowDoc>")]
    pub send_window: Option<Spanned<SendWindowDoc>>,
    /// `key` (one message per row) or `address` (one per recipient address).
    #[serde(default)]
    pub dedupe_by: DedupeBy,
    /// How messages leave herald: `agentless` (default; one API call per message, paced by
    /// `rate_per_minute`) or `messaging-campaign` (a Genesys outbound messaging campaign over
    /// a contact list herald uploads; needs `messages_per_minute`).
    #[serde(default)]
    #[schemars(with = "Option<DispatchDoc>")]
    pub dispatch: Option<Spanned<DispatchDoc>>,
    /// `dispatch: messaging-campaign` only: the Genesys campaign's `messagesPerMinute`
    /// (at least 1; email campaigns at most 1200, the per-org cap).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub messages_per_minute: Option<Spanned<u32>>,
}

/// How a campaign's messages leave herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DispatchDoc {
    /// One agentless Genesys API call per message, paced by herald (`rate_per_minute`).
    #[default]
    Agentless,
    /// A Genesys outbound messaging campaign over a contact list herald uploads for each wave,
    /// paced by Genesys at `messages_per_minute`.
    MessagingCampaign,
}

/// Just enough of any document to dispatch on its `kind`.
#[derive(Debug, Deserialize)]
pub struct KindProbe {
    /// The document kind, if present.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
}
