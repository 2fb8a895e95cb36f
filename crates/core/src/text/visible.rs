//! Characters that can hide or reorder text a reviewer reads: terminal control sequences,
//! bidirectional controls and invisible format characters. Template texts containing them are
//! refused (H143); every other text taken from the inputs (audience values, keys, names) is
//! shown with them escaped, never raw.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` can hide or reorder the text around it on a terminal, a web page or a phone:
///
/// - C0 controls except line feed and tab (ESC starts the ANSI/OSC sequences that rewrite or
///   hide a terminal line; CR moves back over it), DEL, and the C1 controls;
/// - bidirectional controls: embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069,
///   the marks U+200E, U+200F, U+061C (the "Trojan Source" class, CVE-2021-42574);
/// - invisible format characters: zero-width space U+200B, soft hyphen U+00AD, word joiner and
///   invisible operators U+2060–U+2064, the deprecated format controls U+206A–U+206F, the
///   byte-order mark U+FEFF, interlinear annotations U+FFF9–U+FFFB, the tag characters
///   U+E0000–U+E007F (text smuggled invisibly), the line and paragraph separators U+2028 and
///   U+2029, and the fillers that render as nothing (U+115F, U+1160, U+17B4, U+17B5, U+180E,
///   U+3164, U+FFA0).
///
/// Zero-width joiner and non-joiner (U+200C, U+200D) and variation selectors stay allowed:
/// emoji sequences and several scripts (Persian, the Indic scripts) need them, and they
/// cannot hide a word.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}'
        | '\u{B}'..='\u{1F}'
        | '\u{7F}'..='\u{9F}'
        | '\u{AD}'
        | '\u{61C}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{17B4}'
        | '\u{17B5}'
        | '\u{180E}'
        | '\u{200B}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// The first hidden character of `text`: its 1-based line and column (characters) in the
/// text, and the character.
pub fn find_hidden(text: &str) -> Option<(usize, usize, char)> {
    for (i, line) in text.split('\n').enumerate() {
        if let Some((col, c)) = line.chars().enumerate().find(|(_, c)| is_hidden(*c)) {
            return Some((i + 1, col + 1, c));
        }
    }
    None
}

/// `U+001B` and, where it has a short one, its name: how a diagnostic names a hidden character
/// without printing it.
pub fn describe(c: char) -> String {
    let name = match c {
        '\u{1B}' => " (ESCAPE)",
        '\r' => " (CARRIAGE RETURN)",
        '\u{8}' => " (BACKSPACE)",
        '\u{7F}' => " (DELETE)",
        '\u{9B}' => " (CONTROL SEQUENCE INTRODUCER)",
        '\u{9D}' => " (OPERATING SYSTEM COMMAND)",
        '\u{AD}' => " (SOFT HYPHEN)",
        '\u{200B}' => " (ZERO WIDTH SPACE)",
        '\u{200E}' => " (LEFT-TO-RIGHT MARK)",
        '\u{200F}' => " (RIGHT-TO-LEFT MARK)",
        '\u{202A}' => " (LEFT-TO-RIGHT EMBEDDING)",
        '\u{202B}' => " (RIGHT-TO-LEFT EMBEDDING)",
        '\u{202C}' => " (POP DIRECTIONAL FORMATTING)",
        '\u{202D}' => " (LEFT-TO-RIGHT OVERRIDE)",
        '\u{202E}' => " (RIGHT-TO-LEFT OVERRIDE)",
        '\u{2066}' => " (LEFT-TO-RIGHT ISOLATE)",
        '\u{2067}' => " (RIGHT-TO-LEFT ISOLATE)",
        '\u{2068}' => " (FIRST STRONG ISOLATE)",
        '\u{2069}' => " (POP DIRECTIONAL ISOLATE)",
        '\u{FEFF}' => " (ZERO WIDTH NO-BREAK SPACE)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// `text` with every hidden character written as `\u{1b}` (Rust's escape notation), so it is
/// seen instead of acting; line feeds and tabs are kept.
pub fn escape_hidden(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` has no place in a one-line value (a recipient key, a ledger cell): a hidden
/// character, or a line feed or tab.
pub fn is_hidden_in_line(c: char) -> bool {
    c.is_control() || is_hidden(c)
}

/// `text` with every character [`is_hidden_in_line`] says has no place in a one-line value
/// written as `\u{a}` (Rust's escape notation); a backslash stays as it is.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_in_line) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_in_line(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_bidi_and_invisible_characters_are_hidden_ones() {
        let osc = "Your code is 1234\u{1b}]8;;\u{7}Confirm your card at http://evil.example/x\u{1b}]8;;\u{7}";
        assert_eq!(find_hidden(osc), Some((1, 18, '\u{1b}')));
        assert_eq!(find_hidden("a\nb\u{202E}c"), Some((2, 2, '\u{202E}')));
        for c in [
            '\r',
            '\u{7f}',
            '\u{9b}',
            '\u{2066}',
            '\u{200b}',
            '\u{e0041}',
            '\u{ad}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        // Line feed, tab, joiners (emoji, Indic scripts) and variation selectors are text.
        assert_eq!(
            find_hidden("Hi\tSam\n👨\u{200d}👩\u{200c}\u{fe0f} ok"),
            None
        );
        assert_eq!(describe('\u{1b}'), "U+001B (ESCAPE)");
        assert_eq!(describe('\u{e0041}'), "U+E0041");
    }

    #[test]
    fn escaping_shows_hidden_characters_instead_of_running_them() {
        assert_eq!(
            escape_hidden("a\u{1b}[2Kb\u{202e}c\nd\te"),
            "a\\u{1b}[2Kb\\u{202e}c\nd\te"
        );
        assert!(matches!(escape_hidden("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn one_line_values_escape_line_breaks_too() {
        assert_eq!(
            escape_line("C-1\n\u{1b}[31m\t\u{9b}"),
            "C-1\\u{a}\\u{1b}[31m\\u{9}\\u{9b}"
        );
        assert!(matches!(escape_line("C-1001"), Cow::Borrowed(_)));
    }
}
