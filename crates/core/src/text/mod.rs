//! Message text: `{{placeholder}}` parsing and rendering exactly as Genesys writes them, SMS
//! encoding and segment analysis, and content checks (card numbers). Pure functions.

pub mod diff;
pub mod fold;
mod placeholder;
mod sms;
pub mod visible;

pub use placeholder::*;
pub use sms::*;

/// Finds a number of 13–19 digits (single spaces or dashes allowed between digits) that
/// passes the Luhn check: a probable payment card number, which must never be sent (PCI DSS).
/// Returns the byte range of the first such run.
pub fn find_card_number(text: &str) -> Option<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Collect a run of digits possibly separated by single spaces or dashes.
        let start = i;
        let mut digits: Vec<u8> = Vec::new();
        let mut end = i;
        let mut j = i;
        while j < bytes.len() {
            if bytes[j].is_ascii_digit() {
                digits.push(bytes[j] - b'0');
                j += 1;
                end = j;
            } else if matches!(bytes[j], b' ' | b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
                && !digits.is_empty()
            {
                j += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            return Some(start..end);
        }
        i = end.max(i + 1);
    }
    None
}

/// The Luhn (mod 10) check over a digit slice.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        let visa: Vec<u8> = "4111111111111111".bytes().map(|b| b - b'0').collect();
        assert!(luhn_valid(&visa));
        let bad: Vec<u8> = "4111111111111112".bytes().map(|b| b - b'0').collect();
        assert!(!luhn_valid(&bad));
    }

    #[test]
    fn card_numbers_in_text() {
        assert!(find_card_number("card 4111 1111 1111 1111 thanks").is_some());
        assert!(find_card_number("card 4111-1111-1111-1111").is_some());
        assert!(find_card_number("order ORD-998877 shipped").is_none());
        assert!(find_card_number("call +12125550100 today").is_none());
        assert!(find_card_number("ref 4111111111111112").is_none());
        let text = "x 4111111111111111";
        assert_eq!(find_card_number(text), Some(2..18));
    }
}

/// Masks what looks like a phone number or an email address inside a text, for output that
/// must never show a full address (plan samples, `render`, the preview), and escapes the
/// characters that could hide text ([`visible::escape_hidden`]).
///
/// Phone numbers are `+` and 8–15 digits (international form, masked like `+1******0100`) or a
/// North American number in national form ([`national_phone_at`]): `212-555-0174`,
/// `(212) 555-0174`, `212.555.0174`, `212 555 0174`, `2125550174`, optionally after `1 `/`1-`,
/// of which every digit but the last four is masked, separators kept (`***-***-0174`).
pub fn mask_contacts(text: &str) -> String {
    visible::escape_hidden(&mask_addresses(text)).into_owned()
}

/// Whether `c` may end a digit group: the end of text or anything but a letter, a digit, `_`,
/// or a `-`/`.` that a digit follows (`212-555-0174-9` is a reference, not a phone).
fn ends_group(chars: &[char], at: usize) -> bool {
    match chars.get(at) {
        Some(c) if c.is_alphanumeric() || *c == '_' => false,
        Some('-' | '.' | '/') => !chars.get(at + 1).is_some_and(char::is_ascii_digit),
        None | Some(_) => true,
    }
}

/// A North American number in national form starting at `i`: the end of the match. The area
/// code and the exchange start with 2–9 (the NANP rule), so most order numbers and dates do
/// not match; a number glued to a word, `#`, `-`, `/` or `.` (`ORD-2125550174`,
/// `#2125550174`) is taken as a reference and left alone.
pub fn national_phone_at(chars: &[char], i: usize) -> Option<usize> {
    if let Some(p) = i.checked_sub(1).and_then(|p| chars.get(p))
        && (p.is_alphanumeric() || matches!(p, '_' | '-' | '.' | '/' | '#' | '+' | '*'))
    {
        return None;
    }
    let digits = |at: usize, n: usize| {
        (at + n <= chars.len() && chars[at..at + n].iter().all(char::is_ascii_digit))
            .then_some(at + n)
    };
    let nanp = |at: usize| ('2'..='9').contains(&chars[at]);
    let rest = |mut j: usize| -> Option<usize> {
        let area;
        let exchange;
        if chars.get(j) == Some(&'(') {
            area = j + 1;
            j = digits(j + 1, 3)?;
            if chars.get(j) != Some(&')') {
                return None;
            }
            j += 1;
            if chars.get(j) == Some(&' ') {
                j += 1;
            }
            exchange = j;
            j = digits(j, 3)?;
            if matches!(chars.get(j), Some('-' | '.' | ' ')) {
                j += 1;
            }
        } else {
            area = j;
            j = digits(j, 3)?;
            let sep = chars
                .get(j)
                .copied()
                .filter(|c| matches!(c, '-' | '.' | ' '));
            if sep.is_some() {
                j += 1;
            }
            exchange = j;
            j = digits(j, 3)?;
            if let Some(s) = sep {
                if chars.get(j) != Some(&s) {
                    return None;
                }
                j += 1;
            }
        }
        j = digits(j, 4)?;
        (nanp(area) && nanp(exchange) && ends_group(chars, j)).then_some(j)
    };
    if chars.get(i) == Some(&'1') {
        let after = if matches!(chars.get(i + 1), Some('-' | '.' | ' ')) {
            i + 2
        } else {
            i + 1
        };
        if let Some(end) = rest(after) {
            return Some(end);
        }
    }
    rest(i)
}

fn mask_addresses(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let is_domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '+' {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .count();
            if (8..=15).contains(&digits) {
                let phone: String = chars[i..=i + digits].iter().collect();
                out.push_str(&crate::spec::mask_phone(&phone));
                i += digits + 1;
                continue;
            }
        }
        if (c.is_ascii_digit() || c == '(')
            && let Some(end) = national_phone_at(&chars, i)
        {
            let digits = chars[i..end].iter().filter(|d| d.is_ascii_digit()).count();
            let mut seen = 0;
            for d in &chars[i..end] {
                if d.is_ascii_digit() {
                    seen += 1;
                    out.push(if seen > digits - 4 { *d } else { '*' });
                } else {
                    out.push(*d);
                }
            }
            i = end;
            continue;
        }
        if c == '@' {
            let start = out.chars().rev().take_while(|c| is_local(*c)).count();
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            if start > 0 && domain.contains('.') {
                let keep = out.chars().count() - start;
                let local: String = out.chars().skip(keep).collect();
                out = out.chars().take(keep).collect();
                out.push_str(&crate::spec::mask_email(&format!("{local}@{domain}")));
                i = end;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod mask_tests {
    use super::mask_contacts;

    #[test]
    fn masks_phones_and_emails_in_text() {
        assert_eq!(
            mask_contacts("Call +12125550100 now."),
            "Call +1******0100 now."
        );
        assert_eq!(
            mask_contacts("sent to (jane.doe@example.com)."),
            "sent to (j***@example.com)."
        );
        assert_eq!(
            mask_contacts("order ORD-1 for 20% off @ noon"),
            "order ORD-1 for 20% off @ noon"
        );
        assert_eq!(mask_contacts("+123 is short"), "+123 is short");
    }

    #[test]
    fn masks_national_numbers_but_not_references() {
        for (raw, masked) in [
            ("Call 212-555-0174.", "Call ***-***-0174."),
            ("Call (212) 555-0174", "Call (***) ***-0174"),
            ("Call 212.555.0174 now", "Call ***.***.0174 now"),
            ("Call 212 555 0174", "Call *** *** 0174"),
            ("Call 2125550174", "Call ******0174"),
            ("Call 1-212-555-0174", "Call *-***-***-0174"),
            ("tel:12125550174", "tel:*******0174"),
        ] {
            assert_eq!(mask_contacts(raw), masked, "{raw}");
        }
        for kept in [
            "order ORD-2125550174 shipped",
            "order #2125550174",
            "ref 1234567890",
            "ref 212-555-01745",
            "on 2026-12-07 at 10:00",
            "code 212-5550-174",
        ] {
            assert_eq!(mask_contacts(kept), kept);
        }
    }

    #[test]
    fn escapes_hidden_characters() {
        assert_eq!(mask_contacts("a\u{1b}]8;;\u{7}b"), "a\\u{1b}]8;;\\u{7}b");
    }
}
