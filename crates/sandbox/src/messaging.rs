//! Agentless messaging: `POST /api/v2/conversations/messages/agentless`,
//! `POST /api/v2/conversations/emails/agentless`, `GET .../messages/{id}/details`, and inbound
//! replies (opt-out keywords, forwarding to a Data-Action-like URL).
//!
//! Invariants: a send is validated completely before anything is stored; an accepted send is
//! committed to the store before the 202 is written or the connection is dropped; status is a
//! pure function of (acceptance time, now, opted-out-at-acceptance): `queued` for one delivery
//! step, `sent` for the next, then `delivery-success`, or `delivery-failed` with reason
//! `RecipientOptedOut` if the recipient had replied STOP before the send.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use crate::app::{AppState, Caller, ConnAbort, DropAfterAccept, GJson};
use crate::clock::iso;
use crate::error::{ApiError, SandboxError};
use crate::store::{self, AcceptedMessage, Channel, InboundMessage};
use crate::wire::{
    AgentlessEmailRequest, AgentlessEmailResponse, AgentlessMessageRequest,
    AgentlessMessageResponse, ConversationReason, EmailAddress, MessageData, NormalizedMessage,
    UserRef,
};

/// Maximum SMS `textBody` length, in characters.
pub const SMS_MAX_CHARS: usize = 765;
/// Maximum `textBody` length for other messenger types.
pub(crate) const OTHER_MAX_CHARS: usize = 2000;
/// Maximum email subject length, in characters.
pub const EMAIL_SUBJECT_MAX_CHARS: usize = 400;
const MESSENGER_TYPES: [&str; 5] = ["sms", "whatsapp", "open", "webmessaging", "apple"];
const OPT_OUT_KEYWORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
const OPT_IN_KEYWORDS: [&str; 3] = ["START", "YES", "UNSTOP"];

/// Whether `s` is an E.164 number: `+`, a non-zero digit, 1–14 more digits.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Lifecycle status of a message at `now`.
pub(crate) fn status_at(state: &AppState, m: &AcceptedMessage, now: Timestamp) -> &'static str {
    let elapsed = now.duration_since(m.accepted_at);
    if elapsed < state.delivery_step {
        "queued"
    } else if elapsed < state.delivery_step * 2 {
        "sent"
    } else if m.recipient_opted_out {
        "delivery-failed"
    } else {
        "delivery-success"
    }
}

fn message_data(state: &AppState, m: &AcceptedMessage, now: Timestamp) -> MessageData {
    let status = status_at(state, m, now);
    let mut receipts = Vec::new();
    if status != "queued" {
        receipts.push(receipt(m, "Sent", false, None));
    }
    match status {
        "delivery-success" => receipts.push(receipt(m, "Delivered", true, None)),
        "delivery-failed" => receipts.push(receipt(
            m,
            "Failed",
            true,
            Some(ConversationReason {
                code: "RecipientOptedOut".to_owned(),
                message: Some(
                    "The recipient has opted out of messages from this sender.".to_owned(),
                ),
            }),
        )),
        _ => {}
    }
    MessageData {
        id: m.id.clone(),
        timestamp: iso(m.accepted_at),
        from_address: m.from.clone(),
        to_address: m.to.clone(),
        direction: "outbound".to_owned(),
        messenger_type: "sms".to_owned(),
        status: status.to_owned(),
        normalized_message: Some(NormalizedMessage {
            id: Some(m.id.clone()),
            kind: "Text".to_owned(),
            text: m.text.clone(),
            status: None,
            reasons: Vec::new(),
            is_final_receipt: None,
            direction: Some("Outbound".to_owned()),
        }),
        normalized_receipts: receipts,
        conversation_id: m.conversation_id.clone(),
        self_uri: format!("/api/v2/conversations/messages/{}/details", m.id),
    }
}

fn receipt(
    m: &AcceptedMessage,
    status: &str,
    is_final: bool,
    reason: Option<ConversationReason>,
) -> NormalizedMessage {
    NormalizedMessage {
        id: Some(m.id.clone()),
        kind: "Receipt".to_owned(),
        text: None,
        status: Some(status.to_owned()),
        reasons: reason.into_iter().collect(),
        is_final_receipt: Some(is_final),
        direction: Some("Outbound".to_owned()),
    }
}

fn validate_sms(
    state: &AppState,
    body: &AgentlessMessageRequest,
) -> Result<(String, String, String), ApiError> {
    let Some(kind) = body.to_address_messenger_type.as_deref() else {
        return Err(ApiError::missing_field("toAddressMessengerType"));
    };
    if !MESSENGER_TYPES.contains(&kind) {
        return Err(ApiError::invalid_field(
            "toAddressMessengerType",
            format!("Invalid toAddressMessengerType '{kind}'."),
        ));
    }
    let Some(from) = body.from_address.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::missing_field("fromAddress"));
    };
    if kind != "sms" {
        // The sandbox provisions SMS numbers only; other channels need an integration id.
        return Err(ApiError::invalid_field(
            "fromAddress",
            format!("No {kind} integration with id '{from}' exists in this organization."),
        ));
    }
    if !state.runtime().org.sms_numbers.iter().any(|n| n == from) {
        return Err(ApiError::invalid_field(
            "fromAddress",
            format!("'{from}' is not an SMS number provisioned in this organization."),
        ));
    }
    let Some(to) = body.to_address.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::missing_field("toAddress"));
    };
    if !is_e164(to) {
        return Err(ApiError::invalid_field(
            "toAddress",
            format!("toAddress '{to}' is not a valid E.164 phone number."),
        ));
    }
    let Some(text) = body.text_body.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::missing_field("textBody"));
    };
    let limit = if kind == "sms" {
        SMS_MAX_CHARS
    } else {
        OTHER_MAX_CHARS
    };
    let chars = text.chars().count();
    if chars > limit {
        return Err(ApiError::invalid_field(
            "textBody",
            format!("textBody is {chars} characters; the maximum is {limit}."),
        ));
    }
    Ok((from.to_owned(), to.to_owned(), text.to_owned()))
}

/// Closes the connection without a response if this send drew the drop fault; otherwise
/// returns the response. The message is already committed when this runs.
pub(crate) async fn answer_or_drop(
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    response: Response,
) -> Response {
    if let (
        Some(axum::Extension(DropAfterAccept(true))),
        Some(axum::Extension(ConnAbort(notify))),
    ) = (drop, abort)
    {
        tracing::debug!("dropping the connection after accepting a message (injected fault)");
        notify.notify_one();
        // The connection task drops this future together with the connection.
        std::future::pending::<()>().await;
    }
    response
}

pub(crate) async fn send_agentless_message(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<AgentlessMessageRequest>,
) -> Result<Response, ApiError> {
    let (from, to, text) = validate_sms(&state, &body)?;
    let use_existing = body.use_existing_active_conversation.unwrap_or(false);
    let now = state.now();
    let message_id = uuid::Uuid::new_v4().simple().to_string();
    let stored = state
        .store
        .call(move |c| {
            let opted_out = store::is_opted_out(c, &to)?;
            let conversation_id = if use_existing {
                store::latest_conversation(c, &from, &to)?
            } else {
                None
            }
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let m = AcceptedMessage {
                id: message_id,
                conversation_id,
                channel: Channel::Sms,
                from,
                to,
                text: Some(text),
                subject: None,
                html: None,
                accepted_at: now,
                recipient_opted_out: opted_out,
            };
            store::insert_message(c, &m)?;
            Ok(m)
        })
        .await?;
    let response = AgentlessMessageResponse {
        id: stored.id.clone(),
        conversation_id: stored.conversation_id.clone(),
        from_address: stored.from.clone(),
        to_address: stored.to.clone(),
        messenger_type: "sms".to_owned(),
        use_existing_active_conversation: use_existing,
        message: message_data(&state, &stored, now),
        timestamp: iso(now),
        user: UserRef {
            id: caller.0.clone(),
            self_uri: format!("/api/v2/users/{}", caller.0),
        },
        self_uri: format!("/api/v2/conversations/messages/{}/details", stored.id),
    };
    Ok(answer_or_drop(
        drop,
        abort,
        (StatusCode::ACCEPTED, Json(response)).into_response(),
    )
    .await)
}

fn validate_email(
    state: &AppState,
    body: &AgentlessEmailRequest,
) -> Result<(EmailAddress, EmailAddress, String), ApiError> {
    match body.sender_type.as_deref() {
        Some("Outbound") => {}
        Some(other) => {
            return Err(ApiError::invalid_field(
                "senderType",
                format!("Invalid senderType '{other}'."),
            ));
        }
        None => return Err(ApiError::missing_field("senderType")),
    }
    let Some(from) = body.from_address.clone() else {
        return Err(ApiError::missing_field("fromAddress"));
    };
    let Some(from_email) = from.email.as_deref().filter(|e| looks_like_email(e)) else {
        return Err(ApiError::invalid_field(
            "fromAddress.email",
            "fromAddress.email is not a valid email address.",
        ));
    };
    let domain = from_email
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default();
    let provisioned = state
        .runtime()
        .org
        .email_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&domain));
    if !provisioned {
        return Err(ApiError::invalid_field(
            "fromAddress.email",
            format!(
                "The domain '{domain}' is not a campaign/agentless email domain of this organization."
            ),
        ));
    }
    let to = body.to_addresses.clone().unwrap_or_default();
    if to.len() != 1 {
        return Err(ApiError::invalid_field(
            "toAddresses",
            format!("Exactly one recipient is allowed; got {}.", to.len()),
        ));
    }
    let recipient = to.into_iter().next().expect("length checked");
    if !recipient.email.as_deref().is_some_and(looks_like_email) {
        return Err(ApiError::invalid_field(
            "toAddresses.email",
            "The recipient is not a valid email address.",
        ));
    }
    let Some(subject) = body.subject.clone().filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::missing_field("subject"));
    };
    let chars = subject.chars().count();
    if chars > EMAIL_SUBJECT_MAX_CHARS {
        return Err(ApiError::invalid_field(
            "subject",
            format!("subject is {chars} characters; the maximum is {EMAIL_SUBJECT_MAX_CHARS}."),
        ));
    }
    if body.text_body.as_deref().is_none_or(str::is_empty)
        && body.html_body.as_deref().is_none_or(str::is_empty)
    {
        return Err(ApiError::missing_field("textBody"));
    }
    Ok((from, recipient, subject))
}

pub(crate) async fn send_agentless_email(
    State(state): State<AppState>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<AgentlessEmailRequest>,
) -> Result<Response, ApiError> {
    let (from, recipient, subject) = validate_email(&state, &body)?;
    let now = state.now();
    let m = AcceptedMessage {
        id: uuid::Uuid::new_v4().simple().to_string(),
        conversation_id: body
            .conversation_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        channel: Channel::Email,
        from: from.email.clone().unwrap_or_default(),
        to: recipient.email.clone().unwrap_or_default(),
        text: body.text_body.clone(),
        subject: Some(subject.clone()),
        html: body.html_body.clone(),
        accepted_at: now,
        recipient_opted_out: false,
    };
    let stored = m.clone();
    state
        .store
        .call(move |c| store::insert_message(c, &stored))
        .await?;
    let response = AgentlessEmailResponse {
        id: m.id.clone(),
        conversation_id: m.conversation_id.clone(),
        sender_type: "Outbound".to_owned(),
        from_address: from,
        to_addresses: vec![recipient],
        reply_to_address: body.reply_to_address,
        subject,
        date_created: iso(now),
        self_uri: format!("/api/v2/conversations/emails/{}", m.conversation_id),
    };
    Ok(answer_or_drop(
        drop,
        abort,
        (StatusCode::ACCEPTED, Json(response)).into_response(),
    )
    .await)
}

pub(crate) async fn message_details(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessageData>, ApiError> {
    let lookup = id.clone();
    let found = state
        .store
        .call(move |c| store::get_message(c, &lookup))
        .await?;
    match found {
        Some(m) if m.channel == Channel::Sms => Ok(Json(message_data(&state, &m, state.now()))),
        _ => Err(ApiError::not_found("message", &id)),
    }
}

/// What an inbound reply did to the sender's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subscription {
    /// A platform opt-out keyword: later sends end `delivery-failed` `RecipientOptedOut`.
    OptedOut,
    /// A platform opt-in keyword: sends are delivered again.
    OptedIn,
    /// Any other text.
    Unchanged,
}

/// Classifies a reply by the platform keywords (the whole trimmed reply, case-insensitive).
pub fn classify_reply(text: &str) -> Subscription {
    let word = text.trim().to_uppercase();
    if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        Subscription::OptedOut
    } else if OPT_IN_KEYWORDS.contains(&word.as_str()) {
        Subscription::OptedIn
    } else {
        Subscription::Unchanged
    }
}

/// Records an inbound reply from `from` to `to` (default: the first provisioned number),
/// applies opt-out/opt-in keywords, and forwards it if configured.
pub(crate) async fn receive_inbound(
    state: &AppState,
    from: String,
    to: Option<String>,
    text: String,
) -> Result<(InboundMessage, Subscription), SandboxError> {
    if !is_e164(&from) {
        return Err(SandboxError::Config(format!(
            "'{from}' is not an E.164 number"
        )));
    }
    let to = to
        .or_else(|| state.from_numbers.first().cloned())
        .ok_or_else(|| SandboxError::Config("no SMS number is provisioned".to_owned()))?;
    let now = state.now();
    let subscription = classify_reply(&text);
    let message = state
        .store
        .call(move |c| {
            let conversation_id = store::latest_conversation(c, &to, &from)?
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let m = InboundMessage {
                message_id: uuid::Uuid::new_v4().simple().to_string(),
                conversation_id,
                from: from.clone(),
                to,
                text,
                timestamp: now,
            };
            store::insert_inbound(c, &m)?;
            match subscription {
                Subscription::OptedOut => store::set_opted_out(c, &from, true, now)?,
                Subscription::OptedIn => store::set_opted_out(c, &from, false, now)?,
                Subscription::Unchanged => {}
            }
            Ok(m)
        })
        .await?;
    if let Some(forward) = &state.inbound_forward {
        let payload = serde_json::json!({
            "messageId": message.message_id,
            "conversationId": message.conversation_id,
            "from": message.from,
            "to": message.to,
            "text": message.text,
            "timestamp": iso(message.timestamp),
        });
        let result = state
            .http
            .post(&forward.url)
            .header("X-Herald-Secret", &forward.secret)
            .json(&payload)
            .send()
            .await;
        match result {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => {
                tracing::warn!(status = %resp.status(), url = %forward.url, "inbound forward was refused");
            }
            Err(err) => tracing::warn!(error = %err, url = %forward.url, "inbound forward failed"),
        }
    }
    Ok((message, subscription))
}
