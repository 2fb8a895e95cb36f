//! Do-Not-Call registries: reading the FTC's download files (and a state registry's, in the
//! same layouts) into keyed recipient ids, and the registry ages the plan reports.
//!
//! Supported files (see docs/compliance.md, "Do-Not-Call registries"):
//! - a **full list** (`--kind full`, the default), the flat text download: one registered
//!   number per line, either the area code and the seven-digit number separated by a comma
//!   (`AAA,NNNNNNN`) or the ten digits alone (`AAANNNNNNN`);
//! - a **change list** (`--kind changes`): comma-separated records of the area code, the
//!   seven-digit number and an add/delete flag (`AAA,NNNNNNN,A` or `…,D`), or the ten digits
//!   and the flag (`AAANNNNNNN,D`); fields after the flag (a date, for instance) are ignored.
//!
//! The reader is strict: any other line stops the import (nothing is written) with an error
//! naming the file, the line and the field, never the line's digits. It streams: memory
//! holds one batch of ids, whatever the file's size.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use herald_ledger::{
    Channel, DncChange, DncFileKind, DncImport, DncImportReport, Ledger, LedgerKey,
};
use sha2::Digest as _;

pub(crate) use crate::plan::campaigns::{
    DNC_MAX_AGE_DAYS as MAX_AGE_DAYS, dnc_age_days as age_days,
};

/// Numbers per ledger batch while importing.
const IMPORT_BATCH: usize = 5_000;

/// A line of a registry file that is not in a supported layout.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {field}: {problem}", file.display())]
pub(crate) struct DncFileError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// The field (`area code`, `number`, `flag`, `line`).
    pub field: &'static str,
    /// What is wrong (never the field's digits).
    pub problem: String,
}

/// Which registry: `national` or a state's two-letter code.
pub(crate) fn parse_source(raw: &str) -> anyhow::Result<String> {
    if raw == "national" {
        return Ok(raw.to_owned());
    }
    if let Some(code) = crate::spec::state_rules::StateCode::parse(raw)
        .filter(|c| raw.len() == 2 && c.is_known_region())
    {
        return Ok(code.as_str().to_owned());
    }
    anyhow::bail!("--source {raw}: expected `national` or a US state's two-letter code (e.g. TX)")
}

fn digits(s: &[u8], n: usize) -> bool {
    s.len() == n && s.iter().all(u8::is_ascii_digit)
}

fn describe(s: &[u8], n: usize) -> String {
    if s.is_empty() {
        format!("empty, expected {n} digits")
    } else if s.iter().all(u8::is_ascii_digit) {
        format!("{} digits, expected {n}", s.len())
    } else {
        format!("not {n} digits ({} characters, not all digits)", s.len())
    }
}

/// One parsed line: the E.164 number and whether it is on the registry.
fn parse_line(kind: DncFileKind, line: &[u8]) -> Result<(String, bool), (&'static str, String)> {
    if line.is_empty() {
        return Err(("line", "empty line".to_owned()));
    }
    let fields: Vec<&[u8]> = line.split(|b| *b == b',').collect();
    let (area, number, rest): (&[u8], &[u8], &[&[u8]]) = if fields[0].len() == 10 {
        (&fields[0][..3], &fields[0][3..], &fields[1..])
    } else {
        if fields.len() < 2 {
            return Err(("line", "expected `AAA,NNNNNNN` or ten digits".to_owned()));
        }
        (fields[0], fields[1], &fields[2..])
    };
    if !digits(area, 3) {
        return Err(("area code", describe(area, 3)));
    }
    if !matches!(area[0], b'2'..=b'9') {
        return Err((
            "area code",
            "starts with 0 or 1 (not a NANP area code)".to_owned(),
        ));
    }
    if !digits(number, 7) {
        return Err(("number", describe(number, 7)));
    }
    if !matches!(number[0], b'2'..=b'9') {
        return Err((
            "number",
            "exchange starts with 0 or 1 (not a NANP number)".to_owned(),
        ));
    }
    let add = match kind {
        DncFileKind::Full => {
            if !rest.is_empty() {
                return Err((
                    "line",
                    format!(
                        "{} field(s) after the number; a full list has only the number (use --kind changes for a change list)",
                        rest.len()
                    ),
                ));
            }
            true
        }
        DncFileKind::Changes => match rest.first().map(|f| f.trim_ascii()) {
            Some(b"A" | b"a") => true,
            Some(b"D" | b"d") => false,
            Some(_) => return Err(("flag", "expected A (added) or D (deleted)".to_owned())),
            None => {
                return Err((
                    "flag",
                    "missing: a change list's record ends with A (added) or D (deleted)".to_owned(),
                ));
            }
        },
    };
    let mut e164 = String::with_capacity(12);
    e164.push_str("+1");
    e164.push_str(std::str::from_utf8(area).unwrap_or_default());
    e164.push_str(std::str::from_utf8(number).unwrap_or_default());
    Ok((e164, add))
}

/// Hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Streams a registry file as batches of keyed ids.
pub(crate) struct DncReader<R: Read> {
    file: PathBuf,
    kind: DncFileKind,
    reader: std::io::BufReader<Hashing<R>>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: Read> DncReader<R> {
    pub(crate) fn new(file: &Path, kind: DncFileKind, inner: R) -> Self {
        Self {
            file: file.to_owned(),
            kind,
            reader: std::io::BufReader::with_capacity(
                1 << 16,
                Hashing {
                    inner,
                    hash: sha2::Sha256::new(),
                },
            ),
            line: 0,
            buf: Vec::with_capacity(64),
        }
    }

    /// The next batch of at most `n` numbers (`None` at the end of the file).
    pub(crate) fn next_batch(
        &mut self,
        key: &LedgerKey,
        n: usize,
    ) -> anyhow::Result<Option<Vec<DncChange>>> {
        let mut out = Vec::with_capacity(n.min(IMPORT_BATCH));
        while out.len() < n {
            self.buf.clear();
            if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
                break;
            }
            self.line += 1;
            let mut line = self.buf.as_slice();
            if let Some(l) = line.strip_suffix(b"\n") {
                line = l;
            }
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            let (e164, add) =
                parse_line(self.kind, line).map_err(|(field, problem)| DncFileError {
                    file: self.file.clone(),
                    line: self.line,
                    field,
                    problem,
                })?;
            out.push(DncChange {
                recipient: key.recipient_id(Channel::Sms, &e164),
                add,
            });
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// `sha256:` + hex of every byte read so far (the whole file once it is read to its end).
    pub(crate) fn digest(&self) -> String {
        format!(
            "sha256:{}",
            hex::encode(self.reader.get_ref().hash.clone().finalize())
        )
    }
}

/// Reads a registry file to its end once (validating every line and computing its digest),
/// then imports it in one ledger transaction while reading it again (a file that changed in
/// between is refused). Nothing is written when any line is malformed.
pub(crate) fn import(
    ledger: &mut dyn Ledger,
    key: &LedgerKey,
    path: &Path,
    source: &str,
    downloaded_on: jiff::civil::Date,
    kind: DncFileKind,
) -> anyhow::Result<DncImportReport> {
    // First pass: validate and hash, so that a bad line costs no transaction.
    let mut check = DncReader::new(path, kind, fs_err::File::open(path)?);
    while check.next_batch_unkeyed()? {}
    let file_digest = check.digest();
    let mut reader = DncReader::new(path, kind, fs_err::File::open(path)?);
    let mut failure: Option<anyhow::Error> = None;
    let import = DncImport {
        source: source.to_owned(),
        downloaded_on,
        kind,
        file_digest: file_digest.clone(),
    };
    let result = ledger.dnc_import(&import, &mut || {
        let batch = reader.next_batch(key, IMPORT_BATCH).and_then(|batch| {
            if batch.is_none() && reader.digest() != file_digest {
                anyhow::bail!(
                    "{} changed while it was imported; nothing was imported: import it again from a file nobody writes to",
                    path.display()
                );
            }
            Ok(batch)
        });
        batch.map_err(|e| {
            failure = Some(e);
            herald_ledger::LedgerError::Backend("registry import stopped".into())
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let report = result?;
    Ok(report)
}

impl<R: Read> DncReader<R> {
    /// Validates the next line without keying it; `false` at the end of the file.
    fn next_batch_unkeyed(&mut self) -> anyhow::Result<bool> {
        self.buf.clear();
        if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(false);
        }
        self.line += 1;
        let mut line = self.buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        parse_line(self.kind, line).map_err(|(field, problem)| DncFileError {
            file: self.file.clone(),
            line: self.line,
            field,
            problem,
        })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LedgerKey {
        LedgerKey::from_secret("b3fa433e893fe97f27ae5e0e99bda6c83ba57e4db01c9ee0245f7f512fe3b402")
            .unwrap()
    }

    fn read_all(kind: DncFileKind, text: &str) -> anyhow::Result<Vec<DncChange>> {
        let mut r = DncReader::new(Path::new("national.txt"), kind, text.as_bytes());
        let mut out = Vec::new();
        while let Some(b) = r.next_batch(&key(), 2)? {
            out.extend(b);
        }
        Ok(out)
    }

    #[test]
    fn full_list_layouts_are_read() {
        let got = read_all(DncFileKind::Full, "212,5550100\r\n2125550101\n").unwrap();
        let k = key();
        assert_eq!(
            got,
            [
                DncChange {
                    recipient: k.recipient_id(Channel::Sms, "+12125550100"),
                    add: true
                },
                DncChange {
                    recipient: k.recipient_id(Channel::Sms, "+12125550101"),
                    add: true
                },
            ]
        );
    }

    #[test]
    fn change_list_flags_are_read() {
        let got = read_all(
            DncFileKind::Changes,
            "212,5550100,A\n2125550101,D,20261201\n",
        )
        .unwrap();
        assert_eq!(got.iter().map(|c| c.add).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn malformed_lines_name_file_line_and_field_without_digits() {
        let cases = [
            (
                DncFileKind::Full,
                "212,5550100\n21,5550100\n",
                "national.txt:2: area code: 2 digits, expected 3",
            ),
            (
                DncFileKind::Full,
                "212,555010x\n",
                "national.txt:1: number: not 7 digits (7 characters, not all digits)",
            ),
            (
                DncFileKind::Full,
                "112,5550100\n",
                "national.txt:1: area code: starts with 0 or 1 (not a NANP area code)",
            ),
            (
                DncFileKind::Full,
                "212,0550100\n",
                "national.txt:1: number: exchange starts with 0 or 1 (not a NANP number)",
            ),
            (
                DncFileKind::Full,
                "212,5550100,A\n",
                "national.txt:1: line: 1 field(s) after the number; a full list has only the number (use --kind changes for a change list)",
            ),
            (
                DncFileKind::Full,
                "212,5550100\n\n",
                "national.txt:2: line: empty line",
            ),
            (
                DncFileKind::Changes,
                "212,5550100,X\n",
                "national.txt:1: flag: expected A (added) or D (deleted)",
            ),
            (
                DncFileKind::Changes,
                "212,5550100\n",
                "national.txt:1: flag: missing: a change list's record ends with A (added) or D (deleted)",
            ),
        ];
        for (kind, text, want) in cases {
            let err = read_all(kind, text).unwrap_err().to_string();
            assert_eq!(err, want);
            assert!(!err.contains("5550100"));
        }
    }

    #[test]
    fn sources_and_ages() {
        assert_eq!(parse_source("national").unwrap(), "national");
        assert_eq!(parse_source("tx").unwrap(), "TX");
        assert!(parse_source("XX").is_err());
        assert!(parse_source("Texas").is_err());
        let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        assert_eq!(age_days(d("2026-11-06"), d("2026-12-07")), 31);
    }
}
