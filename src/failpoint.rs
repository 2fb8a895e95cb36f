//! Named crash points for testing the send protocol's recovery.
//!
//! `HERALD_FAILPOINT=<name>` makes the process call [`std::process::abort`] the first time
//! execution reaches the point with that name — no unwinding, no destructors, no flushes,
//! like a `SIGKILL` or a power cut at that exact instruction. Unset (the normal case), every
//! point is a single load of a cached `Option` and does nothing. The variable is read once.

use std::sync::OnceLock;

use crate::process::env_var;
use crate::settings::ENV_FAILPOINT;

/// After the batch's `dispatching` claim is committed, before any request is made.
pub const AFTER_CLAIM: &str = "apply-after-claim";
/// Inside a send task, right after the first HTTP send of the run returned (accepted or not).
pub const AFTER_SEND: &str = "apply-after-send";
/// When half of a batch's sends have returned, the rest still in flight.
pub const MID_BATCH: &str = "apply-mid-batch";
/// After every send of the batch returned, before the outcome transaction.
pub const BEFORE_RECORD: &str = "apply-before-record";
/// After the outcome transaction committed, before the next batch.
pub const AFTER_RECORD: &str = "apply-after-record";

/// A messaging-campaign wave: after its first batch is recorded `handed_off`, before upload.
pub const WAVE_BEFORE_UPLOAD: &str = "wave-before-upload";
/// A wave: after its first upload request, before the rest.
pub const WAVE_MID_UPLOAD: &str = "wave-mid-upload";
/// A wave: after Genesys created its campaign, before the ledger records it.
pub const WAVE_AFTER_CREATE: &str = "wave-after-create";
/// A wave: after its campaign was switched on, before the ledger records it.
pub const WAVE_AFTER_START: &str = "wave-after-start";
/// A wave: while Genesys messages its contacts (the first progress read that shows some).
pub const WAVE_MID_DISPATCH: &str = "wave-mid-dispatch";

/// `ledger archive`: the archive is written and fsynced under its temporary name.
pub const ARCHIVE_BEFORE_RENAME: &str = "archive-before-rename";
/// `ledger archive`: the archive is in place, before the cut's transaction.
pub const ARCHIVE_BEFORE_CUT: &str = "archive-before-cut";
/// `ledger archive`: the cut is committed, before the report.
pub const ARCHIVE_AFTER_CUT: &str = "archive-after-cut";

/// Every failpoint, for documentation and tests.
pub const ALL: [&str; 13] = [
    AFTER_CLAIM,
    AFTER_SEND,
    MID_BATCH,
    BEFORE_RECORD,
    AFTER_RECORD,
    WAVE_BEFORE_UPLOAD,
    WAVE_MID_UPLOAD,
    WAVE_AFTER_CREATE,
    WAVE_AFTER_START,
    WAVE_MID_DISPATCH,
    ARCHIVE_BEFORE_RENAME,
    ARCHIVE_BEFORE_CUT,
    ARCHIVE_AFTER_CUT,
];

fn active() -> Option<&'static str> {
    static ACTIVE: OnceLock<Option<String>> = OnceLock::new();
    ACTIVE.get_or_init(|| env_var(ENV_FAILPOINT)).as_deref()
}

/// Aborts the process if `name` is the configured failpoint.
#[inline]
pub fn hit(name: &str) {
    if active() == Some(name) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_kebab_case() {
        let mut names = ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(
            ALL.iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        );
    }
}
