//! How `herald apply` prints its report: the campaigns' counts and the run's outcome (text),
//! or the summary event (NDJSON), then each problem once.

use std::fmt::Write as _;

use crate::engine::apply::ApplyReport;
use crate::executor::Count;
use crate::output::Printer;

pub(super) fn print_report(
    report: &ApplyReport,
    json: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let ApplyReport {
        run_id,
        outcome,
        campaigns,
        problems,
        ledger_head,
    } = report;
    if json {
        let summary = serde_json::json!({ "event": "summary", "run_id": run_id, "outcome": outcome.to_string(), "campaigns": campaigns, "problems": problems, "ledger_head": ledger_head.as_ref().map(ToString::to_string) });
        printer.out(&format!("{summary}\n"))?;
    } else {
        let mut out = String::new();
        for r in campaigns {
            if let Some(t) = &r.totals {
                // A run that stopped early: the numbers must add up to the audience.
                let _ = writeln!(
                    out,
                    "{:<32} already sent {} + sent now {} + left {} = {} rows",
                    r.campaign, t.already_sent, t.sent_now, t.left, t.rows
                );
                continue;
            }
            let _ = writeln!(out, "{:<32} {}", r.campaign, r.summary());
        }
        // The problems follow, each once: the run line names only how it ended.
        let _ = writeln!(out, "run {run_id}: {}", outcome.kind());
        printer.out(&out)?;
        printer.info(&super::head_line(ledger_head.as_ref()));
        let unknown: u64 = campaigns.iter().map(|r| r.get(Count::UNKNOWN)).sum();
        if unknown > 0 {
            printer.warn(&format!("{unknown} sends ended `unknown` (maybe sent); they are not resent: run `herald reconcile`"));
        }
    }
    for p in problems {
        printer.error(p);
    }
    if report.interrupted() {
        printer.error(
            "interrupted: in-flight sends were recorded; run `herald apply` again to resume",
        );
    }
    Ok(())
}
