//! Word-level diffs: which words of a text were deleted and inserted, kept inside their lines,
//! so a one-word change in a long SMS shows as one word and not as a whole changed line.
//! Pure functions, shared by the preview page and the plan's text and Markdown renderings.

use similar::{ChangeTag, TextDiff};

/// What happened to a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOp {
    /// In both texts.
    Equal,
    /// Only in the old text.
    Delete,
    /// Only in the new text.
    Insert,
}

/// A run of text with one [`WordOp`]; never contains a line break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordSpan {
    /// What happened to it.
    pub op: WordOp,
    /// The text.
    pub text: String,
}

/// One displayed line of a word diff.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffLine {
    /// The runs of the line, in order (deletions before the insertions that replace them).
    pub spans: Vec<WordSpan>,
    /// A line break of the old text that the new text removed ends this line.
    pub deleted_break: bool,
    /// A line break only the new text has ends this line.
    pub inserted_break: bool,
}

impl DiffLine {
    /// Whether any span of the line changed.
    pub fn changed(&self) -> bool {
        self.deleted_break
            || self.inserted_break
            || self.spans.iter().any(|s| s.op != WordOp::Equal)
    }
}

/// The word diff of `old` → `new`, split into display lines. A line break present in only one
/// text ends the line and is flagged; lines of the result follow the new text's lines, with the
/// old text's removed breaks shown where they were.
pub fn word_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_words(old, new);
    let mut ops: Vec<(WordOp, String)> = diff
        .iter_all_changes()
        .map(|c| {
            let op = match c.tag() {
                ChangeTag::Equal => WordOp::Equal,
                ChangeTag::Delete => WordOp::Delete,
                ChangeTag::Insert => WordOp::Insert,
            };
            (op, c.value().to_owned())
        })
        .collect();
    absorb_whitespace(&mut ops);
    let ops = group_changes(ops);
    let mut lines = vec![DiffLine::default()];
    for (op, text) in ops {
        let mut parts = text.split('\n').peekable();
        while let Some(part) = parts.next() {
            let line = lines.last_mut().expect("at least one line");
            if !part.is_empty() {
                match line.spans.last_mut() {
                    Some(last) if last.op == op => last.text.push_str(part),
                    _ => line.spans.push(WordSpan {
                        op,
                        text: part.to_owned(),
                    }),
                }
            }
            if parts.peek().is_some() {
                match op {
                    WordOp::Equal => {}
                    WordOp::Delete => line.deleted_break = true,
                    WordOp::Insert => line.inserted_break = true,
                }
                lines.push(DiffLine::default());
            }
        }
    }
    if lines.len() > 1
        && lines
            .last()
            .is_some_and(|l| l.spans.is_empty() && !l.changed())
    {
        lines.pop();
    }
    lines
}

/// Whitespace that stands between two changes joins them, so "a b" → "c d" reads as one
/// replacement instead of four alternating runs.
fn absorb_whitespace(ops: &mut Vec<(WordOp, String)>) {
    let mut out: Vec<(WordOp, String)> = Vec::with_capacity(ops.len());
    for i in 0..ops.len() {
        let (op, text) = &ops[i];
        let between_changes = *op == WordOp::Equal
            && !text.contains('\n')
            && text.chars().all(char::is_whitespace)
            && i > 0
            && ops[i - 1].0 != WordOp::Equal
            && ops.get(i + 1).is_some_and(|n| n.0 != WordOp::Equal);
        if between_changes {
            out.push((WordOp::Delete, text.clone()));
            out.push((WordOp::Insert, text.clone()));
        } else {
            out.push((*op, text.clone()));
        }
    }
    *ops = out;
}

/// Within each run of changes, all deletions first, then all insertions; equal runs untouched.
fn group_changes(ops: Vec<(WordOp, String)>) -> Vec<(WordOp, String)> {
    let mut out = Vec::new();
    let (mut del, mut ins) = (String::new(), String::new());
    let flush = |out: &mut Vec<(WordOp, String)>, del: &mut String, ins: &mut String| {
        if !del.is_empty() {
            out.push((WordOp::Delete, std::mem::take(del)));
        }
        if !ins.is_empty() {
            out.push((WordOp::Insert, std::mem::take(ins)));
        }
    };
    for (op, text) in ops {
        match op {
            WordOp::Delete => del.push_str(&text),
            WordOp::Insert => ins.push_str(&text),
            WordOp::Equal => {
                flush(&mut out, &mut del, &mut ins);
                out.push((op, text));
            }
        }
    }
    flush(&mut out, &mut del, &mut ins);
    out
}

/// The word diff as plain text, `[-deleted-]{+inserted+}` inside each line (the notation of
/// `git diff --word-diff=plain`), for terminals and Markdown code blocks.
pub fn word_diff_plain(old: &str, new: &str) -> String {
    let mut out = String::new();
    for line in word_diff(old, new) {
        for s in &line.spans {
            match s.op {
                WordOp::Equal => out.push_str(&s.text),
                WordOp::Delete => {
                    out.push_str("[-");
                    out.push_str(&s.text);
                    out.push_str("-]");
                }
                WordOp::Insert => {
                    out.push_str("{+");
                    out.push_str(&s.text);
                    out.push_str("+}");
                }
            }
        }
        if line.deleted_break {
            out.push_str("[-↵-]");
        }
        if line.inserted_break {
            out.push_str("{+↵+}");
        }
        out.push('\n');
    }
    out
}

/// One hunk of a unified diff, as the old and the new text it covers (context lines in both).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@` line.
    pub header: String,
    /// Context and deleted lines, each ending in a line break.
    pub old: String,
    /// Context and inserted lines, each ending in a line break.
    pub new: String,
}

impl Hunk {
    /// The hunk's word diff.
    pub fn words(&self) -> Vec<DiffLine> {
        word_diff(&self.old, &self.new)
    }
}

/// The hunks of a unified diff (file headers and `\ No newline` markers are skipped), so
/// a plan that stores line diffs can show them word by word.
pub fn unified_hunks(diff: &str) -> Vec<Hunk> {
    let mut hunks: Vec<Hunk> = Vec::new();
    for line in diff.lines() {
        if line.starts_with("@@") {
            hunks.push(Hunk {
                header: line.to_owned(),
                ..Hunk::default()
            });
            continue;
        }
        let Some(h) = hunks.last_mut() else {
            continue;
        };
        let push = |s: &mut String, text: &str| {
            s.push_str(text);
            s.push('\n');
        };
        match line.chars().next() {
            Some('-') => push(&mut h.old, &line[1..]),
            Some('+') => push(&mut h.new, &line[1..]),
            Some(' ') => {
                push(&mut h.old, &line[1..]);
                push(&mut h.new, &line[1..]);
            }
            None => {
                push(&mut h.old, "");
                push(&mut h.new, "");
            }
            _ => {}
        }
    }
    hunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(line: &DiffLine) -> Vec<(WordOp, &str)> {
        line.spans.iter().map(|s| (s.op, s.text.as_str())).collect()
    }

    #[test]
    fn one_word_changed_inside_a_long_line() {
        let old = "Hi Sam! Our winter sale starts today: 20% off everything until Sunday.";
        let new = "Hi Sam! Our winter sale starts today: 20% off everything until Monday.";
        let lines = word_diff(old, new);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            spans(&lines[0]),
            [
                (
                    WordOp::Equal,
                    "Hi Sam! Our winter sale starts today: 20% off everything until "
                ),
                (WordOp::Delete, "Sunday."),
                (WordOp::Insert, "Monday."),
            ]
        );
        assert_eq!(
            word_diff_plain(old, new),
            "Hi Sam! Our winter sale starts today: 20% off everything until [-Sunday.-]{+Monday.+}\n"
        );
    }

    #[test]
    fn adjacent_words_form_one_replacement() {
        let lines = word_diff("pay a fee now", "pay no fees now");
        assert_eq!(
            spans(&lines[0]),
            [
                (WordOp::Equal, "pay "),
                (WordOp::Delete, "a fee"),
                (WordOp::Insert, "no fees"),
                (WordOp::Equal, " now"),
            ]
        );
    }

    #[test]
    fn insertions_and_deletions_alone() {
        assert_eq!(word_diff_plain("a c", "a b c"), "a {+b +}c\n");
        assert_eq!(word_diff_plain("a b c", "a c"), "a [-b -]c\n");
    }

    #[test]
    fn lines_are_kept_and_only_changed_lines_are_marked() {
        let lines = word_diff("one\ntwo three\nfour\n", "one\ntwo 3\nfour\n");
        assert_eq!(lines.len(), 3);
        assert!(!lines[0].changed());
        assert!(lines[1].changed());
        assert!(!lines[2].changed());
        assert_eq!(
            word_diff_plain("one\ntwo three\nfour\n", "one\ntwo 3\nfour\n"),
            "one\ntwo [-three-]{+3+}\nfour\n"
        );
    }

    #[test]
    fn removed_and_added_line_breaks_are_flagged() {
        let lines = word_diff("a\nb", "a b");
        assert!(lines.iter().any(|l| l.deleted_break));
        let lines = word_diff("a b", "a\nb");
        assert!(lines.iter().any(|l| l.inserted_break));
    }

    #[test]
    fn equal_texts_have_no_changes() {
        let lines = word_diff("same text\nhere", "same text\nhere");
        assert!(lines.iter().all(|l| !l.changed()));
    }

    #[test]
    fn unified_hunks_give_back_both_sides() {
        let diff = "--- remote/body\n+++ desired/body\n@@ -1,2 +1,2 @@\n keep\n-Track it now.\n+Track it today.\n";
        let hunks = unified_hunks(diff);
        assert_eq!(hunks.len(), 1);
        assert_eq!(hunks[0].header, "@@ -1,2 +1,2 @@");
        assert_eq!(hunks[0].old, "keep\nTrack it now.\n");
        assert_eq!(hunks[0].new, "keep\nTrack it today.\n");
        let words = hunks[0].words();
        assert_eq!(words.len(), 2);
        assert!(!words[0].changed());
        assert_eq!(
            spans(&words[1]),
            [
                (WordOp::Equal, "Track it "),
                (WordOp::Delete, "now."),
                (WordOp::Insert, "today."),
            ]
        );
        assert!(unified_hunks("").is_empty());
    }
}
