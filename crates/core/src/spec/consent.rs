//! Consent evidence, consent expiry and time-zone overrides: the `herald.yaml` documents
//! (`policy.require_consent_evidence`, `policy.consent_expiry`, `policy.zone_overrides`), their
//! validation, and the effective values the row classifier applies.
//!
//! Sources are in docs/compliance.md. The only expiry herald applies without configuration is
//! CASL's: implied consent from an existing business relationship lasts two years from the
//! last purchase or contract (S.C. 2010, c. 23, s. 10(10)), applied to Canadian numbers whose
//! `consent_type` value says `implied`.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

/// Which numbers an expiry applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExpiryRegion {
    /// Every row.
    #[default]
    Any,
    /// Rows whose number (or `state` column) is in Canada.
    Canada,
    /// Rows not in Canada.
    Us,
}

/// One `policy.consent_expiry` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentExpiryDoc {
    /// The `consent_type` value it applies to (compared without case), e.g. `ebr`, `implied`.
    #[serde(rename = "type")]
    pub consent_type: String,
    /// How long the consent lasts from its timestamp: `Nd`, `Nmo` (months) or `Ny` (years).
    pub max_age: String,
    /// Which numbers: `any` (default), `canada` or `us`.
    #[serde(default)]
    pub region: ExpiryRegion,
    /// Where the limit comes from (shown in `validate --format json`).
    #[serde(default)]
    pub citation: Option<String>,
}

/// An effective consent expiry.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentExpiry {
    /// The `consent_type` value, lower case.
    #[serde(rename = "type")]
    pub consent_type: String,
    /// As written (`18mo`, `2y`, `548d`).
    pub max_age: String,
    /// Which numbers.
    pub region: ExpiryRegion,
    /// Where it comes from.
    pub citation: String,
    #[serde(skip)]
    span: Span,
}

impl PartialEq for ConsentExpiry {
    fn eq(&self, o: &Self) -> bool {
        self.consent_type == o.consent_type
            && self.max_age == o.max_age
            && self.region == o.region
            && self.citation == o.citation
    }
}

impl ConsentExpiry {
    /// The latest consent time that has expired at `now` (`now` minus the age, in UTC
    /// calendar arithmetic): computed once per run, then each row is one comparison.
    pub fn cutoff(&self, now: Timestamp) -> Option<Timestamp> {
        now.to_zoned_datetime(TimeZone::UTC)
            .checked_sub(self.span)
            .ok()
            .map(|z| z.timestamp())
    }

    /// Whether consent given at `given` has expired at `now`.
    pub fn expired(&self, given: Timestamp, now: Timestamp) -> bool {
        self.cutoff(now).is_some_and(|cutoff| given <= cutoff)
    }

    /// Whether the expiry covers a row in Canada (`canadian`) with consent type `value`.
    pub fn covers(&self, value: &str, canadian: bool) -> bool {
        self.consent_type.eq_ignore_ascii_case(value.trim())
            && match self.region {
                ExpiryRegion::Any => true,
                ExpiryRegion::Canada => canadian,
                ExpiryRegion::Us => !canadian,
            }
    }
}

/// CASL's implied-consent period for an existing business relationship.
pub const CASL_CITATION: &str = "Canada's Anti-Spam Legislation, S.C. 2010, c. 23, s. 10(9)-(10) (https://laws-lois.justice.gc.ca/eng/acts/E-1.6/page-3.html)";

/// The expiries herald applies when `policy.consent_expiry` is not given: CASL's two years for
/// implied consent to Canadian numbers.
pub fn default_expiries() -> Vec<ConsentExpiry> {
    vec![ConsentExpiry {
        consent_type: "implied".into(),
        max_age: "2y".into(),
        region: ExpiryRegion::Canada,
        citation: CASL_CITATION.into(),
        span: Span::new().years(2),
    }]
}

/// Parses `Nd`, `Nmo` or `Ny` (N ≥ 1) into a calendar span.
pub fn parse_age(s: &str) -> Option<Span> {
    let s = s.trim();
    let (n, unit) = if let Some(n) = s.strip_suffix("mo") {
        (n, "mo")
    } else if let Some(n) = s.strip_suffix('y') {
        (n, "y")
    } else if let Some(n) = s.strip_suffix('d') {
        (n, "d")
    } else {
        return None;
    };
    let n: i64 = n.parse().ok().filter(|n| (1..=36_600).contains(n))?;
    match unit {
        "mo" => Span::new().try_months(n).ok(),
        "y" => Span::new().try_years(n).ok(),
        _ => Span::new().try_days(n).ok(),
    }
}

/// Validates `policy.consent_expiry`; errors are `(field, message)`.
pub fn expiries(docs: &[ConsentExpiryDoc]) -> Result<Vec<ConsentExpiry>, Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let field = |f: &str| format!("policy.consent_expiry[{i}].{f}");
        if d.consent_type.trim().is_empty() {
            errors.push((
                field("type"),
                "name the `consent_type` value it applies to".into(),
            ));
        }
        let Some(span) = parse_age(&d.max_age) else {
            errors.push((
                field("max_age"),
                format!("`{}` is not an age such as 548d, 18mo or 2y", d.max_age),
            ));
            continue;
        };
        out.push(ConsentExpiry {
            consent_type: d.consent_type.trim().to_ascii_lowercase(),
            max_age: d.max_age.trim().to_owned(),
            region: d.region,
            citation: d.citation.clone().unwrap_or_default(),
            span,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parses a consent timestamp: RFC 3339, or a date `YYYY-MM-DD` (read as its UTC midnight).
pub fn parse_consent_time(raw: &str) -> Option<Timestamp> {
    let raw = raw.trim();
    raw.parse::<Timestamp>().ok().or_else(|| {
        raw.parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned_datetime(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}

// ---------------------------------------------------------------------------------------------
// Zone overrides
// ---------------------------------------------------------------------------------------------

/// One `policy.zone_overrides` value: a zone or a list of zones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ZonesDoc {
    /// One IANA zone.
    One(String),
    /// Several candidate zones (a message waits until the window is open in each).
    Many(Vec<String>),
}

/// An effective zone override: numbers starting with `prefix` are in `zones`.
#[derive(Debug, Clone)]
pub struct ZoneOverride {
    /// `+` and digits.
    pub prefix: String,
    /// The zones.
    pub zones: std::sync::Arc<[TimeZone]>,
}

impl PartialEq for ZoneOverride {
    fn eq(&self, o: &Self) -> bool {
        self.prefix == o.prefix
            && self.zones.len() == o.zones.len()
            && self
                .zones
                .iter()
                .zip(o.zones.iter())
                .all(|(a, b)| a.iana_name() == b.iana_name())
    }
}

impl Serialize for ZoneOverride {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ZoneOverride", 2)?;
        st.serialize_field("prefix", &self.prefix)?;
        st.serialize_field(
            "zones",
            &self
                .zones
                .iter()
                .map(|z| z.iana_name().unwrap_or("?"))
                .collect::<Vec<_>>(),
        )?;
        st.end()
    }
}

impl fmt::Display for ZoneOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

/// Validates `policy.zone_overrides`: each key is `+` and 1 to 9 digits, each zone an IANA
/// name. Errors are `(field, message)`.
pub fn zone_overrides(
    docs: &std::collections::BTreeMap<String, ZonesDoc>,
) -> Result<Vec<ZoneOverride>, Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (prefix, zones) in docs {
        let field = format!("policy.zone_overrides.{prefix}");
        let digits = prefix.trim().strip_prefix('+').unwrap_or("");
        if digits.is_empty()
            || digits.len() > 9
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            errors.push((
                field.clone(),
                format!("`{prefix}` is not a number prefix: `+`, the country code and up to 9 digits (e.g. +1907581)"),
            ));
            continue;
        }
        let names: Vec<&String> = match zones {
            ZonesDoc::One(z) => vec![z],
            ZonesDoc::Many(z) => z.iter().collect(),
        };
        if names.is_empty() {
            errors.push((field.clone(), "give at least one IANA time zone".into()));
            continue;
        }
        let mut tzs = Vec::new();
        for name in names {
            match TimeZone::get(name.trim()) {
                Ok(tz) => tzs.push(tz),
                Err(_) => errors.push((
                    field.clone(),
                    format!("`{name}` is not a known IANA time zone"),
                )),
            }
        }
        out.push(ZoneOverride {
            prefix: format!("+{digits}"),
            zones: tzs.into(),
        });
    }
    // Longest prefix first, so the first match is the most precise.
    out.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(a.prefix.cmp(&b.prefix))
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ages_and_expiry() {
        assert_eq!(parse_age("18mo").map(|s| s.get_months()), Some(18));
        assert_eq!(parse_age("2y").map(|s| s.get_years()), Some(2));
        assert_eq!(parse_age("548d").map(|s| s.get_days()), Some(548));
        assert!(parse_age("0d").is_none());
        assert!(parse_age("18 months").is_none());
        let e = expiries(&[ConsentExpiryDoc {
            consent_type: "EBR".into(),
            max_age: "18mo".into(),
            region: ExpiryRegion::Any,
            citation: None,
        }])
        .unwrap();
        let given = parse_consent_time("2025-06-01").unwrap();
        assert!(!e[0].expired(given, ts("2026-11-30T23:59:59Z")));
        assert!(e[0].expired(given, ts("2026-12-01T00:00:00Z")));
        assert!(e[0].covers(" ebr ", false));
        let casl = &default_expiries()[0];
        assert!(casl.covers("Implied", true));
        assert!(!casl.covers("implied", false));
        assert!(!casl.covers("express", true));
    }

    #[test]
    fn bad_entries_name_their_field() {
        let errs = expiries(&[ConsentExpiryDoc {
            consent_type: String::new(),
            max_age: "forever".into(),
            region: ExpiryRegion::Any,
            citation: None,
        }])
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "policy.consent_expiry[0].type",
                "policy.consent_expiry[0].max_age"
            ]
        );
    }

    #[test]
    fn zone_overrides_are_validated_and_longest_first() {
        let docs = [
            (
                "+1907".to_owned(),
                ZonesDoc::One("America/Anchorage".into()),
            ),
            (
                "+1907581".to_owned(),
                ZonesDoc::Many(vec!["America/Nome".into()]),
            ),
        ]
        .into_iter()
        .collect();
        let o = zone_overrides(&docs).unwrap();
        assert_eq!(o[0].prefix, "+1907581");
        let bad = [
            ("1907".to_owned(), ZonesDoc::One("America/Anchorage".into())),
            ("+1474".to_owned(), ZonesDoc::One("Saskatchewan".into())),
        ]
        .into_iter()
        .collect();
        let errs = zone_overrides(&bad).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].1.contains("not a known IANA time zone"), "{errs:?}");
    }
}
