//! `herald serve`'s keyword replies (`policy.keyword_replies`): the HELP/INFO answer and the
//! opt-out confirmation, sent through the environment's agentless messaging API (the
//! receiver claims and records each one in the ledger; see `herald_inbound::replies`).

use herald_genesys::{AgentlessSms, GenesysClient};
use herald_inbound::{KeywordReplies, ReplySender, SendFuture};

use crate::remote::Remote;
use crate::settings::EnvSettings;
use crate::spec::model::Policy;

/// Sends replies from one number through the agentless SMS endpoint.
struct AgentlessReplies {
    client: GenesysClient,
    from: String,
}

impl ReplySender for AgentlessReplies {
    fn send(&self, to: &str, text: &str) -> SendFuture {
        let client = self.client.clone();
        let sms = AgentlessSms {
            from: self.from.clone(),
            to: to.to_owned(),
            text: text.to_owned(),
        };
        Box::pin(async move {
            client
                .send_sms(&sms)
                .await
                .map(|m| m.message_id)
                .map_err(|e| e.to_string())
        })
    }
}

/// Connects to the environment's API when the policy configures replies (else nothing): the
/// replies to give the receiver, and the connection to keep open while it runs.
pub(crate) async fn connect(
    settings: &EnvSettings,
    policy: &Policy,
) -> anyhow::Result<Option<(KeywordReplies, Remote)>> {
    let Some(config) = &policy.keyword_replies else {
        return Ok(None);
    };
    if config.help.is_none() && config.opt_out_confirmation.is_none() {
        return Ok(None);
    }
    let remote = crate::remote::connect(settings).await?;
    let replies = KeywordReplies {
        help: config.help.clone(),
        opt_out_confirmation: config.opt_out_confirmation.clone(),
        sender: std::sync::Arc::new(AgentlessReplies {
            client: remote.client.clone(),
            from: config.from.clone(),
        }),
    };
    Ok(Some((replies, remote)))
}
