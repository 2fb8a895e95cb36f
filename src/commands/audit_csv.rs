//! `herald audit --format csv`: one recipient's record, a row per send, suppression change,
//! reply and registry listing; the recipient only masked.

use herald_ledger::{Channel, RecipientAudit, SuppressionAction};

use super::audit_report::facts_value;

pub(super) fn csv(masked: &str, a: &RecipientAudit) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "kind",
        "at",
        "recipient",
        "campaign",
        "row_key",
        "channel",
        "state",
        "detail",
        "facts",
    ])?;
    for (s, facts) in &a.sends {
        w.write_record([
            "send",
            &s.dispatched_at.unwrap_or(s.updated_at).to_string(),
            masked,
            &s.campaign,
            &s.row_key,
            s.channel.as_str(),
            s.state.as_str(),
            s.message_id.as_deref().unwrap_or(""),
            &facts_value(facts.as_deref()).to_string(),
        ])?;
    }
    for s in &a.suppressions {
        w.write_record([
            "suppression",
            &s.at.to_string(),
            masked,
            "",
            "",
            s.suppression.channel.map_or("all", Channel::as_str),
            match s.action {
                SuppressionAction::Add => "add",
                SuppressionAction::Remove => "remove",
            },
            &format!("{} ({})", s.suppression.reason, s.suppression.source),
            "",
        ])?;
    }
    for r in &a.replies {
        let at = r.claimed_at.to_string();
        let detail = r.note.as_deref().or(r.message_id.as_deref()).unwrap_or("");
        w.write_record([
            "reply",
            &at,
            masked,
            "",
            &r.inbound_id,
            "sms",
            &r.state,
            detail,
            &r.kind,
        ])?;
    }
    for r in &a.registries {
        w.write_record([
            "registry",
            &r.downloaded_on.to_string(),
            masked,
            "",
            "",
            "sms",
            "listed",
            &r.source,
            "",
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
