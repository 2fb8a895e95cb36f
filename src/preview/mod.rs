//! The reviewer's page (`herald preview`): every template as the recipient sees it, its
//! checks, its changes against Genesys, and each campaign's send plan, as one self-contained
//! HTML file.
//!
//! The page is built from the view types below, which hold display-ready values only
//! (addresses already masked). [`adapt::page`] fills them from the workspace and the plan;
//! [`html::render`] turns them into HTML and escapes every value it writes. [`sms`] is pure;
//! the word diff comes from [`crate::text::diff`].

pub mod adapt;
pub mod html;
pub mod offline;
pub mod sms;

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct PreviewPage {
    /// Target environment.
    pub environment: String,
    /// Workspace commit and dirty flag, when a git repository.
    pub commit: Option<String>,
    /// Tracked files differ from the commit.
    pub dirty: bool,
    /// Set when `--campaign`/`--template` narrowed the page.
    pub narrowed_to: Option<Vec<String>>,
    /// Why there is no plan (the workspace has errors), when there is none.
    pub no_plan: Option<String>,
    /// The plan's review digest (what `apply --approved-digest` takes), when planned.
    pub review_digest: Option<String>,
    /// The plan's summary line, when planned.
    pub summary: Option<String>,
    /// Every error (blocking: no plan is made, apply refuses), shown first.
    pub errors: Vec<PreviewProblem>,
    /// Problems not tied to a shown template (other files, audience rows).
    pub problems: Vec<PreviewProblem>,
    /// Templates, by name.
    pub templates: Vec<PreviewTemplate>,
    /// Campaigns, by name.
    pub campaigns: Vec<PreviewCampaign>,
}

/// A diagnostic as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewProblem {
    /// Code, e.g. `H101`.
    pub code: String,
    /// `error` or `warning`.
    pub severity: String,
    /// `file:line:column`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// One template.
#[derive(Debug, Clone)]
pub struct PreviewTemplate {
    /// Name.
    pub name: String,
    /// `transactional` or `marketing`.
    pub category: String,
    /// `published` or `draft`.
    pub status: String,
    /// Reviewer notes.
    pub description: Option<String>,
    /// Workspace-relative file.
    pub file: String,
    /// What apply does with it (`create`, `update`, …), when planned.
    pub action: Option<String>,
    /// Reviewer notes from the plan.
    pub notes: Vec<String>,
    /// The message rendered with the example values; `None` when the template has errors
    /// that kept it from loading.
    pub content: Option<PreviewContent>,
    /// Declared variables.
    pub variables: Vec<PreviewVariable>,
    /// Every check `validate` runs on a template.
    pub checks: Vec<PreviewCheck>,
    /// Word diffs against the Genesys response, by field.
    pub diffs: Vec<FieldDiff>,
}

/// A rendered message.
#[derive(Debug, Clone)]
pub enum PreviewContent {
    /// An SMS.
    Sms {
        /// The text as sent.
        text: String,
    },
    /// An email.
    Email {
        /// Subject.
        subject: String,
        /// HTML body.
        html: String,
        /// Plain-text alternative.
        text: Option<String>,
        /// CAN-SPAM: an unsubscribe link.
        unsubscribe: CheckState,
        /// CAN-SPAM: the sender's postal address.
        postal_address: CheckState,
    },
}

/// A declared variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewVariable {
    /// Id.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Example value.
    pub example: Option<String>,
    /// Maximum length.
    pub max_length: Option<u32>,
}

/// Outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// Passed.
    Passed,
    /// Failed: validation reports an error.
    Failed,
    /// Reported as a warning.
    Warning,
    /// Does not apply to this template (e.g. opt-out text for transactional messages).
    NotRequired,
}

impl CheckState {
    /// A word for the state.
    pub fn label(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Warning => "warning",
            Self::NotRequired => "not required",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewCheck {
    /// Diagnostic code.
    pub code: String,
    /// What is checked.
    pub title: String,
    /// Outcome.
    pub state: CheckState,
    /// The diagnostics' messages when it did not pass.
    pub messages: Vec<String>,
}

/// The word diff of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// `body`, `subject`, `html` or `text`.
    pub field: String,
    /// Version of the response it is compared with.
    pub remote_version: Option<u32>,
    /// The lines.
    pub lines: Vec<crate::text::diff::DiffLine>,
}

/// One campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewCampaign {
    /// Name.
    pub name: String,
    /// `active`, `paused` or `blocked`.
    pub status: String,
    /// Why it is blocked.
    pub blocked_by: Option<String>,
    /// Template name.
    pub template: String,
    /// `sms` or `email`.
    pub channel: String,
    /// Audience data file (workspace-relative).
    pub audience_file: String,
    /// Rows read.
    pub rows: u64,
    /// Messages sent now.
    pub to_send: u64,
    /// SMS segments of those.
    pub segments: u64,
    /// Rows by reason (label, count), nonzero only, in display order.
    pub counts: Vec<(String, u64)>,
    /// Held rows (label, count) and the earliest time they open.
    pub holds: Vec<(String, u64)>,
    /// Earliest instant a held row opens, formatted.
    pub next_opening: Option<String>,
    /// What changed since the last apply (new campaign, rows added or removed), if anything.
    pub changes: Option<String>,
    /// Up to five masked examples, rows sent now first.
    pub samples: Vec<PreviewSample>,
}

/// A masked example message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewSample {
    /// Masked address.
    pub to: String,
    /// Line in the audience file.
    pub line: u64,
    /// SMS text or email subject, with any address in it masked.
    pub text: String,
    /// The row's decision: `send now`, `held by quiet hours, opens …`, `not sent: …`.
    pub decision: String,
    /// Whether the row is sent now.
    pub send_now: bool,
}
