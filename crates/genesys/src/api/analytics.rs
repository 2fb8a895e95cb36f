//! The analytics conversation-details query, used to resolve maybe-sent messages.
//!
//! Owns `find_conversations`. Invariants: the query is read-only and therefore idempotent;
//! results are flattened to one summary per conversation, taken from the session addressed to
//! the searched address when there is one. Callers must remember that detail records appear
//! only after an indexing delay: "not found" is not "not sent" until that delay has passed.

use reqwest::Method;
use serde::Serialize;
use tracing::instrument;

use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::{ConversationSummary, WireConversationQueryResponse};

const PAGE_SIZE: u32 = 100;
const MAX_PAGES: u32 = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationQuery<'a> {
    interval: String,
    order: &'static str,
    order_by: &'static str,
    segment_filters: [SegmentFilter<'a>; 1],
    paging: Paging,
}

#[derive(Serialize)]
struct SegmentFilter<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    predicates: [Predicate<'a>; 1],
}

#[derive(Serialize)]
struct Predicate<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    dimension: &'static str,
    operator: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    page_size: u32,
    page_number: u32,
}

impl GenesysClient {
    /// Conversations with a session addressed to `address_to` that started in
    /// `[interval_start, interval_end)`, oldest first (all pages).
    #[instrument(skip_all)]
    pub async fn find_conversations(
        &self,
        address_to: &str,
        interval_start: jiff::Timestamp,
        interval_end: jiff::Timestamp,
    ) -> Result<Vec<ConversationSummary>, ApiError> {
        self.details_query(
            "addressTo",
            address_to,
            interval_start,
            interval_end,
            MAX_PAGES,
        )
        .await
    }

    /// Every outbound conversation sent from `address_from` (an SMS number or an email address)
    /// that started in `[interval_start, interval_end)`, oldest first, one summary per
    /// conversation with the recipient in `address_to` — for reconciling many unknown sends at
    /// once: one query per time slice and sender, paged (`pageSize` 100, `pageNumber` 1, 2, …
    /// until a short page or `totalHits`), so requests grow with pages, not rows; the caller
    /// matches recipients locally.
    ///
    /// Conversations outside the interval are dropped here too (the API returns conversations
    /// "that started on a day touched by the interval"), so the result is exact whichever way
    /// the server reads the interval. More than 100 pages (10,000 conversations) in one slice is
    /// an `ApiError::Decode` asking for a shorter slice.
    #[instrument(skip_all)]
    pub async fn conversations_from(
        &self,
        address_from: &str,
        interval_start: jiff::Timestamp,
        interval_end: jiff::Timestamp,
    ) -> Result<Vec<ConversationSummary>, ApiError> {
        self.details_query(
            "addressFrom",
            address_from,
            interval_start,
            interval_end,
            MAX_PAGES,
        )
        .await
    }

    async fn details_query(
        &self,
        dimension: &'static str,
        value: &str,
        interval_start: jiff::Timestamp,
        interval_end: jiff::Timestamp,
        max_pages: u32,
    ) -> Result<Vec<ConversationSummary>, ApiError> {
        let mut out = Vec::new();
        let mut seen = 0u64;
        for page_number in 1..=max_pages {
            let body = ConversationQuery {
                interval: format!("{interval_start}/{interval_end}"),
                order: "asc",
                order_by: "conversationStart",
                segment_filters: [SegmentFilter {
                    kind: "and",
                    predicates: [Predicate {
                        kind: "dimension",
                        dimension,
                        operator: "matches",
                        value,
                    }],
                }],
                paging: Paging {
                    page_size: PAGE_SIZE,
                    page_number,
                },
            };
            let call = Call::new(
                Method::POST,
                "/api/v2/analytics/conversations/details/query",
                Class::Idempotent,
            )
            .json(&body)?;
            let page: WireConversationQueryResponse =
                self.call_json(call, "conversation details query").await?;
            let count = page.conversations.len();
            seen += count as u64;
            for conversation in page.conversations {
                let sessions = conversation.participants.iter().flat_map(|p| &p.sessions);
                let wanted = |s: &&crate::models::WireSession| match dimension {
                    "addressFrom" => s.address_from.as_deref() == Some(value),
                    _ => s.address_to.as_deref() == Some(value),
                };
                let session = sessions
                    .clone()
                    .find(wanted)
                    .or_else(|| sessions.clone().next());
                let in_interval = conversation
                    .conversation_start
                    .is_none_or(|t| t >= interval_start && t < interval_end);
                if !in_interval {
                    continue;
                }
                out.push(ConversationSummary {
                    conversation_id: conversation.conversation_id,
                    start: conversation.conversation_start,
                    address_to: session.and_then(|s| s.address_to.clone()),
                    address_from: session.and_then(|s| s.address_from.clone()),
                    direction: session
                        .and_then(|s| s.direction.clone())
                        .or(conversation.originating_direction),
                    media_type: session.and_then(|s| s.media_type.clone()),
                    message_type: session.and_then(|s| s.message_type.clone()),
                    delivery_status: session.and_then(|s| s.delivery_status.clone()),
                });
            }
            let total = page.total_hits.unwrap_or(0);
            if count < PAGE_SIZE as usize || seen >= total {
                return Ok(out);
            }
        }
        Err(ApiError::Decode {
            what: "conversation details query",
            reason: format!(
                "more than {} conversations in one interval; query a shorter interval",
                u64::from(max_pages) * u64::from(PAGE_SIZE)
            ),
        })
    }
}
