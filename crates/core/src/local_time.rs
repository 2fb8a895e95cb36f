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
//! - The effective window is an intersection, never a replacement: the campaign's
//!   `send_window` ∩ `policy.send_window` ∩ (for marketing) the federal 08:00–21:00 ∩ the state
//!   rule of every state the row is in. A campaign window can only narrow.
//! - For messages of a category the state rules apply to (marketing by default), the row is in
//!   the number's state (its area code) and, when the `state` column names another US state or
//!   territory, that one too: both rules apply. A `state` value that is no such code is ignored.
//! - For marketing (and any category the state rules apply to) the window must also be open in
//!   the number's own zone(s) when the row's `timezone` value names another: a row cannot move
//!   its number's quiet hours by claiming a far zone.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::schedule::{Timing, timing as schedule_timing, window_opens_at};
use crate::spec::Category;
use crate::spec::model::{Campaign, Window, Workspace};
use crate::spec::state_rules::{EffectiveStateRule, StateCode, StateHold, StateRules};

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
    /// Its US state (the `state` column when it names a known region, else the number's area
    /// code), if known.
    pub state: Option<StateCode>,
    /// The number's own state, when the `state` column names a different one: both apply.
    pub number_state: Option<StateCode>,
    /// The number's own candidate zones, when `zones` is the row's `timezone` value: marketing
    /// must be inside its window in these too.
    pub number_zones: Option<Arc<[TimeZone]>>,
}

impl Placement {
    /// A placement in one explicit zone and no state.
    pub fn zone(tz: TimeZone) -> Self {
        Self {
            zones: RowZones::Explicit(tz),
            state: None,
            number_state: None,
            number_zones: None,
        }
    }

    /// Every state the row is in (none, one, or the column's and the number's).
    pub fn states(&self) -> impl Iterator<Item = StateCode> {
        self.state.into_iter().chain(self.number_state)
    }
}

/// The federal calling window for marketing: 08:00–21:00 at the called party's location
/// (47 CFR 64.1200(c)(1)). No policy or campaign window widens it.
pub const FEDERAL_WINDOW: Window = Window {
    start: jiff::civil::Time::constant(8, 0, 0, 0),
    end: jiff::civil::Time::constant(21, 0, 0, 0),
};

/// The windows and state rules that bound one campaign's messages, beyond the campaign's own
/// `send_window`.
#[derive(Debug, Clone, Copy)]
pub struct LocalRules<'a> {
    /// The state rules, when they cover the template's category.
    state_rules: Option<&'a StateRules>,
    /// `policy.send_window`: a campaign window only narrows it.
    policy_window: Option<Window>,
    /// The federal window, for marketing.
    federal: Option<Window>,
    /// Whether the window must hold in the number's zones as well as the row's `timezone`.
    strict_zones: bool,
}

impl<'a> LocalRules<'a> {
    /// The rules for `campaign` in `ws`. Marketing (and a template herald cannot find, which
    /// is treated as marketing) gets the federal window and the policy's, whatever the
    /// campaign says; another category gets the policy's window unless the campaign says
    /// `send_window: none` (a notice that may go at any hour).
    pub fn for_campaign(ws: &'a Workspace, campaign: &Campaign) -> Self {
        let policy = &ws.project.policy;
        let rules = &policy.state_rules;
        let category = ws
            .templates
            .get(&campaign.template)
            .map_or(Category::Marketing, |t| t.category);
        let marketing = category == Category::Marketing;
        let state_rules = rules.applies_to(category).then_some(rules);
        Self {
            state_rules,
            policy_window: if marketing || campaign.send_window.is_some() {
                policy.send_window
            } else {
                None
            },
            federal: marketing.then_some(FEDERAL_WINDOW),
            strict_zones: marketing || state_rules.is_some(),
        }
    }

    /// No state rules and no window beyond the campaign's.
    pub fn none() -> Self {
        Self {
            state_rules: None,
            policy_window: None,
            federal: None,
            strict_zones: false,
        }
    }

    /// Marketing under `state_rules` and `policy_window` (for tests and tools).
    pub fn marketing(state_rules: &'a StateRules, policy_window: Option<Window>) -> Self {
        Self {
            state_rules: Some(state_rules),
            policy_window,
            federal: Some(FEDERAL_WINDOW),
            strict_zones: true,
        }
    }

    fn rule(self, state: Option<StateCode>) -> Option<&'a EffectiveStateRule> {
        self.state_rules.zip(state).and_then(|(r, s)| r.get(s))
    }
}

/// What one message must be inside: every window (all of them; a window is a daily
/// `[start, end)`) and every state rule.
#[derive(Debug, Clone, Copy, Default)]
struct Bounds<'a> {
    windows: [Option<Window>; 3],
    rules: [Option<&'a EffectiveStateRule>; 2],
}

impl<'a> Bounds<'a> {
    /// The campaign's window ∩ the policy's ∩ the federal one, and the rules of the row's
    /// states; duplicates dropped.
    fn new(campaign: Option<Window>, local: &LocalRules<'a>, place: &Placement) -> Self {
        let mut b = Self::default();
        let mut n = 0;
        for w in [campaign, local.policy_window, local.federal]
            .into_iter()
            .flatten()
        {
            if !b.windows.contains(&Some(w)) {
                b.windows[n] = Some(w);
                n += 1;
            }
        }
        b.rules[0] = local.rule(place.state);
        b.rules[1] = local
            .rule(place.number_state)
            .filter(|r| b.rules[0].is_none_or(|first| first.state != r.state));
        if b.rules[0].is_none() {
            b.rules.swap(0, 1);
        }
        b
    }

    fn windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter().flatten()
    }

    fn rules(&self) -> impl Iterator<Item = &'a EffectiveStateRule> + '_ {
        self.rules.iter().flatten().copied()
    }

    fn has_rules(&self) -> bool {
        self.rules[0].is_some()
    }

    /// The windows alone, without the state rules.
    fn without_rules(self) -> Self {
        Self {
            rules: [None; 2],
            ..self
        }
    }
}

/// At most this many rounds to find the first instant every zone is open; past it the row
/// waits for the last lower bound found (a later run checks again).
const MAX_ROUNDS: usize = 64;
/// Days searched for a zone's next opening.
const SEARCH_DAYS: i16 = 9;

fn open_at(b: &Bounds<'_>, tz: &TimeZone, t: Timestamp) -> bool {
    let local = tz.to_datetime(t);
    b.windows().all(|w| w.contains(local.time())) && b.rules().all(|r| r.is_open_at(local, t))
}

/// The first instant `>= t` at which one zone is open; `t` itself when open.
fn zone_opens_at(b: &Bounds<'_>, tz: &TimeZone, t: Timestamp) -> Timestamp {
    if open_at(b, tz, t) {
        return t;
    }
    let today = tz.to_datetime(t).date();
    // An intersection of windows opens at one of their starts, or at midnight (a window that
    // wraps midnight).
    for d in 0..SEARCH_DAYS {
        let Ok(date) = today.checked_add(jiff::Span::new().days(d)) else {
            break;
        };
        let mut starts = vec![jiff::civil::Time::midnight()];
        starts.extend(b.windows().map(|w| w.start));
        starts.extend(b.rules().filter_map(|r| r.window_on(date)).map(|w| w.start));
        // A rule on a standard-time clock opens at its window's start on that clock.
        let standard = b.rules().filter_map(|r| {
            let zone = r.standard_zone()?;
            let w = r.window_on(date)?;
            zone.to_zoned_datetime(date.to_datetime(w.start)).ok()
        });
        let best = starts
            .into_iter()
            .filter_map(|s| tz.to_zoned_datetime(date.to_datetime(s)).ok())
            .chain(standard)
            .map(|z| z.timestamp())
            .filter(|&ts| ts > t && open_at(b, tz, ts))
            .min();
        if let Some(best) = best {
            return best;
        }
    }
    // Never open in the searched days (e.g. a rule with no open day): hold a day.
    t.checked_add(SignedDuration::from_hours(24)).unwrap_or(t)
}

/// The first instant `>= now` at which every zone is open.
fn all_open_at(b: &Bounds<'_>, zones: &[TimeZone], now: Timestamp) -> Timestamp {
    let mut t = now;
    for _ in 0..MAX_ROUNDS {
        // Each zone's next opening is a lower bound for a common one; when every zone is open
        // at the largest bound, it is the earliest common opening.
        let next = zones
            .iter()
            .map(|tz| zone_opens_at(b, tz, t))
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
/// the schedule, then the intersection of the campaign's window, the policy's, the federal
/// one (marketing) and the rules of the row's states, open in every zone the row is in.
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
    let bounds = Bounds::new(campaign.send_window, rules, place);
    if bounds.windows().next().is_none() && !bounds.has_rules() {
        return Timing::Now;
    }
    let mut row_zones: Vec<TimeZone>;
    let (zones, inferred): (&[TimeZone], bool) = match (&place.zones, &place.number_zones) {
        // The row's zone and, where the law follows the number, the number's zones too.
        (RowZones::Explicit(tz), Some(number)) if rules.strict_zones => {
            row_zones = Vec::with_capacity(number.len() + 1);
            row_zones.push(tz.clone());
            row_zones.extend(
                number
                    .iter()
                    .filter(|z| z.iana_name() != tz.iana_name() || z.iana_name().is_none())
                    .cloned(),
            );
            (&row_zones, false)
        }
        (RowZones::Explicit(tz) | RowZones::AudienceDefault(tz), _) => {
            (std::slice::from_ref(tz), false)
        }
        (RowZones::FromNumber(zones), _) => (zones, true),
        (RowZones::Unknown, _) => return Timing::ZoneUnknown,
        (RowZones::Invalid | RowZones::Missing, _) => return Timing::NoTimezone,
    };
    let held = |at| {
        if inferred {
            Timing::QuietHoursZoneFromNumber(at)
        } else {
            Timing::QuietHours(at)
        }
    };
    // One zone, one window and no state rule: the send window's own check.
    if let ([tz], false, [Some(w), None, None]) = (zones, bounds.has_rules(), &bounds.windows) {
        return window_opens_at(w, tz, now).map_or(Timing::Now, held);
    }
    if zones.iter().all(|tz| open_at(&bounds, tz, now)) {
        return Timing::Now;
    }
    let at = all_open_at(&bounds, zones, now);
    let windows = bounds.without_rules();
    let window_alone_open = zones.iter().all(|tz| open_at(&windows, tz, now));
    if bounds.has_rules() && window_alone_open {
        // Name the rule that holds it: the first state rule closed in one of the zones.
        let state_hold = bounds
            .rules()
            .find_map(|r| {
                zones.iter().find_map(|tz| {
                    r.closed_at(tz.to_datetime(now), now).map(|why| StateHold {
                        state: r.state,
                        why,
                    })
                })
            })
            .unwrap_or(StateHold {
                state: bounds.rules[0].map_or(StateCode::UNKNOWN, |r| r.state),
                why: crate::spec::state_rules::ClosedBy::Holiday("closed"),
            });
        Timing::StateQuietHours(at, state_hold)
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
    use crate::spec::state_rules::ClosedBy;
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
            dispatch: crate::spec::model::Dispatch::Agentless,
            origin: Origin::default(),
        }
    }

    fn hours(state: &str, start: i8, end: i8) -> StateHold {
        StateHold {
            state: StateCode::parse(state).unwrap(),
            why: ClosedBy::Hours(herald_numbering::Window::hours(start, end)),
        }
    }

    fn sunday(state: &str) -> StateHold {
        StateHold {
            state: StateCode::parse(state).unwrap(),
            why: ClosedBy::Day(jiff::civil::Weekday::Sunday),
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
            number_state: None,
            number_zones: None,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn marketing(rules: &StateRules) -> LocalRules<'_> {
        LocalRules::marketing(rules, FEDERAL)
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
            Timing::StateQuietHours(ts("2026-12-03T13:00:00Z"), hours("FL", 8, 20))
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
            number_state: None,
            number_zones: None,
        };
        assert_eq!(
            timing(&c, &marketing(&rules), &al, now),
            Timing::StateQuietHours(ts("2026-12-07T14:00:00Z"), sunday("AL"))
        );
        let tx = Placement {
            zones: RowZones::Explicit(TimeZone::get("America/Chicago").unwrap()),
            state: StateCode::parse("TX"),
            number_state: None,
            number_zones: None,
        };
        assert_eq!(
            timing(&c, &marketing(&rules), &tx, now),
            Timing::StateQuietHours(ts("2026-12-06T18:00:00Z"), hours("TX", 12, 21))
        );
    }

    #[test]
    fn unplaced_rows_are_held() {
        let c = campaign(FEDERAL);
        let now = ts("2026-12-03T01:30:00Z");
        for zones in [RowZones::Invalid, RowZones::Missing] {
            let p = Placement {
                zones,
                state: None,
                number_state: None,
                number_zones: None,
            };
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
            number_state: None,
            number_zones: None,
        };
        // 03:00 New York (22:00 Adak, UTC-10): next common opening 08:00 Adak = 18:00Z (13:00 NY).
        let t = timing(&c, &LocalRules::none(), &p, ts("2026-12-02T08:00:00Z"));
        assert_eq!(
            t,
            Timing::QuietHoursZoneFromNumber(ts("2026-12-02T18:00:00Z"))
        );
    }

    fn window(start: i8, end: i8) -> Window {
        Window {
            start: Time::constant(start, 0, 0, 0),
            end: Time::constant(end, 0, 0, 0),
        }
    }

    fn ny() -> Placement {
        Placement::zone(TimeZone::get("America/New_York").unwrap())
    }

    /// A transactional campaign's own window is intersected with the policy's.
    fn transactional(policy: Option<Window>) -> LocalRules<'static> {
        LocalRules {
            policy_window: policy,
            ..LocalRules::none()
        }
    }

    #[test]
    fn a_campaign_window_wider_than_the_policy_is_narrowed_to_it() {
        // 21:30 in New York.
        let now = ts("2026-12-03T02:30:00Z");
        let c = campaign(Some(window(6, 23)));
        assert_eq!(
            timing(&c, &transactional(FEDERAL), &ny(), now),
            Timing::QuietHours(ts("2026-12-03T13:00:00Z"))
        );
        // A narrower campaign window is kept: 09:00 opens after the policy's 08:00.
        let c = campaign(Some(window(9, 17)));
        assert_eq!(
            timing(&c, &transactional(FEDERAL), &ny(), now),
            Timing::QuietHours(ts("2026-12-03T14:00:00Z"))
        );
        // The intersection of two overlapping windows opens at the later start.
        let c = campaign(Some(window(10, 23)));
        assert_eq!(
            timing(
                &c,
                &transactional(Some(window(7, 12))),
                &ny(),
                ts("2026-12-03T13:00:00Z")
            ),
            Timing::QuietHours(ts("2026-12-03T15:00:00Z"))
        );
        // Without a policy window the campaign's own applies.
        assert_eq!(
            timing(
                &campaign(Some(window(6, 23))),
                &transactional(None),
                &ny(),
                now
            ),
            Timing::Now
        );
    }

    #[test]
    fn marketing_never_goes_outside_the_federal_window() {
        let rules = StateRules::built_in();
        // A window wrapping midnight, forced past validation, policy wide open too: 03:00 and
        // 22:30 in New York are held; the intersection with 08:00-21:00 is empty, so it never
        // opens.
        let c = campaign(Some(Window {
            start: Time::constant(22, 0, 0, 0),
            end: Time::constant(7, 0, 0, 0),
        }));
        let wide = LocalRules::marketing(&rules, None);
        for now in ["2026-12-03T08:00:00Z", "2026-12-03T03:30:00Z"] {
            assert!(
                !matches!(timing(&c, &wide, &ny(), ts(now)), Timing::Now),
                "{now}"
            );
        }
        // `send_window: none` forced past validation: still the federal window.
        assert!(matches!(
            timing(&campaign(None), &wide, &ny(), ts("2026-12-03T08:00:00Z")),
            Timing::QuietHours(_)
        ));
        // A campaign window of 07:00-23:00 under a policy of 07:00-23:00 at 21:30: held until
        // 08:00.
        let c = campaign(Some(window(7, 23)));
        assert_eq!(
            timing(
                &c,
                &LocalRules::marketing(&rules, Some(window(7, 23))),
                &ny(),
                ts("2026-12-03T02:30:00Z")
            ),
            Timing::QuietHours(ts("2026-12-03T13:00:00Z"))
        );
    }

    #[test]
    fn a_second_state_adds_its_rule_to_the_numbers() {
        let rules = StateRules::built_in();
        let c = campaign(FEDERAL);
        // 20:30 in New York and Miami.
        let now = ts("2026-12-03T01:30:00Z");
        // A New York number whose row says Florida, and a Florida number whose row says New
        // York: Florida's 20:00 holds both.
        let mut ny_says_fl = from_number("+12125550100");
        ny_says_fl.number_state = ny_says_fl.state;
        ny_says_fl.state = StateCode::parse("FL");
        let mut fl_says_ny = from_number("+13055550100");
        fl_says_ny.number_state = fl_says_ny.state;
        fl_says_ny.state = StateCode::parse("NY");
        for p in [&ny_says_fl, &fl_says_ny] {
            assert_eq!(
                timing(&c, &marketing(&rules), p, now),
                Timing::StateQuietHours(ts("2026-12-03T13:00:00Z"), hours("FL", 8, 20)),
                "{p:?}"
            );
            assert_eq!(p.states().count(), 2);
        }
        // Sunday 10:00 in Chicago, a Texas number whose row says Alabama: Alabama is closed on
        // Sundays, Texas opens at noon: the later of both, Monday 08:00 (Alabama) and 09:00
        // (Texas): Monday 09:00.
        let p = Placement {
            zones: RowZones::Explicit(TimeZone::get("America/Chicago").unwrap()),
            state: StateCode::parse("AL"),
            number_state: StateCode::parse("TX"),
            number_zones: None,
        };
        assert_eq!(
            timing(&c, &marketing(&rules), &p, ts("2026-12-06T16:00:00Z")),
            Timing::StateQuietHours(ts("2026-12-07T15:00:00Z"), sunday("AL"))
        );
    }

    #[test]
    fn a_far_zone_in_the_row_does_not_move_the_numbers_hours_for_marketing() {
        let rules = StateRules::built_in();
        let c = campaign(FEDERAL);
        let mut p = from_number("+13055550100");
        let RowZones::FromNumber(number) = p.zones.clone() else {
            panic!("{p:?}")
        };
        p.zones = RowZones::Explicit(TimeZone::get("Pacific/Kiritimati").unwrap());
        p.number_zones = Some(number);
        // 20:30 in Miami is 15:30 in Kiritimati: Florida's 20:00 holds, until both zones are
        // open: 08:00 in Kiritimati = 13:00 in Miami = 18:00Z.
        let now = ts("2026-12-03T01:30:00Z");
        assert_eq!(
            timing(&c, &marketing(&rules), &p, now),
            Timing::StateQuietHours(ts("2026-12-03T18:00:00Z"), hours("FL", 8, 20))
        );
        // 03:00 in Miami is 22:00 in Kiritimati: the federal window is closed in Miami.
        assert!(matches!(
            timing(&c, &marketing(&rules), &p, ts("2026-12-03T08:00:00Z")),
            Timing::QuietHours(_)
        ));
        // A transactional notice follows the row's zone.
        assert_eq!(timing(&c, &LocalRules::none(), &p, now), Timing::Now);
    }

    fn at(zone: &str, state: &str) -> Placement {
        Placement {
            zones: RowZones::Explicit(TimeZone::get(zone).unwrap()),
            state: StateCode::parse(state),
            number_state: None,
            number_zones: None,
        }
    }

    #[test]
    fn rhode_island_sunday_and_holiday_are_named_and_opening_skips_them() {
        let rules = StateRules::built_in();
        let c = campaign(FEDERAL);
        // Sunday 2026-12-06 12:00 in Providence: held by Rhode Island: Sunday, until Monday
        // 09:00.
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/New_York", "RI"),
            ts("2026-12-06T17:00:00Z"),
        );
        let Timing::StateQuietHours(opens, hold) = t else {
            panic!("{t:?}")
        };
        assert_eq!(opens, ts("2026-12-07T14:00:00Z"));
        assert_eq!(hold.to_string(), "Rhode Island: Sunday");
        // Saturday 2026-12-26 at 18:00 (after 17:00): Sunday is closed, Monday 12-28 opens.
        // Christmas 2026 is a Friday; Saturday 12-26 is open 10-17.
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/New_York", "RI"),
            ts("2026-12-26T23:00:00Z"),
        );
        assert_eq!(
            t,
            Timing::StateQuietHours(ts("2026-12-28T14:00:00Z"), hours("RI", 10, 17))
        );
        // Thursday 2027-12-23 after 18:00. Christmas 2027 is a Saturday: closed itself, observed
        // Friday 12-24 federally and Monday 12-27 in Rhode Island; Sunday is closed: the next
        // opening is Tuesday 09:00.
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/New_York", "RI"),
            ts("2027-12-23T23:30:00Z"),
        );
        let Timing::StateQuietHours(opens, _) = t else {
            panic!("{t:?}")
        };
        assert_eq!(opens, ts("2027-12-28T14:00:00Z"));
    }

    #[test]
    fn alabama_christmas_and_utah_pioneer_day() {
        let rules = StateRules::built_in();
        let c = campaign(FEDERAL);
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/Chicago", "AL"),
            ts("2026-12-25T18:00:00Z"),
        );
        let Timing::StateQuietHours(opens, hold) = t else {
            panic!("{t:?}")
        };
        assert_eq!(hold.to_string(), "Alabama: Christmas Day");
        assert_eq!(opens, ts("2026-12-26T14:00:00Z"));
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/Denver", "UT"),
            ts("2026-07-24T18:00:00Z"),
        );
        let Timing::StateQuietHours(opens, hold) = t else {
            panic!("{t:?}")
        };
        assert_eq!(hold.to_string(), "Utah: Pioneer Day");
        assert_eq!(opens, ts("2026-07-25T14:00:00Z"));
    }

    #[test]
    fn mississippi_holds_to_central_standard_time_in_summer() {
        let rules = StateRules::built_in();
        let c = campaign(FEDERAL);
        // 08:30 CDT on a summer Monday is 07:30 CST: held until 09:00 CDT.
        let t = timing(
            &c,
            &marketing(&rules),
            &at("America/Chicago", "MS"),
            ts("2026-07-06T13:30:00Z"),
        );
        let Timing::StateQuietHours(opens, hold) = t else {
            panic!("{t:?}")
        };
        assert_eq!(opens, ts("2026-07-06T14:00:00Z"));
        assert_eq!(
            hold.to_string(),
            "Mississippi: outside 08:00-20:00 standard time"
        );
        // In winter the clocks agree.
        assert_eq!(
            timing(
                &c,
                &marketing(&rules),
                &at("America/Chicago", "MS"),
                ts("2026-12-07T14:30:00Z")
            ),
            Timing::Now
        );
    }
}
