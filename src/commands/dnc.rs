//! `herald dnc import|list`: Do-Not-Call registry downloads in the ledger (see
//! [`crate::engine::dnc`]). Output holds counts, dates and digests, never a number.

use std::fmt::Write as _;

use herald_ledger::DncFileKind;

use crate::ExitStatus;
use crate::cli::{DncCommand, DncKindArg, Format, GlobalArgs};
use crate::engine::dnc::{MAX_AGE_DAYS, age_days, import, parse_source};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    cmd: &DncCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (_loaded, settings) = super::env_context(global)?;
    let key = settings.ledger_key()?;
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    let today = jiff::tz::TimeZone::UTC.to_datetime(settings.now).date();
    match cmd {
        DncCommand::Import(args) => {
            let source = parse_source(&args.source)?;
            let downloaded: jiff::civil::Date = args.downloaded.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--downloaded {}: expected a date as YYYY-MM-DD",
                    args.downloaded
                )
            })?;
            if downloaded > today {
                anyhow::bail!("--downloaded {downloaded} is after today ({today})");
            }
            let kind = match args.kind {
                DncKindArg::Full => DncFileKind::Full,
                DncKindArg::Changes => DncFileKind::Changes,
            };
            let r = import(ledger.as_mut(), &key, &args.path, &source, downloaded, kind)?;
            let age = age_days(downloaded, today);
            if args.format == Format::Json {
                let head = ledger.head()?;
                printer.out(&format!(
                    "{}\n",
                    serde_json::json!({
                        "source": source,
                        "downloaded": downloaded.to_string(),
                        "kind": if kind == DncFileKind::Full { "full" } else { "changes" },
                        "read": r.read,
                        "added": r.added,
                        "removed": r.removed,
                        "numbers": r.numbers,
                        "age_days": age,
                        "stale": age > MAX_AGE_DAYS,
                        "ledger": super::head_json(head.as_ref()),
                    })
                ))?;
                return Ok(ExitStatus::Success);
            }
            let what = match kind {
                DncFileKind::Full => {
                    format!("full list: {} numbers replace {}", r.added, r.removed)
                }
                DncFileKind::Changes => format!(
                    "change list: {} added, {} deleted ({} records)",
                    r.added, r.removed, r.read
                ),
            };
            printer.out(&format!(
                "do-not-call registry {source} (downloaded {downloaded}): {what}; it now holds {} numbers\n",
                r.numbers
            ))?;
            if age > MAX_AGE_DAYS {
                printer.warn(&format!(
                    "this download is {age} days old: marketing to the numbers it covers is refused until a download at most {MAX_AGE_DAYS} days old is imported"
                ));
            }
            super::print_head(printer, ledger.as_ref())?;
        }
        DncCommand::List(args) => {
            let regs = ledger.dnc_registries()?;
            match args.format {
                Format::Json => {
                    let rows: Vec<_> = regs
                        .iter()
                        .map(|r| {
                            let age = age_days(r.downloaded_on, today);
                            serde_json::json!({
                                "source": r.source,
                                "downloaded_on": r.downloaded_on.to_string(),
                                "age_days": age,
                                "stale": age > MAX_AGE_DAYS,
                                "numbers": r.numbers,
                                "last_file": r.file_kind.as_str(),
                                "file_digest": r.file_digest,
                                "imported_at": r.imported_at.to_string(),
                            })
                        })
                        .collect();
                    printer.out(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
                }
                Format::Text => {
                    let mut out = String::new();
                    if regs.is_empty() {
                        out.push_str("no do-not-call registry loaded\n");
                    }
                    for r in &regs {
                        let age = age_days(r.downloaded_on, today);
                        let _ = writeln!(
                            out,
                            "{:<9} downloaded {} ({age} days old{}), {} numbers, last file {} {}",
                            r.source,
                            r.downloaded_on,
                            if age > MAX_AGE_DAYS { ", STALE" } else { "" },
                            r.numbers,
                            r.file_kind.as_str(),
                            r.file_digest.chars().take(7 + 16).collect::<String>(),
                        );
                    }
                    printer.out(&out)?;
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
