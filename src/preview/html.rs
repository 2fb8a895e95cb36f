//! The page as one HTML document: inline CSS, no script, nothing fetched. Every value is
//! escaped where it is written ([`e`]); the email body goes into a sandboxed `iframe` through
//! `srcdoc` (escaped as an attribute value), under a Content-Security-Policy that forbids
//! scripts and every network fetch, so neither a template nor a remote image can run or call
//! out while a reviewer looks at it.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::sms::layout;
use super::{CheckState, FieldDiff, PreviewCampaign, PreviewContent, PreviewPage, PreviewTemplate};
use crate::text::Encoding;
use crate::text::diff::{DiffLine, WordOp};

/// The policy of the page and of every email frame: styles inline, images only as `data:`,
/// no script, no fetch, no form, no navigation target outside.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'";

// The policy is a constant and needs no escaping in a double-quoted attribute.
const _: () = assert!(!const_contains_quote(CSP.as_bytes()));

const fn const_contains_quote(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' || b[i] == b'<' || b[i] == b'&' {
            return true;
        }
        i += 1;
    }
    false
}

/// Escapes text for an element's content or a double-quoted attribute value.
fn e(s: &str) -> Cow<'_, str> {
    html_escape::encode_safe(s)
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Renders the page.
pub fn render(page: &PreviewPage) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta http-equiv=\"x-dns-prefetch-control\" content=\"off\">\n\
         <title>herald preview · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        CSP,
        e(&page.environment)
    );
    header(&mut o, page);
    let _ = writeln!(o, "<main>");
    let _ = writeln!(o, "<h2 id=\"templates\">Templates</h2>");
    if page.templates.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">No template.</p>");
    }
    for t in &page.templates {
        template(&mut o, t);
    }
    let _ = writeln!(o, "<h2 id=\"campaigns\">Campaigns</h2>");
    if let Some(why) = &page.no_plan {
        let _ = writeln!(o, "<p class=\"notice bad\">{}</p>", e(why));
    } else if page.campaigns.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">No campaign.</p>");
    }
    for c in &page.campaigns {
        campaign(&mut o, c);
    }
    let _ = writeln!(o, "</main>\n</body>\n</html>");
    o
}

fn header(o: &mut String, page: &PreviewPage) {
    let commit = page.commit.as_deref().map_or_else(
        || "not a git repository".to_owned(),
        |c| {
            format!(
                "commit {}{}",
                &c[..c.len().min(12)],
                if page.dirty {
                    " (uncommitted changes)"
                } else {
                    ""
                }
            )
        },
    );
    let _ = writeln!(
        o,
        "<header><h1>herald preview</h1><p class=\"muted\">environment <b>{}</b> · {} · {} · {}</p>",
        e(&page.environment),
        e(&commit),
        plural(page.templates.len() as u64, "template"),
        plural(page.campaigns.len() as u64, "campaign"),
    );
    // What the reviewer approves, and what blocks it, before anything else.
    if let Some(summary) = &page.summary {
        let _ = writeln!(o, "<p class=\"summary\"><b>{}</b></p>", e(summary));
    }
    if let Some(d) = &page.review_digest {
        let _ = writeln!(
            o,
            "<p class=\"digest\">Review digest <code>{}</code><br><span class=\"muted\">approve it with <code>herald apply --approved-digest {}</code></span></p>",
            e(d),
            e(d)
        );
    }
    if !page.errors.is_empty() {
        let _ = writeln!(
            o,
            "<div class=\"errors\" id=\"errors\"><p class=\"notice bad\"><b>{} block{} this change</b>: no plan is made and apply refuses until {} fixed.</p><ul>",
            plural(page.errors.len() as u64, "error"),
            if page.errors.len() == 1 { "s" } else { "" },
            if page.errors.len() == 1 {
                "it is"
            } else {
                "they are"
            }
        );
        for p in &page.errors {
            let _ = writeln!(
                o,
                "<li class=\"error\"><code>{}</code> <code class=\"where\">{}</code> {}</li>",
                e(&p.code),
                e(&p.location),
                e(&p.message)
            );
        }
        let _ = writeln!(o, "</ul></div>");
    }
    if let Some(n) = &page.narrowed_to {
        let _ = writeln!(
            o,
            "<p class=\"notice\">Narrowed to {}: other objects are not shown.</p>",
            e(&n.join(", "))
        );
    }
    let _ = writeln!(o, "<nav>");
    for t in &page.templates {
        let _ = write!(o, "<a href=\"#template-{0}\">{0}</a> ", e(&t.name));
    }
    for c in &page.campaigns {
        let _ = write!(
            o,
            "<a class=\"camp\" href=\"#campaign-{0}\">{0}</a> ",
            e(&c.name)
        );
    }
    let _ = writeln!(o, "</nav>");
    if !page.problems.is_empty() {
        let _ = writeln!(
            o,
            "<details class=\"problems\" open><summary>{} in the workspace</summary><table><thead><tr><th>code</th><th></th><th>where</th><th>what</th></tr></thead><tbody>",
            plural(page.problems.len() as u64, "problem")
        );
        for p in &page.problems {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td><span class=\"badge {}\">{}</span></td><td><code>{}</code></td><td>{}</td></tr>",
                e(&p.code),
                if p.severity == "error" { "bad" } else { "warn" },
                e(&p.severity),
                e(&p.location),
                e(&p.message)
            );
        }
        let _ = writeln!(o, "</tbody></table></details>");
    }
    let _ = writeln!(o, "</header>");
}

fn template(o: &mut String, t: &PreviewTemplate) {
    let channel = match t.content {
        Some(PreviewContent::Sms { .. }) => "sms",
        Some(PreviewContent::Email { .. }) => "email",
        None => "not rendered",
    };
    let _ = writeln!(
        o,
        "<section class=\"template\" id=\"template-{0}\" data-template=\"{0}\">",
        e(&t.name)
    );
    let _ = write!(
        o,
        "<h3>{}</h3><p class=\"tags\"><span class=\"badge\">{channel}</span> <span class=\"badge {}\">{}</span> <span class=\"badge\">{}</span>",
        e(&t.name),
        if t.category == "marketing" {
            "warn"
        } else {
            ""
        },
        e(&t.category),
        e(&t.status)
    );
    if let Some(a) = &t.action {
        let class = match a.as_str() {
            "create" => "good",
            "drift" => "bad",
            "no changes" | "draft, not pushed" => "",
            _ => "warn",
        };
        let _ = write!(o, " <span class=\"badge {class} action\">{}</span>", e(a));
    }
    let _ = writeln!(o, " <span class=\"muted\">{}</span></p>", e(&t.file));
    if let Some(d) = &t.description {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", e(d));
    }
    for n in &t.notes {
        let _ = writeln!(o, "<p class=\"notice\">{}</p>", e(n));
    }
    let _ = writeln!(o, "<div class=\"cols\"><div class=\"look\">");
    if t.status.starts_with("has errors") && t.content.is_some() {
        let _ = writeln!(
            o,
            "<p class=\"notice bad\">This template has errors (see its failed checks below and at the top of the page): it is shown as written, with the example values that are declared, and cannot be sent.</p>"
        );
    }
    match &t.content {
        None => {
            let _ = writeln!(
                o,
                "<p class=\"notice bad\">This template has errors and its text could not be read, so it cannot be shown: fix the failed checks.</p>"
            );
        }
        Some(PreviewContent::Sms { text }) => sms_bubble(o, text, "bubble"),
        Some(PreviewContent::Email {
            subject,
            html,
            text,
            unsubscribe,
            postal_address,
        }) => email(
            o,
            &t.name,
            subject,
            html,
            text.as_deref(),
            *unsubscribe,
            *postal_address,
        ),
    }
    let _ = writeln!(o, "</div><div class=\"facts\">");
    variables(o, t);
    checks(o, t);
    let _ = writeln!(o, "</div></div>");
    for d in &t.diffs {
        diff(o, d);
    }
    let _ = writeln!(o, "</section>");
}

/// An SMS in a phone-style bubble: segments alternate in shade and each boundary is marked;
/// characters that force UCS-2 are highlighted.
fn sms_bubble(o: &mut String, text: &str, class: &str) {
    let l = layout(text);
    let segments = l.info.segments;
    let _ = writeln!(o, "<div class=\"phone\"><div class=\"screen\">");
    let _ = write!(
        o,
        "<div class=\"{class}\" data-segments=\"{segments}\" data-encoding=\"{}\">",
        l.info.encoding
    );
    let mut current = usize::MAX;
    for c in &l.chars {
        if c.segment != current {
            if current != usize::MAX {
                let _ = write!(
                    o,
                    "</span><span class=\"seg-mark\" title=\"segment {} of {segments} starts here\">{}/{segments}</span>",
                    c.segment + 1,
                    c.segment + 1
                );
            }
            current = c.segment;
            let _ = write!(
                o,
                "<span class=\"segment s{}\" data-segment=\"{}\">",
                c.segment % 2,
                c.segment + 1
            );
        }
        let mut buf = [0; 4];
        let ch = e(c.ch.encode_utf8(&mut buf));
        if c.forces_ucs2 {
            let _ = write!(
                o,
                "<mark class=\"ucs2\" title=\"{}; not in the GSM-7 alphabet, so the whole message is sent as UCS-2\">{ch}</mark>",
                e(&crate::text::explain_non_gsm(c.ch))
            );
        } else {
            o.push_str(&ch);
        }
    }
    if current == usize::MAX {
        let _ = write!(o, "<span class=\"segment s0\" data-segment=\"1\">");
    }
    let _ = writeln!(o, "</span></div></div></div>");
    let per = if segments > 1 {
        format!("{} per segment when concatenated", l.per_segment)
    } else {
        format!("up to {} in one message", l.per_segment)
    };
    let units = match l.info.encoding {
        Encoding::Gsm7 => "septets",
        Encoding::Ucs2 => "UTF-16 units",
    };
    let _ = write!(
        o,
        "<p class=\"sms-meta\"><b>{}</b> · {} · {} {units} · <b class=\"segcount\">{}</b> ({per})",
        l.info.encoding,
        plural(l.info.chars as u64, "character"),
        l.info.units,
        plural(segments as u64, "segment"),
    );
    if l.info.non_gsm.is_empty() {
        let _ = writeln!(o, "</p>");
    } else {
        let _ = write!(
            o,
            "<br><span class=\"bad-text\">Sent as UCS-2 (fewer characters per segment) because of:</span></p><ul class=\"ucs2-why\">"
        );
        for c in &l.info.non_gsm {
            let _ = write!(o, "<li>{}</li>", e(&crate::text::explain_non_gsm(*c)));
        }
        let _ = writeln!(o, "</ul>");
    }
}

#[allow(clippy::too_many_arguments)]
fn email(
    o: &mut String,
    name: &str,
    subject: &str,
    html: &str,
    text: Option<&str>,
    unsubscribe: CheckState,
    postal: CheckState,
) {
    let doc = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><meta http-equiv=\"x-dns-prefetch-control\" content=\"off\"><style>body{{font:15px/1.45 system-ui,sans-serif;margin:12px;color:#222;background:#fff}}</style></head><body>{html}</body></html>"
    );
    let _ = writeln!(
        o,
        "<div class=\"mail\"><div class=\"mail-head\"><span class=\"muted\">Subject</span> <b class=\"subject\">{}</b></div>\
         <iframe class=\"mail-body\" sandbox=\"\" referrerpolicy=\"no-referrer\" loading=\"eager\" title=\"HTML body of {}\" style=\"height:{}px\" srcdoc=\"{}\"></iframe>",
        e(subject),
        e(name),
        frame_height(html),
        e(&doc)
    );
    match text {
        Some(t) => {
            let _ = writeln!(
                o,
                "<details class=\"alt\" open><summary>Plain-text alternative</summary><pre>{}</pre></details>",
                e(t)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "<p class=\"muted\">No plain-text alternative: mail clients derive one from the HTML.</p>"
            );
        }
    }
    let _ = writeln!(o, "<ul class=\"canspam\">");
    for (title, state) in [
        ("Unsubscribe link (CAN-SPAM)", unsubscribe),
        ("Sender's postal address (CAN-SPAM)", postal),
    ] {
        let _ = writeln!(
            o,
            "<li><span class=\"badge {}\">{}</span> {title}</li>",
            state_class(state),
            state.label()
        );
    }
    let _ = writeln!(o, "</ul></div>");
}

/// Frame width, in characters of the email's 15 px font, that the height is estimated for:
/// the narrowest the frame gets (a 390 px phone), so a wider frame only has room to spare.
const FRAME_CHARS_PER_LINE: usize = 30;

/// A height (px) for the email frame that shows the whole body without scrolling: a frame
/// cannot take its content's height without a script, so it is estimated from the HTML —
/// lines of text wrapped at [`FRAME_CHARS_PER_LINE`], paragraph margins, images and rules —
/// erring on the tall side.
fn frame_height(html: &str) -> u32 {
    const LINE: usize = 22;
    let mut lines = 0usize;
    let mut blocks = 0usize;
    let mut images = 0usize;
    let mut run = 0usize;
    let mut in_tag = false;
    let mut tag = String::new();
    let mut in_style = false;
    let flush = |run: &mut usize, lines: &mut usize| {
        if *run > 0 {
            *lines += run.div_ceil(FRAME_CHARS_PER_LINE);
            *run = 0;
        }
    };
    for ch in html.chars() {
        if in_tag {
            if ch == '>' {
                in_tag = false;
                let name: String = tag
                    .trim_start_matches('/')
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase();
                let closing = tag.starts_with('/');
                if name == "style" {
                    in_style = !closing;
                }
                match name.as_str() {
                    "br" | "tr" | "li" | "div" | "td" | "th" => flush(&mut run, &mut lines),
                    "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "ul" | "ol"
                    | "blockquote" | "pre" | "hr" => {
                        flush(&mut run, &mut lines);
                        blocks += usize::from(!closing);
                    }
                    _ if name == "img" || tag.contains("herald-blocked-image") => images += 1,
                    _ => {}
                }
                tag.clear();
            } else {
                tag.push(ch);
            }
        } else if ch == '<' {
            in_tag = true;
        } else if !(in_style || ch.is_whitespace() && run == 0) {
            run += 1;
        }
    }
    flush(&mut run, &mut lines);
    let px = 24 + lines * LINE + blocks * 18 + images * 120 + 24;
    u32::try_from(px.clamp(120, 6000)).unwrap_or(6000)
}

fn state_class(s: CheckState) -> &'static str {
    match s {
        CheckState::Passed => "good",
        CheckState::Failed => "bad",
        CheckState::Warning => "warn",
        CheckState::NotRequired => "",
    }
}

fn variables(o: &mut String, t: &PreviewTemplate) {
    let _ = writeln!(o, "<h4>Variables</h4>");
    if t.variables.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">None.</p>");
        return;
    }
    let _ = writeln!(
        o,
        "<table class=\"vars\"><thead><tr><th>variable</th><th>description</th><th>example</th><th>max length</th></tr></thead><tbody>"
    );
    for v in &t.variables {
        let too_long = match (&v.example, v.max_length) {
            (Some(x), Some(m)) => x.chars().count() > m as usize,
            _ => false,
        };
        let _ = writeln!(
            o,
            "<tr><td><code>{{{{{}}}}}</code></td><td>{}</td><td{}>{}</td><td>{}</td></tr>",
            e(&v.name),
            e(v.description.as_deref().unwrap_or("—")),
            if too_long { " class=\"bad-text\"" } else { "" },
            v.example.as_deref().map_or(Cow::Borrowed("—"), e),
            v.max_length
                .map_or_else(|| "—".to_owned(), |m| m.to_string())
        );
    }
    let _ = writeln!(o, "</tbody></table>");
}

fn checks(o: &mut String, t: &PreviewTemplate) {
    let _ = writeln!(
        o,
        "<h4>Checks</h4><table class=\"checks\"><thead><tr><th>code</th><th>check</th><th>result</th></tr></thead><tbody>"
    );
    for c in &t.checks {
        let _ = write!(
            o,
            "<tr class=\"check {}\" data-code=\"{}\"><td><code>{}</code></td><td>{}",
            state_class(c.state),
            e(&c.code),
            e(&c.code),
            e(&c.title)
        );
        for m in &c.messages {
            let _ = write!(o, "<br><span class=\"msg\">{}</span>", e(m));
        }
        let _ = writeln!(
            o,
            "</td><td><span class=\"badge {}\">{}</span></td></tr>",
            state_class(c.state),
            c.state.label()
        );
    }
    let _ = writeln!(o, "</tbody></table>");
}

fn diff(o: &mut String, d: &FieldDiff) {
    let _ = writeln!(
        o,
        "<div class=\"diff\" data-field=\"{}\"><div class=\"diff-head\">Change to <code>{}</code>{} <span class=\"muted\">(<del>removed</del> <ins>added</ins>)</span></div><div class=\"diff-body\">",
        e(&d.field),
        e(&d.field),
        d.remote_version
            .map_or_else(String::new, |v| format!(" against Genesys version {v}"))
    );
    for line in &d.lines {
        diff_line(o, line);
    }
    let _ = writeln!(o, "</div></div>");
}

fn diff_line(o: &mut String, line: &DiffLine) {
    let _ = write!(
        o,
        "<div class=\"dl{}\">",
        if line.changed() { " changed" } else { "" }
    );
    for s in &line.spans {
        match s.op {
            WordOp::Equal => o.push_str(&e(&s.text)),
            WordOp::Delete => {
                let _ = write!(o, "<del>{}</del>", e(&s.text));
            }
            WordOp::Insert => {
                let _ = write!(o, "<ins>{}</ins>", e(&s.text));
            }
        }
    }
    if line.deleted_break {
        o.push_str("<del class=\"br\" title=\"line break removed\">↵</del>");
    }
    if line.inserted_break {
        o.push_str("<ins class=\"br\" title=\"line break added\">↵</ins>");
    }
    if line.spans.is_empty() && !line.changed() {
        o.push_str("&#8203;");
    }
    let _ = writeln!(o, "</div>");
}

fn campaign(o: &mut String, c: &PreviewCampaign) {
    let _ = writeln!(
        o,
        "<section class=\"campaign\" id=\"campaign-{0}\" data-campaign=\"{0}\">",
        e(&c.name)
    );
    let status_class = match c.status.as_str() {
        "active" => "good",
        "blocked" => "bad",
        _ => "",
    };
    let _ = write!(
        o,
        "<h3>{}</h3><p class=\"tags\"><span class=\"badge {status_class} status\">{}</span>",
        e(&c.name),
        e(&c.status)
    );
    if let Some(b) = &c.blocked_by {
        let _ = write!(o, " <span class=\"bad-text\">{}</span>", e(b));
    }
    let _ = writeln!(
        o,
        " <span class=\"muted\">{} · template <a href=\"#template-{}\">{}</a> · {} in <code>{}</code></span></p>",
        e(&c.channel),
        e(&c.template),
        e(&c.template),
        plural(c.rows, "row"),
        e(&c.audience_file)
    );
    if let Some(ch) = &c.changes {
        let _ = writeln!(o, "<p class=\"notice changes\">{}</p>", e(ch));
    }
    let _ = write!(
        o,
        "<table class=\"counts\"><tbody><tr><th>to send now</th><td class=\"num\">{}</td></tr>",
        c.to_send
    );
    if c.channel == "sms" {
        let _ = write!(
            o,
            "<tr><th>SMS segments</th><td class=\"num\">{}</td></tr>",
            c.segments
        );
    }
    for (label, n) in &c.counts {
        let _ = write!(
            o,
            "<tr><th>{}</th><td class=\"num\">{n}</td></tr>",
            e(label)
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    if !c.holds.is_empty() {
        let _ = write!(o, "<p class=\"holds\">Held: ");
        let parts: Vec<String> = c
            .holds
            .iter()
            .map(|(label, n)| format!("{} {n}", e(label)))
            .collect();
        o.push_str(&parts.join(" · "));
        if let Some(at) = &c.next_opening {
            let _ = write!(o, "; the first opens at <b class=\"opens\">{}</b>", e(at));
        }
        let _ = writeln!(o, "</p>");
    }
    if c.samples.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">No row to show.</p>");
    } else {
        let _ = writeln!(
            o,
            "<h4>Samples (addresses masked; rows sent now first)</h4><ol class=\"samples\">"
        );
        for s in &c.samples {
            let _ = writeln!(
                o,
                "<li class=\"sample{}\"><span class=\"badge {} decision\">{}</span> <span class=\"to\">{}</span> <span class=\"muted\">line {}</span><div class=\"sample-text\">{}</div></li>",
                if s.send_now { " send" } else { "" },
                if s.send_now { "good" } else { "warn" },
                e(&s.decision),
                e(&s.to),
                s.line,
                e(&s.text)
            );
        }
        let _ = writeln!(o, "</ol>");
    }
    let _ = writeln!(o, "</section>");
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#d9dee5;--bg:#f5f7fa;--card:#fff;--good:#1f7a3f;--goodbg:#e3f4e8;--bad:#b42318;--badbg:#fde7e5;--warn:#8a5a00;--warnbg:#fff3d6;--ins:#c9f2d4;--del:#ffd4d0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
header{padding:20px 28px 12px;background:var(--card);border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:22px}
h2{margin:28px 0 12px;font-size:18px}
h3{margin:0 0 4px;font-size:17px}
h4{margin:14px 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
main{padding:0 28px 40px;max-width:1200px}
nav a{display:inline-block;margin:2px 6px 2px 0;padding:1px 8px;border:1px solid var(--line);border-radius:10px;text-decoration:none;color:var(--fg);font-size:12px}
nav a.camp{border-style:dashed}
.muted{color:var(--muted)}
.notice{background:var(--warnbg);border-left:3px solid var(--warn);padding:6px 10px;margin:6px 0}
.notice.bad{background:var(--badbg);border-color:var(--bad)}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:0 0 16px}
.tags{margin:0 0 8px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;background:#eceff3;color:var(--fg)}
.badge.good{background:var(--goodbg);color:var(--good)}
.badge.bad{background:var(--badbg);color:var(--bad)}
.badge.warn{background:var(--warnbg);color:var(--warn)}
.bad-text{color:var(--bad)}
.cols{display:grid;grid-template-columns:minmax(280px,380px) minmax(0,1fr);gap:24px;align-items:start}
.cols>*{min-width:0}
@media (max-width:800px){.cols{grid-template-columns:minmax(0,1fr)}}
@media (max-width:600px){header{padding:14px 12px 10px}main{padding:0 8px 24px}section{padding:12px 10px}th,td{padding:3px 4px}}
.summary{margin:6px 0}
.digest code{font-size:12px}
.errors ul{margin:4px 0 8px;padding-left:20px}
.errors li{color:var(--bad)}
.phone{width:100%;max-width:300px;border:10px solid #1d2330;border-radius:30px;background:#1d2330;padding:0}
.screen{background:#eef1f5;border-radius:20px;min-height:160px;padding:24px 14px}
.bubble{background:#e2e6ec;border-radius:16px 16px 16px 4px;padding:9px 12px;white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%;font-size:14px}
.segment.s1{background:#cfd8e6;border-radius:3px}
.seg-mark{display:inline-block;margin:0 2px;padding:0 4px;border-radius:3px;background:#3b5bdb;color:#fff;font-size:10px;line-height:15px;vertical-align:1px;white-space:nowrap}
mark.ucs2{background:#ffb3ad;color:#5c0b05;border-radius:2px;outline:1px solid var(--bad)}
.sms-meta{margin:8px 0 0;color:var(--muted)}
.ucs2-why{margin:2px 0 0;padding-left:18px;color:var(--bad)}
.mail{border:1px solid var(--line);border-radius:6px;overflow:hidden;background:#fff}
.mail-head{padding:8px 10px;border-bottom:1px solid var(--line);background:#fafbfc}
.mail-body{display:block;width:100%;border:0;background:#fff}
.alt{border-top:1px solid var(--line);padding:6px 10px}
.alt pre{white-space:pre-wrap;margin:6px 0;font-size:12px}
.canspam{list-style:none;margin:0;padding:6px 10px;border-top:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.counts{width:auto;max-width:100%}
.msg{color:var(--bad);font-size:12px}
.diff{margin-top:14px;border:1px solid var(--line);border-radius:6px}
.diff-head{padding:5px 10px;background:#fafbfc;border-bottom:1px solid var(--line)}
.diff-body{padding:6px 0;font:13px/1.55 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.dl{padding:0 10px}
.dl.changed{background:#fffbea}
del{background:var(--del);color:#7a140c;text-decoration:line-through}
ins{background:var(--ins);color:#0d4d22;text-decoration:none}
.samples{padding-left:20px}
.sample{margin:4px 0}
.sample .to{font-family:ui-monospace,monospace}
.sample-text{white-space:pre-wrap;background:#eef1f5;border-radius:10px;padding:4px 10px;display:inline-block;max-width:100%}
.sample:not(.send) .sample-text{opacity:.75}
.problems{margin-top:10px}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::{PreviewCheck, PreviewVariable};

    fn page_with(content: PreviewContent) -> PreviewPage {
        PreviewPage {
            environment: "sandbox".into(),
            templates: vec![PreviewTemplate {
                name: "t".into(),
                category: "marketing".into(),
                status: "published".into(),
                description: Some("<b>notes</b>".into()),
                file: "templates/t.yaml".into(),
                action: Some("create".into()),
                notes: Vec::new(),
                content: Some(content),
                variables: vec![PreviewVariable {
                    name: "x\"><script>".into(),
                    description: None,
                    example: Some("<img src=x onerror=alert(1)>".into()),
                    max_length: Some(3),
                }],
                checks: vec![PreviewCheck {
                    code: "H101".into(),
                    title: "t".into(),
                    state: CheckState::Failed,
                    messages: vec!["<script>".into()],
                }],
                diffs: Vec::new(),
            }],
            ..PreviewPage::default()
        }
    }

    #[test]
    fn no_value_can_open_an_element() {
        let html = render(&page_with(PreviewContent::Email {
            subject: "</title><script>alert(1)</script>".into(),
            html: "\"></iframe><script>alert(1)</script><img src=x>".into(),
            text: Some("</pre><script>".into()),
            unsubscribe: CheckState::Failed,
            postal_address: CheckState::Passed,
        }));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert_eq!(html.matches("<iframe").count(), 1);
        assert!(html.contains("<iframe class=\"mail-body\" sandbox=\"\""));
        // The email document sits, escaped, in the one srcdoc attribute.
        assert!(
            html.contains("&lt;&#x2F;iframe&gt;&lt;script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn sms_text_is_escaped_inside_the_bubble() {
        let html = render(&page_with(PreviewContent::Sms {
            text: "a <b>&</b> ✓".into(),
        }));
        assert!(html.contains("a &lt;b&gt;&amp;&lt;&#x2F;b&gt; <mark class=\"ucs2\""));
        assert!(!html.contains("<b>&"));
    }
}
