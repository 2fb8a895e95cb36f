//! The typed parts of the plan document that `apply` acts on: a campaign's status, its row
//! counts by reason and the objects a narrowed plan covers. Each serialises to the same JSON
//! the plan document has always had (plain strings and a map of non-zero counts).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a campaign's rows are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Sent by apply.
    Active,
    /// `status: paused` in the campaign file: planned, never sent.
    Paused,
    /// Its template cannot be used (or it changed while `apply --wait` waited).
    Blocked,
}

impl CampaignStatus {
    /// The plan document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Blocked => "blocked",
        }
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident => $field:ident ),+ $(,)?) => {
        /// Why a row is counted where it is: the plan's count keys.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Reason {
            $( $(#[$doc])* $variant, )+
        }

        impl Reason {
            /// Every reason, in the order the plan document lists them (alphabetical).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The plan document's count key.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Reason::$variant => stringify!($field), )+
                }
            }

            /// Parses a count key.
            pub fn parse(key: &str) -> Option<Reason> {
                match key {
                    $( stringify!($field) => Some(Reason::$variant), )+
                    _ => None,
                }
            }
        }

        /// Rows of a campaign by [`Reason`]. Serialised as a map of the non-zero counts keyed
        /// by [`Reason::as_str`], sorted by key.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Counts {
            $( $(#[$doc])* pub $field: u64, )+
        }

        impl Counts {
            /// The count for `reason`.
            pub fn get(&self, reason: Reason) -> u64 {
                match reason {
                    $( Reason::$variant => self.$field, )+
                }
            }

            fn slot(&mut self, reason: Reason) -> &mut u64 {
                match reason {
                    $( Reason::$variant => &mut self.$field, )+
                }
            }
        }
    };
}

// Listed in key order so that `Reason::ALL` and the serialised map agree with the sorted map
// the plan document has always held.
reasons! {
    /// The campaign's end has passed.
    AfterSchedule => after_schedule,
    /// Failed permanently in an earlier run.
    AlreadyFailed => already_failed,
    /// Sent in an earlier run.
    AlreadySent => already_sent,
    /// The campaign's start is in the future.
    BeforeSchedule => before_schedule,
    /// The rendered text holds a probable card number.
    CardNumber => card_number,
    /// Implied consent older than `policy.consent_expiry` allows.
    ConsentExpired => consent_expired,
    /// The number is on a loaded Do-Not-Call registry (national or a state's) and the row
    /// carries no express written consent the policy accepts (marketing SMS only).
    DoNotCall => do_not_call,
    /// Another row already reached this address.
    DuplicateAddress => duplicate_address,
    /// Another row already has this key.
    DuplicateKey => duplicate_key,
    /// Held by a frequency cap across campaigns until the recipient's oldest counted send
    /// leaves the cap's window.
    HeldFrequencyCap => held_frequency_cap,
    /// Held: no time zone while a send window applies.
    HeldNoTimezone => held_no_timezone,
    /// Held by quiet hours.
    HeldQuietHours => held_quiet_hours,
    /// Held by quiet hours in the zone(s) inferred from the phone number.
    HeldQuietHoursZoneFromNumber => held_quiet_hours_zone_from_number,
    /// Open by the send window, held by the recipient's state rule for marketing messages.
    HeldStateQuietHours => held_state_quiet_hours,
    /// Held: the phone number gives no time zone (toll-free, unassigned area code).
    HeldZoneUnknown => held_zone_unknown,
    /// Claimed by a run that is still dispatching.
    InFlight => in_flight,
    /// The address is not valid for the channel.
    InvalidAddress => invalid_address,
    /// The row cannot be parsed or has no key.
    InvalidRow => invalid_row,
    /// The consent column does not say yes.
    NoConsent => no_consent,
    /// Marketing without the consent evidence the policy requires.
    NoConsentEvidence => no_consent_evidence,
    /// Over the per-apply cap.
    OverCap => over_cap,
    /// A value is missing or too long.
    RenderError => render_error,
    /// The recipient is suppressed.
    Suppressed => suppressed,
    /// Sent now.
    ToSend => to_send,
    /// Maybe sent: needs reconcile or `--resend-unknown`.
    Unknown => unknown,
}

impl Counts {
    /// Adds `n` rows for `reason`.
    pub fn add(&mut self, reason: Reason, n: u64) {
        *self.slot(reason) += n;
    }

    /// The non-zero counts, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
    }

    /// Whether every count is zero.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Rows held by recipient-local rules: quiet hours in a zone from the number, a state's
    /// quiet hours, or a number that gives no zone.
    pub fn held_local(&self) -> u64 {
        self.held_quiet_hours_zone_from_number
            + self.held_state_quiet_hours
            + self.held_zone_unknown
    }

    /// Rows held for later by a send window, a missing time zone, a recipient-local rule or a
    /// frequency cap: the plan summary's "held for later".
    pub fn held(&self) -> u64 {
        self.held_quiet_hours + self.held_no_timezone + self.held_local() + self.held_frequency_cap
    }

    /// All rows counted.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter().map(|(r, n)| (r.as_str(), n)))
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut counts = Counts::default();
        for (key, n) in map {
            let reason = Reason::parse(&key)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown count key `{key}`")))?;
            counts.add(reason, n);
        }
        Ok(counts)
    }
}

impl JsonSchema for Counts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Counts".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<String, u64>>::json_schema(generator)
    }
}

/// How a campaign's sendable rows were placed in time: by their `timezone` value, by the
/// phone number's prefix, by the audience's `default_timezone`, or not at all (held while a
/// window applies). Rows skipped before placement (invalid, no consent, ...) are not counted.
/// Plans saved before this field existed read as all zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ZonePlacement {
    /// Rows with a valid `timezone` value.
    pub explicit: u64,
    /// Rows whose zone(s) came from the phone number.
    pub inferred: u64,
    /// Rows that took the audience's `default_timezone`.
    pub audience_default: u64,
    /// Rows with no usable zone: an invalid `timezone` value, a number that gives none
    /// (toll-free), or an email with no zone.
    pub unplaced: u64,
}

impl ZonePlacement {
    /// Counts one row.
    pub fn add(&mut self, source: crate::local_time::ZoneSource) {
        use crate::local_time::ZoneSource;
        match source {
            ZoneSource::Explicit => self.explicit += 1,
            ZoneSource::Inferred => self.inferred += 1,
            ZoneSource::AudienceDefault => self.audience_default += 1,
            ZoneSource::Unplaced => self.unplaced += 1,
        }
    }

    /// Whether no row was counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One object a narrowed plan (`--campaign`, `--template`) covers. Serialised as
/// `campaign NAME` or `template NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Narrowing {
    /// `--campaign NAME`.
    Campaign(String),
    /// `--template NAME`.
    Template(String),
}

impl fmt::Display for Narrowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Campaign(n) => write!(f, "campaign {n}"),
            Self::Template(n) => write!(f, "template {n}"),
        }
    }
}

impl std::str::FromStr for Narrowing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(n) = s.strip_prefix("campaign ") {
            Ok(Self::Campaign(n.to_owned()))
        } else if let Some(n) = s.strip_prefix("template ") {
            Ok(Self::Template(n.to_owned()))
        } else {
            Err(format!("`{s}` is not `campaign NAME` or `template NAME`"))
        }
    }
}

impl Serialize for Narrowing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Narrowing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Narrowing {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Narrowing".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_serialise_as_the_sorted_map_of_non_zero_keys() {
        let mut c = Counts::default();
        c.add(Reason::ToSend, 3);
        c.add(Reason::AlreadySent, 2);
        c.add(Reason::HeldQuietHours, 1);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"already_sent":2,"held_quiet_hours":1,"to_send":3}"#
        );
        let map: BTreeMap<String, u64> = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&map).unwrap(), json);
        assert_eq!(serde_json::from_str::<Counts>(&json).unwrap(), c);
        assert_eq!(serde_json::to_string(&Counts::default()).unwrap(), "{}");
    }

    #[test]
    fn reasons_are_listed_in_key_order_and_round_trip() {
        let keys: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
        assert!(serde_json::from_str::<Counts>(r#"{"sent_twice":1}"#).is_err());
    }

    #[test]
    fn narrowing_round_trips_through_its_string_form() {
        let all = vec![
            Narrowing::Campaign("spring".into()),
            Narrowing::Template("welcome".into()),
        ];
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(json, r#"["campaign spring","template welcome"]"#);
        assert_eq!(serde_json::from_str::<Vec<Narrowing>>(&json).unwrap(), all);
        assert!(serde_json::from_str::<Narrowing>(r#""audience x""#).is_err());
    }

    #[test]
    fn campaign_status_keeps_its_spelling() {
        for s in [
            CampaignStatus::Active,
            CampaignStatus::Paused,
            CampaignStatus::Blocked,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
