//! Ledger housekeeping: making an environment's key, and exporting cells a spreadsheet can
//! open safely.

use anyhow::Context as _;

use crate::settings::EnvSettings;
use crate::text::visible::escape_line;

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

/// `herald ledger migrate`: copies every table from one ledger to another (which must then
/// verify). A missing SQLite source is refused, never created empty.
pub(crate) fn migrate(
    from: &str,
    to: &str,
    key: &herald_ledger::LedgerKey,
) -> anyhow::Result<(
    herald_ledger::MigrateReport,
    Box<dyn herald_ledger::Ledger>,
    herald_ledger::LedgerLocation,
    herald_ledger::LedgerLocation,
)> {
    let from = herald_ledger::LedgerLocation::parse(from)?;
    let to = herald_ledger::LedgerLocation::parse(to)?;
    // Opening a SQLite path creates it: a mistyped source must not become an empty ledger.
    if let Some(path) = from.sqlite_path() {
        anyhow::ensure!(
            path.is_file(),
            "no ledger at {}: check the --from path",
            path.display()
        );
    }
    if let Some(dir) = to.sqlite_path().and_then(std::path::Path::parent) {
        fs_err::create_dir_all(dir)?;
    }
    let source = from.open(key).with_context(|| format!("opening {from}"))?;
    let mut target = to.open(key).with_context(|| format!("opening {to}"))?;
    let report = herald_ledger::migrate_ledger(source.as_ref(), target.as_mut())
        .with_context(|| format!("migrating {from} to {to}"))?;
    let after = target.verify()?;
    anyhow::ensure!(
        after.ok,
        "the migrated ledger at {to} fails verification; discard it"
    );
    Ok((report, target, from, to))
}

/// Writes every send row (or one campaign's) to `out` as CSV (cells quoted against formula
/// injection) or JSON lines; returns the row count. No control byte from a cell is written as
/// it is: control, bidirectional and invisible format characters (line breaks and tabs too)
/// are written as `\u{1b}` ([`escape_line`]), so an export read in a terminal or a
/// spreadsheet shows them instead of running them.
pub(crate) fn export(
    ledger: &dyn herald_ledger::Ledger,
    archives: &[(std::path::PathBuf, &herald_ledger::LedgerKey)],
    campaign: Option<&str>,
    as_csv: bool,
    mut out: impl std::io::Write,
) -> anyhow::Result<u64> {
    // The archives' rows (verified first), then the ledger's own.
    let stream = |sink: &mut dyn FnMut(herald_ledger::ExportRow) -> herald_ledger::Result<()>| {
        let mut n = 0;
        for (path, key) in archives {
            n += herald_ledger::export_archive(ledger, key, path, campaign, sink)?;
        }
        Ok::<u64, herald_ledger::LedgerError>(n + ledger.export(campaign, sink)?)
    };
    Ok(if as_csv {
        let mut w = csv::Writer::from_writer(out);
        // Header cells are constant and safe.
        w.write_record([
            "campaign",
            "row_key",
            "recipient",
            "masked",
            "channel",
            "state",
            "attempts",
            "template_hash",
            "message_id",
            "conversation_id",
            "error_code",
            "git_commit",
            "receipt_status",
            "updated_at",
        ])?;
        let n = stream(&mut |row| {
            let row = escaped(row);
            let opt = |o: &Option<String>| o.clone().unwrap_or_default();
            w.write_record(
                [
                    row.campaign.clone(),
                    row.row_key.clone(),
                    row.recipient.as_str().to_owned(),
                    row.masked.clone(),
                    row.channel.as_str().to_owned(),
                    row.state.as_str().to_owned(),
                    row.attempts.to_string(),
                    row.template_hash.clone(),
                    opt(&row.message_id),
                    opt(&row.conversation_id),
                    opt(&row.error_code),
                    opt(&row.git_commit),
                    opt(&row.receipt_status),
                    row.updated_at.to_string(),
                ]
                .iter()
                .map(|cell| spreadsheet_safe(cell).into_owned()),
            )
            .map_err(|e| herald_ledger::LedgerError::Io(std::io::Error::other(e)))
        })?;
        w.flush()?;
        n
    } else {
        let n = stream(&mut |row| {
            serde_json::to_writer(&mut out, &escaped(row))
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(herald_ledger::LedgerError::Io)
        })?;
        out.flush()?;
        n
    })
}

/// A row with every text cell's control, bidirectional and invisible format characters (line
/// breaks and tabs too) written as `\u{1b}` ([`escape_line`]): row keys come from audiences and
/// error codes from remote systems, and an export is read in terminals and spreadsheets.
fn escaped(mut row: herald_ledger::ExportRow) -> herald_ledger::ExportRow {
    let line = |s: &mut String| {
        if let std::borrow::Cow::Owned(e) = escape_line(s) {
            *s = e;
        }
    };
    for s in [
        &mut row.campaign,
        &mut row.row_key,
        &mut row.masked,
        &mut row.template_hash,
    ] {
        line(s);
    }
    for s in [
        &mut row.message_id,
        &mut row.conversation_id,
        &mut row.error_code,
        &mut row.git_commit,
        &mut row.receipt_status,
    ]
    .into_iter()
    .flatten()
    {
        line(s);
    }
    row
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
    use super::{escaped, spreadsheet_safe};

    #[test]
    fn exported_cells_carry_no_raw_control_byte() {
        let row = herald_ledger::ExportRow {
            campaign: "winter".into(),
            row_key: "C-1\u{1b}]0;owned\u{7}\r\n\u{202e}x".into(),
            recipient: herald_ledger::RecipientId::from_hex(&"ab".repeat(32)).unwrap(),
            masked: "+1******0100".into(),
            channel: herald_ledger::Channel::Sms,
            state: herald_ledger::SendState::Sent,
            attempts: 1,
            template_hash: "sha256:00".into(),
            message_id: Some("m\u{9b}2J".into()),
            conversation_id: None,
            error_code: Some("E\u{85}".into()),
            git_commit: None,
            receipt_status: None,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let out = escaped(row);
        assert_eq!(
            out.row_key,
            "C-1\\u{1b}]0;owned\\u{7}\\u{d}\\u{a}\\u{202e}x"
        );
        assert_eq!(out.message_id.as_deref(), Some("m\\u{9b}2J"));
        assert_eq!(out.error_code.as_deref(), Some("E\\u{85}"));
        let json = serde_json::to_string(&out).unwrap();
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record([&out.row_key, out.message_id.as_deref().unwrap()])
            .unwrap();
        let csv = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        for text in [&json, &csv] {
            assert!(
                !text
                    .trim_end()
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "{text:?}"
            );
        }
    }

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
