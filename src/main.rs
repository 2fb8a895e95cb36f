//! The `herald` binary: parse the command line, hand it to the library, map the outcome to an
//! exit code. Everything testable lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match herald::cli::Cli::try_parse() {
        Ok(cli) => herald::run(cli),
        Err(err) => {
            // Usage errors exit 1, not clap's 2: 2 means "changes pending" to herald's callers.
            let _ = err.print();
            ExitCode::from(u8::from(err.use_stderr()))
        }
    }
}
