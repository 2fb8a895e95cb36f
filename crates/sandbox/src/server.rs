//! Serving: [`start`] binds a listener and runs a hand-rolled hyper accept loop around the axum
//! router, and [`RunningSandbox`] is the in-process handle on it.
//!
//! Accept-then-drop: each connection gets a `ConnAbort` (an `Arc<Notify>`) in every request's
//! extensions. A handler that drew the drop fault commits the message, notifies, and never
//! completes; the connection task, selecting on that notification, drops the hyper connection
//! (and with it the socket) so the client sees the connection closed with no response.
//!
//! Invariant: `shutdown` stops accepting, lets open connections finish their in-flight request
//! (graceful), and returns once every connection task has ended.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tower::ServiceExt as _;

use crate::app::{AppState, ConnAbort, router};
use crate::clock::{Clock, SystemClock};
use crate::config::{Faults, SandboxConfig};
use crate::error::SandboxError;
use crate::store::{self, AcceptedMessage, InboundMessage, Store};
use crate::wire::Response;

/// Starts a sandbox on `addr` (e.g. `127.0.0.1:0`) with the system clock.
pub async fn start(
    config: SandboxConfig,
    addr: SocketAddr,
) -> Result<RunningSandbox, SandboxError> {
    start_with_clock(config, addr, Arc::new(SystemClock)).await
}

/// Starts a sandbox whose notion of time comes from `clock` (tests pass a `FakeClock`).
pub async fn start_with_clock(
    config: SandboxConfig,
    addr: SocketAddr,
    clock: Arc<dyn Clock>,
) -> Result<RunningSandbox, SandboxError> {
    config.faults.validate().map_err(SandboxError::Config)?;
    if config.from_numbers.is_empty() {
        return Err(SandboxError::Config(
            "at least one from number is required".to_owned(),
        ));
    }
    if let Some(bad) = config
        .from_numbers
        .iter()
        .find(|n| !crate::messaging::is_e164(n))
    {
        return Err(SandboxError::Config(format!(
            "from number '{bad}' is not E.164"
        )));
    }
    let store = Store::open(&config.state)?;
    let state = AppState::new(&config, clock, store);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let app = router(state.clone());
    let dispatcher = tokio::spawn(dispatch_loop(state.clone(), shutdown_rx.clone()));
    let task = tokio::spawn(accept_loop(listener, app, shutdown_rx));
    tracing::info!(%local, "sandbox listening");
    Ok(RunningSandbox {
        addr: local,
        state,
        shutdown: shutdown_tx,
        task,
        dispatcher,
    })
}

/// Messages the contacts of `on` messaging campaigns: one pass every
/// [`DISPATCH_INTERVAL`] of real time, each reading the sandbox clock.
async fn dispatch_loop(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(DISPATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if let Err(err) = crate::app::dispatch_now(&state).await {
            tracing::warn!(error = %err, "messaging campaign dispatch failed");
        }
    }
}

/// Real time between two background dispatcher passes.
const DISPATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every connection task holds a clone of `alive`; when all are gone, `recv` returns None.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            res = listener.accept() => res,
            _ = shutdown.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let abort = Arc::new(Notify::new());
        let extension = ConnAbort(Arc::clone(&abort));
        let service = app
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(extension.clone());
                req
            });
        let mut conn_shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    res = conn.as_mut() => {
                        if let Err(err) = res {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    () = abort.notified() => {
                        // Dropping the connection closes the socket without a response.
                        break;
                    }
                    _ = conn_shutdown.changed(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(alive);
    let _ = all_done.recv().await;
}

/// A sandbox serving in this process.
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    state: AppState,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    dispatcher: tokio::task::JoinHandle<()>,
}

impl RunningSandbox {
    /// Base URL, e.g. `http://127.0.0.1:8787` (API, `/oauth/token` and `/__sandbox/` all live here).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OAuth client id accepted by `/oauth/token`.
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// The OAuth client secret accepted by `/oauth/token`.
    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// The default provisioned SMS sender.
    pub fn from_number(&self) -> &str {
        self.state.from_numbers.first().map_or("", String::as_str)
    }

    /// Replaces the faults in force (same as `POST /__sandbox/faults`).
    pub fn set_faults(&self, faults: Faults) -> Result<(), SandboxError> {
        faults.validate().map_err(SandboxError::Config)?;
        self.state.runtime().faults = faults;
        Ok(())
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.state.runtime().faults.clone()
    }

    /// Sets the per-token limit (`None` = unlimited) and clears every token's window.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        let mut rt = self.state.runtime();
        rt.rate_limit_per_minute = per_minute;
        rt.limiter.reset();
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.state.runtime().token_lifetime_secs = seconds;
    }

    /// How many `429 Too Many Requests` answers the sandbox has given (rate limit and burst
    /// faults together).
    pub fn answered_429(&self) -> u64 {
        self.state.runtime().answered_429
    }

    /// The org set-up: provisioned SMS numbers, outbound email domains, the OAuth client's
    /// permissions (same as `GET /__sandbox/org`).
    pub fn org(&self) -> crate::OrgSetup {
        self.state.runtime().org.clone()
    }

    /// Replaces the org set-up, e.g. to unprovision a number, remove a domain or drop a
    /// permission (same as `POST /__sandbox/org` with every field). Numbers must be E.164.
    pub fn set_org(&self, org: crate::OrgSetup) -> Result<(), SandboxError> {
        if let Some(bad) = org
            .sms_numbers
            .iter()
            .find(|n| !crate::messaging::is_e164(n))
        {
            return Err(SandboxError::Config(format!("'{bad}' is not E.164")));
        }
        self.state.runtime().org = org;
        Ok(())
    }

    /// Requests and 429 answers per method and route template so far (same as
    /// `GET /__sandbox/stats`).
    pub fn stats(&self) -> crate::SandboxStats {
        self.state.runtime().stats.snapshot()
    }

    /// Starts counting requests afresh (same as `DELETE /__sandbox/stats`).
    pub fn reset_stats(&self) {
        let now = self.state.now();
        self.state.runtime().stats = crate::stats::StatsRecorder::new(now);
    }

    /// Every accepted outbound message, in arrival order.
    pub async fn messages(&self) -> Result<Vec<AcceptedMessage>, SandboxError> {
        self.state.store.call(|c| store::list_messages(c)).await
    }

    /// Every inbound reply injected so far.
    pub async fn inbound_messages(&self) -> Result<Vec<InboundMessage>, SandboxError> {
        self.state.store.call(|c| store::list_inbound(c)).await
    }

    /// Injects an inbound reply from `from` to the default number; `STOP` (and the other
    /// platform opt-out keywords) opt `from` out, `START` opts it back in.
    pub async fn inbound(&self, from: &str, text: &str) -> Result<InboundMessage, SandboxError> {
        crate::messaging::receive_inbound(&self.state, from.to_owned(), None, text.to_owned())
            .await
            .map(|(message, _)| message)
    }

    /// Edits a response's body text outside herald (drift); bumps its `version`.
    pub async fn edit_response_out_of_band(
        &self,
        id: &str,
        new_text: &str,
    ) -> Result<Response, SandboxError> {
        crate::responses::edit_out_of_band(&self.state, id.to_owned(), new_text.to_owned(), None)
            .await
    }

    /// Runs one messaging-campaign dispatcher pass now, on the sandbox clock (the background
    /// dispatcher also runs one every 200 ms); returns the number of messages it sent.
    pub async fn dispatch_campaigns(&self) -> Result<usize, SandboxError> {
        crate::app::dispatch_now(&self.state).await
    }

    /// The contact-list limits in force.
    pub fn outbound_limits(&self) -> crate::OutboundLimits {
        self.state.runtime().outbound_limits.clone()
    }

    /// Replaces the contact-list limits (same as `POST /__sandbox/outbound-limits`).
    pub fn set_outbound_limits(&self, limits: crate::OutboundLimits) {
        self.state.runtime().outbound_limits = limits;
    }

    /// Stops accepting connections, finishes in-flight requests and waits for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.dispatcher.await;
    }
}
