//! State rules for marketing messages: the built-in table of `herald-numbering` merged with
//! `policy.state_rules` from `herald.yaml`, and the two-letter state code of a recipient.
//!
//! Sources for every built-in rule are in `docs/compliance.md`; an added state must carry its
//! own `citation`.

use std::collections::BTreeMap;
use std::fmt;

use herald_numbering::{Calendar, STATE_RULES, StateRule, Window as DayWindow};
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::docs::{Category, NoneLiteral, WindowDoc};

/// A two-letter region code (USPS state or Canadian province), stored inline (no allocation
/// per audience row).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateCode([u8; 2]);

impl StateCode {
    /// `??`: a placeholder that names no region.
    pub const UNKNOWN: Self = Self(*b"??");

    /// Two ASCII letters, any case, surrounding blanks ignored.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
            .then(|| Self([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether the code names a place a phone number can be in: a US state, DC, a US territory
    /// (AS, GU, MP, PR, VI) or a Canadian province or territory (the regions
    /// `herald_numbering::us_state` gives). `NA`, `US`, `XX` are not.
    pub fn is_known_region(&self) -> bool {
        KNOWN_REGIONS.binary_search(&self.as_str()).is_ok()
    }
}

/// USPS codes of the 50 states, DC and the inhabited US territories, and Canada Post codes of
/// the provinces and territories; sorted.
const KNOWN_REGIONS: [&str; 69] = [
    "AB", "AK", "AL", "AR", "AS", "AZ", "BC", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI",
    "IA", "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MB", "MD", "ME", "MI", "MN", "MO", "MP", "MS",
    "MT", "NB", "NC", "ND", "NE", "NH", "NJ", "NL", "NM", "NS", "NT", "NU", "NV", "NY", "OH", "OK",
    "ON", "OR", "PA", "PE", "PR", "QC", "RI", "SC", "SD", "SK", "TN", "TX", "UT", "VA", "VI", "VT",
    "WA", "WI", "WV", "WY", "YT",
];

impl fmt::Debug for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for StateCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// herald.yaml documents
// ---------------------------------------------------------------------------------------------

/// A weekday in `policy.state_rules.*.days`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayDoc {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl WeekdayDoc {
    /// Index from Monday = 0.
    fn index(self) -> usize {
        self as usize
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The days a state allows: a list of weekdays (each with the rule's window), or a map of
/// weekday to window for the days whose window differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum DaysDoc {
    /// Exactly these weekdays are allowed.
    List(Vec<WeekdayDoc>),
    /// These weekdays get these windows; other days keep theirs.
    Map(BTreeMap<WeekdayDoc, WindowDoc>),
}

impl<'de> Deserialize<'de> for DaysDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DaysDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of weekdays (mon … sun) or a map of weekday to window")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<WeekdayDoc>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(DaysDoc::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                BTreeMap::<WeekdayDoc, WindowDoc>::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )
                .map(DaysDoc::Map)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A cap on marketing messages to one recipient (enforced across campaigns from the ledger).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateCapDoc {
    /// At most this many messages…
    pub max: u32,
    /// …in any sliding window of this length: `24h`, `90m`, `7d`.
    pub per: String,
}

/// One state's rule in `policy.state_rules`; every field overrides the built-in rule's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRuleDoc {
    /// Local window (`HH:MM`, half-open) on every allowed day.
    #[serde(default)]
    pub window: Option<WindowDoc>,
    /// The allowed weekdays, or per-day windows.
    #[serde(default)]
    pub days: Option<DaysDoc>,
    /// Dates (`YYYY-MM-DD`, local to the state) on which no marketing message goes, besides
    /// the holiday calendar's.
    #[serde(default)]
    pub holidays: Option<Vec<String>>,
    /// The holiday calendar whose dates are closed (computed per year): `none`, `federal`, or a
    /// state's code whose calendar herald ships (`AL`, `LA`, `PA`, `RI`, `UT`).
    #[serde(default)]
    pub calendar: Option<String>,
    /// Whether the window must also hold on the standard-time clock the statute names
    /// (Mississippi: Central Standard Time); `false` checks the local clock only.
    #[serde(default)]
    pub standard_time: Option<bool>,
    /// The state's frequency cap.
    #[serde(default)]
    pub cap: Option<StateCapDoc>,
    /// The statute or regulation; required for a state herald does not ship.
    #[serde(default)]
    pub citation: Option<String>,
}

/// A state's entry: a rule, or `none` to turn a built-in rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StateRuleEntryDoc {
    /// The literal `none`: no state rule for this state.
    Off(NoneLiteral),
    /// A rule (overriding a built-in one field by field, or adding a state).
    Rule(StateRuleDoc),
}

impl<'de> Deserialize<'de> for StateRuleEntryDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StateRuleEntryDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`none` or a mapping with window, days, holidays, calendar, standard_time, cap, citation",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "none" {
                    Ok(StateRuleEntryDoc::Off(NoneLiteral::None))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                StateRuleDoc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(StateRuleEntryDoc::Rule)
            }
        }
        deserializer.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// The effective rules
// ---------------------------------------------------------------------------------------------

/// Where an effective rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// herald's built-in table, unchanged.
    BuiltIn,
    /// The built-in rule with fields overridden in `herald.yaml`.
    Overridden,
    /// A state added in `herald.yaml`.
    Configured,
}

/// A frequency cap of a state rule. Carried here; enforced by the frequency-cap check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCap {
    /// At most this many messages…
    pub max: u32,
    /// …in any sliding window of this length.
    pub per: SignedDuration,
}

/// One state's effective rule for marketing messages.
#[derive(Debug, Clone)]
pub struct EffectiveStateRule {
    /// The state.
    pub state: StateCode,
    /// Windows for Monday..Sunday (index 0 = Monday); `None` = closed that day.
    pub days: [Option<DayWindow>; 7],
    /// Closed local dates given in configuration.
    pub holidays: Vec<Date>,
    /// The holiday calendar whose dates are closed.
    pub calendar: Option<&'static Calendar>,
    /// The statute's standard-time clock (Mississippi: UTC-6), on which the window must hold
    /// too.
    pub standard_time: Option<Offset>,
    /// The state's frequency cap.
    pub cap: Option<StateCap>,
    /// The statute or regulation.
    pub citation: String,
    /// Built in, overridden or configured.
    pub source: RuleSource,
}

impl PartialEq for EffectiveStateRule {
    fn eq(&self, o: &Self) -> bool {
        self.state == o.state
            && self.days == o.days
            && self.holidays == o.holidays
            && self.calendar.map(|c| c.id) == o.calendar.map(|c| c.id)
            && self.standard_time == o.standard_time
            && self.cap == o.cap
            && self.citation == o.citation
            && self.source == o.source
    }
}
impl Eq for EffectiveStateRule {}

/// The name given to a date closed by `policy.state_rules.*.holidays`.
pub const CONFIGURED_HOLIDAY: &str = "holiday (configured)";

/// What closed a state rule at an instant: the plan names it ("held by Rhode Island: Sunday").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// A legal holiday of the rule's calendar, or a configured date.
    Holiday(&'static str),
    /// The rule allows no message on this weekday.
    Day(Weekday),
    /// Outside the day's window.
    Hours(DayWindow),
    /// Outside the window on the statute's standard-time clock.
    StandardTime(DayWindow),
}

/// The state rule that held a row, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateHold {
    /// The state.
    pub state: StateCode,
    /// Why its rule is closed.
    pub why: ClosedBy,
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

impl fmt::Display for StateHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name =
            herald_numbering::region_name(self.state.as_str()).unwrap_or(self.state.as_str());
        match self.why {
            ClosedBy::Holiday(h) => write!(f, "{name}: {h}"),
            ClosedBy::Day(d) => write!(f, "{name}: {}", weekday_name(d)),
            ClosedBy::Hours(w) => write!(f, "{name}: outside {}-{}", hhmm(w.start), hhmm(w.end)),
            ClosedBy::StandardTime(w) => write!(
                f,
                "{name}: outside {}-{} standard time",
                hhmm(w.start),
                hhmm(w.end)
            ),
        }
    }
}

impl EffectiveStateRule {
    fn from_builtin(rule: &StateRule) -> Option<Self> {
        Some(Self {
            state: StateCode::parse(rule.state)?,
            days: rule.days,
            holidays: Vec::new(),
            calendar: rule.holidays.calendar(),
            standard_time: rule.standard_time.and_then(|h| Offset::from_hours(h).ok()),
            cap: rule.cap.map(|c| StateCap {
                max: c.max,
                per: c.per,
            }),
            citation: rule.citation.to_owned(),
            source: RuleSource::BuiltIn,
        })
    }

    /// The holiday that closes local `date`: a configured date or one of the calendar's.
    pub fn holiday_on(&self, date: Date) -> Option<&'static str> {
        if self.holidays.contains(&date) {
            return Some(CONFIGURED_HOLIDAY);
        }
        self.calendar.and_then(|c| c.holiday_on(date))
    }

    /// The window on `date`'s weekday, or `None` when that day (or date) is closed.
    pub fn window_on(&self, date: Date) -> Option<DayWindow> {
        if self.holiday_on(date).is_some() {
            return None;
        }
        let index = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        self.days[index]
    }

    /// Whether a marketing message may go at local date-time `at` (the local clock only).
    pub fn is_open(&self, at: DateTime) -> bool {
        self.window_on(at.date())
            .is_some_and(|w| w.contains(at.time()))
    }

    /// The statute's standard-time clock, when it names one.
    pub fn standard_zone(&self) -> Option<TimeZone> {
        self.standard_time.map(TimeZone::fixed)
    }

    /// Why a marketing message may not go at instant `t`, whose local date-time is `local`;
    /// `None` when it may.
    pub fn closed_at(&self, local: DateTime, t: Timestamp) -> Option<ClosedBy> {
        if let Some(h) = self.holiday_on(local.date()) {
            return Some(ClosedBy::Holiday(h));
        }
        let index = usize::try_from(local.date().weekday().to_monday_zero_offset()).unwrap_or(0);
        let Some(w) = self.days[index] else {
            return Some(ClosedBy::Day(local.date().weekday()));
        };
        if !w.contains(local.time()) {
            return Some(ClosedBy::Hours(w));
        }
        if let Some(offset) = self.standard_time {
            let standard = offset.to_datetime(t);
            if !self.is_open(standard) {
                return Some(ClosedBy::StandardTime(w));
            }
        }
        None
    }

    /// Whether a marketing message may go at instant `t`, whose local date-time is `local`.
    pub fn is_open_at(&self, local: DateTime, t: Timestamp) -> bool {
        self.is_open(local)
            && self
                .standard_time
                .is_none_or(|offset| self.is_open(offset.to_datetime(t)))
    }
}

fn hhmm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

fn duration_text(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

impl Serialize for EffectiveStateRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Cap {
            max: u32,
            per: String,
        }
        // Serialised as an ordered map of weekday → "HH:MM-HH:MM" or null.
        struct Days<'a>(&'a [Option<DayWindow>; 7]);
        impl Serialize for Days<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(
                    WEEKDAYS.iter().zip(self.0).map(|(d, w)| {
                        (*d, w.map(|w| format!("{}-{}", hhmm(w.start), hhmm(w.end))))
                    }),
                )
            }
        }
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct CalendarRef {
            id: &'static str,
            citation: &'static str,
        }
        let mut st = s.serialize_struct("StateRule", 8)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("days", &Days(&self.days))?;
        st.serialize_field(
            "holidays",
            &self
                .holidays
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )?;
        st.serialize_field(
            "calendar",
            &self.calendar.map(|c| CalendarRef {
                id: c.id,
                citation: c.citation,
            }),
        )?;
        st.serialize_field(
            "standard_time",
            &self.standard_time.map(|o| format!("UTC{o}")),
        )?;
        st.serialize_field(
            "cap",
            &self.cap.map(|c| Cap {
                max: c.max,
                per: duration_text(c.per),
            }),
        )?;
        st.serialize_field("citation", &self.citation)?;
        st.end()
    }
}

/// The effective state rules: the built-in table with `policy.state_rules` applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateRules {
    /// The rules by state.
    pub rules: BTreeMap<StateCode, EffectiveStateRule>,
    /// Built-in rules turned off with `none`.
    pub disabled: Vec<StateCode>,
    /// The message categories the rules apply to (`policy.state_rules_apply_to`; default
    /// marketing only).
    pub apply_to: Vec<Category>,
}

impl Default for StateRules {
    fn default() -> Self {
        Self::built_in()
    }
}

/// A `policy.state_rules` error: the field (`policy.state_rules.FL.window`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRuleError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    Time::new(h, m, 0, 0).ok()
}

fn day_window(doc: &WindowDoc) -> Result<DayWindow, String> {
    let start = parse_hhmm(&doc.start)
        .ok_or_else(|| format!("`{}` is not a time of day in HH:MM form", doc.start))?;
    let end = parse_hhmm(&doc.end)
        .ok_or_else(|| format!("`{}` is not a time of day in HH:MM form", doc.end))?;
    if start >= end {
        return Err("a state window must open before it closes, within one day".into());
    }
    Ok(DayWindow { start, end })
}

/// Parses `24h`, `90m`, `7d`, `3600s`.
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    if n <= 0 {
        return None;
    }
    let secs = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        'd' => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(SignedDuration::from_secs(secs))
}

impl StateRules {
    /// herald's built-in table, applied to marketing messages.
    pub fn built_in() -> Self {
        Self {
            rules: STATE_RULES
                .iter()
                .filter_map(EffectiveStateRule::from_builtin)
                .map(|r| (r.state, r))
                .collect(),
            disabled: Vec::new(),
            apply_to: vec![Category::Marketing],
        }
    }

    /// The rule for `state`, if any.
    pub fn get(&self, state: StateCode) -> Option<&EffectiveStateRule> {
        self.rules.get(&state)
    }

    /// Whether rules apply to messages of `category`.
    pub fn applies_to(&self, category: Category) -> bool {
        self.apply_to.contains(&category)
    }

    /// The built-in table with `overrides` and `apply_to` applied; every problem is returned.
    pub fn configured(
        overrides: &BTreeMap<String, StateRuleEntryDoc>,
        apply_to: Option<&[Category]>,
    ) -> Result<Self, Vec<StateRuleError>> {
        let mut rules = Self::built_in();
        if let Some(a) = apply_to {
            rules.apply_to = a.to_vec();
        }
        let mut errors = Vec::new();
        for (key, entry) in overrides {
            let field = format!("policy.state_rules.{key}");
            let Some(state) = StateCode::parse(key) else {
                errors.push(StateRuleError {
                    field,
                    message: format!("`{key}` is not a two-letter state code"),
                });
                continue;
            };
            match entry {
                StateRuleEntryDoc::Off(_) => {
                    rules.rules.remove(&state);
                    rules.disabled.push(state);
                }
                StateRuleEntryDoc::Rule(doc) => {
                    match merge(rules.rules.get(&state), state, doc, &field) {
                        Ok(rule) => {
                            rules.rules.insert(state, rule);
                        }
                        Err(e) => errors.extend(e),
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(errors)
        }
    }
}

fn merge(
    base: Option<&EffectiveStateRule>,
    state: StateCode,
    doc: &StateRuleDoc,
    field: &str,
) -> Result<EffectiveStateRule, Vec<StateRuleError>> {
    let mut errors = Vec::new();
    let mut err = |f: &str, message: String| {
        errors.push(StateRuleError {
            field: format!("{field}.{f}"),
            message,
        });
    };
    let window = match doc.window.as_ref().map(day_window).transpose() {
        Ok(w) => w,
        Err(e) => {
            err("window", e);
            None
        }
    };
    let mut days = match (base, window) {
        (Some(b), Some(w)) => b.days.map(|d| d.map(|_| w)),
        (Some(b), None) => b.days,
        (None, w) => [w; 7],
    };
    match &doc.days {
        None => {}
        Some(DaysDoc::List(list)) => {
            let fallback = window.or_else(|| days.iter().flatten().next().copied());
            let mut next = [None; 7];
            for d in list {
                next[d.index()] = days[d.index()].or(fallback);
                if next[d.index()].is_none() {
                    err(
                        "days",
                        format!(
                            "`{}` has no window: give the rule a `window`",
                            WEEKDAYS[d.index()]
                        ),
                    );
                }
            }
            days = next;
        }
        Some(DaysDoc::Map(map)) => {
            for (d, w) in map {
                match day_window(w) {
                    Ok(w) => days[d.index()] = Some(w),
                    Err(e) => err(&format!("days.{}", WEEKDAYS[d.index()]), e),
                }
            }
        }
    }
    let holidays = match &doc.holidays {
        None => base.map(|b| b.holidays.clone()).unwrap_or_default(),
        Some(list) => list
            .iter()
            .filter_map(|d| {
                let date = d.trim().parse::<Date>().ok();
                if date.is_none() {
                    err(
                        "holidays",
                        format!("`{d}` is not a date in YYYY-MM-DD form"),
                    );
                }
                date
            })
            .collect(),
    };
    let calendar = match doc.calendar.as_deref().map(str::trim) {
        None => base.and_then(|b| b.calendar),
        Some("none") => None,
        Some(id) => {
            let found = herald_numbering::calendar(id)
                .or_else(|| herald_numbering::calendar(&id.to_ascii_uppercase()));
            if found.is_none() {
                err(
                    "calendar",
                    format!(
                        "`{id}` is not a holiday calendar herald ships: use none, {}",
                        herald_numbering::CALENDARS
                            .iter()
                            .map(|c| c.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            found
        }
    };
    let standard_time = match doc.standard_time {
        None | Some(true) => base.and_then(|b| b.standard_time),
        Some(false) => None,
    };
    if doc.standard_time == Some(true) && standard_time.is_none() {
        err(
            "standard_time",
            format!("`{state}` has no standard-time clock to check: only `false` is allowed"),
        );
    }
    let cap = match &doc.cap {
        None => base.and_then(|b| b.cap),
        Some(c) => {
            if c.max == 0 {
                err("cap.max", "the cap must allow at least one message".into());
            }
            let per = parse_duration(&c.per);
            if per.is_none() {
                err(
                    "cap.per",
                    format!("`{}` is not a duration such as 24h, 90m or 7d", c.per),
                );
            }
            per.map(|per| StateCap { max: c.max, per })
        }
    };
    let citation = match (&doc.citation, base) {
        (Some(c), _) if !c.trim().is_empty() => c.trim().to_owned(),
        (_, Some(b)) => b.citation.clone(),
        (_, None) => {
            err(
                "citation",
                format!(
                    "`{state}` is not in herald's built-in table: an added state rule must name its source in `citation`"
                ),
            );
            String::new()
        }
    };
    if base.is_none() && days.iter().all(Option::is_none) {
        err(
            "window",
            format!("`{state}` is not in herald's built-in table: give it a `window` or `days`"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(EffectiveStateRule {
        state,
        days,
        holidays,
        calendar,
        standard_time,
        cap,
        citation,
        source: if base.is_some() {
            RuleSource::Overridden
        } else {
            RuleSource::Configured
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> BTreeMap<String, StateRuleEntryDoc> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn code(s: &str) -> StateCode {
        StateCode::parse(s).unwrap()
    }

    #[test]
    fn built_in_table_is_the_default_for_marketing_only() {
        let r = StateRules::default();
        assert!(r.get(code("FL")).is_some());
        assert!(r.get(code("NY")).is_none());
        assert!(r.applies_to(Category::Marketing));
        assert!(!r.applies_to(Category::Transactional));
        let fl = r.get(code("fl")).unwrap();
        assert_eq!(fl.cap.unwrap().max, 3);
        assert_eq!(fl.source, RuleSource::BuiltIn);
    }

    #[test]
    fn overrides_extend_and_disable() {
        let r = StateRules::configured(
            &doc(r#"
MS: { window: { start: "09:00", end: "20:00" }, citation: "read as CST" }
AL: { holidays: ["2026-12-25"] }
NV: { window: { start: "09:00", end: "20:00" }, days: [mon, tue, wed, thu, fri], citation: "NRS" }
TX: { days: { sun: { start: "13:00", end: "21:00" } } }
WA: none
"#),
            Some(&[Category::Marketing, Category::Transactional]),
        )
        .unwrap();
        let ms = r.get(code("MS")).unwrap();
        assert_eq!(ms.days[0], Some(DayWindow::hours(9, 20)));
        assert_eq!(ms.days[6], None, "Sunday stays closed");
        assert_eq!(ms.source, RuleSource::Overridden);
        assert_eq!(ms.citation, "read as CST");
        let al = r.get(code("AL")).unwrap();
        let christmas: Date = "2026-12-25".parse().unwrap();
        assert!(!al.is_open(christmas.at(12, 0, 0, 0)));
        assert!(al.is_open("2026-12-24".parse::<Date>().unwrap().at(12, 0, 0, 0)));
        let nv = r.get(code("NV")).unwrap();
        assert_eq!(nv.source, RuleSource::Configured);
        assert_eq!(nv.days[4], Some(DayWindow::hours(9, 20)));
        assert_eq!(nv.days[5], None);
        let tx = r.get(code("TX")).unwrap();
        assert_eq!(tx.days[6], Some(DayWindow::hours(13, 21)));
        assert_eq!(tx.days[0], Some(DayWindow::hours(9, 21)));
        assert!(r.get(code("WA")).is_none());
        assert_eq!(r.disabled, vec![code("WA")]);
        assert!(r.applies_to(Category::Transactional));
    }

    #[test]
    fn errors_name_the_field() {
        let errs = StateRules::configured(
            &doc(r#"
NV: { window: { start: "09:00", end: "20:00" } }
FL: { window: { start: "21:00", end: "08:00" }, cap: { max: 3, per: "a day" } }
Florida: none
"#),
            None,
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "policy.state_rules.FL.window",
                "policy.state_rules.FL.cap.per",
                "policy.state_rules.Florida",
                "policy.state_rules.NV.citation",
            ]
        );
    }

    #[test]
    fn known_regions_are_us_states_territories_and_canadian_provinces() {
        for ok in [
            "FL", "fl", " ny ", "DC", "PR", "GU", "VI", "AS", "MP", "ON", "QC",
        ] {
            assert!(code(ok).is_known_region(), "{ok}");
        }
        for bad in ["NA", "US", "XX", "ZZ", "AA", "AE", "AP", "UK"] {
            assert!(!code(bad).is_known_region(), "{bad}");
        }
        assert!(KNOWN_REGIONS.windows(2).all(|w| w[0] < w[1]), "sorted");
        // Every region a number can give is known.
        for c in [
            "+13055550100",
            "+12025550100",
            "+18085550100",
            "+14165550100",
        ] {
            let s = herald_numbering::us_state(c)
                .and_then(StateCode::parse)
                .unwrap();
            assert!(s.is_known_region(), "{c}: {s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(SignedDuration::from_hours(24)));
        assert_eq!(parse_duration("90m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_duration("7d"), Some(SignedDuration::from_hours(168)));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(duration_text(SignedDuration::from_hours(24)), "24h");
    }

    #[test]
    fn effective_rules_serialise_with_days_and_citation() {
        let r = StateRules::default();
        let json = serde_json::to_value(r.get(code("AL")).unwrap()).unwrap();
        assert_eq!(json["state"], "AL");
        assert_eq!(json["days"]["mon"], "08:00-20:00");
        assert_eq!(json["days"]["sun"], serde_json::Value::Null);
        assert_eq!(json["source"], "built_in");
        let fl = serde_json::to_value(r.get(code("FL")).unwrap()).unwrap();
        assert_eq!(fl["cap"], serde_json::json!({"max": 3, "per": "24h"}));
    }
}
