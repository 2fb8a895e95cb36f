//! `herald suppress add|remove|list|import`: the local suppression list. Addresses are stored
//! only as keyed hashes plus masks; output shows masks only.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;
use herald_ledger::{Channel as LChannel, Ledger, LedgerKey, Suppression};

use crate::ExitStatus;
use crate::audience::{AudienceReader, RowBuf};
use crate::cli::{ChannelArg, Format, GlobalArgs, PushArgs, SuppressArgs, SuppressCommand};
use crate::messages::Address;
use crate::output::Printer;
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
    let (loaded, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    let source = format!("cli:{}", crate::settings::current_user());
    match cmd {
        SuppressCommand::Push(args) => {
            return push(&loaded, &settings, &key, ledger.as_ref(), args, printer);
        }
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
            let addresses = read_address_file(&args.file, printer)?;
            let batch: Vec<Suppression> = addresses
                .iter()
                .map(|a| {
                    suppression(
                        &key,
                        a,
                        scope(a, args.channel),
                        &args.reason,
                        &format!("import:{}", args.file.display()),
                    )
                })
                .collect();
            let new = ledger.suppress_many(&batch)?;
            printer.out(&format!(
                "imported {} addresses: {new} newly suppressed\n",
                batch.len()
            ))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Reads a file of addresses: one per line, or a CSV whose header names a `phone`, `email` or
/// `address` column. Any invalid line fails the whole file (its first errors are printed).
fn read_address_file(file: &Path, printer: &Printer) -> anyhow::Result<Vec<Address>> {
    let text = fs_err::read_to_string(file)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    // A CSV header names the address column; otherwise every line is an address.
    let mut column = None;
    if let Some((_, first)) = lines.peek() {
        let header: Vec<String> = first.split(',').map(|h| h.trim().to_lowercase()).collect();
        if let Some(i) = header
            .iter()
            .position(|h| matches!(h.as_str(), "phone" | "email" | "address"))
        {
            column = Some(i);
            lines.next();
        } else if header.len() > 1 || (!first.contains('@') && !first.trim_start().starts_with('+'))
        {
            bail!(
                "{}: no `phone`, `email` or `address` column in the header",
                file.display()
            );
        }
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines {
        let field = match column {
            Some(c) => line.split(',').nth(c).unwrap_or(""),
            None => line,
        };
        match parse_address(field) {
            Ok(a) => out.push(a),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !bad.is_empty() {
        for b in bad.iter().take(10) {
            printer.error(&format!("{}: {b}", file.display()));
        }
        bail!(
            "{} invalid address{} in {}; nothing was imported or pushed",
            bad.len(),
            if bad.len() == 1 { "" } else { "es" },
            file.display()
        );
    }
    Ok(out)
}

/// Every parseable phone number in the address column of the workspace's audiences.
fn audience_phones(loaded: &crate::load::Loaded, printer: &Printer) -> Vec<E164> {
    let mut out = Vec::new();
    for audience in loaded.workspace.audiences.values() {
        let columns = [audience.address.clone()];
        let (mut reader, missing) = match AudienceReader::open(audience, &columns) {
            Ok(r) => r,
            Err(e) => {
                printer.warn(&format!("audience `{}` skipped: {e}", audience.name));
                continue;
            }
        };
        if !missing.is_empty() {
            printer.warn(&format!(
                "audience `{}` skipped: no `{}` column",
                audience.name, audience.address
            ));
            continue;
        }
        let mut buf = RowBuf::default();
        while let Some(row) = reader.next_row(&mut buf) {
            if row.is_err() {
                continue;
            }
            if let Some(Some(raw)) = buf.values.first()
                && let Ok(phone) = E164::parse(raw.trim())
            {
                out.push(phone);
            }
        }
    }
    out
}

/// `herald suppress push`: see the command's help for the design. Candidates come from the
/// user; only those whose keyed hash is suppressed for SMS are sent to Genesys.
fn push(
    loaded: &crate::load::Loaded,
    settings: &crate::settings::EnvSettings,
    key: &LedgerKey,
    ledger: &dyn Ledger,
    args: &PushArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for file in &args.from_file {
        for a in read_address_file(file, printer)? {
            if matches!(a, Address::Phone(_)) {
                candidates.insert(a.normalized());
            }
        }
    }
    if args.from_audiences {
        for p in audience_phones(loaded, printer) {
            candidates.insert(Address::Phone(p).normalized());
        }
    }
    let mut numbers = Vec::new();
    let mut matched = HashSet::new();
    for n in &candidates {
        let id = key.recipient_id(LChannel::Sms, n);
        if ledger.is_suppressed(&id, LChannel::Sms)? {
            matched.insert(id);
            numbers.push(n.clone());
        }
    }
    let sms_suppressed: HashSet<_> = ledger
        .suppressions()?
        .into_iter()
        .filter(|r| {
            let s = &r.suppression;
            s.channel == Some(LChannel::Sms) || (s.channel.is_none() && s.masked.starts_with('+'))
        })
        .map(|r| r.suppression.recipient)
        .collect();
    let unmatched = sms_suppressed.difference(&matched).count();
    let summary = format!(
        "{} candidate number{}, {} suppressed for SMS; {unmatched} suppressed number{} not in the candidates (not pushed)",
        candidates.len(),
        if candidates.len() == 1 { "" } else { "s" },
        numbers.len(),
        if unmatched == 1 { "" } else { "s" },
    );
    if args.dry_run {
        printer.out(&format!(
            "{summary}\ndry run: would push {} number{} to DNC list `{}`\n",
            numbers.len(),
            if numbers.len() == 1 { "" } else { "s" },
            args.dnc_list
        ))?;
        return Ok(ExitStatus::Success);
    }
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(settings))?;
    let result: anyhow::Result<(String, bool)> = rt.block_on(async {
        let lists = remote.client.list_dnc_lists().await?;
        let existing = lists.into_iter().find(|l| l.name == args.dnc_list);
        let (list, created) = match existing {
            Some(l) => (l, false),
            None => (remote.client.create_dnc_list(&args.dnc_list).await?, true),
        };
        if list.dnc_source_type.as_deref().is_some_and(|t| t != "rds") {
            bail!(
                "DNC list `{}` is not an internal (rds) list; Genesys accepts appended numbers only on internal lists",
                args.dnc_list
            );
        }
        remote.client.add_dnc_phone_numbers(&list.id, &numbers).await?;
        Ok((list.id, created))
    });
    rt.block_on(remote.shutdown());
    let (id, created) = result?;
    printer.out(&format!(
        "{summary}\npushed {} number{} to {}DNC list `{}` ({id}); numbers already on it are unchanged\n",
        numbers.len(),
        if numbers.len() == 1 { "" } else { "s" },
        if created { "new " } else { "" },
        args.dnc_list
    ))?;
    Ok(ExitStatus::Success)
}
