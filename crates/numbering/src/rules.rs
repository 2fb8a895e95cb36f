//! The built-in table of US state rules for marketing messages (telephone solicitations).
//!
//! Each entry records only what its cited source says: the local sending window per weekday
//! (`None` = no solicitation that day), whether the state's legal holidays are barred, the cap on
//! messages on the same subject, and whether the law clearly reaches text messages. Windows
//! apply at the recipient's local time and are half-open, `[start, end)`: "not before 8 a.m. or
//! after 8 p.m." becomes 08:00–20:00 with 20:00 itself closed, the conservative reading.
//!
//! docs/compliance.md carries the same table for reviewers; a test keeps the two in step.

use jiff::SignedDuration;
use jiff::civil::{Date, DateTime, Time};

use crate::holidays::{self, Calendar};

/// A local time-of-day window, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Time,
    pub end: Time,
}

impl Window {
    /// A window from whole hours, e.g. `Window::hours(8, 20)` for 08:00–20:00.
    pub const fn hours(start: i8, end: i8) -> Window {
        Window {
            start: Time::constant(start, 0, 0, 0),
            end: Time::constant(end, 0, 0, 0),
        }
    }

    /// Whether `time` falls inside the window.
    pub fn contains(self, time: Time) -> bool {
        self.start <= time && time < self.end
    }

    /// The part of both windows, or `None` when they do not overlap.
    pub fn intersect(self, other: Window) -> Option<Window> {
        let window = Window {
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        };
        (window.start < window.end).then_some(window)
    }
}

/// The federal window for telephone solicitations: 8:00–21:00 at the called party's location.
pub const FEDERAL_WINDOW: Window = Window::hours(8, 21);
/// Where [`FEDERAL_WINDOW`] comes from.
pub const FEDERAL_WINDOW_CITATION: &str =
    "47 CFR § 64.1200(c)(1) (https://www.ecfr.gov/current/title-47/section-64.1200)";

/// Whether a rule bars the state's legal holidays.
#[derive(Debug, Clone, Copy)]
pub enum Holidays {
    /// The source names no holiday restriction.
    None,
    /// Solicitation is barred on the legal holidays of this calendar (computed per year from
    /// its rules, see [`crate::holidays`]); days declared ad hoc must be added in configuration.
    Calendar(&'static Calendar),
}

impl PartialEq for Holidays {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::None, Self::None) => true,
            (Self::Calendar(a), Self::Calendar(b)) => a.id == b.id,
            _ => false,
        }
    }
}
impl Eq for Holidays {}

impl Holidays {
    /// The calendar, when holidays are barred.
    pub fn calendar(self) -> Option<&'static Calendar> {
        match self {
            Self::None => None,
            Self::Calendar(c) => Some(c),
        }
    }
}

/// A cap on marketing messages to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    /// At most this many messages...
    pub max: u32,
    /// ...in any sliding window of this length.
    pub per: SignedDuration,
    /// The statute counts messages "on the same subject matter or issue". herald cannot judge
    /// subjects, so it counts every marketing message to the recipient (stricter).
    pub same_subject: bool,
}

/// How clearly the rule reaches text messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCoverage {
    /// The statute, its definitions or the amending act name text messages.
    Explicit,
    /// The source speaks of calls; whether texts are covered is not settled. herald applies the
    /// rule to marketing SMS anyway (a later send is never the unlawful one).
    Unsettled,
}

/// One state's rule for marketing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRule {
    /// Two-letter USPS code.
    pub state: &'static str,
    /// The law's common name.
    pub law: &'static str,
    /// Statute or regulation sections, as a reviewer would cite them.
    pub citation: &'static str,
    /// Public pages where the text (or a faithful summary) was read.
    pub sources: &'static [&'static str],
    /// Windows for Monday..Sunday (index 0 = Monday); `None` = no solicitation that day.
    pub days: [Option<Window>; 7],
    pub holidays: Holidays,
    pub cap: Option<FrequencyCap>,
    pub texts: TextCoverage,
    /// The statute states its hours in standard time (UTC offset in hours, e.g. -6 for
    /// "Central Standard Time"): the window must hold on that clock as well as the local one.
    pub standard_time: Option<i8>,
    /// Caveats a reviewer should read.
    pub note: &'static str,
}

impl StateRule {
    /// The window on `date`'s weekday, or `None` when the day is closed.
    pub fn window_on(&self, date: Date) -> Option<Window> {
        let index = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        self.days[index]
    }

    /// Whether a solicitation may go at local date-time `at`. `holidays` are extra holiday
    /// dates from configuration (ignored when the rule bars no holidays).
    pub fn is_open(&self, at: DateTime, holidays: &[Date]) -> bool {
        if let Holidays::Calendar(calendar) = self.holidays
            && (holidays.contains(&at.date()) || calendar.holiday_on(at.date()).is_some())
        {
            return false;
        }
        self.window_on(at.date())
            .is_some_and(|window| window.contains(at.time()))
    }
}

const H8_20: Option<Window> = Some(Window::hours(8, 20));
const EVERY_DAY_8_20: [Option<Window>; 7] = [H8_20; 7];
const MON_SAT_8_20: [Option<Window>; 7] = [H8_20, H8_20, H8_20, H8_20, H8_20, H8_20, None];
const H8_21: Option<Window> = Some(Window::hours(8, 21));
const THREE_PER_DAY: Option<FrequencyCap> = Some(FrequencyCap {
    max: 3,
    per: SignedDuration::from_hours(24),
    same_subject: true,
});

/// The built-in rules, sorted by state code. Only what a cited source says is encoded.
pub static STATE_RULES: &[StateRule] = &[
    StateRule {
        state: "AL",
        law: "Alabama Public Service Commission telephone rules",
        citation: "Ala. Admin. Code r. 770-X-5-.17(1)(b)",
        sources: &[
            "https://d1tvxue8o4w0fl.cloudfront.net/regulation/alabama-administrative-code/title-770-alabama-public-service-commission/chapter-770-x-5-telephone-rules/section-770-x-5-17-live-and-automated-solicitations-and-announcements",
        ],
        days: MON_SAT_8_20,
        holidays: Holidays::Calendar(&holidays::ALABAMA),
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "The rule governs automated solicitation calls; \"no solicitation calls are allowed on Sundays or holidays\".",
    },
    StateRule {
        state: "CT",
        law: "Connecticut telemarketing law, as amended by Public Act 23-98 (SB 1058, effective 2023-10-01)",
        citation: "Conn. Gen. Stat. § 42-288a",
        sources: &[
            "https://cga.ct.gov/current/pub/chap_743m.htm",
            "https://tcpaworld.com/2023/06/28/connecticut-rolls-out-new-telemarketing-requirements-here-is-what-you-need-to-know/",
            "https://www.tcpadefenseforce.com/tcpa-law-blog/connecticut-broadens-its-telemarketing-laws",
        ],
        days: [Some(Window::hours(9, 20)); 7],
        holidays: Holidays::None,
        cap: None,
        standard_time: None,
        texts: TextCoverage::Explicit,
        note: "The 2023 amendment ended the window at 8 p.m. (was 9 p.m.) and brought text and media messages into \"telephonic sales call\"; calls to a Connecticut area code are presumed to reach Connecticut.",
    },
    StateRule {
        state: "FL",
        law: "Florida Telemarketing Act and Florida Telephone Solicitation Act",
        citation: "Fla. Stat. § 501.616(6)(a)-(b) (hours and frequency, as amended by SB 1120 (2021)); Fla. Stat. § 501.059 (telephonic sales calls by call, text message or voicemail)",
        sources: &[
            "https://flsenate.gov/Session/Bill/2021/1120/BillText/Filed/HTML",
            "http://www.lawserver.com/law/state/florida/statutes/florida_statutes_501-616",
            "https://syfert.com/florida/statutes/0501.059.html",
        ],
        days: EVERY_DAY_8_20,
        holidays: Holidays::None,
        cap: THREE_PER_DAY,
        standard_time: None,
        texts: TextCoverage::Explicit,
        note: "The cap counts calls \"from any number to a person over a 24-hour period on the same subject matter or issue, regardless of the phone number used\".",
    },
    StateRule {
        state: "LA",
        law: "Consumer Telemarketing Protection Act of 1991",
        citation: "La. R.S. 45:811(2)-(3)",
        sources: &[
            "https://lawserver.com/?p=30183792",
            "https://www.dnc.com/index.php/news/louisiana-governor-declares-july-3-holiday-prompting-call-restrictions",
        ],
        days: MON_SAT_8_20,
        holidays: Holidays::Calendar(&holidays::LOUISIANA),
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "Covers ADAD equipment and live-operator calls for advertising; bars Sundays and \"days declared to be a state holiday\". During a declared state of emergency La. R.S. 45:844.31 bars most telephonic solicitation outright; herald does not track emergencies.",
    },
    StateRule {
        state: "MA",
        law: "Telemarketing Solicitation (Do Not Call) Act",
        citation: "Mass. Gen. Laws ch. 159C, § 3; 201 CMR 12.02(2)",
        sources: &[
            "https://malegislature.gov/Laws/GeneralLaws/PartI/TitleXXII/Chapter159C/Section3",
            "https://regulations.justia.com/states/massachusetts/201-cmr/title-201-cmr-12-00/section-12-02",
        ],
        days: EVERY_DAY_8_20,
        holidays: Holidays::None,
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "No unsolicited telephonic sales call \"between the hours of 8:00 P.M. to 8:00 A.M., local time at the consumer's location\" (201 CMR 12.02(2)).",
    },
    StateRule {
        state: "MD",
        law: "Stop the Spam Calls Act of 2023 (SB 90, ch. 413, effective 2024-01-01)",
        citation: "Md. Code, Com. Law § 14-4502 (Stop the Spam Calls Act, §§ 14-4501 to 14-4503)",
        sources: &[
            "https://mgaleg.maryland.gov/mgawebsite/Legislation/Details/SB0090?ys=2023RS",
            "https://lexace.ai/us/statute/maryland/CL-14-4502",
            "https://www.wmar2news.com/local/law-to-prevent-spam-calls-takes-effect-first-of-the-year",
        ],
        days: EVERY_DAY_8_20,
        holidays: Holidays::None,
        cap: THREE_PER_DAY,
        standard_time: None,
        texts: TextCoverage::Explicit,
        note: "\"Telephone solicitation\" is communicating \"by telephone\"; the consent definition (§ 14-4501(d)) names text messages.",
    },
    StateRule {
        state: "MS",
        law: "Mississippi Telephone Solicitation Act",
        citation: "Miss. Code Ann. § 77-3-723(1)",
        sources: &[
            "https://getpocketlaw.com/law/state_mississippi/section-77-3-723-rules-for-authorized-calls_57b73fa7ff73",
            "https://billstatus.ls.state.ms.us/documents/2017/html/HB/0400-0499/HB0450PS.htm",
            "https://www.dnc.com/blog/no-more-holidays-mississippi-marketers-magnolia-state-lifts-prohibition-telemarketing-legal",
        ],
        days: MON_SAT_8_20,
        holidays: Holidays::None,
        cap: None,
        standard_time: Some(-6),
        texts: TextCoverage::Explicit,
        note: "The statute says 8:00 a.m. to 8:00 p.m. \"Central Standard Time\"; read literally, during daylight time that is 9:00-21:00 CDT, so herald applies both readings: the window must hold on the local clock and on Central Standard Time (UTC-6), which is 09:00-20:00 CDT in the daylight-time months (turn the second clock off with `standard_time: false`). The Act's findings (§ 77-3-703) name text messages. The holiday ban was a Public Service Commission rule repealed after 2023.",
    },
    StateRule {
        state: "OK",
        law: "Telephone Solicitation Act of 2022 (HB 3168, effective 2022-11-01)",
        citation: "Okla. Stat. tit. 15, § 775C.1 et seq.",
        sources: &[
            "https://app.legiplex.com/ok/legislature/2022/2022-r/bills/hb3168/drafts-latest",
            "https://self-law.org/code/ok/title-15-contracts/15-775c-2",
            "https://24kyc.com/oklahoma-passes-new-telephone-solicitation-act-similar-to-the-federal-tcpa-lerman-senter-pllc/",
        ],
        days: EVERY_DAY_8_20,
        holidays: Holidays::None,
        cap: THREE_PER_DAY,
        standard_time: None,
        texts: TextCoverage::Explicit,
        note: "A call to an Oklahoma area code is rebuttably presumed to reach a person in Oklahoma; § 775C.2 names text messages.",
    },
    StateRule {
        state: "PA",
        law: "Telemarketer Registration Act, as amended by Act 73 of 2019 (HB 318, effective 2019-12-03)",
        citation: "73 P.S. § 2245(a)(10) (no telephone solicitation calls on legal holidays)",
        sources: &[
            "https://www.jenkinslaw.org/blog/2019/12/03/amendments-pennsylvanias-telemarketer-registration-act-effective-today",
            "https://mslawgroup.com/regulatory-alert-pennsylvania-amends-telemarketing-registration-act/",
            "https://dnc.dreamhosters.com/update-pennsylvania-governor-signs-new-robocall-restrictions-law",
        ],
        days: [H8_21; 7],
        holidays: Holidays::Calendar(&holidays::PENNSYLVANIA),
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "Legal holidays are barred since 2019. The Act's hours are those of federal law here; a Sunday-afternoon limit some secondary tables list was not found in a primary source and is not built in (add it with `days: { sun: ... }`).",
    },
    StateRule {
        state: "RI",
        law: "Telephone Sales Solicitation Act",
        citation: "R.I. Gen. Laws § 5-61-3.6 (hours of operation as defined in § 5-61-2)",
        sources: &[
            "http://webserver.rilin.state.ri.us/Statutes/TITLE5/5-61/5-61-3.6.HTM",
            "https://instalawyer.io/laws/rhode-island-general-laws/section-5-61-2-definitions",
        ],
        days: [
            Some(Window::hours(9, 18)),
            Some(Window::hours(9, 18)),
            Some(Window::hours(9, 18)),
            Some(Window::hours(9, 18)),
            Some(Window::hours(9, 18)),
            Some(Window::hours(10, 17)),
            None,
        ],
        holidays: Holidays::Calendar(&holidays::RHODE_ISLAND),
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "\"Hours of operation\": Monday through Friday, except a state or federal holiday, 9:00 a.m. to 6:00 p.m.; Saturday 10:00 a.m. to 5:00 p.m. Covers calls to \"residential, mobile or telephonic paging device\" numbers. herald closes holidays on Saturdays too.",
    },
    StateRule {
        state: "TX",
        law: "Texas telephone solicitation law (Bus. & Com. Code ch. 301-305), texts covered by SB 140 (2025)",
        citation: "Tex. Bus. & Com. Code § 301.051; SB 140 (89th Leg., effective 2025-09-01)",
        sources: &[
            "https://statutes.capitol.texas.gov/Docs/BC/htm/BC.301.htm",
            "https://www.cloudcommunications.com/news/texas-senate-bill-140?hs_amp=true",
            "https://www.mondaq.com/unitedstates/telecoms-mobile-cable-communications/1671662/texts-are-telemarketing-in-texas-sb-140-set-to-place-new-requirements-on-marketing-communications",
        ],
        days: [
            Some(Window::hours(9, 21)),
            Some(Window::hours(9, 21)),
            Some(Window::hours(9, 21)),
            Some(Window::hours(9, 21)),
            Some(Window::hours(9, 21)),
            Some(Window::hours(9, 21)),
            Some(Window::hours(12, 21)),
        ],
        holidays: Holidays::None,
        cap: None,
        standard_time: None,
        texts: TextCoverage::Explicit,
        note: "9:00-21:00 Monday to Saturday, 12:00-21:00 Sunday.",
    },
    StateRule {
        state: "UT",
        law: "Telephone and Facsimile Solicitation Act",
        citation: "Utah Code § 13-25a-103(3)",
        sources: &[
            "https://le.utah.gov/xcode/Title13/Chapter25A/13-25a-S103.html",
            "https://codes.findlaw.com/ut/title-13-commerce-and-trade/ut-code-sect-13-25a-103/",
        ],
        days: [H8_21, H8_21, H8_21, H8_21, H8_21, H8_21, None],
        holidays: Holidays::Calendar(&holidays::UTAH),
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "No telephone solicitation without prior express consent \"between the hours of 9 p.m. and 8 a.m. local time\", \"on a Sunday\" or \"on a legal holiday\". With prior express consent the statute permits these times; herald applies the rule to every marketing message (override it when counsel relies on consent).",
    },
    StateRule {
        state: "WA",
        law: "Commercial Telephone Solicitation Act",
        citation: "RCW 19.158.040(2)",
        sources: &["https://app.leg.wa.gov/RCW/default.aspx?cite=19.158.040"],
        days: EVERY_DAY_8_20,
        holidays: Holidays::None,
        cap: None,
        standard_time: None,
        texts: TextCoverage::Unsettled,
        note: "Calls \"received before 8:00 a.m. or after 8:00 p.m. at the call recipient's local time\". Unsolicited commercial text messages are regulated separately (RCW 19.190.060).",
    },
];

/// The name of a US state, DC or territory, or a Canadian province or territory, by its
/// two-letter code; `None` for any other code.
pub fn region_name(code: &str) -> Option<&'static str> {
    REGION_NAMES
        .binary_search_by(|(c, _)| c.cmp(&code))
        .ok()
        .map(|i| REGION_NAMES[i].1)
}

static REGION_NAMES: &[(&str, &str)] = &[
    ("AB", "Alberta"),
    ("AK", "Alaska"),
    ("AL", "Alabama"),
    ("AR", "Arkansas"),
    ("AS", "American Samoa"),
    ("AZ", "Arizona"),
    ("BC", "British Columbia"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DC", "District of Columbia"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("GU", "Guam"),
    ("HI", "Hawaii"),
    ("IA", "Iowa"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("MA", "Massachusetts"),
    ("MB", "Manitoba"),
    ("MD", "Maryland"),
    ("ME", "Maine"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MO", "Missouri"),
    ("MP", "Northern Mariana Islands"),
    ("MS", "Mississippi"),
    ("MT", "Montana"),
    ("NB", "New Brunswick"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("NE", "Nebraska"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NL", "Newfoundland and Labrador"),
    ("NM", "New Mexico"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("NV", "Nevada"),
    ("NY", "New York"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("ON", "Ontario"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("PE", "Prince Edward Island"),
    ("PR", "Puerto Rico"),
    ("QC", "Quebec"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("SK", "Saskatchewan"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VA", "Virginia"),
    ("VI", "U.S. Virgin Islands"),
    ("VT", "Vermont"),
    ("WA", "Washington"),
    ("WI", "Wisconsin"),
    ("WV", "West Virginia"),
    ("WY", "Wyoming"),
    ("YT", "Yukon"),
];

/// Canada Post codes of the provinces and territories.
pub fn is_canadian(code: &str) -> bool {
    matches!(
        code,
        "AB" | "BC" | "MB" | "NB" | "NL" | "NS" | "NT" | "NU" | "ON" | "PE" | "QC" | "SK" | "YT"
    )
}

/// The built-in rule for a two-letter state code (case-sensitive, upper case).
pub fn state_rule(state: &str) -> Option<&'static StateRule> {
    STATE_RULES
        .binary_search_by(|rule| rule.state.cmp(state))
        .ok()
        .map(|i| &STATE_RULES[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    #[test]
    fn table_is_sorted_unique_and_cited() {
        assert!(STATE_RULES.windows(2).all(|w| w[0].state < w[1].state));
        for rule in STATE_RULES {
            assert_eq!(rule.state.len(), 2);
            assert!(
                !rule.citation.is_empty() && !rule.sources.is_empty(),
                "{}",
                rule.state
            );
            for window in rule.days.iter().flatten() {
                assert!(window.start < window.end, "{}", rule.state);
                // No state rule may be looser than the federal window.
                assert_eq!(
                    window.intersect(FEDERAL_WINDOW),
                    Some(*window),
                    "{}",
                    rule.state
                );
            }
        }
    }

    #[test]
    fn florida_oklahoma_maryland_are_8_to_20_with_three_per_24_hours() {
        for state in ["FL", "OK", "MD"] {
            let rule = state_rule(state).unwrap();
            assert_eq!(rule.days, [Some(Window::hours(8, 20)); 7], "{state}");
            let cap = rule.cap.unwrap();
            assert_eq!((cap.max, cap.per), (3, SignedDuration::from_hours(24)));
            assert_eq!(rule.texts, TextCoverage::Explicit);
        }
        assert!(state_rule("NY").is_none());
        assert!(state_rule("fl").is_none());
    }

    #[test]
    fn window_edges_are_half_open() {
        let fl = state_rule("FL").unwrap();
        let monday = date(2026, 11, 30);
        assert!(!fl.is_open(monday.to_datetime(time(7, 59, 59, 0)), &[]));
        assert!(fl.is_open(monday.to_datetime(time(8, 0, 0, 0)), &[]));
        assert!(fl.is_open(monday.to_datetime(time(19, 59, 59, 999_999_999)), &[]));
        assert!(!fl.is_open(monday.to_datetime(time(20, 0, 0, 0)), &[]));
    }

    #[test]
    fn texas_sunday_opens_at_noon() {
        let tx = state_rule("TX").unwrap();
        let sunday = date(2026, 11, 29);
        assert!(!tx.is_open(sunday.to_datetime(time(11, 30, 0, 0)), &[]));
        assert!(tx.is_open(sunday.to_datetime(time(12, 0, 0, 0)), &[]));
        let saturday = date(2026, 11, 28);
        assert!(tx.is_open(saturday.to_datetime(time(9, 0, 0, 0)), &[]));
        assert!(!tx.is_open(saturday.to_datetime(time(8, 59, 0, 0)), &[]));
    }

    #[test]
    fn sunday_closed_states_and_configured_holidays() {
        let sunday = date(2026, 11, 29).to_datetime(time(12, 0, 0, 0));
        for state in ["AL", "LA", "MS"] {
            assert!(!state_rule(state).unwrap().is_open(sunday, &[]), "{state}");
        }
        let christmas = date(2026, 12, 25).to_datetime(time(12, 0, 0, 0)); // a Friday
        let al = state_rule("AL").unwrap();
        assert!(
            !al.is_open(christmas, &[]),
            "Alabama's calendar closes Christmas"
        );
        let dec_28 = date(2026, 12, 28).to_datetime(time(12, 0, 0, 0));
        assert!(al.is_open(dec_28, &[]));
        assert!(!al.is_open(dec_28, &[date(2026, 12, 28)]));
        // Florida bars no holidays, so a configured date does not close it.
        assert!(
            state_rule("FL")
                .unwrap()
                .is_open(christmas, &[date(2026, 12, 25)])
        );
    }

    #[test]
    fn new_states() {
        let sunday = date(2026, 12, 6).to_datetime(time(12, 0, 0, 0));
        let ri = state_rule("RI").unwrap();
        assert!(!ri.is_open(sunday, &[]));
        let saturday = date(2026, 12, 5);
        assert!(!ri.is_open(saturday.to_datetime(time(9, 30, 0, 0)), &[]));
        assert!(ri.is_open(saturday.to_datetime(time(10, 0, 0, 0)), &[]));
        assert!(!ri.is_open(saturday.to_datetime(time(17, 0, 0, 0)), &[]));
        let monday = date(2026, 12, 7);
        assert!(ri.is_open(monday.to_datetime(time(17, 59, 0, 0)), &[]));
        assert!(!ri.is_open(monday.to_datetime(time(18, 0, 0, 0)), &[]));
        assert!(!state_rule("UT").unwrap().is_open(sunday, &[]));
        let pioneer_day = date(2026, 7, 24).to_datetime(time(12, 0, 0, 0));
        assert!(!state_rule("UT").unwrap().is_open(pioneer_day, &[]));
        let ma = state_rule("MA").unwrap();
        assert!(!ma.is_open(monday.to_datetime(time(20, 30, 0, 0)), &[]));
        assert!(ma.is_open(monday.to_datetime(time(19, 30, 0, 0)), &[]));
        let pa = state_rule("PA").unwrap();
        assert!(pa.is_open(sunday, &[]));
        assert!(!pa.is_open(date(2026, 11, 26).to_datetime(time(12, 0, 0, 0)), &[]));
        assert_eq!(state_rule("MS").unwrap().standard_time, Some(-6));
        assert_eq!(region_name("RI"), Some("Rhode Island"));
        assert!(REGION_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(is_canadian("SK") && !is_canadian("WA"));
    }

    #[test]
    fn intersect() {
        assert_eq!(
            Window::hours(9, 21).intersect(Window::hours(8, 20)),
            Some(Window::hours(9, 20))
        );
        assert_eq!(Window::hours(8, 9).intersect(Window::hours(9, 10)), None);
    }
}
