//! `herald completions SHELL` and `herald man [COMMAND…]`: generated from the command tree
//! itself (clap's generators), so they list exactly the commands and options herald has.

use anyhow::bail;
use clap::CommandFactory as _;

use crate::ExitStatus;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::output::Printer;

/// Prints the completion script for the shell.
pub(crate) fn completions(args: &CompletionsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "herald", &mut out);
    printer.out(&String::from_utf8(out)?)?;
    Ok(ExitStatus::Success)
}

/// Prints herald(1), or the page of the named subcommand (`herald-ledger-verify(1)`).
pub(crate) fn man(args: &ManArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut name = "herald".to_owned();
    for part in &args.command {
        let Some(sub) = cmd.find_subcommand(part).cloned() else {
            let known: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect();
            bail!(
                "`{name}` has no subcommand `{part}` (it has: {})",
                known.join(", ")
            );
        };
        name = format!("{name}-{part}");
        cmd = sub;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).title(name).render(&mut out)?;
    printer.out(&String::from_utf8(out)?)?;
    Ok(ExitStatus::Success)
}
