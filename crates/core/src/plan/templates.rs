//! Template reconcile: desired templates against Response Management responses and the
//! ledger's bindings. Pure: the gathering side fetches the remote state and the bindings and
//! converts them to [`super::observed`] values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use similar::TextDiff;

use super::observed::{
    ContentKind, RemoteResponse, RemoteState, ResponseContent, ResponseKind, ResponseText,
    Substitution, TemplateBinding, TextKind,
};
use super::{NewText, RemoteRef, SmsCost, TemplateAction, TemplatePlan, TextChange};
use crate::spec::model::{Content, Template};
use crate::spec::{Channel, TemplateStatus};
use crate::text::analyze_sms;

/// The response content herald writes for a template (the wire form is built from it by the
/// side that talks to Genesys).
pub fn desired_content(t: &Template) -> ResponseContent {
    let plain = |content: &str, text_type: Option<TextKind>| ResponseText {
        content: content.to_owned(),
        content_type: ContentKind::Plain,
        text_type,
    };
    let (kind, texts) = match &t.content {
        Content::Sms { body } => (ResponseKind::SmsTemplate, vec![plain(body, None)]),
        Content::Email {
            subject,
            html,
            text,
        } => {
            let mut texts = vec![
                plain(subject, Some(TextKind::Subject)),
                ResponseText {
                    content: html.clone(),
                    content_type: ContentKind::Html,
                    text_type: Some(TextKind::Body),
                },
            ];
            if let Some(text) = text {
                texts.push(plain(text, Some(TextKind::Body)));
            }
            (ResponseKind::EmailTemplate, texts)
        }
    };
    ResponseContent {
        name: t.name.to_string(),
        kind: Some(kind),
        texts,
        substitutions: t
            .variables
            .iter()
            .map(|(id, v)| Substitution {
                id: id.clone(),
                description: v.description.clone(),
                default_value: None,
            })
            .collect(),
    }
}

fn text_key(t: &ResponseText) -> (String, String, String) {
    let ty = match t.text_type {
        Some(TextKind::Subject) => "subject",
        Some(TextKind::Body) | None => "body",
        Some(TextKind::Other) => "other",
    };
    let ct = match t.content_type {
        ContentKind::Plain => "text/plain",
        ContentKind::Html => "text/html",
        ContentKind::Other => "other",
    };
    (
        ty.to_owned(),
        ct.to_owned(),
        crate::hash::normalize_text(&t.content),
    )
}

/// Canonical hash of what a response carries that herald manages: name, type, texts and
/// substitutions (sorted; CRLF normalised). Libraries, ids and versions are not content.
/// Stored in the ledger and compared with saved plans: the format never changes.
pub fn content_hash(c: &ResponseContent) -> String {
    let mut texts: Vec<_> = c.texts.iter().map(text_key).collect();
    texts.sort();
    let mut subs: Vec<_> = c
        .substitutions
        .iter()
        .map(|s| (s.id.clone(), s.description.clone(), s.default_value.clone()))
        .collect();
    subs.sort();
    let rt = match c.kind {
        Some(ResponseKind::SmsTemplate) => "CampaignSmsTemplate",
        Some(ResponseKind::EmailTemplate) => "CampaignEmailTemplate",
        Some(ResponseKind::Other) => "other",
        None => "standard",
    };
    let doc = json!({ "name": c.name, "responseType": rt, "texts": texts, "substitutions": subs });
    crate::hash::sha256(format!("v1:{doc}").as_bytes()).to_string()
}

fn remote_ref(r: &RemoteResponse) -> RemoteRef {
    RemoteRef {
        id: r.id.clone(),
        name: r.content.name.clone(),
        version: r.version,
        hash: content_hash(&r.content),
    }
}

/// Texts by herald field name.
pub fn fields(c: &ResponseContent) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for t in &c.texts {
        let field = match (c.kind, t.text_type, t.content_type) {
            (_, Some(TextKind::Subject), _) => "subject",
            (Some(ResponseKind::EmailTemplate), _, ContentKind::Html) => "html",
            (Some(ResponseKind::EmailTemplate), _, _) => "text",
            _ => "body",
        };
        out.entry(field)
            .or_insert_with(|| crate::hash::normalize_text(&t.content));
    }
    out
}

fn sms_cost(text: &str) -> SmsCost {
    let i = analyze_sms(text);
    SmsCost {
        encoding: i.encoding.to_string(),
        segments: i.segments,
        chars: i.chars,
    }
}

fn diff_texts(plan: &mut TemplatePlan, remote: &ResponseContent, desired: &ResponseContent) {
    let before = fields(remote);
    let after = fields(desired);
    let keys: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    for field in keys {
        let a = before.get(field).map_or("", String::as_str);
        let b = after.get(field).map_or("", String::as_str);
        if a == b {
            continue;
        }
        let diff = TextDiff::from_lines(ensure_nl(a), ensure_nl(b))
            .unified_diff()
            .context_radius(3)
            .header(&format!("remote/{field}"), &format!("desired/{field}"))
            .to_string();
        let whitespace_only = a.split_whitespace().eq(b.split_whitespace());
        plan.changes.push(TextChange {
            field: field.to_owned(),
            diff,
            whitespace_only,
        });
    }
    if let (Some(a), Some(b)) = (before.get("body"), after.get("body"))
        && plan.channel == "sms"
        && a != b
    {
        plan.sms_before = Some(sms_cost(a));
    }
    let old: BTreeSet<&str> = remote.substitutions.iter().map(|s| s.id.as_str()).collect();
    let new: BTreeSet<&str> = desired
        .substitutions
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    plan.variables_added = new.difference(&old).map(|s| (*s).to_owned()).collect();
    plan.variables_removed = old.difference(&new).map(|s| (*s).to_owned()).collect();
}

fn ensure_nl(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// The texts a reviewer reads for a new template: the SMS body, or the email subject and
/// plain-text part (the HTML part is shown by `herald preview`), addresses masked.
fn new_texts(content: &Content) -> Vec<NewText> {
    let text = |field: &str, text: &str| NewText {
        field: field.to_owned(),
        text: crate::text::mask_contacts(text),
    };
    match content {
        Content::Sms { body } => vec![text("body", body)],
        Content::Email {
            subject,
            text: plain,
            ..
        } => std::iter::once(text("subject", subject))
            .chain(plain.as_deref().map(|p| text("text", p)))
            .collect(),
    }
}

/// Classifies every template; returns the plans and the orphans of the managed library.
pub fn reconcile<'t>(
    templates: impl IntoIterator<Item = &'t Template>,
    remote: &RemoteState,
    bindings: &BTreeMap<String, TemplateBinding>,
) -> (Vec<TemplatePlan>, Vec<RemoteRef>) {
    let mut plans = Vec::new();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let by_name = |name: &str| remote.in_library.iter().find(|r| r.name() == name);
    for t in templates {
        let desired = desired_content(t);
        let desired_remote_hash = content_hash(&desired);
        let mut plan = TemplatePlan {
            name: t.name.to_string(),
            channel: t.channel.as_str().to_owned(),
            action: TemplateAction::Noop,
            content_hash: t.hash.to_string(),
            desired_remote_hash: desired_remote_hash.clone(),
            remote: None,
            renamed_from: None,
            changes: Vec::new(),
            sms_before: None,
            sms_after: match (&t.content, t.channel) {
                (Content::Sms { body }, Channel::Sms) => Some(sms_cost(body)),
                _ => None,
            },
            variables_added: Vec::new(),
            variables_removed: Vec::new(),
            notes: Vec::new(),
            new_texts: Vec::new(),
        };
        // Find the binding: this name, else a previous name (a rename keeps the id).
        let names: Vec<String> = std::iter::once(t.name.to_string())
            .chain(t.previous_names.iter().map(ToString::to_string))
            .collect();
        let binding = names
            .iter()
            .find_map(|n| bindings.get(n).map(|b| (n.clone(), b)));
        let found: Option<RemoteResponse> = match &binding {
            Some((_, b)) => remote.by_id.get(&b.response_id).cloned().flatten(),
            None => names.iter().find_map(|n| by_name(n)).cloned(),
        };
        if let Some(r) = &found {
            claimed.insert(r.id.clone());
        }
        if t.status == TemplateStatus::Draft {
            plan.action = TemplateAction::Draft;
            plan.remote = found.as_ref().map(remote_ref);
            plans.push(plan);
            continue;
        }
        match (&binding, found) {
            (_, None) => {
                plan.action = TemplateAction::Create;
                plan.new_texts = new_texts(&t.content);
                if let Some((_, b)) = &binding {
                    plan.notes.push(format!(
                        "response {} was deleted outside herald; it is created again",
                        b.response_id
                    ));
                }
            }
            (binding, Some(r)) => {
                let rhash = content_hash(&r.content);
                plan.remote = Some(remote_ref(&r));
                let renamed = r.name() != t.name.as_str();
                if renamed {
                    plan.renamed_from = Some(r.name().to_owned());
                }
                if rhash == desired_remote_hash {
                    plan.action = TemplateAction::Noop;
                } else {
                    diff_texts(&mut plan, &r.content, &desired);
                    let drifted = binding
                        .as_ref()
                        .is_some_and(|(_, b)| b.remote_hash != rhash);
                    plan.action = if drifted {
                        let b = &binding.as_ref().unwrap().1;
                        plan.notes.push(format!(
                            "changed in Genesys outside herald since the last apply (version {} → {}); apply restores the reviewed text, or run `herald import {}` to adopt the remote text",
                            b.version, r.version, t.name
                        ));
                        TemplateAction::Drift
                    } else if renamed {
                        TemplateAction::Rename
                    } else {
                        TemplateAction::Update
                    };
                    if binding.is_none() {
                        plan.notes.push(
                            "an existing response of this name is adopted by herald".to_owned(),
                        );
                    }
                }
                if plan.action == TemplateAction::Noop && renamed {
                    plan.action = TemplateAction::Rename;
                }
                if plan.changes.iter().all(|c| c.whitespace_only) && !plan.changes.is_empty() {
                    plan.notes.push("whitespace-only change".to_owned());
                }
            }
        }
        plans.push(plan);
    }
    let orphans = remote
        .in_library
        .iter()
        .filter(|r| !claimed.contains(&r.id))
        .map(remote_ref)
        .collect();
    (plans, orphans)
}
