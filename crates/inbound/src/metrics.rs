//! Prometheus metrics of the receiver, served at `GET /metrics` (the `OpenMetrics` text format).
//!
//! Owns: the metric names, their help texts and the fixed label values. Every label value is
//! a compile-time constant ([`Outcome::as_str`]), so no address, message id, keyword, text or
//! secret can reach the exposition: the page is safe to serve without the shared secret (see
//! `docs/deploy.md`).

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How an inbound request ended; the `outcome` label of `herald_inbound_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// First delivery of a message id, committed.
    Recorded,
    /// A replay of a recorded message id with the same text.
    Duplicate,
    /// A replay of a recorded message id whose text differs (flagged, `409`).
    ReplayConflict,
    /// Missing or wrong shared secret (`401`).
    Unauthorized,
    /// Invalid JSON, a missing or mistyped field, or an unmapped placeholder (`400`).
    BadRequest,
    /// Body over the cap (`413`).
    TooLarge,
    /// The body did not arrive within the body timeout (`408`).
    Timeout,
    /// The ledger could not commit (`503`).
    Unavailable,
    /// Unknown path or method (`404`/`405`).
    NotFound,
}

impl Outcome {
    /// The label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded => "recorded",
            Outcome::Duplicate => "duplicate",
            Outcome::ReplayConflict => "replay_conflict",
            Outcome::Unauthorized => "unauthorized",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::NotFound => "not_found",
        }
    }
}

type Labels = Vec<(&'static str, &'static str)>;

/// The receiver's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    opt_outs: Counter,
    resubscribes: Counter,
    rejected_secrets: Counter,
    replay_conflicts: Counter,
    ledger_write_seconds: Histogram,
    ledger_writable: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    #[must_use]
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("herald_inbound");
        let requests = Family::<Labels, Counter>::default();
        let opt_outs = Counter::default();
        let resubscribes = Counter::default();
        let rejected_secrets = Counter::default();
        let replay_conflicts = Counter::default();
        // 1 ms to ~16 s: a healthy SQLite commit is a few ms, a busy one waits up to 10 s.
        let ledger_write_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let ledger_writable = Gauge::default();
        registry.register(
            "requests",
            "POST /v1/inbound requests by outcome",
            requests.clone(),
        );
        registry.register(
            "opt_outs",
            "Opt-out (STOP) replies recorded in the ledger",
            opt_outs.clone(),
        );
        registry.register(
            "resubscribes",
            "Re-subscribe (START) replies recorded in the ledger",
            resubscribes.clone(),
        );
        registry.register(
            "rejected_secrets",
            "Requests refused for a missing or wrong shared secret",
            rejected_secrets.clone(),
        );
        registry.register(
            "replay_conflicts",
            "Replayed message ids whose text differs from the first delivery",
            replay_conflicts.clone(),
        );
        registry.register(
            "ledger_write_seconds",
            "Time to commit an inbound reply to the ledger, in seconds",
            ledger_write_seconds.clone(),
        );
        registry.register(
            "ledger_writable",
            "1 when the last /healthz probe could open a ledger write transaction, else 0",
            ledger_writable.clone(),
        );
        // Every outcome is exported from the start, so rates and alerts need no `absent()`.
        for outcome in [
            Outcome::Recorded,
            Outcome::Duplicate,
            Outcome::ReplayConflict,
            Outcome::Unauthorized,
            Outcome::BadRequest,
            Outcome::TooLarge,
            Outcome::Timeout,
            Outcome::Unavailable,
            Outcome::NotFound,
        ] {
            let _ = requests.get_or_create(&vec![("outcome", outcome.as_str())]);
        }
        Metrics {
            registry,
            requests,
            opt_outs,
            resubscribes,
            rejected_secrets,
            replay_conflicts,
            ledger_write_seconds,
            ledger_writable,
        }
    }

    /// Counts one request.
    pub fn request(&self, outcome: Outcome) {
        self.requests
            .get_or_create(&vec![("outcome", outcome.as_str())])
            .inc();
        match outcome {
            Outcome::Unauthorized => {
                self.rejected_secrets.inc();
            }
            Outcome::ReplayConflict => {
                self.replay_conflicts.inc();
            }
            _ => {}
        }
    }

    /// Counts a recorded opt-out.
    pub fn opt_out(&self) {
        self.opt_outs.inc();
    }

    /// Counts a recorded re-subscribe.
    pub fn resubscribe(&self) {
        self.resubscribes.inc();
    }

    /// Observes one ledger write.
    pub fn ledger_write(&self, took: Duration) {
        self.ledger_write_seconds.observe(took.as_secs_f64());
    }

    /// Sets the writability gauge from a health probe.
    pub fn ledger_writable(&self, writable: bool) {
        self.ledger_writable.set(i64::from(writable));
    }

    /// The exposition text.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
