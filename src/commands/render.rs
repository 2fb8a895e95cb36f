//! `herald render CAMPAIGN`: preview rendered messages with masked addresses (the recipient's
//! and any phone number or email address inside the text).

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::audience::CampaignRows;
use crate::cli::{Format, GlobalArgs, RenderArgs};
use crate::diag;
use crate::messages::{Message, Row};
use crate::output::Printer;
use crate::spec::Name;
use crate::text::mask_contacts;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &RenderArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let root = super::workspace_root(global)?;
    let mut loaded = crate::load::load(&root);
    loaded.workspace.clock = Some(crate::process::workspace_clock());
    let ws = &loaded.workspace;
    let campaign = Name::parse(&args.campaign)
        .ok()
        .and_then(|n| ws.campaigns.get(&n));
    let Some(campaign) = campaign else {
        if loaded.has_errors() {
            printer.err_raw(
                diag::render_text(&loaded.diagnostics, &loaded.sources, printer.color_stderr())
                    .trim_end(),
            );
            return Ok(ExitStatus::Invalid);
        }
        let known: Vec<&str> = ws.campaigns.keys().map(Name::as_str).collect();
        anyhow::bail!(
            "no campaign named `{}` (known: {})",
            args.campaign,
            known.join(", ")
        );
    };
    let (rows, missing) = CampaignRows::open(ws, campaign)?;
    if !missing.is_empty() {
        printer.error(&format!(
            "{} lacks the column(s) {}",
            ws.audiences[&campaign.audience].source_display,
            missing.join(", ")
        ));
        return Ok(ExitStatus::Invalid);
    }
    let mut out = String::new();
    let mut json = Vec::new();
    let mut shown = 0;
    for row in rows {
        if shown >= args.limit {
            break;
        }
        let Row::Ready(r) = row else {
            if let (Row::Skipped(s), Some(_)) = (&row, &args.recipient) {
                let _ = s;
            }
            continue;
        };
        if args.recipient.as_ref().is_some_and(|k| *k != r.key) {
            continue;
        }
        shown += 1;
        // Phone numbers and email addresses inside the message (in any form, national too)
        // are masked like the recipient's, and characters that could hide text are escaped.
        let key = crate::text::visible::escape_line(&r.key);
        let m = |s: &str| mask_contacts(s);
        match args.format {
            Format::Json => json.push(match &r.message {
                Message::Sms { text, info } => serde_json::json!({ "key": key, "to": r.address.masked(), "line": r.line, "text": m(text), "encoding": info.encoding, "chars": info.chars, "segments": info.segments }),
                Message::Email { subject, html, text } => serde_json::json!({ "key": key, "to": r.address.masked(), "line": r.line, "subject": m(subject), "html": m(html), "text": text.as_deref().map(m) }),
            }),
            Format::Text => {
                let _ = writeln!(out, "── {key} → {} (line {})", r.address.masked(), r.line);
                match &r.message {
                    Message::Sms { text, info } => {
                        let _ = writeln!(out, "{}", m(text));
                        let _ = writeln!(out, "   {}, {} chars, {} segment{}\n", info.encoding, info.chars, info.segments, if info.segments == 1 { "" } else { "s" });
                    }
                    Message::Email { subject, html, text } => {
                        let _ = writeln!(out, "Subject: {}\n{}", m(subject), m(html));
                        if let Some(t) = text {
                            let _ = writeln!(out, "--- text ---\n{}", m(t));
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
    if args.recipient.is_some() && shown == 0 {
        anyhow::bail!(
            "campaign `{}` has no sendable row with that key",
            campaign.name
        );
    }
    match args.format {
        Format::Json => printer.out(&format!("{}\n", serde_json::to_string_pretty(&json)?))?,
        Format::Text => printer.out(&out)?,
    }
    Ok(ExitStatus::Success)
}
