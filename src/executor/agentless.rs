//! The agentless API as a [`Dispatch`]: one request per message
//! (`POST /api/v2/conversations/messages/agentless`, or the email form), under the client's
//! shared rate limiter.

use std::future::Future;

use herald_genesys::{AgentlessEmail, AgentlessSms, ApiError, EmailAddress, GenesysClient};
use herald_ledger::DispatchHandle;

use super::dispatch::{Dispatch, Dispatched, PreflightError, Refusal};
use crate::gather::response_hash;
use crate::messages::{Message, Recipient};
use crate::spec::model::Campaign;

/// Sends each message on its own through the agentless API.
pub(crate) struct Agentless {
    client: GenesysClient,
}

impl Agentless {
    /// Sends through `client`.
    pub(crate) fn new(client: &GenesysClient) -> Self {
        Self {
            client: client.clone(),
        }
    }
}

/// One agentless request.
pub(crate) enum Job {
    /// An SMS.
    Sms(AgentlessSms),
    /// An email.
    Email(AgentlessEmail),
}

impl Dispatch for Agentless {
    type Job = Job;

    fn prepare(&self, campaign: &Campaign, r: &Recipient) -> Job {
        match &r.message {
            Message::Sms { text, .. } => Job::Sms(AgentlessSms {
                from: campaign.from.clone(),
                to: r.address.as_str().to_owned(),
                text: text.clone(),
            }),
            Message::Email {
                subject,
                html,
                text,
            } => Job::Email(AgentlessEmail {
                from: EmailAddress {
                    email: campaign.from.clone(),
                    name: campaign.from_name.clone(),
                },
                to: EmailAddress {
                    email: r.address.as_str().to_owned(),
                    name: None,
                },
                subject: subject.clone(),
                text_body: text.clone(),
                html_body: Some(html.clone()),
                reply_to: campaign
                    .reply_to
                    .clone()
                    .map(|email| EmailAddress { email, name: None }),
            }),
        }
    }

    fn dispatch(&self, job: Job) -> impl Future<Output = Dispatched> + Send + 'static {
        let client = self.client.clone();
        async move {
            let result = match job {
                Job::Sms(sms) => client
                    .send_sms(&sms)
                    .await
                    .map(|s| DispatchHandle::message(s.message_id, Some(s.conversation_id))),
                Job::Email(email) => client
                    .send_email(&email)
                    .await
                    .map(|s| DispatchHandle::message(s.id, Some(s.conversation_id))),
            };
            classify(result)
        }
    }

    async fn preflight(
        &self,
        response_id: &str,
        expected_hash: &str,
    ) -> Result<(), PreflightError> {
        match self.client.get_response(response_id).await {
            Ok(r) if response_hash(&r) == expected_hash => Ok(()),
            Ok(r) => Err(PreflightError::Changed {
                response_id: response_id.to_owned(),
                version: r.version,
            }),
            Err(ApiError::NotFound { .. }) => Err(PreflightError::Deleted {
                response_id: response_id.to_owned(),
            }),
            Err(e) => Err(PreflightError::Failed(describe(&e))),
        }
    }
}

/// An API error with its correlation id (when the message does not hold it already).
pub(crate) fn describe(e: &ApiError) -> String {
    let mut s = e.to_string();
    if let Some(c) = e.context_id().filter(|c| !s.contains(*c)) {
        s = format!("{s} (correlation id {c})");
    }
    s
}

/// Maps a send's result to what it came to (DESIGN §5): credentials, permissions and rate
/// limits stop the run; a refusal is final; anything else may have been sent.
fn classify(res: Result<DispatchHandle, ApiError>) -> Dispatched {
    let stopped = |note: &str, stop: String| Dispatched::Stopped {
        note: note.to_owned(),
        stop,
    };
    match res {
        Ok(handle) => Dispatched::Sent(handle),
        Err(ApiError::RateLimited { budget, .. }) => stopped(
            "rate limited (429)",
            format!(
                "stopped: rate-limited for {}; rerun to resume",
                go_duration(budget)
            ),
        ),
        Err(e @ (ApiError::NotSent { .. } | ApiError::Auth { .. } | ApiError::Config { .. })) => {
            stopped("not sent", format!("stopped: {}", describe(&e)))
        }
        Err(e @ (ApiError::Unauthorized { .. } | ApiError::Forbidden { .. })) => stopped(
            "unauthorized",
            format!(
                "stopped: Genesys refused the credentials or a permission: {}",
                describe(&e)
            ),
        ),
        Err(
            e @ (ApiError::Rejected { .. } | ApiError::NotFound { .. } | ApiError::Conflict { .. }),
        ) => Dispatched::Failed {
            code: e.code().unwrap_or("rejected").to_owned(),
            cause: failure_cause(&e),
        },
        Err(e) => Dispatched::Unknown {
            reason: short_reason(&e),
        },
    }
}

/// A duration as `10m0s` / `1h0m0s` / `45s`.
fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// The cause of a refused send, for grouping: a key (the Genesys error code and the fields
/// it names) and a readable reason (code and message, without the per-request correlation id).
fn failure_cause(e: &ApiError) -> Refusal {
    match e {
        ApiError::Rejected {
            status,
            code,
            message,
            details,
            ..
        } => {
            let code = code.clone().unwrap_or_else(|| format!("HTTP {status}"));
            let key = format!("{code} {}", details.join("; "));
            let reason = match message {
                Some(m) => format!("{code}: {m}"),
                None if details.is_empty() => code,
                None => format!("{code} ({})", details.join("; ")),
            };
            Refusal { key, reason }
        }
        other => {
            let code = other.code().map_or_else(
                || format!("HTTP {}", other.status().unwrap_or(0)),
                str::to_owned,
            );
            let mut reason = other.to_string();
            if let Some(c) = other.context_id() {
                reason = reason.replace(&format!(" [correlation id {c}]"), "");
            }
            Refusal { key: code, reason }
        }
    }
}

fn short_reason(e: &ApiError) -> String {
    match e {
        ApiError::Unknown { reason, .. } => reason.clone(),
        ApiError::Server { .. } => format!("server error {}", e.status().unwrap_or(500)),
        _ => "transport error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        use std::time::Duration;
        assert_eq!(go_duration(Duration::from_secs(45)), "45s");
        assert_eq!(go_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn an_accepted_send_is_named_by_its_message_id() {
        let h = DispatchHandle::message("m-1", Some("c-1".into()));
        assert_eq!(classify(Ok(h.clone())), Dispatched::Sent(h));
    }

    #[test]
    fn an_unknown_error_may_have_been_sent() {
        let res = classify(Err(ApiError::Unknown {
            reason: "send task failed".into(),
            info: None,
        }));
        assert_eq!(
            res,
            Dispatched::Unknown {
                reason: "send task failed".into()
            }
        );
    }
}
