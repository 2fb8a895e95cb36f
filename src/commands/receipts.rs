//! `herald receipts`: polls the delivery status of recent sends, records it in the ledger and
//! suppresses recipients Genesys reports as opted out (`RecipientOptedOut`).
//!
//! Crash safety: receipts are recorded before suppressions are added, and failed messages are
//! polled again on every run (their suppression is idempotent), so a crash between the two
//! steps never loses an opt-out. Delivered messages are not polled again.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use herald_genesys::ApiError;
use herald_ledger::{Receipt, SentMessage, Suppression};

use crate::ExitStatus;
use crate::cli::{Format, GlobalArgs, ReceiptsArgs};
use crate::output::Printer;

/// Receipts of these statuses never change again.
const SETTLED: [&str; 2] = ["delivery-success", "read"];
/// Statuses after which Genesys will not move the message on.
const FINAL: [&str; 5] = [
    "delivery-success",
    "read",
    "delivery-failed",
    "failed",
    "removed",
];
/// The failure reason that means the recipient opted out at the carrier or in Genesys.
pub(crate) const OPTED_OUT: &str = "RecipientOptedOut";
const PAGE: usize = 1000;

/// A newly added suppression, for the summary (masked).
#[derive(Debug, serde::Serialize)]
struct NewSuppression {
    masked: String,
    campaign: String,
    row_key: String,
}

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ReceiptsArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (_, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    let since = settings.now.checked_sub(args.since)?;

    // Every `sent` message since then, except those whose delivery is already settled.
    let mut todo: Vec<SentMessage> = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = since;
    loop {
        let page = ledger.recent_sent(cursor, PAGE)?;
        let full = page.len() == PAGE;
        let mut fresh = 0;
        for m in page {
            cursor = cursor.max(m.sent_at);
            if seen.insert(m.message_id.clone()) {
                fresh += 1;
                if !m
                    .last_status
                    .as_deref()
                    .is_some_and(|s| SETTLED.contains(&s))
                {
                    todo.push(m);
                }
            }
        }
        if !full || fresh == 0 {
            break;
        }
    }

    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut receipts = Vec::new();
    let mut not_found = 0u64;
    let polled = todo.len();
    // Nothing to poll needs no connection (nor credentials).
    let result: anyhow::Result<()> = if todo.is_empty() {
        Ok(())
    } else {
        let rt = super::runtime()?;
        let remote = rt.block_on(crate::remote::connect(&settings))?;
        let result = rt.block_on(async {
            for m in &todo {
                let data = match remote.client.message_details(&m.message_id).await {
                    Ok(d) => d,
                    Err(ApiError::NotFound { .. }) => {
                        not_found += 1;
                        continue;
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("polling message details")),
                };
                let status = data.status.clone().unwrap_or_else(|| "unknown".to_owned());
                *by_status.entry(status.clone()).or_default() += 1;
                let reason = if data.recipient_opted_out() {
                    Some(OPTED_OUT.to_owned())
                } else {
                    data.failure_reasons().first().map(|r| (*r).to_owned())
                };
                // Only final statuses are worth a ledger row; failures are re-recorded on each
                // run so an interrupted suppression is retried.
                let changed = m.last_status.as_deref() != Some(status.as_str());
                let opted_out = reason.as_deref() == Some(OPTED_OUT);
                if FINAL.contains(&status.as_str()) && (changed || opted_out) {
                    let at = data
                        .timestamp
                        .as_deref()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(settings.now);
                    receipts.push(Receipt {
                        message_id: m.message_id.clone(),
                        status,
                        reason,
                        at,
                    });
                }
            }
            Ok(())
        });
        rt.block_on(remote.shutdown());
        result
    };
    result?;

    let matches = ledger.record_receipts(&receipts)?;
    let mut suppressed = Vec::new();
    for (receipt, found) in receipts.iter().zip(matches) {
        let Some(found) = found else { continue };
        if receipt.reason.as_deref() != Some(OPTED_OUT) {
            continue;
        }
        let new = ledger.suppress(&Suppression {
            recipient: found.recipient,
            masked: found.masked.clone(),
            channel: Some(found.channel),
            reason: OPTED_OUT.to_owned(),
            source: "receipts".to_owned(),
        })?;
        if new {
            suppressed.push(NewSuppression {
                masked: found.masked,
                campaign: found.campaign,
                row_key: found.row_key,
            });
        }
    }

    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "since": since.to_string(),
                "messages": seen.len(),
                "polled": polled,
                "not_found": not_found,
                "recorded": receipts.len(),
                "by_status": by_status,
                "newly_suppressed": suppressed,
            });
            printer.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{} message{} sent since {}; polled {polled} ({} already delivered)",
                seen.len(),
                if seen.len() == 1 { "" } else { "s" },
                since.strftime("%Y-%m-%d %H:%M:%SZ"),
                seen.len() - polled
            );
            for (status, n) in &by_status {
                let _ = writeln!(out, "  {status:<18} {n}");
            }
            if not_found > 0 {
                let _ = writeln!(out, "  {:<18} {not_found}", "not found");
            }
            let _ = writeln!(out, "{} newly suppressed", suppressed.len());
            for s in &suppressed {
                let _ = writeln!(
                    out,
                    "  {}  {OPTED_OUT}  ({} / {})",
                    s.masked, s.campaign, s.row_key
                );
            }
            printer.out(&out)?;
        }
    }
    Ok(ExitStatus::Success)
}
