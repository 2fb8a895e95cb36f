//! Shared behaviour tests for [`Ledger`] backends (feature `testing`).
//!
//! Owns: the backend-independent contract of the trait, written once so that the SQLite
//! backend and the PostgreSQL backend are held to exactly the same behaviour. Each
//! case gets a fresh, empty ledger from the factory. Backend-specific properties (file
//! permissions, tampering with raw rows, crash recovery across processes) are tested by the
//! backend itself.

use jiff::{SignedDuration, Timestamp};

use crate::{
    Channel, Claim, ClaimResult, FrequencyCap, InboundAction, InboundRecord, InboundResult, Ledger,
    LedgerError, LedgerKey, NewRun, Outcome, OutcomeResult, Receipt, RecipientId, Redo, Resolution,
    SendState, Suppression, SuppressionAction, TemplateWrite, mask_email, mask_phone,
};

type Case = fn(&mut dyn Ledger);

/// Every conformance case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("claim_and_outcomes", claim_and_outcomes),
    (
        "outcomes_need_dispatching_and_are_atomic",
        outcomes_need_dispatching_and_are_atomic,
    ),
    ("writes_need_a_known_run", writes_need_a_known_run),
    ("suppression_blocks_claims", suppression_blocks_claims),
    (
        "recover_dispatching_marks_unknown",
        recover_dispatching_marks_unknown,
    ),
    ("resolve_unknown", resolve_unknown),
    ("campaign_counts_and_receipts", campaign_counts_and_receipts),
    (
        "inbound_dedupes_and_changes_suppression",
        inbound_dedupes_and_changes_suppression,
    ),
    (
        "template_bindings_and_history",
        template_bindings_and_history,
    ),
    ("runs_are_recorded", runs_are_recorded),
    (
        "verify_and_export_after_mixed_work",
        verify_and_export_after_mixed_work,
    ),
    ("bulk_suppress_and_receipts", bulk_suppress_and_receipts),
    ("opt_outs_follow_message_time", opt_outs_follow_message_time),
    (
        "start_never_lifts_other_sources",
        start_never_lifts_other_sources,
    ),
    (
        "replayed_id_with_other_text_conflicts",
        replayed_id_with_other_text_conflicts,
    ),
    ("probe_write_keeps_nothing", probe_write_keeps_nothing),
    ("head_checkpoints", head_checkpoints),
    (
        "frequency_caps_hold_claims_across_campaigns",
        frequency_caps_hold_claims_across_campaigns,
    ),
    (
        "dnc_registries_import_lookup_and_audit",
        dnc_registries_import_lookup_and_audit,
    ),
    (
        "waves_hand_off_and_resolve_rows",
        waves_hand_off_and_resolve_rows,
    ),
    ("handed_off_rows_page_by_key", handed_off_rows_page_by_key),
    (
        "keyword_replies_are_claimed_once_and_confirm_only_suppressed_numbers",
        keyword_replies_are_claimed_once_and_confirm_only_suppressed_numbers,
    ),
    (
        "archive_moves_finished_campaigns_and_verifies",
        archive_moves_finished_campaigns_and_verifies,
    ),
    (
        "archive_refuses_tampered_archives",
        archive_refuses_tampered_archives,
    ),
];

/// Generates one `#[test]` per conformance case, each on a fresh ledger, plus a test that
/// the generated tests cover every case in [`CASES`]. `make = …` is called once per test and
/// returns `(guard, Box<dyn Ledger>)`; the guard (a temporary directory, a schema) outlives
/// the ledger. Attributes written before `make` (e.g. `#[ignore = "…"]`) go on every test.
///
/// ```text
/// mod conformance {
///     herald_ledger::conformance_tests!(make = || {
///         let dir = tempfile::tempdir().unwrap();
///         let ledger = SqliteLedger::open(&dir.path().join("l.db"), &key()).unwrap();
///         (dir, Box::new(ledger) as Box<dyn Ledger>)
///     });
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($(#[$attr:meta])* make = $make:expr) => {
        $crate::conformance_tests!(@cases [$(#[$attr])*] $make;
            claim_and_outcomes,
            outcomes_need_dispatching_and_are_atomic,
            writes_need_a_known_run,
            suppression_blocks_claims,
            recover_dispatching_marks_unknown,
            resolve_unknown,
            campaign_counts_and_receipts,
            inbound_dedupes_and_changes_suppression,
            template_bindings_and_history,
            runs_are_recorded,
            verify_and_export_after_mixed_work,
            bulk_suppress_and_receipts,
            opt_outs_follow_message_time,
            start_never_lifts_other_sources,
            replayed_id_with_other_text_conflicts,
            probe_write_keeps_nothing,
            head_checkpoints,
            frequency_caps_hold_claims_across_campaigns,
            dnc_registries_import_lookup_and_audit,
            waves_hand_off_and_resolve_rows,
            handed_off_rows_page_by_key,
            keyword_replies_are_claimed_once_and_confirm_only_suppressed_numbers,
            archive_moves_finished_campaigns_and_verifies,
            archive_refuses_tampered_archives
        );
    };
    (@cases $attrs:tt $make:expr; $($case:ident),* $(,)?) => {
        $( $crate::__conformance_test!($attrs $make, $case); )*

        #[test]
        fn conformance_tests_cover_every_case() {
            let generated: &[&str] = &[$(stringify!($case)),*];
            let cases: ::std::vec::Vec<&str> =
                $crate::testing::CASES.iter().map(|(name, _)| *name).collect();
            assert_eq!(generated, cases.as_slice());
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ([$(#[$attr:meta])*] $make:expr, $case:ident) => {
        $(#[$attr])*
        #[test]
        fn $case() {
            let (_guard, mut ledger) = ($make)();
            let ledger: &mut dyn $crate::Ledger = &mut *ledger;
            $crate::testing::$case(ledger);
        }
    };
}

fn key() -> LedgerKey {
    LedgerKey::from_secret("b3fa433e893fe97f27ae5e0e99bda6c83ba57e4db01c9ee0245f7f512fe3b402")
        .expect("valid test key")
}

fn phone(n: u32) -> String {
    format!("+1555010{n:04}")
}

fn sms_recipient(n: u32) -> RecipientId {
    key().recipient_id(Channel::Sms, &phone(n))
}

fn sms_claim(row: &str, n: u32) -> Claim {
    Claim {
        row_key: row.to_owned(),
        recipient: sms_recipient(n),
        masked: mask_phone(&phone(n)),
        channel: Channel::Sms,
        template_hash: "v1:aaaa".to_owned(),
        category: None,
        caps: Vec::new(),
    }
}

fn run(l: &mut dyn Ledger, id: &str) {
    l.begin_run(&NewRun {
        run_id: id.to_owned(),
        command: "apply".to_owned(),
        user: "ci".to_owned(),
        host: "runner-1".to_owned(),
        git_commit: Some("0123abcd".to_owned()),
        plan_hash: Some("plan-hash".to_owned()),
    })
    .expect("begin_run");
}

fn sent(campaign: &str, row: &str, msg: &str) -> Outcome {
    Outcome {
        campaign: campaign.to_owned(),
        row_key: row.to_owned(),
        result: OutcomeResult::Sent {
            handle: crate::DispatchHandle::message(msg.to_owned(), Some(format!("conv-{msg}"))),
        },
    }
}

fn outcome(campaign: &str, row: &str, result: OutcomeResult) -> Outcome {
    Outcome {
        campaign: campaign.to_owned(),
        row_key: row.to_owned(),
        result,
    }
}

fn state(l: &dyn Ledger, campaign: &str, row: &str) -> Option<SendState> {
    l.send(campaign, row).expect("send").map(|s| s.state)
}

/// Registers the SQL functions a SQLite ledger's connection has (`id_pack`, `id_unpack`:
/// keyed ids stored as bytes, schema 12) on another connection to the same file, so raw SQL
/// written against the ledger's logical values runs there too.
pub fn register_sql_functions(conn: &rusqlite::Connection) {
    crate::packed::register_sqlite(conn).expect("register id_pack / id_unpack");
}

/// Conformance case (see [`CASES`]).
pub fn claim_and_outcomes(l: &mut dyn Ledger) {
    run(l, "r1");
    let claims: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    let res = l.claim_batch("r1", "c", &claims, Redo::NONE).unwrap();
    assert_eq!(res, vec![ClaimResult::Claimed; 4]);
    let rec = l.send("c", "k0").unwrap().unwrap();
    assert_eq!(rec.state, SendState::Dispatching);
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.masked, "+1******0000");
    assert_eq!(rec.run_id.as_deref(), Some("r1"));
    assert!(rec.dispatched_at.is_some());

    let later = Timestamp::now() + SignedDuration::from_hours(3);
    l.record_outcomes(
        "r1",
        &[
            sent("c", "k0", "m0"),
            outcome(
                "c",
                "k1",
                OutcomeResult::Failed {
                    code: "bad.address".into(),
                },
            ),
            outcome(
                "c",
                "k2",
                OutcomeResult::Unknown {
                    reason: "timeout".into(),
                },
            ),
            outcome(
                "c",
                "k3",
                OutcomeResult::Pending {
                    next_attempt_at: Some(later),
                    reason: "quiet hours".into(),
                },
            ),
        ],
    )
    .unwrap();
    let k0 = l.send("c", "k0").unwrap().unwrap();
    assert_eq!(k0.state, SendState::Sent);
    assert_eq!(k0.message_id.as_deref(), Some("m0"));
    assert_eq!(k0.conversation_id.as_deref(), Some("conv-m0"));
    assert_eq!(
        l.conversation_for(&sms_recipient(0)).unwrap().as_deref(),
        Some("conv-m0")
    );
    let k1 = l.send("c", "k1").unwrap().unwrap();
    assert_eq!(
        (k1.state, k1.error_code.as_deref()),
        (SendState::Failed, Some("bad.address"))
    );
    assert_eq!(state(l, "c", "k2"), Some(SendState::Unknown));
    let k3 = l.send("c", "k3").unwrap().unwrap();
    assert_eq!(k3.state, SendState::Pending);
    assert_eq!(
        k3.next_attempt_at.map(Timestamp::as_millisecond),
        Some(later.as_millisecond())
    );

    let mut again: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    again.push(sms_claim("k4", 4));
    let res = l.claim_batch("r1", "c", &again, Redo::NONE).unwrap();
    assert_eq!(
        res,
        vec![
            ClaimResult::Skipped(SendState::Sent),
            ClaimResult::Skipped(SendState::Failed),
            ClaimResult::Skipped(SendState::Unknown),
            ClaimResult::Claimed,
            ClaimResult::Claimed,
        ]
    );
    let k3 = l.send("c", "k3").unwrap().unwrap();
    assert_eq!(
        (k3.state, k3.attempts, k3.next_attempt_at),
        (SendState::Dispatching, 2, None)
    );
    // A second claim of a row already dispatching in this run is skipped, never doubled.
    let res = l
        .claim_batch("r1", "c", &[sms_claim("k4", 4)], Redo::NONE)
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Skipped(SendState::Dispatching)]);
    // The explicit at-least-once override re-dispatches unknown rows.
    let res = l
        .claim_batch("r1", "c", &[sms_claim("k2", 2)], Redo::UNKNOWN)
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Claimed]);
    assert_eq!(l.send("c", "k2").unwrap().unwrap().attempts, 2);

    let keys = l.campaign_keys("c").unwrap();
    assert_eq!(keys.len(), 5);
    assert_eq!(keys.get("k0"), Some(SendState::Sent));
    assert_eq!(keys.get("k2"), Some(SendState::Dispatching));
    assert_eq!(keys.get("nope"), None);
    assert!(l.campaign_keys("other").unwrap().is_empty());
    let recipients = l.campaign_recipients("c").unwrap();
    assert_eq!(recipients.len(), 5);
    assert!(recipients.contains(&sms_recipient(3)));
}

/// Conformance case (see [`CASES`]).
pub fn outcomes_need_dispatching_and_are_atomic(l: &mut dyn Ledger) {
    run(l, "r1");
    l.claim_batch(
        "r1",
        "c",
        &[sms_claim("a", 1), sms_claim("b", 2)],
        Redo::NONE,
    )
    .unwrap();
    l.record_outcomes("r1", &[sent("c", "a", "m1")]).unwrap();
    let err = l
        .record_outcomes("r1", &[sent("c", "b", "m2"), sent("c", "a", "m3")])
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::InvalidTransition { row_key, from, .. } if row_key == "a" && from == "sent"),
        "{err}"
    );
    // The whole batch rolled back: b is still dispatching, a keeps its first message id.
    assert_eq!(state(l, "c", "b"), Some(SendState::Dispatching));
    assert_eq!(
        l.send("c", "a").unwrap().unwrap().message_id.as_deref(),
        Some("m1")
    );
    let err = l
        .record_outcomes("r1", &[sent("c", "missing", "m4")])
        .unwrap_err();
    assert!(matches!(err, LedgerError::InvalidTransition { .. }));
}

/// Conformance case (see [`CASES`]).
pub fn writes_need_a_known_run(l: &mut dyn Ledger) {
    let err = l
        .claim_batch("ghost", "c", &[sms_claim("a", 1)], Redo::NONE)
        .unwrap_err();
    assert!(matches!(err, LedgerError::NotFound { what: "run", .. }));
    assert_eq!(state(l, "c", "a"), None);
    assert!(matches!(
        l.finish_run("ghost", "ok"),
        Err(LedgerError::NotFound { .. })
    ));
}

/// Conformance case (see [`CASES`]).
pub fn suppression_blocks_claims(l: &mut dyn Ledger) {
    run(l, "r1");
    let r = sms_recipient(7);
    let sup = Suppression {
        recipient: r.clone(),
        masked: mask_phone(&phone(7)),
        channel: Some(Channel::Sms),
        reason: "STOP reply".into(),
        source: "serve".into(),
    };
    assert!(l.suppress(&sup).unwrap());
    assert!(
        !l.suppress(&sup).unwrap(),
        "same scope twice is not a change"
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    assert!(!l.is_suppressed(&r, Channel::Email).unwrap());
    assert!(l.suppression_set().unwrap().contains(&r, Channel::Sms));
    assert!(!l.suppression_set().unwrap().contains(&r, Channel::Email));

    let res = l
        .claim_batch(
            "r1",
            "c",
            &[sms_claim("a", 7), sms_claim("b", 8)],
            Redo::NONE,
        )
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Suppressed, ClaimResult::Claimed]);
    let a = l.send("c", "a").unwrap().unwrap();
    assert_eq!((a.state, a.attempts), (SendState::Suppressed, 0));
    assert!(!l.campaign_recipients("c").unwrap().contains(&r));
    let res = l
        .claim_batch("r1", "c", &[sms_claim("a", 7)], Redo::NONE)
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Suppressed]);

    assert_eq!(
        l.unsuppress(&r, Some(Channel::Sms), "re-consented", "cli:alice")
            .unwrap(),
        1
    );
    assert!(!l.is_suppressed(&r, Channel::Sms).unwrap());
    let res = l
        .claim_batch("r1", "c", &[sms_claim("a", 7)], Redo::NONE)
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Claimed]);
    assert_eq!(l.send("c", "a").unwrap().unwrap().attempts, 1);

    // An all-channel entry covers every channel and is not lifted by a channel removal.
    let email = key().recipient_id(Channel::Email, "jane@example.com");
    l.suppress(&Suppression {
        recipient: email.clone(),
        masked: mask_email("jane@example.com"),
        channel: None,
        reason: "GDPR objection".into(),
        source: "cli:alice".into(),
    })
    .unwrap();
    assert!(l.is_suppressed(&email, Channel::Email).unwrap());
    assert_eq!(
        l.unsuppress(&email, Some(Channel::Email), "x", "y")
            .unwrap(),
        0
    );
    assert!(l.is_suppressed(&email, Channel::Email).unwrap());
    assert!(l.suppression_set().unwrap().all_channels.contains(&email));
    let rows = l.suppressions().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].suppression.masked, "j***@example.com");
    assert_eq!(
        l.unsuppress(&email, None, "erasure review", "cli:bob")
            .unwrap(),
        1
    );
    assert!(l.suppressions().unwrap().is_empty());

    let hist = l.suppression_history(None).unwrap();
    let actions: Vec<_> = hist.iter().map(|h| h.action).collect();
    assert_eq!(
        actions,
        vec![
            SuppressionAction::Add,
            SuppressionAction::Remove,
            SuppressionAction::Add,
            SuppressionAction::Remove
        ]
    );
    assert_eq!(hist[1].suppression.reason, "re-consented");
    assert_eq!(hist[1].suppression.source, "cli:alice");
    assert_eq!(l.suppression_history(Some(&r)).unwrap().len(), 2);
}

/// Conformance case (see [`CASES`]).
pub fn recover_dispatching_marks_unknown(l: &mut dyn Ledger) {
    run(l, "r1");
    let claims: Vec<Claim> = (0..3).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    l.claim_batch("r1", "c", &claims, Redo::NONE).unwrap();
    l.record_outcomes("r1", &[sent("c", "k0", "m0")]).unwrap();
    assert_eq!(l.recover_dispatching().unwrap(), 2);
    assert_eq!(state(l, "c", "k0"), Some(SendState::Sent));
    let unknown = l.sends_in_state(Some("c"), SendState::Unknown).unwrap();
    let keys: Vec<_> = unknown.iter().map(|s| s.row_key.as_str()).collect();
    assert_eq!(keys, vec!["k1", "k2"]);
    assert!(
        unknown
            .iter()
            .all(|s| s.attempts == 1 && s.dispatched_at.is_some())
    );
    assert_eq!(l.recover_dispatching().unwrap(), 0);
    assert!(
        l.sends_in_state(None, SendState::Dispatching)
            .unwrap()
            .is_empty()
    );
}

/// Conformance case (see [`CASES`]).
pub fn resolve_unknown(l: &mut dyn Ledger) {
    run(l, "r1");
    l.claim_batch(
        "r1",
        "c",
        &[sms_claim("a", 1), sms_claim("b", 2)],
        Redo::NONE,
    )
    .unwrap();
    l.record_outcomes(
        "r1",
        &[
            outcome(
                "c",
                "a",
                OutcomeResult::Unknown {
                    reason: "reset".into(),
                },
            ),
            outcome(
                "c",
                "b",
                OutcomeResult::Unknown {
                    reason: "503".into(),
                },
            ),
        ],
    )
    .unwrap();
    run(l, "r2");
    l.resolve_unknown(
        "r2",
        "c",
        "a",
        &Resolution::Found {
            message_id: "m-a".into(),
            conversation_id: Some("conv-a".into()),
        },
    )
    .unwrap();
    l.resolve_unknown("r2", "c", "b", &Resolution::NotFound)
        .unwrap();
    let a = l.send("c", "a").unwrap().unwrap();
    assert_eq!(
        (a.state, a.message_id.as_deref()),
        (SendState::Sent, Some("m-a"))
    );
    assert_eq!(
        l.conversation_for(&sms_recipient(1)).unwrap().as_deref(),
        Some("conv-a")
    );
    assert_eq!(state(l, "c", "b"), Some(SendState::Pending));
    let err = l
        .resolve_unknown("r2", "c", "a", &Resolution::NotFound)
        .unwrap_err();
    assert!(matches!(err, LedgerError::InvalidTransition { .. }));
    assert_eq!(state(l, "c", "a"), Some(SendState::Sent));
    // A row resolved as not found may be claimed again.
    let res = l
        .claim_batch("r2", "c", &[sms_claim("b", 2)], Redo::NONE)
        .unwrap();
    assert_eq!(res, vec![ClaimResult::Claimed]);
}

/// Conformance case (see [`CASES`]).
pub fn campaign_counts_and_receipts(l: &mut dyn Ledger) {
    run(l, "r1");
    let claims: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    l.claim_batch("r1", "a", &claims, Redo::NONE).unwrap();
    l.claim_batch("r1", "b", &[sms_claim("x", 9)], Redo::NONE)
        .unwrap();
    let now = Timestamp::now();
    l.record_outcomes(
        "r1",
        &[
            sent("a", "k0", "m0"),
            sent("a", "k1", "m1"),
            outcome(
                "a",
                "k2",
                OutcomeResult::Pending {
                    next_attempt_at: Some(now + SignedDuration::from_hours(8)),
                    reason: "quiet hours".into(),
                },
            ),
            outcome(
                "a",
                "k3",
                OutcomeResult::Pending {
                    next_attempt_at: None,
                    reason: "429".into(),
                },
            ),
        ],
    )
    .unwrap();
    let t = now;
    let m = l
        .record_receipt("m0", "Delivered", None, t)
        .unwrap()
        .unwrap();
    assert_eq!((m.campaign.as_str(), m.row_key.as_str()), ("a", "k0"));
    assert_eq!(m.recipient, sms_recipient(0));
    l.record_receipt("m1", "Queued", None, t).unwrap();
    l.record_receipt(
        "m1",
        "Failed",
        Some("RecipientOptedOut"),
        t + SignedDuration::from_secs(5),
    )
    .unwrap();
    // An older receipt arriving late does not overwrite the newer status.
    l.record_receipt("m1", "Sent", None, t + SignedDuration::from_secs(1))
        .unwrap();
    assert!(
        l.record_receipt("nope", "Delivered", None, t)
            .unwrap()
            .is_none()
    );

    let counts = l.campaign_counts(None, now).unwrap();
    assert_eq!(counts.len(), 2);
    let a = &counts[0];
    assert_eq!(a.campaign, "a");
    assert_eq!(a.by_state[&SendState::Sent], 2);
    assert_eq!(a.by_state[&SendState::Pending], 2);
    assert_eq!(a.by_state[&SendState::Failed], 0);
    assert_eq!(a.held, 1);
    assert_eq!(a.receipts.get("Delivered"), Some(&1));
    assert_eq!(a.receipts.get("Failed"), Some(&1));
    assert_eq!(a.receipts.len(), 2);
    assert_eq!(counts[1].by_state[&SendState::Dispatching], 1);
    let only_b = l.campaign_counts(Some("b"), now).unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].campaign, "b");

    let recent = l
        .recent_sent(now - SignedDuration::from_mins(5), 100)
        .unwrap();
    let ids: Vec<_> = recent.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"m0") && ids.contains(&"m1"));
    assert!(
        l.recent_sent(now + SignedDuration::from_hours(1), 100)
            .unwrap()
            .is_empty()
    );
}

/// Conformance case (see [`CASES`]).
pub fn inbound_dedupes_and_changes_suppression(l: &mut dyn Ledger) {
    let r = sms_recipient(3);
    let mut msg = InboundRecord {
        message_id: "in-1".into(),
        recipient: r.clone(),
        masked: mask_phone(&phone(3)),
        channel: Channel::Sms,
        action: InboundAction::Suppress,
        flagged: true,
        received_at: Timestamp::now(),
        text_mac: None,
    };
    assert_eq!(
        l.record_inbound(&msg).unwrap(),
        InboundResult::Recorded {
            suppression_changed: true
        }
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    assert_eq!(l.record_inbound(&msg).unwrap(), InboundResult::Duplicate);
    assert_eq!(l.suppression_history(Some(&r)).unwrap().len(), 1);
    let hist = l.suppression_history(Some(&r)).unwrap();
    assert!(hist[0].suppression.reason.contains("flagged"));
    assert_eq!(hist[0].suppression.source, "inbound:in-1");

    msg.message_id = "in-2".into();
    msg.action = InboundAction::Help;
    msg.flagged = false;
    assert_eq!(
        l.record_inbound(&msg).unwrap(),
        InboundResult::Recorded {
            suppression_changed: false
        }
    );
    msg.message_id = "in-3".into();
    msg.action = InboundAction::Resubscribe;
    msg.received_at += SignedDuration::from_secs(1);
    assert_eq!(
        l.record_inbound(&msg).unwrap(),
        InboundResult::Recorded {
            suppression_changed: true
        }
    );
    assert!(!l.is_suppressed(&r, Channel::Sms).unwrap());
}

/// Conformance case (see [`CASES`]).
pub fn template_bindings_and_history(l: &mut dyn Ledger) {
    run(l, "r1");
    assert_eq!(l.template_binding("order-shipped").unwrap(), None);
    let mut w = TemplateWrite {
        run_id: "r1".into(),
        name: "order-shipped".into(),
        response_id: "resp-1".into(),
        version: 1,
        content_hash: "v1:h1".into(),
        remote_hash: "v1:h1".into(),
        git_commit: Some("c1".into()),
        overwrote_hash: None,
    };
    l.record_template_write(&w).unwrap();
    w.version = 2;
    w.content_hash = "v1:h2".into();
    w.remote_hash = "v1:h2".into();
    w.overwrote_hash = Some("v1:drift".into());
    l.record_template_write(&w).unwrap();
    let b = l.template_binding("order-shipped").unwrap().unwrap();
    assert_eq!(
        (b.response_id.as_str(), b.version, b.content_hash.as_str()),
        ("resp-1", 2, "v1:h2")
    );

    l.rename_template_binding("r1", "order-shipped", "order-dispatched")
        .unwrap();
    assert_eq!(l.template_binding("order-shipped").unwrap(), None);
    assert_eq!(
        l.template_binding("order-dispatched")
            .unwrap()
            .unwrap()
            .response_id,
        "resp-1"
    );
    assert!(matches!(
        l.rename_template_binding("r1", "missing", "x"),
        Err(LedgerError::NotFound { .. })
    ));
    w.name = "other".into();
    l.record_template_write(&w).unwrap();
    assert!(matches!(
        l.rename_template_binding("r1", "other", "order-dispatched"),
        Err(LedgerError::AlreadyExists { .. })
    ));
    assert_eq!(l.template_bindings().unwrap().len(), 2);

    let hist = l.template_history(Some("order-shipped")).unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[1].write.overwrote_hash.as_deref(), Some("v1:drift"));
    assert_eq!(hist[0].write.git_commit.as_deref(), Some("c1"));
    assert_eq!(l.template_history(None).unwrap().len(), 3);
    w.run_id = "ghost".into();
    assert!(matches!(
        l.record_template_write(&w),
        Err(LedgerError::NotFound { .. })
    ));
}

/// Conformance case (see [`CASES`]).
pub fn runs_are_recorded(l: &mut dyn Ledger) {
    run(l, "r1");
    let dup = l.begin_run(&NewRun {
        run_id: "r1".into(),
        command: "apply".into(),
        user: "u".into(),
        host: "h".into(),
        git_commit: None,
        plan_hash: None,
    });
    assert!(matches!(dup, Err(LedgerError::AlreadyExists { .. })));
    l.finish_run("r1", "ok").unwrap();
    let runs = l.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run.git_commit.as_deref(), Some("0123abcd"));
    assert_eq!(runs[0].outcome.as_deref(), Some("ok"));
    assert!(runs[0].finished_at.is_some());
}

/// Conformance case (see [`CASES`]).
pub fn verify_and_export_after_mixed_work(l: &mut dyn Ledger) {
    run(l, "r1");
    let claims: Vec<Claim> = (0..50).map(|i| sms_claim(&format!("k{i:02}"), i)).collect();
    for chunk in claims.chunks(20) {
        l.claim_batch("r1", "c", chunk, Redo::NONE).unwrap();
    }
    let outcomes: Vec<Outcome> = (0..40)
        .map(|i| sent("c", &format!("k{i:02}"), &format!("m{i}")))
        .collect();
    l.record_outcomes("r1", &outcomes).unwrap();
    l.suppress(&Suppression {
        recipient: sms_recipient(99),
        masked: mask_phone(&phone(99)),
        channel: None,
        reason: "manual".into(),
        source: "cli".into(),
    })
    .unwrap();
    l.recover_dispatching().unwrap();
    l.finish_run("r1", "ok").unwrap();

    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.first_broken, None);
    assert_eq!(report.sends_checked, 50);
    assert_eq!(report.suppressions_checked, 1);
    let events = l.events(0, 1000).unwrap();
    assert_eq!(report.events_checked, events.len() as u64);
    assert!(events.len() >= 7);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        if i > 0 {
            assert_eq!(e.prev_hash, events[i - 1].hash);
        }
    }
    assert_eq!(l.events(events.len() as u64 - 2, 10).unwrap().len(), 2);

    let mut rows = Vec::new();
    let n = l
        .export(Some("c"), &mut |r| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 50);
    assert_eq!(rows[0].row_key, "k00");
    assert_eq!(rows[0].masked, "+1******0000");
    assert_eq!(rows[0].git_commit.as_deref(), Some("0123abcd"));
    assert_eq!(
        rows.iter()
            .filter(|r| r.state == SendState::Unknown)
            .count(),
        10
    );
    assert_eq!(l.integrity_check().unwrap(), vec!["ok".to_owned()]);
}

/// Conformance case (see [`CASES`]).
pub fn bulk_suppress_and_receipts(l: &mut dyn Ledger) {
    let batch: Vec<Suppression> = (0..30)
        .map(|i| Suppression {
            recipient: sms_recipient(i),
            masked: mask_phone(&phone(i)),
            channel: Some(Channel::Sms),
            reason: "imported DNC".into(),
            source: "import:dnc.csv".into(),
        })
        .collect();
    assert_eq!(l.suppress_many(&batch[..20]).unwrap(), 20);
    // Re-importing an overlapping file only adds the new entries.
    assert_eq!(l.suppress_many(&batch).unwrap(), 10);
    assert_eq!(l.suppressions().unwrap().len(), 30);
    assert_eq!(l.suppression_history(None).unwrap().len(), 30);
    let set = l.suppression_set().unwrap();
    assert!((0..30).all(|i| set.contains(&sms_recipient(i), Channel::Sms)));
    assert!(!set.contains(&sms_recipient(30), Channel::Sms));

    run(l, "r1");
    l.claim_batch(
        "r1",
        "c",
        &[sms_claim("a", 40), sms_claim("b", 41)],
        Redo::NONE,
    )
    .unwrap();
    l.record_outcomes("r1", &[sent("c", "a", "ma"), sent("c", "b", "mb")])
        .unwrap();
    let t = Timestamp::now();
    let receipt = |id: &str, status: &str, secs: i64| Receipt {
        message_id: id.into(),
        status: status.into(),
        reason: None,
        at: t + SignedDuration::from_secs(secs),
    };
    let found = l
        .record_receipts(&[
            receipt("mb", "Delivered", 2),
            receipt("zz", "Delivered", 0),
            receipt("ma", "Failed", 3),
            receipt("mb", "Sent", 1),
        ])
        .unwrap();
    let rows: Vec<Option<&str>> = found
        .iter()
        .map(|m| m.as_ref().map(|m| m.row_key.as_str()))
        .collect();
    assert_eq!(rows, vec![Some("b"), None, Some("a"), Some("b")]);
    let counts = l.campaign_counts(Some("c"), t).unwrap();
    assert_eq!(counts[0].receipts.get("Delivered"), Some(&1));
    assert_eq!(counts[0].receipts.get("Failed"), Some(&1));
    assert_eq!(counts[0].receipts.get("Sent"), None);
    assert!(l.verify().unwrap().ok);
}

/// An inbound reply from recipient `n` at `secs` seconds after a fixed instant.
fn reply(id: &str, n: u32, action: InboundAction, secs: i64) -> InboundRecord {
    InboundRecord {
        message_id: id.into(),
        recipient: sms_recipient(n),
        masked: mask_phone(&phone(n)),
        channel: Channel::Sms,
        action,
        flagged: false,
        received_at: Timestamp::from_second(1_790_000_000 + secs).unwrap(),
        text_mac: Some(key().text_mac(id)),
    }
}

fn recorded(changed: bool) -> InboundResult {
    InboundResult::Recorded {
        suppression_changed: changed,
    }
}

/// The notes of the `inbound_recorded` events, in order.
fn inbound_notes(l: &dyn Ledger) -> Vec<Option<String>> {
    l.events(0, 1_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "inbound_recorded")
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.payload_json).unwrap();
            v.get("note").and_then(|n| n.as_str()).map(str::to_owned)
        })
        .collect()
}

/// Conformance case (see [`CASES`]): STOP and START are ordered by the messages' own
/// timestamps, whatever order they arrive in; a tie goes to the STOP.
pub fn opt_outs_follow_message_time(l: &mut dyn Ledger) {
    use InboundAction::{Resubscribe, Suppress};
    let r = sms_recipient(7);
    // STOP at 20 s, then a START written at 10 s arrives late (a retried Data Action).
    assert_eq!(
        l.record_inbound(&reply("m-stop-20", 7, Suppress, 20))
            .unwrap(),
        recorded(true)
    );
    assert_eq!(
        l.record_inbound(&reply("m-start-10", 7, Resubscribe, 10))
            .unwrap(),
        recorded(false)
    );
    assert!(
        l.is_suppressed(&r, Channel::Sms).unwrap(),
        "an older START lifted a newer STOP"
    );
    // A START at the same second as the STOP does not lift it either.
    assert_eq!(
        l.record_inbound(&reply("m-start-20", 7, Resubscribe, 20))
            .unwrap(),
        recorded(false)
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    // A later START lifts it.
    assert_eq!(
        l.record_inbound(&reply("m-start-30", 7, Resubscribe, 30))
            .unwrap(),
        recorded(true)
    );
    assert!(!l.is_suppressed(&r, Channel::Sms).unwrap());
    // A STOP older than that START, arriving now, does not re-suppress …
    assert_eq!(
        l.record_inbound(&reply("m-stop-25", 7, Suppress, 25))
            .unwrap(),
        recorded(false)
    );
    assert!(!l.is_suppressed(&r, Channel::Sms).unwrap());
    // … a newer one does.
    assert_eq!(
        l.record_inbound(&reply("m-stop-40", 7, Suppress, 40))
            .unwrap(),
        recorded(true)
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    // After a person removes it, a late STOP older than every START but newer than none
    // (the newest message is still a STOP) suppresses again: the STOP governs.
    l.unsuppress(&r, None, "checked by hand", "manual").unwrap();
    assert_eq!(
        l.record_inbound(&reply("m-stop-35", 7, Suppress, 35))
            .unwrap(),
        recorded(true)
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    assert_eq!(
        inbound_notes(l),
        [
            None,
            Some("START ignored: older than the latest STOP".to_owned()),
            Some("START ignored: older than the latest STOP".to_owned()),
            None,
            Some("STOP not applied: a START with a later timestamp is recorded".to_owned()),
            None,
            None,
        ]
    );
    // A START dated far in the future counts as written now: the next real STOP wins.
    let now = Timestamp::now();
    let r8 = sms_recipient(8);
    let future_start = InboundRecord {
        received_at: now + SignedDuration::from_hours(24 * 365),
        ..reply("m8-start", 8, Resubscribe, 0)
    };
    assert_eq!(l.record_inbound(&future_start).unwrap(), recorded(false));
    let stop = InboundRecord {
        received_at: now + SignedDuration::from_mins(10),
        ..reply("m8-stop", 8, Suppress, 0)
    };
    assert_eq!(l.record_inbound(&stop).unwrap(), recorded(true));
    assert!(l.is_suppressed(&r8, Channel::Sms).unwrap());
    // A START dated a few minutes ahead (inside any clock-skew allowance) counts from when it
    // arrived too: a STOP sent after it arrived, stamped with the true time, still wins.
    let r9 = sms_recipient(9);
    l.record_inbound(&reply("m9-stop-0", 9, Suppress, 0))
        .unwrap();
    let early_start = InboundRecord {
        received_at: Timestamp::now() + SignedDuration::from_mins(4),
        ..reply("m9-start", 9, Resubscribe, 0)
    };
    assert_eq!(l.record_inbound(&early_start).unwrap(), recorded(true));
    assert!(!l.is_suppressed(&r9, Channel::Sms).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(5));
    let stop = InboundRecord {
        received_at: Timestamp::now(),
        ..reply("m9-stop", 9, Suppress, 0)
    };
    assert_eq!(
        l.record_inbound(&stop).unwrap(),
        recorded(true),
        "a START dated in the future masked the STOP sent after it"
    );
    assert!(l.is_suppressed(&r9, Channel::Sms).unwrap());
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Conformance case (see [`CASES`]): a START lifts only a suppression that an inbound STOP
/// made; the ignored START is recorded with the source that kept the suppression.
pub fn start_never_lifts_other_sources(l: &mut dyn Ledger) {
    use InboundAction::{Resubscribe, Suppress};
    for (n, channel, source) in [
        (11, Some(Channel::Sms), "manual"),
        (12, Some(Channel::Sms), "import"),
        (13, None, "legal"),
        (14, Some(Channel::Sms), "receipts"),
    ] {
        l.suppress(&Suppression {
            recipient: sms_recipient(n),
            masked: mask_phone(&phone(n)),
            channel,
            reason: "kept elsewhere".into(),
            source: source.into(),
        })
        .unwrap();
        let id = format!("m-start-{n}");
        assert_eq!(
            l.record_inbound(&reply(&id, n, Resubscribe, 50)).unwrap(),
            recorded(false)
        );
        assert!(
            l.is_suppressed(&sms_recipient(n), Channel::Sms).unwrap(),
            "{source}"
        );
        assert_eq!(
            inbound_notes(l).last().unwrap().as_deref(),
            Some(format!("START ignored: suppressed by {source}").as_str())
        );
    }
    // An inbound STOP under an all-channel legal hold: the START lifts neither.
    assert_eq!(
        l.record_inbound(&reply("m-stop-13", 13, Suppress, 60))
            .unwrap(),
        recorded(true)
    );
    assert_eq!(
        l.record_inbound(&reply("m-start-13b", 13, Resubscribe, 70))
            .unwrap(),
        recorded(false)
    );
    assert!(l.is_suppressed(&sms_recipient(13), Channel::Sms).unwrap());
    assert_eq!(
        l.suppressions()
            .unwrap()
            .iter()
            .filter(|s| s.suppression.recipient == sms_recipient(13))
            .count(),
        2
    );
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Conformance case (see [`CASES`]): a replayed message id with the same text is a
/// duplicate; with another text it is a conflict, recorded as its own event, and an
/// opt-out keyword in it still suppresses (source `inbound-replay:<id>`) — which a later
/// START does not lift.
pub fn replayed_id_with_other_text_conflicts(l: &mut dyn Ledger) {
    use InboundAction::{Help, Resubscribe, Suppress};
    let r = sms_recipient(21);
    let first = reply("m-1", 21, Help, 10);
    assert_eq!(l.record_inbound(&first).unwrap(), recorded(false));
    assert_eq!(l.record_inbound(&first).unwrap(), InboundResult::Duplicate);
    // An unknown text (older callers) is a plain duplicate.
    let unknown = InboundRecord {
        text_mac: None,
        ..first.clone()
    };
    assert_eq!(
        l.record_inbound(&unknown).unwrap(),
        InboundResult::Duplicate
    );
    let events_before = l.events(0, 1_000).unwrap().len();
    let stop = InboundRecord {
        action: Suppress,
        text_mac: Some(key().text_mac("STOP")),
        ..first.clone()
    };
    assert_eq!(
        l.record_inbound(&stop).unwrap(),
        InboundResult::Conflict {
            suppression_changed: true
        }
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    let events = l.events(0, 1_000).unwrap();
    assert_eq!(events.len(), events_before + 2);
    assert_eq!(events[events_before].kind, "inbound_conflict");
    let sup = l.suppressions().unwrap();
    assert_eq!(sup[0].suppression.source, "inbound-replay:m-1");
    assert!(sup[0].suppression.reason.contains("flagged"));
    // A START under the same reused id lifts nothing, nor does a later, real START.
    let start = InboundRecord {
        action: Resubscribe,
        text_mac: Some(key().text_mac("START")),
        ..first
    };
    assert_eq!(
        l.record_inbound(&start).unwrap(),
        InboundResult::Conflict {
            suppression_changed: false
        }
    );
    assert_eq!(
        l.record_inbound(&reply("m-2", 21, Resubscribe, 90))
            .unwrap(),
        recorded(false)
    );
    assert!(l.is_suppressed(&r, Channel::Sms).unwrap());
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Conformance case (see [`CASES`]): the readiness probe writes and rolls back.
pub fn probe_write_keeps_nothing(l: &mut dyn Ledger) {
    run(l, "r1");
    let counts = l.table_counts().unwrap();
    let events = l.events(0, 1_000).unwrap();
    l.probe_write().unwrap();
    l.probe_write().unwrap();
    assert_eq!(l.table_counts().unwrap(), counts);
    assert_eq!(l.events(0, 1_000).unwrap(), events);
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Conformance case (see [`CASES`]): the head is the last event; a kept head stays
/// contained as the chain grows; another hash or a later sequence number is not contained.
pub fn head_checkpoints(l: &mut dyn Ledger) {
    let first = l
        .head()
        .unwrap()
        .expect("a new ledger records its creation");
    assert_eq!(first.seq, 1);
    assert_eq!(first.hash.len(), 64);
    run(l, "r1");
    let second = l.head().unwrap().unwrap();
    assert_eq!(second.seq, 2);
    let events = l.events(0, 10).unwrap();
    assert_eq!(events.last().unwrap().hash, second.hash);
    assert!(l.contains_head(&first).unwrap());
    let chain = l.verify_chain().unwrap();
    assert!(chain.ok, "{chain:?}");
    assert_eq!(chain.events_checked, 2);
    assert!(l.contains_head(&second).unwrap());
    let shown = crate::ChainHead::parse(&second.to_string()).unwrap();
    assert_eq!(shown.hash.len(), crate::ChainHead::SHOWN_HEX);
    assert!(l.contains_head(&shown).unwrap());
    let mut other = shown.clone();
    other.hash = other.hash.chars().rev().collect();
    assert!(!l.contains_head(&other).unwrap());
    let later = crate::ChainHead {
        seq: 3,
        hash: shown.hash.clone(),
    };
    assert!(!l.contains_head(&later).unwrap());
    assert!(crate::ChainHead::parse("2:abc").is_err());
    assert!(crate::ChainHead::parse("x:0123456789ab").is_err());
}

/// The rows a cut of the chain's tail removes together with the events: the last event is
/// the suppression of recipient 13 in [`populate_every_table`] (its row and audit entry).
pub const CUT_TAIL: &[&str] = &[
    "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)",
    "DELETE FROM suppression_audit WHERE id = (SELECT MAX(id) FROM suppression_audit)",
    "DELETE FROM suppressions WHERE reason = 'legal'",
];

// ---------------------------------------------------------------------------------------
// Tampering (used by each backend's own tests, which run the SQL on their connection).
// ---------------------------------------------------------------------------------------

/// What [`populate_every_table`] writes into the tables of schema 8 and before (every table
/// but `waves`, no `handed_off` row): a ledger to roll back to schema 8.
pub fn populate_schema_8_tables(l: &mut dyn Ledger) {
    populate_before_last(l);
    suppress_legal(l);
}

fn populate_before_last(l: &mut dyn Ledger) {
    run(l, "r1");
    run(l, "r2");
    l.finish_run("r2", "ok").unwrap();
    let mut w = TemplateWrite {
        run_id: "r1".into(),
        name: "t-one".into(),
        response_id: "resp-1".into(),
        version: 1,
        content_hash: "v1:h1".into(),
        remote_hash: "v1:h1".into(),
        git_commit: Some("c1".into()),
        overwrote_hash: None,
    };
    l.record_template_write(&w).unwrap();
    w.name = "t-two".into();
    w.response_id = "resp-2".into();
    l.record_template_write(&w).unwrap();
    l.rename_template_binding("r1", "t-two", "t-three").unwrap();
    let claims: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    l.claim_batch("r1", "c", &claims, Redo::NONE).unwrap();
    l.record_outcomes(
        "r1",
        &(0..4)
            .map(|i| sent("c", &format!("k{i}"), &format!("m{i}")))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let t0 = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
    for (i, status) in ["delivered", "failed"].iter().enumerate() {
        l.record_receipt(
            &format!("m{i}"),
            status,
            None,
            t0 + SignedDuration::from_secs(60),
        )
        .unwrap();
    }
    for (i, action) in [(10, InboundAction::Suppress), (11, InboundAction::Suppress)] {
        l.record_inbound(&InboundRecord {
            message_id: format!("in-{i}"),
            recipient: sms_recipient(i),
            masked: mask_phone(&phone(i)),
            channel: Channel::Sms,
            action,
            flagged: false,
            received_at: t0,
            text_mac: Some(key().text_mac(&format!("STOP {i}"))),
        })
        .unwrap();
    }
    l.suppress(&Suppression {
        recipient: sms_recipient(12),
        masked: mask_phone(&phone(12)),
        channel: None,
        reason: "manual".into(),
        source: "cli".into(),
    })
    .unwrap();
    l.unsuppress(&sms_recipient(12), None, "re-consented", "cli")
        .unwrap();
}

/// The last write of [`populate_every_table`] (what [`CUT_TAIL`] removes).
fn suppress_legal(l: &mut dyn Ledger) {
    l.suppress(&Suppression {
        recipient: sms_recipient(13),
        masked: mask_phone(&phone(13)),
        channel: None,
        reason: "legal".into(),
        source: "import".into(),
    })
    .unwrap();
}

/// A [`populate_every_table`] ledger plus sends whose ids take every form schema 12 stores
/// (a canonical UUID, an uppercase one kept verbatim, a plain string, non-ASCII text, a
/// `sha256:` template hash in lowercase and in uppercase hex); it verifies.
pub fn populate_packed_ids(l: &mut dyn Ledger) {
    populate_every_table(l);
    run(l, "r-packed");
    let mut claims: Vec<Claim> = (40..43).map(|i| sms_claim(&format!("u{i}"), i)).collect();
    claims[0].template_hash = format!("sha256:{}", "9f".repeat(32));
    claims[1].template_hash = format!("sha256:{}", "9F".repeat(32));
    l.claim_batch("r-packed", "u", &claims, Redo::NONE).unwrap();
    let sent_as = |row: &str, msg: &str, conv: &str| {
        outcome(
            "u",
            row,
            OutcomeResult::Sent {
                handle: crate::DispatchHandle::message(msg.to_owned(), Some(conv.to_owned())),
            },
        )
    };
    l.record_outcomes(
        "r-packed",
        &[
            sent_as(
                "u40",
                "4e7a11ce-0000-4000-8000-00000000002a",
                "c04e5500-0000-4000-8000-00000000002a",
            ),
            sent_as(
                "u41",
                "4E7A11CE-0000-4000-8000-00000000002B",
                "conv ünïcødé",
            ),
            sent_as("u42", "m-plain", "c04e5500-0000-4000-8000-00000000002c"),
        ],
    )
    .unwrap();
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Every row of every table as [`Ledger::export_raw`] gives it (the logical values).
pub fn logical_rows(l: &dyn Ledger) -> Vec<crate::RawRow> {
    let mut rows = Vec::new();
    l.export_raw(&mut |row| {
        rows.push(row);
        Ok(())
    })
    .unwrap();
    rows
}

/// Writes at least two rows into every table `verify` replays (runs, template bindings and
/// versions, sends with receipts, the conversation map, suppressions and their audit,
/// inbound, receipts, a messaging-campaign wave with handed-off rows), leaving a ledger that
/// verifies.
pub fn populate_every_table(l: &mut dyn Ledger) {
    populate_before_last(l);
    // A messaging-campaign wave: two rows handed off, one resolved sent, one still handed off.
    let mut w = wave("mc", 1, crate::WaveStatus::Recorded);
    l.record_wave("r1", &w).unwrap();
    let claims: Vec<Claim> = (30..32).map(|i| sms_claim(&format!("h{i}"), i)).collect();
    l.hand_off_batch("r1", "mc", 1, &claims, Redo::NONE)
        .unwrap();
    w.status = crate::WaveStatus::Started;
    w.contacts = 2;
    w.contact_list_id = Some("list-1".into());
    w.genesys_campaign_id = Some("mcamp-1".into());
    l.record_wave("r1", &w).unwrap();
    l.record_wave_outcomes("r1", &[contact_sent("mc", "h30")])
        .unwrap();
    suppress_legal(l);
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

fn wave(campaign: &str, n: u32, status: crate::WaveStatus) -> crate::Wave {
    crate::Wave {
        campaign: campaign.to_owned(),
        wave: n,
        channel: Channel::Sms,
        status,
        contacts: 0,
        contact_list_id: None,
        genesys_campaign_id: None,
    }
}

fn contact_sent(campaign: &str, row: &str) -> Outcome {
    outcome(
        campaign,
        row,
        OutcomeResult::Sent {
            handle: crate::DispatchHandle::contact(key().contact_id(campaign, row)),
        },
    )
}

/// Conformance case (see [`CASES`]).
pub fn handed_off_rows_page_by_key(l: &mut dyn Ledger) {
    run(l, "hp1");
    for n in [1, 2] {
        l.record_wave("hp1", &wave("hp", n, crate::WaveStatus::Recorded))
            .unwrap();
    }
    let claims: Vec<Claim> = (0..5).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    l.hand_off_batch("hp1", "hp", 1, &claims, Redo::NONE)
        .unwrap();
    l.hand_off_batch("hp1", "hp", 2, &[sms_claim("k9", 9)], Redo::NONE)
        .unwrap();
    // Pages of two, each after the last key of the one before; only wave 1's rows.
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = l.handed_off_page("hp", 1, after.as_deref(), 2).unwrap();
        assert!(page.len() <= 2, "{page:?}");
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        keys.extend(page);
    }
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    assert_eq!(l.handed_off_page("hp", 2, None, 10).unwrap(), ["k9"]);
    assert!(l.handed_off_page("other", 1, None, 10).unwrap().is_empty());
    // A row with an outcome leaves the pages; the rest page on from where they were.
    l.record_wave_outcomes("hp1", &[contact_sent("hp", "k1"), contact_sent("hp", "k3")])
        .unwrap();
    assert_eq!(l.handed_off_page("hp", 1, None, 2).unwrap(), ["k0", "k2"]);
    assert_eq!(l.handed_off_page("hp", 1, Some("k2"), 2).unwrap(), ["k4"]);
}

/// Conformance case (see [`CASES`]).
pub fn waves_hand_off_and_resolve_rows(l: &mut dyn Ledger) {
    run(l, "wr1");
    let claims: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    // No wave recorded yet: nothing is handed off.
    let err = l
        .hand_off_batch("wr1", "mc", 1, &claims, Redo::NONE)
        .unwrap_err();
    assert!(matches!(err, LedgerError::Refused(_)), "{err}");
    assert_eq!(state(l, "mc", "k0"), None);
    // A new wave starts `recorded`.
    let err = l
        .record_wave("wr1", &wave("mc", 1, crate::WaveStatus::Started))
        .unwrap_err();
    assert!(matches!(err, LedgerError::Refused(_)), "{err}");
    let mut w = wave("mc", 1, crate::WaveStatus::Recorded);
    l.record_wave("wr1", &w).unwrap();
    l.suppress(&Suppression {
        recipient: sms_recipient(3),
        masked: mask_phone(&phone(3)),
        channel: None,
        reason: "manual".into(),
        source: "cli".into(),
    })
    .unwrap();
    let res = l
        .hand_off_batch("wr1", "mc", 1, &claims, Redo::NONE)
        .unwrap();
    assert_eq!(
        res,
        [
            ClaimResult::Claimed,
            ClaimResult::Claimed,
            ClaimResult::Claimed,
            ClaimResult::Suppressed
        ]
    );
    let rec = l.send("mc", "k0").unwrap().unwrap();
    assert_eq!(rec.state, SendState::HandedOff);
    assert_eq!(rec.note.as_deref(), Some("wave 1"));
    assert_eq!(crate::wave_of_note(rec.note.as_deref()), Some(1));
    assert_eq!(rec.attempts, 1);
    // Handed off = in Genesys' hands: never claimed again, whatever the redo policy, nor
    // handed off again.
    for redo in [Redo::NONE, Redo::UNKNOWN, Redo::FAILED] {
        let again = l.claim_batch("wr1", "mc", &claims[..1], redo).unwrap();
        assert_eq!(again, [ClaimResult::Skipped(SendState::HandedOff)]);
        let again = l
            .hand_off_batch("wr1", "mc", 1, &claims[..1], redo)
            .unwrap();
        assert_eq!(again, [ClaimResult::Skipped(SendState::HandedOff)]);
    }
    // Nor recovered as `dispatching` would be.
    assert_eq!(l.recover_dispatching().unwrap(), 0);
    assert_eq!(state(l, "mc", "k1"), Some(SendState::HandedOff));
    // Once uploaded, the wave takes no more rows.
    w.status = crate::WaveStatus::Uploaded;
    w.contacts = 3;
    w.contact_list_id = Some("list-1".into());
    l.record_wave("wr1", &w).unwrap();
    let more = [sms_claim("k9", 9)];
    let err = l
        .hand_off_batch("wr1", "mc", 1, &more, Redo::NONE)
        .unwrap_err();
    assert!(matches!(err, LedgerError::Refused(_)), "{err}");
    assert_eq!(state(l, "mc", "k9"), None);
    // Its status never goes back, and its Genesys ids never change.
    let mut back = w.clone();
    back.status = crate::WaveStatus::Recorded;
    assert!(l.record_wave("wr1", &back).is_err());
    let mut other = w.clone();
    other.contact_list_id = Some("list-2".into());
    assert!(l.record_wave("wr1", &other).is_err());
    w.status = crate::WaveStatus::Started;
    w.genesys_campaign_id = Some("mcamp-1".into());
    l.record_wave("wr1", &w).unwrap();
    // An agentless outcome cannot touch a handed-off row, and a wave outcome needs one.
    let err = l
        .record_outcomes("wr1", &[sent("mc", "k0", "m0")])
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::InvalidTransition { .. }),
        "{err}"
    );
    // Outcomes read back from the contacts: all or none.
    let batch = [
        contact_sent("mc", "k0"),
        outcome(
            "mc",
            "k1",
            OutcomeResult::Failed {
                code: "ININ_OUTBOUND_DNC_SKIPPED".into(),
            },
        ),
        outcome("mc", "k3", OutcomeResult::Failed { code: "x".into() }),
    ];
    let err = l.record_wave_outcomes("wr1", &batch).unwrap_err();
    assert!(
        matches!(err, LedgerError::InvalidTransition { .. }),
        "{err}"
    );
    assert_eq!(state(l, "mc", "k0"), Some(SendState::HandedOff));
    l.record_wave_outcomes("wr1", &batch[..2]).unwrap();
    let rec = l.send("mc", "k0").unwrap().unwrap();
    assert_eq!(rec.state, SendState::Sent);
    assert_eq!(rec.note.as_deref(), Some("wave 1"), "the wave stays named");
    assert_eq!(rec.message_id, None);
    assert_eq!(state(l, "mc", "k1"), Some(SendState::Failed));
    // Not messaged by a stopped wave: back to pending for a later wave.
    l.record_wave_outcomes(
        "wr1",
        &[outcome(
            "mc",
            "k2",
            OutcomeResult::Pending {
                next_attempt_at: None,
                reason: "not messaged by wave 1".into(),
            },
        )],
    )
    .unwrap();
    let rec = l.send("mc", "k2").unwrap().unwrap();
    assert_eq!(rec.state, SendState::Pending);
    assert_eq!(rec.note.as_deref(), Some("not messaged by wave 1"));
    let waves = l.waves(Some("mc")).unwrap();
    assert_eq!(waves.len(), 1);
    assert_eq!(waves[0].wave, w);
    assert_eq!(waves[0].run_id.as_deref(), Some("wr1"));
    assert!(l.waves(Some("other")).unwrap().is_empty());
    let counts = l.campaign_counts(Some("mc"), Timestamp::now()).unwrap();
    assert_eq!(counts[0].by_state.get(&SendState::Sent), Some(&1));
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(l.check_checkpoint().unwrap().ok);
}

/// One tampering per table and kind (UPDATE of a column, DELETE of a row, INSERT of a row),
/// as `(table, sql)` in SQL both engines accept. Run each on a fresh
/// [`populate_every_table`] ledger after lifting the append-only guards of
/// `template_versions` and `suppression_audit`; `verify` must then fail naming the table.
pub const TAMPERS: &[(&str, &str)] = &[
    (
        "runs",
        "UPDATE runs SET outcome = 'error: hidden' WHERE run_id = 'r2'",
    ),
    (
        "runs",
        "UPDATE runs SET plan_hash = 'other' WHERE run_id = 'r1'",
    ),
    ("runs", "DELETE FROM runs WHERE run_id = 'r2'"),
    (
        "runs",
        "INSERT INTO runs (run_id, command, user_name, host, started_at) VALUES ('forged', 'apply', 'x', 'y', 1)",
    ),
    (
        "template_bindings",
        "UPDATE template_bindings SET response_id = 'resp-evil' WHERE name = 't-one'",
    ),
    (
        "template_bindings",
        "DELETE FROM template_bindings WHERE name = 't-three'",
    ),
    (
        "template_bindings",
        "INSERT INTO template_bindings (name, response_id, version, content_hash, remote_hash, updated_at) \
         SELECT 'forged', response_id, version, content_hash, remote_hash, updated_at FROM template_bindings WHERE name = 't-one'",
    ),
    (
        "template_versions",
        "UPDATE template_versions SET content_hash = 'v1:evil' WHERE name = 't-one'",
    ),
    (
        "template_versions",
        "DELETE FROM template_versions WHERE name = 't-one'",
    ),
    (
        "template_versions",
        "INSERT INTO template_versions (name, response_id, version, content_hash, remote_hash, run_id, at) \
         SELECT name, response_id, version + 1, content_hash, remote_hash, run_id, at FROM template_versions WHERE name = 't-one'",
    ),
    (
        "sends",
        "UPDATE sends SET receipt_status = 'delivered' WHERE row_key = 'k1'",
    ),
    (
        "sends",
        "UPDATE sends SET created_at = created_at - 1 WHERE row_key = 'k2'",
    ),
    (
        "sends",
        "UPDATE sends SET run_id = 'r2' WHERE row_key = 'k3'",
    ),
    ("sends", "DELETE FROM sends WHERE row_key = 'k3'"),
    (
        "sends",
        "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, created_at, updated_at) \
         SELECT campaign, 'forged', recipient, masked, channel, template_hash, 'sent', 1, created_at, updated_at FROM sends WHERE row_key = 'k0'",
    ),
    (
        "conversations",
        "UPDATE conversations SET conversation_id = id_pack('conv-evil') WHERE conversation_id = id_pack('conv-m0')",
    ),
    (
        "conversations",
        "DELETE FROM conversations WHERE conversation_id = id_pack('conv-m1')",
    ),
    (
        "conversations",
        "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) \
         SELECT id_pack(recipient), 'sms', id_pack('conv-forged'), 1 FROM suppressions",
    ),
    ("suppressions", "UPDATE suppressions SET since = since + 1"),
    (
        "suppressions",
        "DELETE FROM suppressions WHERE reason = 'legal'",
    ),
    (
        "suppressions",
        "INSERT INTO suppressions (recipient, channel, masked, reason, source, since) \
         SELECT recipient, 'email', masked, reason, source, since FROM suppressions WHERE reason = 'legal'",
    ),
    (
        "suppression_audit",
        "UPDATE suppression_audit SET source = 'cli' WHERE reason = 'legal'",
    ),
    (
        "suppression_audit",
        "DELETE FROM suppression_audit WHERE action = 'remove'",
    ),
    (
        "suppression_audit",
        "INSERT INTO suppression_audit (action, recipient, channel, masked, reason, source, at) \
         SELECT 'remove', recipient, channel, masked, 'forged', source, at FROM suppression_audit WHERE reason = 'legal'",
    ),
    (
        "inbound",
        "UPDATE inbound SET action = 'help' WHERE message_id = 'in-10'",
    ),
    (
        "inbound",
        "UPDATE inbound SET received_at = received_at + 1 WHERE message_id = 'in-11'",
    ),
    ("inbound", "DELETE FROM inbound WHERE message_id = 'in-11'"),
    (
        "inbound",
        "INSERT INTO inbound (message_id, recipient, masked, channel, action, flagged, received_at, recorded_at) \
         SELECT 'forged', recipient, masked, channel, 'resubscribe', flagged, received_at, recorded_at FROM inbound WHERE message_id = 'in-10'",
    ),
    (
        "receipts",
        "UPDATE receipts SET status = 'delivered' WHERE message_id = 'm1'",
    ),
    (
        "receipts",
        "UPDATE receipts SET at = at + 1 WHERE message_id = 'm0'",
    ),
    ("receipts", "DELETE FROM receipts WHERE message_id = 'm1'"),
    (
        "waves",
        "UPDATE waves SET status = 'recorded' WHERE wave = 1",
    ),
    (
        "waves",
        "UPDATE waves SET genesys_campaign_id = 'other' WHERE wave = 1",
    ),
    ("waves", "DELETE FROM waves"),
    (
        "waves",
        "INSERT INTO waves (campaign, wave, channel, status, contacts, created_at, updated_at) \
         SELECT campaign, 2, channel, 'recorded', 0, created_at, updated_at FROM waves WHERE wave = 1",
    ),
    (
        "sends",
        "UPDATE sends SET state = 'pending', note = NULL WHERE state = 'handed_off'",
    ),
    (
        "receipts",
        "INSERT INTO receipts (message_id, status, reason, at, recorded_at) \
         SELECT message_id, 'delivered', reason, at, recorded_at FROM receipts WHERE message_id = 'm1'",
    ),
];

/// Edits behind the chain that decide who is messaged, as `(what the refusal names, sql)`:
/// the checkpoint check (`apply`'s, without a full verify) must catch each on a fresh
/// [`populate_every_table`] ledger, and keep catching it after a later legitimate write.
pub const CHECKPOINT_TAMPERS: &[(&str, &str)] = &[
    ("table `suppressions`", "DELETE FROM suppressions"),
    (
        "the suppressions differ",
        "UPDATE suppressions SET channel = 'email' WHERE source = 'import'",
    ),
    (
        "sends in state `",
        "UPDATE sends SET state = 'failed' WHERE row_key = 'k1'",
    ),
    ("table `sends`", "DELETE FROM sends WHERE row_key = 'k2'"),
    (
        "table `sends`",
        "INSERT INTO sends (campaign, row_key, recipient, masked, channel, template_hash, state, attempts, created_at, updated_at) \
         SELECT campaign, 'forged', recipient, masked, channel, template_hash, 'sent', attempts, created_at, updated_at FROM sends WHERE row_key = 'k3'",
    ),
    ("table `inbound`", "DELETE FROM inbound"),
    ("table `runs`", "DELETE FROM runs WHERE run_id = 'r2'"),
    ("table `waves`", "DELETE FROM waves"),
    (
        "sends in state `",
        "UPDATE sends SET state = 'pending' WHERE state = 'handed_off'",
    ),
];

/// Checks that the checkpoint caught tamper `i` of [`CHECKPOINT_TAMPERS`], still catches it
/// after a later write by herald (the write never absorbs it), and that `verify` fails too.
pub fn assert_checkpoint_catches(l: &mut dyn Ledger, i: usize) {
    let (names, sql) = CHECKPOINT_TAMPERS[i];
    for round in ["after the edit", "after a later write"] {
        let report = l.check_checkpoint().unwrap();
        assert!(!report.ok, "the checkpoint missed `{sql}` {round}");
        let problem = report.problem.unwrap_or_default();
        assert!(
            problem.contains(names),
            "`{sql}` {round} was reported as: {problem}"
        );
        assert!(!l.verify().unwrap().ok, "verify missed `{sql}` {round}");
        if round == "after the edit" {
            // A legitimate write (the receiver recording a STOP) must not launder the edit.
            l.record_inbound(&InboundRecord {
                message_id: format!("later-{i}"),
                recipient: sms_recipient(20),
                masked: mask_phone(&phone(20)),
                channel: Channel::Sms,
                action: InboundAction::Suppress,
                flagged: false,
                received_at: Timestamp::now(),
                text_mac: None,
            })
            .unwrap();
        }
    }
}

/// Makes the verify of a ledger written before schema 11 (run once, when its rows are sealed)
/// keep at most `n` rows of `sends` and of `conversations` per pass, so a small ledger is
/// checked in several passes (process-wide; the outcome never depends on it, only memory and
/// time do); 0 restores the default. The verify of sealed rows has no passes.
pub fn set_verify_keys_per_pass(n: u64) {
    crate::compact::set_keys_per_pass(n);
}

/// Checks that `verify` caught tamper `i` of [`TAMPERS`] and named its table.
pub fn assert_tamper_caught(l: &dyn Ledger, i: usize) {
    let (table, sql) = TAMPERS[i];
    let report = l.verify().unwrap();
    assert!(!report.ok, "verify missed `{sql}`");
    let reason = report.first_broken.unwrap().reason;
    assert!(
        reason.contains(&format!("table `{table}`")),
        "`{sql}` was reported as: {reason}"
    );
}

/// The statements that recompute every link of `l`'s chain as plain SHA-256 (what anyone
/// with write access could do before the chain was keyed), for the `events` rows as they
/// are now. Run them after editing an event's payload.
pub fn plain_relink_sql(l: &dyn Ledger) -> Vec<String> {
    use sha2::{Digest as _, Sha256};
    let mut prev = "0".repeat(64);
    let mut out = Vec::new();
    for e in l.events(0, usize::MAX).unwrap() {
        let input = format!(
            "{prev}\n{}\n{}\n{}",
            e.seq,
            e.at.as_millisecond(),
            e.payload_json
        );
        let hash = hex::encode(Sha256::digest(input.as_bytes()));
        out.push(format!(
            "UPDATE events SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
            e.seq
        ));
        prev = hash;
    }
    out
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn capped_claim(row: &str, n: u32, category: &str, max: u32) -> Claim {
    Claim {
        category: Some(category.to_owned()),
        caps: vec![FrequencyCap {
            max,
            per_ms: DAY_MS,
        }],
        ..sms_claim(row, n)
    }
}

/// A claim over a frequency cap is refused inside the claim transaction, whatever campaign
/// made the earlier sends; the row waits `pending` until the oldest counted send leaves the
/// window. Failed sends (refused by Genesys) do not count; other categories and recipients
/// are not affected.
pub fn frequency_caps_hold_claims_across_campaigns(l: &mut dyn Ledger) {
    run(l, "r1");
    let before = Timestamp::now().as_millisecond();
    let res = l
        .claim_batch(
            "r1",
            "spring",
            &[
                capped_claim("a1", 1, "marketing", 3),
                capped_claim("a2", 1, "marketing", 3),
            ],
            Redo::NONE,
        )
        .unwrap();
    assert_eq!(res, [ClaimResult::Claimed, ClaimResult::Claimed]);
    l.record_outcomes(
        "r1",
        &[
            Outcome {
                campaign: "spring".into(),
                row_key: "a1".into(),
                result: OutcomeResult::Sent {
                    handle: crate::DispatchHandle::message("m-a1", None),
                },
            },
            Outcome {
                campaign: "spring".into(),
                row_key: "a2".into(),
                result: OutcomeResult::Failed { code: "E".into() },
            },
        ],
    )
    .unwrap();
    let first_sent = l
        .send("spring", "a1")
        .unwrap()
        .unwrap()
        .dispatched_at
        .unwrap()
        .as_millisecond();
    // A second campaign, one batch: a1 (sent) counts, a2 (failed) does not; b1 and b2 take
    // the recipient to 3, so b3 is held, while another recipient, another category and a
    // claim without caps go.
    let res = l
        .claim_batch(
            "r1",
            "summer",
            &[
                capped_claim("b1", 1, "marketing", 3),
                capped_claim("b2", 1, "marketing", 3),
                capped_claim("b3", 1, "marketing", 3),
                capped_claim("b4", 2, "marketing", 3),
                capped_claim("b5", 1, "transactional", 3),
            ],
            Redo::NONE,
        )
        .unwrap();
    let opens = first_sent + DAY_MS;
    assert_eq!(
        res,
        [
            ClaimResult::Claimed,
            ClaimResult::Claimed,
            ClaimResult::Capped(opens),
            ClaimResult::Claimed,
            ClaimResult::Claimed,
        ]
    );
    assert!(opens >= before + DAY_MS);
    let held = l.send("summer", "b3").unwrap().unwrap();
    assert_eq!(held.state, SendState::Pending);
    assert_eq!(
        held.next_attempt_at.map(Timestamp::as_millisecond),
        Some(opens)
    );
    assert_eq!(held.attempts, 0);
    // Claimed again (a later batch, another run): still held, by the same time; a tighter
    // cap holds until the newest send in it ages out.
    run(l, "r2");
    let res = l
        .claim_batch(
            "r2",
            "summer",
            &[
                capped_claim("b3", 1, "marketing", 3),
                capped_claim("c1", 1, "marketing", 1),
            ],
            Redo::NONE,
        )
        .unwrap();
    let newest = l
        .send("summer", "b2")
        .unwrap()
        .unwrap()
        .dispatched_at
        .unwrap()
        .as_millisecond();
    assert_eq!(
        res,
        [
            ClaimResult::Capped(opens),
            ClaimResult::Capped(newest + DAY_MS)
        ]
    );
    // Unknown sends count (they may have reached the phone).
    l.recover_dispatching().unwrap();
    let res = l
        .claim_batch(
            "r2",
            "autumn",
            &[capped_claim("d1", 2, "marketing", 1)],
            Redo::NONE,
        )
        .unwrap();
    assert!(matches!(res[0], ClaimResult::Capped(_)), "{res:?}");
    // What the plan reads: a1 (sent) and b1, b2, b4, b5 (now unknown), not the failed a2 or
    // the held rows.
    let since = Timestamp::from_millisecond(before - 1).unwrap();
    let marketing = l.recent_sends(since, Channel::Sms, "marketing").unwrap();
    assert_eq!(
        (marketing.recipients(), marketing.sends()),
        (2, 4),
        "{marketing:?}"
    );
    let to_1 = marketing.get(&sms_recipient(1));
    assert_eq!(to_1.len(), 3, "{to_1:?}");
    assert!(to_1.is_sorted(), "{to_1:?}");
    assert_eq!(to_1[0], first_sent);
    assert_eq!(marketing.get(&sms_recipient(2)).len(), 1);
    let transactional = l
        .recent_sends(since, Channel::Sms, "transactional")
        .unwrap();
    assert_eq!((transactional.recipients(), transactional.sends()), (1, 1));
    assert!(
        l.recent_sends(since, Channel::Email, "marketing")
            .unwrap()
            .is_empty()
    );
    assert!(
        l.recent_sends(
            Timestamp::from_millisecond(opens).unwrap(),
            Channel::Sms,
            "marketing"
        )
        .unwrap()
        .is_empty()
    );
    // The held rows are in the chain like any other write.
    assert!(l.verify().unwrap().ok);
}

/// Feeds `changes` to [`Ledger::dnc_import`] in batches of two.
fn import_dnc(
    l: &mut dyn Ledger,
    source: &str,
    day: &str,
    kind: crate::DncFileKind,
    changes: &[(u32, bool)],
) -> crate::DncImportReport {
    let mut batches = changes
        .chunks(2)
        .map(|c| {
            c.iter()
                .map(|(n, add)| crate::DncChange {
                    recipient: sms_recipient(*n + 40),
                    add: *add,
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into_iter();
    l.dnc_import(
        &crate::DncImport {
            source: source.to_owned(),
            downloaded_on: day.parse().unwrap(),
            kind,
            file_digest: format!("sha256:{day}"),
        },
        &mut || Ok(batches.next()),
    )
    .expect("dnc_import")
}

/// A full list replaces a source's set, a change list adds and deletes, lookups find only
/// listed recipients, each import is a chain event, send facts are kept and a recipient's
/// audit holds its sends (with facts), suppressions and registries.
pub fn dnc_registries_import_lookup_and_audit(l: &mut dyn Ledger) {
    use crate::DncFileKind::{Changes, Full};
    assert!(l.dnc_registries().unwrap().is_empty());
    let imports = |l: &dyn Ledger| {
        l.events(0, 100_000)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "dnc_imported")
            .count()
    };
    let imports_before = imports(l);
    let r = import_dnc(
        l,
        "national",
        "2026-11-30",
        Full,
        &[(1, true), (2, true), (3, true)],
    );
    assert_eq!((r.read, r.added, r.removed, r.numbers), (3, 3, 0, 3));
    let r = import_dnc(l, "FL", "2026-12-01", Full, &[(2, true)]);
    assert_eq!(r.numbers, 1);
    // A new full list replaces the national set (3 goes, 4 comes).
    let r = import_dnc(
        l,
        "national",
        "2026-12-02",
        Full,
        &[(1, true), (2, true), (4, true)],
    );
    assert_eq!((r.added, r.removed, r.numbers), (3, 3, 3));
    // A change list: 5 added, 1 deleted, a deletion of an unlisted number changes nothing.
    let r = import_dnc(
        l,
        "national",
        "2026-12-03",
        Changes,
        &[(5, true), (1, false), (9, false)],
    );
    assert_eq!((r.read, r.added, r.removed, r.numbers), (3, 1, 1, 3));
    let regs = l.dnc_registries().unwrap();
    assert_eq!(
        regs.iter()
            .map(|r| (
                r.source.as_str(),
                r.downloaded_on.to_string(),
                r.numbers,
                r.file_kind
            ))
            .collect::<Vec<_>>(),
        [
            ("FL", "2026-12-01".to_owned(), 1, Full),
            ("national", "2026-12-03".to_owned(), 3, Changes),
        ]
    );
    let asked: Vec<RecipientId> = (41..=46).map(sms_recipient).collect();
    let mut hits: Vec<(u32, String)> = l
        .dnc_lookup(&asked)
        .unwrap()
        .into_iter()
        .map(|(rid, src)| {
            (
                (1..=6).find(|n| sms_recipient(*n + 40) == rid).unwrap(),
                src,
            )
        })
        .collect();
    hits.sort();
    assert_eq!(
        hits,
        [
            (2, "FL".to_owned()),
            (2, "national".to_owned()),
            (4, "national".to_owned()),
            (5, "national".to_owned()),
        ]
    );
    // The in-memory set read once agrees with the look-ups, registries in source order.
    let set = l.dnc_set().unwrap();
    assert_eq!(set.len(), 4);
    let listed: Vec<(u32, Vec<&str>)> = (1..=6)
        .map(|n| {
            (
                n,
                set.sources_of(&sms_recipient(n + 40)).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, s)| !s.is_empty())
        .collect();
    assert_eq!(
        listed,
        [
            (2, vec!["FL", "national"]),
            (4, vec!["national"]),
            (5, vec!["national"]),
        ]
    );
    assert!(set.contains(&sms_recipient(44)) && !set.contains(&sms_recipient(41)));
    assert_eq!(imports(l) - imports_before, 4);
    // Facts of a claimed send, then the recipient's audit.
    run(l, "dnc-r1");
    l.claim_batch(
        "dnc-r1",
        "dnc-spring",
        &[sms_claim("row-2", 42)],
        Redo::NONE,
    )
    .unwrap();
    l.record_send_facts(&[crate::SendFacts {
        campaign: "dnc-spring".into(),
        row_key: "row-2".into(),
        facts: r#"{"state":"FL","dnc":"express_consent"}"#.into(),
    }])
    .unwrap();
    assert!(
        l.record_send_facts(&[crate::SendFacts {
            campaign: "dnc-spring".into(),
            row_key: "row-2".into(),
            facts: "not json".into(),
        }])
        .is_err()
    );
    l.suppress(&Suppression {
        recipient: sms_recipient(42),
        masked: mask_phone(&phone(42)),
        channel: Some(Channel::Sms),
        reason: "manual".into(),
        source: "cli:test".into(),
    })
    .unwrap();
    let audit = l.recipient_audit(&sms_recipient(42)).unwrap();
    assert_eq!(audit.sends.len(), 1);
    assert_eq!(audit.sends[0].0.row_key, "row-2");
    assert_eq!(
        audit.sends[0].1.as_deref(),
        Some(r#"{"state":"FL","dnc":"express_consent"}"#)
    );
    assert_eq!(audit.suppressions.len(), 1);
    assert_eq!(
        audit
            .registries
            .iter()
            .map(|r| r.source.as_str())
            .collect::<Vec<_>>(),
        ["FL", "national"]
    );
    let none = l.recipient_audit(&sms_recipient(47)).unwrap();
    assert!(none.sends.is_empty() && none.suppressions.is_empty() && none.registries.is_empty());
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(l.check_checkpoint().unwrap().ok);
}

/// Incremental verify on a [`populate_every_table`] ledger, `exec` running raw SQL on it as
/// a tamperer would (append-only guards lifted): what it checks and what it leaves to the
/// full verify.
pub fn incremental_verify_checks(l: &mut dyn Ledger, exec: &mut dyn FnMut(&str)) {
    populate_every_table(l);
    assert_eq!(l.verified_head().unwrap(), None);
    let mark = l.head().unwrap().unwrap();
    l.record_verified(&mark).unwrap();
    assert_eq!(l.verified_head().unwrap(), Some(mark.clone()));
    // Nothing since the mark: only the checkpoint is checked.
    let report = l.verify_since(&mark).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.sends_checked), (0, 0));

    // A later apply: two new sends, one old send sent again after a resolution.
    run(l, "r3");
    let claims: Vec<Claim> = (4..6).map(|i| sms_claim(&format!("k{i}"), i)).collect();
    l.claim_batch("r3", "c", &claims, Redo::NONE).unwrap();
    l.record_outcomes("r3", &[sent("c", "k4", "m4"), sent("c", "k5", "m5")])
        .unwrap();
    l.record_receipt("m4", "delivered", None, Timestamp::now())
        .unwrap();
    let report = l.verify_since(&mark).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.sends_checked), (4, 2));
    let head = l.head().unwrap().unwrap();

    // A head the chain does not hold is refused.
    let mut other = mark.clone();
    other.hash = "0".repeat(64);
    let report = l.verify_since(&other).unwrap();
    assert!(!report.ok);
    assert!(
        report
            .first_broken
            .unwrap()
            .reason
            .contains("does not hold"),
        "a head the chain does not hold"
    );

    // A row written since the mark, edited: named.
    exec("UPDATE sends SET template_hash = id_pack('v1:evil') WHERE row_key = 'k5'");
    let broken = l.verify_since(&mark).unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("c/k5") && broken.reason.contains("template_hash"),
        "{}",
        broken.reason
    );
    exec("UPDATE sends SET template_hash = id_pack('v1:aaaa') WHERE row_key = 'k5'");
    assert!(l.verify_since(&mark).unwrap().ok);
    // … and deleted: named.
    exec(
        "CREATE TABLE kept_conversation AS SELECT * FROM conversations WHERE conversation_id = id_pack('conv-m4')",
    );
    exec("DELETE FROM conversations WHERE conversation_id = id_pack('conv-m4')");
    let broken = l.verify_since(&mark).unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("table `conversations`"),
        "{}",
        broken.reason
    );
    assert!(!l.verify().unwrap().ok);
    // Put back with the same values but without its seal: still refused (nobody without the
    // key can seal a row).
    exec(
        "INSERT INTO conversations (recipient, channel, conversation_id, updated_at) \
         SELECT recipient, channel, conversation_id, updated_at FROM sends WHERE row_key = 'k4'",
    );
    let broken = l.verify_since(&mark).unwrap().first_broken.unwrap();
    assert!(broken.reason.contains("no seal"), "{}", broken.reason);
    exec("DELETE FROM conversations WHERE conversation_id = id_pack('conv-m4')");
    exec("INSERT INTO conversations SELECT * FROM kept_conversation");
    exec("DROP TABLE kept_conversation");
    assert!(l.verify_since(&mark).unwrap().ok, "restored");
    assert!(l.verify().unwrap().ok, "restored");

    // A row verified before the mark, moved to another state: the checkpoint's seal
    // covers the sends per state.
    exec("UPDATE sends SET state = 'pending' WHERE row_key = 'k0'");
    let broken = l.verify_since(&head).unwrap().first_broken.unwrap();
    assert!(broken.reason.contains("state"), "{}", broken.reason);
    exec("UPDATE sends SET state = 'sent' WHERE row_key = 'k0'");
    // … a suppression of an old row moved to another channel: the suppressions' digest.
    exec("UPDATE suppressions SET channel = 'email' WHERE source = 'import'");
    let broken = l.verify_since(&head).unwrap().first_broken.unwrap();
    assert!(broken.reason.contains("suppressions"), "{}", broken.reason);
    exec("UPDATE suppressions SET channel = '*' WHERE source = 'import'");
    // What only the full verify catches: an old send's template hash, edited in place
    // (no count, state or suppression changes).
    exec("UPDATE sends SET template_hash = id_pack('v1:old-evil') WHERE row_key = 'k1'");
    assert!(l.verify_since(&head).unwrap().ok, "left to the full verify");
    assert!(!l.verify().unwrap().ok);
    exec("UPDATE sends SET template_hash = id_pack('v1:aaaa') WHERE row_key = 'k1'");
    assert!(l.verify().unwrap().ok);
    // … an old row deleted: the row counts.
    exec("DELETE FROM inbound WHERE message_id = 'in-11'");
    let broken = l.verify_since(&head).unwrap().first_broken.unwrap();
    assert!(
        broken.reason.contains("table `inbound`"),
        "{}",
        broken.reason
    );
    assert!(!l.verify().unwrap().ok);
}

/// A reply is claimed at most once per inbound message; an opt-out confirmation is claimed
/// only while the number is suppressed (a START dated after the STOP means `skipped`); the
/// outcome is recorded once; the table is covered by verify and the checkpoint.
pub fn keyword_replies_are_claimed_once_and_confirm_only_suppressed_numbers(l: &mut dyn Ledger) {
    use crate::{ReplyClaim, ReplyClaimResult, ReplyKind, ReplyOutcome};
    let claim = |id: &str, n: u32, kind: ReplyKind| ReplyClaim {
        inbound_id: id.into(),
        kind,
        recipient: sms_recipient(n),
        masked: mask_phone(&phone(n)),
        text_hash: "0".repeat(64),
        skip: None,
    };
    // HELP is answered whatever the suppressions say.
    assert_eq!(
        l.claim_reply(&claim("help-1", 1, ReplyKind::Help)).unwrap(),
        ReplyClaimResult::Claimed
    );
    l.record_reply("help-1", &ReplyOutcome::Sent("m-help".into()))
        .unwrap();
    assert_eq!(
        l.claim_reply(&claim("help-1", 1, ReplyKind::Help)).unwrap(),
        ReplyClaimResult::AlreadyClaimed
    );
    assert!(
        l.record_reply("help-1", &ReplyOutcome::Sent("again".into()))
            .is_err()
    );
    // A STOP: confirmed once.
    l.record_inbound(&reply("stop-2", 2, InboundAction::Suppress, 10))
        .unwrap();
    assert_eq!(
        l.claim_reply(&claim("stop-2", 2, ReplyKind::OptOutConfirmation))
            .unwrap(),
        ReplyClaimResult::Claimed
    );
    l.record_reply("stop-2", &ReplyOutcome::Failed("HTTP 400".into()))
        .unwrap();
    assert_eq!(
        l.claim_reply(&claim("stop-2", 2, ReplyKind::OptOutConfirmation))
            .unwrap(),
        ReplyClaimResult::AlreadyClaimed
    );
    // A START dated after the STOP arrived first: no confirmation.
    l.record_inbound(&reply("start-3", 3, InboundAction::Resubscribe, 30))
        .unwrap();
    l.record_inbound(&reply("stop-3", 3, InboundAction::Suppress, 20))
        .unwrap();
    assert!(matches!(
        l.claim_reply(&claim("stop-3", 3, ReplyKind::OptOutConfirmation))
            .unwrap(),
        ReplyClaimResult::Skipped(_)
    ));
    // The caller's own reason is recorded too.
    let mut late = claim("stop-4", 2, ReplyKind::OptOutConfirmation);
    late.skip = Some("late".into());
    assert_eq!(
        l.claim_reply(&late).unwrap(),
        ReplyClaimResult::Skipped("late".into())
    );
    let states: Vec<(String, String)> = l
        .replies_to(&sms_recipient(2))
        .unwrap()
        .into_iter()
        .map(|r| (r.inbound_id, r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("stop-2".to_owned(), "failed".to_owned()),
            ("stop-4".to_owned(), "skipped".to_owned())
        ]
    );
    let sent = l.replies_to(&sms_recipient(1)).unwrap();
    assert_eq!(sent[0].message_id.as_deref(), Some("m-help"));
    assert!(!sent[0].masked.contains(&phone(1)[2..]));
    let kinds: Vec<String> = l
        .events(0, 1_000)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("reply_"))
        .collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    let check = l.check_checkpoint().unwrap();
    assert!(check.ok, "{check:?}");
}

/// The key `l` was created with: this module's, or the one the backends' test files use.
fn ledger_key(l: &dyn Ledger) -> LedgerKey {
    let first = l.events(0, 1).unwrap();
    let payload = &first[0].payload_json;
    let other =
        LedgerKey::from_secret("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8")
            .unwrap();
    if payload.contains(&other.fingerprint()) {
        other
    } else {
        key()
    }
}

fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

/// Campaign `old` (finished, with facts), then the cut date, then `open` (a pending row) and
/// `new` (finished after the cut date). Returns the cut date.
fn archive_fixture(l: &mut dyn Ledger) -> Timestamp {
    run(l, "ar1");
    let claims: Vec<Claim> = (0..3).map(|i| sms_claim(&format!("o{i}"), i)).collect();
    l.claim_batch("ar1", "old", &claims, Redo::NONE).unwrap();
    l.record_send_facts(&[crate::SendFacts {
        campaign: "old".into(),
        row_key: "o1".into(),
        facts: r#"{"consent":"ck1:test"}"#.into(),
    }])
    .unwrap();
    l.record_outcomes(
        "ar1",
        &[
            sent("old", "o0", "am0"),
            sent("old", "o1", "am1"),
            outcome(
                "old",
                "o2",
                OutcomeResult::Failed {
                    code: "bad.address".into(),
                },
            ),
        ],
    )
    .unwrap();
    pause();
    let cut = Timestamp::now();
    pause();
    l.claim_batch("ar1", "open", &[sms_claim("p0", 1)], Redo::NONE)
        .unwrap();
    l.record_outcomes(
        "ar1",
        &[outcome(
            "open",
            "p0",
            OutcomeResult::Pending {
                next_attempt_at: None,
                reason: "quiet hours".into(),
            },
        )],
    )
    .unwrap();
    l.claim_batch("ar1", "new", &[sms_claim("n0", 1)], Redo::NONE)
        .unwrap();
    l.record_outcomes("ar1", &[sent("new", "n0", "an0")])
        .unwrap();
    l.finish_run("ar1", "ok").unwrap();
    cut
}

fn archive_opts(dir: &std::path::Path, before: Timestamp) -> crate::ArchiveOptions {
    crate::ArchiveOptions {
        before,
        dir: dir.join("archive"),
        prefix: "test".into(),
        out: None,
    }
}

fn exported(l: &dyn Ledger, campaign: Option<&str>) -> Vec<crate::ExportRow> {
    let mut rows = Vec::new();
    l.export(campaign, &mut |r| {
        rows.push(r);
        Ok(())
    })
    .unwrap();
    rows
}

/// Conformance case (see [`CASES`]).
pub fn archive_moves_finished_campaigns_and_verifies(l: &mut dyn Ledger) {
    let before = archive_fixture(l);
    let k = ledger_key(l);
    let dir = tempfile::tempdir().unwrap();
    assert!(l.verify().unwrap().ok);
    let verified = l.head().unwrap().unwrap();
    l.record_verified(&verified).unwrap();
    let audit_before = l.recipient_audit(&sms_recipient(1)).unwrap();
    let export_before = exported(l, Some("old"));
    assert_eq!(export_before.len(), 3);
    let counts_before: Vec<_> = l
        .campaign_counts(None, Timestamp::now())
        .unwrap()
        .into_iter()
        .filter(|c| c.campaign != "old")
        .collect();

    let mut hooks = Vec::new();
    let report = crate::archive_ledger(l, &k, &archive_opts(dir.path(), before), &mut |h| {
        hooks.push(h.to_owned());
    })
    .unwrap();
    assert_eq!(
        hooks,
        [
            "archive-before-rename",
            "archive-before-cut",
            "archive-after-cut"
        ]
    );
    let moved: Vec<_> = report
        .moved
        .iter()
        .map(|c| (c.campaign.as_str(), c.sends, c.facts))
        .collect();
    assert_eq!(moved, [("old", 3, 1)]);
    let kept: Vec<_> = report
        .kept
        .iter()
        .map(|c| (c.campaign.as_str(), c.kept.clone().unwrap()))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept[0].0 == "new" && kept[0].1.contains("after the cut date"),
        "{kept:?}"
    );
    assert!(
        kept[1].0 == "open" && kept[1].1.contains("1 pending"),
        "{kept:?}"
    );
    let path = report.path.clone().unwrap();
    let cut = report.cut.clone().unwrap();
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        format!("test-cut-{}.sqlite", cut.seq)
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The hot ledger alone still verifies, its checkpoint holds, and `old` is gone from it.
    let v = l.verify().unwrap();
    assert!(v.ok, "{:?}", v.first_broken);
    assert!(l.check_checkpoint().unwrap().ok);
    // The incremental verify from the head verified before the cut agrees.
    let since = l.verify_since(&verified).unwrap();
    assert!(since.ok, "{:?}", since.first_broken);
    assert!(l.campaign_keys("old").unwrap().is_empty());
    assert_eq!(l.campaign_keys("open").unwrap().len(), 1);
    let counts_after = l.campaign_counts(None, Timestamp::now()).unwrap();
    assert_eq!(counts_after, counts_before);
    let cuts = l.archive_cuts().unwrap();
    assert_eq!(cuts.len(), 1);
    assert_eq!(cuts[0].seq, cut.seq);
    assert_eq!(cuts[0].campaigns, [("old".to_owned(), 3, 1)]);
    assert_eq!(l.head().unwrap().unwrap().seq, cut.seq);

    // The archive verifies, and audit and export read the same rows from it.
    let check = crate::verify_archive(l, &k, &path).unwrap();
    assert!(check.ok, "{:?}", check.problem);
    assert_eq!(
        (check.cut_seq, check.campaigns, check.sends, check.facts),
        (Some(cut.seq), 1, 3, 1)
    );
    let hot_now = l.recipient_audit(&sms_recipient(1)).unwrap();
    let mut joined = crate::archived_sends_of(l, &k, &path, &sms_recipient(1)).unwrap();
    joined.extend(hot_now.sends);
    let mut want = audit_before.sends.clone();
    want.sort_by(|a, b| (&a.0.campaign, &a.0.row_key).cmp(&(&b.0.campaign, &b.0.row_key)));
    joined.sort_by(|a, b| (&a.0.campaign, &a.0.row_key).cmp(&(&b.0.campaign, &b.0.row_key)));
    assert_eq!(joined, want);
    assert!(joined.iter().any(|(s, f)| s.row_key == "o1" && f.is_some()));
    let mut from_archive = Vec::new();
    let n = crate::export_archive(l, &k, &path, None, &mut |r| {
        from_archive.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(from_archive, export_before);

    // A second archive at the same date finds nothing more to move.
    let again =
        crate::archive_ledger(l, &k, &archive_opts(dir.path(), before), &mut |_| {}).unwrap();
    assert!(again.path.is_none() && again.moved.is_empty());
    assert_eq!(l.head().unwrap().unwrap().seq, cut.seq);

    // A cut whose archive does not match the rows is refused, and removes nothing.
    let forged = crate::ArchiveCut {
        seq: cut.seq + 1,
        archive: "x.sqlite".into(),
        archive_head: "00".into(),
        ledger_head: cut.clone(),
        before_ms: Timestamp::now().as_millisecond() + 60_000,
        campaigns: vec![crate::CampaignDigest {
            campaign: "new".into(),
            sends: 1,
            ..crate::CampaignDigest::default()
        }],
    };
    let err = l.archive_cut(&forged).unwrap_err();
    assert!(
        err.to_string().contains("changed after the archive"),
        "{err}"
    );
    assert_eq!(l.campaign_keys("new").unwrap().len(), 1);
    assert!(l.verify().unwrap().ok);
}

fn tamper(path: &std::path::Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(sql).unwrap();
}

fn problem(l: &dyn Ledger, path: &std::path::Path) -> String {
    let check = crate::verify_archive(l, &ledger_key(l), path).unwrap();
    assert!(!check.ok, "{} was accepted", path.display());
    check.problem.unwrap()
}

/// Conformance case (see [`CASES`]).
pub fn archive_refuses_tampered_archives(l: &mut dyn Ledger) {
    let before = archive_fixture(l);
    let k = ledger_key(l);
    let dir = tempfile::tempdir().unwrap();
    let first =
        crate::archive_ledger(l, &k, &archive_opts(dir.path(), before), &mut |_| {}).unwrap();
    let path = first.path.unwrap();
    // Each copy keeps the archive's file name, in a directory of its own.
    let name = path.file_name().unwrap().to_owned();
    let copy = |sub: &str| {
        let d = dir.path().join(sub);
        std::fs::create_dir(&d).unwrap();
        let p = d.join(&name);
        std::fs::copy(&path, &p).unwrap();
        p
    };

    let edited = copy("edited");
    tamper(
        &edited,
        "UPDATE sends SET state = 'failed' WHERE row_key = 'o0'",
    );
    let why = problem(l, &edited);
    assert!(why.contains("o0") && why.contains("edited"), "{why}");

    let deleted = copy("deleted");
    tamper(&deleted, "DELETE FROM send_facts");
    let why = problem(l, &deleted);
    assert!(why.contains("deleted"), "{why}");

    let chain_cut = copy("chain");
    tamper(
        &chain_cut,
        "DELETE FROM chain WHERE seq = (SELECT MAX(seq) FROM chain)",
    );
    let why = problem(l, &chain_cut);
    assert!(why.contains("truncated"), "{why}");

    let renamed = dir.path().join("renamed.sqlite");
    std::fs::copy(&path, &renamed).unwrap();
    let why = problem(l, &renamed);
    assert!(why.contains("swapped"), "{why}");

    let truncated = copy("truncated");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let why = problem(l, &truncated);
    assert!(!why.is_empty());

    // An archive of a later cut of the same ledger, put where the first one was.
    l.claim_batch("ar1", "open", &[sms_claim("p0", 1)], Redo::NONE)
        .unwrap();
    l.record_outcomes("ar1", &[sent("open", "p0", "am9")])
        .unwrap();
    pause();
    let second = crate::archive_ledger(
        l,
        &k,
        &archive_opts(dir.path(), Timestamp::now()),
        &mut |_| {},
    )
    .unwrap();
    let second = second.path.unwrap();
    assert!(crate::verify_archive(l, &k, &second).unwrap().ok);
    let sub = dir.path().join("s");
    std::fs::create_dir(&sub).unwrap();
    let swapped = sub.join(&name);
    std::fs::copy(&second, &swapped).unwrap();
    let why = problem(l, &swapped);
    assert!(why.contains("swapped"), "{why}");

    // An archive of another ledger made with the same key.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = crate::SqliteLedger::open(&other_dir.path().join("o.db"), &k).unwrap();
    let other_before = archive_fixture(&mut other);
    let theirs = crate::archive_ledger(
        &mut other,
        &k,
        &archive_opts(other_dir.path(), other_before),
        &mut |_| {},
    )
    .unwrap()
    .path
    .unwrap();
    let why = problem(l, &theirs);
    assert!(why.contains("another ledger"), "{why}");

    // The originals still verify.
    assert!(crate::verify_archive(l, &k, &path).unwrap().ok);
    assert!(l.verify().unwrap().ok);
}

/// A cut, then a hot row deleted behind the chain with `tamper(sql)`: the hot ledger's verify
/// balances every event after the cut, including one that sealed rows of both an archived and
/// a kept campaign, and still reports the deletion (both backends' test files call this).
pub fn archive_then_hot_row_deleted(l: &mut dyn Ledger, tamper: &mut dyn FnMut(&str)) {
    let k = ledger_key(l);
    run(l, "hr1");
    let claims: Vec<Claim> = (0..4).map(|i| sms_claim(&format!("h{i}"), i)).collect();
    l.claim_batch("hr1", "gone", &claims[..2], Redo::NONE)
        .unwrap();
    l.claim_batch("hr1", "busy", &claims[2..], Redo::NONE)
        .unwrap();
    // One outcome event seals rows of both campaigns; `busy` keeps a dispatching row.
    l.record_outcomes(
        "hr1",
        &[
            sent("gone", "h0", "hm0"),
            sent("gone", "h1", "hm1"),
            sent("busy", "h2", "hm2"),
        ],
    )
    .unwrap();
    pause();
    let dir = tempfile::tempdir().unwrap();
    let report = crate::archive_ledger(
        l,
        &k,
        &archive_opts(dir.path(), Timestamp::now()),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.sends(), 2);
    assert_eq!(report.kept.len(), 1, "busy has a dispatching row");
    let v = l.verify().unwrap();
    assert!(v.ok, "{:?}", v.first_broken);
    assert_eq!(v.sends_checked, 2);
    tamper("DELETE FROM sends WHERE row_key = 'h2'");
    let v = l.verify().unwrap();
    assert!(!v.ok);
    let why = v.first_broken.unwrap().reason;
    assert!(why.contains("missing"), "{why}");
}
