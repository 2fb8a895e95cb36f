//! Streaming audience readers: CSV (with a header row) and JSON lines. Rows are read one at a
//! time into a reused buffer, never loaded whole; each row carries its line number for
//! diagnostics. Values are returned verbatim (no trimming). A line that cannot be decoded
//! (not UTF-8, not JSON, not CSV) is a row error and reading goes on with the next line: an
//! audience never ends silently. The data file must be a regular file (checked before it is
//! opened; it is opened non-blocking, so a FIFO can never hang a run).

mod campaign;
mod seal;

use std::io::{BufRead, BufReader};

pub use campaign::CampaignRows;
pub use seal::{AudienceSeal, SealCheck};

use seal::HashingFile;

use crate::spec::model::{Audience, Source};

/// One row: its 1-based line number and the values of the requested columns, in order
/// (`None` when a JSON-lines row lacks the field or has `null`).
#[derive(Debug, Default, Clone)]
pub struct RowBuf {
    /// 1-based line number in the data file.
    pub line: u64,
    /// 1-based data row number (header excluded).
    pub row: u64,
    /// Values of the requested columns.
    pub values: Vec<Option<String>>,
}

/// A problem opening or reading an audience.
#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// Workspace-relative path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV header is unreadable.
    #[error("{path}: cannot read the CSV header: {message}")]
    Header {
        /// Workspace-relative path.
        path: String,
        /// The cause.
        message: String,
    },
    /// The CSV header names a column twice: which value would be used is ambiguous.
    #[error("{path}: column `{column}` appears twice in the header (columns {first} and {second})")]
    DuplicateColumn {
        /// Workspace-relative path.
        path: String,
        /// The column name.
        column: String,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second occurrence.
        second: usize,
    },
}

impl AudienceError {
    /// Where in the data file the problem is, when it is in the header.
    pub fn pos(&self) -> Option<crate::diag::Pos> {
        match self {
            Self::Io { .. } => None,
            Self::Header { .. } | Self::DuplicateColumn { .. } => {
                Some(crate::diag::Pos { line: 1, column: 1 })
            }
        }
    }
}

/// A row that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong (never contains field values).
    pub message: String,
}

enum Inner {
    Csv {
        reader: csv::Reader<HashingFile>,
        record: csv::ByteRecord,
        indices: Vec<Option<usize>>,
    },
    Jsonl {
        reader: BufReader<HashingFile>,
        line: Vec<u8>,
        line_no: u64,
    },
}

/// Reads the requested columns of an audience, row by row.
pub struct AudienceReader {
    inner: Inner,
    columns: Vec<String>,
    row: u64,
    /// Set after a read error: the error was reported as a row, and nothing more can be read.
    done: bool,
}

/// The longest JSON line read; a longer one is a row error (and is skipped, not buffered).
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// Skips the rest of an over-long line, up to and including its newline, without buffering it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = chunk.len();
        reader.consume(n);
    }
}

/// Marks the error for a key that appears twice in one JSON object.
const DUPLICATE: &str = "duplicate-field:";

/// A JSON object whose keys are unique: `serde_json` silently keeps the last of two equal
/// keys, which would make the value used ambiguous (like a CSV header naming a column twice).
struct UniqueObject(serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = serde_json::Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        let shown: String = key.chars().take(64).collect();
                        return Err(serde::de::Error::custom(format!(
                            "{DUPLICATE}field `{}` appears twice in the object",
                            shown.escape_debug()
                        )));
                    }
                    let value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Opens the data file: a regular file, checked before opening and opened non-blocking.
fn open_data(path: &std::path::Path) -> std::io::Result<fs_err::File> {
    let meta = fs_err::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device); refused",
        ));
    }
    let file = crate::load::boundary::open_regular(path)?;
    Ok(fs_err::File::from_parts(file, path))
}

/// Whether the CSV header names a column twice: (name, first, second), 1-based. Unnamed
/// columns (a trailing comma) cannot be referenced and are not compared.
fn duplicate_column(headers: &csv::StringRecord) -> Option<(String, usize, usize)> {
    let mut seen = std::collections::HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(h, i) {
            return Some((h.to_owned(), first + 1, i + 1));
        }
    }
    None
}

impl AudienceReader {
    /// Opens `audience` for the given columns. Returns the reader and the requested columns that
    /// the CSV header lacks (always empty for JSON lines, whose rows are checked one by one).
    pub fn open(
        audience: &Audience,
        columns: &[String],
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(audience, columns, Reading::Hash)
    }

    /// [`Self::open`], also sealing the file block by block as it is read (see
    /// [`Self::seal`]).
    pub fn open_sealing(
        audience: &Audience,
        columns: &[String],
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(audience, columns, Reading::Seal)
    }

    /// [`Self::open`] for a file an earlier pass sealed: each block is checked against the
    /// seal before its rows are read, and a file that changed ends the stream with a read
    /// error (`check` then says it changed).
    pub fn open_checked(
        audience: &Audience,
        columns: &[String],
        check: &SealCheck,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        Self::open_with(audience, columns, Reading::Check(check))
    }

    fn open_with(
        audience: &Audience,
        columns: &[String],
        reading: Reading<'_>,
    ) -> Result<(Self, Vec<String>), AudienceError> {
        let path = audience.source.path();
        let display = audience.source_display.clone();
        let io = |source| AudienceError::Io {
            path: display.clone(),
            source,
        };
        let file = open_data(path).map_err(io)?;
        let file = match reading {
            Reading::Hash => HashingFile::new(file, false),
            Reading::Seal => HashingFile::new(file, true),
            Reading::Check(check) => HashingFile::checked(file, check).map_err(io)?,
        };
        match &audience.source {
            Source::Csv(_) => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(file);
                let headers = reader
                    .headers()
                    .map_err(|e| AudienceError::Header {
                        path: display.clone(),
                        message: e.to_string(),
                    })?
                    .clone();
                if let Some((column, first, second)) = duplicate_column(&headers) {
                    return Err(AudienceError::DuplicateColumn {
                        path: display,
                        column,
                        first,
                        second,
                    });
                }
                let indices: Vec<Option<usize>> = columns
                    .iter()
                    .map(|c| headers.iter().position(|h| h == c))
                    .collect();
                let missing = columns
                    .iter()
                    .zip(&indices)
                    .filter(|(_, i)| i.is_none())
                    .map(|(c, _)| c.clone())
                    .collect();
                Ok((
                    Self {
                        inner: Inner::Csv {
                            reader,
                            record: csv::ByteRecord::new(),
                            indices,
                        },
                        columns: columns.to_vec(),
                        row: 0,
                        done: false,
                    },
                    missing,
                ))
            }
            Source::Jsonl(_) => Ok((
                Self {
                    inner: Inner::Jsonl {
                        reader: BufReader::with_capacity(1 << 16, file),
                        line: Vec::new(),
                        line_no: 0,
                    },
                    columns: columns.to_vec(),
                    row: 0,
                    done: false,
                },
                Vec::new(),
            )),
        }
    }

    /// Reads the next row into `buf`. `None` at the end of the file.
    pub fn next_row(&mut self, buf: &mut RowBuf) -> Option<Result<(), RowError>> {
        if self.done {
            return None;
        }
        buf.values.resize(self.columns.len(), None);
        match &mut self.inner {
            Inner::Csv {
                reader,
                record,
                indices,
            } => match reader.read_byte_record(record) {
                Ok(false) => None,
                Ok(true) => {
                    self.row += 1;
                    buf.row = self.row;
                    buf.line = record.position().map_or(self.row + 1, csv::Position::line);
                    for (slot, idx) in buf.values.iter_mut().zip(indices.iter()) {
                        let Some(i) = idx else {
                            *slot = None;
                            continue;
                        };
                        let Some(bytes) = record.get(*i) else {
                            *slot = None;
                            continue;
                        };
                        match std::str::from_utf8(bytes) {
                            Ok(s) => {
                                let v = slot.get_or_insert_with(String::new);
                                v.clear();
                                v.push_str(s);
                            }
                            Err(_) => {
                                return Some(Err(RowError {
                                    line: buf.line,
                                    message: "row is not valid UTF-8".into(),
                                }));
                            }
                        }
                    }
                    Some(Ok(()))
                }
                Err(e) => {
                    self.row += 1;
                    let line = e.position().map_or(self.row + 1, csv::Position::line);
                    buf.line = line;
                    buf.row = self.row;
                    let message = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            format!("row has {len} fields; the header has {expected_len}")
                        }
                        csv::ErrorKind::Utf8 { .. } => "row is not valid UTF-8".to_owned(),
                        _ => "row cannot be parsed as CSV".to_owned(),
                    };
                    if let csv::ErrorKind::Io(io) = e.kind() {
                        // Reported, never a silent end: the rows after it cannot be read.
                        self.done = true;
                        return Some(Err(RowError {
                            line,
                            message: format!("cannot read the file past this line: {io}"),
                        }));
                    }
                    Some(Err(RowError { line, message }))
                }
            },
            Inner::Jsonl {
                reader,
                line,
                line_no,
            } => loop {
                line.clear();
                let read = std::io::Read::take(&mut *reader, MAX_LINE_BYTES + 1)
                    .read_until(b'\n', line)
                    .and_then(|n| {
                        if line.len() as u64 > MAX_LINE_BYTES && !line.ends_with(b"\n") {
                            skip_line(reader)?;
                        }
                        Ok(n)
                    });
                match read {
                    Ok(0) => return None,
                    Err(e) => {
                        self.done = true;
                        self.row += 1;
                        buf.row = self.row;
                        buf.line = *line_no + 1;
                        return Some(Err(RowError {
                            line: buf.line,
                            message: format!("cannot read the file past this line: {e}"),
                        }));
                    }
                    Ok(_) => {
                        *line_no += 1;
                        let mut bytes = line.as_slice();
                        if *line_no == 1 {
                            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                        }
                        if bytes.trim_ascii().is_empty() {
                            continue;
                        }
                        self.row += 1;
                        buf.row = self.row;
                        buf.line = *line_no;
                        if bytes.len() as u64 > MAX_LINE_BYTES {
                            return Some(Err(RowError {
                                line: *line_no,
                                message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
                            }));
                        }
                        let Ok(text) = std::str::from_utf8(bytes) else {
                            return Some(Err(RowError {
                                line: *line_no,
                                message: "line is not valid UTF-8".into(),
                            }));
                        };
                        let obj = match serde_json::from_str::<UniqueObject>(text) {
                            Ok(UniqueObject(obj)) => obj,
                            Err(e) => {
                                let message = e.to_string();
                                let message = match message.split_once(DUPLICATE) {
                                    Some((_, rest)) => rest
                                        .rsplit_once(" at line ")
                                        .map_or(rest, |(m, _)| m)
                                        .to_owned(),
                                    None => "line is not a JSON object".to_owned(),
                                };
                                return Some(Err(RowError {
                                    line: *line_no,
                                    message,
                                }));
                            }
                        };
                        for (slot, col) in buf.values.iter_mut().zip(&self.columns) {
                            *slot = match obj.get(col) {
                                None | Some(serde_json::Value::Null) => None,
                                Some(serde_json::Value::String(s)) => Some(s.clone()),
                                Some(
                                    v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)),
                                ) => Some(v.to_string()),
                                Some(_) => {
                                    return Some(Err(RowError {
                                        line: *line_no,
                                        message: format!(
                                            "field `{col}` is not a string, number or boolean"
                                        ),
                                    }));
                                }
                            };
                        }
                        return Some(Ok(()));
                    }
                }
            },
        }
    }
}

impl AudienceReader {
    /// SHA-256 of the whole file, hashed as it was read: the rest of the file (after the last
    /// row read, or all of it after a header error) is read and hashed first. `None` when the
    /// file cannot be read to its end.
    pub fn content_hash(&mut self) -> Option<crate::spec::ContentHash> {
        self.file().finish()
    }

    /// The file's seal, for a reader opened with [`Self::open_sealing`]: the rest of the file
    /// is read first. `None` when it cannot be read to its end (or was not opened to seal).
    pub fn seal(&mut self) -> Option<AudienceSeal> {
        self.file().seal()
    }

    fn file(&mut self) -> &mut HashingFile {
        match &mut self.inner {
            Inner::Csv { reader, .. } => reader.get_mut(),
            Inner::Jsonl { reader, .. } => reader.get_mut(),
        }
    }
}

/// How a reader reads its file.
#[derive(Clone, Copy)]
enum Reading<'a> {
    /// Hashed as a whole.
    Hash,
    /// Hashed as a whole and block by block.
    Seal,
    /// Checked block by block against an earlier pass.
    Check(&'a SealCheck),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(dir: &std::path::Path, data: &[u8]) -> Audience {
        let path = dir.join("a.jsonl");
        std::fs::write(&path, data).unwrap();
        Audience {
            name: crate::spec::Name::parse("a").unwrap(),
            source: Source::Jsonl(path),
            source_display: "a.jsonl".into(),
            key: "k".into(),
            address: "to".into(),
            timezone: None,
            default_timezone: None,
            state: None,
            consent: None,
            consent_evidence: crate::spec::ConsentEvidenceDoc::default(),
            consent_type: None,
            origin: crate::spec::model::Origin {
                file: "a.yaml".into(),
                pos: None,
            },
        }
    }

    /// One row read: its values, or the row error's message.
    type Read = Result<Vec<Option<String>>, String>;

    /// (line, what was read) for every row.
    fn rows(data: &[u8]) -> Vec<(u64, Read)> {
        let dir = tempfile::tempdir().unwrap();
        let a = audience(dir.path(), data);
        let (mut reader, _) = AudienceReader::open(&a, &["k".into(), "to".into()]).unwrap();
        let mut buf = RowBuf::default();
        let mut out = Vec::new();
        while let Some(r) = reader.next_row(&mut buf) {
            out.push(match r {
                Ok(()) => (buf.line, Ok(buf.values.clone())),
                Err(e) => (e.line, Err(e.message)),
            });
        }
        out
    }

    #[test]
    fn jsonl_lines_that_cannot_be_decoded_are_row_errors_and_reading_goes_on() {
        let mut data = b"\xEF\xBB\xBF{\"k\":\"1\",\"to\":\"a\"}\n".to_vec();
        data.extend(b"{\"k\":\"\xff\"}\n");
        data.extend(b"{\"k\":\"3\",\"k\":\"4\",\"to\":\"b\"}\n");
        data.extend(b"\n[1]\n");
        data.extend(b"{\"k\":\"");
        data.extend(std::iter::repeat_n(
            b'x',
            usize::try_from(MAX_LINE_BYTES).unwrap(),
        ));
        data.extend(b"\"}\n{\"k\":\"7\",\"to\":\"c\"}");
        let got = rows(&data);
        let lines: Vec<u64> = got.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 2, 3, 5, 6, 7]);
        assert_eq!(got[0].1, Ok(vec![Some("1".into()), Some("a".into())]));
        assert_eq!(got[1].1, Err("line is not valid UTF-8".into()));
        assert_eq!(
            got[2].1,
            Err("field `k` appears twice in the object".into())
        );
        assert_eq!(got[3].1, Err("line is not a JSON object".into()));
        assert_eq!(
            got[4].1,
            Err(format!("line is longer than {MAX_LINE_BYTES} bytes"))
        );
        assert_eq!(got[5].1, Ok(vec![Some("7".into()), Some("c".into())]));
    }

    #[test]
    fn a_duplicated_csv_header_column_names_both_positions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "k,,to,,to\n1,,a,,c\n").unwrap();
        let mut a = audience(dir.path(), b"");
        a.source = Source::Csv(path);
        let err = AudienceReader::open(&a, &["k".into()]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "a.jsonl: column `to` appears twice in the header (columns 3 and 5)"
        );
        assert_eq!(err.pos().map(|p| p.line), Some(1));
    }
}
