//! The workspace is a boundary: every file herald reads as workspace input (documents, audience
//! data) must resolve, after following every symlink, to a regular file inside the workspace
//! root and outside herald's private state (`.herald/`, configured secret files, the ledger).
//! Special files are refused from their metadata, never opened; the size cap is checked before
//! reading and the read itself is bounded.

use std::fs::Metadata;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// herald's private state directory under the workspace root.
pub const STATE_DIR: &str = ".herald";

/// Why a path is refused.
#[derive(Debug)]
pub enum Refusal {
    /// The path does not exist (or is a dangling link).
    Missing,
    /// It resolves outside the workspace root.
    Outside,
    /// It resolves to herald's private state (`.herald/`, a secret file, the ledger).
    Private,
    /// It is not a regular file (a FIFO, socket or device); the text names which.
    NotRegular(&'static str),
    /// It is larger than the cap (its size in bytes).
    TooLarge(u64),
    /// It could not be inspected or read.
    Io(std::io::Error),
}

impl Refusal {
    /// A sentence about `what` (e.g. "file", "audience data file `x.csv`") for a diagnostic.
    /// Never names the link target or any content.
    pub fn describe(&self, what: &str, cap: u64) -> String {
        match self {
            Self::Missing => format!("{what} does not exist"),
            Self::Outside => format!(
                "{what} resolves outside the workspace root (through a symlink or `..`); refused, not read"
            ),
            Self::Private => format!(
                "{what} resolves into herald's private state (`{STATE_DIR}/`, a secret file or the ledger); refused, not read"
            ),
            Self::NotRegular(kind) => {
                format!("{what} is a {kind}, not a regular file; refused, not opened")
            }
            Self::TooLarge(size) => {
                format!("{what} is {size} bytes; the limit is {cap} bytes; refused, not read")
            }
            Self::Io(e) => format!("cannot read {what}: {e}"),
        }
    }
}

fn kind_of(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = meta.file_type();
        if t.is_fifo() {
            return "FIFO (named pipe)";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    if meta.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// The workspace root and the private places inside it, all canonical.
#[derive(Debug, Clone)]
pub struct Boundary {
    root: PathBuf,
    private: Vec<PathBuf>,
}

impl Boundary {
    /// The boundary of the workspace at `root`.
    pub fn new(root: &Path) -> Self {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let private = vec![root.join(STATE_DIR)];
        Self { root, private }
    }

    /// Also treats `path` (relative to the root, or absolute) as private, e.g. a secret file.
    pub fn add_private(&mut self, path: &str) {
        if path.contains("://") {
            return;
        }
        let p = self.root.join(path);
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        self.private.push(p);
    }

    /// Where `path` really is, if it stays inside the boundary: the canonical path, or why not.
    /// Follows every symlink; opens nothing.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let real = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
            Err(e) => return Err(Refusal::Io(e)),
        };
        if !real.starts_with(&self.root) {
            return Err(Refusal::Outside);
        }
        if self.private.iter().any(|p| real.starts_with(p)) {
            return Err(Refusal::Private);
        }
        Ok(real)
    }

    /// Checks that `path` is a regular file inside the boundary; returns its canonical path and
    /// metadata. Opens nothing.
    pub fn check_file(&self, path: &Path) -> Result<(PathBuf, Metadata), Refusal> {
        let real = self.resolve(path)?;
        let meta = std::fs::metadata(&real).map_err(Refusal::Io)?;
        if !meta.is_file() {
            return Err(Refusal::NotRegular(kind_of(&meta)));
        }
        Ok((real, meta))
    }

    /// Reads a regular file inside the boundary of at most `cap` bytes: the size is checked
    /// before reading and the read is bounded, so a huge or growing file is never loaded.
    pub fn read(&self, path: &Path, cap: u64) -> Result<Vec<u8>, Refusal> {
        let (real, meta) = self.check_file(path)?;
        if meta.len() > cap {
            return Err(Refusal::TooLarge(meta.len()));
        }
        let file = open_regular(&real).map_err(Refusal::Io)?;
        let mut bytes = Vec::new();
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(Refusal::Io)?;
        if bytes.len() as u64 > cap {
            return Err(Refusal::TooLarge(bytes.len() as u64));
        }
        Ok(bytes)
    }
}

/// Opens a file for reading that was just checked to be a regular file, so that a FIFO swapped
/// in meanwhile can never block (`O_NONBLOCK`), and re-checks the type of what was opened.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("a {}, not a regular file", kind_of(&meta)),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_out_private_state_and_oversize() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("s"), "secret").unwrap();
        std::fs::create_dir(ws.path().join(STATE_DIR)).unwrap();
        std::fs::write(ws.path().join(STATE_DIR).join("k"), "key").unwrap();
        std::fs::write(ws.path().join("ok.yaml"), "kind: x").unwrap();
        std::fs::write(ws.path().join("token"), "t").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("s"), ws.path().join("out.yaml"))
                .unwrap();
            std::os::unix::fs::symlink(".herald/k", ws.path().join("in.yaml")).unwrap();
        }
        let mut b = Boundary::new(ws.path());
        b.add_private("token");
        assert_eq!(b.read(&ws.path().join("ok.yaml"), 100).unwrap(), b"kind: x");
        assert!(matches!(
            b.read(&ws.path().join("ok.yaml"), 3),
            Err(Refusal::TooLarge(7))
        ));
        assert!(matches!(
            b.read(&ws.path().join("token"), 100),
            Err(Refusal::Private)
        ));
        assert!(matches!(
            b.read(&ws.path().join("nope"), 100),
            Err(Refusal::Missing)
        ));
        assert!(matches!(
            b.read(&ws.path().join("../x"), 100),
            Err(Refusal::Missing | Refusal::Outside)
        ));
        #[cfg(unix)]
        {
            assert!(matches!(
                b.read(&ws.path().join("out.yaml"), 100),
                Err(Refusal::Outside)
            ));
            assert!(matches!(
                b.read(&ws.path().join("in.yaml"), 100),
                Err(Refusal::Private)
            ));
        }
        assert!(matches!(
            b.check_file(ws.path()),
            Err(Refusal::NotRegular("directory"))
        ));
    }
}
