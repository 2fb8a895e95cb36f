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
    let (_, settings) = super::env_context(global)?;
    let r = poll_receipts(&settings, args.since)?;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "since": r.since.to_string(),
                "messages": r.messages,
                "polled": r.polled,
                "not_found": r.not_found,
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
