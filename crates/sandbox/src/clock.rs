//! Time source of the sandbox. Everything time-dependent (token expiry, the rate-limit window,
//! message status, analytics indexing delay) reads the injected [`Clock`], so tests can drive
//! time with a [`FakeClock`] instead of sleeping.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A manually advanced clock for tests; clones share the same time.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<Timestamp>>,
}

impl FakeClock {
    /// A fake clock frozen at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.now.lock().expect("fake clock poisoned");
        *now = now.checked_add(by).expect("fake clock overflow");
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        *self.now.lock().expect("fake clock poisoned") = to;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("fake clock poisoned")
    }
}

/// Formats a timestamp as Genesys does: ISO-8601 UTC with milliseconds, e.g.
/// `2026-11-25T14:00:00.000Z`.
pub(crate) fn iso(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
