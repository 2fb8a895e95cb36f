//! Status: per-campaign counts from the ledger, with the workspace's never-applied campaigns
//! shown as zero rows.

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
    settings: &EnvSettings,
    campaign: Option<&str>,
) -> anyhow::Result<StatusReport> {
    let key = settings.ledger_key()?;
    let ledger = crate::ledger_access::open(settings, &key)?;
    let mut counts = ledger.campaign_counts(campaign, settings.now)?;
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
