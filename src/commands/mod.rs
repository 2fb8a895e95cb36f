//! One module per command. A command resolves its arguments and settings, calls one library
//! entry point (orchestration lives in [`crate::engine`]; planning in [`crate::gather`]) and
//! hands the typed result to the printer. Commands hold no domain logic and are the only
//! code that prints.

mod apply;
mod apply_report;
mod audit;
mod audit_csv;
mod audit_report;
mod campaign;
mod completions;
mod dnc;
mod doctor;
mod import;
mod init;
mod ledger;
mod ledger_archive;
mod ledger_verify;
mod plan;
mod preview;
mod receipts;
mod reconcile;
mod render;
mod sandbox;
mod schema;
mod serve;
mod status;
mod suppress;
mod suppress_push;
mod validate;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{Cli, Command, GlobalArgs};
use crate::output::Printer;

/// Runs the parsed command.
pub(crate) fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, &args, printer),
        Command::Schema(args) => schema::run(&cli.global, &args, printer),
        Command::Render(args) => render::run(&cli.global, &args, printer),
        Command::Init(args) => init::run(&args, printer),
        Command::Apply(args) => apply::run(&cli.global, &args, printer),
        Command::Reconcile(args) => reconcile::run(&cli.global, &args, printer),
        Command::Campaign(cmd) => campaign::run(&cli.global, &cmd, printer),
        Command::Import(args) => import::run(&cli.global, &args, printer),
        Command::Plan(args) => plan::run(&cli.global, &args, printer),
        Command::Preview(args) => preview::run(&cli.global, &args, printer),
        Command::Status(args) => status::run(&cli.global, &args, printer),
        Command::Doctor(args) => doctor::run(&cli.global, &args, printer),
        Command::Ledger(cmd) => ledger::run(&cli.global, &cmd, printer),
        Command::Suppress(cmd) => suppress::run(&cli.global, &cmd, printer),
        Command::Dnc(cmd) => dnc::run(&cli.global, &cmd, printer),
        Command::Audit(args) => audit::run(&cli.global, &args, printer),
        Command::Serve(args) => serve::run(&cli.global, &args, printer),
        Command::Receipts(args) => receipts::run(&cli.global, &args, printer),
        Command::Sandbox(cmd) => sandbox::run(cmd, printer),
        Command::Completions(args) => completions::completions(&args, printer),
        Command::Man(args) => completions::man(&args, printer),
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
    let mut loaded = crate::load::load(&root);
    let settings = crate::process::resolve_env(&loaded.workspace, global.env.as_deref())?;
    loaded.workspace.clock = Some(settings.now);
    Ok((loaded, settings))
}

/// Loads the workspace and refuses (rendering the diagnostics, `None`) when it has errors;
/// resolves the environment.
fn valid_env_context(
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<Option<(crate::load::Loaded, crate::settings::EnvSettings)>> {
    let (loaded, settings) = env_context(global)?;
    if loaded.has_errors() {
        printer.err_raw(
            crate::diag::render_text(&loaded.diagnostics, &loaded.sources, printer.color_stderr())
                .trim_end(),
        );
        printer.error("the workspace has errors; nothing was done");
        return Ok(None);
    }
    Ok(Some((loaded, settings)))
}

/// `ledger head SEQ:HASH` (or `ledger head none` for a ledger without events).
fn head_line(head: Option<&herald_ledger::ChainHead>) -> String {
    match head {
        Some(h) => format!("ledger head {h}"),
        None => "ledger head none".to_owned(),
    }
}

/// `{"event": "ledger_head", "head": "SEQ:HASH", "seq": …, "hash": "<64 hex>"}`.
fn head_json(head: Option<&herald_ledger::ChainHead>) -> serde_json::Value {
    serde_json::json!({
        "event": "ledger_head",
        "head": head.map(ToString::to_string),
        "seq": head.map(|h| h.seq),
        "hash": head.map(|h| h.hash.clone()),
    })
}

/// Prints the ledger's head after a write (a line on stderr: stdout stays the command's own).
fn print_head(printer: &Printer, ledger: &dyn herald_ledger::Ledger) -> anyhow::Result<()> {
    printer.info(&head_line(ledger.head()?.as_ref()));
    Ok(())
}

/// Refuses a ledger whose tables were changed behind its chain: the checkpoint (sealed under
/// the ledger key at the head) must match the row counts of every table, the sends per state
/// and the suppressions' keyed digest. Cheap (no replay), so `apply` runs it every time,
/// before anything is written or sent; `ledger verify` is the full check.
/// Refuses a ledger that is not the one herald wrote: one whose chain lacks `expected` (when
/// given), or whose tables do not match its sealed checkpoint.
fn check_ledger(
    ledger: &dyn herald_ledger::Ledger,
    expected: Option<&herald_ledger::ChainHead>,
) -> anyhow::Result<(), String> {
    if let Some(expected) = expected {
        check_expected_head(ledger, expected)?;
    }
    check_checkpoint(ledger)
}

fn check_checkpoint(ledger: &dyn herald_ledger::Ledger) -> anyhow::Result<(), String> {
    let report = ledger.check_checkpoint().map_err(|e| e.to_string())?;
    match report.problem {
        None if report.ok => Ok(()),
        problem => Err(format!(
            "the ledger does not match its checkpoint: {}; nothing was done. Run `herald ledger verify` and restore the ledger from a copy that verifies",
            problem.unwrap_or_else(|| "unknown difference".to_owned())
        )),
    }
}

/// Refuses a ledger whose chain does not contain `expected` or whose links do not verify
/// (the links only, streaming: `ledger verify --expect-head` is the full check of the tables).
fn check_expected_head(
    ledger: &dyn herald_ledger::Ledger,
    expected: &herald_ledger::ChainHead,
) -> anyhow::Result<(), String> {
    let current = ledger.head().map_err(|e| e.to_string())?;
    let contains = ledger.contains_head(expected).map_err(|e| e.to_string())?;
    if !contains {
        return Err(format!(
            "the ledger's chain does not contain the expected head {expected} (its head is {}): \
             it was truncated, replaced by an older copy or rewritten; nothing was done",
            current.map_or_else(|| "none".to_owned(), |h| h.to_string())
        ));
    }
    let report = ledger.verify_chain().map_err(|e| e.to_string())?;
    if !report.ok {
        let b = report.first_broken.as_ref();
        return Err(format!(
            "the ledger fails verification at event {}: {}; nothing was done",
            b.and_then(|b| b.seq)
                .map_or_else(|| "?".to_owned(), |s| s.to_string()),
            b.map_or("unknown", |b| b.reason.as_str())
        ));
    }
    Ok(())
}
