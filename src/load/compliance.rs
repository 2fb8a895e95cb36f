//! The structural compliance lints for marketing templates: an SMS carries a recognised
//! opt-out instruction (CTIA Messaging Principles: "Reply STOP to opt out"), an email a
//! visible unsubscribe link in its HTML and an unsubscribe URL in its plain text (CAN-SPAM,
//! 15 U.S.C. 7704(a)(3), (a)(5)(A)(ii); 16 CFR 316), and the postal address the policy
//! declares (15 U.S.C. 7704(a)(5)(A)(iii)). Words alone do not pass: "Non-stop deals" is not
//! an opt-out instruction, an "unsubscribe" inside an HTML comment is not a link, and five
//! digits are not the sender's address.

use scraper::{ElementRef, Html, Node};

/// Opt-out keywords an instruction may name (the FCC's list and the carriers' defaults).
const KEYWORDS: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
];

/// Verbs that tell the recipient to send the keyword.
const VERBS: &[&str] = &["reply", "text", "txt", "send", "respond", "msg", "message"];

/// What the instruction says the keyword does, as word sequences.
const PURPOSES: &[&[&str]] = &[
    &["opt", "out"],
    &["optout"],
    &["unsubscribe"],
    &["unsub"],
    &["cancel"],
    &["end"],
    &["stop"],
    &["quit"],
    &["be", "removed"],
    &["remove"],
    &["stop", "receiving"],
];

fn words(text: &str) -> Vec<(String, bool)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            (
                w.to_lowercase(),
                w.chars().all(|c| !c.is_alphabetic() || c.is_uppercase()),
            )
        })
        .collect()
}

fn purpose_at(w: &[(String, bool)], at: usize) -> bool {
    PURPOSES.iter().any(|p| {
        p.iter()
            .enumerate()
            .all(|(k, word)| w.get(at + k).is_some_and(|(x, _)| x == word))
    })
}

/// Whether an SMS body carries a recognised opt-out instruction:
///
/// - a verb, the keyword and what it does: "Reply STOP to opt out", "Text STOP to 12345 to
///   cancel", "Txt STOP to end", "Reply with STOP to unsubscribe";
/// - the purpose first: "To opt out, reply STOP", "Unsubscribe: text STOP";
/// - the keyword in capitals and what it does: "STOP to end", "STOP to opt out".
///
/// The keyword is one of STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT or a
/// `policy.extra_opt_out_keywords` entry.
pub fn sms_has_opt_out(body: &str, extra_keywords: &[String]) -> bool {
    let w = words(body);
    let is_keyword = |i: usize| {
        w.get(i).is_some_and(|(x, _)| {
            KEYWORDS.contains(&x.as_str()) || extra_keywords.iter().any(|k| k.to_lowercase() == *x)
        })
    };
    // After the keyword: `to`/`for`, an optional short code or number (`to 12345 to`), then
    // the purpose.
    let purpose_after = |k: usize| {
        let mut j = k + 1;
        if w.get(j).is_some_and(|(x, _)| x == "to")
            && w.get(j + 1)
                .is_some_and(|(x, _)| x.chars().all(|c| c.is_ascii_digit()))
        {
            j += 2;
        }
        w.get(j).is_some_and(|(x, _)| x == "to" || x == "for") && purpose_at(&w, j + 1)
    };
    for i in 0..w.len() {
        if VERBS.contains(&w[i].0.as_str()) {
            let k = if w.get(i + 1).is_some_and(|(x, _)| x == "with") {
                i + 2
            } else {
                i + 1
            };
            if !is_keyword(k) {
                continue;
            }
            if purpose_after(k) {
                return true;
            }
            // "To opt out, reply STOP" / "Unsubscribe: text STOP".
            if (i.saturating_sub(4)..i).any(|p| purpose_at(&w, p)) {
                return true;
            }
        } else if w[i].1 && is_keyword(i) && purpose_after(i) {
            return true;
        }
    }
    false
}

const UNSUBSCRIBE: &[&str] = &["unsubscribe", "opt out", "opt-out", "optout"];

fn says_unsubscribe(text: &str) -> bool {
    let lower = text.to_lowercase();
    UNSUBSCRIBE.iter().any(|w| lower.contains(w))
}

/// Whether an element hides its content: the `hidden` attribute, or an inline style with
/// `display:none`, `visibility:hidden`, `opacity:0`, `font-size:0` or zero `max-height`.
fn hides(e: ElementRef<'_>) -> bool {
    let name = e.value().name();
    if matches!(
        name,
        "head" | "style" | "script" | "template" | "noscript" | "title"
    ) || e.value().attr("hidden").is_some()
    {
        return true;
    }
    let Some(style) = e.value().attr("style") else {
        return false;
    };
    let style: String = style
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    style.split(';').any(|decl| {
        let decl = decl.trim_end_matches("!important");
        matches!(
            decl,
            "display:none"
                | "visibility:hidden"
                | "visibility:collapse"
                | "opacity:0"
                | "opacity:0.0"
                | "font-size:0"
                | "font-size:0px"
                | "max-height:0"
                | "max-height:0px"
        )
    })
}

/// Whether a node and every element around it are shown.
fn shown(e: ElementRef<'_>) -> bool {
    !hides(e)
        && e.ancestors()
            .filter_map(ElementRef::wrap)
            .all(|a| !hides(a))
}

fn element_text(e: ElementRef<'_>) -> String {
    let mut out = String::new();
    for node in e.descendants() {
        if let Node::Text(t) = node.value()
            && node
                .ancestors()
                .filter_map(ElementRef::wrap)
                .take_while(|a| a.id() != e.id())
                .all(|a| !hides(a))
        {
            out.push_str(t);
            out.push(' ');
        }
    }
    out
}

/// The text of an HTML part a reader sees: text outside comments, scripts, styles and hidden
/// elements, elements separated by spaces.
pub fn visible_text(html: &str) -> String {
    let doc = Html::parse_fragment(html);
    let mut out = String::new();
    for node in doc.root_element().descendants() {
        if let Node::Text(t) = node.value()
            && node
                .ancestors()
                .filter_map(ElementRef::wrap)
                .all(|a| !hides(a))
        {
            out.push_str(t);
            out.push(' ');
        }
    }
    out
}

/// Whether an HTML part has a visible unsubscribe link: an `<a href>` (not in a comment, not
/// hidden, its target neither empty, `#…` nor `javascript:`) whose text, or the text of the
/// element around it ("To unsubscribe, click here"), says unsubscribe or opt out.
pub fn html_has_unsubscribe_link(html: &str) -> bool {
    let doc = Html::parse_fragment(html);
    let Ok(links) = scraper::Selector::parse("a[href]") else {
        return false;
    };
    doc.select(&links).any(|a| {
        let href = a.value().attr("href").unwrap_or("").trim().to_lowercase();
        if href.is_empty() || href.starts_with('#') || href.starts_with("javascript:") {
            return false;
        }
        if !shown(a) {
            return false;
        }
        let text = element_text(a);
        if text.trim().is_empty() {
            return false;
        }
        says_unsubscribe(&text)
            || a.parent()
                .and_then(ElementRef::wrap)
                .is_some_and(|p| says_unsubscribe(&element_text(p)))
    })
}

fn is_url(word: &str) -> bool {
    let w = word.trim_matches(|c: char| matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | '.' | ','));
    w.starts_with("https://")
        || w.starts_with("http://")
        || w.starts_with("mailto:")
        || (w.starts_with("{{") && w.ends_with("}}"))
}

/// Whether a plain-text part has an unsubscribe URL: a line that says unsubscribe or opt out
/// with a URL (`https://…`, `mailto:…` or a `{{placeholder}}`) on it or on the next line.
pub fn text_has_unsubscribe_url(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.iter().enumerate().any(|(i, l)| {
        says_unsubscribe(l)
            && (l.split_whitespace().any(is_url)
                || lines
                    .get(i + 1)
                    .is_some_and(|n| n.split_whitespace().any(is_url)))
    })
}

/// Whether `text` contains `address` word for word (letters and digits compared without case;
/// spaces, line breaks and punctuation between words ignored).
pub fn contains_address(text: &str, address: &str) -> bool {
    let norm = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (hay, needle) = (norm(text), norm(address));
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// The longest SMS text the agentless messaging API takes.
const MAX_REPLY_CHARS: usize = 765;

/// Validates `policy.keyword_replies`: `from` an E.164 number, each text non-empty and at most
/// 765 characters, the HELP answer carrying an opt-out instruction (CTIA). Errors are
/// `(field, message)`.
pub(crate) fn keyword_replies(
    doc: &crate::spec::KeywordRepliesDoc,
    extra_keywords: &[String],
) -> Result<crate::spec::model::KeywordReplies, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let from = doc.from.trim();
    let digits = from.strip_prefix('+').unwrap_or("");
    if !((8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0'))
    {
        errors.push((
            "from".to_owned(),
            "must be the org's SMS number in E.164 form, e.g. \"+15550001111\"".to_owned(),
        ));
    }
    let mut text = |field: &str, value: &Option<String>| -> Option<String> {
        let v = value.as_deref()?.trim();
        if v.is_empty() {
            errors.push((
                field.to_owned(),
                "must not be empty (leave it out for no reply)".to_owned(),
            ));
            return None;
        }
        if v.chars().count() > MAX_REPLY_CHARS {
            errors.push((
                field.to_owned(),
                format!(
                    "is {} characters; an SMS reply takes at most {MAX_REPLY_CHARS}",
                    v.chars().count()
                ),
            ));
        }
        Some(v.to_owned())
    };
    let help = text("help", &doc.help);
    let confirmation = text("opt_out_confirmation", &doc.opt_out_confirmation);
    if let Some(h) = &help
        && !sms_has_opt_out(h, extra_keywords)
    {
        errors.push((
            "help".to_owned(),
            "must say how to opt out, e.g. \"Reply STOP to opt out\" (CTIA: a HELP answer gives the opt-out instructions)".to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(crate::spec::model::KeywordReplies {
            from: from.to_owned(),
            help,
            opt_out_confirmation: confirmation,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_opt_out_is_a_recognised_instruction() {
        for ok in [
            "Sale today. Reply STOP to opt out.",
            "Sale today. Reply stop to opt-out",
            "Text STOP to 12345 to cancel",
            "Txt STOP to end",
            "Reply with \"STOP\" to unsubscribe.",
            "To opt out, reply STOP.",
            "Unsubscribe: text STOP",
            "Msg&data rates may apply. STOP to end",
            "Reply END to stop receiving these texts",
        ] {
            assert!(sms_has_opt_out(ok, &[]), "{ok}");
        }
        for bad in [
            "Non-stop deals all weekend!",
            "Don't stop now: 20% off",
            "We will stop the sale on Sunday",
            "Reply STOP",
            "stop to end",
            "Reply YES for more deals",
        ] {
            assert!(!sms_has_opt_out(bad, &[]), "{bad}");
        }
        assert!(sms_has_opt_out(
            "Reply HALT to opt out",
            &["halt".to_owned()]
        ));
    }

    #[test]
    fn unsubscribe_links_are_visible_links() {
        assert!(html_has_unsubscribe_link(
            "<p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>"
        ));
        assert!(html_has_unsubscribe_link(
            "<p>To unsubscribe, <a href='https://x.example/u'>click here</a>.</p>"
        ));
        for bad in [
            "<p>News</p><!-- <a href=\"https://x.example/u\">unsubscribe</a> -->",
            "<p>unsubscribe href</p>",
            "<div style=\"display: none\"><a href=\"https://x.example/u\">Unsubscribe</a></div>",
            "<a href=\"https://x.example/u\" hidden>Unsubscribe</a>",
            "<a href=\"#\">Unsubscribe</a>",
            "<p><a href=\"https://x.example/shop\">Shop now</a></p>",
            "<a href=\"https://x.example/u\"></a> unsubscribe",
        ] {
            assert!(!html_has_unsubscribe_link(bad), "{bad}");
        }
    }

    #[test]
    fn plain_text_needs_an_unsubscribe_url() {
        assert!(text_has_unsubscribe_url(
            "Hi\nUnsubscribe: {{unsubscribe_url}}\n"
        ));
        assert!(text_has_unsubscribe_url(
            "To opt out visit\nhttps://x.example/u\n"
        ));
        assert!(!text_has_unsubscribe_url("Reply to unsubscribe.\n"));
        assert!(!text_has_unsubscribe_url("Shop: https://x.example\n"));
    }

    #[test]
    fn the_declared_address_is_compared_word_for_word() {
        let address = "Example Outfitters, 100 Main Street, Springfield, IL 62701";
        let html = "<p>Example Outfitters<br>100 Main Street<br>Springfield, IL 62701</p>";
        assert!(contains_address(&visible_text(html), address));
        assert!(!contains_address(
            &visible_text("<p>Order 62701 ships today</p>"),
            address
        ));
        assert!(!contains_address(
            &visible_text(&format!("<!-- {address} --><p>News</p>")),
            address
        ));
        assert!(!contains_address("anything", ""));
    }
}
