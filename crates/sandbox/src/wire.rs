//! The sandbox's own wire types: serde mirrors of the Genesys Cloud models (field names as in
//! the official SDK's `models/`, camelCase JSON). They are shared with no client code, so a
//! misnamed field cannot pass silently on both sides.
//!
//! Invariants: optional fields are omitted when absent (Genesys never sends `null`s for unset
//! fields); request types accept unknown fields (the real API ignores them) but enums are
//! checked by the handlers so that errors name the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Genesys `ErrorBody`: the body of every non-OAuth error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human-readable message.
    pub message: String,
    /// Machine-readable code, e.g. `not.found`.
    pub code: String,
    /// HTTP status.
    pub status: u16,
    /// Entity concerned (404s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Message with `{param}` placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_with_params: Option<String>,
    /// Values for `messageWithParams`.
    pub message_params: BTreeMap<String, String>,
    /// Correlation id of the request.
    pub context_id: String,
    /// Field-level details.
    pub details: Vec<Detail>,
    /// Nested errors.
    pub errors: Vec<ErrorBody>,
    /// The limit that was hit (429s from a named limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
}

/// Genesys `Detail`: one field-level problem in an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// Code of this problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// JSON field (or query parameter) at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    /// Entity concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Name of the entity concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

/// Genesys `Limit`: a named org limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Limit key, e.g. `client.credentials.token.rate.per.minute`.
    pub key: String,
    /// Namespace, e.g. `platform.api`.
    pub namespace: String,
    /// Value of the limit.
    pub value: i64,
}

/// Genesys `LimitsEntityListing` (organization limits of one namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsEntityListing {
    /// The limits.
    pub entities: Vec<Limit>,
}

/// OAuth token success body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The opaque bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// OAuth error body (not an `ErrorBody`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// OAuth error code, e.g. `invalid_client`.
    pub error: String,
    /// Description.
    pub description: String,
    /// Same description, OAuth-standard field name.
    pub error_description: String,
}

/// Genesys `DomainEntityRef` / `WritableDivision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Entity id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Entity name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URI of the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// Genesys `AddressableEntityRef` / minimal `User` (`createdBy`, `user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// User (or OAuth client) id.
    pub id: String,
    /// URI of the user.
    pub self_uri: String,
}

/// Genesys `Library`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Library {
    /// Library id (server-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Library name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version; required on PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserRef>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// Deprecated library response type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<EntityRef>,
    /// URI of the library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// Genesys `ResponseText`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseText {
    /// The text.
    pub content: String,
    /// `text/plain` or `text/html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `body` or `subject`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Genesys `ResponseSubstitution`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseSubstitution {
    /// Substitution id (the placeholder name).
    pub id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// Genesys `Response` (a canned response / campaign template).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Response id (server-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version; required on PUT and must equal the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Libraries holding the response (at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libraries: Option<Vec<EntityRef>>,
    /// Texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<ResponseText>>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserRef>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// `chat`, `email` or `twitter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction_type: Option<String>,
    /// Declared substitutions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitutions: Option<Vec<ResponseSubstitution>>,
    /// Response type (absent = standard canned response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// URI of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// Genesys page-number listing envelope (`LibraryEntityListing`, `ResponseEntityListing`,
/// `DncListEntityListing`, `ResponseEntityList`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing<T> {
    /// The page's entities.
    pub entities: Vec<T>,
    /// Page size.
    pub page_size: u32,
    /// Page number (1-based).
    pub page_number: u32,
    /// Total number of entities.
    pub total: u64,
    /// Number of pages.
    pub page_count: u32,
    /// URI of the first page.
    pub first_uri: String,
    /// URI of this page.
    pub self_uri: String,
    /// URI of the last page.
    pub last_uri: String,
    /// URI of the next page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    /// URI of the previous page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
}

/// Genesys `ResponseQueryRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseQueryRequest {
    /// Free-text phrase matched against response names.
    #[serde(default)]
    pub query_phrase: Option<String>,
    /// Page size (default 25, max 500).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Page number (default 1).
    #[serde(default)]
    pub page_number: Option<u32>,
    /// Filters, all of which must match.
    #[serde(default)]
    pub filters: Vec<ResponseFilter>,
}

/// Genesys `ResponseFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseFilter {
    /// `name`, `libraryId`, `responseType`, …
    pub name: String,
    /// `IN`, `EQUALS`, `NOTEQUALS`, `BEGINS_WITH`, `ENDS_WITH`, `CONTAINS`.
    pub operator: String,
    /// Values compared with.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Genesys `ResponseQueryResults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseQueryResults {
    /// The matching page.
    pub results: Listing<Response>,
}

/// Genesys `SendAgentlessOutboundMessageRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentlessMessageRequest {
    /// Provisioned sender (SMS: E.164 number).
    #[serde(default)]
    pub from_address: Option<String>,
    /// Recipient (SMS: E.164).
    #[serde(default)]
    pub to_address: Option<String>,
    /// External contact id.
    #[serde(default)]
    pub external_contact_id: Option<String>,
    /// `sms`, `whatsapp`, `open`, `webmessaging`, `apple`.
    #[serde(default)]
    pub to_address_messenger_type: Option<String>,
    /// Pre-rendered text (SMS ≤ 765 characters).
    #[serde(default)]
    pub text_body: Option<String>,
    /// `WhatsApp` template reference.
    #[serde(default)]
    pub messaging_template: Option<serde_json::Value>,
    /// Reuse a connected conversation.
    #[serde(default)]
    pub use_existing_active_conversation: Option<bool>,
}

/// Genesys `SendAgentlessOutboundMessageResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentlessMessageResponse {
    /// Message id.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// Sender.
    pub from_address: String,
    /// Recipient.
    pub to_address: String,
    /// Messenger type.
    pub messenger_type: String,
    /// Whether an active conversation was reused.
    pub use_existing_active_conversation: bool,
    /// The message as stored.
    pub message: MessageData,
    /// Acceptance time.
    pub timestamp: String,
    /// The OAuth client that sent it.
    pub user: UserRef,
    /// URI of the message.
    pub self_uri: String,
}

/// Genesys `MessageData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageData {
    /// Message id.
    pub id: String,
    /// Time of the message.
    pub timestamp: String,
    /// Sender.
    pub from_address: String,
    /// Recipient.
    pub to_address: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Messenger type.
    pub messenger_type: String,
    /// `queued`, `sent`, `delivery-success`, `delivery-failed`, …
    pub status: String,
    /// The message content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_message: Option<NormalizedMessage>,
    /// Delivery receipts so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalized_receipts: Vec<NormalizedMessage>,
    /// Conversation id.
    pub conversation_id: String,
    /// URI of the message.
    pub self_uri: String,
}

/// Genesys `ConversationNormalizedMessage` (content or receipt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalizedMessage {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `Text` or `Receipt`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of a `Text` message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Receipt status: `Sent`, `Delivered`, `Failed`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Failure reasons of a `Failed` receipt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ConversationReason>,
    /// Whether this is the last receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_final_receipt: Option<bool>,
    /// `Inbound` or `Outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// Genesys `ConversationReason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationReason {
    /// Reason code, e.g. `RecipientOptedOut`.
    pub code: String,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Genesys `EmailAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Genesys `AgentlessEmailSendRequestDto`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentlessEmailRequest {
    /// Must be `Outbound`.
    #[serde(default)]
    pub sender_type: Option<String>,
    /// Existing email conversation to join.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Sender (a provisioned domain).
    #[serde(default)]
    pub from_address: Option<EmailAddress>,
    /// Exactly one recipient.
    #[serde(default)]
    pub to_addresses: Option<Vec<EmailAddress>>,
    /// Reply-to address.
    #[serde(default)]
    pub reply_to_address: Option<EmailAddress>,
    /// Subject (≤ 400 characters).
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain-text body.
    #[serde(default)]
    pub text_body: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub html_body: Option<String>,
}

/// Genesys `AgentlessEmailSendResponseDto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentlessEmailResponse {
    /// Message id.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// `Outbound`.
    pub sender_type: String,
    /// Sender.
    pub from_address: EmailAddress,
    /// Recipients.
    pub to_addresses: Vec<EmailAddress>,
    /// Reply-to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_address: Option<EmailAddress>,
    /// Subject.
    pub subject: String,
    /// Acceptance time.
    pub date_created: String,
    /// URI of the email conversation.
    pub self_uri: String,
}

/// Genesys `DncList` / `DncListCreate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DncList {
    /// Id (server-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// Last modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Number of entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// `rds` (internal), `rds_custom`, `dnc.com`, `gryphon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnc_source_type: Option<String>,
    /// `Email`, `Phone`, `Any`, `WhatsApp` (required for `rds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_method: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<EntityRef>,
    /// URI of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// Genesys `ConversationQuery` (the subset the sandbox evaluates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationQuery {
    /// `start/end`, ISO-8601 (required).
    #[serde(default)]
    pub interval: Option<String>,
    /// Segment filters; all must match.
    #[serde(default)]
    pub segment_filters: Vec<SegmentFilter>,
    /// `asc`, `desc` or `unordered`.
    #[serde(default)]
    pub order: Option<String>,
    /// Sort key.
    #[serde(default)]
    pub order_by: Option<String>,
    /// Paging.
    #[serde(default)]
    pub paging: Option<PagingSpec>,
}

/// Genesys `SegmentDetailQueryFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentFilter {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Nested clauses (each a filter of predicates).
    #[serde(default)]
    pub clauses: Vec<SegmentFilter>,
    /// Predicates.
    #[serde(default)]
    pub predicates: Vec<SegmentPredicate>,
}

/// Genesys `SegmentDetailQueryPredicate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentPredicate {
    /// `dimension` (default), `property` or `metric`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Dimension name, e.g. `addressTo`.
    #[serde(default)]
    pub dimension: Option<String>,
    /// `matches` (default), `exists`, `notExists`.
    #[serde(default)]
    pub operator: Option<String>,
    /// Value to match.
    #[serde(default)]
    pub value: Option<String>,
}

/// Genesys `PagingSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingSpec {
    /// Page size (default 25, max 100).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Page number (default 1).
    #[serde(default)]
    pub page_number: Option<u32>,
}

/// Genesys `AnalyticsConversationQueryResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsQueryResponse {
    /// Matching conversations (omitted when none match, as the real API does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<AnalyticsConversation>,
    /// Total number of matches.
    pub total_hits: u64,
}

/// Genesys `AnalyticsConversationWithoutAttributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConversation {
    /// Conversation id.
    pub conversation_id: String,
    /// Start time.
    pub conversation_start: String,
    /// End time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_end: Option<String>,
    /// `outbound` for agentless sends.
    pub originating_direction: String,
    /// Division ids.
    pub division_ids: Vec<String>,
    /// Participants.
    pub participants: Vec<AnalyticsParticipant>,
}

/// Genesys `AnalyticsParticipantWithoutAttributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsParticipant {
    /// Participant id.
    pub participant_id: String,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    /// `api`, `customer`, …
    pub purpose: String,
    /// Sessions.
    pub sessions: Vec<AnalyticsSession>,
}

/// Genesys `AnalyticsSession`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSession {
    /// Session id.
    pub session_id: String,
    /// `message` or `email`.
    pub media_type: String,
    /// `sms` for SMS sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Sender address.
    pub address_from: String,
    /// Recipient address.
    pub address_to: String,
    /// `Queued`, `Sent`, `DeliverySuccess`, `DeliveryFailed`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<String>,
    /// Time of the last delivery status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status_change_date: Option<String>,
    /// Segments.
    pub segments: Vec<AnalyticsSegment>,
}

/// Genesys `AnalyticsConversationSegment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSegment {
    /// Segment start.
    pub segment_start: String,
    /// Segment end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_end: Option<String>,
    /// `interact`, …
    pub segment_type: String,
    /// Email subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}
