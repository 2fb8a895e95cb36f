//! `herald reconcile`: resolve `unknown` sends through the analytics API (see
//! [`crate::engine::reconcile`]) and print what became of each.

use std::fmt::Write as _;

use jiff::SignedDuration;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, ReconcileArgs};
use crate::engine::reconcile::{Finding, reconcile};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ReconcileArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((loaded, settings)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    // Rows handed to Genesys messaging campaigns first: read back by contact id.
    let waves = match crate::engine::waves::run(
        &loaded.workspace,
        &settings,
        crate::engine::waves::Action::Reconcile(args.campaign.as_deref()),
    )? {
        Ok(r) => r,
        Err(e) => {
            printer.error(&e.to_string());
            return Ok(ExitStatus::Locked);
        }
    };
    let json = args.format == crate::cli::Format::Json;
    if !waves.waves.is_empty() && !json {
        printer.out(&super::campaign::lines(&waves))?;
    }
    let settle = SignedDuration::from_secs(i64::try_from(args.settle_secs).unwrap_or(i64::MAX));
    // How many unknown sends there are is known once the ledger is read: the bar's length is
    // set by the first report.
    let progress = crate::output::progress_bar(printer, 1, false);
    let mut on_progress = |done: u64, total: u64| {
        if let Some(pb) = &progress {
            pb.set_length(total);
            pb.set_position(done);
        }
    };
    let result = reconcile(
        &loaded.workspace,
        &settings,
        args.campaign.as_deref(),
        settle,
        &mut on_progress,
    );
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let report = match result? {
        Ok(r) => r,
        Err(e) => {
            printer.error(&e.to_string());
            return Ok(ExitStatus::Locked);
        }
    };
    if json {
        let mut doc = json_report(&report);
        doc["waves"] = super::campaign::json(&waves)["waves"].clone();
        printer.out(&format!("{doc}\n"))?;
        return Ok(ExitStatus::Success);
    }
    if report.rows.is_empty() {
        printer.out("no unknown sends\n")?;
        return Ok(ExitStatus::Success);
    }
    let mut out = String::new();
    for r in &report.rows {
        let (c, k, m) = (&r.campaign, &r.row_key, &r.masked);
        let _ = match &r.finding {
            Finding::NotInAudience => writeln!(
                out,
                "  ? {c} {k} ({m}): no longer in the audience; cannot look it up"
            ),
            Finding::Ambiguous(n) => writeln!(
                out,
                "  ? {c} {k} ({m}): {n} unclaimed conversations match; left unknown for a person to decide"
            ),
            Finding::Found(conversation) => {
                writeln!(out, "  ✓ {c} {k} ({m}): found, conversation {conversation}")
            }
            Finding::NotSent => writeln!(
                out,
                "  ✗ {c} {k} ({m}): not found after the settle time; pending, a later apply sends it"
            ),
            Finding::NotIndexed(after) => writeln!(
                out,
                "  … {c} {k} ({m}): not indexed yet; reconcile again after {}",
                after.strftime("%H:%M:%S UTC")
            ),
        };
    }
    let (found, not_found, waiting, missing) = report.totals();
    let _ = writeln!(
        out,
        "{found} found (now sent), {not_found} not sent (now pending), {waiting} still unknown, {missing} not in the audience"
    );
    printer.out(&out)?;
    printer.info(&super::head_line(report.ledger_head.as_ref()));
    Ok(ExitStatus::Success)
}

/// The report as one JSON document: each send looked at (masked) with its finding, the
/// totals and the ledger head.
fn json_report(report: &crate::engine::reconcile::ReconcileReport) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            let (finding, detail) = match &r.finding {
                Finding::NotInAudience => ("not_in_audience", serde_json::Value::Null),
                Finding::Ambiguous(n) => ("ambiguous", serde_json::json!({ "matches": n })),
                Finding::Found(c) => ("found", serde_json::json!({ "conversation_id": c })),
                Finding::NotSent => ("not_sent", serde_json::Value::Null),
                Finding::NotIndexed(after) => (
                    "not_indexed",
                    serde_json::json!({ "retry_after": after.to_string() }),
                ),
            };
            let mut row = serde_json::json!({
                "campaign": r.campaign,
                "row_key": r.row_key,
                "masked": r.masked,
                "finding": finding,
            });
            if let (Some(obj), serde_json::Value::Object(extra)) = (row.as_object_mut(), detail) {
                obj.extend(extra);
            }
            row
        })
        .collect();
    let (found, not_sent, unknown, missing) = report.totals();
    serde_json::json!({
        "sends": rows,
        "totals": {
            "found": found,
            "not_sent": not_sent,
            "still_unknown": unknown,
            "not_in_audience": missing,
        },
        "ledger": super::head_json(report.ledger_head.as_ref()),
    })
}
