//! `herald campaign stop NAME`: stop a campaign's running Genesys messaging campaigns (see
//! [`crate::engine::waves`]) and print who was and was not messaged; also the wave lines
//! `herald reconcile` prints.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{CampaignCommand, Format, GlobalArgs};
use crate::engine::waves::{Action, WavesReport, run as run_waves};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    cmd: &CampaignCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let CampaignCommand::Stop(args) = cmd;
    let Some((loaded, settings)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    let known = crate::spec::Name::parse(&args.name)
        .ok()
        .is_some_and(|n| loaded.workspace.campaigns.contains_key(&n));
    if !known {
        printer.error(&format!(
            "no campaign named `{}` in this workspace",
            args.name
        ));
        return Ok(ExitStatus::Invalid);
    }
    let report = match run_waves(&loaded.workspace, &settings, Action::Stop(&args.name))? {
        Ok(r) => r,
        Err(e) => {
            printer.error(&e.to_string());
            return Ok(ExitStatus::Locked);
        }
    };
    if args.format == Format::Json {
        printer.out(&format!("{}\n", json(&report)))?;
        return Ok(ExitStatus::Success);
    }
    if report.waves.is_empty() {
        printer.out(&format!(
            "campaign {}: no wave is running; nothing to stop\n",
            args.name
        ))?;
        return Ok(ExitStatus::Success);
    }
    printer.out(&lines(&report))?;
    printer.info(&super::head_line(report.ledger_head.as_ref()));
    Ok(ExitStatus::Success)
}

/// One line per wave: its status and what its contacts came to.
pub(super) fn lines(report: &WavesReport) -> String {
    let mut out = String::new();
    for w in &report.waves {
        let t = &w.tally;
        let _ = writeln!(
            out,
            "  campaign {} wave {} ({}): {} messaged (sent), {} failed, {} maybe sent (unknown), {} not messaged (pending), {} still with Genesys",
            w.campaign,
            w.wave,
            w.status.as_str(),
            t.sent,
            t.failed,
            t.unknown,
            t.pending,
            t.handed_off
        );
    }
    out
}

/// The report as one JSON object.
pub(super) fn json(report: &WavesReport) -> serde_json::Value {
    let waves: Vec<serde_json::Value> = report
        .waves
        .iter()
        .map(|w| {
            serde_json::json!({
                "campaign": w.campaign,
                "wave": w.wave,
                "status": w.status.as_str(),
                "sent": w.tally.sent,
                "failed": w.tally.failed,
                "unknown": w.tally.unknown,
                "pending": w.tally.pending,
                "handed_off": w.tally.handed_off,
                "requests": w.tally.requests,
            })
        })
        .collect();
    serde_json::json!({
        "waves": waves,
        "ledger": super::head_json(report.ledger_head.as_ref()),
    })
}
