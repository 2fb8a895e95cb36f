//! Message text: `{{placeholder}}` parsing and rendering exactly as Genesys writes them, SMS
//! encoding and segment analysis, and content checks (card numbers). Pure functions.

mod placeholder;
mod sms;

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
