//! The one place that reads workspace, plan and remote types: [`page`] turns them into the
//! page's view types. Every text it copies has its phone numbers and email addresses masked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{
    CheckState, FieldDiff, PreviewCampaign, PreviewCheck, PreviewContent, PreviewPage,
    PreviewProblem, PreviewSample, PreviewTemplate, PreviewVariable,
};
use crate::diag::{Code, Diagnostic, Severity};
use crate::plan::observed::{RemoteResponse, RemoteState};
use crate::plan::{Plan, Reason, TemplateAction};
use crate::spec::model::{Content, Template, Workspace};
use crate::spec::{Category, Channel, Name, TemplateStatus};
use crate::text::diff::word_diff;
use crate::text::{find_card_number, mask_contacts, substitute};

/// Problems listed at the top of the page at most (audience scans can report many rows).
const MAX_PROBLEMS: usize = 100;

/// What the page is built from.
pub struct Inputs<'a> {
    /// The loaded workspace.
    pub ws: &'a Workspace,
    /// Every diagnostic (loader and audience scans).
    pub diagnostics: &'a [Diagnostic],
    /// The plan, when one could be made.
    pub plan: Option<&'a Plan>,
    /// The remote state the plan was made against.
    pub remote: Option<&'a RemoteState>,
    /// The environment name.
    pub environment: &'a str,
    /// `--campaign` names (empty: all).
    pub campaigns: &'a [String],
    /// `--template` names (empty: all).
    pub templates: &'a [String],
    /// Why there is no plan.
    pub no_plan: Option<String>,
    /// The source texts the loader read (to show a template it refused as written).
    pub sources: Option<&'a crate::diag::Sources>,
}

/// Builds the page.
pub fn page(i: &Inputs<'_>) -> PreviewPage {
    let ws = i.ws;
    let narrowed = !i.campaigns.is_empty() || !i.templates.is_empty();
    // Templates shown: the plan's, else the workspace's (narrowed like the plan is).
    let names: Vec<String> = if let Some(p) = i.plan {
        p.templates.iter().map(|t| t.name.clone()).collect()
    } else {
        let mut wanted: BTreeSet<String> = i.templates.iter().cloned().collect();
        for c in i.campaigns {
            if let Some(c) = Name::parse(c).ok().and_then(|n| ws.campaigns.get(&n)) {
                wanted.insert(c.template.to_string());
            }
        }
        ws.templates
            .keys()
            .map(ToString::to_string)
            .filter(|n| !narrowed || wanted.contains(n))
            .collect()
    };
    let shown: Vec<&Template> = names
        .iter()
        .filter_map(|n| Name::parse(n).ok().and_then(|n| ws.templates.get(&n)))
        .collect();
    let mut claimed: BTreeSet<usize> = BTreeSet::new();
    let mut templates: Vec<PreviewTemplate> =
        shown.iter().map(|t| template(i, t, &mut claimed)).collect();
    templates.extend(unloaded_templates(i, narrowed, &mut claimed));
    let shown = |d: &Diagnostic| PreviewProblem {
        code: d.code.as_str(),
        severity: match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
        .to_owned(),
        location: d.location(),
        message: mask_contacts(&d.message),
    };
    // Every error goes first, in the page's head; the warnings no template shows follow.
    let errors = capped(
        i.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(shown)
            .collect(),
    );
    let problems: Vec<PreviewProblem> = i
        .diagnostics
        .iter()
        .enumerate()
        .filter(|(n, d)| !claimed.contains(n) && d.severity != Severity::Error)
        .map(|(_, d)| shown(d))
        .collect();
    let problems = capped(problems);
    let campaigns = i.plan.map_or_else(Vec::new, |p| {
        p.campaigns
            .iter()
            .map(|c| {
                let mut holds: Vec<(String, u64)> = HOLDS
                    .iter()
                    .filter_map(|(k, label)| {
                        let n = c.counts.get(Reason::parse(k)?);
                        (n > 0).then(|| ((*label).to_owned(), n))
                    })
                    .collect();
                // The state rule that held them: "by Rhode Island: Sunday".
                holds.extend(c.held_by.iter().map(|(rule, n)| (format!("by {rule}"), *n)));
                PreviewCampaign {
                    name: c.name.clone(),
                    status: c.status.to_string(),
                    blocked_by: c.blocked_by.clone(),
                    template: c.template.clone(),
                    channel: c.channel.clone(),
                    audience_file: c.audience_file.clone(),
                    rows: c.rows,
                    to_send: c.to_send(),
                    segments: c.segments,
                    counts: REASONS
                        .iter()
                        .filter_map(|(k, label)| {
                            let n = c.counts.get(Reason::parse(k)?);
                            (n > 0).then(|| ((*label).to_owned(), n))
                        })
                        .collect(),
                    next_opening: c
                        .next_opening
                        .filter(|_| !holds.is_empty())
                        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()),
                    holds,
                    changes: crate::plan::report::changes_line(c),
                    samples: c
                        .samples
                        .iter()
                        .map(|s| PreviewSample {
                            to: s.to.clone(),
                            line: s.line,
                            text: s.text.clone(),
                            decision: crate::plan::report::sample_label(s),
                            send_now: s.reason() == Reason::ToSend,
                        })
                        .collect(),
                }
            })
            .collect()
    });
    PreviewPage {
        environment: i.environment.to_owned(),
        commit: i.plan.and_then(|p| p.workspace.commit.clone()),
        dirty: i.plan.is_some_and(|p| p.workspace.dirty),
        narrowed_to: narrowed.then(|| {
            i.campaigns
                .iter()
                .map(|c| format!("campaign {c}"))
                .chain(i.templates.iter().map(|t| format!("template {t}")))
                .collect()
        }),
        no_plan: i.no_plan.clone(),
        review_digest: i
            .plan
            .map(|p| p.review_digest.clone())
            .filter(|d| !d.is_empty()),
        summary: i.plan.map(crate::plan::report::summary),
        errors,
        problems,
        templates,
        campaigns,
    }
}

/// Row outcomes other than "to send" and the holds, with labels (as the plan shows them).
const REASONS: &[(&str, &str)] = &[
    ("already_sent", "already sent"),
    ("already_failed", "failed before"),
    ("unknown", "unknown (run `herald reconcile`)"),
    ("in_flight", "in flight"),
    ("suppressed", "suppressed"),
    ("no_consent", "no consent"),
    ("no_consent_evidence", "no consent evidence"),
    ("consent_expired", "consent expired"),
    ("invalid_address", "invalid address"),
    ("invalid_row", "invalid row"),
    ("render_error", "render error"),
    ("card_number", "card number in text"),
    ("duplicate_key", "duplicate key"),
    ("duplicate_address", "duplicate address"),
    ("after_schedule", "after the schedule"),
    ("over_cap", "over the per-apply cap"),
];

/// Rows held for later, with labels.
const HOLDS: &[(&str, &str)] = &[
    ("held_quiet_hours", "by quiet hours"),
    ("held_no_timezone", "no time zone"),
    (
        "held_quiet_hours_zone_from_number",
        "by quiet hours (zone from number)",
    ),
    ("held_state_quiet_hours", "by state quiet hours"),
    ("held_zone_unknown", "time zone unknown"),
    ("held_frequency_cap", "by frequency cap"),
    ("before_schedule", "before the schedule"),
];

fn action_label(a: TemplateAction) -> &'static str {
    match a {
        TemplateAction::Create => "create",
        TemplateAction::Update => "update",
        TemplateAction::Drift => "drift",
        TemplateAction::Rename => "rename",
        TemplateAction::Noop => "no changes",
        TemplateAction::Draft => "draft, not pushed",
    }
}

fn template(i: &Inputs<'_>, t: &Template, claimed: &mut BTreeSet<usize>) -> PreviewTemplate {
    let file = t.origin.file.clone();
    let values: BTreeMap<String, String> = t
        .variables
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.example.clone().unwrap_or_else(|| format!("{{{{{k}}}}}")),
            )
        })
        .collect();
    let rendered =
        |s: &str| mask_contacts(&substitute(s, &values).unwrap_or_else(|_| s.to_owned()));
    let mine: Vec<(usize, &Diagnostic)> = i
        .diagnostics
        .iter()
        .enumerate()
        .filter(|(_, d)| d.primary.file == file)
        .collect();
    let state_of = |code: Code, required: bool, extra_failure: Option<String>| {
        let found: Vec<&Diagnostic> = mine
            .iter()
            .filter(|(_, d)| d.code == code)
            .map(|(_, d)| *d)
            .collect();
        let mut messages: Vec<String> = found.iter().map(|d| mask_contacts(&d.message)).collect();
        let state = if found.iter().any(|d| d.severity == Severity::Error) {
            CheckState::Failed
        } else if let Some(m) = extra_failure {
            messages.push(m);
            CheckState::Failed
        } else if !found.is_empty() {
            CheckState::Warning
        } else if required {
            CheckState::Passed
        } else {
            CheckState::NotRequired
        };
        (state, messages)
    };
    let marketing = t.category == Category::Marketing;
    let rendered_texts: Vec<String> = t.content.texts().iter().map(|(_, s)| rendered(s)).collect();
    let card = rendered_texts
        .iter()
        .any(|s| find_card_number(s).is_some())
        .then(|| {
            "rendered with the example values the text contains a probable card number".to_owned()
        });
    let too_long: Vec<String> = t
        .variables
        .iter()
        .filter_map(|(k, v)| match (&v.example, v.max_length) {
            (Some(x), Some(m)) if x.chars().count() > m as usize => Some(format!(
                "example of `{k}` is {} characters; max_length is {m}",
                x.chars().count()
            )),
            _ => None,
        })
        .collect();
    let mut checks = Vec::new();
    let mut push = |code: Code, title: &str, required: bool, extra: Option<String>| {
        let (state, messages) = state_of(code, required, extra);
        checks.push(PreviewCheck {
            code: code.as_str(),
            title: title.to_owned(),
            state,
            messages,
        });
    };
    push(
        Code::H103,
        "placeholders are written `{{name}}`",
        true,
        None,
    );
    push(Code::H101, "every placeholder is declared", true, None);
    push(Code::H102, "every declared variable is used", true, None);
    push(Code::H104, "the texts fit the channel", true, None);
    push(
        Code::H130,
        "no variable names card, health or credential data (PCI DSS, HIPAA)",
        true,
        None,
    );
    match t.channel {
        Channel::Sms => {
            push(
                Code::H140,
                "marketing SMS tells how to opt out, e.g. Reply STOP (CTIA, TCPA)",
                marketing,
                None,
            );
            push(
                Code::H150,
                "within 765 characters with the example values (agentless SMS)",
                true,
                None,
            );
        }
        Channel::Email => {
            push(
                Code::H141,
                "marketing email has an unsubscribe link (CAN-SPAM)",
                marketing,
                None,
            );
            push(
                Code::H142,
                "marketing email shows the sender's postal address (CAN-SPAM)",
                marketing,
                None,
            );
        }
    }
    push(
        Code::H151,
        "example values within max_length",
        true,
        (!too_long.is_empty()).then(|| too_long.join("; ")),
    );
    push(
        Code::H152,
        "no payment card number in the rendered text (PCI DSS)",
        true,
        card,
    );
    let listed: BTreeSet<String> = checks.iter().map(|c| c.code.clone()).collect();
    for (n, d) in &mine {
        if listed.contains(&d.code.as_str()) {
            claimed.insert(*n);
        }
    }
    let check_state = |code: Code| {
        checks
            .iter()
            .find(|c| c.code == code.as_str())
            .map_or(CheckState::NotRequired, |c| c.state)
    };
    let content = match &t.content {
        Content::Sms { body } => PreviewContent::Sms {
            text: rendered(body),
        },
        Content::Email {
            subject,
            html,
            text,
        } => PreviewContent::Email {
            subject: rendered(subject),
            html: super::offline::offline_html(&rendered(html)),
            text: text.as_deref().map(rendered),
            unsubscribe: check_state(Code::H141),
            postal_address: check_state(Code::H142),
        },
    };
    let plan = i
        .plan
        .and_then(|p| p.templates.iter().find(|p| p.name == t.name.as_str()));
    let mut diffs = Vec::new();
    if let (Some(p), Some(remote)) = (plan, i.remote)
        && let Some(r) = p.remote.as_ref().and_then(|r| find_response(remote, &r.id))
    {
        let before = remote_fields(r);
        let after: BTreeMap<&str, &str> = t.content.texts().into_iter().collect();
        for c in &p.changes {
            let old = before.get(c.field.as_str()).map_or("", String::as_str);
            let new = after.get(c.field.as_str()).copied().unwrap_or("");
            diffs.push(FieldDiff {
                field: c.field.clone(),
                remote_version: Some(r.version),
                lines: word_diff(&mask_contacts(old), &mask_contacts(new)),
            });
        }
    }
    PreviewTemplate {
        name: t.name.to_string(),
        category: match t.category {
            Category::Transactional => "transactional",
            Category::Marketing => "marketing",
        }
        .to_owned(),
        status: match t.status {
            TemplateStatus::Published => "published",
            TemplateStatus::Draft => "draft",
        }
        .to_owned(),
        description: t.description.as_deref().map(mask_contacts),
        file,
        action: plan.map(|p| action_label(p.action).to_owned()),
        notes: plan.map_or_else(Vec::new, plan_notes),
        content: Some(content),
        variables: t
            .variables
            .iter()
            .map(|(k, v)| {
                variable(
                    k,
                    v.description.as_deref(),
                    v.example.as_deref(),
                    v.max_length,
                )
            })
            .collect(),
        checks,
        diffs,
    }
}

/// The plan's notes for a template, with the SMS cost change and the variables added or removed.
fn plan_notes(p: &crate::plan::TemplatePlan) -> Vec<String> {
    let mut notes: Vec<String> = p.notes.iter().map(|n| mask_contacts(n)).collect();
    if let (Some(b), Some(a)) = (&p.sms_before, &p.sms_after)
        && (b.encoding != a.encoding || b.segments != a.segments)
    {
        let seg = |n: usize| format!("{n} segment{}", if n == 1 { "" } else { "s" });
        notes.push(format!(
            "SMS cost as written (with placeholders): {}, {} → {}, {}",
            b.encoding,
            seg(b.segments),
            a.encoding,
            seg(a.segments)
        ));
    }
    if !p.variables_added.is_empty() {
        notes.push(format!("variables added: {}", p.variables_added.join(", ")));
    }
    if !p.variables_removed.is_empty() {
        notes.push(format!(
            "variables removed: {}",
            p.variables_removed.join(", ")
        ));
    }
    notes
}

/// Diagnostic codes only template files get.
const TEMPLATE_CODES: &[Code] = &[
    Code::H101,
    Code::H102,
    Code::H103,
    Code::H104,
    Code::H140,
    Code::H141,
    Code::H142,
    Code::H150,
];

/// Template files the loader refused (errors): shown by file name with their failed checks,
/// so a reviewer sees why, instead of the template silently missing from the page.
fn unloaded_templates(
    i: &Inputs<'_>,
    narrowed: bool,
    claimed: &mut BTreeSet<usize>,
) -> Vec<PreviewTemplate> {
    let loaded: BTreeSet<&str> =
        i.ws.templates
            .values()
            .map(|t| t.origin.file.as_str())
            .collect();
    let mut by_file: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (n, d) in i.diagnostics.iter().enumerate() {
        if TEMPLATE_CODES.contains(&d.code) && !loaded.contains(d.primary.file.as_str()) {
            by_file.entry(d.primary.file.as_str()).or_default().push(n);
        }
    }
    let mut out = Vec::new();
    for (file, found) in by_file {
        let name = Path::new(file)
            .file_stem()
            .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned());
        if narrowed && !i.templates.contains(&name) {
            continue;
        }
        let mut checks: Vec<PreviewCheck> = Vec::new();
        for &n in &found {
            claimed.insert(n);
            let d = &i.diagnostics[n];
            let code = d.code.as_str();
            let message = mask_contacts(&d.message);
            if let Some(c) = checks.iter_mut().find(|c| c.code == code) {
                c.messages.push(message);
            } else {
                checks.push(PreviewCheck {
                    code,
                    title: "see the message".to_owned(),
                    state: if d.severity == Severity::Error {
                        CheckState::Failed
                    } else {
                        CheckState::Warning
                    },
                    messages: vec![message],
                });
            }
        }
        let raw = i
            .sources
            .and_then(|s| s.get(file))
            .and_then(|text| crate::load::yaml::from_str::<RawTemplate>(text).ok());
        let (content, variables) = raw.as_ref().map_or((None, Vec::new()), raw_content);
        out.push(PreviewTemplate {
            name: raw
                .as_ref()
                .and_then(|r| r.name.clone())
                .map_or(name, |n| mask_contacts(&n)),
            category: raw
                .as_ref()
                .and_then(|r| r.category.clone())
                .unwrap_or_else(|| "unknown".to_owned()),
            status: "has errors: not sendable".to_owned(),
            description: raw
                .as_ref()
                .and_then(|r| r.description.as_deref())
                .map(mask_contacts),
            file: file.to_owned(),
            action: None,
            notes: Vec::new(),
            content,
            variables,
            checks,
            diffs: Vec::new(),
        });
    }
    out
}

/// A template file read loosely, for showing a template the loader refused: whatever of its
/// texts and examples parse.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RawTemplate {
    name: Option<String>,
    category: Option<String>,
    description: Option<String>,
    channel: Option<String>,
    body: Option<String>,
    subject: Option<String>,
    html: Option<String>,
    text: Option<String>,
    variables: BTreeMap<String, RawVariable>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RawVariable {
    description: Option<String>,
    example: Option<String>,
    max_length: Option<u32>,
}

/// A declared variable as the page shows it, addresses masked.
fn variable(
    name: &str,
    description: Option<&str>,
    example: Option<&str>,
    max_length: Option<u32>,
) -> PreviewVariable {
    PreviewVariable {
        name: name.to_owned(),
        description: description.map(mask_contacts),
        example: example.map(mask_contacts),
        max_length,
    }
}

/// A refused template's texts as written, placeholders filled with the examples that are
/// declared (the others stay `{{name}}`), addresses masked; and its declared variables.
fn raw_content(r: &RawTemplate) -> (Option<PreviewContent>, Vec<PreviewVariable>) {
    let values: BTreeMap<String, String> = r
        .variables
        .iter()
        .filter_map(|(k, v)| v.example.clone().map(|x| (k.clone(), x)))
        .collect();
    let fill = |s: &str| {
        let mut out = s.to_owned();
        for (k, v) in &values {
            out = out.replace(&format!("{{{{{k}}}}}"), v);
        }
        mask_contacts(&out)
    };
    let content = match (r.channel.as_deref(), &r.body, &r.subject, &r.html) {
        (Some("sms"), Some(body), _, _) => Some(PreviewContent::Sms { text: fill(body) }),
        (Some("email"), _, Some(subject), Some(html)) => Some(PreviewContent::Email {
            subject: fill(subject),
            html: super::offline::offline_html(&fill(html)),
            text: r.text.as_deref().map(fill),
            unsubscribe: CheckState::NotRequired,
            postal_address: CheckState::NotRequired,
        }),
        _ => None,
    };
    let variables = r
        .variables
        .iter()
        .map(|(k, v)| {
            variable(
                k,
                v.description.as_deref(),
                v.example.as_deref(),
                v.max_length,
            )
        })
        .collect();
    (content, variables)
}

fn find_response<'r>(remote: &'r RemoteState, id: &str) -> Option<&'r RemoteResponse> {
    remote
        .in_library
        .iter()
        .find(|r| r.id == id)
        .or_else(|| remote.by_id.get(id).and_then(Option::as_ref))
}

/// A response's texts by herald field name (as the plan's diff names them).
fn remote_fields(r: &RemoteResponse) -> BTreeMap<&'static str, String> {
    crate::plan::templates::fields(&r.content)
}

/// At most [`MAX_PROBLEMS`] problems, and a last line saying how many more there are.
fn capped(problems: Vec<PreviewProblem>) -> Vec<PreviewProblem> {
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    let mut problems: Vec<PreviewProblem> = problems.into_iter().take(MAX_PROBLEMS).collect();
    if more > 0 {
        problems.push(PreviewProblem {
            code: "…".to_owned(),
            severity: "warning".to_owned(),
            location: String::new(),
            message: format!("{more} more: run `herald validate` to see them all"),
        });
    }
    problems
}
