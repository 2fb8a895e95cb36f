//! Recipient-local time: where a row is placed (its time zones and US state) and whether a
//! message may go at a given instant there, under the send window and the state rules.
//!
//! [`timing`] is the one check `plan` and `apply` (per message, just before sending) both use,
//! so they never disagree. Pure functions of "now".
//!
//! - A row's zone is its `timezone` value; else, for a phone number, the candidate zones of its
//!   prefix (libphonenumber's map, via `herald-numbering`); else the audience's
//!   `default_timezone`. A number with several candidate zones may be sent only when the window
//!   is open in **every** one; the next opening is the earliest instant when all are open.
//! - For messages of a category the state rules apply to (marketing by default), the state
//!   rule of the recipient's state (the `state` column, else the number's area code) narrows the
//!   window: the effective window is the intersection of both.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::schedule::{Timing, timing as schedule_timing, window_opens_at};
use crate::spec::model::{Campaign, Window, Workspace};
use crate::spec::state_rules::{EffectiveStateRule, StateCode, StateRules};

/// Where a row's time zone comes from.
#[derive(Debug, Clone)]
pub enum RowZones {
    /// The row's `timezone` value.
    Explicit(TimeZone),
    /// The candidate zones of the phone number (one or more).
    FromNumber(Arc<[TimeZone]>),
    /// The audience's `default_timezone`.
    AudienceDefault(TimeZone),
    /// The row's `timezone` value is not an IANA zone (a row diagnostic): held.
    Invalid,
    /// The phone number gives no zone (toll-free, unassigned area code, ...): held.
    Unknown,
    /// No zone at all (an email with no `timezone` and no `default_timezone`): held.
    Missing,
}

/// How a row was placed, for the plan's per-campaign counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// The `timezone` column.
    Explicit,
    /// Inferred from the phone number.
    Inferred,
    /// The audience's `default_timezone`.
    AudienceDefault,
    /// Could not be placed.
    Unplaced,
}

impl RowZones {
    /// How the row was placed.
    pub fn source(&self) -> ZoneSource {
        match self {
            Self::Explicit(_) => ZoneSource::Explicit,
            Self::FromNumber(_) => ZoneSource::Inferred,
            Self::AudienceDefault(_) => ZoneSource::AudienceDefault,
            Self::Invalid | Self::Unknown | Self::Missing => ZoneSource::Unplaced,
        }
    }
}

/// A row's recipient-local facts.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Its time zone(s).
    pub zones: RowZones,
    /// Its US state (the `state` column, else the number's area code), if known.
    pub state: Option<StateCode>,
}

impl Placement {
    /// A placement in one explicit zone and no state.
    pub fn zone(tz: TimeZone) -> Self {
        Self {
            zones: RowZones::Explicit(tz),
            state: None,
        }
    }
}

/// The state rules that apply to one campaign's messages (none when its template's category
/// is not covered).
#[derive(Debug, Clone, Copy)]
pub struct LocalRules<'a> {
    state_rules: Option<&'a StateRules>,
}

impl<'a> LocalRules<'a> {
    /// The rules for `campaign` in `ws`.
    pub fn for_campaign(ws: &'a Workspace, campaign: &Campaign) -> Self {
        let rules = &ws.project.policy.state_rules;
        let category = ws.templates.get(&campaign.template).map(|t| t.category);
        Self {
            state_rules: category.filter(|c| rules.applies_to(*c)).map(|_| rules),
        }
    }

    /// No state rules: the send window alone.
    pub fn none() -> Self {
        Self { state_rules: None }
    }

    fn rule(self, state: Option<StateCode>) -> Option<&'a EffectiveStateRule> {
        self.state_rules.zip(state).and_then(|(r, s)| r.get(s))
    }
}

/// At most this many rounds to find the first instant every zone is open; past it the row
/// waits for the last lower bound found (a later run checks again).
const MAX_ROUNDS: usize = 64;
/// Days searched for a zone's next opening.
const SEARCH_DAYS: i16 = 9;

fn open_at(
    window: Option<&Window>,
    rule: Option<&EffectiveStateRule>,
    tz: &TimeZone,
    t: Timestamp,
) -> bool {
    let local = tz.to_datetime(t);
    window.is_none_or(|w| w.contains(local.time())) && rule.is_none_or(|r| r.is_open(local))
}

/// The first instant `>= t` at which one zone is open; `t` itself when open.
fn zone_opens_at(
    window: Option<&Window>,
    rule: Option<&EffectiveStateRule>,
    tz: &TimeZone,
    t: Timestamp,
) -> Timestamp {
    if open_at(window, rule, tz, t) {
        return t;
    }
    let today = tz.to_datetime(t).date();
    // Openings happen at a window's start or at midnight (a window that wraps midnight).
    for d in 0..SEARCH_DAYS {
        let Ok(date) = today.checked_add(jiff::Span::new().days(d)) else {
            break;
        };
        let mut starts = vec![jiff::civil::Time::midnight()];
        starts.extend(window.map(|w| w.start));
        starts.extend(rule.and_then(|r| r.window_on(date)).map(|w| w.start));
        let best = starts
            .into_iter()
            .filter_map(|s| tz.to_zoned_datetime(date.to_datetime(s)).ok())
            .map(|z| z.timestamp())
            .filter(|&ts| ts > t && open_at(window, rule, tz, ts))
            .min();
        if let Some(best) = best {
            return best;
        }
    }
    // Never open in the searched days (e.g. a rule with no open day): hold a day.
    t.checked_add(SignedDuration::from_hours(24)).unwrap_or(t)
}

/// The first instant `>= now` at which every zone is open.
fn all_open_at(
    window: Option<&Window>,
    rule: Option<&EffectiveStateRule>,
    zones: &[TimeZone],
    now: Timestamp,
) -> Timestamp {
    let mut t = now;
    for _ in 0..MAX_ROUNDS {
        // Each zone's next opening is a lower bound for a common one; when every zone is open
        // at the largest bound, it is the earliest common opening.
        let next = zones
            .iter()
            .map(|tz| zone_opens_at(window, rule, tz, t))
            .max()
            .unwrap_or(t);
        if next == t {
            return t;
        }
        t = next;
    }
    t
}

/// Decides whether one message of `campaign` to a recipient placed at `place` may go at `now`:
/// the schedule, then the send window intersected with the state rule, open in every
/// candidate zone.
pub fn timing(
    campaign: &Campaign,
    rules: &LocalRules<'_>,
    place: &Placement,
    now: Timestamp,
) -> Timing {
    if let t @ (Timing::BeforeSchedule(_) | Timing::AfterSchedule) =
        schedule_timing(campaign, None, now)
    {
        return t;
    }
    let window = campaign.send_window.as_ref();
    let rule = rules.rule(place.state);
    if window.is_none() && rule.is_none() {
        return Timing::Now;
    }
    let (zones, inferred): (&[TimeZone], bool) = match &place.zones {
        RowZones::Explicit(tz) | RowZones::AudienceDefault(tz) => (std::slice::from_ref(tz), false),
        RowZones::FromNumber(zones) => (zones, true),
        RowZones::Unknown => return Timing::ZoneUnknown,
        RowZones::Invalid | RowZones::Missing => return Timing::NoTimezone,
    };
    let held = |at| {
        if inferred {
            Timing::QuietHoursZoneFromNumber(at)
        } else {
            Timing::QuietHours(at)
        }
    };
    // One zone and no state rule: the send window's own check, unchanged.
    if let ([tz], None, Some(w)) = (zones, rule, window) {
        return window_opens_at(w, tz, now).map_or(Timing::Now, held);
    }
    if zones.iter().all(|tz| open_at(window, rule, tz, now)) {
        return Timing::Now;
    }
    let at = all_open_at(window, rule, zones, now);
    let window_alone_open = zones.iter().all(|tz| open_at(window, None, tz, now));
    if rule.is_some() && window_alone_open {
        Timing::StateQuietHours(at)
    } else {
        held(at)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::civil::Time;

    use super::*;
    use crate::spec::model::Origin;
    use crate::spec::{DedupeBy, Name};

    fn campaign(window: Option<Window>) -> Campaign {
        Campaign {
            name: Name::parse("c").unwrap(),
            template: Name::parse("t").unwrap(),
            audience: Name::parse("a").unwrap(),
            from: "+15550000000".into(),
            from_name: None,
            reply_to: None,
            variables: BTreeMap::new(),
            not_before: None,
            not_after: None,
            active: true,
            rate_per_minute: None,
            send_window: window,
            dedupe_by: DedupeBy::Key,
            origin: Origin::default(),
        }
    }

    const FEDERAL: Option<Window> = Some(Window {
        start: Time::constant(8, 0, 0, 0),
        end: Time::constant(21, 0, 0, 0),
    });

    fn from_number(e164: &str) -> Placement {
        let zones = match herald_numbering::time_zones(e164) {
            herald_numbering::Zones::Known(z) => {
                RowZones::FromNumber(z.iter().map(|n| TimeZone::get(n).unwrap()).collect())
            }
            herald_numbering::Zones::Unknown => RowZones::Unknown,
        };
        Placement {
            zones,
            state: herald_numbering::us_state(e164).and_then(StateCode::parse),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn marketing(rules: &StateRules) -> LocalRules<'_> {
        LocalRules {
            state_rules: Some(rules),
        }
    }

    // 2026-12-02 (a Wednesday), US standard time: New York UTC-5, Boise UTC-7, Los Angeles
    // and Seattle UTC-8, Honolulu UTC-10.

    #[test]
    fn new_york_212_at_23_30_is_held_until_08_00() {
        let c = campaign(FEDERAL);
        let t = timing(
            &c,
            &LocalRules::none(),
            &from_number("+12125550100"),
            ts("2026-12-03T04:30:00Z"),
        );
        assert_eq!(
            t,
            Timing::QuietHoursZoneFromNumber(ts("2026-12-03T13:00:00Z"))
        );
    }

    #[test]
    fn seattle_206_at_20_30_is_sent() {
        let c = campaign(FEDERAL);
        let t = timing(
            &c,
            &LocalRules::none(),
            &from_number("+12065550100"),
            ts("2026-12-03T04:30:00Z"),
        );
        assert_eq!(t, Timing::Now);
    }

    #[test]
    fn nevada_775_at_21_30_boise_is_held_until_both_zones_open() {
        let c = campaign(FEDERAL);
        let p = from_number("+17755550100");
        assert!(matches!(&p.zones, RowZones::FromNumber(z) if z.len() == 2));
        // 21:30 Boise = 20:30 Los Angeles: closed in Boise, so held.
        let t = timing(&c, &LocalRules::none(), &p, ts("2026-12-03T04:30:00Z"));
        // Both open at 08:00 Los Angeles (09:00 Boise) = 16:00Z.
        assert_eq!(
            t,
            Timing::QuietHoursZoneFromNumber(ts("2026-12-03T16:00:00Z"))
        );
        // 20:30 Boise = 19:30 Los Angeles: open in both.
        let t = timing(&c, &LocalRules::none(), &p, ts("2026-12-03T03:30:00Z"));
        assert_eq!(t, Timing::Now);
    }

    #[test]
    fn honolulu_808_at_18_30_is_sent_and_toll_free_is_unknown() {
        let c = campaign(FEDERAL);
        let now = ts("2026-12-03T04:30:00Z");
        assert_eq!(
            timing(&c, &LocalRules::none(), &from_number("+18085550100"), now),
            Timing::Now
        );
        assert_eq!(
            timing(&c, &LocalRules::none(), &from_number("+18005550100"), now),
            Timing::ZoneUnknown
        );
        // Without a window an unknown zone does not matter.
        assert_eq!(
            timing(
                &campaign(None),
                &LocalRules::none(),
                &from_number("+18005550100"),
                now
            ),
            Timing::Now
        );
    }

    #[test]
    fn florida_marketing_at_20_30_is_held_new_york_sent_transactional_both_sent() {
        let c = campaign(FEDERAL);
        let rules = StateRules::built_in();
        let now = ts("2026-12-03T01:30:00Z"); // 20:30 in Miami and New York
        let fl = from_number("+13055550100");
        assert_eq!(fl.state, StateCode::parse("FL"));
        assert_eq!(
            timing(&c, &marketing(&rules), &fl, now),
            Timing::StateQuietHours(ts("2026-12-03T13:00:00Z"))
        );
        assert_eq!(
            timing(&c, &marketing(&rules), &from_number("+12125550100"), now),
            Timing::Now
        );
        assert_eq!(timing(&c, &LocalRules::none(), &fl, now), Timing::Now);
    }

    #[test]
    fn sunday_closed_state_waits_for_monday_and_texas_sunday_opens_at_noon() {
        let c = campaign(FEDERAL);
        let rules = StateRules::built_in();
        // Sunday 2026-12-06 10:00 in Birmingham (UTC-6) and in Houston (UTC-6).
        let now = ts("2026-12-06T16:00:00Z");
        let al = Placement {
            zones: RowZones::Explicit(TimeZone::get("America/Chicago").unwrap()),
            state: StateCode::parse("AL"),
        };
        assert_eq!(
            timing(&c, &marketing(&rules), &al, now),
            Timing::StateQuietHours(ts("2026-12-07T14:00:00Z"))
        );
        let tx = Placement {
            zones: RowZones::Explicit(TimeZone::get("America/Chicago").unwrap()),
            state: StateCode::parse("TX"),
        };
        assert_eq!(
            timing(&c, &marketing(&rules), &tx, now),
            Timing::StateQuietHours(ts("2026-12-06T18:00:00Z"))
        );
    }

    #[test]
    fn unplaced_rows_are_held() {
        let c = campaign(FEDERAL);
        let now = ts("2026-12-03T01:30:00Z");
        for zones in [RowZones::Invalid, RowZones::Missing] {
            let p = Placement { zones, state: None };
            assert_eq!(timing(&c, &LocalRules::none(), &p, now), Timing::NoTimezone);
        }
    }

    #[test]
    fn common_opening_of_far_apart_zones_is_the_earliest_instant_all_are_open() {
        let c = campaign(FEDERAL);
        let zones: Arc<[TimeZone]> = ["America/Adak", "America/New_York"]
            .iter()
            .map(|z| TimeZone::get(z).unwrap())
            .collect();
        let p = Placement {
            zones: RowZones::FromNumber(zones),
            state: None,
        };
        // 03:00 New York (22:00 Adak, UTC-10): next common opening 08:00 Adak = 18:00Z (13:00 NY).
        let t = timing(&c, &LocalRules::none(), &p, ts("2026-12-02T08:00:00Z"));
        assert_eq!(
            t,
            Timing::QuietHoursZoneFromNumber(ts("2026-12-02T18:00:00Z"))
        );
    }
}
