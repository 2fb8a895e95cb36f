//! Ledger housekeeping: making an environment's key, and exporting cells a spreadsheet can
//! open safely.

use anyhow::Context as _;

use crate::settings::EnvSettings;

/// What `keygen` wrote (never the key itself).
pub(crate) struct Keygen {
    /// The environment's name.
    pub(crate) env: String,
    /// The key file, as shown to the user.
    pub(crate) shown: String,
    /// The new key's fingerprint.
    pub(crate) fingerprint: String,
    /// `HERALD_LEDGER_KEY` is set and takes precedence over the file.
    pub(crate) env_var_set: bool,
}

/// Writes a new key file for the environment, unless one exists or the environment's ledger
/// was made with another key (a new key would then miss every recorded opt-out).
pub(crate) fn keygen(settings: &EnvSettings) -> anyhow::Result<Keygen> {
    let path = &settings.key_file;
    let shown = settings.shown_path(path);
    let name = &settings.env.name;
    if std::fs::symlink_metadata(path).is_ok() {
        anyhow::bail!(
            "the ledger key file {shown} already exists; keygen never overwrites a key (every opt-out in a ledger is keyed to it)"
        );
    }
    let key = herald_ledger::LedgerKey::generate();
    if let Some(expected) = crate::ledger_access::other_key_fingerprint(settings, &key)? {
        anyhow::bail!(
            "the ledger of environment `{name}` already holds rows made with another key (fingerprint {expected}); a new key would miss every recorded opt-out: restore that key to {shown} or set HERALD_LEDGER_KEY to it. No key was written"
        );
    }
    key.write_new(path)
        .with_context(|| format!("writing the ledger key file {shown}"))?;
    Ok(Keygen {
        env: name.clone(),
        shown: shown.clone(),
        fingerprint: key.fingerprint().clone(),
        env_var_set: settings.vars.ledger_key.is_some(),
    })
}

/// CSV injection (OWASP "CSV Injection"): a spreadsheet runs a cell that begins with `=`,
/// `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip before
/// such a character) as a formula. Row keys, message ids and error codes come from
/// audiences and remote systems, so every exported cell that begins with one of these is
/// prefixed with a single quote, OWASP's recommendation: the spreadsheet then shows the
/// text as it is (a masked phone number `+1******0100` still reads as itself, after a `'`).
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn cells_a_spreadsheet_would_run_are_quoted() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+1******0100", "'+1******0100"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "'\r=1+1"),
            ("C-1001", "C-1001"),
            ("a=b", "a=b"),
            ("", ""),
            ("'=already", "'=already"),
        ] {
            assert_eq!(spreadsheet_safe(cell), want, "{cell:?}");
        }
    }
}
