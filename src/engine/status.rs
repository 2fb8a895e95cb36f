//! Status: per-campaign counts from the ledger, with the workspace's never-applied campaigns
//! shown as zero rows. `held` also counts the audience rows `plan` holds for later (send
//! window, time zone, recipient-local rules, frequency caps), which are not in the ledger
//! yet, so status and plan agree.

use herald_ledger::CampaignCounts;

use crate::settings::EnvSettings;
use crate::spec::model::Workspace;

/// The ledger's view of the environment.
#[derive(Debug)]
pub(crate) struct StatusReport {
    /// Per campaign, by name.
    pub(crate) campaigns: Vec<CampaignCounts>,
    /// Suppressed recipients.
    pub(crate) suppressions: usize,
}

/// Counts for `campaign` (all when `None`); a named campaign that neither the workspace nor
/// the ledger knows is an error.
pub(crate) fn status(
    ws: &Workspace,
    ws_is_plannable: bool,
    settings: &EnvSettings,
    campaign: Option<&str>,
) -> anyhow::Result<StatusReport> {
    let key = settings.ledger_key()?;
    let ledger = crate::ledger_access::open(settings, &key)?;
    let mut counts = ledger.campaign_counts(campaign, settings.now)?;
    let holds = if ws_is_plannable {
        planned_holds(ws, settings, ledger.as_ref(), &key)?
    } else {
        std::collections::BTreeMap::new()
    };
    // Campaigns defined in the workspace but never applied show as zero rows.
    for name in ws.campaigns.keys() {
        let wanted = campaign.is_none_or(|c| c == name.as_str());
        if wanted && !counts.iter().any(|c| c.campaign == name.as_str()) {
            counts.push(CampaignCounts {
                campaign: name.to_string(),
                ..Default::default()
            });
        }
    }
    for c in &mut counts {
        c.held += holds.get(&c.campaign).copied().unwrap_or(0);
    }
    counts.sort_by(|a, b| a.campaign.cmp(&b.campaign));
    if let Some(c) = campaign
        && counts.is_empty()
    {
        anyhow::bail!("no campaign `{c}` in the workspace or the ledger");
    }
    Ok(StatusReport {
        campaigns: counts,
        suppressions: ledger.suppressions()?.len(),
    })
}

/// Per campaign, the audience rows the plan holds for later, decided as `plan` decides them
/// (campaigns in plan order, each counting the sends planned before it against the caps).
fn planned_holds(
    ws: &Workspace,
    settings: &EnvSettings,
    ledger: &dyn herald_ledger::Ledger,
    key: &herald_ledger::LedgerKey,
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let ctx = crate::plan::campaigns::PlanContext {
        ws,
        now: settings.now,
        default_rate: settings.env.rate_per_minute,
        redo: herald_ledger::Redo::NONE,
    };
    let mut planned = crate::plan::campaigns::PlannedSends::default();
    let mut diags = Vec::new();
    let mut out = std::collections::BTreeMap::new();
    // An archived campaign is never planned again (`plan` refuses it): nothing is held.
    let archived: std::collections::HashSet<String> = ledger
        .archive_cuts()?
        .into_iter()
        .flat_map(|cut| cut.campaigns.into_iter().map(|(name, _, _)| name))
        .collect();
    for c in ws.campaigns.values() {
        if archived.contains(c.name.as_str()) {
            continue;
        }
        let p = crate::gather::plan_one(&ctx, ledger, key, c, false, &mut planned, &mut diags)?;
        out.insert(p.plan.name.clone(), p.plan.counts.held());
    }
    Ok(out)
}
