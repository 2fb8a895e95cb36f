//! Retry policy: which failures are retried, how long to wait, and the run-wide budget.
//!
//! Owns [`RetryPolicy`] (the knobs), the full-jitter exponential delay (backon's exponential
//! schedule, with the wait drawn uniformly from zero to the scheduled delay) and the
//! [`RetryBudget`] shared by all workers. Invariants: the budget is a circuit breaker — when it
//! is empty no request is retried, so a failing Genesys sees at most one attempt per request;
//! retries never happen here for requests that may have taken effect (that decision is the
//! client's, by request class).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Retry knobs. The defaults follow the AWS SDK "standard" mode and the Genesys SDKs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per idempotent request (first try included).
    pub max_attempts: u32,
    /// First backoff delay (before jitter).
    pub base_delay: Duration,
    /// Largest backoff delay (before jitter).
    pub max_delay: Duration,
    /// Retries allowed for one send or create whose connection could not be established.
    pub max_connect_retries: u32,
    /// Longest `Retry-After` honoured on a 5xx (longer ones fall back to backoff). 429s are
    /// governed by `ClientConfig::rate_limit_wait_budget` instead.
    pub max_retry_after: Duration,
    /// Run-wide retry budget in tokens: a retry costs 5, a retry after a timeout or network
    /// error 10, a success refunds 1 (up to this value). 429s do not spend it.
    pub budget: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_connect_retries: 3,
            max_retry_after: Duration::from_secs(180),
            budget: 500,
        }
    }
}

/// Cost of a retry after an HTTP answer (429, 5xx).
pub(crate) const RETRY_COST: u32 = 5;
/// Cost of a retry after a timeout or a network error.
pub(crate) const TIMEOUT_RETRY_COST: u32 = 10;

impl RetryPolicy {
    /// The un-jittered exponential schedule for one request (backon).
    pub(crate) fn schedule(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .without_max_times()
            .build()
    }
}

/// "Full jitter": a uniform draw from `[0, delay]`.
pub(crate) fn full_jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::random::<f64>())
}

/// A token bucket of retries shared by every request of a run.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    available: AtomicU32,
    capacity: u32,
}

impl RetryBudget {
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            available: AtomicU32::new(capacity),
            capacity,
        }
    }

    /// Takes `cost` tokens if there are that many; false means "do not retry".
    pub(crate) fn try_spend(&self, cost: u32) -> bool {
        self.available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| a.checked_sub(cost))
            .is_ok()
    }

    /// Refunds one token after a request that succeeded.
    pub(crate) fn record_success(&self) {
        let _ = self
            .available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                (a < self.capacity).then_some(a + 1)
            });
    }

    /// Tokens left.
    pub(crate) fn available(&self) -> u32 {
        self.available.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            ..RetryPolicy::default()
        };
        let delays: Vec<u128> = policy.schedule().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 700, 700]);
    }

    #[test]
    fn jitter_stays_within_zero_and_delay_and_varies() {
        let d = Duration::from_secs(1);
        let draws: Vec<Duration> = (0..200).map(|_| full_jitter(d)).collect();
        assert!(draws.iter().all(|j| *j <= d));
        assert!(draws.iter().any(|j| *j < d / 2) && draws.iter().any(|j| *j > d / 2));
    }

    #[test]
    fn budget_runs_dry_and_refills_only_up_to_capacity() {
        let b = RetryBudget::new(12);
        assert!(b.try_spend(RETRY_COST));
        assert!(b.try_spend(RETRY_COST));
        assert!(!b.try_spend(RETRY_COST), "only 2 left");
        assert_eq!(b.available(), 2);
        for _ in 0..20 {
            b.record_success();
        }
        assert_eq!(b.available(), 12);
        assert!(!b.try_spend(13));
    }
}
