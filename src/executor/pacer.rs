//! A campaign's own pace (`rate_per_minute`), on top of the client's per-token limit.

/// Paces one campaign's sends at its `rate_per_minute` (on top of the client's per-token limit).
pub(crate) type Pacer = governor::DefaultDirectRateLimiter;

/// A pacer that never lets more than `per_minute` sends start in any 60 s window: one send
/// per `60 s / per_minute` (rounded up), no burst.
pub(crate) fn pacer(per_minute: u32) -> Pacer {
    governor::RateLimiter::direct(pacer_quota(per_minute))
}

fn pacer_quota(per_minute: u32) -> governor::Quota {
    let period_us = 60_000_000u64.div_ceil(u64::from(per_minute.max(1))) + 1;
    governor::Quota::with_period(std::time::Duration::from_micros(period_us))
        .expect("non-zero period")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    /// Drives a pacer on a virtual clock for `secs` seconds as a sender would: send when it
    /// admits, else wait exactly as long as it says. Returns the admission times (ns).
    fn admissions(per_minute: u32, secs: u64) -> Vec<u64> {
        use governor::clock::{Clock as _, Reference as _};
        let clock = FakeRelativeClock::default();
        let start = clock.now();
        let p = governor::RateLimiter::direct_with_clock(pacer_quota(per_minute), clock.clone());
        let end = Duration::from_secs(secs);
        let mut at = Vec::new();
        loop {
            let elapsed = Duration::from(clock.now().duration_since(start));
            if elapsed >= end {
                return at;
            }
            match p.check() {
                Ok(()) => at.push(u64::try_from(elapsed.as_nanos()).expect("fits")),
                Err(not_until) => clock.advance(not_until.wait_time_from(clock.now())),
            }
        }
    }

    /// The most admissions in any closed 60 s window starting at an admission.
    fn busiest_minute(at: &[u64]) -> usize {
        const MINUTE: u64 = 60_000_000_000;
        let mut end = 0;
        let mut most = 0;
        for (start, t) in at.iter().enumerate() {
            while end < at.len() && at[end] <= t + MINUTE {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    #[test]
    fn pacer_never_admits_more_than_the_rate_in_a_window() {
        for rate in [7u32, 120, 600] {
            let at = admissions(rate, 180);
            let rate = rate as usize;
            assert_eq!(
                busiest_minute(&at),
                rate,
                "{rate}/min: every 60 s window holds at most the rate, and the rate is reached"
            );
            assert!(
                at.windows(2).all(|w| w[0] != w[1]),
                "{rate}/min: no burst (two admissions at the same instant)"
            );
            assert!(
                at.len() >= rate * 3 - 1,
                "{rate}/min over 3 minutes admitted only {}",
                at.len()
            );
        }
    }
}
