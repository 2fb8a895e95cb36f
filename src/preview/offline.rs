//! The email HTML as the preview page shows it: everything that could make a browser contact
//! a host when the page is opened is removed before the HTML reaches the page, in addition to
//! the page's Content-Security-Policy (which blocks fetches, but not every browser applies it
//! to resource hints such as `<link rel=preconnect>` or `dns-prefetch`).
//!
//! Removed: `<link>` (stylesheets, `preconnect`, `dns-prefetch`, `prefetch`, `preload`,
//! `prerender`, `modulepreload`), `<meta>` (`refresh`), `<base>`, scripts, frames, objects,
//! embeds, `<portal>`, SVG and `MathML` (whose `href`s load), `<noscript>` and `<template>`;
//! every `on…` handler; every URL attribute that loads (`src`, `srcset`, `background`,
//! `poster`, `data`, `action`, `formaction`, `ping`, `longdesc`, `cite`, `manifest`, …) unless
//! it is a `data:` URL; `href` except on links (`<a>`, `<area>`: followed only on a click,
//! which the sandboxed frame blocks); inline styles and `<style>` blocks that mention `url(`,
//! `image-set(`, `@import`, `expression(` or hold a CSS escape (`\`). Comments are dropped.
//! A remote image becomes a visible notice that it was blocked (with its alt text).
//! Text and attribute values are escaped again when the HTML is written back.

use scraper::{ElementRef, Html, Node};

/// Elements removed with everything inside them.
const DROPPED: &[&str] = &[
    "link", "meta", "base", "script", "iframe", "frame", "frameset", "object", "embed", "applet",
    "portal", "svg", "math", "noscript", "template", "head", "title",
];

/// Elements that have no end tag.
const VOID: &[&str] = &[
    "area", "br", "col", "hr", "img", "input", "source", "track", "wbr",
];

/// Attributes that make the browser load a URL.
const LOADING: &[&str] = &[
    "src",
    "srcset",
    "lowsrc",
    "dynsrc",
    "background",
    "poster",
    "data",
    "action",
    "formaction",
    "ping",
    "longdesc",
    "cite",
    "manifest",
    "codebase",
    "classid",
    "archive",
    "profile",
    "usemap",
    "xmlns",
    "imagesrcset",
    "imagesizes",
];

/// Whether CSS text could load something (or hide how it would, behind an escape).
fn css_loads(css: &str) -> bool {
    let lower: String = css
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    lower.contains('\\')
        || [
            "url(",
            "image-set(",
            "image(",
            "@import",
            "expression(",
            "src(",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

fn keep_attribute(element: &str, name: &str, value: &str) -> bool {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.starts_with("on")
    {
        return false;
    }
    let data_url = value.trim_start().to_lowercase().starts_with("data:");
    match name {
        "href" => matches!(element, "a" | "area"),
        "style" => !css_loads(value),
        n if LOADING.contains(&n) => data_url && matches!(n, "src" | "background" | "poster"),
        _ => true,
    }
}

fn write_children(out: &mut String, e: ElementRef<'_>) {
    for child in e.children() {
        match child.value() {
            Node::Text(t) => out.push_str(&html_escape::encode_text(&**t)),
            Node::Element(_) => {
                if let Some(el) = ElementRef::wrap(child) {
                    write_element(out, el);
                }
            }
            _ => {}
        }
    }
}

fn write_element(out: &mut String, e: ElementRef<'_>) {
    let name = e.value().name();
    if DROPPED.contains(&name) {
        return;
    }
    let well_formed = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric());
    if name == "style" {
        let css: String = e.text().collect();
        if !css_loads(&css) && !css.contains("</") {
            out.push_str("<style>");
            out.push_str(&css);
            out.push_str("</style>");
        }
        return;
    }
    if !well_formed {
        // An element the parser read from odd input: keep what is inside it.
        write_children(out, e);
        return;
    }
    if name == "img" && remote_image(e) {
        // Say so instead of leaving a broken image or bare alt text.
        let alt = e.value().attr("alt").unwrap_or("").trim();
        out.push_str(BLOCKED_IMAGE_OPEN);
        out.push_str("remote image blocked by the offline preview");
        if !alt.is_empty() {
            out.push_str(": ");
            out.push_str(&html_escape::encode_text(alt));
        }
        out.push_str("</span>");
        return;
    }
    out.push('<');
    out.push_str(name);
    for (attr, value) in e.value().attrs() {
        if keep_attribute(name, attr, value) {
            out.push(' ');
            out.push_str(attr);
            out.push_str("=\"");
            out.push_str(&html_escape::encode_double_quoted_attribute(value));
            out.push('"');
        }
    }
    out.push('>');
    if VOID.contains(&name) {
        return;
    }
    write_children(out, e);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The start of the notice that replaces a remote image (inline style: the frame has no other).
pub const BLOCKED_IMAGE_OPEN: &str = "<span class=\"herald-blocked-image\" style=\"display:inline-block;border:1px dashed #b42318;color:#b42318;background:#fde7e5;padding:2px 6px;font:12px/1.4 system-ui,sans-serif\">";

/// Whether an `<img>` would load from a host (a `src` or `srcset` that is not a `data:` URL).
fn remote_image(e: ElementRef<'_>) -> bool {
    ["src", "srcset", "lowsrc", "dynsrc"].iter().any(|a| {
        e.value()
            .attr(a)
            .is_some_and(|v| !v.trim_start().to_lowercase().starts_with("data:"))
    })
}

/// `html` with everything that could contact a host removed (see the module documentation).
pub fn offline_html(html: &str) -> String {
    let doc = Html::parse_document(html);
    let mut out = String::with_capacity(html.len());
    let root = doc.root_element();
    // A document's `<head>` may hold `<style>`: keep what is safe of it, then the body.
    for child in root.children().filter_map(ElementRef::wrap) {
        if child.value().name() == "head" {
            for style in child
                .children()
                .filter_map(ElementRef::wrap)
                .filter(|c| c.value().name() == "style")
            {
                write_element(&mut out, style);
            }
        } else if child.value().name() == "body" {
            write_children(&mut out, child);
        } else {
            write_element(&mut out, child);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::offline_html;

    #[test]
    fn resource_hints_and_remote_loads_are_removed() {
        let html = concat!(
            "<link rel=preconnect href=\"https://evil.example\">",
            "<link rel=dns-prefetch href=//evil.example>",
            "<link rel=prefetch href=https://evil.example/a>",
            "<link rel=preload as=image href=https://evil.example/b>",
            "<link rel=prerender href=https://evil.example/c>",
            "<link rel=modulepreload href=https://evil.example/d>",
            "<link rel=stylesheet href=https://evil.example/e.css>",
            "<meta http-equiv=refresh content=\"0;url=https://evil.example/f\">",
            "<base href=https://evil.example/>",
            "<style>@import url(https://evil.example/g.css);</style>",
            "<style>p { color: #333 }</style>",
            "<p style=\"background:url(https://evil.example/h)\" class=lead>Hi <b>Sam</b></p>",
            "<p style=\"color: red\">red</p>",
            "<img src=https://evil.example/i.png srcset=\"https://evil.example/j.png 2x\" alt=Logo>",
            "<img src=\"data:image/png;base64,AAAA\" alt=inline>",
            "<table background=https://evil.example/k><tr><td>cell</td></tr></table>",
            "<video poster=https://evil.example/l src=https://evil.example/m></video>",
            "<svg><image href=https://evil.example/n /></svg>",
            "<a href=\"https://shop.example/u\" ping=https://evil.example/o onclick=x()>Unsubscribe</a>",
            "<!-- <img src=https://evil.example/p> -->",
            "<iframe src=https://evil.example/q></iframe><script>fetch('https://evil.example/r')</script>",
        );
        let out = offline_html(html);
        assert!(!out.contains("evil.example"), "{out}");
        assert!(out.contains("<style>p { color: #333 }</style>"), "{out}");
        assert!(out.contains("<p class=\"lead\">Hi <b>Sam</b></p>"), "{out}");
        assert!(out.contains("<p style=\"color: red\">red</p>"), "{out}");
        assert!(
            out.contains("remote image blocked by the offline preview: Logo</span>"),
            "{out}"
        );
        assert!(!out.contains("<img alt=\"Logo\">"), "{out}");
        assert!(out.contains("src=\"data:image/png;base64,AAAA\""), "{out}");
        assert!(out.contains("<td>cell</td>"), "{out}");
        assert!(
            out.contains("<a href=\"https://shop.example/u\">Unsubscribe</a>"),
            "{out}"
        );
    }

    #[test]
    fn text_and_attributes_are_escaped_again() {
        let out = offline_html("<p title='a\"b'>1 &lt; 2 &amp;&amp; <i>x</i></p>");
        assert_eq!(
            out,
            "<p title=\"a&quot;b\">1 &lt; 2 &amp;&amp; <i>x</i></p>"
        );
    }
}
