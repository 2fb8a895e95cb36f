//! docs/compliance.md must show every built-in state rule with its citation and sources, so a
//! reviewer signs off on what the code actually does.

use herald_numbering::{FEDERAL_WINDOW_CITATION, Holidays, STATE_RULES, TextCoverage};

const DOC: &str = include_str!("../../../docs/compliance.md");

fn row(state: &str) -> &'static str {
    let prefix = format!("| {state} |");
    let mut rows = DOC.lines().filter(|line| line.starts_with(&prefix));
    let row = rows
        .next()
        .unwrap_or_else(|| panic!("docs/compliance.md has no table row for {state}"));
    assert!(rows.next().is_none(), "two rows for {state}");
    row
}

#[test]
fn every_rule_has_a_row_with_its_citation_and_sources() {
    for rule in STATE_RULES {
        let row = row(rule.state);
        assert!(
            row.contains(rule.citation),
            "{}: citation differs",
            rule.state
        );
        for source in rule.sources {
            assert!(
                row.contains(source),
                "{}: source {source} missing",
                rule.state
            );
        }
        let texts = match rule.texts {
            TextCoverage::Explicit => "| explicit |",
            TextCoverage::Unsettled => "| unsettled |",
        };
        assert!(row.contains(texts), "{}: text coverage differs", rule.state);
        assert_eq!(
            row.contains("3 per 24 h"),
            rule.cap
                .is_some_and(|c| c.max == 3 && c.per.as_hours() == 24),
            "{}: cap differs",
            rule.state
        );
        assert_eq!(
            row.contains("holidays barred"),
            matches!(rule.holidays, Holidays::Calendar(_)),
            "{}: holidays differ",
            rule.state
        );
        if let Some(calendar) = rule.holidays.calendar() {
            assert!(
                row.contains(calendar.citation),
                "{}: holiday calendar citation missing",
                rule.state
            );
        }
        assert_eq!(
            row.contains("no Sunday"),
            rule.days[6].is_none(),
            "{}: Sunday differs",
            rule.state
        );
        for window in rule.days.iter().flatten() {
            let text = format!(
                "{:02}:{:02}–{:02}:{:02}",
                window.start.hour(),
                window.start.minute(),
                window.end.hour(),
                window.end.minute()
            );
            assert!(row.contains(&text), "{}: window {text} missing", rule.state);
        }
    }
}

#[test]
fn no_row_without_a_rule() {
    let table_rows = DOC
        .lines()
        .filter(|line| line.len() > 6 && line.starts_with("| ") && line.as_bytes()[4] == b' ')
        .filter(|line| line[2..4].bytes().all(|b| b.is_ascii_uppercase()));
    for line in table_rows {
        let state = &line[2..4];
        assert!(
            STATE_RULES.iter().any(|rule| rule.state == state),
            "docs/compliance.md lists {state}, which the built-in table lacks"
        );
    }
}

#[test]
fn every_calendar_and_zone_override_is_cited() {
    for calendar in herald_numbering::CALENDARS {
        assert!(
            DOC.contains(calendar.source),
            "{}: source missing",
            calendar.id
        );
        assert!(
            DOC.contains(calendar.citation),
            "{}: citation missing",
            calendar.id
        );
    }
    for o in herald_numbering::ZONE_OVERRIDES {
        assert!(DOC.contains(o.prefix), "{} missing", o.prefix);
    }
}

#[test]
fn the_federal_window_is_cited() {
    assert!(DOC.contains("47 CFR § 64.1200(c)(1)"));
    assert!(FEDERAL_WINDOW_CITATION.starts_with("47 CFR § 64.1200(c)(1)"));
}
