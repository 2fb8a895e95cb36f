//! `herald apply [PLAN_FILE]`: take the lock, check the plan, confirm, write templates, send
//! (see [`crate::engine::apply`]); print the plan, events and the run summary.

use std::io::IsTerminal as _;

use crate::ExitStatus;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::engine::apply::{Session, read_approval, read_saved_plan};
use crate::executor::{ApplyOptions, Count, Event};
use crate::gather::Narrow;
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ApplyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((loaded, mut settings)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    settings.rate_limit_wait = args.rate_limit_wait.try_into().ok();
    let json = args.json || args.format == crate::cli::Format::Json;
    let saved = match &args.plan_file {
        Some(path) => Some(read_saved_plan(path, &settings)?),
        None => None,
    };
    let approval = match &args.approved_digest {
        Some(d) => Some(read_approval(d, args.approved_plan.as_deref())?),
        None => None,
    };
    let reviewed = saved.is_some() || approval.is_some();
    if !reviewed && !args.auto_approve && !std::io::stdin().is_terminal() {
        printer.error("stdin is not a terminal, so apply cannot ask for confirmation: pass --auto-approve, or a plan saved with `herald plan --out`");
        return Ok(ExitStatus::Error);
    }
    if reviewed && args.resend_unknown {
        // `unknown` rows (maybe sent) are outside every reviewed outcome.
        printer.error("apply refused: --resend-unknown sends `unknown` rows (maybe sent already), which no review covers, so it cannot be combined with --approved-digest or a saved plan; nothing was written or sent. Resolve them with `herald reconcile`, then plan and review again");
        return Ok(ExitStatus::Error);
    }
    let wait = args.lock_timeout.map(std::time::Duration::from_secs);
    let session = match Session::open(&loaded.workspace, &settings, wait)? {
        Ok(s) => s,
        Err(e) => {
            printer.error(&format!(
                "{e}; try again when it finishes (or pass --lock-timeout SECS)"
            ));
            return Ok(ExitStatus::Locked);
        }
    };
    if let Err(why) = super::check_ledger(session.ledger(), args.expect_head.as_ref()) {
        printer.error(&format!("apply refused: {why}"));
        return Ok(ExitStatus::Error);
    }
    if session.recovered_unknown() > 0 {
        printer.warn(&format!(
            "an earlier run stopped mid-batch: {} sends are now `unknown` (maybe sent) and will not be resent; run `herald reconcile` to resolve them",
            session.recovered_unknown()
        ));
    }
    let narrow = Narrow {
        campaigns: args.campaigns.clone(),
        templates: args.templates.clone(),
        retry_failed: args.retry_failed,
    };
    let planned = session.plan(saved, narrow)?;
    if let Some(why) = &planned.witness_refusal {
        printer.error(&format!("apply refused: {why}"));
        planned.close();
        return Ok(ExitStatus::Error);
    }
    if !planned.errors.is_empty() {
        printer.err_raw(
            crate::diag::render_text(&planned.errors, &loaded.sources, printer.color_stderr())
                .trim_end(),
        );
        printer.error("apply refused: the audience data has errors");
        planned.close();
        return Ok(ExitStatus::Invalid);
    }
    if let Some(why) = approval.as_ref().and_then(|a| planned.approval_refusal(a)) {
        printer.error("apply refused: this is not the approved plan; nothing was written or sent");
        for line in why {
            printer.err_raw(&format!("  {line}"));
        }
        planned.close();
        return Ok(ExitStatus::Error);
    }
    for (object, why) in &planned.stale {
        printer.error(&format!("stale plan: {object} is not applied: {why}"));
    }
    if !reviewed && !json {
        printer.err_raw(&crate::plan::report::text(
            &planned.current,
            printer.color_stderr(),
        ));
    }
    if !planned.has_work(args.wait) && !planned.has_open_waves()? {
        printer.info("nothing to do");
        let stale = !planned.stale.is_empty();
        planned.close();
        return Ok(if stale {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        });
    }
    if !reviewed && !args.auto_approve {
        printer.err_raw("Apply this plan? Only 'yes' is accepted: ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            printer.error("apply cancelled; nothing was done");
            planned.close();
            return Ok(ExitStatus::Error);
        }
    }
    let progress = crate::output::progress_bar(printer, planned.total_to_send(), json);
    let mut on_event = |e: &Event| {
        if json {
            let _ = printer.out(&format!(
                "{}\n",
                serde_json::to_string(e).unwrap_or_default()
            ));
        }
        if let (
            false,
            Event::Template {
                name,
                action,
                version: Some(v),
                ..
            },
        ) = (json, e)
        {
            // What was written in Genesys, as it happens; a failure is told once, with the
            // run's problems.
            printer.info(&format!("template {name}: {action} (version {v})"));
        }
        if let (
            false,
            Event::Wave {
                campaign,
                wave,
                status,
                processed,
                contacts,
            },
        ) = (json, e)
        {
            printer.info(&format!(
                "campaign {campaign} wave {wave}: {processed}/{contacts} contacts processed by Genesys ({status})"
            ));
        }
        if let (Some(pb), Event::Batch { counts, .. }) = (&progress, e) {
            pb.inc(counts.values().sum());
            pb.set_message(format!(
                "sent {}",
                counts.get(&Count::Sent).copied().unwrap_or(0)
                    + pb.position().saturating_sub(counts.values().sum())
            ));
        }
    };
    let options = ApplyOptions {
        max_sends: args.max_sends,
        redo: herald_ledger::Redo {
            unknown: args.resend_unknown,
            failed: args.retry_failed,
        },
        preflight_every: args.preflight_every,
    };
    let report = planned.execute(options, args.wait, &mut on_event, &mut |notice| {
        printer.info(&notice.to_string());
    })?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    super::apply_report::print_report(&report, json, printer)?;
    Ok(if report.succeeded() {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}
