//! When a message may go out: the campaign's schedule and quiet hours evaluated in the
//! recipient's own time zone (TCPA: 08:00–21:00 local by default). Pure functions of "now".

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::spec::model::{Campaign, Window};

/// Whether a message may be sent at `now`, and if not, until when it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// It may go now.
    Now,
    /// The campaign has not started; it opens at this instant.
    BeforeSchedule(Timestamp),
    /// The campaign's schedule has ended.
    AfterSchedule,
    /// Quiet hours in the recipient's zone; the window opens at this instant.
    QuietHours(Timestamp),
    /// The recipient's time zone is unknown, so quiet hours cannot be checked: held.
    NoTimezone,
    /// Quiet hours in the zone(s) inferred from the phone number; opens at this instant (the
    /// window must be open in every candidate zone).
    QuietHoursZoneFromNumber(Timestamp),
    /// Open by the send window but closed by the recipient's state rule for marketing
    /// messages; opens at this instant. The hold names the rule that closed it.
    StateQuietHours(Timestamp, crate::spec::state_rules::StateHold),
    /// The phone number gives no time zone (toll-free, unassigned area code): held.
    ZoneUnknown,
}

/// The instant the window next opens, or `None` when it is open at `now`.
pub fn window_opens_at(window: &Window, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let local = tz.to_datetime(now);
    let t = local.time();
    if window.contains(t) {
        return None;
    }
    let today = local.date();
    let date = if t < window.start {
        today
    } else {
        today.tomorrow().unwrap_or(today)
    };
    // Outside the window: an opening that cannot be computed (dates near the end of the
    // supported range) holds the message a day rather than failing open.
    let opens = tz
        .to_zoned_datetime(date.to_datetime(window.start))
        .map_or_else(
            |_| {
                now.checked_add(jiff::SignedDuration::from_hours(24))
                    .unwrap_or(now)
            },
            |z| z.timestamp(),
        );
    // A window start inside a DST gap resolves forward; never report a past instant.
    Some(if opens <= now { now } else { opens })
}

/// Decides whether one message of `campaign` to a recipient in `tz` may go at `now`.
pub fn timing(campaign: &Campaign, tz: Option<&TimeZone>, now: Timestamp) -> Timing {
    if let Some(start) = campaign.not_before
        && now < start
    {
        return Timing::BeforeSchedule(start);
    }
    if let Some(end) = campaign.not_after
        && now >= end
    {
        return Timing::AfterSchedule;
    }
    let Some(window) = &campaign.send_window else {
        return Timing::Now;
    };
    let Some(tz) = tz else {
        return Timing::NoTimezone;
    };
    match window_opens_at(window, tz, now) {
        None => Timing::Now,
        Some(at) => Timing::QuietHours(at),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::Time;

    use super::*;

    fn tcpa() -> Window {
        Window {
            start: Time::constant(8, 0, 0, 0),
            end: Time::constant(21, 0, 0, 0),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn just_before_and_after_the_edges() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 20:59:59 EST is open; 21:00:00 is closed until 08:00 the next day.
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-12-02T01:59:59Z")),
            None
        );
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-12-02T02:00:00Z")),
            Some(ts("2026-12-02T13:00:00Z"))
        );
        // 07:59:59 is closed until 08:00 the same day; 08:00:00 is open.
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-12-02T12:59:59Z")),
            Some(ts("2026-12-02T13:00:00Z"))
        );
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-12-02T13:00:00Z")),
            None
        );
    }

    #[test]
    fn dst_change_dates() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08: clocks go 02:00 -> 03:00. At 01:30 EST (06:30Z) the window opens at
        // 08:00 EDT = 12:00Z, not 13:00Z.
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-03-08T06:30:00Z")),
            Some(ts("2026-03-08T12:00:00Z"))
        );
        // 2026-11-01: clocks go 02:00 -> 01:00. At 21:30 EDT on Oct 31 (01:30Z Nov 1) the
        // window opens at 08:00 EST = 13:00Z.
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-11-01T01:30:00Z")),
            Some(ts("2026-11-01T13:00:00Z"))
        );
        // 20:30 EST on the fall-back day is open.
        assert_eq!(
            window_opens_at(&tcpa(), &ny, ts("2026-11-02T01:30:00Z")),
            None
        );
    }

    #[test]
    fn same_instant_differs_by_zone() {
        let now = ts("2026-12-02T02:30:00Z"); // 21:30 in New York, 18:30 in Los Angeles
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(window_opens_at(&tcpa(), &la, now), None);
        assert!(window_opens_at(&tcpa(), &ny, now).is_some());
    }

    #[test]
    fn overnight_window() {
        let w = Window {
            start: Time::constant(22, 0, 0, 0),
            end: Time::constant(6, 0, 0, 0),
        };
        let utc = TimeZone::UTC;
        assert_eq!(window_opens_at(&w, &utc, ts("2026-12-02T23:00:00Z")), None);
        assert_eq!(
            window_opens_at(&w, &utc, ts("2026-12-02T12:00:00Z")),
            Some(ts("2026-12-02T22:00:00Z"))
        );
    }
}
