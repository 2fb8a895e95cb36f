//! Streaming audience readers: CSV (with a header row) and JSON lines. Rows are read one at a
//! time into a reused buffer, never loaded whole; each row carries its line number for
//! diagnostics. Values are returned verbatim (no trimming).

mod campaign;

use std::io::{BufRead, BufReader};

pub use campaign::CampaignRows;

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
        line: String,
        line_no: u64,
    },
}

/// Reads the requested columns of an audience, row by row.
pub struct AudienceReader {
    inner: Inner,
    columns: Vec<String>,
    row: u64,
}

impl AudienceReader {
    /// Opens `audience` for the given columns. Returns the reader and the requested columns that
    /// the CSV header lacks (always empty for JSON lines, whose rows are checked one by one).
    pub fn open(
        audience: &Audience,
        columns: &[String],
    ) -> Result<(Self, Vec<String>), AudienceError> {
        let path = audience.source.path();
        let display = audience.source_display.clone();
        let file = fs_err::File::open(path).map_err(|source| AudienceError::Io {
            path: display.clone(),
            source,
        })?;
        let file = HashingFile::new(file);
        match &audience.source {
            Source::Csv(_) => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(file);
                let headers = reader
                    .headers()
                    .map_err(|e| AudienceError::Header {
                        path: display,
                        message: e.to_string(),
                    })?
                    .clone();
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
                    },
                    missing,
                ))
            }
            Source::Jsonl(_) => Ok((
                Self {
                    inner: Inner::Jsonl {
                        reader: BufReader::with_capacity(1 << 16, file),
                        line: String::new(),
                        line_no: 0,
                    },
                    columns: columns.to_vec(),
                    row: 0,
                },
                Vec::new(),
            )),
        }
    }

    /// Reads the next row into `buf`. `None` at the end of the file.
    pub fn next_row(&mut self, buf: &mut RowBuf) -> Option<Result<(), RowError>> {
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
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return None;
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
                match reader.read_line(line) {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {
                        *line_no += 1;
                        if line.trim().is_empty() {
                            continue;
                        }
                        self.row += 1;
                        buf.row = self.row;
                        buf.line = *line_no;
                        let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
                            serde_json::from_str(line);
                        let Ok(obj) = parsed else {
                            return Some(Err(RowError {
                                line: *line_no,
                                message: "line is not a JSON object".into(),
                            }));
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
        let file = match &mut self.inner {
            Inner::Csv { reader, .. } => reader.get_mut(),
            Inner::Jsonl { reader, .. } => reader.get_mut(),
        };
        file.finish()
    }
}

/// The audience file, hashed as it is read (the plan records the hash of exactly the bytes
/// it classified, and the file is read once per pass).
struct HashingFile {
    file: fs_err::File,
    hasher: sha2::Sha256,
}

impl HashingFile {
    fn new(file: fs_err::File) -> Self {
        use sha2::Digest as _;
        Self {
            file,
            hasher: sha2::Sha256::new(),
        }
    }

    fn finish(&mut self) -> Option<crate::spec::ContentHash> {
        use sha2::Digest as _;
        std::io::copy(self, &mut std::io::sink()).ok()?;
        Some(crate::spec::ContentHash::from_digest(
            &self.hasher.clone().finalize(),
        ))
    }
}

impl std::io::Read for HashingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
