//! The send rules shared by the plan and the ledger, written once: the state of a send, which
//! states are final, and when a frequency cap lets the next message go.

use std::fmt;

use serde::{Deserialize, Serialize};

/// State of one send (one campaign × audience row).
///
/// `pending → dispatching → sent | failed | unknown | pending`; `unknown → sent | pending`
/// through reconciliation; `suppressed` rows were skipped because the recipient was
/// suppressed and are re-checked by the next claim. A row sent through a Genesys outbound
/// messaging campaign goes `pending → handed_off → sent | failed | unknown | pending`: the
/// wave's outcome read (or `reconcile`) resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendState {
    /// Not yet dispatched (new, retryable, or held by quiet hours until its next attempt).
    Pending,
    /// Claimed by a run; the request may be in flight. Never survives a reopen.
    Dispatching,
    /// Genesys accepted the message (final).
    Sent,
    /// Genesys rejected the message permanently (final).
    Failed,
    /// Maybe sent: never resent without reconciliation or an explicit override.
    Unknown,
    /// Skipped at claim time because the recipient is suppressed; re-checked on the next claim.
    Suppressed,
    /// Handed to a Genesys outbound messaging campaign (a contact of one wave's contact
    /// list). Not an outcome: the wave's outcome read or `reconcile` resolves it. Until then
    /// it is never handed off again nor sent agentless, whatever the redo policy.
    HandedOff,
}

impl SendState {
    /// Every state, in display order.
    pub const ALL: [SendState; 7] = [
        SendState::Pending,
        SendState::Dispatching,
        SendState::Sent,
        SendState::Failed,
        SendState::Unknown,
        SendState::Suppressed,
        SendState::HandedOff,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SendState::Pending => "pending",
            SendState::Dispatching => "dispatching",
            SendState::Sent => "sent",
            SendState::Failed => "failed",
            SendState::Unknown => "unknown",
            SendState::Suppressed => "suppressed",
            SendState::HandedOff => "handed_off",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<SendState> {
        SendState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The final-state rule: whether a row in this state is never sent again by a run that
    /// redoes `redo` (`unknown` is sent again only with `--resend-unknown`, `failed` only with
    /// `--retry-failed`; `handed_off` is in Genesys' hands until resolved, so it is skipped
    /// like `dispatching`). The plan predicts with it and the ledger's claim enforces it.
    pub fn is_final(self, redo: Redo) -> bool {
        match self {
            Self::Sent | Self::Dispatching | Self::HandedOff => true,
            Self::Failed => !redo.failed,
            Self::Unknown => !redo.unknown,
            Self::Pending | Self::Suppressed => false,
        }
    }
}

/// Which ended sends a run dispatches again; a normal run redoes none ([`Redo::NONE`]).
///
/// `failed` rows were refused by Genesys (a 4xx answer: nothing was delivered), so sending
/// them again cannot duplicate a message; `unknown` rows may have been delivered, so sending
/// them again is at-least-once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Redo {
    /// Send `unknown` rows again (`--resend-unknown`: may duplicate).
    pub unknown: bool,
    /// Send `failed` rows again (`--retry-failed`: refused sends, never delivered).
    pub failed: bool,
}

impl Redo {
    /// A normal run: no ended send is dispatched again.
    pub const NONE: Redo = Redo {
        unknown: false,
        failed: false,
    };
    /// `--resend-unknown` alone.
    pub const UNKNOWN: Redo = Redo {
        unknown: true,
        failed: false,
    };
    /// `--retry-failed` alone.
    pub const FAILED: Redo = Redo {
        unknown: false,
        failed: true,
    };
}

impl fmt::Display for SendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The frequency-cap rule for one cap of at most `max` messages in any sliding `per_ms`:
/// given the recipient's earlier sends (`times`, ascending Unix ms), when a message may go
/// at `at_ms` — `None` when fewer than `max` of them fall in the window `(at_ms − per_ms,
/// …]`, else the moment the oldest of the newest `max` leaves it. The plan predicts with it
/// and the ledger's claim enforces it.
pub fn cap_opens_at(times: &[i64], max: u32, per_ms: i64, at_ms: i64) -> Option<i64> {
    let since = at_ms.saturating_sub(per_ms);
    let first = times.partition_point(|t| *t <= since);
    let inside = &times[first..];
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    (max > 0 && inside.len() >= max).then(|| inside[inside.len() - max].saturating_add(per_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states() {
        let finals: Vec<_> = SendState::ALL
            .into_iter()
            .filter(|s| s.is_final(Redo::NONE))
            .collect();
        assert_eq!(
            finals,
            [
                SendState::Dispatching,
                SendState::Sent,
                SendState::Failed,
                SendState::Unknown,
                SendState::HandedOff
            ]
        );
        assert!(!SendState::Unknown.is_final(Redo::UNKNOWN));
        assert!(SendState::Failed.is_final(Redo::UNKNOWN));
        assert!(!SendState::Failed.is_final(Redo::FAILED));
        assert!(SendState::Unknown.is_final(Redo::FAILED));
        for redo in [Redo::NONE, Redo::UNKNOWN, Redo::FAILED] {
            assert!(
                SendState::Sent.is_final(redo),
                "a sent message is never sent again"
            );
            assert!(SendState::Dispatching.is_final(redo));
            assert!(
                SendState::HandedOff.is_final(redo),
                "a handed-off row is never handed off again nor sent agentless"
            );
        }
        for s in SendState::ALL {
            assert_eq!(SendState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_cap_opens_when_the_oldest_of_the_newest_max_leaves_the_window() {
        // 2 per 100 ms; sends at 10, 50, 90; at 100 the window (0, 100] holds all three.
        assert_eq!(cap_opens_at(&[10, 50, 90], 2, 100, 100), Some(150));
        // At 160 only 90 is inside: under the cap.
        assert_eq!(cap_opens_at(&[10, 50, 90], 2, 100, 160), None);
        // A send exactly at the window's start is outside it.
        assert_eq!(cap_opens_at(&[0, 100], 2, 100, 100), None);
        assert_eq!(cap_opens_at(&[], 1, 100, 100), None);
        assert_eq!(cap_opens_at(&[99], 0, 100, 100), None);
    }
}
