//! Validating newtypes for identity and content ("parse, don't validate").

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a template, audience or campaign: 1–64 characters of lowercase ASCII letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_len = (1..=64).contains(&raw.len());
        let first_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let chars_ok = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if ok_len && first_ok && chars_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "`{raw}` is not a valid name: use 1-64 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A phone number in E.164 form (`+` then 8–15 digits, no leading zero); North American
/// numbers (`+1`) must also have ten digits and an area code starting with 2–9.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Validates an E.164 number. No reformatting: audiences must already hold E.164.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let digits = raw
            .strip_prefix('+')
            .ok_or_else(|| "an E.164 number starts with `+`".to_owned())?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("an E.164 number has 8 to 15 digits after `+`".to_owned());
        }
        if digits.starts_with('0') {
            return Err("a country code cannot start with 0".to_owned());
        }
        if let Some(national) = digits.strip_prefix('1') {
            let b = national.as_bytes();
            if b.len() != 10 || b[0] < b'2' {
                return Err("a +1 (NANP) number has 10 digits after the 1, and its area code starts with 2-9".to_owned());
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for output: `+1******0100` (country digit and last four kept).
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks a phone number for output: keeps a leading `+`, the first digit and the last four
/// digits; every other digit becomes `*` (`+15550100100` → `+1******0100`). Numbers with fewer
/// than 7 digits have every digit masked; other characters are dropped. The ledger stores masks
/// by the same rule (a test checks that the two agree).
pub fn mask_phone(phone: &str) -> String {
    let plus = phone.starts_with('+');
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 1);
    if plus {
        out.push('+');
    }
    let n = digits.len();
    for (i, d) in digits.iter().enumerate() {
        if n >= 7 && (i == 0 || i >= n - 4) {
            out.push(*d);
        } else {
            out.push('*');
        }
    }
    out
}

/// Masks an email address for output: the first character of the local part, then exactly
/// `***` (the length is not revealed), then `@domain`; a value without a local part becomes
/// `***`. The ledger stores masks by the same rule (a test checks that the two agree).
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first = local.chars().next().unwrap_or('*');
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// An email address accepted for sending: RFC syntax, no display text, no domain literal,
/// a domain with at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates an email address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let options = email_address::Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            ..Default::default()
        };
        email_address::EmailAddress::parse_with_options(raw, options)
            .map(|_| Self(raw.to_owned()))
            .map_err(|e| format!("not a deliverable email address ({e})"))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for output: `j***@example.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// A SHA-256 content hash in the form `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl ContentHash {
    /// Wraps a raw 32-byte digest.
    pub fn from_digest(digest: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(digest)))
    }

    /// Validates the textual form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let hex_part = raw
            .strip_prefix("sha256:")
            .ok_or("a content hash starts with `sha256:`")?;
        if hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err("a content hash is `sha256:` and 64 lowercase hex digits".to_owned())
        }
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }
}

impl TryFrom<String> for ContentHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ContentHash> for String {
    fn from(value: ContentHash) -> Self {
        value.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(Name::parse("order-shipped").is_ok());
        assert!(Name::parse("order_shipped.v2").is_ok());
        assert!(Name::parse("Order").is_err());
        assert!(Name::parse("-x").is_err());
        assert!(Name::parse("").is_err());
        assert!(Name::parse(&"a".repeat(65)).is_err());
        assert!(Name::parse("has space").is_err());
    }

    #[test]
    fn e164() {
        assert!(E164::parse("+12125550100").is_ok());
        assert!(E164::parse("+447700900123").is_ok());
        assert!(E164::parse("12125550100").is_err());
        assert!(E164::parse("+1212555010").is_err(), "9 national digits");
        assert!(
            E164::parse("+11125550100").is_err(),
            "area code starts with 1"
        );
        assert!(E164::parse("+15550001111").is_ok(), "the sandbox's sender");
        assert!(E164::parse("+1 212 555 0100").is_err());
        assert!(E164::parse("+0123456789").is_err());
        assert!(E164::parse("+1234567890123456").is_err(), "16 digits");
    }

    #[test]
    fn masking() {
        assert_eq!(mask_phone("+12125550100"), "+1******0100");
        assert_eq!(mask_phone("+447700900123"), "+4*******0123");
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("nobody"), "***");
    }

    #[test]
    fn emails() {
        assert!(Email::parse("jane@example.com").is_ok());
        assert!(Email::parse("a@localhost").is_err());
        assert!(Email::parse("Jane <jane@example.com>").is_err());
        assert!(Email::parse("jane@[127.0.0.1]").is_err());
        assert!(Email::parse("jane").is_err());
    }

    #[test]
    fn content_hash() {
        let h = ContentHash::from_digest(&[0xab; 32]);
        assert_eq!(ContentHash::parse(h.as_str()), Ok(h.clone()));
        assert_eq!(h.short(), "abababababab");
        assert!(ContentHash::parse("sha256:xyz").is_err());
        assert!(ContentHash::parse("sha256:").is_err());
    }
}
