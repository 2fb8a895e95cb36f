//! `herald preview`'s work: plan against Genesys and the ledger when the workspace is valid,
//! and gather what the reviewer's page shows. The command only prints the diagnostics and
//! writes the page.

use crate::diag::{self, Diagnostic};
use crate::gather::{self, Narrow};
use crate::load::Loaded;
use crate::plan::Plan;
use crate::plan::observed::RemoteState;
use crate::preview::PreviewPage;
use crate::preview::adapt::{Inputs, page};
use crate::settings::EnvSettings;

/// The page's inputs: every diagnostic (loader and audience scans), and the plan with the
/// remote state it was made against, or why there is none.
pub(crate) struct PreviewInputs {
    /// Loader diagnostics and the audience scans'.
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// The plan and the remote state, when a plan could be made.
    pub(crate) planned: Option<(Plan, RemoteState)>,
    /// Why there is no plan.
    pub(crate) no_plan: Option<String>,
}

impl PreviewInputs {
    /// The page's view, narrowed like the plan.
    pub(crate) fn page(&self, loaded: &Loaded, environment: &str, narrow: &Narrow) -> PreviewPage {
        page(&Inputs {
            ws: &loaded.workspace,
            sources: Some(&loaded.sources),
            diagnostics: &self.diagnostics,
            plan: self.planned.as_ref().map(|(p, _)| p),
            remote: self.planned.as_ref().map(|(_, s)| s),
            environment,
            campaigns: &narrow.campaigns,
            templates: &narrow.templates,
            no_plan: self.no_plan.clone(),
        })
    }

    /// Whether any diagnostic is an error.
    pub(crate) fn has_errors(&self) -> bool {
        diag::count(&self.diagnostics).0 > 0
    }
}

/// Plans (unless the workspace has errors) and returns the page's inputs.
pub(crate) fn inputs(
    loaded: &Loaded,
    settings: &EnvSettings,
    narrow: &Narrow,
) -> anyhow::Result<PreviewInputs> {
    let mut diagnostics = loaded.diagnostics.clone();
    if loaded.has_errors() {
        return Ok(PreviewInputs {
            diagnostics,
            planned: None,
            no_plan: Some(
                "The workspace has errors (listed at the top of the page), so no plan was made and campaigns are not shown."
                    .to_owned(),
            ),
        });
    }
    let key = settings.ledger_key()?;
    let ledger = crate::ledger_access::open(settings, &key)?;
    let bindings = ledger
        .template_bindings()?
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let rt = super::runtime()?;
    let state = rt.block_on(async {
        let remote = crate::remote::connect(settings).await?;
        let state = gather::fetch_remote(&remote, &settings.env.library, &bindings).await;
        remote.shutdown().await;
        state
    })?;
    let (mut plan, scan) = gather::build(
        &loaded.workspace,
        settings,
        &state,
        ledger.as_ref(),
        &key,
        narrow,
    )?;
    super::last_apply::mark_setting_changes(
        &mut plan,
        &loaded.workspace,
        &loaded.sources,
        ledger.as_ref(),
    )?;
    let refused = diag::count(&scan).0 > 0;
    diagnostics.extend(scan);
    Ok(if refused {
        PreviewInputs {
            diagnostics,
            planned: None,
            no_plan: Some(
                "Audience rows have errors (listed at the top of the page): the plan was refused, so campaigns are not shown."
                    .to_owned(),
            ),
        }
    } else {
        PreviewInputs {
            diagnostics,
            planned: Some((plan, state)),
            no_plan: None,
        }
    })
}
