//! `apply` orchestration: take the run lock, re-plan against the current remote and ledger,
//! check a saved plan for stale objects, then write templates and send campaigns (again as
//! held rows open, with `--wait`). The command prompts and prints between the steps:
//! [`Session::open`] → [`Session::plan`] → [`Planned::execute`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use herald_ledger::{LedgerKey, LockError, NewRun};
use jiff::Timestamp;

use super::stale::{PlanObject, StaleSet, stale_objects};
use crate::diag::{self, Diagnostic, Severity};
use crate::executor::agentless::Agentless;
use crate::executor::templates::TemplateError;
use crate::executor::{
    ApplyOptions, CampaignReport, Count, Event, Executor, RowTotals, TemplateOutcome,
    TemplateWriter,
};
use crate::gather::{self, CampaignInputs, Narrow};
use crate::ledger_access::Locked;
use crate::plan::review::{self, ReviewObject};
use crate::plan::{
    CampaignStatus, Narrowing, PLAN_FORMAT_OLDEST, PLAN_FORMAT_VERSION, Plan, Reason,
    TemplateAction,
};
use crate::remote::Remote;
use crate::settings::EnvSettings;
use crate::spec::Name;
use crate::spec::model::Workspace;

/// Checks a saved plan's format: one from an older herald is refused (its review left out
/// inputs that decide what is sent), as is one from a newer herald.
fn check_plan_format(path: &Path, plan: &Plan) -> anyhow::Result<()> {
    anyhow::ensure!(
        plan.format_version >= PLAN_FORMAT_OLDEST,
        "{} was made by an older herald (plan format {}; this herald reads format {PLAN_FORMAT_VERSION}): its review does not cover everything that decides what is sent; plan again",
        path.display(),
        plan.format_version
    );
    anyhow::ensure!(
        plan.format_version <= PLAN_FORMAT_VERSION,
        "{} has plan format {}, made by a newer herald (this herald reads format {PLAN_FORMAT_VERSION}): plan again with this herald, or upgrade it",
        path.display(),
        plan.format_version
    );
    Ok(())
}

/// Reads a plan saved with `herald plan --out` and checks it was made for this herald and
/// this environment.
pub(crate) fn read_saved_plan(path: &Path, settings: &EnvSettings) -> anyhow::Result<Plan> {
    let text = fs_err::read_to_string(path)?;
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a herald plan", path.display()))?;
    check_plan_format(path, &plan)?;
    anyhow::ensure!(
        plan.environment == settings.env.name,
        "{} was made for environment `{}`, not `{}`: pass --env {}",
        path.display(),
        plan.environment,
        settings.env.name,
        plan.environment
    );
    Ok(plan)
}

/// What `apply --approved-digest` binds the run to: the approved review digest and, when the
/// reviewed plan was given (`--approved-plan`), its objects, to name what differs.
#[derive(Debug, Clone)]
pub(crate) struct Approval {
    /// `sha256:` + 64 hex digits.
    pub(crate) digest: String,
    /// The reviewed plan's objects.
    pub(crate) reviewed: Option<Vec<ReviewObject>>,
    /// The reviewed campaigns' outcome groups (a saved plan holds them), to count the sends
    /// that changed.
    pub(crate) groups: BTreeMap<String, String>,
}

/// Checks the approved digest's form and reads the reviewed plan, if given: a plan saved by
/// `herald plan --out`, or the Markdown plan (a pull-request comment) with its review markers.
/// The reviewed plan must itself have the approved digest, and be of this herald's review
/// format (an older one is refused: plan again).
pub(crate) fn read_approval(
    digest: &str,
    reviewed_plan: Option<&Path>,
) -> anyhow::Result<Approval> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    anyhow::ensure!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "--approved-digest `{digest}` is not `sha256:` followed by 64 lowercase hex digits (copy it from `herald plan`)"
    );
    let Some(path) = reviewed_plan else {
        return Ok(Approval {
            digest: digest.to_owned(),
            reviewed: None,
            groups: BTreeMap::new(),
        });
    };
    let text = fs_err::read_to_string(path)?;
    let (objects, groups) = if text.trim_start().starts_with('{') {
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a herald plan", path.display()))?;
        check_plan_format(path, &plan)?;
        let groups = review::outcome_groups(&plan);
        (plan.review, groups)
    } else {
        let found = review::from_markdown(&text);
        anyhow::ensure!(
            !found.objects.is_empty(),
            "{} holds no `<!-- {} … -->` lines: pass the Markdown plan or a plan saved with `herald plan --out`",
            path.display(),
            review::OBJECT_MARKER
        );
        let format = found.format.as_deref().unwrap_or("herald-review-v1");
        anyhow::ensure!(
            format == review::REVIEW_FORMAT,
            "{} was made by {} herald (review format {format}; this herald writes {}): its review does not cover what this herald checks; plan again",
            path.display(),
            if format == "herald-review-v1" {
                "an older"
            } else {
                "another"
            },
            review::REVIEW_FORMAT
        );
        (found.objects, BTreeMap::new())
    };
    let found = review::digest(&objects);
    anyhow::ensure!(
        found == digest,
        "{} is not the approved plan: its review digest is {found}, not {digest}",
        path.display()
    );
    Ok(Approval {
        digest: digest.to_owned(),
        reviewed: Some(objects),
        groups,
    })
}

/// A run that holds the environment's lock.
pub(crate) struct Session<'a> {
    ws: &'a Workspace,
    settings: &'a EnvSettings,
    key: LedgerKey,
    run_id: String,
    locked: Locked,
}

impl<'a> Session<'a> {
    /// Resolves the ledger key and takes the run lock (waiting up to `lock_timeout`); a lock
    /// held by a live run is the inner error.
    pub(crate) fn open(
        ws: &'a Workspace,
        settings: &'a EnvSettings,
        lock_timeout: Option<std::time::Duration>,
    ) -> anyhow::Result<Result<Self, LockError>> {
        let key = settings.ledger_key()?;
        let run_id = super::new_run_id("apply");
        let locked = match crate::ledger_access::open_locked(
            settings,
            &key,
            &run_id,
            "apply",
            lock_timeout,
        )? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(Self {
            ws,
            settings,
            key,
            run_id,
            locked,
        }))
    }

    /// The ledger, read-only (for the `--expect-head` check before anything is done).
    pub(crate) fn ledger(&self) -> &dyn herald_ledger::Ledger {
        self.locked.ledger.as_ref()
    }

    /// How many `dispatching` rows a crashed run left (now `unknown`).
    pub(crate) fn recovered_unknown(&self) -> u64 {
        self.locked.recovered_unknown
    }

    /// Connects to Genesys and builds the current plan, narrowed by `narrow` or else by the
    /// saved plan's own narrowing, and compares it with the saved plan.
    pub(crate) fn plan(
        self,
        saved: Option<Plan>,
        mut narrow: Narrow,
    ) -> anyhow::Result<Planned<'a>> {
        let Self {
            ws,
            settings,
            key,
            run_id,
            locked,
        } = self;
        let rt = super::runtime()?;
        let remote = rt.block_on(crate::remote::connect(settings))?;
        let witness = rt.block_on(super::witness::read(&remote.client, settings))?;
        let witness_refusal = super::witness::refusal(locked.ledger.as_ref(), &witness)?;
        let bindings = locked
            .ledger
            .template_bindings()?
            .into_iter()
            .map(|b| (b.name.clone(), b))
            .collect();
        let remote_state = rt.block_on(gather::fetch_remote(
            &remote,
            &settings.env.library,
            &bindings,
        ))?;
        // A saved plan narrowed with `--campaign`/`--template` applies exactly those objects;
        // everything else was left out on purpose, not by a stale plan.
        if !narrow.active()
            && let Some(objects) = saved.as_ref().and_then(|s| s.narrowed_to.as_ref())
        {
            for object in objects {
                match object {
                    Narrowing::Campaign(c) => narrow.campaigns.push(c.clone()),
                    Narrowing::Template(t) => narrow.templates.push(t.clone()),
                }
            }
        }
        // A saved plan that sends refused rows again was reviewed so: apply does as it says.
        if saved
            .as_ref()
            .is_some_and(|s| s.campaigns.iter().any(|c| c.retry_failed > 0))
        {
            narrow.retry_failed = true;
        }
        let (current, diags, inputs) = gather::build_for_send(
            ws,
            settings,
            &remote_state,
            locked.ledger.as_ref(),
            &key,
            &narrow,
        )?;
        let errors: Vec<Diagnostic> = if diag::count(&diags).0 > 0 {
            diags
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect()
        } else {
            Vec::new()
        };
        let stale = saved
            .as_ref()
            .map(|s| stale_objects(s, &current, ws))
            .unwrap_or_default();
        Ok(Planned {
            ws,
            settings,
            key,
            run_id,
            locked,
            rt,
            remote,
            saved,
            narrow,
            current,
            inputs,
            errors,
            stale,
            witness,
            witness_refusal,
        })
    }
}

/// A locked, connected run with its current plan, ready to execute.
pub(crate) struct Planned<'a> {
    ws: &'a Workspace,
    settings: &'a EnvSettings,
    key: LedgerKey,
    run_id: String,
    locked: Locked,
    rt: tokio::runtime::Runtime,
    remote: Remote,
    saved: Option<Plan>,
    narrow: Narrow,
    /// The plan as of now.
    pub(crate) current: Plan,
    /// What each campaign of `current` was planned from (ledger facts, audience seal), reused
    /// by the send pass.
    inputs: BTreeMap<String, CampaignInputs>,
    /// Errors in the audience data: apply refuses when there are any.
    pub(crate) errors: Vec<Diagnostic>,
    /// Objects of the saved plan that are stale (not applied), with why.
    pub(crate) stale: StaleSet,
    /// The ledger head witness found in the org (see [`super::witness`]).
    witness: super::witness::Found,
    /// Why the ledger may not be used: its chain lacks the head the org witnesses.
    pub(crate) witness_refusal: Option<String>,
}

/// A message about the `--wait` loop, for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitNotice {
    /// Held rows open too far ahead (more than 24 h): not waiting.
    TooFar(Timestamp),
    /// Waiting until this instant for held rows.
    Waiting(Timestamp),
}

impl fmt::Display for WaitNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFar(next) => write!(
                f,
                "held rows open at {next}, more than 24 h away; not waiting"
            ),
            Self::Waiting(next) => write!(
                f,
                "waiting until {} for held recipients (Ctrl-C stops)",
                next.strftime("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
    }
}

/// How a run ended, as recorded in the ledger's run record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunOutcome {
    /// Everything planned was done.
    Ok,
    /// Ctrl-C stopped the run.
    Interrupted,
    /// A problem (the first one) or a stale plan.
    Error(String),
}

impl RunOutcome {
    /// The outcome without its first problem's text (the problems are listed after it).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Interrupted => "interrupted",
            Self::Error(_) => "error",
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Interrupted => f.write_str("interrupted"),
            Self::Error(first) => write!(f, "error: {first}"),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone)]
pub(crate) struct ApplyReport {
    /// The run id.
    pub(crate) run_id: String,
    /// How it ended.
    pub(crate) outcome: RunOutcome,
    /// Per campaign sent (in order).
    pub(crate) campaigns: Vec<CampaignReport>,
    /// Everything that went wrong, in order.
    pub(crate) problems: Vec<String>,
    /// The ledger's chain head after the run was recorded.
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

impl ApplyReport {
    /// Whether the run did everything it was asked to.
    pub(crate) fn succeeded(&self) -> bool {
        self.outcome == RunOutcome::Ok
    }

    /// Whether Ctrl-C stopped it.
    pub(crate) fn interrupted(&self) -> bool {
        self.outcome == RunOutcome::Interrupted
    }
}

impl Planned<'_> {
    /// Whether there is anything to do: changes, or held rows to wait for with `--wait`.
    pub(crate) fn has_work(&self, wait: bool) -> bool {
        let waits = wait
            && self
                .current
                .campaigns
                .iter()
                .any(|c| c.status == CampaignStatus::Active && c.next_opening.is_some());
        self.current.has_changes() || waits
    }

    /// Whether a messaging-campaign wave of an earlier run is still open (rows handed off to
    /// Genesys, or a wave not finished): `apply` resolves it even with nothing new to send.
    pub(crate) fn has_open_waves(&self) -> anyhow::Result<bool> {
        let ledger = &self.locked.ledger;
        let unfinished = ledger
            .waves(None)?
            .iter()
            .any(|r| r.wave.status < herald_ledger::WaveStatus::Stopped);
        let handed_off = ledger
            .campaign_counts(None, Timestamp::now())?
            .iter()
            .any(|c| {
                c.by_state
                    .get(&herald_ledger::SendState::HandedOff)
                    .copied()
                    .unwrap_or(0)
                    > 0
            });
        Ok(unfinished || handed_off)
    }

    /// Messages the current plan sends (for a progress bar).
    pub(crate) fn total_to_send(&self) -> u64 {
        self.current
            .campaigns
            .iter()
            .filter(|c| c.status == CampaignStatus::Active)
            .map(crate::plan::CampaignPlan::to_send)
            .sum()
    }

    /// Why the current plan is not the approved one, one line per object that differs (or
    /// one line saying the digests differ when the reviewed plan is unknown); `None` when the
    /// review digests are equal.
    pub(crate) fn approval_refusal(&self, approval: &Approval) -> Option<Vec<String>> {
        if self.current.review_digest == approval.digest {
            return None;
        }
        let mut why = vec![format!(
            "the plan's review digest is {}, not the approved {}",
            self.current.review_digest, approval.digest
        )];
        match &approval.reviewed {
            Some(reviewed) => why.extend(review::differences(
                reviewed,
                &self.current.review,
                &approval.groups,
                &review::outcome_groups(&self.current),
            )),
            None => why.push(
                "pass the reviewed plan with --approved-plan FILE to name the objects that differ"
                    .to_owned(),
            ),
        }
        Some(why)
    }

    /// Ends without doing anything (nothing is recorded).
    pub(crate) fn close(self) {
        self.rt.block_on(self.remote.shutdown());
    }

    /// Writes templates, then sends campaigns; with `wait`, sends held rows as they open (up
    /// to 24 h ahead, not with a pinned clock). Records the run in the ledger.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn execute(
        self,
        options: ApplyOptions,
        wait: bool,
        on_event: &mut dyn FnMut(&Event),
        on_wait: &mut dyn FnMut(WaitNotice),
    ) -> anyhow::Result<ApplyReport> {
        let Planned {
            ws,
            settings,
            key,
            run_id,
            mut locked,
            rt,
            remote,
            saved,
            narrow,
            current,
            mut inputs,
            stale,
            witness,
            ..
        } = self;
        let interrupted = Arc::new(AtomicBool::new(false));
        {
            let flag = interrupted.clone();
            rt.spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
            });
        }
        let git = current.workspace.commit.clone();
        locked.ledger.begin_run(&NewRun {
            run_id: run_id.clone(),
            command: "apply".into(),
            user: settings.vars.user.clone(),
            host: settings.vars.host.clone(),
            git_commit: git.clone(),
            plan_hash: saved.as_ref().map(Plan::hash),
        })?;
        let resend_unknown = options.redo.unknown;
        let mut problems: Vec<String> = Vec::new();
        let template_ok = template_phase(
            &mut TemplateWriter {
                ledger: locked.ledger.as_mut(),
                client: &remote.client,
                rt: &rt,
                run_id: &run_id,
                git_commit: git,
                on_event: &mut *on_event,
            },
            ws,
            &current,
            &stale,
            &mut problems,
        );
        let agentless = Agentless::new(&remote.client);
        let mut exec = Executor {
            ws,
            ledger: locked.ledger.as_mut(),
            key: &key,
            dispatch: &agentless,
            rt: &rt,
            run_id: &run_id,
            options,
            interrupted: interrupted.clone(),
            sent_in_run: 0,
            on_event,
            fixed_now: settings.fixed_now(),
            wave: None,
        };
        // Then campaigns (again when held rows open, with --wait).
        let can_wait = !settings.now_pinned;
        let mut reports: Vec<CampaignReport> = Vec::new();
        let mut plan_now = current.clone();
        loop {
            campaign_phase(
                &mut exec,
                &remote.client,
                &plan_now,
                &mut inputs,
                &stale,
                &template_ok,
                resend_unknown,
                &mut reports,
                &mut problems,
            );
            if !wait || !can_wait || interrupted.load(Ordering::SeqCst) || !problems.is_empty() {
                break;
            }
            let Some(next) = plan_now
                .campaigns
                .iter()
                .filter(|c| c.status == CampaignStatus::Active)
                .filter_map(|c| c.next_opening)
                .min()
            else {
                break;
            };
            let limit = Timestamp::now()
                .checked_add(jiff::SignedDuration::from_hours(24))
                .unwrap_or(next);
            if next > limit {
                on_wait(WaitNotice::TooFar(next));
                break;
            }
            on_wait(WaitNotice::Waiting(next));
            while Timestamp::now() < next && !interrupted.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
            // The ledger decides who is already sent or opted out: one edited behind the
            // chain while waiting (the checkpoint no longer matches) is not planned from.
            let checkpoint = exec.ledger.check_checkpoint()?;
            if !checkpoint.ok || checkpoint.problem.is_some() {
                problems.push(format!(
                    "the ledger changed while waiting: it does not match its checkpoint ({}); nothing more was sent. Run `herald ledger verify`",
                    checkpoint
                        .problem
                        .unwrap_or_else(|| "unknown difference".to_owned())
                ));
                break;
            }
            let mut fresh = settings.clone();
            fresh.now = Timestamp::now();
            let bindings_now = exec
                .ledger
                .template_bindings()?
                .into_iter()
                .map(|b| (b.name.clone(), b))
                .collect();
            let state_now = rt.block_on(gather::fetch_remote(
                &remote,
                &settings.env.library,
                &bindings_now,
            ))?;
            (plan_now, _, inputs) =
                gather::build_for_send(ws, &fresh, &state_now, &*exec.ledger, &key, &narrow)?;
            // Only what was reviewed: the new plan must be the approved one, compared as the
            // approval check compares it, less the run's own progress. Any difference stops
            // every campaign.
            let why = review::changed_while_running(&current.review, &plan_now.review);
            if !why.is_empty() {
                problems.push(
                    "the plan changed while waiting; nothing more was sent: plan again".to_owned(),
                );
                problems.extend(
                    why.into_iter()
                        .map(|w| format!("changed while waiting: {w}")),
                );
                for c in &mut plan_now.campaigns {
                    c.status = CampaignStatus::Blocked;
                }
            }
        }
        drop(exec);
        for report in &reports {
            problems.extend(report.failure_lines());
        }
        if interrupted.load(Ordering::SeqCst) {
            add_row_totals(&current, &stale, &mut reports);
        }
        let outcome = if interrupted.load(Ordering::SeqCst) {
            RunOutcome::Interrupted
        } else if problems.is_empty() && stale.is_empty() {
            RunOutcome::Ok
        } else {
            RunOutcome::Error(
                problems
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "stale plan".into()),
            )
        };
        locked.ledger.finish_run(&run_id, &outcome.to_string())?;
        let ledger_head = locked.ledger.head()?;
        if let Some(head) = &ledger_head
            && let Err(e) = rt.block_on(super::witness::record(
                &remote.client,
                settings,
                &witness,
                head,
            ))
        {
            problems.push(format!(
                "the ledger head witness in the org was not updated ({e}); the next apply checks the previous one"
            ));
        }
        rt.block_on(remote.shutdown());
        drop(locked);
        Ok(ApplyReport {
            run_id,
            outcome,
            campaigns: reports,
            problems,
            ledger_head,
        })
    }
}

/// After an interruption: gives each campaign the run was to send (its last report, or a new
/// one when it was never reached) totals that add up: already sent + sent now + left = rows.
fn add_row_totals(current: &Plan, stale: &StaleSet, reports: &mut Vec<CampaignReport>) {
    for cplan in &current.campaigns {
        if cplan.status != CampaignStatus::Active
            || stale.contains_key(&PlanObject::Campaign(cplan.name.clone()))
        {
            continue;
        }
        let sent_now: u64 = reports
            .iter()
            .filter(|r| r.campaign == cplan.name)
            .map(|r| r.get(Count::Sent))
            .sum();
        let totals = RowTotals::new(cplan.rows, cplan.counts.get(Reason::AlreadySent), sent_now);
        match reports.iter_mut().rev().find(|r| r.campaign == cplan.name) {
            Some(last) => last.totals = Some(totals),
            None => reports.push(CampaignReport {
                campaign: cplan.name.clone(),
                totals: Some(totals),
                ..CampaignReport::default()
            }),
        }
    }
}

/// Writes the planned templates (creating the managed library when one is needed); returns
/// each template's outcome by name.
fn template_phase(
    exec: &mut TemplateWriter<'_>,
    ws: &Workspace,
    current: &Plan,
    stale: &StaleSet,
    problems: &mut Vec<String>,
) -> BTreeMap<String, TemplateOutcome> {
    let is_stale = |name: &str| stale.contains_key(&PlanObject::Template(name.to_owned()));
    let needs_library = current
        .templates
        .iter()
        .any(|t| t.action.is_change() && !is_stale(&t.name));
    let library_id = if needs_library || current.library.id.is_some() {
        match exec.ensure_library(&current.library.name, current.library.id.as_deref()) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(format!(
                    "creating the library `{}` failed: {}",
                    current.library.name,
                    crate::error_text::error_chain(&e)
                ));
                None
            }
        }
    } else {
        None
    };
    let mut outcomes = BTreeMap::new();
    for tplan in &current.templates {
        let t = &ws.templates[&Name::parse(&tplan.name).expect("planned names are valid")];
        let outcome = if let Some(why) = stale.get(&PlanObject::Template(tplan.name.clone())) {
            TemplateOutcome::Stale(why.clone())
        } else if tplan.action == TemplateAction::Draft {
            TemplateOutcome::Draft
        } else if let Some(lib) = &library_id {
            exec.apply_template(t, tplan, lib)
        } else {
            TemplateOutcome::Failed(TemplateError::NoLibrary)
        };
        if let TemplateOutcome::Failed(why) = &outcome {
            problems.push(why.to_string());
        }
        outcomes.insert(tplan.name.clone(), outcome);
    }
    outcomes
}

/// Sends every active, non-stale campaign of `plan` whose template is ready, each from what
/// its plan read (`inputs`); the frequency caps' recent sends are read again first.
#[allow(clippy::too_many_arguments)]
fn campaign_phase(
    exec: &mut Executor<'_, Agentless>,
    client: &herald_genesys::GenesysClient,
    plan: &Plan,
    inputs: &mut BTreeMap<String, CampaignInputs>,
    stale: &StaleSet,
    templates: &BTreeMap<String, TemplateOutcome>,
    resend_unknown: bool,
    reports: &mut Vec<CampaignReport>,
    problems: &mut Vec<String>,
) {
    for cplan in &plan.campaigns {
        if cplan.status != CampaignStatus::Active
            || stale.contains_key(&PlanObject::Campaign(cplan.name.clone()))
        {
            continue;
        }
        if exec.interrupted() {
            break;
        }
        let ws = exec.ws;
        let campaign = &ws.campaigns[&Name::parse(&cplan.name).expect("planned names are valid")];
        let tplan = plan
            .templates
            .iter()
            .find(|t| t.name == cplan.template)
            .expect("campaign templates are planned");
        let response_id = match templates.get(&cplan.template) {
            Some(TemplateOutcome::Ready(id)) => id.clone(),
            Some(not_ready) => {
                problems.push(format!(
                    "campaign {} not sent: its template {} was not written ({not_ready})",
                    cplan.name, cplan.template
                ));
                continue;
            }
            None => continue,
        };
        let wave = !campaign.dispatch.is_agentless();
        if !wave
            && cplan.to_send() == 0
            && (cplan.counts.get(Reason::Unknown) == 0 || !resend_unknown)
        {
            continue;
        }
        let Some(read) = inputs.get_mut(&cplan.name) else {
            problems.push(format!(
                "campaign {}: its plan's inputs are missing; nothing was sent",
                cplan.name
            ));
            continue;
        };
        let sent = read
            .facts
            .refresh_recent_sends(&*exec.ledger, ws, campaign)
            .and_then(|()| {
                if wave {
                    exec.run_wave(
                        campaign,
                        cplan,
                        &response_id,
                        &tplan.desired_remote_hash,
                        read,
                        client,
                    )
                } else {
                    exec.run_campaign(
                        campaign,
                        cplan,
                        &response_id,
                        &tplan.desired_remote_hash,
                        read,
                    )
                    .map(Some)
                }
            });
        match sent {
            Ok(None) => {}
            Ok(Some(report)) => {
                if let Some(h) = &report.halted {
                    problems.push(format!("campaign {}: {h}", report.campaign));
                }
                reports.push(report);
            }
            Err(e) => problems.push(format!(
                "campaign {}: {}",
                cplan.name,
                crate::error_text::error_chain(&e)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_outcomes_are_recorded_as_before() {
        assert_eq!(RunOutcome::Ok.to_string(), "ok");
        assert_eq!(RunOutcome::Interrupted.to_string(), "interrupted");
        assert_eq!(
            RunOutcome::Error("stale plan".into()).to_string(),
            "error: stale plan"
        );
    }

    #[test]
    fn wait_notices_name_the_opening_time() {
        let at: Timestamp = "2026-03-02T14:00:00Z".parse().expect("valid");
        assert_eq!(
            WaitNotice::Waiting(at).to_string(),
            "waiting until 2026-03-02 14:00:00 UTC for held recipients (Ctrl-C stops)"
        );
        assert!(WaitNotice::TooFar(at).to_string().ends_with("not waiting"));
    }
}
