//! Masking of personal data in text the server sends back.
//!
//! Genesys error messages sometimes quote the offending value (a phone number or an email
//! address). Everything that reaches an `ApiError` passes through [`mask_pii`], so errors and
//! logs never carry a full phone number or email. Invariant: masking only ever removes
//! information; ids, codes and correlation ids (no `@`, fewer than 7 digits in a run, or
//! letters mixed in) are left readable.

/// Masks phone-number-like digit runs (7+ digits, keeping the last 4) and email addresses
/// (keeping the first character of the local part and the domain).
pub(crate) fn mask_pii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&mask_word(word));
    }
    out
}

fn mask_word(word: &str) -> String {
    if let Some(at) = word.find('@') {
        // Keep surrounding punctuation such as quotes or a trailing full stop.
        let start = word[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || "._%+-".contains(c)))
            .map_or(0, |i| i + 1);
        if at > start {
            let first = word[start..].chars().next().unwrap_or('*');
            return format!("{}{first}***{}", &word[..start], &word[at..]);
        }
    }
    mask_digit_runs(word)
}

fn mask_digit_runs(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let run = &chars[start..i];
            let glued_to_letters = (start > 0 && chars[start - 1].is_alphabetic())
                || (i < chars.len() && chars[i].is_alphabetic());
            if run.len() >= 7 && !glued_to_letters {
                let keep = run.len() - 4;
                out.extend(std::iter::repeat_n('*', keep));
                out.extend(&run[keep..]);
            } else {
                out.extend(run);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_pii;

    #[test]
    fn masks_phone_numbers_and_emails() {
        assert_eq!(
            mask_pii("Invalid toAddress +15550100123."),
            "Invalid toAddress +*******0123."
        );
        assert_eq!(
            mask_pii("recipient 'jane.doe@example.com' bounced"),
            "recipient 'j***@example.com' bounced"
        );
    }

    #[test]
    fn leaves_ids_and_short_numbers_alone() {
        let text = "version 12 does not match 13; id 3f2a9c1e-0b4d-4c1e-9a77-1234567890ab";
        assert_eq!(mask_pii(text), text);
    }
}
