//! Building a plan: the imperative shell around [`crate::plan`]. Reads the remote templates
//! and the ledger, then streams each campaign's audience once.

use std::collections::{BTreeMap, BTreeSet};

use herald_genesys::{ApiError, Library, Response};
use herald_ledger::{Ledger, LedgerKey, TemplateBinding};

use crate::diag::Diagnostic;
use crate::plan::campaigns::{LedgerFacts, PlanContext, plan_campaign};
use crate::plan::templates::{RemoteTemplates, reconcile};
use crate::plan::{LibraryPlan, Narrowing, PLAN_FORMAT_VERSION, Plan};
use crate::remote::Remote;
use crate::settings::EnvSettings;
use crate::spec::Name;
use crate::spec::model::Workspace;

/// What the remote side holds.
#[derive(Debug, Clone, Default)]
pub struct RemoteState {
    /// The managed library, when it exists.
    pub library: Option<Library>,
    /// Responses in it.
    pub in_library: Vec<Response>,
    /// Bound responses fetched by id (`None`: deleted).
    pub by_id: BTreeMap<String, Option<Response>>,
}

/// Fetches the managed library, its responses, and every bound response by id.
pub async fn fetch_remote(
    remote: &Remote,
    library: &str,
    bindings: &BTreeMap<String, TemplateBinding>,
) -> anyhow::Result<RemoteState> {
    let client = &remote.client;
    let lib = client.find_library_by_name(library).await?;
    let in_library = match &lib {
        Some(l) => client.list_responses(&l.id).await?,
        None => Vec::new(),
    };
    let mut by_id = BTreeMap::new();
    for b in bindings.values() {
        if let Some(r) = in_library.iter().find(|r| r.id == b.response_id) {
            by_id.insert(b.response_id.clone(), Some(r.clone()));
            continue;
        }
        match client.get_response(&b.response_id).await {
            Ok(r) => {
                by_id.insert(b.response_id.clone(), Some(r));
            }
            Err(ApiError::NotFound { .. }) => {
                by_id.insert(b.response_id.clone(), None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(RemoteState {
        library: lib,
        in_library,
        by_id,
    })
}

/// Which objects a narrowed plan covers.
#[derive(Debug, Clone, Default)]
pub struct Narrow {
    /// `--campaign` names.
    pub campaigns: Vec<String>,
    /// `--template` names.
    pub templates: Vec<String>,
}

impl Narrow {
    /// Whether narrowing is in effect.
    pub fn active(&self) -> bool {
        !self.campaigns.is_empty() || !self.templates.is_empty()
    }
}

/// Ledger facts for one campaign (recipients only for `dedupe_by: address`, the one rule
/// that needs them).
pub fn ledger_facts(
    ledger: &dyn Ledger,
    campaign: &crate::spec::model::Campaign,
) -> anyhow::Result<LedgerFacts> {
    let name = campaign.name.as_str();
    let recipients = if campaign.dedupe_by == crate::spec::DedupeBy::Address {
        ledger.campaign_recipients(name)?
    } else {
        std::collections::HashSet::new()
    };
    Ok(LedgerFacts {
        keys: ledger.campaign_keys(name)?,
        recipients,
        suppressions: ledger.suppression_set()?,
    })
}

/// Builds the plan. Diagnostics from the audience scans are returned; the caller refuses the
/// plan when any is an error.
pub fn build(
    ws: &Workspace,
    settings: &EnvSettings,
    remote: &RemoteState,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    narrow: &Narrow,
) -> anyhow::Result<(Plan, Vec<Diagnostic>)> {
    for n in &narrow.campaigns {
        if Name::parse(n)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
            .is_none()
        {
            anyhow::bail!(
                "--campaign {n}: no such campaign (known: {})",
                ws.campaigns
                    .keys()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for n in &narrow.templates {
        if Name::parse(n)
            .ok()
            .and_then(|n| ws.templates.get(&n))
            .is_none()
        {
            anyhow::bail!(
                "--template {n}: no such template (known: {})",
                ws.templates
                    .keys()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let campaigns: Vec<_> = ws
        .campaigns
        .values()
        .filter(|c| !narrow.active() || narrow.campaigns.iter().any(|n| n == c.name.as_str()))
        .collect();
    let mut template_names: BTreeSet<&str> = narrow.templates.iter().map(String::as_str).collect();
    template_names.extend(campaigns.iter().map(|c| c.template.as_str()));
    let templates = ws
        .templates
        .values()
        .filter(|t| !narrow.active() || template_names.contains(t.name.as_str()));
    let bindings: BTreeMap<String, TemplateBinding> = ledger
        .template_bindings()?
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let (template_plans, mut orphans) = reconcile(
        templates,
        &RemoteTemplates {
            library_id: remote.library.as_ref().map(|l| l.id.as_str()),
            in_library: &remote.in_library,
            by_id: &remote.by_id,
            bindings: &bindings,
        },
    );
    if narrow.active() {
        orphans.clear();
    }
    let ctx = PlanContext {
        ws,
        key,
        now: settings.now,
        default_rate: settings.env.rate_per_minute,
    };
    let mut diags = Vec::new();
    let mut campaign_plans = Vec::new();
    for c in campaigns {
        let facts = ledger_facts(ledger, c)?;
        campaign_plans.push(plan_campaign(&ctx, c, &facts, None, &mut diags));
    }
    let mut inputs: BTreeMap<String, String> = ws
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    for c in &campaign_plans {
        inputs.insert(c.audience_file.clone(), c.audience_hash.clone());
    }
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        herald_version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: settings.env.name.clone(),
        workspace: crate::plan::git_state(&ws.root),
        inputs,
        library: LibraryPlan {
            name: settings.env.library.clone(),
            id: remote.library.as_ref().map(|l| l.id.clone()),
            create: remote.library.is_none(),
        },
        templates: template_plans,
        orphans,
        campaigns: campaign_plans,
        narrowed_to: narrow.active().then(|| {
            narrow
                .campaigns
                .iter()
                .map(|c| Narrowing::Campaign(c.clone()))
                .chain(
                    narrow
                        .templates
                        .iter()
                        .map(|t| Narrowing::Template(t.clone())),
                )
                .collect()
        }),
    };
    Ok((plan, diags))
}
