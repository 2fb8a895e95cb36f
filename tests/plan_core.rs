//! Unit and property tests of the pure planning core: row classification, the send decision
//! and the template reconcile, driven with plain values (no ledger, no Genesys, no files
//! beyond loading the fixture workspace).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use herald::local_time::{LocalRules, Placement, RowZones};
use herald::messages::{Address, Message, Recipient, Row, RowClassifier, SkipReason};
use herald::plan::TemplateAction;
use herald::plan::campaigns::{RowDecider, RowDecision};
use herald::plan::observed::{
    MemoryFacts, RemoteResponse, RemoteState, SendState, TemplateBinding,
};
use herald::plan::templates::{content_hash, desired_content, reconcile};
use herald::spec::model::{Campaign, Workspace};
use herald::spec::{Channel, DedupeBy, E164, Name};
use herald_core::Redo;
use proptest::prelude::*;

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/base");
    let loaded = herald::load::load(&root);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.workspace
}

fn campaign(ws: &Workspace) -> &Campaign {
    &ws.campaigns[&Name::parse("notify").unwrap()]
}

fn pseudonymise(channel: Channel, address: &str) -> String {
    format!("{}:{address}", channel.as_str())
}

/// Values in the classifier's column order for one fixture row.
fn values(
    c: &RowClassifier<'_>,
    key: &str,
    phone: &str,
    consent: &str,
    order: &str,
) -> Vec<Option<String>> {
    c.columns()
        .iter()
        .map(|col| {
            Some(
                match col.as_str() {
                    "customer_id" => key,
                    "phone" => phone,
                    "tz" => "America/New_York",
                    "sms_opt_in" => consent,
                    "order_id" => order,
                    "tracking_url" => "https://track.example.com/1",
                    other => panic!("unexpected column {other}"),
                }
                .to_owned(),
            )
        })
        .collect()
}

fn ready(key: &str, phone: &str) -> Row {
    let text = format!("Hello {key}");
    Row::Ready(Box::new(Recipient {
        line: 2,
        key: key.to_owned(),
        address: Address::Phone(E164::parse(phone).unwrap()),
        place: Placement {
            zones: RowZones::Missing,
            state: None,
            number_state: None,
            number_zones: None,
        },
        message: Message::Sms {
            info: herald::text::analyze_sms(&text),
            text,
        },
        variables: Vec::new(),
        express_consent: false,
        consent_evidence: None,
    }))
}

fn now() -> jiff::Timestamp {
    "2026-03-10T15:00:00Z".parse().unwrap()
}

fn any_time(c: &Campaign) -> Campaign {
    Campaign {
        send_window: None,
        not_before: None,
        not_after: None,
        ..c.clone()
    }
}

// ----------------------------------------------------------------------------------------
// Row classification.

#[test]
fn classification_renders_a_good_row_and_names_why_others_are_skipped() {
    let ws = workspace();
    let mut c = RowClassifier::new(&ws, campaign(&ws));
    let ok = values(&c, "C-1", "+12125550100", "yes", "ORD-1");
    match c.classify(2, &ok) {
        Row::Ready(r) => {
            assert_eq!(r.key, "C-1");
            let Message::Sms { text, .. } = &r.message else {
                panic!("an SMS template renders an SMS")
            };
            assert!(text.contains("ORD-1"), "{text}");
        }
        other => panic!("expected a ready row, got {other:?}"),
    }
    let dup = values(&c, "C-1", "+12125550101", "yes", "ORD-2");
    let Row::Skipped(s) = c.classify(3, &dup) else {
        panic!("a repeated key is skipped")
    };
    assert_eq!(
        (s.reason, s.first_line),
        (SkipReason::DuplicateKey, Some(2))
    );
    let no = values(&c, "C-2", "+12125550102", "no", "ORD-3");
    assert!(matches!(c.classify(4, &no), Row::Skipped(s) if s.reason == SkipReason::NoConsent));
    let long = values(&c, "C-3", "+12125550103", "yes", &"9".repeat(21));
    assert!(matches!(c.classify(5, &long), Row::Skipped(s) if s.reason == SkipReason::RenderError));
    // After a row skipped while its values were read, the next row renders its own values.
    let next = values(&c, "C-4", "+12125550104", "yes", "ORD-4");
    match c.classify(6, &next) {
        Row::Ready(r) => {
            let Message::Sms { text, .. } = &r.message else {
                panic!("an SMS template renders an SMS")
            };
            assert!(text.contains("ORD-4") && !text.contains("ORD-1"), "{text}");
            assert!(!text.contains("99999"), "{text}");
        }
        other => panic!("expected a ready row, got {other:?}"),
    }
}

#[test]
fn rows_known_to_the_ledger_are_not_rendered_again() {
    let ws = workspace();
    let mut c = RowClassifier::new(&ws, campaign(&ws)).skip_known(|k| k == "C-9");
    let row = values(&c, "C-9", "not a number", "yes", "ORD-1");
    assert!(matches!(c.classify(2, &row), Row::Known { line: 2, ref key } if key == "C-9"));
}

proptest! {
    /// Whatever the address column holds, a skipped row's message never quotes it.
    #[test]
    fn skip_messages_never_quote_the_address(raw in "[+]?[0-9 ()a-z@.-]{0,20}") {
        let ws = workspace();
        let mut c = RowClassifier::new(&ws, campaign(&ws));
        let row = values(&c, "C-1", &raw, "yes", "ORD-1");
        if let Row::Skipped(s) = c.classify(2, &row) {
            prop_assert!(raw.trim().len() < 4 || !s.message.contains(raw.trim()), "{}", s.message);
        }
    }

    /// Every key is classified once; a later row with the same key is always a duplicate.
    #[test]
    fn a_key_is_ready_at_most_once(keys in prop::collection::vec(0u8..6, 1..30)) {
        let ws = workspace();
        let mut c = RowClassifier::new(&ws, campaign(&ws));
        let mut seen = HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            let key = format!("C-{k}");
            let row = values(&c, &key, "+12125550100", "yes", "ORD-1");
            let line = i as u64 + 2;
            match c.classify(line, &row) {
                Row::Ready(_) => prop_assert!(seen.insert(key)),
                Row::Skipped(s) => {
                    prop_assert_eq!(s.reason, SkipReason::DuplicateKey);
                    prop_assert!(seen.contains(&key));
                }
                Row::Known { .. } => prop_assert!(false, "no key is known"),
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// The send decision.

#[test]
fn final_ledger_states_are_never_sent_and_unknown_only_on_request() {
    let ws = workspace();
    let c = any_time(campaign(&ws));
    let mut facts = MemoryFacts::new(pseudonymise);
    for (k, s) in [
        ("A", SendState::Sent),
        ("B", SendState::Failed),
        ("C", SendState::Unknown),
        ("D", SendState::Pending),
        ("E", SendState::Dispatching),
    ] {
        facts.states.insert(k.to_owned(), s);
    }
    let mut d = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100);
    let got: Vec<_> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|k| d.decide(&ready(k, "+12125550100"), now()))
        .collect();
    assert_eq!(
        got,
        vec![
            RowDecision::InLedger(SendState::Sent),
            RowDecision::InLedger(SendState::Failed),
            RowDecision::InLedger(SendState::Unknown),
            RowDecision::Send,
            RowDecision::InLedger(SendState::Dispatching),
        ]
    );
    let mut d =
        RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100).redo(Redo::UNKNOWN);
    assert_eq!(
        d.decide(&ready("C", "+12125550100"), now()),
        RowDecision::Send
    );
    // A resent unknown row is not part of the reviewed key set.
    assert_eq!(d.key_digest().count, 0);
    // A failed row retried on request is sent and reviewed like a new row; `unknown` stays
    // unknown under `--retry-failed`.
    let mut d =
        RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100).redo(Redo::FAILED);
    assert_eq!(
        d.decide(&ready("B", "+12125550100"), now()),
        RowDecision::Send
    );
    assert_eq!(d.key_digest().count, 1);
    assert_eq!(
        d.decide(&ready("C", "+12125550100"), now()),
        RowDecision::InLedger(SendState::Unknown)
    );
}

/// A number a Do-Not-Call registry lists is held as `do_not_call` (only when registries apply
/// to the campaign), unless the row carries express written consent; a held row is not part
/// of the reviewed key set.
#[test]
fn a_registry_hit_is_held_unless_the_row_has_express_written_consent() {
    let ws = workspace();
    let c = any_time(campaign(&ws));
    let mut facts = MemoryFacts::new(pseudonymise);
    facts.do_not_call.insert("sms:+12125550100".into());
    let consented = |key: &str, phone: &str| {
        let mut row = ready(key, phone);
        if let Row::Ready(r) = &mut row {
            r.express_consent = true;
        }
        row
    };
    let mut d =
        RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100).do_not_call(true);
    assert_eq!(
        d.decide(&ready("A", "+12125550100"), now()),
        RowDecision::DoNotCall
    );
    assert_eq!(d.key_digest().count, 0);
    assert_eq!(
        d.decide(&ready("B", "+12125550101"), now()),
        RowDecision::Send
    );
    assert_eq!(
        d.decide(&consented("C", "+12125550100"), now()),
        RowDecision::Send
    );
    assert_eq!(
        RowDecision::DoNotCall.reason(),
        herald::plan::Reason::DoNotCall
    );
    // Transactional campaigns (registries do not apply) send it.
    let mut d = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100);
    assert_eq!(
        d.decide(&ready("A", "+12125550100"), now()),
        RowDecision::Send
    );
}

#[test]
fn the_recipient_id_of_a_send_is_handed_over_once() {
    let ws = workspace();
    let c = any_time(campaign(&ws));
    let mut facts = MemoryFacts::new(pseudonymise);
    facts
        .suppressed_everywhere
        .insert("sms:+19995550000".into());
    let mut d = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 10);
    assert_eq!(
        d.decide(&ready("A", "+12125550100"), now()),
        RowDecision::Send
    );
    assert_eq!(d.take_recipient_id().as_deref(), Some("sms:+12125550100"));
    assert_eq!(d.take_recipient_id(), None);
    assert_eq!(
        d.decide(&ready("B", "+19995550000"), now()),
        RowDecision::Suppressed
    );
    assert_eq!(d.take_recipient_id(), None);
}

/// A plan counts the sends it has already decided against the frequency caps: with a policy
/// cap of 3 marketing SMS per day and nothing in the ledger, the fourth message to one number
/// is held, whether the first three came from this campaign or an earlier one, until a day
/// after the cap clock; another number is not affected. Without the shared count (as `apply`
/// runs, where the claims count) the decider holds nothing.
#[test]
fn a_plan_counts_its_own_sends_against_frequency_caps() {
    use herald::plan::campaigns::PlannedSends;
    use herald::spec::Category;
    use herald::spec::caps::{CapLimit, CapRules, FrequencyCap};
    use herald::spec::state_rules::StateRules;
    let ws = workspace();
    let c = any_time(campaign(&ws));
    let facts = MemoryFacts::new(pseudonymise);
    let policy = [FrequencyCap {
        channel: Channel::Sms,
        category: Category::Marketing,
        limit: CapLimit {
            max: 3,
            per: jiff::SignedDuration::from_hours(24),
        },
    }];
    let states = StateRules::built_in();
    let caps = CapRules::new(&policy, &states);
    let mut planned = PlannedSends::default();
    let mut first = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100)
        .frequency_caps(caps, Category::Marketing)
        .planned_sends(&mut planned);
    for key in ["A1", "A2"] {
        assert_eq!(
            first.decide(&ready(key, "+12125550100"), now()),
            RowDecision::Send
        );
    }
    drop(first);
    let mut second = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100)
        .frequency_caps(caps, Category::Marketing)
        .planned_sends(&mut planned);
    let opens = now() + jiff::SignedDuration::from_hours(24);
    assert_eq!(
        second.decide(&ready("B1", "+12125550100"), now()),
        RowDecision::Send
    );
    assert_eq!(
        second.decide(&ready("B2", "+12125550100"), now()),
        RowDecision::FrequencyCap(opens)
    );
    assert_eq!(
        second.decide(&ready("B3", "+12125550199"), now()),
        RowDecision::Send
    );
    // Transactional messages are another count.
    let mut other = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100)
        .frequency_caps(caps, Category::Transactional)
        .planned_sends(&mut planned);
    assert_eq!(
        other.decide(&ready("T1", "+12125550100"), now()),
        RowDecision::Send
    );
    // Without a shared count, nothing in the ledger holds nothing.
    let mut alone = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, 100)
        .frequency_caps(caps, Category::Marketing);
    for key in ["C1", "C2", "C3", "C4"] {
        assert_eq!(
            alone.decide(&ready(key, "+12125550100"), now()),
            RowDecision::Send
        );
    }
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<(u8, u8)>,
    ledger: Vec<(u8, u8)>,
    suppressed: Vec<u8>,
    reached: Vec<u8>,
    cap: u64,
    by_address: bool,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0u8..20, 0u8..8), 0..40),
        prop::collection::vec((0u8..20, 0u8..6), 0..10),
        prop::collection::vec(0u8..8, 0..4),
        prop::collection::vec(0u8..8, 0..4),
        0u64..10,
        any::<bool>(),
    )
        .prop_map(
            |(rows, ledger, suppressed, reached, cap, by_address)| Case {
                rows,
                ledger,
                suppressed,
                reached,
                cap,
                by_address,
            },
        )
}

const STATES: [SendState; 6] = [
    SendState::Pending,
    SendState::Dispatching,
    SendState::Sent,
    SendState::Failed,
    SendState::Unknown,
    SendState::Suppressed,
];

fn phone(n: u8) -> String {
    format!("+1212555{:04}", u16::from(n))
}

fn run(case: &Case, cap: u64) -> (Vec<RowDecision>, herald::plan::KeyDigest) {
    let ws = workspace();
    let mut c = any_time(campaign(&ws));
    if case.by_address {
        c.dedupe_by = DedupeBy::Address;
    }
    let mut facts = MemoryFacts::new(pseudonymise);
    for (k, s) in &case.ledger {
        facts
            .states
            .insert(format!("K{k}"), STATES[usize::from(*s)]);
    }
    for p in &case.suppressed {
        facts
            .suppressed_on
            .entry(Channel::Sms)
            .or_default()
            .insert(pseudonymise(Channel::Sms, &phone(*p)));
    }
    for p in &case.reached {
        facts.reached.insert(pseudonymise(Channel::Sms, &phone(*p)));
    }
    let mut d = RowDecider::new(&c, LocalRules::none(), Channel::Sms, &facts, cap);
    let decisions = case
        .rows
        .iter()
        .map(|(k, p)| d.decide(&ready(&format!("K{k}"), &phone(*p)), now()))
        .collect();
    (decisions, d.key_digest())
}

proptest! {
    /// The cap bounds the sends; final ledger rows, suppressed and already-reached recipients
    /// are never sent; the reviewed key set does not depend on the cap.
    #[test]
    fn the_send_decision_keeps_its_invariants(case in cases()) {
        let (decisions, digest) = run(&case, case.cap);
        let sends = decisions.iter().filter(|d| **d == RowDecision::Send).count() as u64;
        prop_assert!(sends <= case.cap);
        let ledger: BTreeMap<String, SendState> = case
            .ledger
            .iter()
            .map(|(k, s)| (format!("K{k}"), STATES[usize::from(*s)]))
            .collect();
        for ((k, p), d) in case.rows.iter().zip(&decisions) {
            if *d != RowDecision::Send {
                continue;
            }
            let key = format!("K{k}");
            prop_assert!(ledger.get(&key).is_none_or(|s| !s.is_final(Redo::NONE)), "{key} sent from {:?}", ledger.get(&key));
            prop_assert!(!case.suppressed.contains(p), "suppressed {p} sent");
            if case.by_address && !ledger.contains_key(&key) {
                prop_assert!(!case.reached.contains(p), "reached {p} sent again");
            }
        }
        let (_, uncapped) = run(&case, u64::MAX);
        prop_assert_eq!(digest, uncapped);
        // Deterministic: the same inputs give the same decisions.
        prop_assert_eq!(run(&case, case.cap).0, decisions);
    }
}

// ----------------------------------------------------------------------------------------
// Template reconcile.

fn remote_of(ws: &Workspace, id: &str, version: u32) -> RemoteResponse {
    let t = ws.templates.values().next().unwrap();
    RemoteResponse {
        id: id.to_owned(),
        version,
        content: desired_content(t),
    }
}

fn bound(name: &str, r: &RemoteResponse) -> BTreeMap<String, TemplateBinding> {
    BTreeMap::from([(
        name.to_owned(),
        TemplateBinding {
            name: name.to_owned(),
            response_id: r.id.clone(),
            version: i64::from(r.version),
            remote_hash: content_hash(&r.content),
        },
    )])
}

#[test]
fn reconcile_classifies_create_noop_update_drift_and_orphans() {
    let ws = workspace();
    let t = ws.templates.values().next().unwrap();
    let name = t.name.as_str();
    let state = |in_library: Vec<RemoteResponse>| RemoteState {
        library_id: Some("lib".into()),
        by_id: in_library
            .iter()
            .map(|r| (r.id.clone(), Some(r.clone())))
            .collect(),
        in_library,
        ..RemoteState::default()
    };
    let action = |remote: &RemoteState, b: &BTreeMap<String, TemplateBinding>| {
        reconcile(ws.templates.values(), remote, b).0[0].action
    };
    // Nothing remote: create.
    assert_eq!(
        action(&state(vec![]), &BTreeMap::new()),
        TemplateAction::Create
    );
    // Same content: no-op, bound or adopted by name.
    let same = remote_of(&ws, "r1", 3);
    assert_eq!(
        action(&state(vec![same.clone()]), &bound(name, &same)),
        TemplateAction::Noop
    );
    assert_eq!(
        action(&state(vec![same.clone()]), &BTreeMap::new()),
        TemplateAction::Noop
    );
    // Remote text differs from the desired one, as herald last wrote it: update.
    let mut old = same.clone();
    old.content.texts[0].content = "Old text".into();
    assert_eq!(
        action(&state(vec![old.clone()]), &bound(name, &old)),
        TemplateAction::Update
    );
    // Remote changed since herald's write: drift.
    assert_eq!(
        action(&state(vec![old]), &bound(name, &same)),
        TemplateAction::Drift
    );
    // A response no template claims is an orphan.
    let mut other = remote_of(&ws, "r2", 1);
    other.content.name = "someone-elses".into();
    let (_, orphans) = reconcile(
        ws.templates.values(),
        &state(vec![same.clone(), other]),
        &bound(name, &same),
    );
    assert_eq!(
        orphans.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec!["r2"]
    );
}

proptest! {
    /// The canonical hash ignores text order, CRLF line ends and a leading BOM, and changes
    /// with any other change to a text.
    #[test]
    fn content_hash_is_canonical(body in "[a-zA-Z {}\n]{0,40}", extra in "[a-z]{1,5}") {
        let ws = workspace();
        let mut a = remote_of(&ws, "r", 1).content;
        a.texts[0].content = body.clone();
        let mut b = a.clone();
        b.texts[0].content = format!("\u{FEFF}{}", body.replace('\n', "\r\n"));
        prop_assert_eq!(content_hash(&a), content_hash(&b));
        let mut c = a.clone();
        c.texts[0].content.push_str(&extra);
        prop_assert_ne!(content_hash(&a), content_hash(&c));
        let mut d = a.clone();
        d.texts.push(d.texts[0].clone());
        d.texts[0].content = "other".into();
        let mut e = d.clone();
        e.texts.reverse();
        prop_assert_eq!(content_hash(&d), content_hash(&e));
    }
}

proptest! {
    /// Output masking (the pure core's) and stored masking (the ledger's) agree.
    #[test]
    fn output_and_ledger_masks_agree(s in "\\PC{0,24}") {
        prop_assert_eq!(herald::spec::mask_phone(&s), herald_ledger::mask_phone(&s));
        prop_assert_eq!(herald::spec::mask_email(&s), herald_ledger::mask_email(&s));
    }
}
