//! Errors as one line of text: what every layer shows or records when an operation fails.

/// An error and its causes on one line, `outer: cause: root cause`, each cause once.
///
/// Many error types both name their source in their own message and return it from
/// `source()` (file-system errors that already include the OS error, `#[error("…: {0}")]`
/// wrappers), so walking the chain naively prints the same cause twice. A cause whose text
/// is already part of what was printed is skipped.
pub(crate) fn error_chain(err: &anyhow::Error) -> String {
    join_causes(err.chain().map(ToString::to_string))
}

fn join_causes(causes: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for cause in causes {
        let cause = cause.trim();
        if cause.is_empty() || out.contains(cause) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(cause);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_printed_is_not_repeated() {
        let io = "failed to open file `x.db`: Is a directory (os error 21)";
        let chain = join_causes([
            "opening the ledger x.db".to_owned(),
            format!("ledger I/O error: {io}"),
            io.to_owned(),
            "Is a directory (os error 21)".to_owned(),
        ]);
        assert_eq!(
            chain,
            format!("opening the ledger x.db: ledger I/O error: {io}")
        );
        assert_eq!(chain.matches("(os error").count(), 1);
        let distinct = join_causes(["reading a.yaml".to_owned(), "line 3: bad".to_owned()]);
        assert_eq!(distinct, "reading a.yaml: line 3: bad");
    }
}
