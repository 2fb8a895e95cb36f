//! Client-side pacing shared by every worker: a sliding log of this client's own request start
//! times, a light pacer that spreads them out, and the global `Retry-After` pause with its total
//! wait budget.
//!
//! Owns the admission rule, the shared "not before" instant set by a server `Retry-After`, the
//! accounting of how long 429s have paused the client, and the parsing of `Retry-After`.
//! Invariants: for a limit of `L` requests per 60 s, the log admits a request only when fewer
//! than `L` of this client's requests started in the last `60 s + margin`, so any `L + 1`
//! consecutive starts span at least `60 s + margin` and the server — which sees each request a
//! network delay later — never counts more than `L` in a 60 s window while the delays differ by
//! less than the margin (compliance.md §4). Every request of the client (sends, template reads,
//! pre-flight checks, retries) passes the same log, because they all share one token. A pause
//! only ever extends, never shortens, the shared "not before" instant, and the time 429s have
//! kept the client paused (wall clock, overlapping pauses counted once) never exceeds the
//! configured budget.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The window the Genesys per-token limits are expressed in.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// Default allowance for network-latency jitter added to the 60 s window: the log treats a
/// request as counting for `60 s + margin`. 500 ms costs under 1 % of the limit (300 per
/// 60.5 s is 99.2 % of 300/min).
pub const DEFAULT_JITTER_MARGIN: Duration = Duration::from_millis(500);

/// Default total time 429 answers may keep the client paused before it gives up (10 minutes).
pub const DEFAULT_RATE_LIMIT_WAIT_BUDGET: Duration = Duration::from_secs(600);

/// Shortest pause after a 429, whatever its `Retry-After` says (so a stream of `Retry-After: 0`
/// answers still spends the wait budget and ends).
const MIN_429_PAUSE: Duration = Duration::from_millis(100);

/// The admission rule, on an explicit clock (time as a [`Duration`] since any fixed origin).
///
/// Two conditions, both needed to admit a request at `now`:
/// - **the log**: fewer than `limit` admissions in `(now − window, now]`, where
///   `window = 60 s + margin` — the hard guarantee;
/// - **the pacer**: a GCRA that spreads requests one per `window / limit` after a burst of
///   `limit / 20` (at least 1), so a long run does not arrive as one burst per window.
///
/// Sustained throughput is `limit` per `window` (99.2 % of the limit with the default margin);
/// the pacer alone never lets more than `burst + window/spacing` through a window, and the log
/// cuts that to `limit`.
#[derive(Debug, Clone)]
pub struct SlidingLog {
    limit: usize,
    window: Duration,
    spacing: Duration,
    burst: u32,
    log: VecDeque<Duration>,
    tat: Duration,
}

impl SlidingLog {
    /// A log for `requests_per_minute` with `margin` added to the 60 s window. `None` for a
    /// limit of 0.
    pub fn new(requests_per_minute: u32, margin: Duration) -> Option<Self> {
        if requests_per_minute == 0 {
            return None;
        }
        let window = LIMIT_WINDOW + margin;
        let spacing_ns = window.as_nanos().div_ceil(u128::from(requests_per_minute));
        Some(Self {
            limit: usize::try_from(requests_per_minute).unwrap_or(usize::MAX),
            window,
            spacing: Duration::from_nanos(u64::try_from(spacing_ns).unwrap_or(u64::MAX)),
            burst: (requests_per_minute / 20).max(1),
            log: VecDeque::new(),
            tat: Duration::ZERO,
        })
    }

    /// The window a request counts in (60 s + margin).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Requests per minute sustained over a long run: `limit · 60 s / window`.
    pub fn sustained_per_minute(&self) -> f64 {
        let limit = u32::try_from(self.limit).map_or(f64::from(u32::MAX), f64::from);
        limit * LIMIT_WINDOW.as_secs_f64() / self.window.as_secs_f64()
    }

    /// Admits one request at `now` and records it, or says when to try again. `now` must not go
    /// backwards between calls.
    pub fn try_admit(&mut self, now: Duration) -> Result<(), Duration> {
        while self
            .log
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= self.window)
        {
            self.log.pop_front();
        }
        if self.log.len() >= self.limit {
            let oldest = self.log[self.log.len() - self.limit];
            return Err(oldest + self.window);
        }
        let earliest = self.tat.saturating_sub(self.spacing * (self.burst - 1));
        if now < earliest {
            return Err(earliest);
        }
        self.log.push_back(now);
        self.tat = self.tat.max(now) + self.spacing;
        Ok(())
    }
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

/// The outcome of asking for a pause after a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Every worker waits; `waited` is the total paused time so far, this pause included.
    Granted,
    /// The pause would take the total past the budget: give up (nothing was extended).
    BudgetSpent {
        /// Total time 429s have paused the client so far.
        waited: Duration,
    },
}

#[derive(Debug, Default)]
struct PauseState {
    not_before: Option<Instant>,
    waited: Duration,
}

/// Shared pacing state: the optional sliding log and the global "not before" pause.
#[derive(Debug)]
pub(crate) struct Throttle {
    origin: Instant,
    log: Option<Mutex<SlidingLog>>,
    pause: Mutex<PauseState>,
    wait_budget: Duration,
}

impl Throttle {
    /// A throttle with the given log (or none: only server pauses apply) and 429 wait budget.
    pub(crate) fn new(log: Option<SlidingLog>, wait_budget: Duration) -> Self {
        Self {
            origin: Instant::now(),
            log: log.map(Mutex::new),
            pause: Mutex::new(PauseState::default()),
            wait_budget,
        }
    }

    /// Pauses every worker until at least `now + delay` (at least 100 ms), unless that would
    /// take the total time paused by 429s past the budget.
    pub(crate) fn pause_for(&self, delay: Duration) -> Pause {
        let now = Instant::now();
        let until = now + delay.max(MIN_429_PAUSE);
        let mut st = self.pause.lock().expect("throttle lock poisoned");
        let from = st.not_before.filter(|t| *t > now).unwrap_or(now);
        let extra = until.saturating_duration_since(from);
        if st.waited + extra > self.wait_budget {
            return Pause::BudgetSpent { waited: st.waited };
        }
        st.waited += extra;
        if until > from {
            st.not_before = Some(until);
        }
        Pause::Granted
    }

    /// Total time 429s have paused the client.
    pub(crate) fn waited(&self) -> Duration {
        self.pause.lock().expect("throttle lock poisoned").waited
    }

    /// The configured 429 wait budget.
    pub(crate) fn wait_budget(&self) -> Duration {
        self.wait_budget
    }

    /// The instant before which no request is sent, if a pause is in force.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        let st = self.pause.lock().expect("throttle lock poisoned");
        st.not_before.filter(|t| *t > Instant::now())
    }

    async fn wait_for_pause(&self) {
        while let Some(until) = self.paused_until() {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Waits until this worker may start one request — after any pause, and when the log
    /// admits it — and records the start. Call it immediately before sending: the recorded
    /// time must not be earlier than the request really leaves.
    pub(crate) async fn until_ready(&self) {
        loop {
            self.wait_for_pause().await;
            let Some(log) = &self.log else { return };
            if self.paused_until().is_some() {
                continue;
            }
            let now = Instant::now().saturating_duration_since(self.origin);
            let admitted = log.lock().expect("throttle lock poisoned").try_admit(now);
            match admitted {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(self.origin + at).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use std::sync::Arc;

    /// Greedy traffic on a virtual clock: at every 1 ms tick, as many requests as the log
    /// admits. Returns admission times.
    fn drive(limit: u32, margin: Duration, run: Duration) -> Vec<Duration> {
        let mut log = SlidingLog::new(limit, margin).unwrap();
        let tick = Duration::from_millis(1);
        let mut now = Duration::ZERO;
        let mut admitted = Vec::new();
        while now < run {
            while log.try_admit(now).is_ok() {
                admitted.push(now);
            }
            now += tick;
        }
        admitted
    }

    /// The most times inside any window of length `w` counting `t` with `start <= t < start+w`.
    fn max_in_window(times: &[Duration], w: Duration) -> usize {
        let mut max = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi].saturating_sub(times[lo]) >= w {
                lo += 1;
            }
            max = max.max(hi - lo + 1);
        }
        max
    }

    #[test]
    fn no_sixty_second_window_over_the_limit_and_at_least_98_percent_sustained() {
        for limit in [1u32, 2, 7, 20, 60, 300, 1000, 3000] {
            let admitted = drive(limit, DEFAULT_JITTER_MARGIN, Duration::from_secs(300));
            let l = limit as usize;
            // Count admissions in every 60 s window (and in every 60.5 s one: the log's own).
            assert!(max_in_window(&admitted, LIMIT_WINDOW) <= l, "limit {limit}");
            assert!(
                max_in_window(&admitted, LIMIT_WINDOW + DEFAULT_JITTER_MARGIN) <= l,
                "limit {limit}"
            );
            // Steady state: over two whole minutes after the first, ≥ 98 % of the limit.
            let late = admitted
                .iter()
                .filter(|t| **t >= Duration::from_secs(120) && **t < Duration::from_secs(240))
                .count();
            if limit >= 60 {
                assert!(late * 100 >= 98 * 2 * l, "limit {limit}: {late} in 120 s");
            }
            // And the whole run from the first request on (opening burst included).
            let total = f64::from(u32::try_from(admitted.len()).unwrap());
            let expected = 300.0 / 60.5 * f64::from(limit);
            assert!(
                total >= expected.floor() * 0.98 && total <= expected + 1.0 + f64::from(limit),
                "limit {limit}: {total}"
            );
        }
    }

    #[test]
    fn the_pacer_spreads_requests_after_a_small_burst() {
        let admitted = drive(300, DEFAULT_JITTER_MARGIN, Duration::from_secs(5));
        // Burst of 15 at t = 0, then one per 60.5 s / 300 ≈ 201.7 ms.
        assert_eq!(admitted.iter().filter(|t| t.is_zero()).count(), 15);
        let gaps: Vec<Duration> = admitted
            .windows(2)
            .skip(15)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        assert!(
            gaps.iter()
                .all(|g| (Duration::from_millis(200)..=Duration::from_millis(203)).contains(g)),
            "{gaps:?}"
        );
    }

    /// Irregular traffic (bursts, idle gaps) on a virtual clock; each admitted request reaches
    /// the server after a random delay whose spread is below the margin. The server's sliding
    /// window (a request counts while younger than 60 s) never holds more than the limit.
    #[test]
    fn server_side_windows_stay_within_the_limit_under_latency_jitter() {
        for seed in 0..20_u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let limit: u32 = rng.random_range(1..=400);
            let mut log = SlidingLog::new(limit, DEFAULT_JITTER_MARGIN).unwrap();
            let mut now = Duration::ZERO;
            let mut arrivals = Vec::new();
            for _ in 0..20_000 {
                now += if rng.random_bool(0.97) {
                    Duration::from_millis(rng.random_range(0..20))
                } else {
                    Duration::from_millis(rng.random_range(0..40_000))
                };
                if log.try_admit(now).is_ok() {
                    let delay = Duration::from_millis(rng.random_range(20..500));
                    arrivals.push(now + delay);
                }
            }
            arrivals.sort_unstable();
            let max = max_in_window(&arrivals, LIMIT_WINDOW);
            assert!(max <= limit as usize, "seed {seed}: {max} > {limit}");
        }
    }

    #[test]
    fn refused_requests_are_told_when_to_come_back() {
        let mut log = SlidingLog::new(2, Duration::ZERO).unwrap();
        assert_eq!(log.try_admit(Duration::ZERO), Ok(()));
        // Pacer: burst 1, spacing 30 s.
        assert_eq!(
            log.try_admit(Duration::from_secs(1)),
            Err(Duration::from_secs(30))
        );
        assert_eq!(log.try_admit(Duration::from_secs(30)), Ok(()));
        // Log: both slots taken until the first leaves at 60 s.
        assert_eq!(
            log.try_admit(Duration::from_secs(59)),
            Err(Duration::from_secs(60))
        );
        assert_eq!(log.try_admit(Duration::from_secs(60)), Ok(()));
        assert!(SlidingLog::new(0, Duration::ZERO).is_none());
        let log = SlidingLog::new(300, DEFAULT_JITTER_MARGIN).unwrap();
        assert!(log.sustained_per_minute() >= 0.99 * 300.0);
    }

    /// The shared throttle on tokio's virtual clock: many workers, every request start counted
    /// in every 60 s window.
    #[tokio::test(start_paused = true)]
    async fn workers_sharing_the_throttle_never_exceed_the_limit() {
        let limit = 120;
        let throttle = Arc::new(Throttle::new(
            SlidingLog::new(limit, DEFAULT_JITTER_MARGIN),
            DEFAULT_RATE_LIMIT_WAIT_BUDGET,
        ));
        let t0 = Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let throttle = Arc::clone(&throttle);
            let starts = Arc::clone(&starts);
            tasks.push(tokio::spawn(async move {
                for _ in 0..60 {
                    throttle.until_ready().await;
                    starts.lock().unwrap().push(Instant::now() - t0);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut starts = starts.lock().unwrap().clone();
        starts.sort_unstable();
        assert_eq!(starts.len(), 480);
        assert!(max_in_window(&starts, LIMIT_WINDOW) <= limit as usize);
        // 480 requests at 120 per 60.5 s: four windows; in each, a burst of 6 then one per
        // 504 ms, so the last of the fourth starts about 3 × 60.5 s + 114 × 0.504 s ≈ 239 s.
        let last = *starts.last().unwrap();
        assert!(last >= Duration::from_secs(238), "{last:?}");
        assert!(last < Duration::from_secs(242), "{last:?}");
        // Each 60.5 s window after the first holds its full 120.
        for w in 1..4u32 {
            let from = (LIMIT_WINDOW + DEFAULT_JITTER_MARGIN) * w;
            let to = from + LIMIT_WINDOW + DEFAULT_JITTER_MARGIN;
            let n = starts.iter().filter(|t| **t >= from && **t < to).count();
            assert_eq!(n, 120, "window {w}");
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
        let throttle = Arc::new(Throttle::new(None, DEFAULT_RATE_LIMIT_WAIT_BUDGET));
        let t0 = Instant::now();
        assert_eq!(throttle.pause_for(Duration::from_secs(7)), Pause::Granted);
        // Must not shorten the pause, and an overlapped pause costs no budget.
        assert_eq!(throttle.pause_for(Duration::from_secs(2)), Pause::Granted);
        assert_eq!(throttle.waited(), Duration::from_secs(7));
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

    #[tokio::test(start_paused = true)]
    async fn pauses_stop_at_the_total_wait_budget() {
        let throttle = Throttle::new(None, Duration::from_secs(10));
        for _ in 0..3 {
            assert_eq!(throttle.pause_for(Duration::from_secs(3)), Pause::Granted);
            throttle.until_ready().await;
        }
        assert_eq!(throttle.waited(), Duration::from_secs(9));
        // 9 s + 3 s > 10 s: refused, and nothing is paused.
        assert_eq!(
            throttle.pause_for(Duration::from_secs(3)),
            Pause::BudgetSpent {
                waited: Duration::from_secs(9)
            }
        );
        assert_eq!(throttle.paused_until(), None);
        // A zero Retry-After still costs the minimum pause.
        assert_eq!(throttle.pause_for(Duration::ZERO), Pause::Granted);
        assert_eq!(throttle.waited(), Duration::from_millis(9_100));
    }
}
