//! Agentless SMS and email sends, and message details.
//!
//! Owns the send operations. Invariants: a send is an unsafe request — it is repeated only
//! after a 429, a connection that never opened, or a 401 answered by one token refresh; every
//! other failure after the request may have left is `ApiError::Unknown` (maybe sent), and a 2xx
//! whose body cannot be read is `Unknown` too, never an error that invites a resend.

use reqwest::Method;
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::{
    AgentlessEmail, AgentlessSms, MessageData, SentEmail, SentMessage, WireAgentlessEmail,
    WireAgentlessMessage, WireAgentlessResponse,
};

impl GenesysClient {
    /// Sends one SMS through `POST /api/v2/conversations/messages/agentless`.
    #[instrument(skip_all)]
    pub async fn send_sms(&self, sms: &AgentlessSms) -> Result<SentMessage, ApiError> {
        let body = WireAgentlessMessage {
            from_address: &sms.from,
            to_address: &sms.to,
            to_address_messenger_type: "sms",
            text_body: &sms.text,
        };
        let call = Call::new(
            Method::POST,
            "/api/v2/conversations/messages/agentless",
            Class::Unsafe,
        )
        .json(&body)
        .map_err(not_sent)?;
        let wire: WireAgentlessResponse = self.call_json(call, "agentless message").await?;
        Ok(SentMessage {
            message_id: wire.id,
            conversation_id: wire.conversation_id,
            status: wire.message.and_then(|m| m.status),
            timestamp: wire.timestamp,
        })
    }

    /// Sends one email through `POST /api/v2/conversations/emails/agentless`.
    #[instrument(skip_all)]
    pub async fn send_email(&self, email: &AgentlessEmail) -> Result<SentEmail, ApiError> {
        let body = WireAgentlessEmail {
            sender_type: "Outbound",
            from_address: &email.from,
            to_addresses: [&email.to],
            reply_to_address: email.reply_to.as_ref(),
            subject: &email.subject,
            text_body: email.text_body.as_deref(),
            html_body: email.html_body.as_deref(),
        };
        let call = Call::new(
            Method::POST,
            "/api/v2/conversations/emails/agentless",
            Class::Unsafe,
        )
        .json(&body)
        .map_err(not_sent)?;
        self.call_json(call, "agentless email").await
    }

    /// A message's details and delivery receipts
    /// (`GET /api/v2/conversations/messages/{messageId}/details`).
    #[instrument(skip_all)]
    pub async fn message_details(&self, message_id: &str) -> Result<MessageData, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("/api/v2/conversations/messages/{}/details", seg(message_id)),
            Class::Idempotent,
        );
        self.call_json(call, "message details").await
    }
}

/// A body that could not even be encoded was never sent.
#[allow(clippy::needless_pass_by_value)] // used as a `map_err` adapter
fn not_sent(err: ApiError) -> ApiError {
    ApiError::NotSent {
        reason: err.to_string(),
    }
}
