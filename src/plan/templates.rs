//! Template reconcile: desired templates against Response Management responses and the
//! ledger's bindings. Pure: the caller fetches the remote state and the bindings.

use std::collections::{BTreeMap, BTreeSet};

use herald_genesys::{
    EntityRef, Response, ResponseDraft, ResponseSubstitution, ResponseText, ResponseType,
    TextContentType, TextType,
};
use herald_ledger::TemplateBinding;
use serde_json::json;
use similar::TextDiff;

use super::{RemoteRef, SmsCost, TemplateAction, TemplatePlan, TextChange};
use crate::spec::model::{Content, Template};
use crate::spec::{Channel, TemplateStatus};
use crate::text::analyze_sms;

/// The response herald writes for a template.
pub fn desired_draft(t: &Template, library_id: &str) -> ResponseDraft {
    let plain = |content: &str, text_type: Option<TextType>| ResponseText {
        content: content.to_owned(),
        content_type: TextContentType::Plain,
        text_type,
    };
    let (response_type, texts) = match &t.content {
        Content::Sms { body } => (ResponseType::CampaignSmsTemplate, vec![plain(body, None)]),
        Content::Email {
            subject,
            html,
            text,
        } => {
            let mut texts = vec![
                plain(subject, Some(TextType::Subject)),
                ResponseText {
                    content: html.clone(),
                    content_type: TextContentType::Html,
                    text_type: Some(TextType::Body),
                },
            ];
            if let Some(text) = text {
                texts.push(plain(text, Some(TextType::Body)));
            }
            (ResponseType::CampaignEmailTemplate, texts)
        }
    };
    ResponseDraft {
        name: t.name.to_string(),
        libraries: vec![EntityRef::id(library_id)],
        response_type: Some(response_type),
        texts,
        substitutions: t
            .variables
            .iter()
            .map(|(id, v)| ResponseSubstitution {
                id: id.clone(),
                description: v.description.clone(),
                default_value: None,
            })
            .collect(),
    }
}

fn text_key(t: &ResponseText) -> (String, String, String) {
    let ty = match t.text_type {
        Some(TextType::Subject) => "subject",
        Some(TextType::Body) | None => "body",
        Some(_) => "other",
    };
    let ct = match t.content_type {
        TextContentType::Plain => "text/plain",
        TextContentType::Html => "text/html",
        _ => "other",
    };
    (
        ty.to_owned(),
        ct.to_owned(),
        crate::hash::normalize_text(&t.content),
    )
}

/// Canonical hash of what a response carries that herald manages: name, type, texts and
/// substitutions (sorted; CRLF normalised). Libraries, ids and versions are not content.
pub fn remote_hash(
    name: &str,
    response_type: Option<ResponseType>,
    texts: &[ResponseText],
    subs: &[ResponseSubstitution],
) -> String {
    let mut texts: Vec<_> = texts.iter().map(text_key).collect();
    texts.sort();
    let mut subs: Vec<_> = subs
        .iter()
        .map(|s| (s.id.clone(), s.description.clone(), s.default_value.clone()))
        .collect();
    subs.sort();
    let rt = match response_type {
        Some(ResponseType::CampaignSmsTemplate) => "CampaignSmsTemplate",
        Some(ResponseType::CampaignEmailTemplate) => "CampaignEmailTemplate",
        Some(_) => "other",
        None => "standard",
    };
    let doc = json!({ "name": name, "responseType": rt, "texts": texts, "substitutions": subs });
    crate::hash::sha256(format!("v1:{doc}").as_bytes()).to_string()
}

/// The hash of a fetched response.
pub fn response_hash(r: &Response) -> String {
    remote_hash(&r.name, r.response_type, &r.texts, &r.substitutions)
}

/// The hash of a draft.
pub fn draft_hash(d: &ResponseDraft) -> String {
    remote_hash(&d.name, d.response_type, &d.texts, &d.substitutions)
}

fn remote_ref(r: &Response) -> RemoteRef {
    RemoteRef {
        id: r.id.clone(),
        name: r.name.clone(),
        version: r.version,
        hash: response_hash(r),
    }
}

/// Texts by herald field name.
fn fields(
    response_type: Option<ResponseType>,
    texts: &[ResponseText],
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for t in texts {
        let field = match (response_type, t.text_type, t.content_type) {
            (_, Some(TextType::Subject), _) => "subject",
            (Some(ResponseType::CampaignEmailTemplate), _, TextContentType::Html) => "html",
            (Some(ResponseType::CampaignEmailTemplate), _, _) => "text",
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

fn diff_texts(plan: &mut TemplatePlan, remote: &Response, desired: &ResponseDraft) {
    let before = fields(remote.response_type, &remote.texts);
    let after = fields(desired.response_type, &desired.texts);
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

/// Remote state the reconcile needs.
pub struct RemoteTemplates<'a> {
    /// The managed library's id (None when it does not exist yet).
    pub library_id: Option<&'a str>,
    /// Responses in the managed library.
    pub in_library: &'a [Response],
    /// Responses fetched by their bound id (`None` = 404).
    pub by_id: &'a BTreeMap<String, Option<Response>>,
    /// Ledger bindings by template name.
    pub bindings: &'a BTreeMap<String, TemplateBinding>,
}

/// Classifies every template; returns the plans and the orphans of the managed library.
pub fn reconcile<'t>(
    templates: impl IntoIterator<Item = &'t Template>,
    remote: &RemoteTemplates<'_>,
) -> (Vec<TemplatePlan>, Vec<RemoteRef>) {
    let mut plans = Vec::new();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let library_id = remote.library_id.unwrap_or("");
    let by_name = |name: &str| remote.in_library.iter().find(|r| r.name == name);
    for t in templates {
        let draft = desired_draft(t, library_id);
        let desired_remote_hash = draft_hash(&draft);
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
        };
        // Find the binding: this name, else a previous name (a rename keeps the id).
        let names: Vec<String> = std::iter::once(t.name.to_string())
            .chain(t.previous_names.iter().map(ToString::to_string))
            .collect();
        let binding = names
            .iter()
            .find_map(|n| remote.bindings.get(n).map(|b| (n.clone(), b)));
        let found: Option<Response> = match &binding {
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
                if let Some((_, b)) = &binding {
                    plan.notes.push(format!(
                        "response {} was deleted outside herald; it is created again",
                        b.response_id
                    ));
                }
            }
            (binding, Some(r)) => {
                let rhash = response_hash(&r);
                plan.remote = Some(remote_ref(&r));
                let renamed = r.name != t.name.as_str();
                if renamed {
                    plan.renamed_from = Some(r.name.clone());
                }
                if rhash == desired_remote_hash {
                    plan.action = TemplateAction::Noop;
                } else {
                    diff_texts(&mut plan, &r, &draft);
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
