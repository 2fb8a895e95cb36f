//! Human renderings of a plan: terminal text (symbols and colour like Terraform's, a summary
//! line at the end) and Markdown for a pull-request comment (diffs in fenced blocks).

use std::fmt::Write as _;

use super::{
    CampaignPlan, CampaignStatus, Plan, Reason, Sample, TemplateAction, TemplatePlan, TextChange,
};
use crate::text::diff::{DiffLine, WordOp, unified_hunks};
use crate::text::mask_contacts;

/// Reason keys in display order, with labels.
const REASONS: &[(Reason, &str)] = &[
    (Reason::AlreadySent, "already sent"),
    (Reason::AlreadyFailed, "failed before"),
    (Reason::Unknown, "unknown (run `herald reconcile`)"),
    (Reason::InFlight, "in flight"),
    (Reason::Suppressed, "suppressed"),
    (Reason::DoNotCall, "do-not-call registry"),
    (Reason::NoConsent, "no consent"),
    (Reason::NoConsentEvidence, "no consent evidence"),
    (Reason::ConsentExpired, "consent expired"),
    (Reason::InvalidAddress, "invalid address"),
    (Reason::InvalidRow, "invalid row"),
    (Reason::RenderError, "render error"),
    (Reason::CardNumber, "card number in text"),
    (Reason::DuplicateKey, "duplicate key"),
    (Reason::DuplicateAddress, "duplicate address"),
    (Reason::BeforeSchedule, "before the schedule"),
    (Reason::AfterSchedule, "after the schedule"),
    (Reason::HeldQuietHours, "held by quiet hours"),
    (Reason::HeldNoTimezone, "held: no time zone"),
    (
        Reason::HeldQuietHoursZoneFromNumber,
        "held: quiet hours (zone from number)",
    ),
    (
        Reason::HeldStateQuietHours,
        "held: state quiet hours (marketing)",
    ),
    (Reason::HeldZoneUnknown, "held: time zone unknown"),
    (Reason::HeldFrequencyCap, "held by frequency cap"),
    (Reason::OverCap, "over the per-apply cap"),
];

fn symbol(a: TemplateAction) -> (&'static str, &'static str) {
    match a {
        TemplateAction::Create => ("+", "create"),
        TemplateAction::Update => ("~", "update"),
        TemplateAction::Drift => ("!", "drift"),
        TemplateAction::Rename => ("~", "rename"),
        TemplateAction::Noop => ("=", "no changes"),
        TemplateAction::Draft => ("-", "draft, not pushed"),
    }
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn action(&self, a: TemplateAction, text: &str) -> String {
        let code = match a {
            TemplateAction::Create => "32",
            TemplateAction::Update | TemplateAction::Rename => "33",
            TemplateAction::Drift => "31;1",
            TemplateAction::Noop | TemplateAction::Draft => "2",
        };
        self.paint(text, code)
    }
}

/// A change as word-diff lines for the terminal: the file headers and each hunk header of the
/// unified diff, then each line of the hunk with its deleted and inserted words marked inside
/// it (red and green with colour, `[-old-]{+new+}` without). Addresses are masked.
fn word_diff_text(c: &TextChange, st: &Style) -> Vec<String> {
    let mut out: Vec<String> = c
        .diff
        .lines()
        .take_while(|l| !l.starts_with("@@"))
        .map(|l| st.paint(l, "1"))
        .collect();
    for hunk in unified_hunks(&c.diff) {
        out.push(st.paint(&hunk.header, "36"));
        let words =
            crate::text::diff::word_diff(&mask_contacts(&hunk.old), &mask_contacts(&hunk.new));
        for line in &words {
            out.push(word_line(line, |op, text| match (op, st.color) {
                (WordOp::Equal, _) => text.to_owned(),
                (WordOp::Delete, true) => st.paint(text, "31"),
                (WordOp::Insert, true) => st.paint(text, "32"),
                (WordOp::Delete, false) => format!("[-{text}-]"),
                (WordOp::Insert, false) => format!("{{+{text}+}}"),
            }));
        }
    }
    out
}

/// One word-diff line, each span written by `span`; a removed or added line break shows as
/// a deleted or inserted `↵`.
fn word_line(line: &DiffLine, span: impl Fn(WordOp, &str) -> String) -> String {
    let mut s: String = line.spans.iter().map(|w| span(w.op, &w.text)).collect();
    if line.deleted_break {
        s.push_str(&span(WordOp::Delete, "↵"));
    }
    if line.inserted_break {
        s.push_str(&span(WordOp::Insert, "↵"));
    }
    s
}

/// A unified-diff line with the addresses in its text masked (its `+`/`-`/space prefix kept).
fn mask_diff_line(line: &str) -> String {
    if line.starts_with("@@") || line.starts_with("+++") || line.starts_with("---") {
        return line.to_owned();
    }
    let mut chars = line.chars();
    match chars.next() {
        Some(p @ ('+' | '-' | ' ')) => format!("{p}{}", mask_contacts(chars.as_str())),
        _ => mask_contacts(line),
    }
}

/// herald's own sentence around names, ids and reasons taken from the inputs or from Genesys,
/// for Markdown: its code spans kept, no raw HTML (`&`, `<`, `>`, `"` as entities), hidden
/// characters and line breaks written as `\u{1b}`.
fn md_sentence(text: &str) -> String {
    html_escape(&crate::text::visible::escape_line(text))
}

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A fence for a fenced code block around `text`: backticks, one more than the longest run
/// inside it and at least three (`CommonMark`: a block closes only at a fence at least as
/// long as the opening one, so no line of `text` can close it early).
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

/// A name in a Markdown table cell as a code span ([`code_span`], `|` escaped: GitHub splits
/// table cells at a `|` even inside a code span).
fn md_code(text: &str) -> String {
    code_span(&text.replace('|', "\\|"))
}

/// Text from the inputs as a Markdown code span, shown exactly as written (no markup, no
/// HTML, no entity is read inside one): delimited by more backticks than any run inside,
/// padded when it begins or ends with one; line breaks as spaces, other control and hidden
/// characters written as `\u{1b}`.
fn code_span(text: &str) -> String {
    let text = text.replace('\n', " ");
    let shown = crate::text::visible::escape_line(&text);
    let ticks = "`".repeat(longest_backtick_run(&shown) + 1);
    let pad = if shown.starts_with('`') || shown.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{shown}{pad}{ticks}")
}

/// Escapes text for HTML inside Markdown.
fn html_escape(text: &str) -> String {
    let text = crate::text::visible::escape_hidden(text);
    let mut s = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            _ => s.push(ch),
        }
    }
    s
}

/// A change as a `<blockquote>` for a pull-request comment: deleted words in `<del>`
/// (struck through), inserted words in `<ins><b>` (underlined, bold), lines ended by `<br>`,
/// so a long line wraps instead of scrolling sideways as a `<pre>` block does. GitHub and
/// GitLab keep these tags and read nothing inside one HTML block as Markdown; the block ends
/// at a blank line, so no line is left empty (an empty line is a zero-width space) and
/// leading spaces are kept as no-break spaces. Addresses are masked.
fn word_diff_html(c: &TextChange) -> String {
    let hunks = unified_hunks(&c.diff);
    let mut lines = Vec::new();
    for hunk in &hunks {
        if hunks.len() > 1 {
            lines.push(html_escape(&hunk.header));
        }
        let words =
            crate::text::diff::word_diff(&mask_contacts(&hunk.old), &mask_contacts(&hunk.new));
        for line in &words {
            lines.push(word_line(line, |op, text| {
                let text = html_escape(text);
                match op {
                    WordOp::Equal => text,
                    WordOp::Delete => format!("<del>{text}</del>"),
                    WordOp::Insert => format!("<ins><b>{text}</b></ins>"),
                }
            }));
        }
    }
    let lines: Vec<String> = lines.iter().map(|l| keep_indent(l)).collect();
    format!("<blockquote>{}</blockquote>", lines.join("<br>\n"))
}

/// A line of an HTML block with its leading spaces as no-break spaces (HTML collapses
/// them), and a zero-width space for an empty line (a blank line would end the block).
fn keep_indent(line: &str) -> String {
    if line.is_empty() {
        return "&#8203;".to_owned();
    }
    let rest = line.trim_start_matches(' ');
    format!("{}{rest}", "&nbsp;".repeat(line.len() - rest.len()))
}

fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

fn other_counts(c: &CampaignPlan) -> String {
    REASONS
        .iter()
        .filter_map(|(k, label)| {
            Some(c.counts.get(*k))
                .filter(|n| *n > 0)
                .map(|n| format!("{label} {n}"))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The label of a reason, as the plan shows it.
pub fn reason_label(reason: Reason) -> &'static str {
    if reason == Reason::ToSend {
        return "send now";
    }
    REASONS
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or("not sent", |(_, label)| label)
}

/// A sample's decision: `send now`, `held by quiet hours, opens 2026-11-25 23:00 UTC`,
/// `not sent: suppressed`…
pub fn sample_label(s: &Sample) -> String {
    let reason = s.reason();
    let label = reason_label(reason);
    match (reason, s.opens_at) {
        (
            Reason::ToSend
            | Reason::AlreadySent
            | Reason::AlreadyFailed
            | Reason::Unknown
            | Reason::InFlight,
            None,
        )
        | (Reason::ToSend, Some(_)) => label.to_owned(),
        (_, Some(at)) => format!("{label}, opens {}", at.strftime("%Y-%m-%d %H:%M UTC")),
        (_, None) => format!("not sent: {label}"),
    }
}

/// A campaign's changes since the last apply, as a phrase (`None` when nothing changed):
/// `new campaign: nothing in the ledger yet (+3 rows)`, `since the last apply: +3 rows not
/// yet in the ledger / −2 ledger rows no longer in the audience`.
pub fn changes_line(c: &CampaignPlan) -> Option<String> {
    let ch = &c.changes;
    if ch.new {
        return Some(format!(
            "new campaign: nothing in the ledger yet (+{} row{})",
            ch.rows_added,
            if ch.rows_added == 1 { "" } else { "s" }
        ));
    }
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    if ch.rows_added > 0 {
        parts.push(format!(
            "+{} row{} not yet in the ledger",
            ch.rows_added,
            plural(ch.rows_added)
        ));
    }
    if ch.rows_removed > 0 {
        parts.push(format!(
            "−{} ledger row{} no longer in the audience",
            ch.rows_removed,
            plural(ch.rows_removed)
        ));
    }
    let mut line = (!parts.is_empty()).then(|| parts.join(" / "));
    if !ch.settings.is_empty() {
        let settings: Vec<String> = ch
            .settings
            .iter()
            .map(|c| format!("{} {} → {}", c.field, c.before, c.after))
            .collect();
        let settings = format!("changed {}", settings.join(", "));
        line = Some(match line {
            Some(rows) => format!("{rows}; {settings}"),
            None => settings,
        });
    }
    line.map(|l| format!("since the last apply: {l}"))
}

/// A template's details, for a Markdown table cell or the terminal. The names in it come
/// from the inputs or from Genesys (the response a template was renamed from, variable
/// names): code spans in Markdown, hidden characters escaped in both.
fn template_detail(t: &TemplatePlan, markdown: bool) -> String {
    let name = |n: &str| {
        if markdown {
            md_code(n)
        } else {
            crate::text::visible::escape_line(n).into_owned()
        }
    };
    let mut parts = Vec::new();
    if let Some(r) = &t.remote {
        parts.push(format!("v{}", r.version));
    }
    if let Some(from) = &t.renamed_from {
        parts.push(if markdown {
            format!("from {}", name(from))
        } else {
            format!("from `{}`", name(from))
        });
    }
    match (&t.sms_before, &t.sms_after) {
        (Some(b), Some(a)) if b != a => parts.push(format!(
            "{} {} seg → {} {} seg",
            b.encoding, b.segments, a.encoding, a.segments
        )),
        (_, Some(a)) => parts.push(format!(
            "{}, {} segment{}",
            a.encoding,
            a.segments,
            if a.segments == 1 { "" } else { "s" }
        )),
        _ => parts.push(t.channel.clone()),
    }
    let names = |v: &[String]| v.iter().map(|v| name(v)).collect::<Vec<_>>().join(", ");
    if !t.variables_added.is_empty() {
        parts.push(format!("+vars {}", names(&t.variables_added)));
    }
    if !t.variables_removed.is_empty() {
        parts.push(format!("-vars {}", names(&t.variables_removed)));
    }
    parts.join(", ")
}

/// Counts for the summary line.
pub fn summary(plan: &Plan) -> String {
    let count = |a: TemplateAction| plan.templates.iter().filter(|t| t.action == a).count();
    let sends: u64 = plan
        .campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active)
        .map(CampaignPlan::to_send)
        .sum();
    let campaigns = plan
        .campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active && c.to_send() > 0)
        .count();
    let held: u64 = plan.campaigns.iter().map(|c| c.counts.held()).sum();
    let mut s = format!(
        "Plan: {} to create, {} to update, {} drifted, {} renamed; {} message{} to send in {} campaign{}",
        count(TemplateAction::Create),
        count(TemplateAction::Update),
        count(TemplateAction::Drift),
        count(TemplateAction::Rename),
        sends,
        if sends == 1 { "" } else { "s" },
        campaigns,
        if campaigns == 1 { "" } else { "s" }
    );
    if held > 0 {
        let _ = write!(s, ", {held} held for later");
    }
    if !plan.has_changes() {
        return "No changes. Genesys and the ledger match the workspace.".to_owned();
    }
    s
}

/// A campaign's changes for the Markdown table, with its retried rows.
fn changes_cell(c: &CampaignPlan) -> String {
    let parts: Vec<String> = changes_line(c)
        .into_iter()
        .chain((c.retry_failed > 0).then(|| retry_line(c.retry_failed)))
        .collect();
    if parts.is_empty() {
        "—".to_owned()
    } else {
        md_sentence(&parts.join("; "))
    }
}

/// "N failed rows to retry": rows Genesys refused before that this plan sends again.
fn retry_line(n: u64) -> String {
    format!(
        "{n} failed row{} to retry (refused before, so never delivered; --retry-failed)",
        if n == 1 { "" } else { "s" }
    )
}

/// Terminal text.
pub fn text(plan: &Plan, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let commit = plan.workspace.commit.as_deref().map_or_else(
        || "not a git repository".to_owned(),
        |c| {
            format!(
                "commit {}{}",
                &c[..c.len().min(12)],
                if plan.workspace.dirty { " (dirty)" } else { "" }
            )
        },
    );
    let _ = writeln!(
        out,
        "herald plan · environment {} · {commit}",
        plan.environment
    );
    if let Some(n) = &plan.narrowed_to {
        let _ = writeln!(
            out,
            "{}",
            st.paint(
                &format!(
                    "NOTE: plan narrowed to {}; other objects are not shown and not applied",
                    n.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "33;1"
            )
        );
    }
    for r in &plan.dnc_registries {
        let _ = writeln!(out, "Do-not-call registry: {}", r.line());
    }
    out.push('\n');
    if plan.library.create {
        let _ = writeln!(
            out,
            "Library \"{}\": {}",
            plan.library.name,
            st.paint("+ create", "32")
        );
    }
    let _ = writeln!(out, "Templates");
    for t in &plan.templates {
        let (sym, word) = symbol(t.action);
        let _ = writeln!(
            out,
            "  {} {:<32} {:<12} {}",
            st.action(t.action, sym),
            t.name,
            st.action(t.action, word),
            template_detail(t, false)
        );
        for n in &t.notes {
            let _ = writeln!(
                out,
                "      note: {}",
                crate::text::visible::escape_hidden(n)
            );
        }
        for c in &t.changes {
            if c.whitespace_only {
                let _ = writeln!(out, "      ({} changes whitespace only)", c.field);
            }
            for line in word_diff_text(c, &st) {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    for o in &plan.orphans {
        let _ = writeln!(
            out,
            "  {} {:<32} {:<12} response {} v{} is in the managed library but no template claims it; not deleted",
            st.paint("?", "35"),
            o.name,
            st.paint("orphan", "35"),
            o.id,
            o.version
        );
    }
    let _ = writeln!(out, "\nCampaigns");
    for c in &plan.campaigns {
        let headline = match c.status {
            CampaignStatus::Paused => st.paint("paused: nothing is sent", "2"),
            CampaignStatus::Blocked => st.paint(
                &format!(
                    "blocked: {}",
                    crate::text::visible::escape_hidden(c.blocked_by.as_deref().unwrap_or(""))
                ),
                "31;1",
            ),
            _ if c.to_send() == 0 => st.paint("nothing to send now", "2"),
            CampaignStatus::Active => st.paint(
                &format!(
                    "{} to send now ({}~{} at {}/min)",
                    c.to_send(),
                    if c.channel == "sms" {
                        format!("{} segments, ", c.segments)
                    } else {
                        String::new()
                    },
                    duration(c.estimated_seconds),
                    c.rate_per_minute
                ),
                "32",
            ),
        };
        let sym = if c.status == CampaignStatus::Active && c.to_send() > 0 {
            st.paint("→", "32")
        } else {
            " ".to_owned()
        };
        let _ = writeln!(out, "  {sym} {:<32} {headline}", c.name);
        let _ = writeln!(
            out,
            "      {} · {} rows in {} · template {} · dispatch {}",
            c.channel, c.rows, c.audience_file, c.template, c.dispatch.kind
        );
        if let Some(line) = dispatch_line(c) {
            let _ = writeln!(out, "      {line}");
        }
        if let Some(line) = changes_line(c) {
            let _ = writeln!(out, "      {}", st.paint(&line, "33"));
        }
        if c.retry_failed > 0 {
            let _ = writeln!(out, "      {}", st.paint(&retry_line(c.retry_failed), "33"));
        }
        let others = other_counts(c);
        if !others.is_empty() {
            let _ = writeln!(out, "      {others}");
        }
        for (rule, n) in &c.held_by {
            let _ = writeln!(out, "      held by {rule} {n}");
        }
        if let Some(line) = zones_line(c) {
            let _ = writeln!(out, "      {line}");
        }
        if let Some(at) = c.next_opening {
            let _ = writeln!(
                out,
                "      held rows open from {}",
                at.strftime("%Y-%m-%d %H:%M UTC")
            );
        }
        if let Some(at) = c.frequency_cap_opens {
            let _ = writeln!(
                out,
                "      {} held by frequency cap; the first opens at {}",
                c.counts.held_frequency_cap,
                at.strftime("%Y-%m-%d %H:%M UTC")
            );
        }
        if let Some(s) = c.samples.first().or(c.sample.as_ref()) {
            let _ = writeln!(
                out,
                "      sample ({}) → {}: {}",
                sample_label(s),
                s.to,
                crate::text::visible::escape_hidden(&s.text)
            );
        }
    }
    let _ = writeln!(out, "\n{}", st.paint(&summary(plan), "1"));
    if !plan.review_digest.is_empty() {
        let _ = writeln!(out, "Review digest: {}", plan.review_digest);
    }
    out
}

/// "time zones: …" when any row's zone did not come from its `timezone` value.
/// What a messaging campaign's wave costs: contacts, API requests by kind, duration at its
/// rate. `None` for agentless (one request per message, shown by the headline).
pub fn dispatch_line(c: &CampaignPlan) -> Option<String> {
    let d = &c.dispatch;
    if !d.is_messaging_campaign() {
        return None;
    }
    let rate = d.messages_per_minute.unwrap_or(c.rate_per_minute);
    if d.contacts == 0 {
        return Some(format!(
            "Genesys messaging campaign at {rate}/min: no contacts to hand off now"
        ));
    }
    let r = &d.requests;
    Some(format!(
        "Genesys messaging campaign at {rate}/min: {} contacts, ~{} API requests ({} uploads of ≤{}, {} campaign calls, ~{} polls, {} outcome reads), ~{}",
        d.contacts,
        r.total,
        r.uploads,
        super::CONTACTS_PER_REQUEST,
        r.campaign_calls,
        r.polls,
        r.outcome_reads,
        duration(c.estimated_seconds)
    ))
}

fn zones_line(c: &CampaignPlan) -> Option<String> {
    let z = &c.zones;
    if z.inferred + z.audience_default + z.unplaced == 0 {
        return None;
    }
    let parts: Vec<String> = [
        (z.explicit, "from the timezone column"),
        (z.inferred, "from the number"),
        (z.audience_default, "audience default"),
        (z.unplaced, "unknown"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, label)| format!("{n} {label}"))
    .collect();
    Some(format!("time zones: {}", parts.join(", ")))
}

/// Markdown for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let commit = plan.workspace.commit.as_deref().map_or_else(
        || "no git commit".to_owned(),
        |c| {
            format!(
                "`{}`{}",
                &c[..c.len().min(12)],
                if plan.workspace.dirty { " (dirty)" } else { "" }
            )
        },
    );
    let _ = writeln!(out, "## herald plan — `{}` · {commit}\n", plan.environment);
    if let Some(n) = &plan.narrowed_to {
        let _ = writeln!(
            out,
            "> **Narrowed** to {}: other objects are not shown and not applied.\n",
            n.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(out, "**{}**\n", summary(plan));
    for r in &plan.dnc_registries {
        let _ = writeln!(out, "Do-not-call registry: {}\n", r.line());
    }
    if !plan.review_digest.is_empty() {
        let _ = writeln!(
            out,
            "Review digest: `{}` — apply this exact plan with `herald apply --approved-digest {}`.\n",
            plan.review_digest, plan.review_digest
        );
    }
    if plan.library.create {
        let _ = writeln!(out, "Library **{}** will be created.\n", plan.library.name);
    }
    let _ = writeln!(
        out,
        "### Templates\n\n| | template | action | details |\n|---|---|---|---|"
    );
    for t in &plan.templates {
        let (sym, word) = symbol(t.action);
        let _ = writeln!(
            out,
            "| `{sym}` | {} | {word} | {} |",
            md_code(&t.name),
            template_detail(t, true)
        );
    }
    for o in &plan.orphans {
        let _ = writeln!(
            out,
            "| `?` | `{}` | orphan | response `{}` v{} not claimed by any template; not deleted |",
            o.name, o.id, o.version
        );
    }
    for t in plan
        .templates
        .iter()
        .filter(|t| !t.changes.is_empty() || !t.notes.is_empty() || !t.new_texts.is_empty())
    {
        let _ = writeln!(
            out,
            "\n<details open><summary><code>{}</code> — {}</summary>\n",
            t.name,
            symbol(t.action).1
        );
        for n in &t.notes {
            let _ = writeln!(out, "- {}", md_sentence(n));
        }
        for n in &t.new_texts {
            let _ = writeln!(
                out,
                "\n{} (new):\n\n<pre>{}</pre>",
                code_span(&n.field),
                html_escape(n.text.trim_end_matches('\n'))
            );
        }
        if t.action == TemplateAction::Create && t.channel == "email" {
            let _ = writeln!(
                out,
                "\nThe HTML part is shown as the recipient sees it by `herald preview`."
            );
        }
        for c in &t.changes {
            let mut diff = String::new();
            for l in c.diff.lines() {
                diff.push_str(&mask_diff_line(l));
                diff.push('\n');
            }
            let fence = fence_for(&diff);
            let _ = writeln!(
                out,
                "\n{}{} — words deleted <del>struck through</del>, inserted <ins><b>in bold</b></ins>:\n\n{}\n\n<details><summary>unified diff</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>",
                code_span(&c.field),
                if c.whitespace_only {
                    " (whitespace only)"
                } else {
                    ""
                },
                word_diff_html(c),
            );
        }
        let _ = writeln!(out, "\n</details>");
    }
    let _ = writeln!(
        out,
        "\n### Campaigns\n\n| campaign | status | dispatch | to send now | segments | est. time | opens at | not sent | changes |\n|---|---|---|---:|---:|---:|---|---|---|"
    );
    for c in &plan.campaigns {
        let status = match c.status {
            CampaignStatus::Blocked => {
                format!(
                    "blocked: {}",
                    md_sentence(c.blocked_by.as_deref().unwrap_or(""))
                )
            }
            s => s.as_str().to_owned(),
        };
        let others = other_counts(c);
        let _ = writeln!(
            out,
            "| {} | {status} | {} | {} | {} | {} | {} | {} | {} |",
            md_code(&c.name),
            c.dispatch.messages_per_minute.map_or_else(
                || c.dispatch.kind.clone(),
                |m| format!("{} ({m}/min)", c.dispatch.kind)
            ),
            c.to_send(),
            if c.channel == "sms" {
                c.segments.to_string()
            } else {
                "—".to_owned()
            },
            duration(c.estimated_seconds),
            c.next_opening.map_or_else(
                || "—".to_owned(),
                |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()
            ),
            if others.is_empty() {
                "—".to_owned()
            } else {
                others
            },
            changes_cell(c)
        );
    }
    let costs: Vec<String> = plan
        .campaigns
        .iter()
        .filter_map(|c| {
            dispatch_line(c).map(|l| format!("- {}: {}", md_code(&c.name), md_sentence(&l)))
        })
        .collect();
    if !costs.is_empty() {
        let _ = writeln!(out, "\n{}", costs.join("\n"));
    }
    let samples: Vec<_> = plan
        .campaigns
        .iter()
        .flat_map(|c| {
            let legacy = c.samples.is_empty().then_some(c.sample.as_ref()).flatten();
            c.samples.iter().chain(legacy).map(move |s| (c, s))
        })
        .collect();
    if !samples.is_empty() {
        let _ = writeln!(out, "\n<details><summary>Samples (masked)</summary>\n");
        for (c, s) in samples {
            let _ = writeln!(
                out,
                "- {} ({}) → {}: {}",
                code_span(&c.name),
                md_sentence(&sample_label(s)),
                code_span(&s.to),
                code_span(&s.text)
            );
        }
        let _ = writeln!(out, "\n</details>");
    }
    if !plan.review_digest.is_empty() {
        out.push('\n');
        out.push_str(&super::review::markers(plan));
    }
    out
}

/// Diagnostics a refused plan's Markdown lists at most.
const MAX_REFUSED_ROWS: usize = 100;

/// Markdown for a pull-request comment when no plan could be made (the workspace or its
/// audiences have errors): every error and warning with its code, place and fix, addresses
/// masked, so CI still posts a comment that says what blocks the change.
pub fn markdown_refused(environment: &str, diags: &[crate::diag::Diagnostic]) -> String {
    use crate::diag::Severity;
    let (errors, warnings) = crate::diag::count(diags);
    let mut out = String::new();
    let _ = writeln!(out, "## herald plan — {} · refused\n", md_code(environment));
    let _ = writeln!(
        out,
        "**The plan was refused: {errors} error{}, {warnings} warning{}.** No plan was made and nothing can be applied until the errors are fixed (`herald validate` lists them with excerpts).\n",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "| | code | where | what |\n|---|---|---|---|");
    let mut sorted: Vec<&crate::diag::Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| d.severity != Severity::Error);
    for d in sorted.iter().take(MAX_REFUSED_ROWS) {
        let mut what = md_sentence(&mask_contacts(&d.message));
        if let Some(h) = &d.help {
            let _ = write!(what, "<br>help: {}", md_sentence(&mask_contacts(h)));
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            if d.severity == Severity::Error {
                "error"
            } else {
                "warning"
            },
            d.code.as_str(),
            md_code(&d.location()),
            what.replace('|', "\\|")
        );
    }
    if diags.len() > MAX_REFUSED_ROWS {
        let _ = writeln!(
            out,
            "\n{} more: run `herald validate` to see them all.",
            diags.len() - MAX_REFUSED_ROWS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: &str, new: &str) -> TextChange {
        TextChange {
            field: "body".into(),
            diff: format!("--- remote/body\n+++ desired/body\n@@ -1 +1 @@\n-{old}\n+{new}\n"),
            whitespace_only: false,
        }
    }

    #[test]
    fn a_refused_plan_lists_its_errors_first_and_masks_addresses() {
        use crate::diag::{Code, Diagnostic};
        let diags = vec![
            Diagnostic::warning(Code::H102, "templates/a.yaml", None, "unused | variable"),
            Diagnostic::error(
                Code::H140,
                "templates/b.yaml",
                None,
                "no opt-out; sample sent to +12125550100",
            )
            .help("add \"Reply STOP to opt out\""),
        ];
        let md = markdown_refused("prod", &diags);
        assert!(md.starts_with("## herald plan — `prod` · refused"), "{md}");
        assert!(md.contains("1 error, 1 warning"), "{md}");
        let error = md.find("`H140`").unwrap();
        assert!(error < md.find("`H102`").unwrap(), "{md}");
        assert!(md.contains("+1******0100"), "{md}");
        assert!(!md.contains("2125550100"), "{md}");
        assert!(md.contains("help: add &quot;Reply STOP"), "{md}");
        assert!(md.contains("unused \\| variable"), "{md}");
    }

    #[test]
    fn terminal_word_diff_marks_words_inside_the_line() {
        let c = change(
            "Sale ends Sunday. Call +12125550100",
            "Sale ends Monday. Call +12125550100",
        );
        let plain = word_diff_text(&c, &Style { color: false });
        assert_eq!(
            plain,
            [
                "--- remote/body",
                "+++ desired/body",
                "@@ -1 +1 @@",
                "Sale ends [-Sunday.-]{+Monday.+} Call +1******0100",
            ]
        );
        let color = word_diff_text(&c, &Style { color: true });
        assert!(color[3].contains("\x1b[31mSunday.\x1b[0m"), "{color:?}");
        assert!(color[3].contains("\x1b[32mMonday.\x1b[0m"), "{color:?}");
        assert!(!color[3].contains("[-"));
    }

    #[test]
    fn markdown_word_diff_uses_del_and_ins_and_escapes() {
        let c = change("a <b> & x@example.com old", "a <b> & x@example.com new");
        assert_eq!(
            word_diff_html(&c),
            "<blockquote>a &lt;b&gt; &amp; x***@example.com <del>old</del><ins><b>new</b></ins></blockquote>"
        );
        assert_eq!(mask_diff_line("+Call +12125550100"), "+Call +1******0100");
        // Lines end in <br> (they wrap), no line is blank and indentation is kept.
        let c = TextChange {
            field: "body".into(),
            diff: "--- remote/body\n+++ desired/body\n@@ -1,3 +1,3 @@\n-a\n+b\n \n   x\n".into(),
            whitespace_only: false,
        };
        let html = word_diff_html(&c);
        assert!(!html.contains("<pre>"), "{html}");
        assert!(!html.contains("\n\n"), "{html}");
        assert!(html.contains("<br>\n&#8203;<br>\n&nbsp;&nbsp;x"), "{html}");
        // The diff prefix is not a `+` of a number: the text `1234567890` is no phone.
        assert_eq!(mask_diff_line("+1234567890"), "+1234567890");
        assert_eq!(mask_diff_line("+12125550100"), "+*******0100");
    }
}
