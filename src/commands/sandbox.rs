//! `herald sandbox serve`: the Genesys emulator as a standalone server.

use crate::ExitStatus;
use crate::cli::SandboxCommand;
use crate::output::Printer;

pub(crate) fn run(cmd: SandboxCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        SandboxCommand::Serve(args) => {
            let rt = crate::engine::runtime()?;
            let mut out = printer.stream();
            rt.block_on(herald_sandbox::serve(args, &mut out))?;
            printer.info("sandbox stopped");
            Ok(ExitStatus::Success)
        }
    }
}
