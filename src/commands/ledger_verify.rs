//! `herald ledger verify [--expect-head SEQ:HASH] [--incremental] [--archive FILE]…
//! [--format text|json]`.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{Format, VerifyArgs};
use crate::output::Printer;

pub(crate) fn run(
    ledger: &mut dyn herald_ledger::Ledger,
    key: &herald_ledger::LedgerKey,
    args: &VerifyArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let json = args.format == Format::Json;
    // Prints a failure (text on stderr; with --format json also the JSON verdict on stdout).
    let refuse = |why: String, doc: serde_json::Value| -> anyhow::Result<ExitStatus> {
        if json {
            printer.out(&format!("{doc}\n"))?;
        }
        printer.error(&why);
        Ok(ExitStatus::Error)
    };
    if let Some(expected) = &args.expect_head
        && !ledger.contains_head(expected)?
    {
        let head = ledger.head()?;
        return refuse(
            format!(
                "ledger verification failed: the chain does not contain the expected head {expected} \
                 (its head is {}): it was truncated, replaced by an older copy or rewritten",
                head.as_ref()
                    .map_or_else(|| "none".to_owned(), ToString::to_string)
            ),
            serde_json::json!({
                "ok": false,
                "problem": "expected_head_missing",
                "expected_head": expected.to_string(),
                "ledger": super::head_json(head.as_ref()),
            }),
        );
    }
    // The head before the verify: every event up to it is covered by the snapshot verified,
    // so it is safe to record as verified (a write after it is checked by the next
    // incremental verify).
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
    let broken = report.first_broken.as_ref();
    // Each archive: its chain, its rows, and the cut of this ledger that names it.
    let mut archives = Vec::with_capacity(args.archive.len());
    for path in &args.archive {
        archives.push((path, herald_ledger::verify_archive(ledger, key, path)?));
    }
    let archives_json: Vec<_> = archives
        .iter()
        .map(|(path, c)| {
            serde_json::json!({
                "file": path.display().to_string(),
                "ok": c.ok,
                "cut": c.cut_seq,
                "campaigns": c.campaigns,
                "sends": c.sends,
                "facts": c.facts,
                "problem": c.problem,
            })
        })
        .collect();
    let doc = |ok: bool, head: Option<&herald_ledger::ChainHead>| {
        serde_json::json!({
            "ok": ok,
            "mode": if since.is_some() { "incremental" } else { "full" },
            "since": since.as_ref().map(ToString::to_string),
            "events_checked": report.events_checked,
            "sends_checked": report.sends_checked,
            "suppressions_checked": report.suppressions_checked,
            "first_broken": broken.map(|b| serde_json::json!({ "seq": b.seq, "reason": b.reason })),
            "integrity": integrity,
            "archives": archives_json,
            "ledger": super::head_json(head),
        })
    };
    if !report.ok {
        return refuse(
            format!(
                "ledger verification failed at event {}: {} ({summary})",
                broken
                    .and_then(|b| b.seq)
                    .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                broken.map_or("unknown", |b| b.reason.as_str())
            ),
            doc(false, before.as_ref()),
        );
    }
    if let Some((path, c)) = archives.iter().find(|(_, c)| !c.ok) {
        return refuse(
            format!(
                "archive verification failed for {}: {}",
                path.display(),
                c.problem.as_deref().unwrap_or("unknown")
            ),
            doc(false, before.as_ref()),
        );
    }
    if integrity != ["ok"] {
        return refuse(
            format!("storage integrity check failed: {}", integrity.join("; ")),
            doc(false, before.as_ref()),
        );
    }
    if let Some(head) = &before
        && let Err(e) = ledger.record_verified(head)
    {
        printer.warn(&format!("could not record the verified head {head}: {e}"));
    }
    let head = ledger.head()?;
    if json {
        printer.out(&format!("{}\n", doc(true, head.as_ref())))?;
    } else {
        let mut lines = String::new();
        for (path, c) in &archives {
            let _ = writeln!(
                lines,
                "archive {} ok: cut #{}, {} campaigns, {} sends, {} facts checked",
                path.display(),
                c.cut_seq.unwrap_or(0),
                c.campaigns,
                c.sends,
                c.facts
            );
        }
        printer.out(&format!(
            "ledger ok: {summary}\n{lines}{}\n",
            super::head_line(head.as_ref())
        ))?;
    }
    Ok(ExitStatus::Success)
}
