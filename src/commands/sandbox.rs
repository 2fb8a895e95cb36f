//! `herald sandbox serve`: the Genesys emulator as a standalone server.

use crate::ExitStatus;
use crate::cli::SandboxCommand;
use crate::output::Printer;

pub(crate) fn run(cmd: SandboxCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        SandboxCommand::Serve(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let mut out = std::io::stdout();
            rt.block_on(herald_sandbox::serve(args, &mut out))?;
            printer.info("sandbox stopped");
            Ok(ExitStatus::Success)
        }
    }
}
