//! `herald ledger verify|head|export|history|migrate|keygen|archive`.

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
        if args.format == Format::Json {
            let head = target.head()?;
            printer.out(&format!(
                "{}\n",
                serde_json::json!({
                    "from": from.to_string(),
                    "to": to.to_string(),
                    "rows": rows,
                    "tables": report.tables,
                    "events_verified": report.events_verified,
                    "sends_verified": report.sends_verified,
                    "suppressions_verified": report.suppressions_verified,
                    "ledger": super::head_json(head.as_ref()),
                })
            ))?;
            return Ok(ExitStatus::Success);
        }
        printer.out(&format!(
            "migrated {rows} rows from {from} to {to}: {} events, {} sends, {} suppressions verified on both sides\n",
            report.events_verified, report.sends_verified, report.suppressions_verified
        ))?;
        super::print_head(printer, target.as_ref())?;
        return Ok(ExitStatus::Success);
    }
    if let LedgerCommand::Archive(args) = cmd {
        return super::ledger_archive::run(global, &settings, &key, args, printer);
    }
    let mut ledger = crate::ledger_access::open(&settings, &key)?;
    match cmd {
        LedgerCommand::Migrate(_) | LedgerCommand::Keygen | LedgerCommand::Archive(_) => {
            unreachable!("handled above")
        }
        LedgerCommand::Head(args) => {
            let head = ledger.head()?;
            match args.format {
                Format::Json => printer.out(&format!("{}\n", super::head_json(head.as_ref())))?,
                Format::Text => printer.out(&format!("{}\n", super::head_line(head.as_ref())))?,
            }
            Ok(ExitStatus::Success)
        }
        LedgerCommand::Verify(args) => {
            super::ledger_verify::run(ledger.as_mut(), &key, args, printer)
        }
        LedgerCommand::Export(args) => {
            let out = std::io::BufWriter::new(printer.stream());
            let archives: Vec<_> = args.archive.iter().map(|p| (p.clone(), &key)).collect();
            let n = crate::engine::ledger::export(
                ledger.as_ref(),
                &archives,
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
