//! `herald suppress add|remove|list|import`: the local suppression list. Addresses are stored
//! only as keyed hashes plus masks; output shows masks only.

use std::fmt::Write as _;

use anyhow::bail;
use herald_ledger::{Channel as LChannel, LedgerKey, Suppression};

use crate::ExitStatus;
use crate::cli::{ChannelArg, Format, GlobalArgs, SuppressArgs, SuppressCommand};
use crate::output::Printer;
use crate::recipients::Address;
use crate::spec::{E164, Email};

/// Parses an address as a phone (leading `+`) or an email (contains `@`).
fn parse_address(raw: &str) -> Result<Address, String> {
    let raw = raw.trim();
    if raw.contains('@') {
        Email::parse(raw).map(Address::Email)
    } else {
        E164::parse(raw).map(Address::Phone)
    }
}

fn own_channel(a: &Address) -> LChannel {
    match a {
        Address::Phone(_) => LChannel::Sms,
        Address::Email(_) => LChannel::Email,
    }
}

fn scope(a: &Address, arg: Option<ChannelArg>) -> Option<LChannel> {
    match arg {
        None => Some(own_channel(a)),
        Some(ChannelArg::Sms) => Some(LChannel::Sms),
        Some(ChannelArg::Email) => Some(LChannel::Email),
        Some(ChannelArg::All) => None,
    }
}

fn suppression(
    key: &LedgerKey,
    a: &Address,
    channel: Option<LChannel>,
    reason: &str,
    source: &str,
) -> Suppression {
    Suppression {
        recipient: key.recipient_id(own_channel(a), &a.normalized()),
        masked: a.masked(),
        channel,
        reason: reason.to_owned(),
        source: source.to_owned(),
    }
}

pub(crate) fn run(
    global: &GlobalArgs,
    cmd: &SuppressCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (_, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    let source = format!("cli:{}", crate::settings::current_user());
    match cmd {
        SuppressCommand::Add(SuppressArgs {
            address,
            channel,
            reason,
        }) => {
            let a = parse_address(address)
                .map_err(|e| anyhow::anyhow!("not a phone number or email address: {e}"))?;
            let s = suppression(&key, &a, scope(&a, *channel), reason, &source);
            let new = ledger.suppress(&s)?;
            printer.out(&format!(
                "{} {} ({})\n",
                if new {
                    "suppressed"
                } else {
                    "already suppressed:"
                },
                a.masked(),
                s.channel.map_or("all channels", LChannel::as_str)
            ))?;
        }
        SuppressCommand::Remove(SuppressArgs {
            address,
            channel,
            reason,
        }) => {
            let a = parse_address(address)
                .map_err(|e| anyhow::anyhow!("not a phone number or email address: {e}"))?;
            let recipient = key.recipient_id(own_channel(&a), &a.normalized());
            let n = ledger.unsuppress(
                &recipient,
                channel.and_then(|c| scope(&a, Some(c))),
                reason,
                &source,
            )?;
            if n == 0 {
                printer.warn(&format!(
                    "{} was not suppressed{}",
                    a.masked(),
                    if channel.is_some() {
                        " on that channel"
                    } else {
                        ""
                    }
                ));
                return Ok(ExitStatus::Error);
            }
            printer.out(&format!(
                "removed {n} suppression{} of {}\n",
                if n == 1 { "" } else { "s" },
                a.masked()
            ))?;
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
                            s.channel.map_or("all", LChannel::as_str),
                            r.since.strftime("%Y-%m-%d %H:%M:%SZ"),
                            s.source,
                            s.reason
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{} suppression{}",
                        rows.len(),
                        if rows.len() == 1 { "" } else { "s" }
                    );
                    printer.out(&out)?;
                }
            }
        }
        SuppressCommand::Import(args) => {
            let text = fs_err::read_to_string(&args.file)?;
            let mut lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .peekable();
            // A CSV header names the address column; otherwise every line is an address.
            let mut column = None;
            if let Some((_, first)) = lines.peek() {
                let header: Vec<String> =
                    first.split(',').map(|h| h.trim().to_lowercase()).collect();
                if let Some(i) = header
                    .iter()
                    .position(|h| matches!(h.as_str(), "phone" | "email" | "address"))
                {
                    column = Some(i);
                    lines.next();
                } else if header.len() > 1
                    || (!first.contains('@') && !first.trim_start().starts_with('+'))
                {
                    bail!(
                        "{}: no `phone`, `email` or `address` column in the header",
                        args.file.display()
                    );
                }
            }
            let mut batch = Vec::new();
            let mut bad = Vec::new();
            for (i, line) in lines {
                let field = match column {
                    Some(c) => line.split(',').nth(c).unwrap_or(""),
                    None => line,
                };
                match parse_address(field) {
                    Ok(a) => batch.push(suppression(
                        &key,
                        &a,
                        scope(&a, args.channel),
                        &args.reason,
                        &format!("import:{}", args.file.display()),
                    )),
                    Err(e) => bad.push(format!("line {}: {e}", i + 1)),
                }
            }
            if !bad.is_empty() {
                for b in bad.iter().take(10) {
                    printer.error(&format!("{}: {b}", args.file.display()));
                }
                bail!(
                    "{} invalid address{} in {}; nothing was imported",
                    bad.len(),
                    if bad.len() == 1 { "" } else { "es" },
                    args.file.display()
                );
            }
            let new = ledger.suppress_many(&batch)?;
            printer.out(&format!(
                "imported {} addresses: {new} newly suppressed\n",
                batch.len()
            ))?;
        }
    }
    Ok(ExitStatus::Success)
}
