//! The placeholder parser, renderer and SMS analyser on arbitrary text: no panic; spans are
//! exact `{{name}}` slices; with every value given (brace-free), a text without malformed
//! braces renders with no `{{` or `}}` left; the SMS counts are consistent.
#![no_main]

use std::collections::BTreeMap;

use herald::text::{analyze_sms, parse_placeholders, substitute};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String)| {
    let (text, value) = input;
    let value: String = value.chars().filter(|c| *c != '{' && *c != '}').collect();
    let (found, errors) = parse_placeholders(&text);
    for p in &found {
        assert_eq!(&text[p.span.clone()], format!("{{{{{}}}}}", p.name));
    }
    let values: BTreeMap<String, String> = found
        .iter()
        .map(|p| (p.name.clone(), value.clone()))
        .collect();
    let out = substitute(&text, &values).expect("every value is given");
    if errors.is_empty() {
        assert!(!out.contains("{{") && !out.contains("}}"));
    }
    let info = analyze_sms(&out);
    assert_eq!(info.chars, out.encode_utf16().count());
    assert!(info.segments >= 1);
});
