//! The generated tables against a sample of known prefixes, and garbage input.

use herald_numbering::{DATA_SOURCE, Zones, time_zones, us_state};
use proptest::prelude::*;

fn zones(e164: &str) -> Vec<&'static str> {
    time_zones(e164)
        .known()
        .map(<[_]>::to_vec)
        .unwrap_or_default()
}

#[test]
fn single_zone_area_codes() {
    assert_eq!(
        time_zones("+12125550100"),
        Zones::Known(&["America/New_York"])
    );
    assert_eq!(zones("+12065550100"), ["America/Los_Angeles"]);
    assert_eq!(zones("+18085550100"), ["Pacific/Honolulu"]);
    assert_eq!(zones("+13055550100"), ["America/New_York"]);
    assert_eq!(zones("+16025550100"), ["America/Phoenix"]);
    assert_eq!(zones("+14165550100"), ["America/Toronto"]);
}

#[test]
fn multi_zone_area_codes_list_every_candidate() {
    assert_eq!(
        zones("+17755550100"),
        ["America/Boise", "America/Los_Angeles"]
    );
    // 907 as a whole spans Alaska's zones; the data narrows some NPA-NXX blocks.
    let alaska = zones("+19075550100");
    assert!(alaska.len() >= 2, "{alaska:?}");
    assert!(alaska.contains(&"America/Anchorage"), "{alaska:?}");
    assert!(
        alaska.iter().all(|z| z.starts_with("America/")),
        "{alaska:?}"
    );
}

#[test]
fn npa_nxx_precision_wins_over_the_area_code() {
    // Juneau's exchanges inside 907, and Central-time exchanges of north-west Indiana's 219.
    assert_eq!(zones("+19072095550"), ["America/Juneau"]);
    assert_eq!(zones("+12195550100"), ["America/New_York"]);
    assert_eq!(zones("+12192265550"), ["America/Chicago"]);
}

#[test]
fn toll_free_and_unmatched_plus_one_are_unknown() {
    for number in [
        "+18005550100",
        "+18885550100",
        "+18775550100",
        "+18665550100",
        "+18555550100",
        "+18445550100",
        "+18335550100",
        "+19005550100",
        "+1",
    ] {
        assert_eq!(time_zones(number), Zones::Unknown, "{number}");
    }
}

#[test]
fn other_country_codes() {
    assert_eq!(zones("+33142685300"), ["Europe/Paris"]);
    assert_eq!(zones("+4930901820"), ["Europe/Berlin"]);
    assert!(zones("+442079460000").contains(&"Europe/London"));
    assert_eq!(zones("+81312345678"), ["Asia/Tokyo"]);
    assert!(
        zones("+61212345678")
            .iter()
            .all(|z| z.starts_with("Australia/"))
    );
    // No such country code.
    assert_eq!(time_zones("+9991234567"), Zones::Unknown);
}

#[test]
fn every_zone_name_is_known_to_the_bundled_tz_database() {
    let mut checked = 0;
    for number in sample_numbers() {
        for zone in zones(&number) {
            assert!(
                jiff::tz::TimeZone::get(zone).is_ok(),
                "{zone} (from {number}) is not in jiff's tz database"
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} zones checked");
}

/// One number per prefix of every length up to 7 digits in the +1 and +7 plans and per
/// two-digit country code, so most entries of the table are reached.
fn sample_numbers() -> Vec<String> {
    let mut numbers = Vec::new();
    for npa in 200..1000 {
        for nxx in (200..1000).step_by(7) {
            numbers.push(format!("+1{npa}{nxx}0100"));
        }
    }
    for cc in 20..100 {
        numbers.push(format!("+{cc}123456789"));
    }
    numbers
}

#[test]
fn states_from_area_codes() {
    assert_eq!(us_state("+13055550100"), Some("FL"));
    assert_eq!(us_state("+12125550100"), Some("NY"));
    assert_eq!(us_state("+12065550100"), Some("WA"));
    assert_eq!(us_state("+14055550100"), Some("OK"));
    assert_eq!(us_state("+14105550100"), Some("MD"));
    assert_eq!(us_state("+15125550100"), Some("TX"));
    assert_eq!(us_state("+15045550100"), Some("LA"));
    assert_eq!(us_state("+12055550100"), Some("AL"));
    assert_eq!(us_state("+16015550100"), Some("MS"));
    assert_eq!(us_state("+12025550100"), Some("DC"));
    assert_eq!(us_state("+18085550100"), Some("HI"));
    assert_eq!(us_state("+14165550100"), Some("ON"));
}

#[test]
fn states_from_npa_nxx_where_the_area_code_is_shared() {
    // 902 is "Nova Scotia/Prince Edward Island" as a whole; exchanges say which.
    assert_eq!(us_state("+19022245550"), Some("NS"));
    assert_eq!(us_state("+19023675550"), Some("PE"));
    assert_eq!(us_state("+19029995550"), None);
}

#[test]
fn no_state_outside_the_us_and_canada() {
    assert_eq!(us_state("+18005550100"), None); // toll-free
    assert_eq!(us_state("+12425550100"), None); // Bahamas
    assert_eq!(us_state("+442079460000"), None);
    assert_eq!(us_state("+33142685300"), None);
}

#[test]
fn garbage_is_unknown() {
    for input in [
        "",
        "+",
        "12125550100",
        "+1 212 555 0100",
        "+1-212-555-0100",
        "tel:+12125550100",
        "+1212555010012345",
        "+0",
        "abc",
        "+1abc",
        "+１２１２",
        "\u{0}",
    ] {
        assert_eq!(time_zones(input), Zones::Unknown, "{input:?}");
        assert_eq!(us_state(input), None, "{input:?}");
    }
}

#[test]
fn the_source_is_named() {
    assert!(DATA_SOURCE.starts_with("phonenumbers 9."), "{DATA_SOURCE}");
    assert!(DATA_SOURCE.contains("Apache-2.0"));
}

proptest! {
    #[test]
    fn any_string_never_panics(input in ".*") {
        let _ = time_zones(&input);
        let _ = us_state(&input);
    }

    #[test]
    fn plus_and_digits_never_panics(digits in "[0-9]{0,20}") {
        let number = format!("+{digits}");
        if let Zones::Known(zones) = time_zones(&number) {
            prop_assert!(!zones.is_empty());
        }
        if let Some(state) = us_state(&number) {
            prop_assert!(number.starts_with("+1"));
            prop_assert_eq!(state.len(), 2);
        }
    }

    /// Appending digits can only refine an answer, never lose it: a known zone set stays
    /// known for every longer number (the longest match is at least as long).
    #[test]
    fn longer_numbers_stay_known(prefix in "[1-9][0-9]{0,8}", tail in "[0-9]{0,6}") {
        let short = format!("+{prefix}");
        let long = format!("+{prefix}{tail}");
        if long.len() <= 16 && time_zones(&short) != Zones::Unknown {
            prop_assert_ne!(time_zones(&long), Zones::Unknown);
        }
    }
}
