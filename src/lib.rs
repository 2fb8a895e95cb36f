//! herald: campaign-as-code for Genesys Cloud outbound SMS and email.
//!
//! The layers, from the terminal down (each uses only the ones below it):
//!
//! | layer | modules | does |
//! |---|---|---|
//! | CLI face | `cli`, `commands`, `output`, [`exit`] | parses arguments, calls one entry point per command, prints its typed report |
//! | engine | `engine` | orchestrates apply (template and campaign phases, `--wait`), reconcile, receipts, suppressions, import, status, doctor |
//! | planning I/O | [`gather`], [`remote`], [`ledger_access`] | reads the remote templates, the ledger, git and the audiences, and runs the core over them |
//! | executor | [`executor`] | claims, dispatches (through a `Dispatch` implementation: agentless today) and records sends |
//! | workspace files | [`load`], [`audience`], [`validate`], [`preview`] | reads the workspace and streams audiences; writes the reviewer's page |
//! | settings | [`settings`], [`process`], [`secret_files`] | resolves settings without I/O from what [`process`] read once; key and secret files |
//! | core (`herald-core`) | [`plan`], [`spec`], [`text`], [`messages`], [`schedule`], [`local_time`], [`diag`], [`hash`] | the pure domain, re-exported here: no I/O, observed state in, typed results out |
//!
//! Cargo's graph keeps the core pure (its dependencies are an allowlist), and
//! `tests/architecture.rs` parses every source below the face and fails on any path into it.

// The CLI face.
pub mod cli;
mod commands;
pub mod exit;
mod output;

// The engine and the executor.
mod engine;
pub mod executor;

// Planning I/O, settings and errors.
pub mod error_text;
pub mod failpoint;
pub mod gather;
pub mod ledger_access;
pub mod process;
pub mod remote;
pub mod secret_files;
pub mod settings;

// The workspace's files.
pub mod audience;
pub mod load;
pub mod preview;
pub mod validate;

use std::process::ExitCode;

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
