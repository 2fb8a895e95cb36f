//! Short property runs of the fuzz targets' properties (the long runs are the cargo-fuzz
//! targets under `fuzz/`): the YAML loader, the placeholder parser and renderer, and the SMS
//! analyser never panic on any input, and their outputs keep their documented shapes.

use std::collections::BTreeMap;

use herald::load::yaml;
use herald::spec::{AudienceDoc, CampaignDoc, ProjectDoc, TemplateDoc};
use herald::text::{Encoding, analyze_sms, parse_placeholders, substitute};
use proptest::prelude::*;

/// YAML-ish text: the tokens that steer a YAML parser into its corners.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("kind: Template\n".to_owned()),
        Just("name: x\n".to_owned()),
        Just("body: \"{{a}}\"\n".to_owned()),
        Just("variables:\n  a: { example: e }\n".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a ".to_owned()),
        Just("!!binary ".to_owned()),
        Just("<<: *a\n".to_owned()),
        Just("---\n".to_owned()),
        Just("[".to_owned()),
        Just("{".to_owned()),
        Just("\"\\u00e9".to_owned()),
        Just("|\n  ".to_owned()),
        Just("  ".to_owned()),
        Just("\n".to_owned()),
        "[a-z0-9]{1,6}",
        "\\PC{0,6}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

fn check_loader(text: &str) {
    let _ = yaml::from_str::<TemplateDoc>(text);
    let _ = yaml::from_str::<CampaignDoc>(text);
    let _ = yaml::from_str::<AudienceDoc>(text);
    let _ = yaml::from_str::<ProjectDoc>(text);
    let _ = yaml::from_str::<serde_json::Value>(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn loader_never_panics_on_yamlish_text(text in yamlish()) {
        check_loader(&text);
    }

    #[test]
    fn loader_never_panics_on_any_text(text in any::<String>()) {
        check_loader(&text);
    }

    #[test]
    fn placeholders_are_well_formed_spans(text in "[a-z{} ]{0,40}|\\PC{0,40}") {
        let (found, errors) = parse_placeholders(&text);
        let mut end = 0;
        for p in &found {
            prop_assert!(p.span.start >= end, "overlapping spans in {:?}", text);
            let expected = format!("{{{{{}}}}}", p.name);
            prop_assert_eq!(&text[p.span.clone()], expected.as_str());
            let braced = p.name.contains(['{', '}']);
            prop_assert!(!p.name.is_empty() && !braced, "bad id in {:?}", text);
            end = p.span.end;
        }
        for e in &errors {
            prop_assert!(e.span.end <= text.len() && text.is_char_boundary(e.span.start));
        }
    }

    /// Brace-heavy text: whenever the parser reports no malformed braces and every value is
    /// given (without braces), the rendered text holds no `{{` or `}}`.
    #[test]
    fn render_with_every_value_leaves_no_braces(
        text in "[ab{} ]{0,40}",
        value in "[a-z0-9 ]{0,8}",
    ) {
        let (found, errors) = parse_placeholders(&text);
        let values: BTreeMap<String, String> =
            found.iter().map(|p| (p.name.clone(), value.clone())).collect();
        let out = substitute(&text, &values).expect("every value is given");
        if errors.is_empty() {
            prop_assert!(!out.contains("{{") && !out.contains("}}"), "{:?} -> {:?}", text, out);
        }
        if let Some(p) = found.first() {
            let mut missing = values.clone();
            missing.remove(&p.name);
            prop_assert!(substitute(&text, &missing).is_err());
        }
    }

    #[test]
    fn sms_analysis_is_consistent(text in "\\PC{0,400}|[a-z€{}\\[\\]~^|\\\\]{0,400}") {
        let info = analyze_sms(&text);
        prop_assert_eq!(info.chars, text.encode_utf16().count());
        prop_assert!(info.segments >= 1);
        prop_assert!(info.non_gsm.len() <= 5);
        match info.encoding {
            Encoding::Gsm7 => {
                prop_assert!(info.non_gsm.is_empty());
                prop_assert!(info.units >= info.chars && info.units <= 2 * info.chars);
                prop_assert_eq!(info.segments == 1, info.units <= 160);
            }
            Encoding::Ucs2 => {
                prop_assert!(!info.non_gsm.is_empty());
                prop_assert_eq!(info.units, info.chars);
                prop_assert_eq!(info.segments == 1, info.units <= 70);
            }
        }
    }
}
