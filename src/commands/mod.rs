//! One module per command. Commands resolve their inputs, call library code and hand results
//! to the printer; they hold no domain logic.

mod init;
mod ledger;
mod render;
mod sandbox;
mod schema;
mod status;
mod suppress;
mod validate;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::output::Printer;

pub use schema::generate as generate_schemas;

/// Runs the parsed command.
pub fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, &args, printer),
        Command::Schema(args) => schema::run(&cli.global, &args, printer),
        Command::Render(args) => render::run(&cli.global, &args, printer),
        Command::Init(args) => init::run(&args, printer),
        Command::Status(args) => status::run(&cli.global, &args, printer),
        Command::Ledger(cmd) => ledger::run(&cli.global, &cmd, printer),
        Command::Suppress(cmd) => suppress::run(&cli.global, &cmd, printer),
        Command::Sandbox(cmd) => sandbox::run(cmd, printer),
    }
}

/// The workspace root from `-C` or the current directory.
fn workspace_root(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    crate::load::find_root(global.workspace.as_deref(), &cwd).map_err(anyhow::Error::msg)
}

/// Loads the workspace (diagnostics are not fatal here: ledger commands work on a workspace
/// with broken templates) and resolves the target environment.
fn env_context(
    global: &GlobalArgs,
) -> anyhow::Result<(crate::load::Loaded, crate::settings::EnvSettings)> {
    let root = workspace_root(global)?;
    let loaded = crate::load::load(&root);
    let settings = crate::settings::resolve_env(&loaded.workspace, global.env.as_deref())?;
    Ok((loaded, settings))
}
