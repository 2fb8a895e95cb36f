//! herald: campaign-as-code for Genesys Cloud outbound SMS and email.
//!
//! Data flow: [`load`] reads the workspace into validated [`spec`] types (collecting
//! [`diag`]nostics), [`audience`] streams recipients, [`text`] renders and measures messages,
//! [`planner`] builds a plan, [`engine`] orchestrates applying it (and reconcile, receipts,
//! suppressions) over the executor in [`apply`], and [`commands`] resolve arguments, call one
//! entry point and print its report. Pure modules (`spec`, `text`, `hash`)
//! do no I/O.

pub mod apply;
pub mod audience;
pub mod cli;
mod commands;
pub mod diag;
mod engine;
pub mod exit;
pub mod failpoint;
pub mod hash;
pub mod ledger_access;
pub mod load;
mod output;
pub mod plan;
pub mod planner;
pub mod recipients;
pub mod remote;
pub mod schedule;
pub mod settings;
pub mod spec;
pub mod text;
pub mod validate;

use std::process::ExitCode;

pub use exit::ExitStatus;

/// Runs one CLI invocation to completion and returns the process exit code.
pub fn run(cli: cli::Cli) -> ExitCode {
    let printer = output::Printer::new(&cli.global);
    output::init_tracing(&cli.global);
    match commands::dispatch(cli, &printer) {
        Ok(status) => status.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitStatus::Success.into();
            }
            printer.error(&output::error_chain(&err));
            ExitStatus::Error.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
