//! The opt-out classifier on arbitrary replies and extra keywords: no panic, and a keyword
//! is reported exactly when an action is taken.
#![no_main]

use herald_inbound::{InboundAction, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, Vec<String>)| {
    let (text, extra) = input;
    let got = classify(&text, &extra);
    assert_eq!(got.keyword.is_some(), got.action != InboundAction::None);
    if got.flagged {
        assert_eq!(got.action, InboundAction::Suppress);
    }
});
