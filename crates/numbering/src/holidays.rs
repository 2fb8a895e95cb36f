//! Legal holidays as data: each calendar is a list of rules (a fixed date, the nth or last
//! weekday of a month, a day relative to Easter, the general election day) with the
//! observed-day shifting its statute prescribes, and the statute it comes from.
//!
//! A holiday closes **both** its own date and the day it is observed on (the conservative
//! reading of "no solicitation on a legal holiday": when July 4 is a Saturday, July 3 and
//! July 4 are both closed). Dates are computed per year from the rules; each calendar's dates
//! for 1990–2100 are computed once per process and then found by binary search, so a check is
//! O(log n) and allocation-free. Years outside that range are computed on demand.
//!
//! docs/compliance.md lists every calendar with its source; policy can turn a state's calendar
//! off or add dates (`policy.state_rules.XX.calendar`, `holidays`).

use std::sync::OnceLock;

use jiff::civil::{Date, Weekday};

/// When a holiday falls in a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayDate {
    /// A fixed month and day.
    Fixed { month: i8, day: i8 },
    /// The `nth` (1-based) `weekday` of `month`.
    Nth {
        month: i8,
        weekday: Weekday,
        nth: i8,
    },
    /// The last `weekday` of `month`.
    Last { month: i8, weekday: Weekday },
    /// `offset` days from Easter Sunday (Gregorian computus): Good Friday is -2, Mardi Gras -47.
    Easter { offset: i16 },
    /// The Tuesday after the first Monday of November; `even_years_only` for states whose
    /// general election of state officers is held in even years.
    ElectionDay { even_years_only: bool },
}

/// How a holiday that falls on a weekend is observed (the observed day is closed too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// No shifting.
    Never,
    /// Saturday → the Friday before, Sunday → the Monday after (5 U.S.C. § 6103(b), Executive
    /// Order 11582; Ala. Code § 1-3-8(a); Utah Code § 63G-1-301(2)(a)-(b)).
    Federal,
    /// Sunday → the Monday after.
    SundayToMonday,
    /// Saturday or Sunday → the Monday after (R.I. Gen. Laws § 25-1-1 for some holidays).
    WeekendToMonday,
    /// Utah's Juneteenth: Tuesday to Friday → the Monday before; Saturday or Sunday → the
    /// Monday after (Utah Code § 63G-1-301(2)(c)-(d)).
    UtahJuneteenth,
}

/// One holiday rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolidayRule {
    /// The holiday's name as the statute gives it.
    pub name: &'static str,
    pub date: HolidayDate,
    pub observed: Observed,
}

/// A named list of holiday rules with its source.
#[derive(Debug)]
pub struct Calendar {
    /// A short id (`federal`, `AL`, ...).
    pub id: &'static str,
    /// The statute that lists the holidays.
    pub citation: &'static str,
    /// Where the list was read.
    pub source: &'static str,
    /// The rule lists whose union is the calendar (e.g. a state's own and the federal one).
    pub rules: &'static [&'static [HolidayRule]],
    /// What the calendar leaves out (local, ad hoc or proclaimed days).
    pub note: &'static str,
    cache: OnceLock<Vec<(Date, &'static str)>>,
}

/// The first and last years whose dates are computed once and cached.
const CACHED_YEARS: (i16, i16) = (1990, 2100);

impl Calendar {
    const fn new(
        id: &'static str,
        citation: &'static str,
        source: &'static str,
        rules: &'static [&'static [HolidayRule]],
        note: &'static str,
    ) -> Self {
        Self {
            id,
            citation,
            source,
            rules,
            note,
            cache: OnceLock::new(),
        }
    }

    /// The closed dates of `year` with the holiday's name, sorted by date (a date closed by
    /// two holidays appears once, with the first rule's name).
    pub fn dates_in(&self, year: i16) -> Vec<(Date, &'static str)> {
        let mut out = Vec::new();
        // An observed day can fall in the year before (January 1 on a Saturday → December 31).
        for y in [year, year.saturating_add(1)] {
            for rule in self.rules.iter().flat_map(|r| r.iter()) {
                for d in rule.closed_dates(y) {
                    if d.year() == year {
                        out.push((d, rule.name));
                    }
                }
            }
        }
        out.sort_by_key(|(d, _)| *d);
        out.dedup_by_key(|(d, _)| *d);
        out
    }

    fn cached(&self) -> &[(Date, &'static str)] {
        self.cache.get_or_init(|| {
            (CACHED_YEARS.0..=CACHED_YEARS.1)
                .flat_map(|y| self.dates_in(y))
                .collect()
        })
    }

    /// The holiday that closes `date`, if any.
    pub fn holiday_on(&self, date: Date) -> Option<&'static str> {
        if (CACHED_YEARS.0..=CACHED_YEARS.1).contains(&date.year()) {
            let dates = self.cached();
            return dates
                .binary_search_by_key(&date, |(d, _)| *d)
                .ok()
                .map(|i| dates[i].1);
        }
        self.dates_in(date.year())
            .into_iter()
            .find(|(d, _)| *d == date)
            .map(|(_, name)| name)
    }
}

/// Easter Sunday of `year` (Gregorian; the anonymous computus, Meeus/Jones/Butcher). The
/// single letters are the algorithm's own names.
#[allow(clippy::many_single_char_names)]
pub fn easter(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

impl HolidayRule {
    /// The holiday's own date in `year`, if it has one that year.
    pub fn date_in(&self, year: i16) -> Option<Date> {
        match self.date {
            HolidayDate::Fixed { month, day } => Date::new(year, month, day).ok(),
            HolidayDate::Nth {
                month,
                weekday,
                nth,
            } => Date::new(year, month, 1)
                .ok()?
                .nth_weekday_of_month(nth, weekday)
                .ok(),
            HolidayDate::Last { month, weekday } => Date::new(year, month, 1)
                .ok()?
                .nth_weekday_of_month(-1, weekday)
                .ok(),
            HolidayDate::Easter { offset } => easter(year)?
                .checked_add(jiff::Span::new().days(offset))
                .ok(),
            HolidayDate::ElectionDay { even_years_only } => {
                if even_years_only && year % 2 != 0 {
                    return None;
                }
                Date::new(year, 11, 1)
                    .ok()?
                    .nth_weekday_of_month(1, Weekday::Monday)
                    .ok()?
                    .tomorrow()
                    .ok()
            }
        }
    }

    /// The day the holiday of `year` is observed on, when it differs from its date.
    pub fn observed_in(&self, year: i16) -> Option<Date> {
        let date = self.date_in(year)?;
        let shift = |days: i64| date.checked_add(jiff::Span::new().days(days)).ok();
        match (self.observed, date.weekday()) {
            (Observed::Federal, Weekday::Saturday) => shift(-1),
            (
                Observed::Federal
                | Observed::SundayToMonday
                | Observed::WeekendToMonday
                | Observed::UtahJuneteenth,
                Weekday::Sunday,
            ) => shift(1),
            (Observed::WeekendToMonday | Observed::UtahJuneteenth, Weekday::Saturday) => shift(2),
            (Observed::UtahJuneteenth, Weekday::Monday) => None,
            (Observed::UtahJuneteenth, weekday) => {
                shift(-i64::from(weekday.to_monday_zero_offset()))
            }
            _ => None,
        }
    }

    /// Every date of `year`'s holiday that is closed: its own and the observed one.
    pub fn closed_dates(&self, year: i16) -> impl Iterator<Item = Date> {
        self.date_in(year).into_iter().chain(self.observed_in(year))
    }
}

const fn fixed(name: &'static str, month: i8, day: i8, observed: Observed) -> HolidayRule {
    HolidayRule {
        name,
        date: HolidayDate::Fixed { month, day },
        observed,
    }
}

const fn nth(name: &'static str, month: i8, weekday: Weekday, nth: i8) -> HolidayRule {
    HolidayRule {
        name,
        date: HolidayDate::Nth {
            month,
            weekday,
            nth,
        },
        observed: Observed::Never,
    }
}

const fn last(name: &'static str, month: i8, weekday: Weekday) -> HolidayRule {
    HolidayRule {
        name,
        date: HolidayDate::Last { month, weekday },
        observed: Observed::Never,
    }
}

const fn easter_rel(name: &'static str, offset: i16) -> HolidayRule {
    HolidayRule {
        name,
        date: HolidayDate::Easter { offset },
        observed: Observed::Never,
    }
}

use Observed::{Federal, Never, SundayToMonday, WeekendToMonday};
use Weekday::{Monday, Thursday};

/// Federal legal public holidays, 5 U.S.C. § 6103(a); observed per § 6103(b) and Executive
/// Order 11582 (Saturday → Friday, Sunday → Monday).
pub static FEDERAL_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, Federal),
    nth("Birthday of Martin Luther King, Jr.", 1, Monday, 3),
    nth("Washington's Birthday", 2, Monday, 3),
    last("Memorial Day", 5, Monday),
    fixed("Juneteenth National Independence Day", 6, 19, Federal),
    fixed("Independence Day", 7, 4, Federal),
    nth("Labor Day", 9, Monday, 1),
    nth("Columbus Day", 10, Monday, 2),
    fixed("Veterans Day", 11, 11, Federal),
    nth("Thanksgiving Day", 11, Thursday, 4),
    fixed("Christmas Day", 12, 25, Federal),
];

static AL_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, Federal),
    HolidayRule {
        observed: Federal,
        ..nth(
            "Martin Luther King, Jr.'s and Robert E. Lee's birthday",
            1,
            Monday,
            3,
        )
    },
    HolidayRule {
        observed: Federal,
        ..nth(
            "George Washington's and Thomas Jefferson's birthday",
            2,
            Monday,
            3,
        )
    },
    nth("Confederate Memorial Day", 4, Monday, 4),
    last("National Memorial Day", 5, Monday),
    nth("Jefferson Davis' birthday", 6, Monday, 1),
    fixed("Independence Day", 7, 4, Federal),
    nth("Labor Day", 9, Monday, 1),
    nth(
        "Columbus Day, Fraternal Day and American Indian Heritage Day",
        10,
        Monday,
        2,
    ),
    fixed("Veterans' Day", 11, 11, Federal),
    nth("Thanksgiving Day", 11, Thursday, 4),
    fixed("Christmas Day", 12, 25, Federal),
];

static LA_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, Federal),
    fixed("Battle of New Orleans", 1, 8, Never),
    nth("Dr. Martin Luther King, Jr.'s Birthday", 1, Monday, 3),
    nth("Washington's Birthday and Presidents' Day", 2, Monday, 3),
    easter_rel("Mardi Gras", -47),
    easter_rel("Good Friday", -2),
    last("National Memorial Day", 5, Monday),
    fixed("Independence Day", 7, 4, Federal),
    fixed("Huey P. Long Day", 8, 30, Never),
    nth("Labor Day", 9, Monday, 1),
    nth("Christopher Columbus Day", 10, Monday, 2),
    fixed("All Saints' Day", 11, 1, Never),
    fixed("Veterans' Day", 11, 11, Never),
    nth("Thanksgiving Day", 11, Thursday, 4),
    fixed("Christmas Day", 12, 25, Federal),
];

static PA_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, Never),
    nth("Martin Luther King, Jr. Day", 1, Monday, 3),
    nth("Presidents' Day", 2, Monday, 3),
    easter_rel("Good Friday", -2),
    last("Memorial Day", 5, Monday),
    fixed("Flag Day", 6, 14, Never),
    fixed("Independence Day", 7, 4, Never),
    nth("Labor Day", 9, Monday, 1),
    nth("Columbus Day", 10, Monday, 2),
    HolidayRule {
        name: "Election Day",
        date: HolidayDate::ElectionDay {
            even_years_only: false,
        },
        observed: Never,
    },
    fixed("Veterans Day", 11, 11, Never),
    nth("Thanksgiving Day", 11, Thursday, 4),
    fixed("Christmas Day", 12, 25, Never),
];

static RI_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, WeekendToMonday),
    nth("Dr. Martin Luther King, Jr.'s Birthday", 1, Monday, 3),
    nth("Washington's Birthday", 2, Monday, 3),
    fixed("Rhode Island Independence Day", 5, 4, SundayToMonday),
    last("Memorial Day", 5, Monday),
    fixed("Independence Day", 7, 4, WeekendToMonday),
    nth("Victory Day", 8, Monday, 2),
    nth("Labor Day", 9, Monday, 1),
    nth("Columbus Day", 10, Monday, 2),
    HolidayRule {
        name: "Election Day",
        date: HolidayDate::ElectionDay {
            even_years_only: true,
        },
        observed: Never,
    },
    fixed("Veterans' Day", 11, 11, WeekendToMonday),
    fixed("Christmas Day", 12, 25, WeekendToMonday),
];

static UT_RULES: &[HolidayRule] = &[
    fixed("New Year's Day", 1, 1, Federal),
    nth("Dr. Martin Luther King, Jr. Day", 1, Monday, 3),
    nth("Presidents' Day", 2, Monday, 3),
    easter_rel("Good Friday", -2),
    last("Memorial Day", 5, Monday),
    fixed(
        "Juneteenth National Freedom Day",
        6,
        19,
        Observed::UtahJuneteenth,
    ),
    fixed("Independence Day", 7, 4, Federal),
    fixed("Pioneer Day", 7, 24, Federal),
    nth("Labor Day", 9, Monday, 1),
    nth("Columbus Day", 10, Monday, 2),
    fixed("Veterans Day", 11, 11, Federal),
    nth("Thanksgiving Day", 11, Thursday, 4),
    fixed("Christmas", 12, 25, Federal),
];

/// The federal calendar.
pub static FEDERAL: Calendar = Calendar::new(
    "federal",
    "5 U.S.C. § 6103 (observed per § 6103(b) and Executive Order 11582)",
    "https://www.law.cornell.edu/uscode/text/5/6103",
    &[FEDERAL_RULES],
    "Inauguration Day (5 U.S.C. § 6103(c), Washington D.C. area only) and days the President proclaims are not included.",
);

/// Alabama's legal holidays.
pub static ALABAMA: Calendar = Calendar::new(
    "AL",
    "Ala. Code § 1-3-8",
    "https://law.uslawyerdatabase.com/section-1-3-8-holidays-enumerated-personal-leave-days-state-holidays-observed-by-closing-of-state-offices-compensatory-leave-days",
    &[AL_RULES],
    "Mardi Gras (a holiday in Baldwin and Mobile counties only) and days the Governor declares are not included: add them with `holidays`.",
);

/// Louisiana's days of public rest and legal holidays.
pub static LOUISIANA: Calendar = Calendar::new(
    "LA",
    "La. R.S. 1:55(A)(1)",
    "https://legis.la.gov/legis/Law.aspx?d=74097",
    &[LA_RULES],
    "Inauguration Day (Baton Rouge), parish Saturdays, general election day, Juneteenth (state employees, R.S. 1:55(B)) and days the Governor declares (e.g. 3 July 2023) are not included: add them with `holidays`. Only New Year's Day, Independence Day and Christmas shift off a weekend.",
);

/// Pennsylvania's legal holidays, as the 2019 amendment's holiday ban reads them.
pub static PENNSYLVANIA: Calendar = Calendar::new(
    "PA",
    "44 P.S. § 11 (legal holidays), as applied by 73 P.S. § 2245(a)(10) (Act 73 of 2019)",
    "https://dnc.dreamhosters.com/update-pennsylvania-governor-signs-new-robocall-restrictions-law",
    &[PA_RULES],
    "The list is the one the Act's commentators give. No weekend shifting is applied: none was found in a source (add observed days with `holidays`). Verify against 44 P.S. § 11.",
);

/// Rhode Island's holidays: the state's (R.I. Gen. Laws § 25-1-1) and the federal ones, since
/// its hours of operation exclude "a state or federal holiday".
pub static RHODE_ISLAND: Calendar = Calendar::new(
    "RI",
    "R.I. Gen. Laws § 25-1-1 and 5 U.S.C. § 6103 (\"a state or federal holiday\", § 5-61-2)",
    "http://webserver.rilegislature.gov/Statutes/TITLE25/25-1/25-1-1.htm",
    &[RI_RULES, FEDERAL_RULES],
    "Days the Governor, the General Assembly, the President or Congress appoint are not included: add them with `holidays`.",
);

/// Utah's legal holidays.
pub static UTAH: Calendar = Calendar::new(
    "UT",
    "Utah Code § 63G-1-301",
    "https://le.utah.gov/xcode/Title63G/Chapter1/63G-1-S301.html",
    &[UT_RULES],
    "Days of fasting or thanksgiving proclaimed by the President or the Governor, and holidays the Governor declares, are not included: add them with `holidays`.",
);

/// Every built-in calendar.
pub static CALENDARS: &[&Calendar] = &[
    &FEDERAL,
    &ALABAMA,
    &LOUISIANA,
    &PENNSYLVANIA,
    &RHODE_ISLAND,
    &UTAH,
];

/// The built-in calendar with this id (`federal`, `AL`, ...).
pub fn calendar(id: &str) -> Option<&'static Calendar> {
    CALENDARS.iter().copied().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn closed(c: &Calendar, d: Date) -> Option<&'static str> {
        c.holiday_on(d)
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter(2027), Some(date(2027, 3, 28)));
        assert_eq!(easter(2038), Some(date(2038, 4, 25)));
    }

    #[test]
    fn federal_observed_shifting() {
        // July 4, 2026 is a Saturday: Friday July 3 is observed, and both are closed.
        assert_eq!(closed(&FEDERAL, date(2026, 7, 3)), Some("Independence Day"));
        assert_eq!(closed(&FEDERAL, date(2026, 7, 4)), Some("Independence Day"));
        assert_eq!(closed(&FEDERAL, date(2026, 7, 6)), None);
        // Christmas 2022 was a Sunday: Monday the 26th is observed.
        assert_eq!(closed(&FEDERAL, date(2022, 12, 26)), Some("Christmas Day"));
        // January 1, 2022 was a Saturday: observed on Friday December 31, 2021.
        assert_eq!(closed(&FEDERAL, date(2021, 12, 31)), Some("New Year's Day"));
        assert_eq!(
            FEDERAL
                .dates_in(2021)
                .iter()
                .filter(|(_, n)| *n == "New Year's Day")
                .count(),
            2
        );
    }

    #[test]
    fn nth_and_last_weekdays() {
        assert_eq!(
            closed(&FEDERAL, date(2026, 11, 26)),
            Some("Thanksgiving Day")
        );
        assert_eq!(closed(&FEDERAL, date(2026, 5, 25)), Some("Memorial Day"));
        assert_eq!(closed(&FEDERAL, date(2026, 5, 18)), None);
        assert_eq!(closed(&FEDERAL, date(2026, 9, 7)), Some("Labor Day"));
        assert_eq!(
            closed(&ALABAMA, date(2026, 4, 27)),
            Some("Confederate Memorial Day")
        );
        assert_eq!(
            closed(&ALABAMA, date(2026, 6, 1)),
            Some("Jefferson Davis' birthday")
        );
    }

    #[test]
    fn state_calendars() {
        assert_eq!(closed(&ALABAMA, date(2026, 12, 25)), Some("Christmas Day"));
        assert_eq!(
            closed(&LOUISIANA, date(2026, 12, 25)),
            Some("Christmas Day")
        );
        assert_eq!(closed(&LOUISIANA, date(2026, 2, 17)), Some("Mardi Gras"));
        assert_eq!(closed(&LOUISIANA, date(2026, 4, 3)), Some("Good Friday"));
        // Louisiana shifts only New Year's Day, Independence Day and Christmas.
        assert_eq!(closed(&LOUISIANA, date(2026, 8, 31)), None); // Huey P. Long Day, Sunday
        assert_eq!(closed(&UTAH, date(2026, 7, 24)), Some("Pioneer Day"));
        assert_eq!(closed(&UTAH, date(2026, 7, 3)), Some("Independence Day"));
        // Utah's Juneteenth 2026 (a Friday) is observed on the Monday before.
        assert_eq!(
            closed(&UTAH, date(2026, 6, 15)),
            Some("Juneteenth National Freedom Day")
        );
        assert_eq!(
            closed(&UTAH, date(2027, 6, 21)),
            Some("Juneteenth National Freedom Day")
        ); // Saturday → Monday
        assert_eq!(closed(&PENNSYLVANIA, date(2026, 6, 14)), Some("Flag Day")); // a Sunday
        // No weekend shifting in Pennsylvania's list: none was found in a source.
        assert_eq!(closed(&PENNSYLVANIA, date(2026, 6, 15)), None);
        assert_eq!(
            closed(&PENNSYLVANIA, date(2026, 11, 3)),
            Some("Election Day")
        );
        assert_eq!(
            closed(&PENNSYLVANIA, date(2027, 11, 2)),
            Some("Election Day")
        );
        assert_eq!(
            closed(&RHODE_ISLAND, date(2026, 8, 10)),
            Some("Victory Day")
        );
        assert_eq!(
            closed(&RHODE_ISLAND, date(2026, 11, 3)),
            Some("Election Day")
        );
        assert_eq!(closed(&RHODE_ISLAND, date(2027, 11, 2)), None);
        // Rhode Island: July 4, 2026 (Saturday) moves to Monday July 6; the federal calendar
        // closes Friday July 3 too.
        assert_eq!(
            closed(&RHODE_ISLAND, date(2026, 7, 6)),
            Some("Independence Day")
        );
        assert_eq!(
            closed(&RHODE_ISLAND, date(2026, 7, 3)),
            Some("Independence Day")
        );
        assert_eq!(
            closed(&RHODE_ISLAND, date(2026, 11, 26)),
            Some("Thanksgiving Day")
        );
    }

    #[test]
    fn years_outside_the_cache_are_computed() {
        assert_eq!(closed(&FEDERAL, date(2150, 12, 25)), Some("Christmas Day"));
        assert_eq!(closed(&FEDERAL, date(1980, 7, 4)), Some("Independence Day"));
    }

    #[test]
    fn calendars_are_cited() {
        for c in CALENDARS {
            assert!(
                !c.citation.is_empty() && c.source.starts_with("http"),
                "{}",
                c.id
            );
            assert!(calendar(c.id).is_some());
        }
    }
}
