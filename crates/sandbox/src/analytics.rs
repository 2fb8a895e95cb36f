//! `POST /api/v2/analytics/conversations/details/query`: conversation detail records of the
//! accepted messages, filtered by interval and segment predicates on `addressTo`,
//! `addressFrom`, `direction`, `mediaType` and `messageType`.
//!
//! Invariants: a conversation is visible only once `index_delay_secs` have passed since its
//! message was accepted (the indexing delay herald's reconcile must wait out); the interval
//! `start/end` is required and matches `conversationStart` in `[start, end)`; an unknown
//! dimension is a 400, never silently ignored.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};

use crate::app::{AppState, GJson};
use crate::clock::iso;
use crate::error::ApiError;
use crate::messaging::status_at;
use crate::store::{self, AcceptedMessage, Channel};
use crate::wire::{
    AnalyticsConversation, AnalyticsParticipant, AnalyticsQueryResponse, AnalyticsSegment,
    AnalyticsSession, ConversationQuery, SegmentFilter, SegmentPredicate,
};

const DIMENSIONS: [&str; 5] = [
    "addressTo",
    "addressFrom",
    "direction",
    "mediaType",
    "messageType",
];

fn parse_interval(interval: Option<&str>) -> Result<(Timestamp, Timestamp), ApiError> {
    let Some(interval) = interval else {
        return Err(ApiError::missing_field("interval"));
    };
    let bad = || {
        ApiError::invalid_field(
            "interval",
            format!("interval '{interval}' is not an ISO-8601 'start/end' interval."),
        )
    };
    let (start, end) = interval.split_once('/').ok_or_else(bad)?;
    let start: Timestamp = start.parse().map_err(|_| bad())?;
    let end: Timestamp = end.parse().map_err(|_| bad())?;
    if end <= start {
        return Err(bad());
    }
    Ok((start, end))
}

fn session_value<'a>(m: &'a AcceptedMessage, dimension: &str) -> Option<&'a str> {
    match dimension {
        "addressTo" => Some(&m.to),
        "addressFrom" => Some(&m.from),
        "direction" => Some("outbound"),
        "mediaType" => Some(match m.channel {
            Channel::Sms => "message",
            Channel::Email => "email",
        }),
        "messageType" => match m.channel {
            Channel::Sms => Some("sms"),
            Channel::Email => None,
        },
        _ => None,
    }
}

fn predicate_matches(m: &AcceptedMessage, p: &SegmentPredicate) -> bool {
    let dimension = p.dimension.as_deref().unwrap_or_default();
    let value = session_value(m, dimension);
    match p.operator.as_deref().unwrap_or("matches") {
        "exists" => value.is_some(),
        "notExists" => value.is_none(),
        _ => value.is_some_and(|v| Some(v) == p.value.as_deref()),
    }
}

fn filter_matches(m: &AcceptedMessage, f: &SegmentFilter) -> bool {
    let mut results = f
        .predicates
        .iter()
        .map(|p| predicate_matches(m, p))
        .chain(f.clauses.iter().map(|c| filter_matches(m, c)));
    if f.kind == "or" {
        results.any(|r| r)
    } else {
        results.all(|r| r)
    }
}

fn check_filter(f: &SegmentFilter) -> Result<(), ApiError> {
    if f.kind != "and" && f.kind != "or" {
        return Err(ApiError::invalid_field(
            "segmentFilters.type",
            format!("Invalid filter type '{}'.", f.kind),
        ));
    }
    for p in &f.predicates {
        if let Some(kind) = p.kind.as_deref()
            && kind != "dimension"
        {
            return Err(ApiError::invalid_field(
                "segmentFilters.predicates.type",
                format!("The sandbox supports only dimension predicates, not '{kind}'."),
            ));
        }
        match p.dimension.as_deref() {
            Some(d) if DIMENSIONS.contains(&d) => {}
            other => {
                return Err(ApiError::invalid_field(
                    "segmentFilters.predicates.dimension",
                    format!("Unsupported dimension {other:?}; supported: {DIMENSIONS:?}."),
                ));
            }
        }
        match p.operator.as_deref() {
            None | Some("matches" | "exists" | "notExists") => {}
            Some(op) => {
                return Err(ApiError::invalid_field(
                    "segmentFilters.predicates.operator",
                    format!("Invalid operator '{op}'."),
                ));
            }
        }
    }
    f.clauses.iter().try_for_each(check_filter)
}

fn analytics_delivery_status(status: &str) -> &'static str {
    match status {
        "queued" => "Queued",
        "sent" => "Sent",
        "delivery-failed" => "DeliveryFailed",
        "failed" => "Failed",
        "read" => "Read",
        _ => "DeliverySuccess",
    }
}

fn conversation(state: &AppState, m: &AcceptedMessage, now: Timestamp) -> AnalyticsConversation {
    let (media_type, message_type) = match m.channel {
        Channel::Sms => ("message", Some("sms".to_owned())),
        Channel::Email => ("email", None),
    };
    let delivery = (m.channel == Channel::Sms)
        .then(|| analytics_delivery_status(status_at(state, m, now)).to_owned());
    let start = iso(m.accepted_at);
    let session = |purpose_suffix: &str| AnalyticsSession {
        session_id: format!("{}-{purpose_suffix}", m.id),
        media_type: media_type.to_owned(),
        message_type: message_type.clone(),
        direction: "outbound".to_owned(),
        address_from: m.from.clone(),
        address_to: m.to.clone(),
        delivery_status: delivery.clone(),
        delivery_status_change_date: delivery.as_ref().map(|_| start.clone()),
        segments: vec![AnalyticsSegment {
            segment_start: start.clone(),
            segment_end: None,
            segment_type: "interact".to_owned(),
            subject: m.subject.clone(),
        }],
    };
    AnalyticsConversation {
        conversation_id: m.conversation_id.clone(),
        conversation_start: start.clone(),
        conversation_end: None,
        originating_direction: "outbound".to_owned(),
        division_ids: vec![crate::responses::home_division().id.unwrap_or_default()],
        participants: vec![
            AnalyticsParticipant {
                participant_id: format!("{}-api", m.id),
                participant_name: None,
                purpose: "api".to_owned(),
                sessions: vec![session("api")],
            },
            AnalyticsParticipant {
                participant_id: format!("{}-customer", m.id),
                participant_name: None,
                purpose: "customer".to_owned(),
                sessions: vec![session("customer")],
            },
        ],
    }
}

pub(crate) async fn conversation_details_query(
    State(state): State<AppState>,
    GJson(query): GJson<ConversationQuery>,
) -> Result<Json<AnalyticsQueryResponse>, ApiError> {
    let (start, end) = parse_interval(query.interval.as_deref())?;
    query.segment_filters.iter().try_for_each(check_filter)?;
    let paging = query.paging.clone().unwrap_or(crate::wire::PagingSpec {
        page_size: None,
        page_number: None,
    });
    let size = paging.page_size.unwrap_or(25);
    if !(1..=100).contains(&size) {
        return Err(ApiError::invalid_field(
            "paging.pageSize",
            "pageSize must be between 1 and 100.",
        ));
    }
    let number = paging.page_number.unwrap_or(1).max(1);
    let now = state.now();
    let delay_secs = state.runtime().faults.index_delay_secs;
    let delay = SignedDuration::from_secs(i64::try_from(delay_secs).unwrap_or(i64::MAX / 2));
    let all = state.store.call(|c| store::list_messages(c)).await?;
    let mut matching: Vec<&AcceptedMessage> = all
        .iter()
        .filter(|m| m.accepted_at >= start && m.accepted_at < end)
        .filter(|m| {
            m.accepted_at
                .checked_add(delay)
                .is_ok_and(|visible| visible <= now)
        })
        .filter(|m| query.segment_filters.iter().all(|f| filter_matches(m, f)))
        .collect();
    if query.order.as_deref() == Some("desc") {
        matching.reverse();
    }
    let total_hits = matching.len() as u64;
    let skip = usize::try_from((number - 1) * size).unwrap_or(usize::MAX);
    let conversations = matching
        .into_iter()
        .skip(skip)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|m| conversation(&state, m, now))
        .collect();
    Ok(Json(AnalyticsQueryResponse {
        conversations,
        total_hits,
    }))
}
