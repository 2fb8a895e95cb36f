//! The `herald` binary: parse the command line, hand it to the library, map the outcome to an
//! exit code. Everything testable lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    herald::run(cli)
}
