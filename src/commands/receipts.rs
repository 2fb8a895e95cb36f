//! `herald receipts`: poll delivery receipts, record them and suppress opted-out recipients
//! (see [`crate::engine::receipts`]); print the summary.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{Format, GlobalArgs, ReceiptsArgs};
use crate::engine::receipts::{OPTED_OUT, poll_receipts};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ReceiptsArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    let ws = &loaded.workspace;
    // A campaign's sender, for the bulk look-up (campaigns no longer in the workspace are
    // looked up one message at a time).
    let from = |campaign: &str| {
        crate::spec::Name::parse(campaign)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
            .map(|c| c.from.clone())
    };
    let progress = crate::output::progress_bar(printer, 1, args.format == Format::Json);
    let mut on_progress = |done: u64, total: u64| {
        if let Some(pb) = &progress {
            pb.set_length(total);
            pb.set_position(done);
        }
    };
    let r = poll_receipts(&settings, args.since, &from, &mut on_progress);
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let r = r?;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "since": r.since.to_string(),
                "messages": r.messages,
                "polled": r.polled,
                "not_found": r.not_found,
                "in_bulk": r.in_bulk,
                "one_by_one": r.one_by_one,
                "recorded": r.recorded,
                "by_status": r.by_status,
                "newly_suppressed": r.newly_suppressed,
                "ledger_head": r.ledger_head.as_ref().map(ToString::to_string),
            });
            printer.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{} message{} sent since {}; polled {} ({} already delivered)",
                r.messages,
                if r.messages == 1 { "" } else { "s" },
                r.since.strftime("%Y-%m-%d %H:%M:%SZ"),
                r.polled,
                r.messages - r.polled
            );
            if r.polled > 0 {
                let _ = writeln!(
                    out,
                    "  {} from bulk analytics queries, {} looked up one by one",
                    r.in_bulk, r.one_by_one
                );
            }
            for (status, n) in &r.by_status {
                let _ = writeln!(out, "  {status:<18} {n}");
            }
            if r.not_found > 0 {
                let _ = writeln!(out, "  {:<18} {}", "not found", r.not_found);
            }
            let _ = writeln!(out, "{} newly suppressed", r.newly_suppressed.len());
            for s in &r.newly_suppressed {
                let _ = writeln!(
                    out,
                    "  {}  {OPTED_OUT}  ({} / {})",
                    s.masked, s.campaign, s.row_key
                );
            }
            printer.out(&out)?;
            printer.info(&super::head_line(r.ledger_head.as_ref()));
        }
    }
    Ok(ExitStatus::Success)
}
