//! `herald doctor`: one line per set-up check (see [`crate::engine::doctor`]); exit 0 when
//! nothing failed, 1 otherwise.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{DoctorArgs, Format, GlobalArgs};
use crate::engine::doctor::{CheckStatus, DoctorOptions, DoctorReport, doctor};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &DoctorArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let root = super::workspace_root(global)?;
    let loaded = crate::load::load(&root);
    let errors = crate::diag::count(&loaded.diagnostics).0;
    let opts = DoctorOptions {
        dnc_list: args.dnc_list.clone(),
        serve: args.serve,
    };
    let report = match crate::process::resolve_env(&loaded.workspace, global.env.as_deref()) {
        Ok(settings) => doctor(&loaded.workspace, errors, &settings, &opts),
        Err(e) => {
            let mut r = DoctorReport::default();
            r.checks.push(crate::engine::doctor::Check {
                id: "environment",
                status: CheckStatus::Fail,
                detail: format!("{e:#}"),
                fix: Some(
                    "define the environment under `environments:` in herald.yaml, or pass --env"
                        .into(),
                ),
            });
            r
        }
    };
    match args.format {
        Format::Json => printer.out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        Format::Text => {
            let mut out = String::new();
            if !report.environment.is_empty() {
                let _ = writeln!(out, "environment `{}`", report.environment);
            }
            for c in &report.checks {
                let mark = match c.status {
                    CheckStatus::Ok => "✓",
                    CheckStatus::Warn => "!",
                    CheckStatus::Fail => "✗",
                };
                let _ = writeln!(out, "{mark} {}: {}", c.id, c.detail);
                if let Some(fix) = &c.fix {
                    let _ = writeln!(out, "    fix: {fix}");
                }
            }
            let failed = report
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Fail)
                .count();
            let warned = report
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Warn)
                .count();
            let _ = writeln!(out, "{failed} failed, {warned} warnings");
            printer.out(&out)?;
        }
    }
    Ok(if report.failed() {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
