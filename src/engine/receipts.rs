//! Receipts: poll the delivery status of recent sends, record it in the ledger and suppress
//! recipients Genesys reports as opted out (`RecipientOptedOut`).
//!
//! Crash safety: receipts are recorded before suppressions are added, and failed messages are
//! polled again on every run (their suppression is idempotent), so a crash between the two
//! steps never loses an opt-out. Delivered messages are not polled again.

use std::collections::{BTreeMap, HashSet};

use herald_genesys::ApiError;
use herald_ledger::{Receipt, SentMessage, Suppression};
use jiff::Timestamp;

use crate::settings::EnvSettings;

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

/// A newly added suppression (masked).
#[derive(Debug, serde::Serialize)]
pub(crate) struct NewSuppression {
    /// Masked address.
    pub(crate) masked: String,
    /// The campaign that sent to it.
    pub(crate) campaign: String,
    /// The row key.
    pub(crate) row_key: String,
}

/// What a receipts poll found and did.
#[derive(Debug)]
pub(crate) struct ReceiptsReport {
    /// The start of the window polled.
    pub(crate) since: Timestamp,
    /// Messages sent since then.
    pub(crate) messages: usize,
    /// Messages polled (the others were already delivered).
    pub(crate) polled: usize,
    /// Polled messages Genesys no longer knows.
    pub(crate) not_found: u64,
    /// Receipts recorded in the ledger.
    pub(crate) recorded: usize,
    /// Polled messages by delivery status.
    pub(crate) by_status: BTreeMap<String, u64>,
    /// Recipients suppressed by this poll.
    pub(crate) newly_suppressed: Vec<NewSuppression>,
    /// The ledger's chain head after this poll.
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

/// Polls every message sent in the last `window` whose delivery is not settled.
pub(crate) fn poll_receipts(
    settings: &EnvSettings,
    window: jiff::SignedDuration,
) -> anyhow::Result<ReceiptsReport> {
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(settings, &key)?;
    let since = settings.now.checked_sub(window)?;

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
        let remote = rt.block_on(crate::remote::connect(settings))?;
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

    Ok(ReceiptsReport {
        since,
        messages: seen.len(),
        polled,
        not_found,
        recorded: receipts.len(),
        by_status,
        newly_suppressed: suppressed,
        ledger_head: ledger.head()?,
    })
}
