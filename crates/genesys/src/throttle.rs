//! Client-side pacing shared by every worker: a GCRA token bucket plus a global pause.
//!
//! Owns the bucket sizing rule, the shared "not before" instant set by a server
//! `Retry-After`, and the parsing of `Retry-After` itself. Invariants: for a limit of `L`
//! requests per 60 s the bucket's burst `B` and refill rate `r` satisfy `B + 60·r ≤ L`, so no
//! 60-second window can ever hold more than `L` admitted requests (compliance.md §4); a pause
//! only ever extends, never shortens, the shared "not before" instant.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// The window the Genesys per-token limits are expressed in.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// A token bucket: up to `burst` requests at once, then one every `refill_period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSize {
    /// Bucket capacity (requests admitted back to back after an idle period).
    pub burst: u32,
    /// Time to earn one more request.
    pub refill_period: Duration,
}

impl BucketSize {
    /// Refill rate in requests per second.
    pub fn refill_per_second(&self) -> f64 {
        1.0 / self.refill_period.as_secs_f64()
    }

    /// The governor quota for this bucket.
    pub fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).expect("burst is at least 1");
        Quota::with_period(self.refill_period)
            .expect("refill period is non-zero")
            .allow_burst(burst)
    }

    /// The most requests this bucket can admit inside any closed window of length `window`:
    /// the full burst plus one request per whole refill period.
    pub fn max_in_window(&self, window: Duration) -> u64 {
        let refills = window.as_nanos() / self.refill_period.as_nanos();
        u64::from(self.burst).saturating_add(u64::try_from(refills).unwrap_or(u64::MAX))
    }
}

/// Sizes a bucket for at most `requests_per_minute` requests in any 60-second window.
///
/// The burst is a twentieth of the limit (at least 1) and the refill spreads the remaining
/// `L − B` requests evenly over the window (rounded so the rate never exceeds it), which gives
/// `B + 60·r ≤ L`: for 300/min a burst of 15 and a refill of 4.75/s, so a long run sustains
/// 95 % of the limit while no 60-second window can exceed it. A limit of 1 uses a refill
/// period just over the window. Returns `None` for a limit of 0.
pub fn bucket_for_limit(requests_per_minute: u32) -> Option<BucketSize> {
    if requests_per_minute == 0 {
        return None;
    }
    if requests_per_minute == 1 {
        return Some(BucketSize {
            burst: 1,
            refill_period: LIMIT_WINDOW + Duration::from_millis(1),
        });
    }
    let burst = (requests_per_minute / 20).max(1);
    let refills = u128::from(requests_per_minute - burst);
    // Ceiling division so that `refills` whole periods fit in the window and not one more.
    let period_ns = LIMIT_WINDOW.as_nanos().div_ceil(refills);
    Some(BucketSize {
        burst,
        refill_period: Duration::from_nanos(u64::try_from(period_ns).unwrap_or(u64::MAX)),
    })
}

/// Parses a `Retry-After` value: whole seconds or an HTTP-date (IMF-fixdate, RFC 850 or
/// asctime). A date in the past gives zero; negative numbers and garbage give `None` so the
/// caller falls back to backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A number too large for u64 is still "a very long time".
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Shared pacing state: the optional bucket and the global "not before" pause.
#[derive(Debug)]
pub(crate) struct Throttle {
    limiter: Option<DefaultDirectRateLimiter>,
    not_before: Mutex<Option<Instant>>,
}

impl Throttle {
    /// A throttle with the given bucket, or none (only server pauses apply).
    pub(crate) fn new(bucket: Option<BucketSize>) -> Self {
        Self {
            limiter: bucket.map(|b| RateLimiter::direct(b.quota())),
            not_before: Mutex::new(None),
        }
    }

    /// Pauses every worker until at least `now + delay`.
    pub(crate) fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut guard = self.not_before.lock().expect("throttle lock poisoned");
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// The instant before which no request is sent, if a pause is in force.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        let guard = self.not_before.lock().expect("throttle lock poisoned");
        guard.filter(|t| *t > Instant::now())
    }

    async fn wait_for_pause(&self) {
        while let Some(until) = self.paused_until() {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Waits until this worker may send one request: after any pause, and when the bucket
    /// admits it. A pause that starts while waiting for the bucket is honoured too.
    pub(crate) async fn until_ready(&self) {
        self.wait_for_pause().await;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
            self.wait_for_pause().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{Clock, FakeRelativeClock, Reference};
    use std::sync::Arc;

    #[test]
    fn default_genesys_limit_gives_burst_15_refill_4_75() {
        let b = bucket_for_limit(300).unwrap();
        assert_eq!(b.burst, 15);
        assert!(
            (b.refill_per_second() - 4.75).abs() < 1e-6,
            "{}",
            b.refill_per_second()
        );
        // The period is rounded up to whole nanoseconds, which costs at most one request.
        assert!((299..=300).contains(&b.max_in_window(LIMIT_WINDOW)));
    }

    #[test]
    fn burst_plus_refill_never_exceeds_the_limit() {
        assert_eq!(bucket_for_limit(0), None);
        for limit in 1..=6000u32 {
            let b = bucket_for_limit(limit).unwrap();
            assert!(b.burst >= 1);
            let per_window = f64::from(b.burst) + 60.0 * b.refill_per_second();
            // A limit of 1 cannot satisfy the continuous form with any refill > 0; the discrete
            // count (what GCRA actually admits in a closed window) is the guarantee that matters.
            if limit > 1 {
                assert!(
                    per_window <= f64::from(limit) + 1e-9,
                    "limit {limit}: {per_window}"
                );
            }
            let max = b.max_in_window(LIMIT_WINDOW);
            assert!(max <= u64::from(limit), "limit {limit}");
            // And the bucket is not needlessly small.
            assert!(max + 1 >= u64::from(limit), "limit {limit}: {max}");
            // Sustained throughput (the refill alone) is at least 95 % of the limit once the
            // limit is large enough for a twentieth of it to be a whole request.
            if limit >= 20 {
                let sustained = 60.0 * b.refill_per_second();
                assert!(
                    // (the refill period is rounded up to whole nanoseconds)
                    sustained >= 0.95 * f64::from(limit) - 1e-3,
                    "limit {limit}: sustained {sustained}"
                );
            }
        }
    }

    /// Drives the real governor algorithm with a fake clock, greedily admitting as many
    /// requests as it allows, and checks every 60 s window of admission times.
    #[test]
    fn governor_with_this_quota_never_admits_more_than_the_limit_per_window() {
        for limit in [2u32, 7, 60, 300, 1000] {
            let bucket = bucket_for_limit(limit).unwrap();
            let clock = FakeRelativeClock::default();
            let limiter = RateLimiter::direct_with_clock(bucket.quota(), clock.clone());
            let step = Duration::from_millis(10);
            let mut admitted: Vec<Duration> = Vec::new();
            let start = clock.now();
            while clock.now().duration_since(start).as_u64() < 200_000_000_000 {
                while limiter.check().is_ok() {
                    admitted.push(Duration::from_nanos(
                        clock.now().duration_since(start).as_u64(),
                    ));
                }
                clock.advance(step);
            }
            // Steady state: after the first window, each further 60 s admits at least 95 %.
            let late = admitted
                .iter()
                .filter(|t| **t >= Duration::from_secs(120) && **t < Duration::from_secs(180))
                .count();
            if limit >= 20 {
                assert!(late * 100 >= 94 * limit as usize, "limit {limit}: {late}");
            }
            let mut max = 0usize;
            let mut lo = 0usize;
            for hi in 0..admitted.len() {
                while admitted[hi].saturating_sub(admitted[lo]) > LIMIT_WINDOW {
                    lo += 1;
                }
                max = max.max(hi - lo + 1);
            }
            assert!(max <= limit as usize, "limit {limit}: {max} in one window");
            assert!(
                max * 100 >= 94 * limit as usize,
                "limit {limit}: only {max}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_dates_and_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        for garbage in ["", "-5", "soon", "1.5", "7s"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
        assert!(
            parse_retry_after("99999999999999999999999", now).unwrap() > Duration::from_secs(3600)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_worker_and_only_extends() {
        let throttle = Arc::new(Throttle::new(None));
        let t0 = Instant::now();
        throttle.pause_for(Duration::from_secs(7));
        throttle.pause_for(Duration::from_secs(2)); // must not shorten the pause
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let t = Arc::clone(&throttle);
                tokio::spawn(async move {
                    t.until_ready().await;
                    Instant::now()
                })
            })
            .collect();
        for w in workers {
            let released = w.await.unwrap();
            assert!(released - t0 >= Duration::from_secs(7));
        }
        assert_eq!(throttle.paused_until(), None);
    }
}
