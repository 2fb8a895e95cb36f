//! `herald import [NAME…|--all]`: adopt existing Response Management templates as YAML and
//! bind them in the ledger (see [`crate::engine::import`]).

use crate::ExitStatus;
use crate::cli::{Format, GlobalArgs, ImportTemplatesArgs};
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
    let json = args.format == Format::Json;
    let (mut imported, mut missing, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    let mut on_event = |e: ImportEvent| -> anyhow::Result<()> {
        if json {
            match e {
                ImportEvent::NoSuchResponse(n) => missing.push(n),
                ImportEvent::Refused(why) => refused.push(why),
                ImportEvent::Imported {
                    name,
                    id,
                    version,
                    file,
                } => imported.push(serde_json::json!({
                    "name": name,
                    "response_id": id,
                    "version": version,
                    "file": file.display().to_string(),
                })),
            }
            return Ok(());
        }
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
    if json {
        printer.out(&format!(
            "{}\n",
            serde_json::json!({
                "imported": imported,
                "not_found": missing,
                "refused": refused,
                "ledger": super::head_json(summary.ledger_head.as_ref()),
            })
        ))?;
    }
    if summary.selected == 0 {
        printer.error("nothing to import");
        return Ok(ExitStatus::Error);
    }
    if json {
        return Ok(if summary.problems == 0 {
            ExitStatus::Success
        } else {
            ExitStatus::Error
        });
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
