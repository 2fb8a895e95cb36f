//! SMS encoding and segmentation (3GPP TS 23.038): a text is GSM-7 when every character is in
//! the GSM 03.38 default alphabet or its extension table (extension characters take two
//! septets); otherwise it is UCS-2 (UTF-16 code units). Single messages hold 160 septets or 70
//! units; concatenated segments 153 or 67, and a character is never split across segments.

use serde::Serialize;

/// The longest `textBody` the Genesys agentless API accepts for SMS.
pub const AGENTLESS_SMS_MAX_CHARS: usize = 765;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// SMS character encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (UTF-16).
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        })
    }
}

/// What an SMS text costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsInfo {
    /// The encoding the text needs.
    pub encoding: Encoding,
    /// Characters as the agentless API counts them (UTF-16 code units).
    pub chars: usize,
    /// Encoded units: septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Number of SMS segments.
    pub segments: usize,
    /// Characters that force UCS-2 (at most five, for messages).
    pub non_gsm: Vec<char>,
}

/// Common characters outside GSM-7, with their Unicode names and the GSM-7 text that reads
/// the same (typographic quotes and dashes from word processors, mostly).
const REPLACEMENTS: &[(char, &str, &str)] = &[
    ('\u{2018}', "left single quotation mark", "'"),
    (
        '\u{2019}',
        "right single quotation mark (curly apostrophe)",
        "'",
    ),
    ('\u{201A}', "single low-9 quotation mark", "'"),
    ('\u{201B}', "single high-reversed-9 quotation mark", "'"),
    ('\u{2032}', "prime", "'"),
    ('\u{201C}', "left double quotation mark", "\""),
    ('\u{201D}', "right double quotation mark", "\""),
    ('\u{201E}', "double low-9 quotation mark", "\""),
    ('\u{2033}', "double prime", "\""),
    (
        '\u{00AB}',
        "left-pointing double angle quotation mark",
        "\"",
    ),
    (
        '\u{00BB}',
        "right-pointing double angle quotation mark",
        "\"",
    ),
    ('\u{2010}', "hyphen", "-"),
    ('\u{2011}', "non-breaking hyphen", "-"),
    ('\u{2012}', "figure dash", "-"),
    ('\u{2013}', "en dash", "-"),
    ('\u{2014}', "em dash", "-"),
    ('\u{2015}', "horizontal bar", "-"),
    ('\u{2212}', "minus sign", "-"),
    ('\u{2026}', "horizontal ellipsis", "..."),
    ('\u{00A0}', "no-break space", " "),
    ('\u{2007}', "figure space", " "),
    ('\u{2009}', "thin space", " "),
    ('\u{202F}', "narrow no-break space", " "),
    ('\u{200B}', "zero width space", ""),
    (
        '\u{FEFF}',
        "zero width no-break space (byte order mark)",
        "",
    ),
    ('\u{2022}', "bullet", "*"),
    ('\u{00B7}', "middle dot", "*"),
    ('\u{2122}', "trade mark sign", "TM"),
    ('\u{00A9}', "copyright sign", "(c)"),
    ('\u{00AE}', "registered sign", "(R)"),
    ('\u{00B0}', "degree sign", "deg"),
    ('\u{00D7}', "multiplication sign", "x"),
    ('\u{2192}', "rightwards arrow", "->"),
    ('\u{00E1}', "latin small letter a with acute", "a"),
    ('\u{00ED}', "latin small letter i with acute", "i"),
    ('\u{00F3}', "latin small letter o with acute", "o"),
    ('\u{00FA}', "latin small letter u with acute", "u"),
    ('\u{00E7}', "latin small letter c with cedilla", "c"),
    ('\u{00EA}', "latin small letter e with circumflex", "e"),
    ('\u{00E2}', "latin small letter a with circumflex", "a"),
];

/// Why a character forces UCS-2, for people: its code point, its name when known and the
/// GSM-7 text to write instead, e.g. `“’” U+2019 right single quotation mark (curly
/// apostrophe): write ' instead`. Characters without a GSM-7 look-alike (emoji, most
/// scripts) say so.
pub fn explain_non_gsm(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    let shown = if c.is_whitespace() || c.is_control() || matches!(c, '\u{200B}' | '\u{FEFF}') {
        code.clone()
    } else {
        format!("“{c}” {code}")
    };
    match REPLACEMENTS.iter().find(|(r, _, _)| *r == c) {
        Some((_, name, "")) => format!("{shown} {name}: delete it"),
        Some((_, name, " ")) => format!("{shown} {name}: write a plain space instead"),
        Some((_, name, with)) => format!("{shown} {name}: write {with} instead"),
        None => format!("{shown}: no GSM-7 equivalent; remove it to send as GSM-7"),
    }
}

/// Septets of each ASCII character in GSM-7 (0: not in the alphabet), read off the two tables
/// above at compile time: a message is mostly ASCII, and a linear search of the table per
/// character was the plan's hottest loop.
const ASCII_SEPTETS: [u8; 128] = {
    let mut table = [0u8; 128];
    let basic = GSM_BASIC.as_bytes();
    let mut i = 0;
    while i < basic.len() {
        // Bytes of multi-byte UTF-8 sequences are all >= 0x80: only ASCII characters land here.
        if basic[i] < 0x80 {
            table[basic[i] as usize] = 1;
        }
        i += 1;
    }
    let extension = GSM_EXTENSION.as_bytes();
    let mut i = 0;
    while i < extension.len() {
        if extension[i] < 0x80 {
            table[extension[i] as usize] = 2;
        }
        i += 1;
    }
    table
};

/// Septets `c` takes in GSM-7, or `None` when it needs UCS-2.
fn gsm_cost(c: char) -> Option<usize> {
    if c.is_ascii() {
        match ASCII_SEPTETS[c as usize] {
            0 => None,
            n => Some(usize::from(n)),
        }
    } else if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Measures an SMS text.
pub fn analyze_sms(text: &str) -> SmsInfo {
    let chars = text.encode_utf16().count();
    let gsm_units = text
        .chars()
        .try_fold(0usize, |units, c| gsm_cost(c).map(|n| units + n));
    if let Some(units) = gsm_units {
        SmsInfo {
            encoding: Encoding::Gsm7,
            chars,
            units,
            segments: pack(
                text.chars().map(|c| gsm_cost(c).unwrap_or(1)),
                units,
                160,
                153,
            ),
            non_gsm: Vec::new(),
        }
    } else {
        let mut non_gsm: Vec<char> = text.chars().filter(|c| gsm_cost(*c).is_none()).collect();
        non_gsm.sort_unstable();
        non_gsm.dedup();
        non_gsm.truncate(5);
        SmsInfo {
            encoding: Encoding::Ucs2,
            chars,
            units: chars,
            segments: pack(text.chars().map(char::len_utf16), chars, 70, 67),
            non_gsm,
        }
    }
}

fn pack(costs: impl Iterator<Item = usize>, total: usize, single: usize, multi: usize) -> usize {
    if total == 0 {
        return 1;
    }
    if total <= single {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for c in costs {
        if used + c > multi {
            segments += 1;
            used = 0;
        }
        used += c;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table lookup answers exactly as searching the two tables does, for every character
    /// of the Basic Multilingual Plane and a few beyond it.
    #[test]
    fn every_suggested_replacement_is_gsm7_and_every_listed_character_is_not() {
        for (c, name, with) in REPLACEMENTS {
            assert_eq!(
                analyze_sms(&c.to_string()).encoding,
                Encoding::Ucs2,
                "{name}"
            );
            assert_eq!(analyze_sms(with).encoding, Encoding::Gsm7, "{name}");
        }
        assert_eq!(
            explain_non_gsm('’'),
            "“’” U+2019 right single quotation mark (curly apostrophe): write ' instead"
        );
        assert_eq!(
            explain_non_gsm('\u{00A0}'),
            "U+00A0 no-break space: write a plain space instead"
        );
    }

    #[test]
    fn septet_lookup_matches_the_tables() {
        fn by_search(c: char) -> Option<usize> {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        }
        let beyond = ['\u{1F600}', '\u{10FFFF}', '\u{1D11E}'];
        for c in (0..=0xFFFFu32).filter_map(char::from_u32).chain(beyond) {
            assert_eq!(gsm_cost(c), by_search(c), "{:?} U+{:04X}", c, c as u32);
        }
    }

    #[test]
    fn gsm_boundaries() {
        assert_eq!(analyze_sms(&"a".repeat(160)).segments, 1);
        assert_eq!(analyze_sms(&"a".repeat(161)).segments, 2);
        assert_eq!(analyze_sms(&"a".repeat(306)).segments, 2);
        assert_eq!(analyze_sms(&"a".repeat(307)).segments, 3);
        assert_eq!(analyze_sms("hello").encoding, Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_count_twice() {
        let info = analyze_sms(&"€".repeat(80));
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(info.units, 160);
        assert_eq!(info.segments, 1);
        let info = analyze_sms(&format!("{}{}", "a".repeat(159), "{"));
        assert_eq!(info.units, 161);
        assert_eq!(info.segments, 2);
    }

    #[test]
    fn extension_character_is_not_split() {
        // 152 septets then an extension char: it does not fit the first 153-septet segment.
        let text = format!("{}{}{}", "a".repeat(152), "^", "a".repeat(10));
        let info = analyze_sms(&text);
        assert_eq!(info.units, 164);
        assert_eq!(info.segments, 2);
        let text = format!("{}^{}", "a".repeat(152), "a".repeat(152));
        // 152 + (2 -> next segment) : seg1=152, seg2=2+151=153, seg3=1
        assert_eq!(analyze_sms(&text).segments, 3);
    }

    #[test]
    fn ucs2_boundaries() {
        let info = analyze_sms(&"é".repeat(10));
        assert_eq!(info.encoding, Encoding::Gsm7, "é is in the GSM alphabet");
        let info = analyze_sms(&format!("{}✓", "a".repeat(69)));
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(info.segments, 1);
        assert_eq!(info.non_gsm, vec!['✓']);
        assert_eq!(
            explain_non_gsm('✓'),
            "“✓” U+2713: no GSM-7 equivalent; remove it to send as GSM-7"
        );
        assert_eq!(analyze_sms(&format!("{}✓", "a".repeat(70))).segments, 2);
        assert_eq!(analyze_sms(&"✓".repeat(134)).segments, 2);
        assert_eq!(analyze_sms(&"✓".repeat(135)).segments, 3);
    }

    #[test]
    fn surrogate_pairs_count_two_units() {
        let info = analyze_sms("🎉");
        assert_eq!(info.chars, 2);
        assert_eq!(info.units, 2);
        // 66 units, then an emoji (2 units) that cannot be split across 67-unit segments.
        let text = format!("{}🎉{}", "✓".repeat(66), "✓".repeat(10));
        assert_eq!(analyze_sms(&text).segments, 2);
    }
}
