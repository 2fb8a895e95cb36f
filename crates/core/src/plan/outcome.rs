//! The outcome digest of a campaign: what the plan decided to send (now or once held rows
//! open), row by row, so that `apply --approved-digest` refuses a run that would send anything
//! else: another number, another text, or at another hour.
//!
//! Every eligible row (the rows the key digest counts) is fed into one of [`GROUPS`] SHA-256
//! states, chosen by the FNV-1a hash of its key, as length-prefixed fields:
//!
//! ```text
//! key, address (as sent), zones, state, message parts
//! ```
//!
//! - zones: `explicit:ZONE`, `number:ZONE,ZONE…`, `default:ZONE`, `invalid`, `unknown` or
//!   `missing` (where the row's time zone comes from and what it is);
//! - state: the two-letter code the row's state rules follow, or empty;
//! - message: `sms` and the text, or `email`, the subject, the HTML body and the plain-text
//!   body (`-` before it when there is one, empty when not).
//!
//! A field is its length (u32, little-endian) then its UTF-8 bytes. Rows keep audience order
//! inside their group. The digest is `sha256:` + hex SHA-256 of one line per group, in group
//! order: `COUNT HEX\n` (rows in the group, hex of the group's SHA-256).
//!
//! None of it depends on the wall clock: the row's placement and the (separately digested)
//! policy and campaign decide *when* it may go; whether that is now or later is not bound.
//! The groups let a refusal count the sends that changed without storing a hash per row.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::local_time::RowZones;
use crate::messages::{Message, Recipient};

/// How many groups the rows are spread over.
pub const GROUPS: usize = 64;

/// The outcome digest of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OutcomeDigest {
    /// Rows the plan may send (now or later).
    pub count: u64,
    /// `sha256:` + hex (see the module documentation).
    pub digest: String,
    /// Per group, `COUNT:HEX16` (the first 16 hex digits of the group's hash), joined by `,`:
    /// what a refusal compares to count the sends that changed.
    pub groups: String,
}

impl OutcomeDigest {
    /// The groups of a digest (`None` when absent or malformed).
    pub fn parse_groups(groups: &str) -> Option<Vec<(u64, &str)>> {
        let parts: Vec<(u64, &str)> = groups
            .split(',')
            .map(|g| {
                let (n, h) = g.split_once(':')?;
                Some((n.parse().ok()?, h))
            })
            .collect::<Option<_>>()?;
        (parts.len() == GROUPS).then_some(parts)
    }

    /// How many groups differ between two digests' groups, and whether the reviewed group
    /// counts are known at all. At least one send changed per differing group.
    pub fn changed_groups(reviewed: &str, now: &str) -> Option<usize> {
        let (a, b) = (Self::parse_groups(reviewed)?, Self::parse_groups(now)?);
        Some(a.iter().zip(&b).filter(|(x, y)| x != y).count())
    }
}

/// Streams eligible rows into the outcome digest.
pub struct OutcomeHasher {
    groups: Vec<(u64, Sha256)>,
}

impl Default for OutcomeHasher {
    fn default() -> Self {
        Self {
            groups: (0..GROUPS).map(|_| (0, Sha256::new())).collect(),
        }
    }
}

/// FNV-1a (64-bit) of a key: picks the row's group, the same on every machine.
fn group_of(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % GROUPS as u64).unwrap_or(0)
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    h.update(len.to_le_bytes());
    h.update(bytes);
}

fn zone_name(tz: &jiff::tz::TimeZone) -> &str {
    tz.iana_name().unwrap_or("?")
}

impl OutcomeHasher {
    /// Adds one eligible row.
    pub fn add(&mut self, r: &Recipient) {
        let (count, h) = &mut self.groups[group_of(&r.key)];
        *count += 1;
        field(h, r.key.as_bytes());
        field(h, r.address.as_str().as_bytes());
        match &r.place.zones {
            RowZones::Explicit(tz) => {
                field(h, b"explicit");
                field(h, zone_name(tz).as_bytes());
            }
            RowZones::FromNumber(zones) => {
                field(h, b"number");
                let n = u32::try_from(zones.len()).unwrap_or(u32::MAX);
                h.update(n.to_le_bytes());
                for tz in zones.iter() {
                    field(h, zone_name(tz).as_bytes());
                }
            }
            RowZones::AudienceDefault(tz) => {
                field(h, b"default");
                field(h, zone_name(tz).as_bytes());
            }
            RowZones::Invalid => field(h, b"invalid"),
            RowZones::Unknown => field(h, b"unknown"),
            RowZones::Missing => field(h, b"missing"),
        }
        field(
            h,
            r.place.state.as_ref().map_or("", |s| s.as_str()).as_bytes(),
        );
        match &r.message {
            Message::Sms { text, .. } => {
                field(h, b"sms");
                field(h, text.as_bytes());
            }
            Message::Email {
                subject,
                html,
                text,
            } => {
                field(h, b"email");
                field(h, subject.as_bytes());
                field(h, html.as_bytes());
                match text {
                    Some(t) => {
                        field(h, b"-");
                        field(h, t.as_bytes());
                    }
                    None => field(h, b""),
                }
            }
        }
    }

    /// The digest of the rows added so far.
    pub fn digest(&self) -> OutcomeDigest {
        let mut all = Sha256::new();
        let mut groups = Vec::with_capacity(GROUPS);
        let mut count = 0;
        for (n, h) in &self.groups {
            let hex = hex::encode(h.clone().finalize());
            all.update(format!("{n} {hex}\n").as_bytes());
            groups.push(format!("{n}:{}", &hex[..16]));
            count += n;
        }
        OutcomeDigest {
            count,
            digest: format!("sha256:{}", hex::encode(all.finalize())),
            groups: groups.join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_stable_and_spread() {
        assert_eq!(group_of("a"), group_of("a"));
        let used: std::collections::BTreeSet<usize> =
            (0..1000).map(|i| group_of(&format!("k{i}"))).collect();
        assert_eq!(used.len(), GROUPS);
    }

    #[test]
    fn an_empty_outcome_is_the_digest_of_empty_groups() {
        let d = OutcomeHasher::default().digest();
        let empty = hex::encode(Sha256::new().finalize());
        let text = format!("0 {empty}\n").repeat(GROUPS);
        assert_eq!(d.digest, crate::hash::sha256(text.as_bytes()).to_string());
        assert_eq!(d.count, 0);
        assert_eq!(OutcomeDigest::changed_groups(&d.groups, &d.groups), Some(0));
        assert_eq!(OutcomeDigest::changed_groups("", &d.groups), None);
    }
}
