//! Frequency caps across campaigns (issue 14 §3): `policy.frequency_caps` in `herald.yaml`
//! and the built-in state caps, as the limits that apply to one message.
//!
//! Owns: the cap document, its validated form, the `per` duration syntax and
//! [`CapRules`], the caps that apply to one message. Pure: the ledger counts and enforces them inside the claim
//! transaction; the plan counts rows they hold.

use jiff::SignedDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::Policy;
use super::state_rules::{StateCode, StateRules};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrequencyCap {
    /// The channel it counts and limits.
    pub channel: Channel,
    /// The category it counts and limits.
    pub category: Category,
    /// The limit.
    pub limit: CapLimit,
}

/// At most `max` messages in any sliding `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// The caps that can hold a message: `policy.frequency_caps`, and the cap of the recipient's
/// state rule (built in, or as `policy.state_rules` overrides, adds or turns it off) for an SMS
/// whose category the state rules cover (`policy.state_rules_apply_to`, marketing by default).
///
/// State caps come from telephone-solicitation statutes (Fla. Stat. § 501.616(6)(b), Okla.
/// Stat. tit. 15 § 775C.1 et seq., Md. Code, Com. Law § 14-4502: 3 per 24 h; see
/// `docs/compliance.md`), which reach calls and texts, not email: an email has no state cap.
#[derive(Debug, Clone, Copy)]
pub struct CapRules<'a> {
    policy: &'a [FrequencyCap],
    states: &'a StateRules,
}

impl<'a> CapRules<'a> {
    /// The policy's caps and the state rules' caps.
    pub fn new(policy: &'a [FrequencyCap], states: &'a StateRules) -> Self {
        Self { policy, states }
    }

    /// The caps of a workspace's policy.
    pub fn of(policy: &'a Policy) -> Self {
        Self::new(&policy.frequency_caps, &policy.state_rules)
    }

    fn state_caps_apply(&self, channel: Channel, category: Category) -> bool {
        channel.state_telemarketing_laws_apply() && self.states.applies_to(category)
    }

    fn policy_caps(
        &self,
        channel: Channel,
        category: Category,
    ) -> impl Iterator<Item = CapLimit> + '_ {
        self.policy
            .iter()
            .filter(move |c| c.channel == channel && c.category == category)
            .map(|c| c.limit)
    }

    /// Every cap that limits one message of `channel` and `category` to a recipient in
    /// `states` (the number's state, and the audience's `state` value when it names another):
    /// the policy's caps for that channel and category, then each state's cap when the state
    /// rules cover the message.
    pub fn applicable(
        &self,
        channel: Channel,
        category: Category,
        states: impl IntoIterator<Item = StateCode>,
    ) -> Vec<CapLimit> {
        let mut caps: Vec<CapLimit> = self.policy_caps(channel, category).collect();
        let policy_count = caps.len();
        if self.state_caps_apply(channel, category) {
            for cap in states
                .into_iter()
                .filter_map(|s| self.states.get(s))
                .filter_map(|r| r.cap)
            {
                let limit = CapLimit {
                    max: cap.max,
                    per: cap.per,
                };
                if !caps[policy_count..].contains(&limit) {
                    caps.push(limit);
                }
            }
        }
        caps
    }

    /// The longest window of any cap that can hold a message of `channel` and `category`,
    /// whatever its recipient's state: how far back the ledger's sends must be read.
    pub fn longest_window(&self, channel: Channel, category: Category) -> Option<SignedDuration> {
        let states = self
            .state_caps_apply(channel, category)
            .then(|| {
                self.states
                    .rules
                    .values()
                    .filter_map(|r| r.cap.map(|c| c.per))
            })
            .into_iter()
            .flatten();
        self.policy_caps(channel, category)
            .map(|c| c.per)
            .chain(states)
            .max()
    }
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

    fn code(s: &str) -> Option<StateCode> {
        StateCode::parse(s)
    }

    fn weekly() -> [FrequencyCap; 1] {
        [FrequencyCap {
            channel: Channel::Sms,
            category: Category::Marketing,
            limit: CapLimit {
                max: 5,
                per: SignedDuration::from_hours(168),
            },
        }]
    }

    const DAY: CapLimit = CapLimit {
        max: 3,
        per: SignedDuration::from_hours(24),
    };

    #[test]
    fn caps_apply_by_channel_category_and_state() {
        let policy = weekly();
        let states = StateRules::built_in();
        let rules = CapRules::new(&policy, &states);
        let (sms, email) = (Channel::Sms, Channel::Email);
        let (marketing, transactional) = (Category::Marketing, Category::Transactional);
        // Florida: the policy cap and the state's; so for Oklahoma and Maryland.
        for state in ["FL", "OK", "MD"] {
            assert_eq!(
                rules.applicable(sms, marketing, code(state)),
                [policy[0].limit, DAY],
                "{state}"
            );
        }
        // New York, or no state: no state cap.
        assert_eq!(
            rules.applicable(sms, marketing, code("NY")),
            [policy[0].limit]
        );
        assert_eq!(rules.applicable(sms, marketing, None), [policy[0].limit]);
        // A row in two states: both states' caps (one of each distinct cap).
        let two_in_a_day = CapLimit {
            max: 2,
            per: SignedDuration::from_hours(24),
        };
        let mut both = StateRules::built_in();
        both.rules.get_mut(&code("OK").unwrap()).unwrap().cap =
            Some(super::super::state_rules::StateCap {
                max: 2,
                per: SignedDuration::from_hours(24),
            });
        let two = CapRules::new(&policy, &both);
        assert_eq!(
            two.applicable(
                sms,
                marketing,
                [code("NY"), code("OK")].into_iter().flatten()
            ),
            [policy[0].limit, two_in_a_day]
        );
        assert_eq!(
            two.applicable(
                sms,
                marketing,
                [code("FL"), code("OK")].into_iter().flatten()
            ),
            [policy[0].limit, DAY, two_in_a_day]
        );
        assert_eq!(
            rules.applicable(
                sms,
                marketing,
                [code("FL"), code("MD")].into_iter().flatten()
            ),
            [policy[0].limit, DAY]
        );
        // Transactional and email: neither (state laws reach calls and texts, not email).
        assert!(rules.applicable(sms, transactional, code("FL")).is_empty());
        assert!(rules.applicable(email, marketing, code("FL")).is_empty());
        assert_eq!(
            rules.longest_window(sms, marketing),
            Some(SignedDuration::from_hours(168))
        );
        assert_eq!(
            CapRules::new(&[], &states).longest_window(sms, marketing),
            Some(SignedDuration::from_hours(24))
        );
        assert_eq!(
            CapRules::new(&[], &states).longest_window(email, marketing),
            None
        );
        assert_eq!(rules.longest_window(sms, transactional), None);
    }

    /// `policy.state_rules` decides the state caps: an override replaces the built-in cap, an
    /// added state brings its own, `none` removes one, and `state_rules_apply_to` extends them
    /// to transactional texts.
    #[test]
    fn configured_state_rules_set_the_state_caps() {
        let yaml = r#"
FL: { cap: { max: 1, per: 2d } }
MD: none
NV:
  window: { start: "09:00", end: "20:00" }
  cap: { max: 2, per: 12h }
  citation: "a statute"
"#;
        let overrides: std::collections::BTreeMap<
            String,
            super::super::state_rules::StateRuleEntryDoc,
        > = serde_saphyr::from_str(yaml).unwrap();
        let states = StateRules::configured(
            &overrides,
            Some(&[Category::Marketing, Category::Transactional]),
        )
        .unwrap();
        let rules = CapRules::new(&[], &states);
        let sms = Channel::Sms;
        let one_in_two_days = CapLimit {
            max: 1,
            per: SignedDuration::from_hours(48),
        };
        let two_in_twelve_hours = CapLimit {
            max: 2,
            per: SignedDuration::from_hours(12),
        };
        assert_eq!(
            rules.applicable(sms, Category::Marketing, code("FL")),
            [one_in_two_days]
        );
        assert_eq!(
            rules.applicable(sms, Category::Transactional, code("FL")),
            [one_in_two_days]
        );
        assert_eq!(
            rules.applicable(sms, Category::Marketing, code("NV")),
            [two_in_twelve_hours]
        );
        assert!(
            rules
                .applicable(sms, Category::Marketing, code("MD"))
                .is_empty()
        );
        assert_eq!(
            rules.applicable(sms, Category::Marketing, code("OK")),
            [DAY]
        );
        assert_eq!(
            rules.longest_window(sms, Category::Transactional),
            Some(SignedDuration::from_hours(48))
        );
    }
}
