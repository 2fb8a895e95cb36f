//! `herald apply [PLAN_FILE]`: take the lock, check the plan, write templates, send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

use crate::ExitStatus;
use crate::apply::{ApplyOptions, CampaignReport, Event, Executor};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::diag::{self, Severity};
use crate::gather::{self, Narrow};
use crate::output::Printer;
use crate::plan::{CampaignStatus, Narrowing, PLAN_FORMAT_VERSION, Plan, Reason, TemplateAction};
use crate::spec::Name;

/// Compares a saved plan with the current one; returns the objects that are stale, with why.
/// Objects absent from the saved plan are not applied either (nobody reviewed them).
pub(crate) fn stale_objects(
    saved: &Plan,
    current: &Plan,
    ws: &crate::spec::model::Workspace,
) -> BTreeMap<String, String> {
    let mut stale_set = BTreeMap::new();
    for t in &current.templates {
        let key = format!("template {}", t.name);
        let Some(s) = saved.templates.iter().find(|s| s.name == t.name) else {
            if t.action.is_change() {
                stale_set.insert(key, "not in the saved plan".to_owned());
            }
            continue;
        };
        if s.content_hash != t.content_hash {
            stale_set.insert(
                key,
                format!(
                    "its text changed since the plan ({} → {})",
                    short(&s.content_hash),
                    short(&t.content_hash)
                ),
            );
        } else if s.remote != t.remote {
            let v = |r: &Option<crate::plan::RemoteRef>| {
                r.as_ref()
                    .map_or_else(|| "absent".to_owned(), |r| format!("version {}", r.version))
            };
            stale_set.insert(
                key,
                format!(
                    "it changed in Genesys since the plan ({} → {})",
                    v(&s.remote),
                    v(&t.remote)
                ),
            );
        } else if s.action != t.action {
            stale_set.insert(
                key,
                format!(
                    "its planned action changed ({:?} → {:?})",
                    s.action, t.action
                ),
            );
        }
    }
    for c in &current.campaigns {
        let key = format!("campaign {}", c.name);
        let Some(s) = saved.campaigns.iter().find(|s| s.name == c.name) else {
            if c.status == CampaignStatus::Active {
                stale_set.insert(key, "not in the saved plan".to_owned());
            }
            continue;
        };
        // The campaign's and its audience's definitions, and the policy in herald.yaml
        // (send window, caps), must be the reviewed ones: an address column or a variable
        // mapping that changed sends something nobody reviewed.
        let definition_files: Vec<String> = Name::parse(&c.name)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
            .map(|camp| {
                let mut files = vec![
                    crate::load::PROJECT_FILE.to_owned(),
                    camp.origin.file.clone(),
                ];
                if let Some(a) = ws.audiences.get(&camp.audience) {
                    files.push(a.origin.file.clone());
                }
                files
            })
            .unwrap_or_default();
        let changed_file = definition_files
            .iter()
            .find(|f| saved.inputs.get(*f) != current.inputs.get(*f));
        if let Some(f) = changed_file {
            stale_set.insert(key, format!("{f} changed since the plan"));
        } else if s.audience_hash != c.audience_hash {
            stale_set.insert(
                key,
                format!(
                    "its audience file {} changed since the plan",
                    c.audience_file
                ),
            );
        } else if s.template_hash != c.template_hash {
            stale_set.insert(key, "its template changed since the plan".to_owned());
        } else if s.send_keys != c.send_keys {
            stale_set.insert(key, format!("the set of recipients to send changed since the plan ({} → {} keys; another run may have sent some)", s.send_keys.count, c.send_keys.count));
        } else if s.status != c.status {
            stale_set.insert(
                key,
                format!("its status changed ({} → {})", s.status, c.status),
            );
        }
    }
    stale_set
}

fn short(h: &str) -> &str {
    let h = h.strip_prefix("sha256:").unwrap_or(h);
    h.get(..12).unwrap_or(h)
}

#[allow(clippy::too_many_lines)]
pub(crate) fn run(
    global: &GlobalArgs,
    args: &ApplyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((loaded, settings)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    let ws = &loaded.workspace;
    let saved: Option<Plan> = match &args.plan_file {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            let plan: Plan = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a herald plan", path.display()))?;
            anyhow::ensure!(
                plan.format_version == PLAN_FORMAT_VERSION,
                "{} has plan format {}, this herald reads {PLAN_FORMAT_VERSION}",
                path.display(),
                plan.format_version
            );
            anyhow::ensure!(
                plan.environment == settings.env.name,
                "{} was made for environment `{}`, not `{}`: pass --env {}",
                path.display(),
                plan.environment,
                settings.env.name,
                plan.environment
            );
            Some(plan)
        }
        None => None,
    };
    if saved.is_none() && !args.auto_approve && !std::io::stdin().is_terminal() {
        printer.error("stdin is not a terminal, so apply cannot ask for confirmation: pass --auto-approve, or a plan saved with `herald plan --out`");
        return Ok(ExitStatus::Error);
    }
    let key = settings.ledger_key()?;
    let run_id = super::new_run_id("apply");
    let wait = args.lock_timeout.map(std::time::Duration::from_secs);
    let mut locked =
        match crate::ledger_access::open_locked(&settings, &key, &run_id, "apply", wait)? {
            Ok(l) => l,
            Err(e) => {
                printer.error(&format!(
                    "{e}; try again when it finishes (or pass --lock-timeout SECS)"
                ));
                return Ok(ExitStatus::Locked);
            }
        };
    if locked.recovered_unknown > 0 {
        printer.warn(&format!(
            "an earlier run stopped mid-batch: {} sends are now `unknown` (maybe sent) and will not be resent; run `herald reconcile` to resolve them",
            locked.recovered_unknown
        ));
    }
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(&settings))?;
    let bindings = locked
        .ledger
        .template_bindings()?
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let state = rt.block_on(gather::fetch_remote(
        &remote,
        &settings.env.library,
        &bindings,
    ))?;
    let mut narrow = Narrow {
        campaigns: args.campaigns.clone(),
        templates: args.templates.clone(),
    };
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
    let (current, diags) =
        gather::build(ws, &settings, &state, locked.ledger.as_ref(), &key, &narrow)?;
    if diag::count(&diags).0 > 0 {
        let errors: Vec<_> = diags
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        printer.err_raw(
            diag::render_text(&errors, &loaded.sources, printer.color_stderr()).trim_end(),
        );
        printer.error("apply refused: the audience data has errors");
        rt.block_on(remote.shutdown());
        return Ok(ExitStatus::Invalid);
    }
    let stale_set = saved
        .as_ref()
        .map(|s| stale_objects(s, &current, ws))
        .unwrap_or_default();
    for (object, why) in &stale_set {
        printer.error(&format!("stale plan: {object} is not applied: {why}"));
    }
    if saved.is_none() && !args.json {
        printer.err_raw(&crate::plan::report::text(&current, printer.color_stderr()));
    }
    let waits = args.wait
        && current
            .campaigns
            .iter()
            .any(|c| c.status == CampaignStatus::Active && c.next_opening.is_some());
    if !current.has_changes() && !waits {
        printer.info("nothing to do");
        rt.block_on(remote.shutdown());
        return Ok(if stale_set.is_empty() {
            ExitStatus::Success
        } else {
            ExitStatus::Error
        });
    }
    if saved.is_none() && !args.auto_approve {
        printer.err_raw("Apply this plan? Only 'yes' is accepted: ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            printer.error("apply cancelled; nothing was done");
            rt.block_on(remote.shutdown());
            return Ok(ExitStatus::Error);
        }
    }
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
    locked.ledger.begin_run(&herald_ledger::NewRun {
        run_id: run_id.clone(),
        command: "apply".into(),
        user: crate::settings::current_user(),
        host: crate::settings::host_name(),
        git_commit: git.clone(),
        plan_hash: saved.as_ref().map(Plan::hash),
    })?;
    let total: u64 = current
        .campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active)
        .map(crate::plan::CampaignPlan::to_send)
        .sum();
    let progress = crate::output::progress_bar(printer, total, args.json);
    let json = args.json;
    let mut on_event = |e: &Event| {
        if json {
            let _ = printer.out(&format!(
                "{}\n",
                serde_json::to_string(e).unwrap_or_default()
            ));
        }
        if let (Some(pb), Event::Batch { counts, .. }) = (&progress, e) {
            pb.inc(counts.values().sum());
            pb.set_message(format!(
                "sent {}",
                counts.get("sent").copied().unwrap_or(0)
                    + pb.position().saturating_sub(counts.values().sum())
            ));
        }
    };
    let can_wait = crate::settings::env_var(crate::settings::ENV_NOW).is_none();
    let fixed_now = crate::settings::env_var(crate::settings::ENV_NOW)
        .is_some()
        .then_some(settings.now);
    let mut exec = Executor {
        ws,
        ledger: locked.ledger.as_mut(),
        key: &key,
        client: &remote.client,
        rt: &rt,
        run_id: run_id.clone(),
        git_commit: git,
        options: ApplyOptions {
            max_sends: args.max_sends,
            resend_unknown: args.resend_unknown,
            preflight_every: args.preflight_every,
        },
        interrupted: interrupted.clone(),
        sent_in_run: 0,
        on_event: &mut on_event,
        fixed_now,
        pacer: None,
    };
    let mut problems: Vec<String> = Vec::new();
    // Templates first.
    let needs_library = current
        .templates
        .iter()
        .any(|t| t.action.is_change() && !stale_set.contains_key(&format!("template {}", t.name)));
    let library_id = if needs_library || current.library.id.is_some() {
        match exec.ensure_library(&current.library.name, current.library.id.as_deref()) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(format!(
                    "creating the library `{}` failed: {e:#}",
                    current.library.name
                ));
                None
            }
        }
    } else {
        None
    };
    let mut template_ok: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    for tplan in &current.templates {
        let key_name = format!("template {}", tplan.name);
        let t = &ws.templates[&Name::parse(&tplan.name).expect("planned names are valid")];
        let outcome = if let Some(why) = stale_set.get(&key_name) {
            Err(format!("stale: {why}"))
        } else if tplan.action == TemplateAction::Draft {
            Err("draft".to_owned())
        } else if let Some(lib) = &library_id {
            exec.apply_template(t, tplan, lib)
        } else {
            Err("the managed library is unavailable".to_owned())
        };
        if let Err(why) = &outcome
            && !why.starts_with("stale")
            && why != "draft"
        {
            problems.push(why.clone());
        }
        template_ok.insert(tplan.name.clone(), outcome);
    }
    // Then campaigns (again when held rows open, with --wait).
    let mut reports: Vec<CampaignReport> = Vec::new();
    let mut plan_now = current.clone();
    loop {
        for cplan in &plan_now.campaigns {
            if cplan.status != CampaignStatus::Active
                || stale_set.contains_key(&format!("campaign {}", cplan.name))
            {
                continue;
            }
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
            let campaign =
                &ws.campaigns[&Name::parse(&cplan.name).expect("planned names are valid")];
            let tplan = plan_now
                .templates
                .iter()
                .find(|t| t.name == cplan.template)
                .expect("campaign templates are planned");
            let response_id = match template_ok.get(&cplan.template) {
                Some(Ok(id)) => id.clone(),
                Some(Err(why)) => {
                    problems.push(format!(
                        "campaign {} not sent: its template {} was not written ({why})",
                        cplan.name, cplan.template
                    ));
                    continue;
                }
                None => continue,
            };
            if cplan.to_send() == 0
                && (cplan.counts.get(Reason::Unknown) == 0 || !args.resend_unknown)
            {
                continue;
            }
            match exec.run_campaign(campaign, cplan, tplan, &response_id) {
                Ok(report) => {
                    if let Some(h) = &report.halted {
                        problems.push(format!("campaign {}: {h}", report.campaign));
                    }
                    reports.push(report);
                }
                Err(e) => problems.push(format!("campaign {}: {e:#}", cplan.name)),
            }
        }
        if !args.wait || !can_wait || interrupted.load(Ordering::SeqCst) || !problems.is_empty() {
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
        let limit = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(next);
        if next > limit {
            printer.info(&format!(
                "held rows open at {next}, more than 24 h away; not waiting"
            ));
            break;
        }
        printer.info(&format!(
            "waiting until {} for held recipients (Ctrl-C stops)",
            next.strftime("%Y-%m-%d %H:%M:%S UTC")
        ));
        while jiff::Timestamp::now() < next && !interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let mut fresh = settings.clone();
        fresh.now = jiff::Timestamp::now();
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
        plan_now = gather::build(ws, &fresh, &state_now, &*exec.ledger, &key, &narrow)?.0;
        // Only what was reviewed: a campaign whose audience or definition changed while
        // waiting is not sent.
        for c in &mut plan_now.campaigns {
            let reviewed = current.campaigns.iter().find(|r| r.name == c.name);
            if reviewed.is_none_or(|r| {
                r.audience_hash != c.audience_hash || r.template_hash != c.template_hash
            }) {
                problems.push(format!(
                    "campaign {} changed while waiting; not sent: plan again",
                    c.name
                ));
                c.status = CampaignStatus::Blocked;
            }
        }
    }
    drop(exec);
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let outcome = if was_interrupted {
        "interrupted".to_owned()
    } else if problems.is_empty() && stale_set.is_empty() {
        "ok".to_owned()
    } else {
        format!(
            "error: {}",
            problems
                .first()
                .cloned()
                .unwrap_or_else(|| "stale plan".into())
        )
    };
    locked.ledger.finish_run(&run_id, &outcome)?;
    rt.block_on(remote.shutdown());
    drop(locked);
    if args.json {
        let summary = serde_json::json!({ "event": "summary", "run_id": run_id, "outcome": outcome, "campaigns": reports, "problems": problems });
        printer.out(&format!("{summary}\n"))?;
    } else {
        let mut out = String::new();
        for r in &reports {
            let mut parts: Vec<String> = Vec::new();
            // Rows held when read (quiet hours, no time zone) and rows held at send time
            // are one number to the reader: they stay pending for a later run.
            let held = r.get("held") + r.get("held_quiet_hours") + r.get("held_no_timezone");
            for (k, n) in [
                ("sent", r.get("sent")),
                ("failed", r.get("failed")),
                ("unknown", r.get("unknown")),
                ("pending", r.get("pending")),
                ("held", held),
                ("before_schedule", r.get("before_schedule")),
                ("suppressed", r.get("suppressed")),
                ("not_started", r.get("not_started")),
            ] {
                if n > 0 {
                    parts.push(format!("{k} {n}"));
                }
            }
            if parts.is_empty() {
                parts.push("nothing sent".into());
            }
            let _ = writeln!(out, "{:<32} {}", r.campaign, parts.join(" · "));
        }
        let _ = writeln!(out, "run {run_id}: {outcome}");
        printer.out(&out)?;
        let unknown: u64 = reports.iter().map(|r| r.get("unknown")).sum();
        if unknown > 0 {
            printer.warn(&format!("{unknown} sends ended `unknown` (maybe sent); they are not resent: run `herald reconcile`"));
        }
    }
    for p in &problems {
        printer.error(p);
    }
    if was_interrupted {
        printer.error(
            "interrupted: in-flight sends were recorded; run `herald apply` again to resume",
        );
    }
    Ok(
        if problems.is_empty() && stale_set.is_empty() && !was_interrupted {
            ExitStatus::Success
        } else {
            ExitStatus::Error
        },
    )
}
