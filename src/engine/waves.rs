//! Messaging-campaign waves outside `apply`: `herald reconcile` reads what Genesys did with
//! every open wave's contacts (by contact id, a bulk read per 1,000), and `herald campaign
//! stop` stops a campaign's running waves. Both hold the run lock and record a run.

use herald_ledger::{LockError, NewRun, WaveStatus};

use crate::executor::wave_drive::{Driver, Mode, Tally};
use crate::settings::EnvSettings;
use crate::spec::model::Workspace;

/// One wave looked at.
#[derive(Debug, Clone)]
pub(crate) struct WaveSummary {
    /// herald campaign.
    pub(crate) campaign: String,
    /// Wave number.
    pub(crate) wave: u32,
    /// Its status after this run.
    pub(crate) status: WaveStatus,
    /// What was read.
    pub(crate) tally: Tally,
}

/// What a run did to the waves (empty: none was open).
#[derive(Debug, Clone, Default)]
pub(crate) struct WavesReport {
    /// Each wave looked at.
    pub(crate) waves: Vec<WaveSummary>,
    /// The ledger head after the run (`None`: nothing was written).
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

/// What to do to the open waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    /// Read their outcomes (`campaign`: one campaign or all).
    Reconcile(Option<&'a str>),
    /// Stop the running waves of this campaign.
    Stop(&'a str),
}

/// Runs `action` on the open waves under the run lock.
pub(crate) fn run(
    ws: &Workspace,
    settings: &EnvSettings,
    action: Action<'_>,
) -> anyhow::Result<Result<WavesReport, LockError>> {
    let key = settings.ledger_key()?;
    let (command, campaign) = match action {
        Action::Reconcile(c) => ("reconcile", c),
        Action::Stop(c) => ("campaign-stop", Some(c)),
    };
    let run_id = super::new_run_id(command);
    let mut locked =
        match crate::ledger_access::open_locked(settings, &key, &run_id, command, None)? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(settings))?;
    let mut report = WavesReport::default();
    let mut on_event = |_: &crate::executor::Event| {};
    let mut driver = Driver {
        ledger: locked.ledger.as_mut(),
        client: &remote.client,
        rt: &rt,
        key: &key,
        run_id: &run_id,
        interrupted: None,
        on_event: &mut on_event,
    };
    let open = driver.open_waves(campaign)?;
    if open.is_empty() {
        rt.block_on(remote.shutdown());
        return Ok(Ok(report));
    }
    driver.ledger.begin_run(&NewRun {
        run_id: run_id.clone(),
        command: command.into(),
        user: settings.vars.user.clone(),
        host: settings.vars.host.clone(),
        git_commit: crate::gather::git_state(&ws.root).commit,
        plan_hash: None,
    })?;
    let result = match action {
        Action::Reconcile(_) => open.into_iter().try_for_each(|w| {
            let (campaign, wave) = (w.campaign.clone(), w.wave);
            let tally = driver.drive(w, Mode::Reconcile, None)?;
            report
                .waves
                .push(summary(&*driver.ledger, campaign, wave, tally)?);
            anyhow::Ok(())
        }),
        Action::Stop(name) => driver.stop(name).and_then(|(waves, tally)| {
            for (i, wave) in waves.into_iter().enumerate() {
                let t = if i == 0 { tally } else { Tally::default() };
                report
                    .waves
                    .push(summary(&*driver.ledger, name.to_owned(), wave, t)?);
            }
            Ok(())
        }),
    };
    let outcome = match &result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {}", crate::error_text::error_chain(e)),
    };
    locked.ledger.finish_run(&run_id, &outcome)?;
    rt.block_on(remote.shutdown());
    result?;
    report.ledger_head = locked.ledger.head()?;
    Ok(Ok(report))
}

fn summary(
    ledger: &dyn herald_ledger::Ledger,
    campaign: String,
    wave: u32,
    tally: Tally,
) -> anyhow::Result<WaveSummary> {
    let status = ledger
        .waves(Some(&campaign))?
        .into_iter()
        .find(|r| r.wave.wave == wave)
        .map_or(WaveStatus::Recorded, |r| r.wave.status);
    Ok(WaveSummary {
        campaign,
        wave,
        status,
        tally,
    })
}
