//! The keyword table (compliance reference §3.3) and classification properties.

use herald_inbound::{InboundAction, SUPPRESS_KEYWORDS, classify};
use proptest::prelude::*;

use InboundAction::{Help, None as Nothing, Resubscribe, Suppress};

struct Case {
    text: &'static str,
    extras: &'static [&'static str],
    action: InboundAction,
    flagged: bool,
    keyword: Option<&'static str>,
}

const fn case(
    text: &'static str,
    action: InboundAction,
    flagged: bool,
    keyword: Option<&'static str>,
) -> Case {
    Case {
        text,
        extras: &[],
        action,
        flagged,
        keyword,
    }
}

const fn with_extras(
    text: &'static str,
    extras: &'static [&'static str],
    action: InboundAction,
    flagged: bool,
    keyword: Option<&'static str>,
) -> Case {
    Case {
        text,
        extras,
        action,
        flagged,
        keyword,
    }
}

const STOP: Option<&str> = Some("STOP");

const TABLE: &[Case] = &[
    // Exact opt-out keywords: case, whitespace and punctuation around them do not matter.
    case("STOP", Suppress, false, STOP),
    case("stop", Suppress, false, STOP),
    case("  Stop.  ", Suppress, false, STOP),
    case("STOP!!!", Suppress, false, STOP),
    case("\tstop\r\n", Suppress, false, STOP),
    case("\"stop\"", Suppress, false, STOP),
    case("Stop 🛑", Suppress, false, STOP),
    case("StopAll", Suppress, false, Some("STOPALL")),
    case("unsubscribe", Suppress, false, Some("UNSUBSCRIBE")),
    case("Cancel", Suppress, false, Some("CANCEL")),
    case("end", Suppress, false, Some("END")),
    case("QUIT", Suppress, false, Some("QUIT")),
    case("revoke", Suppress, false, Some("REVOKE")),
    case("optout", Suppress, false, Some("OPTOUT")),
    case("opt out", Suppress, false, Some("OPT OUT")),
    case("Opt-Out", Suppress, false, Some("OPT OUT")),
    case("OPT_OUT", Suppress, false, Some("OPT OUT")),
    case("opt   -   out!", Suppress, false, Some("OPT OUT")),
    // Compatibility forms and invisible characters: NFKC and the invisible filter handle them.
    case("ＳＴＯＰ", Suppress, false, STOP),
    case("𝐒𝐓𝐎𝐏", Suppress, false, STOP),
    case("ⓢⓣⓞⓟ", Suppress, false, STOP),
    case("ST\u{200B}OP", Suppress, false, STOP),
    case("\u{FEFF}stop\u{00AD}", Suppress, false, STOP),
    // Whole words inside a longer reply: suppress and flag for review.
    case("please stop texting me", Suppress, true, STOP),
    case("Stop please", Suppress, true, STOP),
    case(
        "I want to opt out of these",
        Suppress,
        true,
        Some("OPT OUT"),
    ),
    case("pls UNSUBSCRIBE me!!", Suppress, true, Some("UNSUBSCRIBE")),
    case("STOP START", Suppress, true, STOP),
    case("stop, then start", Suppress, true, STOP),
    case("un-stop", Suppress, true, STOP),
    case(
        "see you at the end of the week",
        Suppress,
        true,
        Some("END"),
    ),
    // Spelled with separators between the letters.
    case("S T O P", Suppress, true, STOP),
    case("s.t.o.p", Suppress, true, STOP),
    case("o p t o u t", Suppress, true, Some("OPTOUT")),
    // Look-alikes: suppress, always flagged.
    case("ЅТОР", Suppress, true, STOP),
    case("SТOP", Suppress, true, STOP),
    case("please ѕтор", Suppress, true, STOP),
    case("ΕΝD", Suppress, true, Some("END")),
    case("stöp", Suppress, true, STOP),
    case("ST0P", Suppress, true, STOP),
    case("QUİT", Suppress, true, Some("QUIT")),
    // Not opt-outs: a keyword only as part of a longer word.
    case("stopped by the store yesterday", Nothing, false, None),
    case("unstoppable", Nothing, false, None),
    case("the weekend was great", Nothing, false, None),
    case("backend outage?", Nothing, false, None),
    case("STOPP", Nothing, false, None),
    // Re-subscribe: exact only, never from a sentence or a look-alike.
    case("START", Resubscribe, false, Some("START")),
    case("unstop", Resubscribe, false, Some("UNSTOP")),
    case(" Start. ", Resubscribe, false, Some("START")),
    case("please start again", Nothing, false, None),
    case("ЅТАRТ", Nothing, false, None),
    case("yes", Nothing, false, None),
    // Help: exact only.
    case("HELP", Help, false, Some("HELP")),
    case("info?", Help, false, Some("INFO")),
    case("can you help me", Nothing, false, None),
    // Nothing at all.
    case("", Nothing, false, None),
    case("   ...  ", Nothing, false, None),
    case("👍", Nothing, false, None),
    case("Thanks, see you Tuesday", Nothing, false, None),
    // Configured extra opt-out keywords behave like the built-ins.
    with_extras("REMOVE", &["remove"], Suppress, false, Some("REMOVE")),
    with_extras(
        "please remove me",
        &["remove"],
        Suppress,
        true,
        Some("REMOVE"),
    ),
    case("REMOVE", Nothing, false, None),
    with_extras("Arrêt", &["ARRÊT"], Suppress, false, Some("ARRÊT")),
    with_extras("ARRET", &["arrêt"], Suppress, true, Some("ARRÊT")),
    with_extras("no more!", &["no more"], Suppress, false, Some("NO MORE")),
    with_extras("СТОП", &["стоп"], Suppress, false, Some("СТОП")),
];

#[test]
fn keyword_table() {
    assert!(TABLE.len() >= 30);
    let mut failures = Vec::new();
    for c in TABLE {
        let extras: Vec<String> = c.extras.iter().map(|s| (*s).to_owned()).collect();
        let got = classify(c.text, &extras);
        if got.action != c.action || got.flagged != c.flagged || got.keyword.as_deref() != c.keyword
        {
            failures.push(format!(
                "{:?} (extras {:?}): expected {:?} flagged={} keyword={:?}, got {:?}",
                c.text, c.extras, c.action, c.flagged, c.keyword, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A keyword spelled with a random case per character.
fn any_case(keyword: &str, mask: &[bool]) -> String {
    keyword
        .chars()
        .zip(mask.iter().cycle())
        .map(|(c, upper)| {
            if *upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn classify_never_panics_and_is_consistent(text in any::<String>(), extra in "\\PC{0,12}") {
        let got = classify(&text, &[extra]);
        prop_assert_eq!(got.keyword.is_some(), got.action != InboundAction::None);
        if got.flagged {
            prop_assert_eq!(got.action, InboundAction::Suppress);
        }
    }

    #[test]
    fn a_lone_suppress_keyword_in_any_case_suppresses(
        index in 0..SUPPRESS_KEYWORDS.len(),
        mask in proptest::collection::vec(any::<bool>(), 1..16),
        before in "[ \t\r\n.,;:!?\"'()*-]{0,4}",
        after in "[ \t\r\n.,;:!?\"'()*-]{0,4}",
    ) {
        let text = format!("{before}{}{after}", any_case(SUPPRESS_KEYWORDS[index], &mask));
        let got = classify(&text, &[]);
        prop_assert_eq!(got.action, InboundAction::Suppress, "{:?}", text);
        prop_assert!(!got.flagged, "{:?}", text);
    }

    #[test]
    fn a_suppress_keyword_as_a_word_in_a_sentence_suppresses(
        index in 0..SUPPRESS_KEYWORDS.len(),
        mask in proptest::collection::vec(any::<bool>(), 1..16),
        words in proptest::collection::vec("[a-z]{1,8}", 1..6),
        at in 0usize..6,
    ) {
        let mut words = words;
        let at = at.min(words.len());
        words.insert(at, any_case(SUPPRESS_KEYWORDS[index], &mask));
        let text = words.join(" ");
        let got = classify(&text, &[]);
        prop_assert_eq!(got.action, InboundAction::Suppress, "{:?}", text);
        prop_assert!(got.flagged, "{:?}", text);
    }
}
