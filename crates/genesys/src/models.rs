//! Wire types of the Genesys Cloud API that herald uses, mirroring the official SDK models.
//!
//! Owns the serde shapes (camelCase, unknown fields ignored, absent optional fields omitted
//! on output). Invariants: these types are the client's own and are shared with no other
//! crate (in particular not with the sandbox), so a misnamed field cannot pass silently on
//! both sides; every read type tolerates missing optional fields.

use serde::{Deserialize, Serialize};

/// A reference to another entity (`DomainEntityRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Entity id.
    pub id: String,
    /// Entity name, when the server includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl EntityRef {
    /// A reference by id only.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
        }
    }
}

/// A page of a page-number listing (`…EntityListing`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listing<T> {
    #[serde(default = "Vec::new")]
    pub(crate) entities: Vec<T>,
    #[serde(default)]
    pub(crate) page_count: Option<u32>,
}

/// A Response Management library (`Library`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Library {
    /// Library id.
    pub id: String,
    /// Library name.
    pub name: String,
    /// Version, bumped on each update.
    #[serde(default)]
    pub version: Option<u32>,
}

/// What kind of response a template is (`Response.responseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ResponseType {
    /// A `WhatsApp` messaging template.
    MessagingTemplate,
    /// A campaign SMS template.
    CampaignSmsTemplate,
    /// A campaign email template.
    CampaignEmailTemplate,
    /// A footer (signature).
    Footer,
    /// A form.
    Form,
    /// An Apple Messages invitation.
    AppleInvitation,
    /// A value this client does not know (read only; never sent).
    #[serde(other)]
    Other,
}

impl ResponseType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::MessagingTemplate => "MessagingTemplate",
            ResponseType::CampaignSmsTemplate => "CampaignSmsTemplate",
            ResponseType::CampaignEmailTemplate => "CampaignEmailTemplate",
            ResponseType::Footer => "Footer",
            ResponseType::Form => "Form",
            ResponseType::AppleInvitation => "AppleInvitation",
            ResponseType::Other => "Other",
        }
    }
}

/// `ResponseText.contentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TextContentType {
    /// `text/plain`.
    #[serde(rename = "text/plain")]
    Plain,
    /// `text/html`.
    #[serde(rename = "text/html")]
    Html,
    /// A value this client does not know (read only).
    #[serde(other)]
    Other,
}

/// `ResponseText.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TextType {
    /// The body.
    Body,
    /// An email subject.
    Subject,
    /// A value this client does not know (read only).
    #[serde(other)]
    Other,
}

/// One text of a response (`ResponseText`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseText {
    /// The text, with `{{placeholders}}`.
    pub content: String,
    /// Plain text or HTML.
    pub content_type: TextContentType,
    /// Body or subject (absent for SMS templates).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub text_type: Option<TextType>,
}

/// A declared substitution (`ResponseSubstitution`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseSubstitution {
    /// The placeholder id (what goes between `{{` and `}}`).
    pub id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// A Response Management response as read from Genesys (`Response`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Response id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version; an update must carry the current one.
    #[serde(default)]
    pub version: u32,
    /// Libraries it belongs to.
    #[serde(default)]
    pub libraries: Vec<EntityRef>,
    /// Template type (absent for a standard canned response).
    #[serde(default)]
    pub response_type: Option<ResponseType>,
    /// Texts.
    #[serde(default)]
    pub texts: Vec<ResponseText>,
    /// Declared substitutions.
    #[serde(default)]
    pub substitutions: Vec<ResponseSubstitution>,
    /// Creation time, as sent by the server.
    #[serde(default)]
    pub date_created: Option<String>,
}

/// The writable part of a response, for create and update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseDraft {
    /// Name.
    pub name: String,
    /// Libraries (at least one).
    pub libraries: Vec<EntityRef>,
    /// Template type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<ResponseType>,
    /// Texts.
    pub texts: Vec<ResponseText>,
    /// Declared substitutions.
    pub substitutions: Vec<ResponseSubstitution>,
}

/// The PUT body: the draft plus the version it was based on.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseUpdate<'a> {
    #[serde(flatten)]
    pub(crate) draft: &'a ResponseDraft,
    pub(crate) version: u32,
}

/// Filters for [`crate::GenesysClient::query_responses`]; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseQuery {
    /// Exact response name.
    pub name: Option<String>,
    /// Library id.
    pub library_id: Option<String>,
    /// Response type.
    pub response_type: Option<ResponseType>,
}

/// An agentless SMS: one recipient, final text (placeholders already rendered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentlessSms {
    /// A provisioned SMS number of the org (E.164).
    pub from: String,
    /// The recipient (E.164).
    pub to: String,
    /// The text (≤ 765 characters).
    pub text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAgentlessMessage<'a> {
    pub(crate) from_address: &'a str,
    pub(crate) to_address: &'a str,
    pub(crate) to_address_messenger_type: &'static str,
    pub(crate) text_body: &'a str,
}

/// What Genesys answered to an accepted agentless message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message id (`id`).
    pub message_id: String,
    /// The conversation id.
    pub conversation_id: String,
    /// The message status at acceptance (`message.status`, normally `queued`).
    pub status: Option<String>,
    /// The server's timestamp, as sent.
    pub timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAgentlessResponse {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    #[serde(default)]
    pub(crate) message: Option<WireMessageStatus>,
    #[serde(default)]
    pub(crate) timestamp: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireMessageStatus {
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// An email address with an optional display name (`EmailAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// The address.
    pub email: String,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An agentless email: one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentlessEmail {
    /// Sender (an address on a campaign/agentless domain).
    pub from: EmailAddress,
    /// The recipient.
    pub to: EmailAddress,
    /// Subject (≤ 400 characters).
    pub subject: String,
    /// Plain-text body.
    pub text_body: Option<String>,
    /// HTML body.
    pub html_body: Option<String>,
    /// Reply-to address.
    pub reply_to: Option<EmailAddress>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAgentlessEmail<'a> {
    pub(crate) sender_type: &'static str,
    pub(crate) from_address: &'a EmailAddress,
    pub(crate) to_addresses: [&'a EmailAddress; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to_address: Option<&'a EmailAddress>,
    pub(crate) subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text_body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) html_body: Option<&'a str>,
}

/// What Genesys answered to an accepted agentless email.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    /// The email message id.
    pub id: String,
    /// The conversation id.
    pub conversation_id: String,
}

/// A failure reason on a receipt (`ConversationReason`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConversationReason {
    /// E.g. `RecipientOptedOut`, `InvalidDestination`.
    pub code: String,
    /// Free text.
    #[serde(default)]
    pub message: Option<String>,
}

/// A normalized message or receipt (`ConversationNormalizedMessage`, the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalizedMessage {
    /// `Receipt`, `Text`, …
    #[serde(default, rename = "type")]
    pub message_type: Option<String>,
    /// For receipts: `Sent`, `Delivered`, `Read`, `Failed`, `Published`, `Removed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Failure reasons (for `Failed` receipts).
    #[serde(default)]
    pub reasons: Vec<ConversationReason>,
    /// Whether no further receipt will follow.
    #[serde(default)]
    pub is_final_receipt: Option<bool>,
}

/// A message's details and delivery state (`MessageData`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageData {
    /// Message id.
    pub id: String,
    /// Conversation id.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// `queued`, `sent`, `failed`, `received`, `delivery-success`, `delivery-failed`, `read`,
    /// `removed` or `published`.
    #[serde(default)]
    pub status: Option<String>,
    /// Server timestamp, as sent.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The message itself.
    #[serde(default)]
    pub normalized_message: Option<NormalizedMessage>,
    /// Delivery receipts.
    #[serde(default)]
    pub normalized_receipts: Vec<NormalizedMessage>,
}

impl MessageData {
    /// True when delivery failed (`delivery-failed` or `failed`, or a `Failed` receipt).
    pub fn delivery_failed(&self) -> bool {
        matches!(self.status.as_deref(), Some("delivery-failed" | "failed"))
            || self
                .normalized_receipts
                .iter()
                .any(|r| r.status.as_deref() == Some("Failed"))
    }

    /// Every failure reason code on the message and its receipts.
    pub fn failure_reasons(&self) -> Vec<&str> {
        self.normalized_message
            .iter()
            .chain(&self.normalized_receipts)
            .flat_map(|m| m.reasons.iter().map(|r| r.code.as_str()))
            .collect()
    }

    /// True when a receipt says the recipient opted out (`RecipientOptedOut`).
    pub fn recipient_opted_out(&self) -> bool {
        self.failure_reasons().contains(&"RecipientOptedOut")
    }
}

/// An outbound DNC list (`DncList`, the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DncList {
    /// List id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: Option<u32>,
    /// `rds` (internal), `rds_custom`, `dnc.com` or `gryphon`.
    #[serde(default)]
    pub dnc_source_type: Option<String>,
    /// `Phone`, `Email`, `Any` or `WhatsApp`.
    #[serde(default)]
    pub contact_method: Option<String>,
    /// Number of entries, when the server includes it.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireDncListCreate<'a> {
    pub(crate) name: &'a str,
    pub(crate) dnc_source_type: &'static str,
    pub(crate) contact_method: &'static str,
}

/// One conversation found by the analytics details query, reduced to what reconcile needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// Conversation id.
    pub conversation_id: String,
    /// When it started.
    pub start: Option<jiff::Timestamp>,
    /// Recipient address of the matching session.
    pub address_to: Option<String>,
    /// Sender address of the matching session.
    pub address_from: Option<String>,
    /// `inbound` or `outbound` (session direction, else the conversation's originating one).
    pub direction: Option<String>,
    /// `message`, `email`, …
    pub media_type: Option<String>,
    /// `sms`, … (for messages).
    pub message_type: Option<String>,
    /// The session's delivery status (`AnalyticsSession.deliveryStatus`: `Queued`, `Sent`,
    /// `DeliveryPending`, `DeliverySuccess`, `DeliveryFailed`, `Read`, `Failed`, …), when
    /// Genesys reports one.
    pub delivery_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireConversationQueryResponse {
    #[serde(default)]
    pub(crate) conversations: Vec<WireConversation>,
    #[serde(default)]
    pub(crate) total_hits: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireConversation {
    pub(crate) conversation_id: String,
    #[serde(default)]
    pub(crate) conversation_start: Option<jiff::Timestamp>,
    #[serde(default)]
    pub(crate) originating_direction: Option<String>,
    #[serde(default)]
    pub(crate) participants: Vec<WireParticipant>,
}

#[derive(Deserialize)]
pub(crate) struct WireParticipant {
    #[serde(default)]
    pub(crate) sessions: Vec<WireSession>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSession {
    #[serde(default)]
    pub(crate) address_to: Option<String>,
    #[serde(default)]
    pub(crate) address_from: Option<String>,
    #[serde(default)]
    pub(crate) direction: Option<String>,
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    #[serde(default)]
    pub(crate) message_type: Option<String>,
    #[serde(default)]
    pub(crate) delivery_status: Option<String>,
}

/// One org limit (`Limit`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireLimit {
    #[serde(default)]
    pub(crate) key: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_round_trips_sdk_shape_and_ignores_unknown_fields() {
        let json = r#"{"id":"r1","name":"order-shipped","version":3,
            "libraries":[{"id":"lib","name":"Herald","selfUri":"/x"}],
            "responseType":"CampaignSmsTemplate",
            "texts":[{"content":"Hi {{First}}","contentType":"text/plain"}],
            "substitutions":[{"id":"First","defaultValue":"there"}],
            "interactionType":"chat","createdBy":{"id":"u"},"brandNew":1}"#;
        let r: Response = serde_json::from_str(json).unwrap();
        assert_eq!(r.version, 3);
        assert_eq!(r.response_type, Some(ResponseType::CampaignSmsTemplate));
        assert_eq!(r.texts[0].content_type, TextContentType::Plain);
        assert_eq!(r.substitutions[0].default_value.as_deref(), Some("there"));

        let draft = ResponseDraft {
            name: r.name.clone(),
            libraries: vec![EntityRef::id("lib")],
            response_type: r.response_type,
            texts: vec![ResponseText {
                content: "S".into(),
                content_type: TextContentType::Plain,
                text_type: Some(TextType::Subject),
            }],
            substitutions: vec![],
        };
        let body = serde_json::to_value(ResponseUpdate {
            draft: &draft,
            version: 3,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name":"order-shipped","libraries":[{"id":"lib"}],
                "responseType":"CampaignSmsTemplate",
                "texts":[{"content":"S","contentType":"text/plain","type":"subject"}],
                "substitutions":[],"version":3})
        );
    }

    #[test]
    fn message_data_exposes_opt_out_receipts() {
        let json = r#"{"id":"m1","status":"delivery-failed","conversationId":"c1",
            "normalizedReceipts":[{"type":"Receipt","status":"Failed","isFinalReceipt":true,
              "reasons":[{"code":"RecipientOptedOut","message":"opted out"}]}]}"#;
        let m: MessageData = serde_json::from_str(json).unwrap();
        assert!(m.delivery_failed());
        assert!(m.recipient_opted_out());
        assert_eq!(m.failure_reasons(), vec!["RecipientOptedOut"]);

        let ok: MessageData =
            serde_json::from_str(r#"{"id":"m2","status":"delivery-success"}"#).unwrap();
        assert!(!ok.delivery_failed() && !ok.recipient_opted_out());
    }

    #[test]
    fn unknown_enum_values_do_not_break_reads() {
        let r: Response = serde_json::from_str(
            r#"{"id":"r","name":"n","responseType":"Brand-New","texts":[{"content":"x","contentType":"text/markdown","type":"preheader"}]}"#,
        )
        .unwrap();
        assert_eq!(r.response_type, Some(ResponseType::Other));
        assert_eq!(r.texts[0].content_type, TextContentType::Other);
        assert_eq!(r.texts[0].text_type, Some(TextType::Other));
    }
}
