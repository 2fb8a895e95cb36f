//! Opt-out, re-subscribe and help keywords in inbound SMS replies.
//!
//! Owns: deciding what an inbound text asks for. Pure: no I/O, no clock, no logging; the
//! receiver decides what to record. Invariant: when in doubt the answer is *suppress, flagged
//! for review* — a missed opt-out is a regulatory violation (TCPA revocation rules), an extra
//! suppression is a lost message.
//!
//! Matching (compliance reference §3.3):
//!
//! 1. The text is Unicode-normalised (NFKC), lowercased and normalised again, so fullwidth
//!    (`ＳＴＯＰ`), mathematical (`𝐒𝐓𝐎𝐏`) and other compatibility forms become plain letters.
//!    Invisible format characters (zero-width space and joiners, soft hyphen, BOM, word
//!    joiner, variation selectors) are removed, so `ST\u{200B}OP` is `STOP`.
//! 2. The text is split into words: runs of letters, digits and combining marks. Everything
//!    else (whitespace, punctuation, emoji) separates words, so punctuation around or between
//!    words is ignored and `OPT-OUT`, `opt out` and `Opt_Out!` are the same two words.
//! 3. Suppress: the words are exactly an opt-out keyword → `Suppress`, not flagged. An opt-out
//!    keyword appearing as whole words inside a longer reply (`please stop texting me`), or a
//!    reply whose letters spell one once separators are dropped (`S T O P`, `s.t.o.p`) →
//!    `Suppress`, flagged for review. A word that merely *contains* a keyword does not count:
//!    `stopped`, `ending`, `unstoppable` and `backend` are not opt-outs.
//! 4. Re-subscribe (`START`, `UNSTOP`) and help (`HELP`, `INFO`) only on an exact match, and
//!    only if no opt-out keyword appears anywhere: re-subscribing is never inferred from a
//!    sentence, and `stop, then start` stays suppressed. `YES` is not a re-subscribe keyword:
//!    §3.3 allows it only as a reply to a confirmation prompt, which herald does not send.
//! 5. Look-alikes: if nothing matched, each word is reduced to a *skeleton* — diacritics
//!    removed and Cyrillic/Greek letters that look like Latin ones mapped to them (`ЅТОР`,
//!    `ѕтор`, `stöp`, `ST0P`) — and the opt-out rules of step 3 run again on the skeletons.
//!    A skeleton match suppresses and is always flagged: a confusable spelling may be a
//!    phone keyboard's doing or a deliberate spoof, and only the conservative reading is safe.
//!    Skeletons never re-subscribe.
//!
//! Known consequence of the conservative reading (by design, and why `flagged` exists):
//! everyday sentences that use a keyword as a word (`see you at the end of the week`,
//! `I had to cancel my appointment`, `non-stop`) suppress the sender and are flagged, so a
//! human can review and lift them with `herald suppress remove`.

use herald_ledger::InboundAction;
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

/// The built-in opt-out keywords (FCC list plus platform defaults, compliance §3.3).
pub const SUPPRESS_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
];

/// The built-in re-subscribe keywords.
pub const RESUBSCRIBE_KEYWORDS: &[&str] = &["START", "UNSTOP"];

/// The built-in help keywords.
pub const HELP_KEYWORDS: &[&str] = &["HELP", "INFO"];

/// What an inbound text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The action to record.
    pub action: InboundAction,
    /// The keyword was not the whole reply (found inside a longer reply, spelled with
    /// separators, or spelled with look-alike characters): record it, and have a human review.
    pub flagged: bool,
    /// The keyword that decided the action, in its canonical upper-case spelling (`STOP`,
    /// `OPT OUT`, or a configured extra keyword); `None` when nothing matched.
    pub keyword: Option<String>,
}

impl Classification {
    fn none() -> Classification {
        Classification {
            action: InboundAction::None,
            flagged: false,
            keyword: None,
        }
    }

    fn hit(action: InboundAction, flagged: bool, keyword: &Keyword) -> Classification {
        Classification {
            action,
            flagged,
            keyword: Some(keyword.canonical.clone()),
        }
    }
}

/// One keyword, pre-split into normalised words and into look-alike skeletons.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyword {
    canonical: String,
    plain: Forms,
    skeleton: Forms,
}

/// A word list and its concatenation (for `S T O P`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Forms {
    words: Vec<String>,
    joined: String,
}

impl Forms {
    fn new(words: Vec<String>) -> Forms {
        Forms {
            joined: words.concat(),
            words,
        }
    }
}

impl Keyword {
    fn new(spelling: &str) -> Option<Keyword> {
        let words = words(&fold(spelling));
        if words.is_empty() {
            return None;
        }
        let mut skeletons: Vec<String> = self::words(&visible_nfkc(spelling))
            .iter()
            .map(|w| skeleton(w))
            .collect();
        if skeletons.is_empty() {
            skeletons.clone_from(&words);
        }
        Some(Keyword {
            canonical: spelling.trim().to_uppercase(),
            plain: Forms::new(words),
            skeleton: Forms::new(skeletons),
        })
    }

    fn forms(&self, skeleton: bool) -> &Forms {
        if skeleton {
            &self.skeleton
        } else {
            &self.plain
        }
    }
}

/// The compiled keyword lists: the built-ins plus configured extra opt-out keywords.
///
/// Build it once (the receiver keeps one) and call [`KeywordSet::classify`] per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordSet {
    suppress: Vec<Keyword>,
    resubscribe: Vec<Keyword>,
    help: Vec<Keyword>,
}

impl Default for KeywordSet {
    fn default() -> KeywordSet {
        KeywordSet::new(&[])
    }
}

impl KeywordSet {
    /// The built-in lists plus `extra_suppress` opt-out keywords (e.g. `REMOVE`, `ARRET`,
    /// `NO MORE`). Extras are matched exactly like the built-ins; an extra that contains no
    /// letter or digit is ignored.
    pub fn new(extra_suppress: &[String]) -> KeywordSet {
        KeywordSet {
            suppress: compile(
                SUPPRESS_KEYWORDS
                    .iter()
                    .copied()
                    .chain(extra_suppress.iter().map(String::as_str)),
            ),
            resubscribe: compile(RESUBSCRIBE_KEYWORDS.iter().copied()),
            help: compile(HELP_KEYWORDS.iter().copied()),
        }
    }

    /// Classifies one inbound text (see the module documentation for the rules).
    pub fn classify(&self, text: &str) -> Classification {
        let words = words(&fold(text));
        if words.is_empty() {
            return Classification::none();
        }
        if let Some(c) = self.opt_out(&words, false) {
            return c;
        }
        if let Some(k) = self.resubscribe.iter().find(|k| k.plain.words == words) {
            return Classification::hit(InboundAction::Resubscribe, false, k);
        }
        if let Some(k) = self.help.iter().find(|k| k.plain.words == words) {
            return Classification::hit(InboundAction::Help, false, k);
        }
        let skeletons: Vec<String> = self::words(&visible_nfkc(text))
            .iter()
            .map(|w| skeleton(w))
            .collect();
        if let Some(c) = self.opt_out(&skeletons, true) {
            return c;
        }
        Classification::none()
    }

    /// The opt-out rules on a word list; `skeleton` compares look-alike skeletons and flags
    /// every match.
    fn opt_out(&self, words: &[String], skeleton: bool) -> Option<Classification> {
        let exact = self
            .suppress
            .iter()
            .find(|k| k.forms(skeleton).words == words);
        if let Some(k) = exact {
            return Some(Classification::hit(InboundAction::Suppress, skeleton, k));
        }
        let inside = self.suppress.iter().find(|k| {
            let kw = &k.forms(skeleton).words;
            !kw.is_empty() && words.windows(kw.len()).any(|w| w == kw.as_slice())
        });
        if let Some(k) = inside {
            return Some(Classification::hit(InboundAction::Suppress, true, k));
        }
        let joined = words.concat();
        self.suppress
            .iter()
            .find(|k| k.forms(skeleton).joined == joined)
            .map(|k| Classification::hit(InboundAction::Suppress, true, k))
    }
}

/// Compiles keyword spellings, dropping empty ones and spellings with the same words.
fn compile<'a>(spellings: impl Iterator<Item = &'a str>) -> Vec<Keyword> {
    let mut out: Vec<Keyword> = Vec::new();
    for k in spellings.filter_map(Keyword::new) {
        if !out.iter().any(|seen| seen.plain == k.plain) {
            out.push(k);
        }
    }
    out
}

/// Classifies one inbound text with the built-in keywords plus `extra_keywords` (extra
/// opt-out keywords from the configuration). See the module documentation for the rules.
pub fn classify(text: &str, extra_keywords: &[String]) -> Classification {
    KeywordSet::new(extra_keywords).classify(text)
}

/// NFKC, lowercase, NFKC again (an approximation of `NFKC_Casefold` that is exact for every
/// keyword), with invisible format characters removed.
fn fold(text: &str) -> String {
    visible_nfkc(text).to_lowercase().nfkc().collect()
}

/// NFKC with invisible format characters removed (case kept, for look-alike skeletons).
fn visible_nfkc(text: &str) -> String {
    text.nfkc().filter(|c| !is_invisible(*c)).collect()
}

/// Characters that render as nothing and may be slipped inside a word.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'              // soft hyphen
            | '\u{034F}'        // combining grapheme joiner
            | '\u{061C}'        // Arabic letter mark
            | '\u{115F}'..='\u{1160}' // Hangul fillers
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, (non-)joiner, direction marks
            | '\u{202A}'..='\u{202E}' // bidi embedding and override
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
            | '\u{3164}'        // Hangul filler
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}'        // byte order mark / zero-width no-break space
            | '\u{FFA0}'        // halfwidth Hangul filler
            | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

/// Splits folded text into words: maximal runs of letters, digits and combining marks.
fn words(folded: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in folded.chars() {
        if c.is_alphanumeric() || is_combining_mark(c) {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A word (NFKC, case kept) with diacritics removed and Latin look-alikes mapped to Latin
/// letters, lowercased. Capitals are mapped before lowercasing because some only look Latin
/// in upper case (Greek `Ν` is an N, its lowercase `ν` looks like a v).
fn skeleton(word: &str) -> String {
    let upper_mapped: String = word
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| look_alike(UPPER_LOOK_ALIKES, c))
        .collect();
    upper_mapped
        .to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| look_alike(LOWER_LOOK_ALIKES, c))
        .collect()
}

/// Capital Cyrillic and Greek letters drawn like a Latin capital, by that capital.
const UPPER_LOOK_ALIKES: &[(char, &str)] = &[
    ('A', "АΑ"),
    ('B', "ВΒ"),
    ('C', "СϹ"),
    ('E', "ЕΕ"),
    ('H', "НΗ"),
    ('I', "ІΙӀ"),
    ('J', "Ј"),
    ('K', "КΚ"),
    ('M', "МΜ"),
    ('N', "Ν"),
    ('O', "ОΟ"),
    ('P', "РΡ"),
    ('S', "Ѕ"),
    ('T', "ТΤ"),
    ('X', "ХΧ"),
    ('Y', "ҮΥ"),
    ('Z', "Ζ"),
];

/// Small Cyrillic and Greek letters (and a few Latin variants and the digit zero) drawn like
/// a small Latin letter, by that letter.
const LOWER_LOOK_ALIKES: &[(char, &str)] = &[
    ('a', "аαɑ"),
    ('b', "вьβ"),
    ('c', "сϲ"),
    ('d', "ԁ"),
    ('e', "еєε"),
    ('g', "ɡ"),
    ('h', "һн"),
    ('i', "іӏιı"),
    ('j', "јȷ"),
    ('k', "кκ"),
    ('m', "м"),
    ('n', "η"),
    ('o', "оөο0"),
    ('p', "рρ"),
    ('q', "ԛ"),
    ('s', "ѕ"),
    ('t', "тτ"),
    ('u', "υμ"),
    ('v', "ѵν"),
    ('w', "ԝ"),
    ('x', "хχ"),
    ('y', "уүγ"),
];

fn look_alike(table: &[(char, &str)], c: char) -> char {
    table
        .iter()
        .find(|(_, alikes)| alikes.contains(c))
        .map_or(c, |(latin, _)| *latin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_punctuation_and_keep_combining_marks() {
        assert_eq!(words(&fold("  Opt-Out!! ")), ["opt", "out"]);
        assert_eq!(words(&fold("s\u{0336}top")), ["s\u{0336}top"]);
        assert_eq!(words(&fold("ST\u{200B}OP")), ["stop"]);
        assert!(words(&fold(" ...!? ")).is_empty());
    }

    #[test]
    fn skeleton_maps_cyrillic_and_drops_diacritics() {
        assert_eq!(skeleton("ЅТОР"), "stop");
        assert_eq!(skeleton("ѕтор"), "stop");
        assert_eq!(
            skeleton("ΕΝD"),
            "end",
            "Greek capital N is mapped before lowercasing"
        );
        assert_eq!(skeleton("stöp"), "stop");
        assert_eq!(skeleton("hello"), "hello");
    }

    #[test]
    fn keywords_are_deduplicated_by_their_words() {
        let set = KeywordSet::default();
        let opt_out: Vec<_> = set
            .suppress
            .iter()
            .filter(|k| k.plain.joined == "optout")
            .map(|k| k.canonical.as_str())
            .collect();
        // OPTOUT is one word; OPT OUT and OPT-OUT are the same two words.
        assert_eq!(opt_out, ["OPTOUT", "OPT OUT"]);
        assert_eq!(KeywordSet::new(&["  ".into(), "!!".into()]), set);
    }
}
