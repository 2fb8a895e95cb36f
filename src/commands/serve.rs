//! `herald serve`: the inbound opt-out receiver (`herald-inbound`) wired to the environment's
//! ledger and key. Prints its URL on stdout; stops gracefully on Ctrl-C or SIGTERM, answering
//! the requests in flight first.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, ServeArgs};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ServeArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // A broken template must not stop opt-outs from being recorded: diagnostics are ignored.
    let (loaded, settings) = super::env_context(global)?;
    let secrets = settings.webhook_secrets()?;
    let key = settings.ledger_key()?;
    if let crate::settings::LedgerLocation::Sqlite(path) = &settings.ledger
        && let Some(dir) = path.parent()
    {
        fs_err::create_dir_all(dir)?;
    }
    let ledger = crate::ledger_access::open(&settings, &key)?;
    let extra = &loaded.workspace.project.policy.extra_opt_out_keywords;
    let state = herald_inbound::ReceiverState::new(Arc::new(Mutex::new(ledger)), key, &secrets)
        .map_err(|e| anyhow::anyhow!("{e} (from {})", settings.webhook_secret_source()))?
        .with_extra_keywords(extra);

    let rt = crate::engine::runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            printer.warn(&format!(
                "listening on {addr}, which is not a loopback address; herald serve speaks plain HTTP, so put TLS in front of it"
            ));
        }
        printer.info(&format!(
            "environment `{}`: {} secret{}, {} extra opt-out keyword{}; POST /v1/inbound, GET /healthz; Ctrl-C to stop",
            settings.env.name,
            secrets.len(),
            if secrets.len() == 1 { "" } else { "s" },
            extra.len(),
            if extra.len() == 1 { "" } else { "s" },
        ));
        printer.out(&format!("listening on http://{addr}/v1/inbound\n"))?;
        herald_inbound::serve(listener, state, shutdown_signal())
            .await
            .context("serving inbound messages")?;
        printer.info("stopped; every answered request is committed");
        anyhow::Ok(())
    })?;
    Ok(ExitStatus::Success)
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
