//! `herald audit RECIPIENT`: every send (with why it was allowed), suppression change and
//! registry listing of one recipient, from the ledger alone. The recipient is matched by its
//! keyed id and shown only masked. `--archive FILE` adds the sends an archive holds.

use super::audit_csv::csv;
use super::audit_report::{document, text};
use crate::ExitStatus;
use crate::cli::{AuditArgs, AuditFormat, GlobalArgs};
use crate::engine::suppress::parse_address;
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &AuditArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let address = parse_address(&args.recipient)
        .map_err(|e| anyhow::anyhow!("not a phone number or email address: {e}"))?;
    let (_loaded, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let ledger = crate::ledger_access::open(&settings, &key)?;
    let channel = address.channel();
    let recipient = key.recipient_id(channel, &address.normalized());
    let mut audit = ledger.recipient_audit(&recipient)?;
    for path in &args.archive {
        let archived = herald_ledger::archived_sends_of(ledger.as_ref(), &key, path, &recipient)?;
        audit.sends.extend(archived);
    }
    if !args.archive.is_empty() {
        audit.sends.sort_by(|a, b| {
            (a.0.updated_at, &a.0.campaign, &a.0.row_key).cmp(&(
                b.0.updated_at,
                &b.0.campaign,
                &b.0.row_key,
            ))
        });
    }
    let masked = address.masked();
    let out = match args.format {
        AuditFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&document(&masked, channel, &audit))?
        ),
        AuditFormat::Text => text(&masked, channel, &audit),
        AuditFormat::Csv => csv(&masked, &audit)?,
    };
    printer.out(&out)?;
    Ok(ExitStatus::Success)
}
