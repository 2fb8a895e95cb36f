//! What the reviewer reads is what the recipient gets: hidden characters are refused or
//! escaped, the pull-request comment renders input text as text, look-alike names match the
//! deny list, national phone numbers are masked, the preview contacts no host, and the
//! compliance lints check structure rather than words.

use crate::support::{TestWorkspace, run};

const NOW: &str = "2026-12-02T15:00:00Z";

fn has_raw_control(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

fn validate(ws: &TestWorkspace) -> (i32, String) {
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["validate"]));
    (code, format!("{out}{err}"))
}

#[test]
fn a_template_text_hiding_an_osc_sequence_is_refused_by_code_point() {
    let ws = TestWorkspace::example();
    let path = "templates/winter-sale.yaml";
    let yaml = ws.read(path).replace(
        "body: >-\n  Hi {{first_name}}! Our winter sale starts today: {{discount}} off everything until Sunday.\n  Shop at https://shop.example.com/winter. Reply STOP to opt out.",
        "body: \"Hi {{first_name}}! {{discount}} off. \\e]8;;\\aConfirm your card at http://evil.example/x\\e]8;;\\a Reply STOP to opt out.\"",
    );
    assert!(yaml.contains("\\e]8"), "the example template changed");
    ws.write(path, &yaml);
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("H143"), "{out}");
    assert!(out.contains("templates/winter-sale.yaml:"), "{out}");
    assert!(out.contains("`body`"), "{out}");
    assert!(out.contains("U+001B (ESCAPE)"), "{out}");
    assert!(!has_raw_control(&out), "{out:?}");
    // Nothing is planned or sent from it.
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args(["plan"]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(!has_raw_control(&out) && !has_raw_control(&err));
}

#[test]
fn bidi_overrides_in_a_subject_and_in_metadata_are_refused() {
    let ws = TestWorkspace::example();
    let path = "templates/december-newsletter.yaml";
    ws.write(
        path,
        &ws.read(path)
            .replace(
                "subject: \"{{first_name}}, your December picks are here\"",
                "subject: \"{{first_name}}, your \\u202Eereh era skcip\\u202C\"",
            )
            .replace(
                "first_name: { description: Subscriber first name,",
                "first_name: { description: \"Subscriber\\u2066 first name\",",
            ),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("`subject`") && out.contains("U+202E"), "{out}");
    assert!(
        out.contains("`variables.first_name.description`") && out.contains("U+2066"),
        "{out}"
    );
    assert!(!has_raw_control(&out), "{out:?}");
}

#[test]
fn the_pull_request_comment_renders_input_text_as_text() {
    let ws = TestWorkspace::example();
    // An audience value with markup, a comment opener and a table pipe: the sample shows it.
    let csv = ws.read("campaigns/data/vip-customers.csv").replace(
        "C-2001,+12125550110,America/New_York,yes,Avery",
        "C-2001,+12125550110,America/New_York,yes,\"A<img src=x>|`</details><!--\"",
    );
    ws.write("campaigns/data/vip-customers.csv", &csv);
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    let sample = md
        .lines()
        .find(|l| l.starts_with("- `winter-sale-2026` (send now) →"))
        .unwrap_or_else(|| panic!("no sample line:\n{md}"));
    // The sample is a code span (markup inside one is text) longer than the backtick in it.
    assert!(
        sample.contains("``Hi A<img src=x>|`</details><!--! Our winter sale"),
        "{sample}"
    );
    assert!(sample.trim_end().ends_with("``"), "{sample}");
    // Outside the code span, one `</details>` closes each `<details>` herald opened.
    let rest = md.replace(sample, "");
    assert_eq!(
        rest.matches("<details").count(),
        rest.matches("</details>").count()
    );
}

#[test]
fn a_diff_is_fenced_longer_than_any_backtick_run_in_it() {
    let ws = TestWorkspace::example();
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{err}");
    let path = "templates/winter-sale.yaml";
    ws.write(
        path,
        &ws.read(path)
            .replace("until Sunday.", "until Sunday. ```` </details> <img src=x>"),
    );
    let (code, md, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{err}");
    let open = md
        .lines()
        .find(|l| l.trim_start_matches('`') == "diff")
        .unwrap_or_else(|| panic!("no diff block:\n{md}"));
    let fence = open.trim_end_matches("diff");
    assert!(
        fence.len() >= 5,
        "fence {fence:?} is not longer than the text's ````:\n{md}"
    );
    let body: Vec<&str> = md
        .lines()
        .skip_while(|l| *l != open)
        .skip(1)
        .take_while(|l| *l != fence)
        .collect();
    assert!(body.iter().any(|l| l.contains("````")), "{md}");
    // Outside the code block (where `</details>` is text) and the samples (code spans, checked
    // above), the markup is herald's own.
    let outside: String = md
        .lines()
        .filter(|l| !body.contains(l) && !l.starts_with("- `"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        outside.matches("<details").count(),
        outside.matches("</details>").count(),
        "{md}"
    );
    assert!(!outside.contains("<img"), "{md}");
}

#[test]
fn a_cyrillic_look_alike_of_card_matches_the_deny_list() {
    let ws = TestWorkspace::example();
    let path = "templates/winter-sale.yaml";
    // `сard_number` with a Cyrillic `с` (U+0441).
    ws.write(
        path,
        &ws.read(path)
            .replace(
                "Reply STOP to opt out.",
                "Card {{\u{441}ard_number}}. Reply STOP to opt out.",
            )
            .replace(
                "variables:\n",
                "variables:\n  \u{441}ard_number: { description: x, example: \"1234\" }\n",
            ),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H130") && out.contains("matches the denied pattern `card`"),
        "{out}"
    );
    assert!(out.contains("H144") && out.contains("U+0441"), "{out}");
}

#[test]
fn a_row_key_with_control_characters_is_a_row_error_and_never_printed_raw() {
    let ws = TestWorkspace::example();
    let csv = ws
        .read("campaigns/data/vip-customers.csv")
        .replace("C-2001,", "\"C-2001\u{1b}[2K\u{1b}]0;owned\u{7}\",");
    ws.write("campaigns/data/vip-customers.csv", &csv);
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H153") && out.contains("campaigns/data/vip-customers.csv:2"),
        "{out}"
    );
    assert!(out.contains("U+001B"), "{out}");
    assert!(!has_raw_control(&out), "{out:?}");
    let (_, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "render",
        "winter-sale-2026",
        "--limit",
        "10",
    ]));
    assert!(
        !has_raw_control(&out) && !has_raw_control(&err),
        "{out:?}{err:?}"
    );
}

#[test]
fn national_numbers_in_values_are_masked_in_render_plan_and_preview() {
    let ws = TestWorkspace::example();
    let csv = ws.read("campaigns/data/vip-customers.csv").replace(
        "C-2001,+12125550110,America/New_York,yes,Avery",
        "C-2001,+12125550110,America/New_York,yes,Avery (212) 555-0174",
    );
    ws.write("campaigns/data/vip-customers.csv", &csv);
    let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).args([
        "render",
        "winter-sale-2026",
        "--limit",
        "1",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Avery (***) ***-0174"), "{out}");
    assert!(!out.contains("555-0174") && !out.contains("(212)"), "{out}");
    for format in ["text", "markdown", "json"] {
        let (code, plan, err) = run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--format", format]));
        assert_eq!(code, 0, "{err}");
        assert!(!plan.contains("(212) 555"), "{format}: {plan}");
    }
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["preview", "--out", "site"]));
    assert_eq!(code, 0, "{err}");
    let page = ws.read("site/index.html");
    assert!(
        !page.contains("555-0174") && !page.contains("(212)"),
        "{page}"
    );
    assert!(page.contains("***-0174"), "no masked sample on the page");
}

#[test]
fn opening_the_preview_contacts_no_host() {
    let ws = TestWorkspace::example();
    let path = "templates/december-newsletter.yaml";
    ws.write(
        path,
        &ws.read(path).replace(
            "html: |\n",
            "html: |\n  <link rel=\"preconnect\" href=\"https://tracker.evil.example\">\n  <link rel=dns-prefetch href=\"//dns.evil.example\">\n  <link rel=prefetch href=\"https://prefetch.evil.example/a\">\n  <meta http-equiv=\"refresh\" content=\"0;url=https://refresh.evil.example\">\n  <p style=\"background:url(https://css.evil.example/b.png)\">Look</p>\n  <style>@import url(https://import.evil.example/c.css);</style>\n  <img src=\"https://img.evil.example/d.png\" srcset=\"https://srcset.evil.example/e.png 2x\" alt=\"logo\">\n",
        ),
    );
    let (code, _, err) = run(ws
        .herald()
        .env("HERALD_NOW", NOW)
        .args(["preview", "--out", "site"]));
    assert_eq!(code, 0, "{err}");
    let page = ws.read("site/index.html");
    assert!(
        !page.contains("evil.example"),
        "the page names a remote host"
    );
    assert!(
        page.contains("x-dns-prefetch-control"),
        "no DNS prefetch opt-out"
    );
    // The reviewed content is still shown.
    assert!(page.contains("Unsubscribe"));
}

#[test]
fn an_sms_mentioning_stop_is_not_an_opt_out_instruction() {
    let ws = TestWorkspace::example();
    let path = "templates/winter-sale.yaml";
    ws.write(
        path,
        &ws.read(path)
            .replace("Reply STOP to opt out.", "Non-stop deals all weekend!"),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("H140"), "{out}");
}

#[test]
fn an_unsubscribe_word_in_an_html_comment_is_not_a_link() {
    let ws = TestWorkspace::example();
    let path = "templates/december-newsletter.yaml";
    ws.write(
        path,
        &ws.read(path).replace(
            "<p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a> from these emails at any time.</p>",
            "<p><a href=\"{{unsubscribe_url}}\">Manage</a></p><!-- unsubscribe -->",
        ),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("H141") && out.contains("HTML part"), "{out}");
    // The plain-text part needs an unsubscribe URL too.
    let ws = TestWorkspace::example();
    ws.write(
        path,
        &ws.read(path)
            .replace("Unsubscribe: {{unsubscribe_url}}", "Unsubscribe any time."),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H141") && out.contains("plain-text part"),
        "{out}"
    );
}

#[test]
fn five_digits_are_not_the_declared_postal_address() {
    let ws = TestWorkspace::example();
    let path = "templates/december-newsletter.yaml";
    ws.write(
        path,
        &ws.read(path).replace(
            "Example Outfitters, 100 Main Street, Springfield, IL 62701",
            "Order 62701 ships today",
        ),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("H142") && out.contains("policy.postal_address"),
        "{out}"
    );
    // Written across lines and tags, the declared address passes.
    let ws = TestWorkspace::example();
    ws.write(
        path,
        &ws.read(path).replace(
            "<p>Example Outfitters, 100 Main Street, Springfield, IL 62701</p>",
            "<p>Example Outfitters<br>\n  100 Main Street<br>\n  Springfield, IL 62701</p>",
        ),
    );
    let (code, out) = validate(&ws);
    assert_eq!(code, 0, "{out}");
}
