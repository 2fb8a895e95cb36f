//! `herald preview`: the reviewer's page, written to `DIR/index.html`.

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, PreviewArgs};
use crate::diag::{self, Severity};
use crate::gather::{self, Narrow};
use crate::output::Printer;
use crate::preview::adapt::{Inputs, page};

pub(crate) fn run(
    global: &GlobalArgs,
    args: &PreviewArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (loaded, settings) = super::env_context(global)?;
    let ws = &loaded.workspace;
    let mut diags = loaded.diagnostics.clone();
    let mut planned = None;
    let mut no_plan = None;
    if loaded.has_errors() {
        no_plan = Some(
            "The workspace has errors (listed at the top), so no plan was made and campaigns are not shown."
                .to_owned(),
        );
    } else {
        let key = settings.ledger_key()?;
        let ledger = crate::ledger_access::open(&settings, &key)?;
        let bindings = ledger
            .template_bindings()?
            .into_iter()
            .map(|b| (b.name.clone(), b))
            .collect();
        let rt = crate::engine::runtime()?;
        let state = rt.block_on(async {
            let remote = crate::remote::connect(&settings).await?;
            let state = gather::fetch_remote(&remote, &settings.env.library, &bindings).await;
            remote.shutdown().await;
            state
        })?;
        let narrow = Narrow {
            campaigns: args.campaigns.clone(),
            templates: args.templates.clone(),
        };
        let (plan, scan) = gather::build(ws, &settings, &state, ledger.as_ref(), &key, &narrow)?;
        let refused = diag::count(&scan).0 > 0;
        diags.extend(scan);
        if refused {
            no_plan = Some(
                "Audience rows have errors (listed at the top): the plan was refused, so campaigns are not shown."
                    .to_owned(),
            );
        } else {
            planned = Some((plan, state));
        }
    }
    if !diags.is_empty() {
        let shown: Vec<_> = diags
            .iter()
            .filter(|d| !printer.is_quiet() || d.severity == Severity::Error)
            .cloned()
            .collect();
        if !shown.is_empty() {
            printer.err_raw(
                diag::render_text(&shown, &loaded.sources, printer.color_stderr()).trim_end(),
            );
        }
    }
    let view = page(&Inputs {
        ws,
        diagnostics: &diags,
        plan: planned.as_ref().map(|(p, _)| p),
        remote: planned.as_ref().map(|(_, s)| s),
        environment: &settings.env.name,
        campaigns: &args.campaigns,
        templates: &args.templates,
        no_plan,
    });
    let html = crate::preview::html::render(&view);
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
    Ok(if diag::count(&diags).0 > 0 {
        ExitStatus::Invalid
    } else {
        ExitStatus::Success
    })
}
