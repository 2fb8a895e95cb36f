//! `herald suppress push`: mirror SMS suppressions into a Genesys internal DNC list (see
//! [`crate::engine::suppress`]).

use crate::ExitStatus;
use crate::cli::{Format, PushArgs};
use crate::engine::suppress::push_to_dnc;
use crate::output::Printer;

use super::suppress::plural;

/// `herald suppress push`: see the command's help for the design.
pub(super) fn push(
    settings: &crate::settings::EnvSettings,
    sel: &crate::engine::suppress::PushSelection,
    args: &PushArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    for w in &sel.warnings {
        printer.warn(w);
    }
    let pushed = sel.numbers.len();
    let summary = format!(
        "{} candidate number{}, {pushed} suppressed for SMS; {} suppressed number{} not in the candidates (not pushed)",
        sel.candidates,
        plural(sel.candidates == 1, "s"),
        sel.unmatched,
        plural(sel.unmatched == 1, "s"),
    );
    let json = args.format == Format::Json;
    let doc = |pushed_now: Option<(bool, &str)>| {
        serde_json::json!({
            "candidates": sel.candidates,
            "suppressed_for_sms": pushed,
            "unmatched": sel.unmatched,
            "dnc_list": args.dnc_list,
            "dry_run": args.dry_run,
            "pushed": pushed_now.map(|_| pushed),
            "created": pushed_now.map(|(created, _)| created),
            "dnc_list_id": pushed_now.map(|(_, id)| id.to_owned()),
        })
    };
    if args.dry_run {
        if json {
            printer.out(&format!("{}\n", doc(None)))?;
            return Ok(ExitStatus::Success);
        }
        printer.out(&format!(
            "{summary}\ndry run: would push {pushed} number{} to DNC list `{}`\n",
            plural(pushed == 1, "s"),
            args.dnc_list
        ))?;
        return Ok(ExitStatus::Success);
    }
    let done = push_to_dnc(settings, &args.dnc_list, &sel.numbers)?;
    if json {
        printer.out(&format!(
            "{}\n",
            doc(Some((done.created, done.list_id.as_str())))
        ))?;
        return Ok(ExitStatus::Success);
    }
    printer.out(&format!(
        "{summary}\npushed {pushed} number{} to {}DNC list `{}` ({}); numbers already on it are unchanged\n",
        plural(pushed == 1, "s"),
        if done.created { "new " } else { "" },
        args.dnc_list,
        done.list_id
    ))?;
    Ok(ExitStatus::Success)
}
