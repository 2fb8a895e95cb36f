//! `herald import [NAME…|--all]`: adopt existing Response Management templates as YAML and
//! bind them in the ledger (see [`crate::engine::import`]).

use crate::ExitStatus;
use crate::cli::{GlobalArgs, ImportTemplatesArgs};
use crate::engine::import::{ImportEvent, import_templates};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ImportTemplatesArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        args.all || !args.names.is_empty(),
        "name the responses to import, or pass --all"
    );
    let (loaded, settings) = super::env_context(global)?;
    let library = settings.env.library.clone();
    let mut on_event = |e: ImportEvent| -> anyhow::Result<()> {
        match e {
            ImportEvent::NoSuchResponse(n) => {
                printer.error(&format!(
                    "no response named `{n}` in the library `{library}`"
                ));
            }
            ImportEvent::Refused(why) => printer.error(&why),
            ImportEvent::Imported {
                name,
                id,
                version,
                file,
            } => printer.out(&format!(
                "imported {name} (response {id} v{version}) → {}\n",
                file.display()
            ))?,
        }
        Ok(())
    };
    let summary = match import_templates(
        &loaded.workspace,
        &settings,
        &args.names,
        args.all,
        &mut on_event,
    )? {
        Ok(s) => s,
        Err(e) => {
            printer.error(&e.to_string());
            return Ok(ExitStatus::Locked);
        }
    };
    if summary.selected == 0 {
        printer.error("nothing to import");
        return Ok(ExitStatus::Error);
    }
    printer.info(&format!(
        "{} imported; run `herald validate` and `herald plan`, then commit the YAML for review",
        summary.imported
    ));
    printer.info(&super::head_line(summary.ledger_head.as_ref()));
    Ok(if summary.problems == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}
