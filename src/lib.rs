//! herald: campaign-as-code for Genesys Cloud outbound SMS and email.
//!
//! Data flow: [`load`] reads the workspace into validated [`spec`] types (collecting
//! [`diag`]nostics); [`audience`] streams each campaign's rows, which [`messages`] turns into
//! messages ([`text`] renders and measures them); [`gather`] reads the remote templates, the
//! ledger, the audience files and git, and runs the pure planning core ([`plan`]) over them;
//! `engine` orchestrates applying a plan (and reconcile, receipts, suppressions) over the
//! [`executor`], which claims, dispatches and records sends through a `Dispatch`
//! implementation; `commands` resolve arguments, call one entry point and print its report.
//!
//! The planning core ([`plan`], [`spec`], [`text`], [`hash`], [`messages`], [`schedule`],
//! [`local_time`], [`diag`]) is the `herald-core` crate, re-exported here: it does no I/O, takes
//! observed state as values and returns typed results; Cargo's graph keeps it so.

pub mod audience;
pub mod cli;
mod commands;
mod engine;
pub mod error_text;
pub mod executor;
pub mod exit;
pub mod failpoint;
pub mod gather;
pub mod ledger_access;
pub mod load;
mod output;
pub mod preview;
pub mod process;
pub mod remote;
pub mod secret_files;
pub mod settings;
pub mod validate;

use std::process::ExitCode;

/// The executor under its earlier name.
pub use executor as apply;
pub use exit::ExitStatus;
pub use herald_core::{diag, hash, local_time, messages, plan, schedule, spec, text};

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
            printer.error(&error_text::error_chain(&err));
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
