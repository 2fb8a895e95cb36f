//! `herald suppress add|remove|list|import|push`: the local suppression list (see
//! [`crate::engine::suppress`]). Output shows masks only.

use std::fmt::Write as _;

use herald_ledger::{Channel, Suppression};

use crate::ExitStatus;
use crate::cli::{ChannelArg, Format, GlobalArgs, SuppressArgs, SuppressCommand};
use crate::engine::suppress::{
    BadAddresses, parse_address, read_address_file, select_push, suppression,
};
use crate::messages::Address;
use crate::output::Printer;

pub(super) fn plural(one: bool, s: &'static str) -> &'static str {
    if one { "" } else { s }
}

/// Prints the first invalid lines of an address file before its error propagates.
fn show_bad_lines(err: anyhow::Error, printer: &Printer) -> anyhow::Error {
    if let Some(bad) = err.downcast_ref::<BadAddresses>() {
        for line in bad.lines.iter().take(10) {
            printer.error(&format!("{}: {line}", bad.file.display()));
        }
    }
    err
}

fn address(raw: &str) -> anyhow::Result<Address> {
    parse_address(raw).map_err(|e| anyhow::anyhow!("not a phone number or email address: {e}"))
}

pub(crate) fn run(
    global: &GlobalArgs,
    cmd: &SuppressCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    let source = format!("cli:{}", settings.vars.user);
    match cmd {
        SuppressCommand::Push(args) => {
            let sel = select_push(
                &loaded.workspace,
                &key,
                ledger.as_ref(),
                &args.from_file,
                args.from_audiences,
            )
            .map_err(|e| show_bad_lines(e, printer))?;
            return super::suppress_push::push(&settings, &sel, args, printer);
        }
        SuppressCommand::Add(SuppressArgs {
            address: raw,
            channel,
            reason,
            format,
        }) => {
            let a = address(raw)?;
            let s = suppression(&key, &a, ChannelArg::covers(*channel, &a), reason, &source);
            let new = ledger.suppress(&s)?;
            if *format == Format::Json {
                let head = ledger.head()?;
                printer.out(&format!(
                    "{}\n",
                    serde_json::json!({
                        "suppressed": new,
                        "masked": a.masked(),
                        "channel": s.channel.map_or("all", Channel::as_str),
                        "ledger": super::head_json(head.as_ref()),
                    })
                ))?;
                return Ok(ExitStatus::Success);
            }
            printer.out(&format!(
                "{} {} ({})\n",
                if new {
                    "suppressed"
                } else {
                    "already suppressed:"
                },
                a.masked(),
                s.channel.map_or("all channels", Channel::as_str)
            ))?;
            if new {
                super::print_head(printer, ledger.as_ref())?;
            }
        }
        SuppressCommand::Remove(SuppressArgs {
            address: raw,
            channel,
            reason,
            format,
        }) => {
            let a = address(raw)?;
            let recipient = key.recipient_id(a.channel(), &a.normalized());
            let n = ledger.unsuppress(
                &recipient,
                channel.and_then(|c| ChannelArg::covers(Some(c), &a)),
                reason,
                &source,
            )?;
            if *format == Format::Json {
                let head = ledger.head()?;
                printer.out(&format!(
                    "{}\n",
                    serde_json::json!({
                        "removed": n,
                        "masked": a.masked(),
                        "ledger": super::head_json(head.as_ref()),
                    })
                ))?;
            }
            if n == 0 {
                let scope_note = if channel.is_some() {
                    " on that channel"
                } else {
                    ""
                };
                printer.warn(&format!("{} was not suppressed{scope_note}", a.masked()));
                return Ok(ExitStatus::Error);
            }
            if *format == Format::Json {
                return Ok(ExitStatus::Success);
            }
            printer.out(&format!(
                "removed {n} suppression{} of {}\n",
                plural(n == 1, "s"),
                a.masked()
            ))?;
            super::print_head(printer, ledger.as_ref())?;
        }
        SuppressCommand::List(args) => {
            let rows = ledger.suppressions()?;
            match args.format {
                Format::Json => {
                    printer.out(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
                }
                Format::Text => {
                    let mut out = String::new();
                    for r in &rows {
                        let s = &r.suppression;
                        let _ = writeln!(
                            out,
                            "{:<22} {:<6} {}  {:<24} {}",
                            s.masked,
                            s.channel.map_or("all", Channel::as_str),
                            r.since.strftime("%Y-%m-%d %H:%M:%SZ"),
                            s.source,
                            s.reason
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{} suppression{}",
                        rows.len(),
                        plural(rows.len() == 1, "s")
                    );
                    printer.out(&out)?;
                }
            }
        }
        SuppressCommand::Import(args) => {
            let addresses =
                read_address_file(&args.file).map_err(|e| show_bad_lines(e, printer))?;
            let source = format!("import:{}", args.file.display());
            let batch: Vec<Suppression> = addresses
                .iter()
                .map(|a| (a, ChannelArg::covers(args.channel, a)))
                .map(|(a, covers)| suppression(&key, a, covers, &args.reason, &source))
                .collect();
            let new = ledger.suppress_many(&batch)?;
            if args.format == Format::Json {
                let head = ledger.head()?;
                printer.out(&format!(
                    "{}\n",
                    serde_json::json!({
                        "addresses": batch.len(),
                        "newly_suppressed": new,
                        "ledger": super::head_json(head.as_ref()),
                    })
                ))?;
                return Ok(ExitStatus::Success);
            }
            printer.out(&format!(
                "imported {} addresses: {new} newly suppressed\n",
                batch.len()
            ))?;
            if new > 0 {
                super::print_head(printer, ledger.as_ref())?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
