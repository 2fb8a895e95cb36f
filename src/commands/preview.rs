//! `herald preview`: the reviewer's page, written to `DIR/index.html` (built by
//! [`crate::engine::preview`]).

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, PreviewArgs};
use crate::diag::{self, Severity};
use crate::gather::Narrow;
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &PreviewArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    let narrow = Narrow {
        campaigns: args.campaigns.clone(),
        templates: args.templates.clone(),
        retry_failed: false,
    };
    let inputs = crate::engine::preview::inputs(&loaded, &settings, &narrow)?;
    let shown: Vec<_> = inputs
        .diagnostics
        .iter()
        .filter(|d| !printer.is_quiet() || d.severity == Severity::Error)
        .cloned()
        .collect();
    if !shown.is_empty() {
        printer
            .err_raw(diag::render_text(&shown, &loaded.sources, printer.color_stderr()).trim_end());
    }
    let view = inputs.page(&loaded, &settings.env.name, &narrow);
    let html = crate::preview::html::render(&view);
    // A committed `preview -> /elsewhere` link must not receive the page.
    crate::engine::refuse_link(&args.out)?;
    fs_err::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("index.html");
    crate::engine::write_atomic(&path, html.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    printer.info(&format!(
        "wrote {} ({} template{}, {} campaign{})",
        path.display(),
        view.templates.len(),
        if view.templates.len() == 1 { "" } else { "s" },
        view.campaigns.len(),
        if view.campaigns.len() == 1 { "" } else { "s" },
    ));
    Ok(if inputs.has_errors() {
        ExitStatus::Invalid
    } else {
        ExitStatus::Success
    })
}
