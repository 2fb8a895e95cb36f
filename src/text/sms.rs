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

fn gsm_cost(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
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
    let non_gsm: Vec<char> = {
        let mut v: Vec<char> = text.chars().filter(|c| gsm_cost(*c).is_none()).collect();
        v.sort_unstable();
        v.dedup();
        v.truncate(5);
        v
    };
    if non_gsm.is_empty() {
        let costs: Vec<usize> = text.chars().map(|c| gsm_cost(c).unwrap_or(1)).collect();
        let units = costs.iter().sum();
        SmsInfo {
            encoding: Encoding::Gsm7,
            chars,
            units,
            segments: pack(&costs, units, 160, 153),
            non_gsm,
        }
    } else {
        let costs: Vec<usize> = text.chars().map(char::len_utf16).collect();
        SmsInfo {
            encoding: Encoding::Ucs2,
            chars,
            units: chars,
            segments: pack(&costs, chars, 70, 67),
            non_gsm,
        }
    }
}

fn pack(costs: &[usize], total: usize, single: usize, multi: usize) -> usize {
    if total == 0 {
        return 1;
    }
    if total <= single {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for &c in costs {
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
