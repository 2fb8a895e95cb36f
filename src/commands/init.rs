//! `herald init [DIR]`: a working starter workspace: herald.yaml with the sandbox environment,
//! one SMS template, an audience with synthetic data, a campaign, and a .gitignore.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::InitArgs;
use crate::output::Printer;

const FILES: &[(&str, &str)] = &[
    ("herald.yaml", include_str!("init/herald.yaml")),
    (
        "templates/appointment-reminder.yaml",
        include_str!("init/appointment-reminder.yaml"),
    ),
    (
        "campaigns/patients.yaml",
        include_str!("init/patients.yaml"),
    ),
    (
        "campaigns/data/patients.csv",
        include_str!("init/patients.csv"),
    ),
    (
        "campaigns/reminders.yaml",
        include_str!("init/reminders.yaml"),
    ),
    (".gitignore", include_str!("init/gitignore")),
];

pub(crate) fn run(args: &InitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot determine the current directory")?,
    };
    if dir.join(crate::load::PROJECT_FILE).exists() {
        printer.error(&format!(
            "{} already has a herald.yaml; nothing was written",
            dir.display()
        ));
        return Ok(ExitStatus::Error);
    }
    // Refuse before writing anything, so a partial workspace is never left behind.
    for (rel, _) in FILES {
        // A link (even a dangling one) counts as existing: it is never written through.
        if std::fs::symlink_metadata(dir.join(rel)).is_ok() {
            printer.error(&format!(
                "{} already exists; nothing was written",
                dir.join(rel).display()
            ));
            return Ok(ExitStatus::Error);
        }
    }
    for (rel, text) in FILES {
        let path: PathBuf = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        crate::engine::write_new(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    printer.info(&format!(
        "created a herald workspace in {}\nnext: cd {} && herald validate && herald plan",
        dir.display(),
        dir.display()
    ));
    Ok(ExitStatus::Success)
}
