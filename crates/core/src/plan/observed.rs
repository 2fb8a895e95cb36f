//! Observed state, as the planning core sees it: the remote responses, the ledger's facts and
//! the workspace's git state. These are plain values (or, for the ledger's large sets, a trait
//! the gathering side implements over them without copying); the planning core never reads
//! them itself.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::spec::Channel;

/// What kind of response a template is (absent for a standard canned response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// A campaign SMS template.
    SmsTemplate,
    /// A campaign email template.
    EmailTemplate,
    /// Any other kind (never written by herald).
    Other,
}

/// Whether a text is a body or a subject (absent for SMS templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// The body.
    Body,
    /// An email subject.
    Subject,
    /// Any other kind.
    Other,
}

/// The content type of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// `text/plain`.
    Plain,
    /// `text/html`.
    Html,
    /// Any other type.
    Other,
}

/// One text of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseText {
    /// The text, with `{{placeholders}}`.
    pub content: String,
    /// Plain text or HTML.
    pub content_type: ContentKind,
    /// Body or subject.
    pub text_type: Option<TextKind>,
}

/// A declared substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The placeholder id.
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// Default value.
    pub default_value: Option<String>,
}

/// What a response carries that herald manages: its name, kind, texts and substitutions.
/// Libraries, ids and versions are not content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseContent {
    /// Name.
    pub name: String,
    /// Template kind (`None`: a standard canned response).
    pub kind: Option<ResponseKind>,
    /// Texts.
    pub texts: Vec<ResponseText>,
    /// Substitutions.
    pub substitutions: Vec<Substitution>,
}

/// A response as read from Response Management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteResponse {
    /// Response id.
    pub id: String,
    /// Its `version`.
    pub version: u32,
    /// Its content.
    pub content: ResponseContent,
}

impl RemoteResponse {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.content.name
    }
}

/// The remote side: the managed library and the responses the plan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteState {
    /// The managed library's id (`None` when it does not exist yet).
    pub library_id: Option<String>,
    /// Responses in the managed library.
    pub in_library: Vec<RemoteResponse>,
    /// Bound responses fetched by id (`None`: deleted).
    pub by_id: BTreeMap<String, Option<RemoteResponse>>,
    /// The org and OAuth client the token acts as (`GET /api/v2/tokens/me`), when known.
    pub identity: TokenIdentity,
}

/// Who the token acts as, for the review digest's `environment` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The API host (`host[:port]` of the base URL).
    pub host: String,
    /// The org id.
    pub org: Option<String>,
    /// The OAuth client id.
    pub client: Option<String>,
}

/// The response a template name is bound to, as of herald's last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateBinding {
    /// Template name.
    pub name: String,
    /// Response id.
    pub response_id: String,
    /// Its `version` after the write.
    pub version: i64,
    /// Canonical hash of the remote text as read back after the write (drift detection).
    pub remote_hash: String,
}

pub use crate::send::SendState;

/// What the ledger says about one campaign, as the send decision needs it. The gathering
/// side implements it over the ledger's own sets; [`MemoryFacts`] is a plain in-memory form.
pub trait LedgerFacts {
    /// A pseudonymous recipient id.
    type RecipientId: Eq + std::hash::Hash;

    /// The ledger state of the campaign's row `row_key`, if it has one.
    fn state(&self, row_key: &str) -> Option<SendState>;

    /// The pseudonymous id of an address (`normalized`: E.164, or the lowercased email).
    fn recipient_id(&self, channel: Channel, normalized: &str) -> Self::RecipientId;

    /// Whether the campaign already claimed this recipient (for `dedupe_by: address`).
    fn campaign_reached(&self, recipient: &Self::RecipientId) -> bool;

    /// Whether any recipient is suppressed on `channel` (when none is, no id is computed).
    fn any_suppressed(&self, channel: Channel) -> bool;

    /// Whether `recipient` is suppressed on `channel`.
    fn is_suppressed(&self, recipient: &Self::RecipientId, channel: Channel) -> bool;

    /// Whether any send counted by frequency caps (of the campaign's channel and category, in
    /// any campaign, inside the longest cap window) is known; when none is, caps hold nothing
    /// and the decider computes no recipient id or state for them.
    fn any_recent_sends(&self) -> bool {
        false
    }

    /// The send times (Unix ms, ascending) of the recipient's counted sends of the campaign's
    /// channel and category in any campaign, inside the longest cap window.
    fn recent_sends(&self, _recipient: &Self::RecipientId) -> &[i64] {
        &[]
    }

    /// The instant caps are judged at, given the plan's "now". Send times in the ledger are
    /// real, and so is the claim's check, so the gathering side answers with the real clock
    /// read when it loaded the sends, even when the plan's clock is pinned.
    fn cap_clock(&self, planned_now: jiff::Timestamp) -> jiff::Timestamp {
        planned_now
    }

    /// Whether a loaded Do-Not-Call registry lists any of the campaign's recipients (when none
    /// does, no id is computed for it).
    fn any_dnc(&self) -> bool {
        false
    }

    /// Whether a loaded Do-Not-Call registry lists `recipient`.
    fn dnc_listed(&self, _recipient: &Self::RecipientId) -> bool {
        false
    }

    /// How many rows of the campaign the ledger holds (any state), when known: the plan
    /// reports the rows no longer in the audience against it.
    fn ledger_rows(&self) -> Option<u64> {
        None
    }
}

/// When a message held by frequency caps may go: for each cap whose window already holds
/// `max` of `times` (ascending Unix ms) at `now`, the moment the oldest of the newest `max`
/// leaves it; the latest such moment, or `None` when no cap is reached. The same rule the
/// ledger applies inside the claim transaction.
pub fn cap_opening(
    times: &[i64],
    caps: &[crate::spec::caps::CapLimit],
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    let now_ms = now.as_millisecond();
    let mut opens: Option<i64> = None;
    for cap in caps {
        let per = i64::try_from(cap.per.as_millis()).unwrap_or(i64::MAX);
        if let Some(at) = crate::send::cap_opens_at(times, cap.max, per, now_ms) {
            opens = Some(opens.map_or(at, |o| o.max(at)));
        }
    }
    opens.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// Ledger facts held in memory, with a caller-supplied pseudonymisation (tests, tools).
pub struct MemoryFacts<P> {
    /// Row key → state.
    pub states: HashMap<String, SendState>,
    /// Recipients the campaign already claimed.
    pub reached: HashSet<String>,
    /// Recipients suppressed on every channel.
    pub suppressed_everywhere: HashSet<String>,
    /// Recipients suppressed on one channel.
    pub suppressed_on: HashMap<Channel, HashSet<String>>,
    /// Recipients a Do-Not-Call registry lists.
    pub do_not_call: HashSet<String>,
    /// Computes a recipient id.
    pub pseudonymise: P,
}

impl<P: Fn(Channel, &str) -> String> MemoryFacts<P> {
    /// Empty facts with the given pseudonymisation.
    pub fn new(pseudonymise: P) -> Self {
        Self {
            states: HashMap::new(),
            reached: HashSet::new(),
            suppressed_everywhere: HashSet::new(),
            suppressed_on: HashMap::new(),
            do_not_call: HashSet::new(),
            pseudonymise,
        }
    }
}

impl<P: Fn(Channel, &str) -> String> LedgerFacts for MemoryFacts<P> {
    type RecipientId = String;

    fn state(&self, row_key: &str) -> Option<SendState> {
        self.states.get(row_key).copied()
    }

    fn recipient_id(&self, channel: Channel, normalized: &str) -> String {
        (self.pseudonymise)(channel, normalized)
    }

    fn campaign_reached(&self, recipient: &String) -> bool {
        self.reached.contains(recipient)
    }

    fn any_suppressed(&self, channel: Channel) -> bool {
        !self.suppressed_everywhere.is_empty()
            || self
                .suppressed_on
                .get(&channel)
                .is_some_and(|s| !s.is_empty())
    }

    fn is_suppressed(&self, recipient: &String, channel: Channel) -> bool {
        self.suppressed_everywhere.contains(recipient)
            || self
                .suppressed_on
                .get(&channel)
                .is_some_and(|s| s.contains(recipient))
    }

    fn any_dnc(&self) -> bool {
        !self.do_not_call.is_empty()
    }

    fn dnc_listed(&self, recipient: &String) -> bool {
        self.do_not_call.contains(recipient)
    }

    fn ledger_rows(&self) -> Option<u64> {
        Some(self.states.len() as u64)
    }
}
