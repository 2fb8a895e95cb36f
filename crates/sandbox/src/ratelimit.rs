//! Per-token sliding-window rate limiter, as Genesys applies `token.rate.per.minute`.
//!
//! Invariant: for every token and every half-open window `[t, t + 60 s)`, at most `limit`
//! requests are admitted. The limiter keeps the admission times of the last 60 s per token and
//! admits a request only if fewer than `limit` of them fall in `(now - 60 s, now]`; a refused
//! request is not recorded and is told to retry once the oldest admission leaves the window.
//! Time is passed in explicitly, so the invariant is tested with a fake clock.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};

/// The window over which the limit applies.
pub const WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request is admitted and counted.
    Admit,
    /// The request is refused; retry after this many whole seconds (at least 1).
    Refuse {
        /// Seconds until a slot frees up, rounded up.
        retry_after_secs: u64,
    },
}

/// Sliding-window log limiter keyed by token.
#[derive(Debug, Default)]
pub struct SlidingWindowLimiter {
    admitted: HashMap<String, VecDeque<Timestamp>>,
}

impl SlidingWindowLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides whether `key` may make one more request at `now` under `limit` per window.
    pub fn check(&mut self, key: &str, limit: u32, now: Timestamp) -> Decision {
        let log = self.admitted.entry(key.to_owned()).or_default();
        // Drop admissions that are 60 s or more in the past: they are outside (now - 60 s, now].
        while log
            .front()
            .is_some_and(|&t| now.duration_since(t) >= WINDOW)
        {
            log.pop_front();
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if log.len() < limit {
            log.push_back(now);
            return Decision::Admit;
        }
        // The window is full: the slot frees when the oldest of the last `limit` admissions
        // leaves it. With limit == 0 nothing is ever admitted; say one window.
        let free_at = if limit == 0 {
            now.checked_add(WINDOW).expect("timestamp overflow")
        } else {
            log[log.len() - limit]
                .checked_add(WINDOW)
                .expect("timestamp overflow")
        };
        let wait = free_at.duration_since(now);
        let millis = u64::try_from(wait.as_millis()).unwrap_or(0);
        Decision::Refuse {
            retry_after_secs: millis.div_ceil(1000).max(1),
        }
    }

    /// Forgets every token's history (used when the limit changes).
    pub fn reset(&mut self) {
        self.admitted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn t0() -> Timestamp {
        "2026-11-25T14:00:00Z".parse().unwrap()
    }

    #[test]
    fn admits_up_to_the_limit_then_refuses_with_retry_after() {
        let mut limiter = SlidingWindowLimiter::new();
        let start = t0();
        for i in 0..5 {
            let now = start + SignedDuration::from_secs(i * 10);
            assert_eq!(limiter.check("tok", 5, now), Decision::Admit);
        }
        // At t=45 s the oldest admission (t=0) frees at t=60 s: 15 s away.
        let at = start + SignedDuration::from_secs(45);
        assert_eq!(
            limiter.check("tok", 5, at),
            Decision::Refuse {
                retry_after_secs: 15
            }
        );
        // Another token has its own window.
        assert_eq!(limiter.check("other", 5, at), Decision::Admit);
        // Exactly 60 s after the first admission a slot is free again.
        let later = start + SignedDuration::from_secs(60);
        assert_eq!(limiter.check("tok", 5, later), Decision::Admit);
        assert!(matches!(
            limiter.check("tok", 5, later),
            Decision::Refuse { .. }
        ));
    }

    #[test]
    fn retry_after_is_rounded_up_and_at_least_one_second() {
        let mut limiter = SlidingWindowLimiter::new();
        let start = t0();
        assert_eq!(limiter.check("tok", 1, start), Decision::Admit);
        let at = start + SignedDuration::from_millis(59_999);
        assert_eq!(
            limiter.check("tok", 1, at),
            Decision::Refuse {
                retry_after_secs: 1
            }
        );
        let at = start + SignedDuration::from_millis(10_500);
        assert_eq!(
            limiter.check("tok", 1, at),
            Decision::Refuse {
                retry_after_secs: 50
            }
        );
    }

    #[test]
    fn a_zero_limit_admits_nothing() {
        let mut limiter = SlidingWindowLimiter::new();
        assert_eq!(
            limiter.check("tok", 0, t0()),
            Decision::Refuse {
                retry_after_secs: 60
            }
        );
    }

    /// Fake-clock proof of the invariant: under bursty random traffic, and for every window
    /// starting at any admitted request, no 60 s window holds more admissions than the limit,
    /// and the limiter does not starve clients (it reaches the limit in busy windows).
    #[test]
    fn no_sixty_second_window_ever_admits_more_than_the_limit() {
        for seed in 0..20_u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let limit: u32 = rng.random_range(1..=40);
            let mut limiter = SlidingWindowLimiter::new();
            let mut now = t0();
            let mut admitted = Vec::new();
            for _ in 0..5_000 {
                // Mostly tight bursts (0-50 ms apart), sometimes pauses up to 30 s.
                let gap_ms = if rng.random_bool(0.95) {
                    rng.random_range(0..50)
                } else {
                    rng.random_range(0..30_000)
                };
                now += SignedDuration::from_millis(gap_ms);
                if limiter.check("tok", limit, now) == Decision::Admit {
                    admitted.push(now);
                }
            }
            let limit = usize::try_from(limit).unwrap();
            let mut max_in_window = 0;
            for (i, &start) in admitted.iter().enumerate() {
                // Admissions are in time order, so the window [start, start+60s) is a run.
                let in_window = admitted[i..]
                    .iter()
                    .take_while(|&&t| t.duration_since(start) < WINDOW)
                    .count();
                assert!(
                    in_window <= limit,
                    "seed {seed}: {in_window} admissions in a window, limit {limit}"
                );
                max_in_window = max_in_window.max(in_window);
            }
            assert_eq!(max_in_window, limit, "seed {seed}: limit never reached");
        }
    }
}
