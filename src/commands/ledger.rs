//! `herald ledger verify|head|export|history|migrate|keygen`.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{ExportFormat, Format, GlobalArgs, LedgerCommand};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    cmd: &LedgerCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (_, settings) = super::env_context(global)?;
    if let LedgerCommand::Keygen = cmd {
        return keygen(&settings, printer);
    }
    let key = settings.ledger_key()?;
    if let LedgerCommand::Migrate(args) = cmd {
        let (report, target, from, to) =
            crate::engine::ledger::migrate(&args.from, &args.to, &key)?;
        let rows: u64 = report.tables.values().sum();
        printer.out(&format!(
            "migrated {rows} rows from {from} to {to}: {} events, {} sends, {} suppressions verified on both sides\n",
            report.events_verified, report.sends_verified, report.suppressions_verified
        ))?;
        super::print_head(printer, target.as_ref())?;
        return Ok(ExitStatus::Success);
    }
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    match cmd {
        LedgerCommand::Migrate(_) | LedgerCommand::Keygen => unreachable!("handled above"),
        LedgerCommand::Head(args) => {
            let head = ledger.head()?;
            match args.format {
                Format::Json => printer.out(&format!("{}\n", super::head_json(head.as_ref())))?,
                Format::Text => printer.out(&format!("{}\n", super::head_line(head.as_ref())))?,
            }
            Ok(ExitStatus::Success)
        }
        LedgerCommand::Verify(args) => {
            if let Some(expected) = &args.expect_head
                && !ledger.contains_head(expected)?
            {
                printer.error(&format!(
                    "ledger verification failed: the chain does not contain the expected head {expected} \
                     (its head is {}): it was truncated, replaced by an older copy or rewritten",
                    ledger
                        .head()?
                        .map_or_else(|| "none".to_owned(), |h| h.to_string())
                ));
                return Ok(ExitStatus::Error);
            }
            // The head before the verify: every event up to it is covered by the snapshot
            // verified, so it is safe to record as verified (a write after it is checked by
            // the next incremental verify).
            let before = ledger.head()?;
            let since = if args.incremental {
                let mark = ledger.verified_head()?;
                if mark.is_none() {
                    printer.info("no verified head is recorded yet: running a full verify");
                }
                mark
            } else {
                None
            };
            let report = match &since {
                Some(mark) => ledger.verify_since(mark)?,
                None => ledger.verify()?,
            };
            // The storage engine's own check reads every page: the full verify's.
            let integrity = if since.is_some() {
                vec!["ok".to_owned()]
            } else {
                ledger.integrity_check()?
            };
            let summary = match &since {
                Some(mark) => format!(
                    "{} events and {} sends written since the verified head {mark} checked, and the checkpoint",
                    report.events_checked, report.sends_checked
                ),
                None => format!(
                    "{} events, {} sends, {} suppressions checked",
                    report.events_checked, report.sends_checked, report.suppressions_checked
                ),
            };
            if !report.ok {
                let b = report.first_broken.as_ref();
                printer.error(&format!(
                    "ledger verification failed at event {}: {} ({summary})",
                    b.and_then(|b| b.seq)
                        .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                    b.map_or("unknown", |b| b.reason.as_str())
                ));
                return Ok(ExitStatus::Error);
            }
            if integrity != ["ok"] {
                printer.error(&format!(
                    "storage integrity check failed: {}",
                    integrity.join("; ")
                ));
                return Ok(ExitStatus::Error);
            }
            if let Some(head) = &before
                && let Err(e) = ledger.record_verified(head)
            {
                printer.warn(&format!("could not record the verified head {head}: {e}"));
            }
            printer.out(&format!(
                "ledger ok: {summary}\n{}\n",
                super::head_line(ledger.head()?.as_ref())
            ))?;
            Ok(ExitStatus::Success)
        }
        LedgerCommand::Export(args) => {
            let out = std::io::BufWriter::new(printer.stream());
            let n = crate::engine::ledger::export(
                ledger.as_ref(),
                args.campaign.as_deref(),
                args.format == ExportFormat::Csv,
                out,
            )?;
            printer.info(&format!("exported {n} rows"));
            Ok(ExitStatus::Success)
        }
        LedgerCommand::History(args) => {
            let history = ledger.template_history(args.template.as_deref())?;
            match args.format {
                Format::Json => {
                    printer.out(&format!("{}\n", serde_json::to_string_pretty(&history)?))?;
                }
                Format::Text => {
                    let mut out = String::new();
                    if history.is_empty() {
                        let _ = writeln!(out, "no template has been written to Genesys yet");
                    }
                    for h in &history {
                        let w = &h.write;
                        let _ = writeln!(
                            out,
                            "{}  {:<28} v{:<4} {}  commit {}  response {}{}",
                            h.at.strftime("%Y-%m-%d %H:%M:%SZ"),
                            w.name,
                            w.version,
                            short(&w.content_hash),
                            w.git_commit
                                .as_deref()
                                .map_or("-", |c| &c[..c.len().min(12)]),
                            w.response_id,
                            w.overwrote_hash
                                .as_deref()
                                .map(|o| format!("  (overwrote drift {})", short(o)))
                                .unwrap_or_default()
                        );
                    }
                    printer.out(&out)?;
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn short(hash: &str) -> &str {
    let h = hash.strip_prefix("sha256:").unwrap_or(hash);
    &h[..h.len().min(12)]
}

/// `herald ledger keygen`: prints where the new key went and how to hand it to CI (never the
/// key itself).
fn keygen(
    settings: &crate::settings::EnvSettings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let k = crate::engine::ledger::keygen(settings)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "wrote a new ledger key for environment `{}` to {} (mode 0600, fingerprint {})",
        k.env, k.shown, k.fingerprint
    );
    let _ = writeln!(
        out,
        "keep it: the ledger's recipients and opt-outs are keyed to it, and a lost key cannot be recovered"
    );
    let _ = writeln!(
        out,
        "for CI, store the file's contents (64 hex digits) as the secret HERALD_LEDGER_KEY, e.g.:"
    );
    let _ = writeln!(out, "  gh secret set HERALD_LEDGER_KEY < {}", k.shown);
    if k.env_var_set {
        let _ = writeln!(
            out,
            "note: HERALD_LEDGER_KEY is set in this shell and takes precedence over the key file"
        );
    }
    printer.out(&out)?;
    Ok(ExitStatus::Success)
}
