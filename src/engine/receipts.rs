//! Receipts: poll the delivery status of recent sends, record it in the ledger and suppress
//! recipients Genesys reports as opted out (`RecipientOptedOut`).
//!
//! Crash safety: receipts are recorded before suppressions are added, and failed messages are
//! polled again on every run (their suppression is idempotent), so a crash between the two
//! steps never loses an opt-out. Delivered messages are not polled again.
//!
//! Requests grow with pages, not messages: the delivery status of SMS messages comes from the
//! analytics conversation-details query, one paged query per sender and time slice, matched
//! by conversation id. Only a failed message (whose reason tells an opt-out) and a message the
//! query does not show (an email, or one not indexed yet) are looked up one by one.

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
/// Most messages looked up by one bulk query (a time slice of one sender's sends): well under
/// the query's 10,000 conversations, leaving room for the sender's other traffic.
const BULK_SLICE: usize = 2000;
/// How long before a message was recorded `sent` its conversation may have started.
const BULK_BEFORE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

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
    /// Polled messages whose status came from a bulk analytics query.
    pub(crate) in_bulk: usize,
    /// Polled messages looked up one request each (failures, emails, not indexed yet).
    pub(crate) one_by_one: usize,
    /// Receipts recorded in the ledger.
    pub(crate) recorded: usize,
    /// Polled messages by delivery status.
    pub(crate) by_status: BTreeMap<String, u64>,
    /// Recipients suppressed by this poll.
    pub(crate) newly_suppressed: Vec<NewSuppression>,
    /// The ledger's chain head after this poll.
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

/// The message status (`MessageData.status` spelling) an analytics session's `deliveryStatus`
/// stands for; `None` for a status that needs the message itself.
fn status_of_delivery(delivery: &str) -> Option<&'static str> {
    Some(match delivery {
        "DeliverySuccess" => "delivery-success",
        "Read" => "read",
        "Sent" | "DeliveryPending" => "sent",
        "Queued" => "queued",
        // A failure's reason (an opt-out?) is only on the message: looked up one by one.
        _ => return None,
    })
}

/// Polls every message sent in the last `window` whose delivery is not settled; `from` gives
/// a campaign's sender (for the bulk query), `on_progress` how many of the messages to poll
/// have a status so far.
pub(crate) fn poll_receipts(
    settings: &EnvSettings,
    window: jiff::SignedDuration,
    from: &dyn Fn(&str) -> Option<String>,
    on_progress: &mut dyn FnMut(u64, u64),
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
    let (mut in_bulk, mut one_by_one) = (0usize, 0usize);
    // Nothing to poll needs no connection (nor credentials).
    let result: anyhow::Result<()> = if todo.is_empty() {
        Ok(())
    } else {
        let rt = super::runtime()?;
        let remote = rt.block_on(crate::remote::connect(settings))?;
        let result = rt.block_on(async {
            let bulk = bulk_statuses(&remote.client, &todo, from, on_progress).await?;
            for (done, m) in todo.iter().enumerate() {
                if let Some(status) = m.conversation_id.as_ref().and_then(|c| bulk.get(c)) {
                    in_bulk += 1;
                    *by_status.entry((*status).to_owned()).or_default() += 1;
                    if FINAL.contains(status) && m.last_status.as_deref() != Some(*status) {
                        receipts.push(Receipt {
                            message_id: m.message_id.clone(),
                            status: (*status).to_owned(),
                            reason: None,
                            at: settings.now,
                        });
                    }
                    continue;
                }
                one_by_one += 1;
                if done % 100 == 0 {
                    on_progress((in_bulk + one_by_one) as u64, polled as u64);
                }
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
        in_bulk,
        one_by_one,
        recorded: receipts.len(),
        by_status,
        newly_suppressed: suppressed,
        ledger_head: ledger.head()?,
    })
}

/// Delivery statuses by conversation id for the SMS messages of `todo` that carry one, from
/// the analytics query: per sender, the messages in time order, one paged query per slice of
/// [`BULK_SLICE`] messages.
async fn bulk_statuses(
    client: &herald_genesys::GenesysClient,
    todo: &[SentMessage],
    from: &dyn Fn(&str) -> Option<String>,
    on_progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<std::collections::HashMap<String, &'static str>> {
    let mut by_from: BTreeMap<String, Vec<&SentMessage>> = BTreeMap::new();
    for m in todo {
        if m.channel == crate::spec::Channel::Sms
            && m.conversation_id.is_some()
            && let Some(sender) = from(&m.campaign)
        {
            by_from.entry(sender).or_default().push(m);
        }
    }
    let mut statuses = std::collections::HashMap::new();
    let total = todo.len() as u64;
    let mut looked = 0u64;
    for (sender, mut messages) in by_from {
        messages.sort_by_key(|m| m.sent_at);
        for slice in messages.chunks(BULK_SLICE) {
            let first = slice[0].sent_at;
            let last = slice[slice.len() - 1].sent_at;
            let start = first.checked_sub(BULK_BEFORE).unwrap_or(first);
            // A conversation starts when its message is dispatched, before it is recorded.
            let end = last
                .checked_add(jiff::SignedDuration::from_secs(1))
                .unwrap_or(last);
            let wanted: HashSet<&str> = slice
                .iter()
                .filter_map(|m| m.conversation_id.as_deref())
                .collect();
            let conversations = client
                .conversations_from(&sender, start, end)
                .await
                .map_err(|e| anyhow::Error::new(e).context("reading delivery statuses in bulk"))?;
            for c in conversations {
                if wanted.contains(c.conversation_id.as_str())
                    && let Some(status) = c.delivery_status.as_deref().and_then(status_of_delivery)
                {
                    statuses.insert(c.conversation_id, status);
                }
            }
            looked += slice.len() as u64;
            on_progress(looked, total);
        }
    }
    Ok(statuses)
}

#[cfg(test)]
mod tests {
    use super::status_of_delivery;

    #[test]
    fn only_statuses_without_a_reason_to_read_are_taken_from_analytics() {
        assert_eq!(
            status_of_delivery("DeliverySuccess"),
            Some("delivery-success")
        );
        assert_eq!(status_of_delivery("Read"), Some("read"));
        assert_eq!(status_of_delivery("Queued"), Some("queued"));
        // A failure may be an opt-out: its reason is on the message.
        assert_eq!(status_of_delivery("DeliveryFailed"), None);
        assert_eq!(status_of_delivery("Failed"), None);
        assert_eq!(status_of_delivery("Received"), None);
    }
}
