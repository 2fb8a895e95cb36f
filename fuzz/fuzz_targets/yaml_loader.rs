//! The YAML loader must return a value or an error for any input, never panic, hang or
//! exhaust memory (the loader's budgets bound aliases, depth and size).
#![no_main]

use herald::load::yaml::from_str;
use herald::spec::{AudienceDoc, CampaignDoc, ProjectDoc, TemplateDoc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = from_str::<TemplateDoc>(text);
    let _ = from_str::<CampaignDoc>(text);
    let _ = from_str::<AudienceDoc>(text);
    let _ = from_str::<ProjectDoc>(text);
    let _ = from_str::<serde_json::Value>(text);
});
