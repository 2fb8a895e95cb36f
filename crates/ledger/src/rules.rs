//! The send rules, written once for every backend: what a claim does to a row, and which
//! columns an outcome or a resolution sets.
//!
//! Owns: [`decide`] and [`OutcomeColumns`]. Pure: no I/O, no SQL.

use jiff::Timestamp;

use crate::model::{OutcomeResult, Redo, Resolution, SendState};

/// What one claim does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The row stays as it is: do not send.
    Skip(SendState),
    /// The row is already `suppressed` and the recipient still is: nothing to write.
    Suppressed,
    /// Insert or move the row to `state`, adding `bump` to its attempts.
    Write { state: SendState, bump: i64 },
}

/// Decides one claim against the row's current state (`None` = absent) and whether the
/// recipient is suppressed on the claim's channel.
pub(crate) fn decide(existing: Option<SendState>, suppressed: bool, redo: Redo) -> Decision {
    if let Some(s) = existing
        && s.is_final(redo)
    {
        return Decision::Skip(s);
    }
    if suppressed && existing == Some(SendState::Suppressed) {
        return Decision::Suppressed;
    }
    if suppressed {
        Decision::Write {
            state: SendState::Suppressed,
            bump: 0,
        }
    } else {
        Decision::Write {
            state: SendState::Dispatching,
            bump: 1,
        }
    }
}

/// The columns an outcome writes on its `dispatching` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutcomeColumns<'a> {
    pub(crate) state: SendState,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) conversation_id: Option<&'a str>,
    pub(crate) error_code: Option<&'a str>,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) note: Option<&'a str>,
}

impl<'a> OutcomeColumns<'a> {
    pub(crate) fn of(result: &'a OutcomeResult) -> OutcomeColumns<'a> {
        let none = OutcomeColumns {
            state: SendState::Pending,
            message_id: None,
            conversation_id: None,
            error_code: None,
            next_attempt_at: None,
            note: None,
        };
        match result {
            OutcomeResult::Sent { handle } => OutcomeColumns {
                state: SendState::Sent,
                message_id: handle.message_id(),
                conversation_id: handle.conversation_id(),
                ..none
            },
            OutcomeResult::Failed { code } => OutcomeColumns {
                state: SendState::Failed,
                error_code: Some(code),
                ..none
            },
            OutcomeResult::Unknown { reason } => OutcomeColumns {
                state: SendState::Unknown,
                note: Some(reason),
                ..none
            },
            OutcomeResult::Pending {
                next_attempt_at,
                reason,
            } => OutcomeColumns {
                next_attempt_at: next_attempt_at.map(Timestamp::as_millisecond),
                note: Some(reason),
                ..none
            },
        }
    }
}

/// The state an `unknown` row moves to when resolved.
pub(crate) fn resolved_state(resolution: &Resolution) -> SendState {
    match resolution {
        Resolution::Found { .. } => SendState::Sent,
        Resolution::NotFound => SendState::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_and_in_flight_rows_are_skipped() {
        for s in [SendState::Sent, SendState::Dispatching] {
            for policy in [Redo::NONE, Redo::UNKNOWN, Redo::FAILED] {
                assert_eq!(decide(Some(s), false, policy), Decision::Skip(s));
                assert_eq!(decide(Some(s), true, policy), Decision::Skip(s));
            }
        }
        let s = SendState::Failed;
        for policy in [Redo::NONE, Redo::UNKNOWN] {
            assert_eq!(decide(Some(s), false, policy), Decision::Skip(s));
        }
    }

    #[test]
    fn failed_rows_are_retried_only_on_request_and_suppression_still_wins() {
        assert_eq!(
            decide(Some(SendState::Failed), false, Redo::FAILED),
            Decision::Write {
                state: SendState::Dispatching,
                bump: 1
            }
        );
        assert_eq!(
            decide(Some(SendState::Failed), true, Redo::FAILED),
            Decision::Write {
                state: SendState::Suppressed,
                bump: 0
            }
        );
        assert_eq!(
            decide(Some(SendState::Unknown), false, Redo::FAILED),
            Decision::Skip(SendState::Unknown)
        );
    }

    #[test]
    fn unknown_rows_are_resent_only_on_request() {
        assert_eq!(
            decide(Some(SendState::Unknown), false, Redo::NONE),
            Decision::Skip(SendState::Unknown)
        );
        assert_eq!(
            decide(Some(SendState::Unknown), false, Redo::UNKNOWN),
            Decision::Write {
                state: SendState::Dispatching,
                bump: 1
            }
        );
    }

    #[test]
    fn suppression_wins_over_a_claimable_row_and_is_written_once() {
        for existing in [None, Some(SendState::Pending)] {
            assert_eq!(
                decide(existing, true, Redo::NONE),
                Decision::Write {
                    state: SendState::Suppressed,
                    bump: 0
                }
            );
        }
        assert_eq!(
            decide(Some(SendState::Suppressed), true, Redo::NONE),
            Decision::Suppressed
        );
        assert_eq!(
            decide(Some(SendState::Suppressed), false, Redo::NONE),
            Decision::Write {
                state: SendState::Dispatching,
                bump: 1
            }
        );
    }

    #[test]
    fn outcomes_set_only_their_own_columns() {
        let sent = OutcomeResult::Sent {
            handle: crate::DispatchHandle::message("m", Some("c".into())),
        };
        let cols = OutcomeColumns::of(&sent);
        assert_eq!(
            (cols.state, cols.message_id, cols.conversation_id, cols.note),
            (SendState::Sent, Some("m"), Some("c"), None)
        );
        let failed = OutcomeResult::Failed { code: "E1".into() };
        let cols = OutcomeColumns::of(&failed);
        assert_eq!(
            (cols.state, cols.error_code, cols.message_id),
            (SendState::Failed, Some("E1"), None)
        );
        let at = Timestamp::from_millisecond(1_000).unwrap();
        let pending = OutcomeResult::Pending {
            next_attempt_at: Some(at),
            reason: "quiet hours".into(),
        };
        let cols = OutcomeColumns::of(&pending);
        assert_eq!(
            (cols.state, cols.next_attempt_at, cols.note),
            (SendState::Pending, Some(1_000), Some("quiet hours"))
        );
        let unknown = OutcomeResult::Unknown {
            reason: "timeout".into(),
        };
        let cols = OutcomeColumns::of(&unknown);
        assert_eq!(
            (cols.state, cols.note, cols.next_attempt_at),
            (SendState::Unknown, Some("timeout"), None)
        );
    }
}
