//! `herald ledger verify [--expect-head SEQ:HASH] [--incremental] [--format text|json]`.

use crate::ExitStatus;
use crate::cli::{Format, VerifyArgs};
use crate::output::Printer;

pub(crate) fn run(
    ledger: &mut dyn herald_ledger::Ledger,
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
        printer.out(&format!(
            "ledger ok: {summary}\n{}\n",
            super::head_line(head.as_ref())
        ))?;
    }
    Ok(ExitStatus::Success)
}
