//! The seam between the executor and a way of sending.
//!
//! The executor owns the send protocol: it claims a batch in the ledger, paces the sends,
//! checks each message's send window again just before it goes, and records every outcome
//! before the next claim. A [`Dispatch`] only turns one claimed message into a request and
//! says what came of it ([`Dispatched`]); it never sees the ledger. The agentless API
//! ([`super::agentless`]) is the first implementation.

use std::future::Future;

use herald_ledger::DispatchHandle;

use crate::messages::Recipient;
use crate::spec::model::Campaign;

/// What one dispatch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dispatched {
    /// Accepted: recorded `sent` with the handle that names it.
    Sent(DispatchHandle),
    /// Refused for good: recorded `failed` with `code`; the report groups refusals by cause.
    Failed {
        /// The service's error code (never a message body).
        code: String,
        /// Why, for the report.
        cause: Refusal,
    },
    /// Maybe sent (a timeout, a reset after sending, a server error): recorded `unknown`,
    /// never sent again without reconcile or `--resend-unknown`.
    Unknown {
        /// Why (the error's kind; no personal data).
        reason: String,
    },
    /// Not sent, and the run cannot go on (rate limited, credentials, permissions): recorded
    /// `pending` with `note`; the campaign stops with `stop` after this batch is recorded.
    Stopped {
        /// The reason stored with the pending row (no personal data).
        note: String,
        /// Why the run stopped, for the user.
        stop: String,
    },
}

/// The cause of a refused send, for grouping in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Equal for refusals of the same cause (the error code and the fields it names).
    pub(crate) key: String,
    /// A readable reason (addresses masked, no per-request ids).
    pub(crate) reason: String,
}

/// Why the pre-flight check refused to send the next batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PreflightError {
    /// The template's remote copy is no longer the reviewed one.
    #[error(
        "the template in Genesys changed during the campaign (response {response_id} is now version {version}): sending stopped; run `herald plan` to review"
    )]
    Changed {
        /// The bound response.
        response_id: String,
        /// Its version now.
        version: u32,
    },
    /// The template's remote copy is gone.
    #[error("the template response {response_id} was deleted in Genesys: sending stopped")]
    Deleted {
        /// The bound response.
        response_id: String,
    },
    /// The check itself failed.
    #[error("pre-flight template check failed: {0}")]
    Failed(String),
}

/// A way of sending claimed messages, one at a time, from tasks on the run's runtime.
///
/// A second way of sending (a contact list of an outbound messaging campaign, say) is a
/// second implementation: it needs no claim, pacing or recording logic of its own.
pub(crate) trait Dispatch {
    /// One message, ready to go and owned, so that it can move into a task.
    type Job: Send + 'static;

    /// The request for one claimed message of `campaign`.
    fn prepare(&self, campaign: &Campaign, recipient: &Recipient) -> Self::Job;

    /// Sends one prepared message; the future runs as its own task, under the executor's
    /// concurrency limit and pacing.
    fn dispatch(&self, job: Self::Job) -> impl Future<Output = Dispatched> + Send + 'static;

    /// Checks, before a batch is claimed, that the template the campaign sends is still the
    /// reviewed one: `expected_hash` is the canonical hash of the response `response_id`.
    fn preflight(
        &self,
        response_id: &str,
        expected_hash: &str,
    ) -> impl Future<Output = Result<(), PreflightError>>;
}
