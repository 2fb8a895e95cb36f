//! Turning audience rows into messages for one campaign: address validation, consent, time
//! zone, variable mapping, rendering, length and card-number checks, and duplicate keys.
//! Shared by `validate`, `render`, `plan` and `apply` (through
//! [`crate::audience::CampaignRows`], which streams a campaign's audience through a
//! [`RowClassifier`]), so they can never disagree about which row gets which message. Pure: the
//! values come in as plain strings.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use jiff::tz::TimeZone;

use crate::local_time::{Placement, RowZones};
use crate::spec::model::{Audience, Campaign, Content, Template, VariableSource, Workspace};
use crate::spec::state_rules::StateCode;
use crate::spec::{Channel, DedupeBy, E164, Email};
use crate::text::{self, SmsInfo};

/// A recipient address, validated for the campaign's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An E.164 phone number.
    Phone(E164),
    /// An email address.
    Email(Email),
}

impl Address {
    /// The address as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Email(e) => e.as_str(),
        }
    }

    /// The masked form for output.
    pub fn masked(&self) -> String {
        match self {
            Self::Phone(p) => p.masked(),
            Self::Email(e) => e.masked(),
        }
    }

    /// The channel this kind of address is reached on.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Phone(_) => Channel::Sms,
            Self::Email(_) => Channel::Email,
        }
    }

    /// The normalised form that identifies a recipient (HMAC input): E.164 as is, email
    /// lowercased.
    pub fn normalized(&self) -> String {
        match self {
            Self::Phone(p) => p.as_str().to_owned(),
            Self::Email(e) => e.as_str().to_lowercase(),
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// SMS text and its cost.
    Sms {
        /// The text to send.
        text: String,
        /// Encoding and segments.
        info: SmsInfo,
    },
    /// Email parts.
    Email {
        /// Subject.
        subject: String,
        /// HTML body.
        html: String,
        /// Plain-text body.
        text: Option<String>,
    },
}

/// A row ready to send.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// 1-based line in the data file.
    pub line: u64,
    /// The unique recipient key.
    pub key: String,
    /// Where to send.
    pub address: Address,
    /// The recipient's time zone(s) and state.
    pub place: Placement,
    /// The rendered message.
    pub message: Message,
    /// The template variables' values it was rendered with, by name (a messaging campaign's
    /// contact columns: Genesys renders the reviewed template with them).
    pub variables: Vec<(String, String)>,
    /// The row's express written consent column (`policy.dnc.express_consent_column`) says
    /// yes: Do-Not-Call registries do not hold it.
    pub express_consent: bool,
    /// The row's consent evidence (the audience's `consent_evidence` timestamp, source and
    /// seller and its `consent_type`, joined by U+001F), when any of those columns is
    /// declared and filled: recorded with a send only as a keyed reference, never raw.
    pub consent_evidence: Option<String>,
}

/// Why a row is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The row cannot be parsed or has no key.
    InvalidRow,
    /// The consent column does not say yes.
    NoConsent,
    /// Marketing without the consent evidence the policy requires (or an implied consent
    /// whose age cannot be checked).
    NoConsentEvidence,
    /// Implied consent older than `policy.consent_expiry` allows.
    ConsentExpired,
    /// The address is not valid for the channel.
    InvalidAddress,
    /// A value is missing or too long, or the SMS is over 765 characters.
    RenderError,
    /// The rendered text contains a probable card number.
    CardNumber,
    /// Another row already has this key.
    DuplicateKey,
    /// Another row already has this address (`dedupe_by: address`).
    DuplicateAddress,
}

impl SkipReason {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidRow => "invalid row",
            Self::NoConsent => "no consent",
            Self::NoConsentEvidence => "no consent evidence",
            Self::ConsentExpired => "consent expired",
            Self::InvalidAddress => "invalid address",
            Self::RenderError => "render error",
            Self::CardNumber => "card number in text",
            Self::DuplicateKey => "duplicate key",
            Self::DuplicateAddress => "duplicate address",
        }
    }
}

/// A skipped row with a message that never contains the address or values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line.
    pub line: u64,
    /// Why.
    pub reason: SkipReason,
    /// Details for diagnostics.
    pub message: String,
    /// For duplicates: the line of the first occurrence.
    pub first_line: Option<u64>,
}

/// The outcome for one row.
#[derive(Debug, Clone)]
pub enum Row {
    /// Ready to send.
    Ready(Box<Recipient>),
    /// Not sent, and why.
    Skipped(Skipped),
    /// Already final in the ledger (see [`RowClassifier::skip_known`]): not rendered again.
    Known {
        /// 1-based line.
        line: u64,
        /// The recipient key.
        key: String,
    },
}

/// Also reported: a time-zone value that is not a known IANA zone (row kept, zone unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line.
    pub line: u64,
    /// What.
    pub message: String,
    /// Which diagnostic code.
    pub code: crate::diag::Code,
}

/// How the message of a row whose recipient key holds a control, bidirectional or invisible
/// format character begins (reported as H153).
pub const HIDDEN_KEY: &str = "the recipient key contains the invisible or control character";

/// How one template variable gets its value: (name, column index, literal, max length).
type VarSlot = (String, Option<usize>, Option<String>, Option<u32>);

/// Classifies one campaign's rows, in audience order.
pub struct RowClassifier<'w> {
    /// The campaign.
    pub campaign: &'w Campaign,
    /// Its template.
    pub template: &'w Template,
    /// Its audience.
    pub audience: &'w Audience,
    columns: Vec<String>,
    vars: Vec<VarSlot>,
    tz_col: Option<usize>,
    state_col: Option<usize>,
    consent_col: Option<usize>,
    /// The express written consent column (`policy.dnc.express_consent_column`).
    express_col: Option<usize>,
    /// Consent timestamp, source, seller and type columns.
    evidence_cols: [Option<usize>; 3],
    consent_type_col: Option<usize>,
    /// Whether the campaign is marketing by SMS (consent evidence and expiry apply).
    marketing_sms: bool,
    require_evidence: bool,
    expiry: &'w [crate::spec::consent::ConsentExpiry],
    zone_overrides: &'w [crate::spec::consent::ZoneOverride],
    now: Option<jiff::Timestamp>,
    /// Per expiry rule, the latest consent time that has expired at `now`.
    expiry_cutoffs: Vec<Option<jiff::Timestamp>>,
    /// The last consent timestamp value parsed, and its value (rows often share one).
    last_consent_time: Option<(String, Option<jiff::Timestamp>)>,
    seen_keys: LineMap,
    seen_addresses: LineMap,
    tz_cache: foldhash::HashMap<String, Option<TimeZone>>,
    /// Candidate zone sets of phone prefixes, keyed by the address of the static set.
    number_zones: foldhash::HashMap<usize, Arc<[TimeZone]>>,
    values: BTreeMap<String, String>,
    /// The template's texts with their placeholders found once.
    compiled: CompiledContent,
    known: Option<KnownKeys<'w>>,
    /// Non-fatal notes about kept rows (unknown time zone, odd consent values).
    pub notes: Vec<Note>,
}

/// A template's texts, compiled for rendering many rows.
enum CompiledContent {
    Sms(text::Compiled),
    Email {
        subject: text::Compiled,
        html: text::Compiled,
        text: Option<text::Compiled>,
    },
}

impl CompiledContent {
    fn new(content: &Content) -> Self {
        match content {
            Content::Sms { body } => Self::Sms(text::Compiled::new(body)),
            Content::Email {
                subject,
                html,
                text,
            } => Self::Email {
                subject: text::Compiled::new(subject),
                html: text::Compiled::new(html),
                text: text.as_deref().map(text::Compiled::new),
            },
        }
    }
}

/// Says whether a recipient key is already final in the ledger.
type KnownKeys<'w> = Box<dyn Fn(&str) -> bool + 'w>;

/// A map keyed by fingerprints that are already good hashes: hashing them again is waste.
type FpMap = HashMap<u64, u64, std::hash::BuildHasherDefault<IdentityHasher>>;

/// The first line of each fingerprint seen: 4-byte lines (13 bytes a slot with the control
/// byte, where `u64` lines took 17: a 10,000,000-row audience holds one per row), lines past
/// `u32::MAX` kept apart.
#[derive(Default)]
struct LineMap {
    small: HashMap<u64, u32, std::hash::BuildHasherDefault<IdentityHasher>>,
    big: FpMap,
}

impl LineMap {
    fn get(&self, fp: u64) -> Option<u64> {
        self.small
            .get(&fp)
            .map(|l| u64::from(*l))
            .or_else(|| self.big.get(&fp).copied())
    }

    fn insert(&mut self, fp: u64, line: u64) {
        match u32::try_from(line) {
            Ok(l) => {
                self.small.insert(fp, l);
            }
            Err(_) => {
                self.big.insert(fp, line);
            }
        }
    }
}

/// Passes a `u64` key through as its own hash.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn fingerprint(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// The state of a phone number's area code.
fn number_state(address: &Address) -> Option<StateCode> {
    match address {
        Address::Phone(p) => herald_numbering::us_state(p.as_str()).and_then(StateCode::parse),
        Address::Email(_) => None,
    }
}

/// Parses a consent value: yes/true/y/1 → Some(true); no/false/n/0/empty → Some(false).
pub fn parse_consent(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" | "" => Some(false),
        _ => None,
    }
}

impl<'w> RowClassifier<'w> {
    /// A classifier for `campaign`; [`Self::columns`] says which audience columns it reads.
    pub fn new(ws: &'w Workspace, campaign: &'w Campaign) -> Self {
        let template = &ws.templates[&campaign.template];
        let audience = &ws.audiences[&campaign.audience];
        let mut columns = vec![audience.key.clone(), audience.address.clone()];
        let mut push = |c: &str| {
            if let Some(i) = columns.iter().position(|x| x == c) {
                i
            } else {
                columns.push(c.to_owned());
                columns.len() - 1
            }
        };
        let tz_col = audience.timezone.as_deref().map(&mut push);
        let state_col = audience.state.as_deref().map(&mut push);
        let consent_col = audience.consent.as_deref().map(&mut push);
        let express_col = ws
            .project
            .policy
            .dnc_express_consent_column
            .as_deref()
            .filter(|_| {
                template.channel == Channel::Sms
                    && template.category == crate::spec::Category::Marketing
            })
            .map(&mut push);
        let ev = &audience.consent_evidence;
        let evidence_cols = [
            ev.timestamp.as_deref().map(&mut push),
            ev.source.as_deref().map(&mut push),
            ev.seller.as_deref().map(&mut push),
        ];
        let consent_type_col = audience.consent_type.as_deref().map(&mut push);
        let mut vars = Vec::new();
        for (name, var) in &template.variables {
            let (col, value) = match campaign.variables.get(name) {
                Some(VariableSource::Column(c)) => (Some(push(c)), None),
                Some(VariableSource::Value(v)) => (None, Some(v.clone())),
                None => (None, None),
            };
            vars.push((name.clone(), col, value, var.max_length));
        }
        Self {
            campaign,
            template,
            audience,
            columns,
            vars,
            tz_col,
            state_col,
            consent_col,
            express_col,
            evidence_cols,
            consent_type_col,
            marketing_sms: template.category == crate::spec::Category::Marketing
                && template.channel == Channel::Sms,
            require_evidence: ws.project.policy.require_consent_evidence,
            expiry: &ws.project.policy.consent_expiry,
            zone_overrides: &ws.project.policy.zone_overrides,
            now: ws.clock,
            expiry_cutoffs: ws
                .project
                .policy
                .consent_expiry
                .iter()
                .map(|e| ws.clock.and_then(|now| e.cutoff(now)))
                .collect(),
            last_consent_time: None,
            seen_keys: LineMap::default(),
            seen_addresses: LineMap::default(),
            tz_cache: foldhash::HashMap::default(),
            number_zones: foldhash::HashMap::default(),
            values: BTreeMap::new(),
            compiled: CompiledContent::new(&template.content),
            known: None,
            notes: Vec::new(),
        }
    }

    /// The audience columns the campaign reads, in the order [`Self::classify`] expects their
    /// values: the key, the address, then time zone, consent and variable columns.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Rows whose key `is_known` says is already final in the ledger are returned as
    /// [`Row::Known`] without being validated or rendered again (duplicate keys are still
    /// detected). Plan and apply use this; `validate` checks every row.
    #[must_use]
    pub fn skip_known(mut self, is_known: impl Fn(&str) -> bool + 'w) -> Self {
        self.known = Some(Box::new(is_known));
        self
    }

    /// A row that could not be read.
    pub fn invalid(line: u64, message: impl Into<String>) -> Row {
        Self::skip(line, SkipReason::InvalidRow, message)
    }

    fn skip(line: u64, reason: SkipReason, message: impl Into<String>) -> Row {
        Row::Skipped(Skipped {
            line,
            reason,
            message: message.into(),
            first_line: None,
        })
    }

    /// The candidate zones of a phone number, shared between rows with the same set.
    fn zones_of_number(&mut self, address: &Address) -> Option<Arc<[TimeZone]>> {
        let Address::Phone(p) = address else {
            return None;
        };
        if let Some(o) = self
            .zone_overrides
            .iter()
            .find(|o| p.as_str().starts_with(o.prefix.as_str()))
        {
            return Some(o.zones.clone());
        }
        match herald_numbering::time_zones(p.as_str()) {
            herald_numbering::Zones::Known(set) => Some(
                self.number_zones
                    .entry(set.as_ptr() as usize)
                    .or_insert_with(|| set.iter().filter_map(|z| TimeZone::get(z).ok()).collect())
                    .clone(),
            ),
            herald_numbering::Zones::Unknown => None,
        }
    }

    /// Where the row's recipient is: the `timezone` value (an invalid one is a row note and
    /// holds the row, never falling back to a guess; the number's zones are kept beside it),
    /// else the phone number's candidate zones, else the audience's `default_timezone`; the
    /// number's state and the `state` value when it names another known region (any other
    /// value is a row note and ignored).
    fn place<'v>(
        &mut self,
        line: u64,
        address: &Address,
        get: &impl Fn(usize) -> Option<&'v str>,
    ) -> Placement {
        let explicit = self
            .tz_col
            .and_then(get)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut number_zones = None;
        let zones = match explicit {
            Some(name) => {
                let tz = if let Some(cached) = self.tz_cache.get(name) {
                    cached.clone()
                } else {
                    let tz = TimeZone::get(name).ok();
                    self.tz_cache.insert(name.to_owned(), tz.clone());
                    tz
                };
                if let Some(tz) = tz {
                    number_zones = self.zones_of_number(address);
                    RowZones::Explicit(tz)
                } else {
                    self.notes.push(Note { line, message: format!("`{name}` is not a known IANA time zone; the row is held until its zone is known"), code: crate::diag::Code::H165 });
                    RowZones::Invalid
                }
            }
            None => match (self.zones_of_number(address), address) {
                (Some(zones), _) => RowZones::FromNumber(zones),
                (None, address) => match (address, &self.audience.default_timezone) {
                    (_, Some(tz)) => RowZones::AudienceDefault(tz.clone()),
                    (Address::Phone(_), None) => RowZones::Unknown,
                    (Address::Email(_), None) => RowZones::Missing,
                },
            },
        };
        let column_state = self
            .state_col
            .and_then(get)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let number = number_state(address);
        let column = self.audience.state.as_deref().unwrap_or_default();
        let (state, number_state) = match column_state.map(|raw| (raw, StateCode::parse(raw))) {
            None => (number, None),
            Some((raw, None)) => {
                self.notes.push(Note { line, message: format!("`{raw}` in column `{column}` is not a two-letter state code; the state is taken from the number"), code: crate::diag::Code::H168 });
                (number, None)
            }
            Some((raw, Some(code))) if !code.is_known_region() => {
                self.notes.push(Note { line, message: format!("`{raw}` in column `{column}` is not a US state or territory code (nor a Canadian province); it is ignored and the state is taken from the number"), code: crate::diag::Code::H176 });
                (number, None)
            }
            // The column may add a state, never remove the number's: both rules apply.
            Some((_, Some(code))) => (Some(code), number.filter(|n| *n != code)),
        };
        Placement {
            zones,
            state,
            number_state,
            number_zones,
        }
    }

    /// For a marketing SMS row with consent: the evidence `policy.require_consent_evidence`
    /// asks for, and the age of a consent type `policy.consent_expiry` limits. A skipped row
    /// when either fails; its message never quotes the row's values.
    fn consent_evidence<'v>(
        &mut self,
        line: u64,
        place: &Placement,
        get: &impl Fn(usize) -> Option<&'v str>,
    ) -> Option<Row> {
        if !self.marketing_sms || self.consent_col.is_none() {
            return None;
        }
        let value = |c: Option<usize>| c.and_then(get).map(str::trim).filter(|v| !v.is_empty());
        let ev = &self.audience.consent_evidence;
        if self.require_evidence {
            let names = [&ev.timestamp, &ev.source, &ev.seller];
            for (col, name) in self.evidence_cols.iter().zip(names) {
                if let Some(name) = name
                    && value(*col).is_none()
                {
                    return Some(Self::skip(
                        line,
                        SkipReason::NoConsentEvidence,
                        format!(
                            "no consent evidence: column `{name}` is empty (`policy.require_consent_evidence`)"
                        ),
                    ));
                }
            }
        }
        let ts_value = value(self.evidence_cols[0]);
        let given = ts_value.map(|raw| match &self.last_consent_time {
            Some((last, parsed)) if last == raw => *parsed,
            _ => {
                let parsed = crate::spec::consent::parse_consent_time(raw);
                self.last_consent_time = Some((raw.to_owned(), parsed));
                parsed
            }
        });
        if let Some(None) = given {
            return Some(Self::skip(
                line,
                SkipReason::NoConsentEvidence,
                format!(
                    "no consent evidence: the value in column `{}` is not an RFC 3339 timestamp or a YYYY-MM-DD date",
                    ev.timestamp.as_deref().unwrap_or_default()
                ),
            ));
        }
        let (Some(kind), Some(_)) = (value(self.consent_type_col), self.now) else {
            return None;
        };
        let canadian = place
            .states()
            .any(|s| herald_numbering::is_canadian(s.as_str()));
        let (i, rule) = self
            .expiry
            .iter()
            .enumerate()
            .find(|(_, e)| e.covers(kind, canadian))?;
        let cutoff = self.expiry_cutoffs.get(i).copied().flatten();
        let column = self.audience.consent_type.as_deref().unwrap_or_default();
        match given.flatten() {
            None => Some(Self::skip(
                line,
                SkipReason::NoConsentEvidence,
                format!(
                    "no consent evidence: `{}` consent (column `{column}`) expires after {}, but the row has no consent timestamp",
                    rule.consent_type, rule.max_age
                ),
            )),
            Some(at) if cutoff.is_some_and(|c| at <= c) => Some(Self::skip(
                line,
                SkipReason::ConsentExpired,
                format!(
                    "consent expired: `{}` consent given {} lasts {}{}",
                    rule.consent_type,
                    at.strftime("%Y-%m-%d"),
                    rule.max_age,
                    if rule.citation.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", rule.citation)
                    }
                ),
            )),
            Some(_) => None,
        }
    }

    /// Classifies the row on `line` whose values of [`Self::columns`] are `values`.
    pub fn classify(&mut self, line: u64, values: &[Option<String>]) -> Row {
        let get = |i: usize| values.get(i).and_then(Option::as_deref);
        let key = get(0).unwrap_or("").to_owned();
        if key.is_empty() {
            return Self::skip(
                line,
                SkipReason::InvalidRow,
                format!("empty recipient key (column `{}`)", self.audience.key),
            );
        }
        if let Some(c) = key
            .chars()
            .find(|c| crate::text::visible::is_hidden_in_line(*c))
        {
            // A key is shown in plans, `render` and ledger exports: one that could rewrite a
            // terminal line or reorder text is refused, never sent.
            return Self::skip(
                line,
                SkipReason::InvalidRow,
                format!(
                    "{HIDDEN_KEY} {} (column `{}`); the row is not sent",
                    crate::text::visible::describe(c),
                    self.audience.key
                ),
            );
        }
        let key_fp = fingerprint(&key);
        if let Some(first) = self.seen_keys.get(key_fp) {
            return Row::Skipped(Skipped {
                line,
                reason: SkipReason::DuplicateKey,
                message: format!("recipient key `{key}` repeats the row on line {first}"),
                first_line: Some(first),
            });
        }
        self.seen_keys.insert(key_fp, line);
        if key.trim() != key {
            // Keys are never rewritten (a send's identity must not change under rows already
            // in a ledger), so `C-1001 ` and `C-1001` stay two recipients: say so.
            self.notes.push(Note {
                line,
                message: format!(
                    "the key in column `{}` has leading or trailing whitespace; it is used as written, so it differs from the same key without it",
                    self.audience.key
                ),
                code: crate::diag::Code::H169,
            });
        }
        if self.known.as_ref().is_some_and(|k| k(&key)) {
            return Row::Known { line, key };
        }
        if let Some(c) = self.consent_col {
            match get(c).map(parse_consent) {
                Some(Some(true)) => {}
                Some(Some(false)) | None => {
                    return Self::skip(line, SkipReason::NoConsent, "no consent");
                }
                Some(None) => {
                    self.notes.push(Note { line, message: format!("consent value in column `{}` is not yes/no/true/false/1/0; treated as no consent", self.audience.consent.as_deref().unwrap_or_default()), code: crate::diag::Code::H166 });
                    return Self::skip(line, SkipReason::NoConsent, "unrecognised consent value");
                }
            }
        }
        let express_consent = self
            .express_col
            .and_then(get)
            .is_some_and(|v| parse_consent(v) == Some(true));
        let consent_evidence =
            if self.evidence_cols.iter().any(Option::is_some) || self.consent_type_col.is_some() {
                let parts: Vec<&str> = self
                    .evidence_cols
                    .iter()
                    .chain(std::iter::once(&self.consent_type_col))
                    .map(|c| c.and_then(get).map_or("", str::trim))
                    .collect();
                parts
                    .iter()
                    .any(|p| !p.is_empty())
                    .then(|| parts.join("\u{1f}"))
            } else {
                None
            };
        let raw_address = get(1).unwrap_or("").trim();
        let address = match self.template.channel {
            Channel::Sms => E164::parse(raw_address).map(Address::Phone),
            Channel::Email => Email::parse(raw_address).map(Address::Email),
        };
        let address = match address {
            Ok(Address::Phone(p)) if herald_numbering::nanp_impossible(p.as_str()).is_some() => {
                let why = herald_numbering::nanp_impossible(p.as_str()).unwrap_or_default();
                return Self::skip(
                    line,
                    SkipReason::InvalidAddress,
                    format!(
                        "invalid phone number in column `{}`: {why}",
                        self.audience.address
                    ),
                );
            }
            Ok(a) => a,
            Err(e) => {
                let what = match self.template.channel {
                    Channel::Sms => "phone number",
                    Channel::Email => "email address",
                };
                return Self::skip(
                    line,
                    SkipReason::InvalidAddress,
                    format!("invalid {what} in column `{}`: {e}", self.audience.address),
                );
            }
        };
        let fp = fingerprint(&address.normalized());
        if let Some(first) = self.seen_addresses.get(fp) {
            if self.campaign.dedupe_by == DedupeBy::Address {
                return Row::Skipped(Skipped {
                    line,
                    reason: SkipReason::DuplicateAddress,
                    message: format!("same address as the row on line {first}"),
                    first_line: Some(first),
                });
            }
            self.notes.push(Note {
                line,
                message: format!(
                    "this row reaches the same recipient as the row on line {first}: with `dedupe_by: key` both are sent (set `dedupe_by: address` to send once)"
                ),
                code: crate::diag::Code::H174,
            });
        } else {
            self.seen_addresses.insert(fp, line);
        }
        let place = self.place(line, &address, &get);
        if let Some(skipped) = self.consent_evidence(line, &place, &get) {
            return skipped;
        }
        // `values` keeps one entry per template variable from row to row, each overwritten in
        // place (no allocation per value): a row reaches rendering only after every variable
        // is set, so no value of an earlier row can be rendered.
        for (name, col, literal, max_len) in &self.vars {
            let value = match (col, literal) {
                (Some(c), _) => values.get(*c).and_then(Option::as_deref),
                (None, Some(v)) => Some(v.as_str()),
                (None, None) => None,
            };
            let Some(value) = value else {
                return Self::skip(
                    line,
                    SkipReason::RenderError,
                    format!("no value for variable `{name}`"),
                );
            };
            if let Some(c) = value
                .chars()
                .find(|c| c.is_control() && *c != '\t' && *c != '\n')
            {
                return Self::skip(
                    line,
                    SkipReason::RenderError,
                    format!(
                        "value of `{name}` contains the control character U+{:04X}; it is not sent",
                        u32::from(c)
                    ),
                );
            }
            if let Some(max) = max_len {
                let len = value.chars().count();
                if len > *max as usize {
                    return Self::skip(
                        line,
                        SkipReason::RenderError,
                        format!("value of `{name}` is {len} characters; max_length is {max}"),
                    );
                }
            }
            match self.values.get_mut(name) {
                Some(slot) => {
                    slot.clear();
                    slot.push_str(value);
                }
                None => {
                    self.values.insert(name.clone(), value.to_owned());
                }
            }
        }
        let render = |t: &text::Compiled| {
            t.render(&self.values)
                .map_err(|m| format!("no value for variable `{}`", m.0))
        };
        let message = match &self.compiled {
            CompiledContent::Sms(body) => match render(body) {
                Ok(text) => {
                    let info = text::analyze_sms(&text);
                    if info.chars > text::AGENTLESS_SMS_MAX_CHARS {
                        return Self::skip(
                            line,
                            SkipReason::RenderError,
                            format!(
                                "rendered SMS is {} characters; the agentless API accepts at most 765",
                                info.chars
                            ),
                        );
                    }
                    Message::Sms { text, info }
                }
                Err(e) => return Self::skip(line, SkipReason::RenderError, e),
            },
            CompiledContent::Email {
                subject,
                html,
                text,
            } => {
                let parts = (
                    render(subject),
                    render(html),
                    text.as_ref().map(render).transpose(),
                );
                match parts {
                    (Ok(subject), Ok(html), Ok(text)) => Message::Email {
                        subject,
                        html,
                        text,
                    },
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return Self::skip(line, SkipReason::RenderError, e);
                    }
                }
            }
        };
        let card = match &message {
            Message::Sms { text, .. } => text::find_card_number(text).is_some(),
            Message::Email {
                subject,
                html,
                text,
            } => [Some(subject.as_str()), Some(html.as_str()), text.as_deref()]
                .into_iter()
                .flatten()
                .any(|t| text::find_card_number(t).is_some()),
        };
        if card {
            return Self::skip(
                line,
                SkipReason::CardNumber,
                "rendered text contains a 13-19 digit number that passes the Luhn check (a probable card number)",
            );
        }
        Row::Ready(Box::new(Recipient {
            line,
            key,
            address,
            place,
            message,
            variables: self
                .values
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            express_consent,
            consent_evidence,
        }))
    }
}

#[cfg(test)]
mod line_map_tests {
    use super::LineMap;

    #[test]
    fn a_line_map_keeps_the_first_line_of_each_fingerprint_at_any_line() {
        let mut m = LineMap::default();
        assert_eq!(m.get(1), None);
        m.insert(1, 7);
        m.insert(2, u64::from(u32::MAX));
        m.insert(3, u64::from(u32::MAX) + 5);
        assert_eq!(
            [m.get(1), m.get(2), m.get(3), m.get(4)],
            [
                Some(7),
                Some(u64::from(u32::MAX)),
                Some(u64::from(u32::MAX) + 5),
                None
            ]
        );
    }
}
