//! `herald plan`: the reviewed artifact.

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::diag::{self, Severity};
use crate::gather::{self, Narrow};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &PlanArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    if loaded.has_errors() {
        printer.err_raw(
            diag::render_text(&loaded.diagnostics, &loaded.sources, printer.color_stderr())
                .trim_end(),
        );
        printer.error("the workspace has errors; nothing was done");
        return refused(args, &settings.env.name, &loaded.diagnostics, printer);
    }
    let ws = &loaded.workspace;
    let key = settings.ledger_key()?;
    let ledger = crate::ledger_access::open(&settings, &key)?;
    let bindings = ledger
        .template_bindings()?
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let rt = crate::engine::runtime()?;
    let state = rt.block_on(async {
        let remote = crate::remote::connect(&settings).await?;
        let state = gather::fetch_remote(&remote, &settings.env.library, &bindings).await;
        remote.shutdown().await;
        state
    })?;
    let narrow = Narrow {
        campaigns: args.campaigns.clone(),
        templates: args.templates.clone(),
        retry_failed: args.retry_failed,
    };
    let (mut plan, diags) = gather::build(ws, &settings, &state, ledger.as_ref(), &key, &narrow)?;
    crate::engine::last_apply::mark_setting_changes(
        &mut plan,
        ws,
        &loaded.sources,
        ledger.as_ref(),
    )?;
    if !diags.is_empty() {
        let shown: Vec<_> = diags
            .iter()
            .filter(|d| !printer.is_quiet() || d.severity == Severity::Error)
            .cloned()
            .collect();
        if !shown.is_empty() {
            printer.err_raw(
                diag::render_text(&shown, &loaded.sources, printer.color_stderr()).trim_end(),
            );
        }
        if diag::count(&diags).0 > 0 {
            printer.error(
                "the plan was refused: fix the errors above (`herald validate` lists them too)",
            );
            return refused(args, &settings.env.name, &diags, printer);
        }
    }
    if let Some(path) = &args.out {
        crate::engine::write_atomic(path, plan.to_json().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        printer.info(&format!(
            "saved the plan to {}; apply it with `herald apply {}`",
            path.display(),
            path.display()
        ));
    }
    match args.format {
        PlanFormat::Text => {
            printer.out(&crate::plan::report::text(&plan, printer.color_stdout()))?;
        }
        PlanFormat::Json => printer.out(&plan.to_json())?,
        PlanFormat::Markdown => printer.out(&crate::plan::report::markdown(&plan))?,
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// A refused plan: with `--format markdown`, a pull-request comment that lists the errors
/// (CI posts it, so the author sees why); exit 3.
fn refused(
    args: &PlanArgs,
    environment: &str,
    diags: &[diag::Diagnostic],
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.format == PlanFormat::Markdown {
        printer.out(&crate::plan::report::markdown_refused(environment, diags))?;
    }
    Ok(ExitStatus::Invalid)
}
