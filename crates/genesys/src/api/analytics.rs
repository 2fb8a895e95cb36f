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
        let mut out = Vec::new();
        for page_number in 1..=MAX_PAGES {
            let body = ConversationQuery {
                interval: format!("{interval_start}/{interval_end}"),
                order: "asc",
                order_by: "conversationStart",
                segment_filters: [SegmentFilter {
                    kind: "and",
                    predicates: [Predicate {
                        kind: "dimension",
                        dimension: "addressTo",
                        operator: "matches",
                        value: address_to,
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
            for conversation in page.conversations {
                let sessions = conversation.participants.iter().flat_map(|p| &p.sessions);
                let session = sessions
                    .clone()
                    .find(|s| s.address_to.as_deref() == Some(address_to))
                    .or_else(|| sessions.clone().next());
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
                });
            }
            let total = page.total_hits.unwrap_or(0);
            if count < PAGE_SIZE as usize || out.len() as u64 >= total {
                break;
            }
        }
        Ok(out)
    }
}
