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

/// The most characters of one server-provided text kept in an error.
pub(crate) const MAX_SERVER_TEXT: usize = 500;

/// Text the server sent, made safe to print: [`scrub_text`] (secrets replaced, control
/// characters escaped), cut to [`MAX_SERVER_TEXT`] characters, then phone numbers and emails
/// masked ([`mask_pii`]).
pub(crate) fn sanitize_server_text(text: &str, secrets: &[&str]) -> String {
    let scrubbed = scrub_text(text, secrets);
    let cut: String = if scrubbed.chars().count() > MAX_SERVER_TEXT {
        scrubbed
            .chars()
            .take(MAX_SERVER_TEXT)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        scrubbed
    };
    mask_pii(&cut)
}

/// Makes text safe for one line of a terminal or a log: every secret in `secrets` replaced by
/// `[redacted]` (first, so no later step can split one), then control characters (C0, DEL,
/// C1) and the bidirectional overrides escaped as `\u{..}`, so the text stays on one line
/// and cannot move the cursor, retitle the window or reorder what is shown.
pub fn scrub_text(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
    }
    if !text.chars().any(needs_escape) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::{mask_pii, sanitize_server_text};

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

    #[test]
    fn server_text_loses_secrets_and_control_characters() {
        let text =
            "bad secret s3cr3t-Value\u{1b}[2J\u{1b}]0;owned\u{7}\nline two\u{9b}31m\u{202e}x";
        let clean = sanitize_server_text(text, &["s3cr3t-Value", ""]);
        assert!(!clean.contains("s3cr3t-Value"), "{clean}");
        assert!(clean.contains("[redacted]"), "{clean}");
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        assert!(!clean.contains('\u{202e}'), "{clean:?}");
        assert!(clean.contains("\\u{1b}"), "{clean}");
        let long = "x".repeat(100_000);
        assert!(sanitize_server_text(&long, &[]).chars().count() <= super::MAX_SERVER_TEXT + 1);
    }
}
