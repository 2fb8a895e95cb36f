//! Diagnostics: problems with the user's input, each with a stable code, a severity, a
//! location (file, line, column), a message and a help line; rendered as text with a source
//! excerpt (annotate-snippets) or as JSON. Validation collects all of them before failing.

use std::fmt::Write as _;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Element, Group, Level, Origin, Renderer, Snippet};
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails validation (exit 3).
    Error,
    /// Reported; the affected rows or objects are skipped.
    Warning,
}

/// Stable diagnostic codes. The numbers never change meaning; retired codes are not reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// H001: a file could not be read.
    H001,
    /// H002: YAML syntax, type, duplicate-key or unknown-field error.
    H002,
    /// H003: missing or unknown `kind`.
    H003,
    /// H004: two documents of one kind share a name.
    H004,
    /// H005: an invalid name.
    H005,
    /// H006: a document, audience data file or configured directory resolves outside the
    /// workspace root or into herald's private state; it is refused and never read.
    H006,
    /// H007: a workspace file is not a regular file (a FIFO, socket or device); never opened.
    H007,
    /// H008: a workspace file is larger than the size cap; refused before reading.
    H008,
    /// H010: `herald.yaml` missing.
    H010,
    /// H011: an environment setting is invalid.
    H011,
    /// H012: an invalid time window.
    H012,
    /// H016: an invalid `policy.state_rules` entry.
    H016,
    /// H017: an invalid consent or numbering policy (`policy.consent_expiry`,
    /// `policy.zone_overrides`).
    H017,
    /// H018: an invalid frequency cap (`policy.frequency_caps`).
    H018,
    /// H019: a `genesys` environment's `base_url` in herald.yaml is not a Genesys Cloud API
    /// host over https nor this machine (only `HERALD_BASE_URL` may choose another host).
    H019,
    /// H101: a placeholder is not declared in `variables`.
    H101,
    /// H102: a declared variable is never used.
    H102,
    /// H103: malformed placeholder braces.
    H103,
    /// H104: the texts do not fit the channel (SMS needs `body`; email needs `subject` + `html`).
    H104,
    /// H110: a campaign names a template that does not exist.
    H110,
    /// H111: a campaign names a draft template.
    H111,
    /// H112: a campaign names an audience that does not exist.
    H112,
    /// H120: a template variable is not mapped by the campaign.
    H120,
    /// H121: the campaign maps a variable the template does not have.
    H121,
    /// H122: a mapped column is not in the audience.
    H122,
    /// H130: a variable or column name matches a denied pattern (card, health, credential data).
    H130,
    /// H140: a marketing SMS without STOP instructions.
    H140,
    /// H141: a marketing email without an unsubscribe link.
    H141,
    /// H142: a marketing email without a postal address.
    H142,
    /// H143: a text a reviewer reads contains a control, bidirectional or invisible format
    /// character (which could hide or reorder what is sent).
    H143,
    /// H144: a variable or column name mixes scripts (e.g. a Cyrillic letter among Latin ones).
    H144,
    /// H150: a rendered SMS over the 765-character agentless limit.
    H150,
    /// H151: a value longer than the variable's `max_length`.
    H151,
    /// H152: rendered text contains a probable payment card number.
    H152,
    /// H153: an audience row's key contains a control, bidirectional or invisible format
    /// character; the row is not sent.
    H153,
    /// H160: an audience row has an invalid phone number.
    H160,
    /// H161: an audience row has an invalid email address.
    H161,
    /// H162: two audience rows share a recipient key.
    H162,
    /// H163: a column the audience names is missing from the data.
    H163,
    /// H164: an audience row cannot be parsed.
    H164,
    /// H165: an audience row has an unknown time zone.
    H165,
    /// H166: an audience row has an unrecognised consent value.
    H166,
    /// H167: an audience row has an empty key.
    H167,
    /// H168: an audience row's `state` value is not a two-letter state code.
    H168,
    /// H169: an audience row's key has leading or trailing whitespace.
    H169,
    /// H170: a campaign's sender is invalid for its channel.
    H170,
    /// H171: a campaign's schedule ends before it starts.
    H171,
    /// H172: a campaign's rate is zero.
    H172,
    /// H173: a marketing template used without quiet hours (`send_window: none`).
    H173,
    /// H174: several rows of one campaign reach the same recipient (with `dedupe_by: key`).
    H174,
    /// H175: a campaign's send window cannot hold: a marketing window that wraps midnight, or a
    /// window that never overlaps the policy's (or, for marketing, the federal 08:00–21:00).
    H175,
    /// H180: a marketing SMS campaign reaches numbers a Do-Not-Call registry covers, and that
    /// registry's download is older than the Telemarketing Sales Rule's 31 days.
    H180,
    /// H176: an audience row's `state` value is not a US state or territory code (nor a
    /// Canadian province); it is ignored and the number's state applies.
    H176,
    /// H177: a marketing SMS campaign's audience names no consent column (or, with
    /// `policy.require_consent_evidence`, no consent evidence columns).
    H177,
    /// H181: a campaign's dispatch settings are invalid (`messages_per_minute` missing, zero,
    /// above the email campaign cap, or given without `dispatch: messaging-campaign`;
    /// `rate_per_minute` with a messaging campaign).
    H181,
}

impl Code {
    /// The code as text, e.g. `H101`.
    pub fn as_str(self) -> String {
        format!("{self:?}")
    }
}

/// A position in a source file (1-based line and column, column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
}

impl Pos {
    /// Builds a position from a serde-saphyr location.
    pub fn from_location(loc: &serde_saphyr::Location) -> Option<Self> {
        let (line, column) = (loc.line(), loc.column());
        (line > 0).then(|| Self {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column.max(1)).unwrap_or(u32::MAX),
        })
    }
}

/// A place a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Path relative to the workspace root.
    pub file: String,
    /// Where in the file, when known.
    #[serde(flatten)]
    pub pos: Option<Pos>,
    /// What is at that place.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One problem with the user's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// The main place.
    pub primary: Label,
    /// Other places involved (e.g. the template a campaign disagrees with).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Label>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `file:pos`.
    pub fn error(code: Code, file: &str, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                file: file.to_owned(),
                pos,
                note: String::new(),
            },
            related: Vec::new(),
            help: None,
        }
    }

    /// A warning at `file:pos`.
    pub fn warning(code: Code, file: &str, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, pos, message)
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Labels the primary location.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.primary.note = note.into();
        self
    }

    /// Adds a related location.
    #[must_use]
    pub fn related(mut self, file: &str, pos: Option<Pos>, note: impl Into<String>) -> Self {
        self.related.push(Label {
            file: file.to_owned(),
            pos,
            note: note.into(),
        });
        self
    }

    /// `file:line:column` of the primary location.
    pub fn location(&self) -> String {
        match self.primary.pos {
            Some(p) => format!("{}:{}:{}", self.primary.file, p.line, p.column),
            None => self.primary.file.clone(),
        }
    }
}

/// Source texts by workspace-relative path, for excerpts.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: std::collections::BTreeMap<String, String>,
}

impl Sources {
    /// Remembers a file's text.
    pub fn insert(&mut self, path: &str, text: &str) {
        self.files.insert(path.to_owned(), text.to_owned());
    }

    /// A file's text.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }
}

/// Byte range of the token at `pos`: up to the end of the line, trimmed, at most one line.
fn token_range(text: &str, pos: Pos) -> Option<Range<usize>> {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == pos.line as usize {
            let line_body = line.trim_end_matches(['\n', '\r']);
            let col = (pos.column as usize).saturating_sub(1);
            let start = line_body
                .char_indices()
                .nth(col)
                .map_or(line_body.len(), |(b, _)| b);
            let rest = &line_body[start..];
            let len = rest.trim_end().len().max(usize::from(!rest.is_empty()));
            return Some(offset + start..offset + start + len.max(1).min(rest.len().max(1)));
        }
        offset += line.len();
    }
    None
}

/// `text` with every hidden character ([`crate::text::visible::is_hidden`]) but the carriage
/// return of a line break replaced by U+FFFD.
fn visible_source(text: &str) -> std::borrow::Cow<'_, str> {
    use crate::text::visible::is_hidden;
    if !text.chars().any(is_hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let hidden =
        |i: usize| is_hidden(chars[i]) && !(chars[i] == '\r' && chars.get(i + 1) == Some(&'\n'));
    if !(0..chars.len()).any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        (0..chars.len())
            .map(|i| if hidden(i) { '\u{FFFD}' } else { chars[i] })
            .collect(),
    )
}

/// Renders diagnostics as text with source excerpts; `color` adds ANSI styling.
pub fn render_text(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let code = d.code.as_str();
        let mut elements: Vec<Element<'_>> = Vec::new();
        let mut notes: Vec<Group<'_>> = Vec::new();
        let labels: Vec<&Label> = std::iter::once(&d.primary).chain(&d.related).collect();
        // Excerpts never carry a character that could rewrite the terminal or reorder the
        // line (the diagnostic names it by code point): each becomes U+FFFD, one character
        // for one, so columns stay right.
        let texts: Vec<Option<std::borrow::Cow<'_, str>>> = labels
            .iter()
            .map(|l| sources.get(&l.file).map(visible_source))
            .collect();
        let message = crate::text::visible::escape_hidden(&d.message);
        for (i, label) in labels.iter().enumerate() {
            let kind = if i == 0 {
                AnnotationKind::Primary
            } else {
                AnnotationKind::Context
            };
            let excerpt = match (label.pos, texts[i].as_deref()) {
                (Some(pos), Some(text)) => token_range(text, pos).map(|range| {
                    Snippet::source(text)
                        .path(label.file.as_str())
                        .annotation(kind.span(range).label(label.note.as_str()))
                }),
                _ => None,
            };
            if let Some(snippet) = excerpt {
                elements.push(snippet.into());
                continue;
            }
            let mut where_ = label.file.clone();
            if let Some(p) = label.pos {
                let _ = write!(where_, ":{}:{}", p.line, p.column);
            }
            if i == 0 {
                elements.push(Origin::path(where_).into());
                if !label.note.is_empty() {
                    notes.push(Group::with_title(
                        Level::NOTE.secondary_title(label.note.as_str()),
                    ));
                }
            } else {
                if !label.note.is_empty() {
                    let _ = write!(where_, ": {}", label.note);
                }
                notes.push(Group::with_title(Level::NOTE.secondary_title(where_)));
            }
        }
        let mut report = vec![
            level
                .primary_title(message.as_ref())
                .id(code.as_str())
                .elements(elements),
        ];
        report.extend(notes);
        if let Some(help) = &d.help {
            report.push(Group::with_title(
                Level::HELP.secondary_title(help.as_str()),
            ));
        }
        out.push_str(&renderer.render(&report));
        out.push_str("\n\n");
    }
    out
}

/// Counts errors and warnings.
pub fn count(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, diags.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_hidden_character_reaches_the_terminal() {
        let mut sources = Sources::default();
        sources.insert(
            "templates/x.yaml",
            "kind: Template\nbody: \"a\u{9b}2Jb\u{200b}c\u{e0041}\"\n",
        );
        let d = Diagnostic::error(
            Code::H143,
            "templates/x.yaml",
            Some(Pos { line: 2, column: 7 }),
            "value `\u{1b}]0;x\u{7}` and `\u{202e}`",
        );
        let out = render_text(&[d], &sources, false);
        assert!(!out.chars().any(crate::text::visible::is_hidden), "{out:?}");
        assert!(out.contains("a\u{fffd}2Jb\u{fffd}c\u{fffd}"), "{out}");
        assert!(out.contains("\\u{1b}]0;x\\u{7}"), "{out}");
    }
}
