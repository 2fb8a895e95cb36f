//! `herald status [CAMPAIGN]`: per-campaign counts from the ledger (see
//! [`crate::engine::status`]).

use std::fmt::Write as _;

use herald_ledger::SendState;

use crate::ExitStatus;
use crate::cli::{Format, GlobalArgs, StatusArgs};
use crate::engine::status::{StatusReport, status};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &StatusArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    let StatusReport {
        campaigns: counts,
        suppressions,
    } = status(
        &loaded.workspace,
        !loaded.has_errors(),
        &settings,
        args.campaign.as_deref(),
    )?;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "environment": settings.env.name,
                "suppressions": suppressions,
                "campaigns": counts.iter().map(|c| serde_json::json!({
                    "campaign": c.campaign,
                    "states": c.by_state.iter().map(|(s, n)| (s.as_str().to_owned(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                    "held": c.held,
                    "receipts": c.receipts,
                })).collect::<Vec<_>>(),
            });
            printer.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "environment {} · {} suppressed recipients",
                settings.env.name, suppressions
            );
            let _ = writeln!(
                out,
                "{:<32} {:>7} {:>7} {:>5} {:>7} {:>6} {:>10}  receipts",
                "campaign", "sent", "pending", "held", "unknown", "failed", "suppressed"
            );
            for c in &counts {
                let n = |s: SendState| c.by_state.get(&s).copied().unwrap_or(0);
                let receipts = if c.receipts.is_empty() {
                    "-".to_owned()
                } else {
                    c.receipts
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(
                    out,
                    "{:<32} {:>7} {:>7} {:>5} {:>7} {:>6} {:>10}  {}",
                    c.campaign,
                    n(SendState::Sent),
                    n(SendState::Pending) + n(SendState::Dispatching),
                    c.held,
                    n(SendState::Unknown),
                    n(SendState::Failed),
                    n(SendState::Suppressed),
                    receipts
                );
            }
            printer.out(&out)?;
            let unknown: u64 = counts
                .iter()
                .map(|c| c.by_state.get(&SendState::Unknown).copied().unwrap_or(0))
                .sum();
            if unknown > 0 {
                printer.warn(&format!("{unknown} sends are `unknown` (maybe sent): run `herald reconcile` before resending"));
            }
            let handed: u64 = counts
                .iter()
                .map(|c| c.by_state.get(&SendState::HandedOff).copied().unwrap_or(0))
                .sum();
            if handed > 0 {
                printer.info(&format!("{handed} sends are handed off to a Genesys messaging campaign (not in the columns above): `herald apply` follows the wave, `herald reconcile` reads it back"));
            }
        }
    }
    Ok(ExitStatus::Success)
}
