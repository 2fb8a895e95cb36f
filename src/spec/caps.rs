//! Frequency caps across campaigns (issue 14 §3): `policy.frequency_caps` in `herald.yaml`
//! and the built-in state caps, as the limits that apply to one message.
//!
//! Owns: the cap document, its validated form, the `per` duration syntax and
//! [`applicable_caps`]. Pure: the ledger counts and enforces them inside the claim
//! transaction; the plan counts rows they hold.

use jiff::SignedDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Category, Channel};

impl Category {
    /// Lowercase name, as the ledger records it on each send.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Marketing => "marketing",
        }
    }
}

/// One entry of `policy.frequency_caps`: at most `max` messages of this channel and category
/// to one recipient in any sliding `per`, counted across every campaign of the environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCapDoc {
    /// `sms` or `email`.
    pub channel: Channel,
    /// `transactional` or `marketing`.
    pub category: Category,
    /// At most this many messages (at least 1)…
    pub max: u32,
    /// …in any sliding window of this length: a whole number and a unit, `m`, `h` or `d`
    /// (`24h`, `90m`, `7d`; at most 366 days).
    pub per: String,
}

/// A validated `policy.frequency_caps` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    /// The channel it counts and limits.
    pub channel: Channel,
    /// The category it counts and limits.
    pub category: Category,
    /// The limit.
    pub limit: CapLimit,
}

/// At most `max` messages in any sliding `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapLimit {
    /// Most messages in the window.
    pub max: u32,
    /// The window's length.
    pub per: SignedDuration,
}

/// The longest window a cap may have.
pub const MAX_CAP_WINDOW: SignedDuration = SignedDuration::from_hours(366 * 24);

/// Parses a cap window: `<whole number><m|h|d>`, positive, at most [`MAX_CAP_WINDOW`].
///
/// # Errors
/// Says what is wrong with `raw`, with an example of a valid value.
pub fn parse_per(raw: &str) -> Result<SignedDuration, String> {
    let s = raw.trim();
    let bad = || format!("`{raw}` is not a duration such as 24h, 90m or 7d");
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let mins = match unit {
        'm' => Some(n),
        'h' => n.checked_mul(60),
        'd' => n.checked_mul(24 * 60),
        _ => None,
    }
    .ok_or_else(bad)?;
    if n <= 0 {
        return Err(format!("`{raw}`: the window must be longer than zero"));
    }
    let per = SignedDuration::from_mins(mins.min(i64::MAX / 60));
    if per > MAX_CAP_WINDOW {
        return Err(format!("`{raw}`: the window is longer than 366 days"));
    }
    Ok(per)
}

/// Validates one entry; the error names the offending field (`max` or `per`).
///
/// # Errors
/// `(field, message)` for the first invalid field.
pub fn validate_cap(doc: &FrequencyCapDoc) -> Result<FrequencyCap, (&'static str, String)> {
    if doc.max == 0 {
        return Err(("max", "the cap must allow at least one message".into()));
    }
    let per = parse_per(&doc.per).map_err(|e| ("per", e))?;
    Ok(FrequencyCap {
        channel: doc.channel,
        category: doc.category,
        limit: CapLimit { max: doc.max, per },
    })
}

/// The built-in cap of a US state's telephone-solicitation law, for marketing messages to a
/// number registered there (Fla. Stat. § 501.616(6)(b), Okla. Stat. tit. 15 § 775C.1 et seq.,
/// Md. Code, Com. Law § 14-4502: 3 per 24 h; see `docs/compliance.md`).
pub fn state_cap(state: &str) -> Option<CapLimit> {
    herald_numbering::state_rule(state)
        .and_then(|r| r.cap)
        .map(|c| CapLimit {
            max: c.max,
            per: c.per,
        })
}

/// Every cap that limits one message: the policy's caps for its channel and category, and,
/// for a marketing SMS, the cap of the US state its number is registered in.
pub fn applicable_caps(
    policy: &[FrequencyCap],
    channel: Channel,
    category: Category,
    e164: Option<&str>,
) -> Vec<CapLimit> {
    let mut caps: Vec<CapLimit> = policy
        .iter()
        .filter(|c| c.channel == channel && c.category == category)
        .map(|c| c.limit)
        .collect();
    if channel == Channel::Sms
        && category == Category::Marketing
        && let Some(cap) = e164
            .and_then(herald_numbering::us_state)
            .and_then(state_cap)
    {
        caps.push(cap);
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_in_minutes_hours_and_days() {
        assert_eq!(parse_per("24h"), Ok(SignedDuration::from_hours(24)));
        assert_eq!(parse_per("90m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(parse_per("7d"), Ok(SignedDuration::from_hours(168)));
        for bad in [
            "",
            "24",
            "h",
            "1.5h",
            "24x",
            "-1h",
            "0h",
            "367d",
            "99999999999999999d",
        ] {
            assert!(parse_per(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn caps_apply_by_channel_category_and_state() {
        let policy = [FrequencyCap {
            channel: Channel::Sms,
            category: Category::Marketing,
            limit: CapLimit {
                max: 5,
                per: SignedDuration::from_hours(168),
            },
        }];
        let day = CapLimit {
            max: 3,
            per: SignedDuration::from_hours(24),
        };
        // Florida (305): the policy cap and the state's.
        assert_eq!(
            applicable_caps(
                &policy,
                Channel::Sms,
                Category::Marketing,
                Some("+13055550100")
            ),
            [policy[0].limit, day]
        );
        // New York (212): no state cap.
        assert_eq!(
            applicable_caps(
                &policy,
                Channel::Sms,
                Category::Marketing,
                Some("+12125550100")
            ),
            [policy[0].limit]
        );
        // Transactional and email: neither.
        assert!(
            applicable_caps(
                &policy,
                Channel::Sms,
                Category::Transactional,
                Some("+13055550100")
            )
            .is_empty()
        );
        assert!(applicable_caps(&policy, Channel::Email, Category::Marketing, None).is_empty());
        for state in ["FL", "OK", "MD"] {
            assert_eq!(state_cap(state), Some(day), "{state}");
        }
        assert_eq!(state_cap("NY"), None);
    }
}
