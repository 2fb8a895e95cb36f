//! `herald ledger archive --before DATE [--out FILE] [--format text|json]`: moves finished
//! campaigns into an archive file and cuts them from the ledger (see
//! [`herald_ledger::archive_ledger`]), under the run lock.
//!
//! A cut date inside the longest frequency-cap window is refused: the caps count those sends
//! (`policy.frequency_caps`, and the state rules' caps), so they must stay in the ledger.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{ArchiveArgs, Format, GlobalArgs};
use crate::output::Printer;

/// The longest cap window and the field that sets it.
fn longest_cap(
    policy: &herald_core::spec::model::Policy,
) -> Option<(jiff::SignedDuration, String)> {
    let mut best: Option<(jiff::SignedDuration, String)> = None;
    let mut consider = |per: jiff::SignedDuration, field: String| {
        if best.as_ref().is_none_or(|(b, _)| per > *b) {
            best = Some((per, field));
        }
    };
    for (i, cap) in policy.frequency_caps.iter().enumerate() {
        consider(cap.limit.per, format!("policy.frequency_caps[{i}].per"));
    }
    for (state, rule) in &policy.state_rules.rules {
        if let Some(cap) = rule.cap {
            consider(cap.per, format!("the state rule cap of {state}"));
        }
    }
    best
}

pub(crate) fn run(
    global: &GlobalArgs,
    settings: &crate::settings::EnvSettings,
    key: &herald_ledger::LedgerKey,
    args: &ArchiveArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((loaded, _)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    // "Now" of the environment (pinned by HERALD_NOW in tests and rehearsals).
    let now = settings.now;
    let before = args.before;
    let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    if before > now {
        anyhow::bail!(
            "--before {} is in the future: only sends made before it could move",
            day(before)
        );
    }
    if let Some((per, field)) = longest_cap(&loaded.workspace.project.policy) {
        let since = now.checked_sub(per).unwrap_or(jiff::Timestamp::MIN);
        if before > since {
            anyhow::bail!(
                "--before {} is inside the longest frequency-cap window ({field} = {per:#}): \
                 sends since {} still count towards the cap and must stay in the ledger; \
                 use a date on or before {}",
                day(before),
                day(since),
                since.strftime("%Y-%m-%d")
            );
        }
    }
    let run_id = crate::engine::new_run_id("archive");
    let mut locked =
        match crate::ledger_access::open_locked(settings, key, &run_id, "ledger archive", None)? {
            Ok(l) => l,
            Err(e) => {
                printer.error(&e.to_string());
                return Ok(ExitStatus::Locked);
            }
        };
    let opts = herald_ledger::ArchiveOptions {
        before,
        dir: settings
            .workspace_root
            .join(crate::settings::STATE_DIR)
            .join("archive"),
        prefix: settings.env.name.clone(),
        out: args.out.clone(),
    };
    let report = herald_ledger::archive_ledger(locked.ledger.as_mut(), key, &opts, &mut |at| {
        crate::failpoint::hit(at);
    })?;
    for p in &report.removed_stale {
        printer.warn(&format!(
            "removed {}: left by an interrupted archive, no cut names it",
            shown(settings, p)
        ));
    }
    let head = locked.ledger.head()?;
    if args.format == Format::Json {
        printer.out(&format!(
            "{}\n",
            serde_json::json!({
                "archive": report.path.as_ref().map(|p| shown(settings, p)),
                "cut": report.cut.as_ref().map(|c| c.seq),
                "before": day(before),
                "moved": report.moved.iter().map(|c| serde_json::json!({
                    "campaign": c.campaign, "sends": c.sends, "facts": c.facts,
                })).collect::<Vec<_>>(),
                "kept": report.kept.iter().map(|c| serde_json::json!({
                    "campaign": c.campaign, "sends": c.sends, "reason": c.kept,
                })).collect::<Vec<_>>(),
                "ledger": super::head_json(head.as_ref()),
            })
        ))?;
        return Ok(ExitStatus::Success);
    }
    let mut out = String::new();
    match (&report.path, &report.cut) {
        (Some(path), Some(cut)) => {
            let _ = writeln!(
                out,
                "archived {} sends and {} facts of {} campaigns last updated before {} to {} (cut #{})",
                report.sends(),
                report.facts(),
                report.moved.len(),
                day(before),
                shown(settings, path),
                cut.seq
            );
            for c in &report.moved {
                let _ = writeln!(
                    out,
                    "  moved  {:<28} {} sends, {} facts",
                    c.campaign, c.sends, c.facts
                );
            }
        }
        _ => {
            let _ = writeln!(
                out,
                "nothing to archive: no finished campaign was last updated before {}",
                day(before)
            );
        }
    }
    for c in &report.kept {
        let _ = writeln!(
            out,
            "  kept   {:<28} {} sends: {}",
            c.campaign,
            c.sends,
            c.kept.as_deref().unwrap_or("")
        );
    }
    if let (Some(_), crate::settings::LedgerLocation::Sqlite(db)) = (&report.path, &settings.ledger)
    {
        let _ = writeln!(
            out,
            "the ledger file keeps its size (SQLite reuses the freed pages for new sends); to \
             shrink it now, stop every writer and run: sqlite3 {} 'VACUUM'",
            shown(settings, db)
        );
    }
    let _ = writeln!(out, "{}", super::head_line(head.as_ref()));
    printer.out(&out)?;
    Ok(ExitStatus::Success)
}

/// A path shown relative to the workspace root when it is inside it.
fn shown(settings: &crate::settings::EnvSettings, p: &std::path::Path) -> String {
    p.strip_prefix(&settings.workspace_root)
        .unwrap_or(p)
        .display()
        .to_string()
}
