//! Private file creation for ledger, key and lock files.
//!
//! Owns: creating directories 0700 and files 0600 regardless of the process umask. The mode
//! is passed at creation and then set again explicitly, because `open(2)`/`mkdir(2)` apply
//! the umask but `chmod(2)` does not. Existing directories are left as they are (they may
//! not be ours); existing ledger files found readable by group or others are tightened to owner-only.

use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

use crate::error::Result;

/// Creates `dir` (and missing parents) with mode 0700; leaves an existing directory alone.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_owned());
        cur = d.parent();
    }
    for d in missing.iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => fs_err::set_permissions(d, std::fs::Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("creating directory {}: {e}", d.display()),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist. Returns whether it was created.
pub(crate) fn create_private_file(path: &Path) -> Result<bool> {
    match fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => {
            file.file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes group and other permissions from an existing file; a missing file is fine.
pub(crate) fn tighten_file(path: &Path) -> Result<()> {
    match fs_err::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
