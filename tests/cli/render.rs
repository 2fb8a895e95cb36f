//! `herald render`: masked previews.

use crate::support::{TestWorkspace, herald_snapshot, run};

#[test]
fn renders_masked_sms_with_segments() {
    let ws = TestWorkspace::example();
    // Two recipients (the limit), masked, each with its encoding, length and segments.
    let out =
        herald_snapshot!(
            ws.herald()
                .args(["render", "order-shipped-2026-11-25", "--limit", "2"])
        );
    assert!(!out.contains("2125550100"), "full number leaked:\n{out}");
}

#[test]
fn renders_one_recipient_and_skips_non_consenting() {
    let ws = TestWorkspace::example();
    let (code, out, _) = run(ws.herald().args([
        "render",
        "order-shipped-2026-11-25",
        "--recipient",
        "C-1008",
    ]));
    assert_eq!(code, 0);
    assert!(
        out.contains("C-1008") && out.contains("ORD-100008") && !out.contains("C-1001"),
        "{out}"
    );
    // C-1006 has no consent: not renderable as a send.
    let (code, _, err) = run(ws.herald().args([
        "render",
        "order-shipped-2026-11-25",
        "--recipient",
        "C-1006",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("no sendable row"), "{err}");
}

#[test]
fn renders_email_as_json() {
    let ws = TestWorkspace::example();
    let (code, out, _) = run(ws.herald().args([
        "render",
        "december-newsletter",
        "--format",
        "json",
        "--limit",
        "1",
    ]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["to"], "a***@example.com");
    assert_eq!(v[0]["subject"], "Avery, your December picks are here");
    assert!(
        v[0]["html"]
            .as_str()
            .unwrap()
            .contains("https://example.com/u/s3001")
    );
}

#[test]
fn unknown_campaign_lists_the_known_ones() {
    let ws = TestWorkspace::example();
    herald_snapshot!(ws.herald().args(["render", "nope"]));
}
