//! How `herald audit` prints one recipient's record as text or one JSON document (CSV is in
//! `audit_csv`); the recipient only masked.

use std::fmt::Write as _;

use herald_ledger::{Channel, RecipientAudit, SuppressionAction};
use serde_json::{Value, json};

pub(super) fn facts_value(facts: Option<&str>) -> Value {
    facts
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or(Value::Null)
}

/// `key: value; …` of a facts object, in its stored order.
fn facts_text(facts: &Value) -> String {
    match facts {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                Value::Array(a) => format!(
                    "{k}: {}",
                    a.iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            "not recorded (sent before herald recorded send facts, or not claimed by apply)".into()
        }
    }
}

pub(super) fn document(masked: &str, channel: Channel, a: &RecipientAudit) -> Value {
    json!({
        "recipient": masked,
        "channel": channel.as_str(),
        "sends": a.sends.iter().map(|(s, facts)| json!({
            "campaign": s.campaign,
            "row_key": s.row_key,
            "channel": s.channel.as_str(),
            "state": s.state.as_str(),
            "attempts": s.attempts,
            "template_hash": s.template_hash,
            "message_id": s.message_id,
            "error_code": s.error_code,
            "note": s.note,
            "run_id": s.run_id,
            "dispatched_at": s.dispatched_at.map(|t| t.to_string()),
            "updated_at": s.updated_at.to_string(),
            "next_attempt_at": s.next_attempt_at.map(|t| t.to_string()),
            "facts": facts_value(facts.as_deref()),
        })).collect::<Vec<_>>(),
        "suppressions": a.suppressions.iter().map(|s| json!({
            "action": match s.action { SuppressionAction::Add => "add", SuppressionAction::Remove => "remove" },
            "channel": s.suppression.channel.map_or("all", Channel::as_str),
            "reason": s.suppression.reason,
            "source": s.suppression.source,
            "at": s.at.to_string(),
        })).collect::<Vec<_>>(),
        "registries": a.registries.iter().map(|r| json!({
            "source": r.source,
            "downloaded_on": r.downloaded_on.to_string(),
        })).collect::<Vec<_>>(),
        "replies": a.replies.iter().map(|r| json!({
            "kind": r.kind, "state": r.state, "inbound_id": r.inbound_id,
            "message_id": r.message_id, "note": r.note, "at": r.claimed_at.to_string(),
        })).collect::<Vec<_>>(),
    })
}

pub(super) fn text(masked: &str, channel: Channel, a: &RecipientAudit) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "recipient {masked} ({})", channel.as_str());
    let _ = writeln!(out, "sends: {}", a.sends.len());
    for (s, facts) in &a.sends {
        let _ = writeln!(
            out,
            "  {}  {}/{}  {}  attempts {}{}{}",
            s.dispatched_at.unwrap_or(s.updated_at),
            s.campaign,
            s.row_key,
            s.state.as_str(),
            s.attempts,
            s.message_id
                .as_deref()
                .map(|m| format!("  message {m}"))
                .unwrap_or_default(),
            s.note
                .as_deref()
                .or(s.error_code.as_deref())
                .map(|n| format!("  ({n})"))
                .unwrap_or_default(),
        );
        let _ = writeln!(
            out,
            "    why: {}",
            facts_text(&facts_value(facts.as_deref()))
        );
    }
    let _ = writeln!(out, "suppression changes: {}", a.suppressions.len());
    for s in &a.suppressions {
        let _ = writeln!(
            out,
            "  {}  {} {}  reason {}  source {}",
            s.at,
            match s.action {
                SuppressionAction::Add => "add",
                SuppressionAction::Remove => "remove",
            },
            s.suppression.channel.map_or("all", Channel::as_str),
            s.suppression.reason,
            s.suppression.source,
        );
    }
    let _ = writeln!(out, "keyword replies: {}", a.replies.len());
    for r in &a.replies {
        let note = r
            .note
            .as_deref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {} to {}  {}{note}",
            r.claimed_at, r.kind, r.inbound_id, r.state
        );
    }
    if a.registries.is_empty() {
        out.push_str("do-not-call registries: not listed on any loaded registry\n");
    } else {
        let _ = writeln!(
            out,
            "do-not-call registries: listed on {}",
            a.registries
                .iter()
                .map(|r| format!("{} (downloaded {})", r.source, r.downloaded_on))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}
