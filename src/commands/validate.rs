//! `herald validate`: load everything, run every check, print all diagnostics, exit 3 on error.

use std::fmt::Write as _;

use crate::ExitStatus;
use crate::cli::{Format, GlobalArgs, ValidateArgs};
use crate::diag::{self, Severity};
use crate::output::Printer;
use crate::spec::model::Content;
use crate::text::analyze_sms;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ValidateArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let root = super::workspace_root(global)?;
    let mut loaded = crate::load::load(&root);
    loaded.workspace.clock = Some(crate::process::workspace_clock());
    let stats = crate::validate::check_data(&mut loaded);
    let (errors, warnings) = diag::count(&loaded.diagnostics);
    let ws = &loaded.workspace;
    match args.format {
        Format::Json => {
            let templates: Vec<_> = ws
                .templates
                .values()
                .map(|t| {
                    let sms = match &t.content {
                        Content::Sms { body } => Some(analyze_sms(body)),
                        Content::Email { .. } => None,
                    };
                    serde_json::json!({ "name": t.name, "channel": t.channel, "hash": t.hash, "sms": sms })
                })
                .collect();
            let doc = serde_json::json!({
                "valid": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": loaded.diagnostics,
                "templates": templates,
                "campaigns": stats,
                "state_rules": ws.project.policy.state_rules,
            });
            printer.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Text => {
            if !loaded.diagnostics.is_empty() {
                let shown: Vec<_> = loaded
                    .diagnostics
                    .iter()
                    .filter(|d| !printer.is_quiet() || d.severity == Severity::Error)
                    .cloned()
                    .collect();
                printer.err_raw(
                    diag::render_text(&shown, &loaded.sources, printer.color_stderr()).trim_end(),
                );
            }
            if !printer.is_quiet() {
                let mut out = String::new();
                for t in ws.templates.values() {
                    let cost = match &t.content {
                        Content::Sms { body } => {
                            let info = analyze_sms(body);
                            format!(
                                "{}, {} segment{} as written",
                                info.encoding,
                                info.segments,
                                if info.segments == 1 { "" } else { "s" }
                            )
                        }
                        Content::Email { .. } => "email".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "template  {:<32} {:<6} {}  {}",
                        t.name,
                        t.channel.as_str(),
                        t.hash.short(),
                        cost
                    );
                }
                for (name, st) in &stats {
                    let skipped: u64 = st.skipped.values().sum();
                    let sms = crate::validate::describe_sms(st);
                    let _ = writeln!(
                        out,
                        "campaign  {name:<32} {} rows, {} ready, {} skipped{}",
                        st.rows,
                        st.ready,
                        skipped,
                        if sms.is_empty() {
                            String::new()
                        } else {
                            format!("; {sms}")
                        }
                    );
                }
                let _ = writeln!(
                    out,
                    "{}, {}, {}: {errors} error{}, {warnings} warning{}",
                    plural(ws.templates.len(), "template"),
                    plural(ws.audiences.len(), "audience"),
                    plural(ws.campaigns.len(), "campaign"),
                    if errors == 1 { "" } else { "s" },
                    if warnings == 1 { "" } else { "s" }
                );
                printer.out(&out)?;
            }
        }
    }
    Ok(if errors > 0 {
        ExitStatus::Invalid
    } else {
        ExitStatus::Success
    })
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
