//! Where an SMS splits into segments, character by character, for display. The encoding and
//! each character's cost come from [`crate::text::analyze_sms`] (the one source of truth for
//! GSM-7 and UCS-2); this module only lays the characters out in segments.

use crate::text::{Encoding, SmsInfo, analyze_sms};

/// One character of an SMS and where it lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsChar {
    /// The character.
    pub ch: char,
    /// 0-based segment it is sent in.
    pub segment: usize,
    /// It is outside the GSM-7 alphabet: it alone makes the message UCS-2.
    pub forces_ucs2: bool,
}

/// An SMS laid out in segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsLayout {
    /// The text's cost.
    pub info: SmsInfo,
    /// Units one segment holds: 160/70 for a single message, 153/67 when concatenated.
    pub per_segment: usize,
    /// Every character with its segment.
    pub chars: Vec<SmsChar>,
}

/// Cost of one character in `encoding`: septets (1, or 2 for the extension table) or UTF-16
/// units.
fn cost(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => analyze_sms(c.encode_utf8(&mut [0; 4])).units,
        Encoding::Ucs2 => c.len_utf16(),
    }
}

fn forces_ucs2(c: char) -> bool {
    analyze_sms(c.encode_utf8(&mut [0; 4])).encoding == Encoding::Ucs2
}

/// Lays out `text` as it is sent: a character is never split across two segments.
pub fn layout(text: &str) -> SmsLayout {
    let info = analyze_sms(text);
    let (single, multi) = match info.encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    let concatenated = info.units > single;
    let per_segment = if concatenated { multi } else { single };
    let mut segment = 0;
    let mut used = 0;
    let chars = text
        .chars()
        .map(|ch| {
            let c = cost(ch, info.encoding);
            if concatenated && used + c > multi {
                segment += 1;
                used = 0;
            }
            used += c;
            SmsChar {
                ch,
                segment,
                forces_ucs2: forces_ucs2(ch),
            }
        })
        .collect();
    SmsLayout {
        info,
        per_segment,
        chars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(l: &SmsLayout) -> usize {
        l.chars.last().map_or(1, |c| c.segment + 1)
    }

    #[test]
    fn gsm7_single_and_concatenated() {
        let l = layout(&"a".repeat(160));
        assert_eq!((segments(&l), l.per_segment), (1, 160));
        let l = layout(&"a".repeat(161));
        assert_eq!((segments(&l), l.per_segment), (2, 153));
        assert_eq!(l.chars[152].segment, 0);
        assert_eq!(l.chars[153].segment, 1);
    }

    #[test]
    fn ucs2_boundaries_and_highlight() {
        let text = format!("{}✓", "a".repeat(70));
        let l = layout(&text);
        assert_eq!(l.info.encoding, Encoding::Ucs2);
        assert_eq!((segments(&l), l.per_segment), (2, 67));
        assert_eq!(l.chars[66].segment, 0);
        assert_eq!(l.chars[67].segment, 1);
        assert_eq!(
            l.chars
                .iter()
                .filter(|c| c.forces_ucs2)
                .map(|c| c.ch)
                .collect::<Vec<_>>(),
            ['✓']
        );
    }

    #[test]
    fn extension_characters_are_not_split() {
        let text = format!("{}^{}", "a".repeat(152), "a".repeat(10));
        let l = layout(&text);
        assert_eq!(l.chars[152].ch, '^');
        assert_eq!(
            l.chars[152].segment, 1,
            "two septets do not fit the one left"
        );
    }

    #[test]
    fn agrees_with_the_segment_count_of_the_analysis() {
        for text in [
            String::new(),
            "hello".to_owned(),
            "€".repeat(81),
            "🎉".repeat(40),
            format!("{}🎉{}", "✓".repeat(66), "✓".repeat(10)),
            format!("{}^{}", "a".repeat(152), "a".repeat(152)),
        ] {
            let l = layout(&text);
            assert_eq!(segments(&l), l.info.segments, "{text}");
        }
    }
}
