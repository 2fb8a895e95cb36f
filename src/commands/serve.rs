//! `herald serve`: the inbound opt-out receiver (`herald-inbound`) wired to the environment's
//! ledger and key. Prints its URL on stdout; stops gracefully on Ctrl-C or SIGTERM, answering
//! the requests in flight first. `--log-format json` writes one JSON object per line on
//! stderr, one per request (masked numbers only).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use crate::ExitStatus;
use crate::cli::{GlobalArgs, LogFormat, ServeArgs};
use crate::output::Printer;

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ServeArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let header_timeout = positive(args.header_timeout, "--header-timeout")?;
    let body_timeout = positive(args.body_timeout, "--body-timeout")?;
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
    let shared = Arc::new(Mutex::new(ledger));
    let mut state = herald_inbound::ReceiverState::new(Arc::clone(&shared), key, &secrets)
        .map_err(|e| anyhow::anyhow!("{e} (from {})", settings.webhook_secret_source()))?
        .with_extra_keywords(extra)
        .with_body_timeout(body_timeout)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = herald_inbound::ServeOptions { header_timeout };

    let json = (args.log_format == LogFormat::Json).then(|| json_logs(global));
    let rt = runtime(json.as_ref())?;
    // The main thread runs the accept loop; runtime threads got the dispatcher at start.
    let _logs = json.as_ref().map(tracing::dispatcher::set_default);
    // In JSON mode stderr carries JSON lines only, so status lines go through the log too.
    let say = |text: &str| {
        if json.is_some() {
            tracing::info!("{text}");
        } else {
            printer.info(text);
        }
    };
    let policy = &loaded.workspace.project.policy;
    rt.block_on(async {
        let remote = match crate::engine::keyword_replies::connect(&settings, policy).await? {
            Some((replies, remote)) => {
                state = state.with_replies(replies);
                Some(remote)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            let warning = format!(
                "listening on {addr}, which is not a loopback address; herald serve speaks plain HTTP, so put TLS in front of it"
            );
            if json.is_some() {
                tracing::warn!("{warning}");
            } else {
                printer.warn(&warning);
            }
        }
        say(&format!(
            "environment `{}`: {} secret{}, {} extra opt-out keyword{}, {}; POST /v1/inbound, GET /healthz, /livez, /metrics; Ctrl-C to stop",
            settings.env.name,
            secrets.len(),
            if secrets.len() == 1 { "" } else { "s" },
            extra.len(),
            if extra.len() == 1 { "" } else { "s" },
            if remote.is_some() { "keyword replies on" } else { "no keyword replies" },
        ));
        printer.out(&format!("listening on http://{addr}/v1/inbound\n"))?;
        herald_inbound::serve_with(listener, state, options, shutdown_signal())
            .await
            .context("serving inbound messages")?;
        if let Some(remote) = remote {
            remote.shutdown().await;
        }
        say("stopped; every answered request is committed");
        anyhow::Ok(())
    })?;
    // The checkpoint to keep, as after every command that writes the ledger. Read outside the
    // runtime: the PostgreSQL client blocks on a runtime of its own.
    let head = shared.lock().map(|l| l.head());
    if let Ok(Ok(head)) = head {
        say(&super::head_line(head.as_ref()));
    }
    Ok(ExitStatus::Success)
}

/// A duration flag as a positive [`Duration`].
fn positive(value: jiff::SignedDuration, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag} must be longer than zero"))
}

/// The JSON log dispatcher: `info` by default (one line per request), `-vv` debug, `-vvv`
/// trace; `RUST_LOG` overrides. Fields are the ones the receiver logs: masked numbers, never
/// a message text or secret.
fn json_logs(global: &GlobalArgs) -> tracing::Dispatch {
    let level = match global.verbose {
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .finish(),
    )
}

/// The runtime; with JSON logs, every runtime thread (workers and the blocking pool that
/// runs ledger calls) logs through that dispatcher instead of the global text one.
fn runtime(json: Option<&tracing::Dispatch>) -> anyhow::Result<tokio::runtime::Runtime> {
    let Some(dispatch) = json else {
        return crate::engine::runtime();
    };
    let dispatch = dispatch.clone();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            // Kept for the thread's life: the thread ends with the runtime.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()?)
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
    tracing::info!("shutdown requested; finishing the requests in flight");
}
