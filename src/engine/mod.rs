//! Orchestration behind the commands that change state: each entry function takes resolved
//! settings and inputs, does the work (ledger, Genesys, files) and returns a typed report that
//! the command prints. Nothing here writes to the terminal.
//!
//! - [`apply`]: lock, re-plan, stale checks ([`stale`]), the template phase, the campaign
//!   phase and the `--wait` loop, over the executor in [`crate::executor`];
//! - [`reconcile`]: resolve `unknown` sends through the analytics API;
//! - [`receipts`]: poll delivery receipts and suppress opted-out recipients;
//! - [`suppress`]: the suppression list and `suppress push` to a Genesys DNC list;
//! - [`import`]: adopt Genesys responses as template YAML;
//! - [`preview`]: plan and gather the reviewer's page inputs;
//! - [`status`]: per-campaign counts from the ledger.

pub(crate) mod apply;
pub(crate) mod dnc;
pub(crate) mod doctor;
pub(crate) mod import;
pub(crate) mod keyword_replies;
pub(crate) mod last_apply;
pub(crate) mod ledger;
pub(crate) mod preview;
pub(crate) mod receipts;
pub(crate) mod reconcile;
pub(crate) mod stale;
pub(crate) mod status;
pub(crate) mod suppress;
pub(crate) mod waves;
pub(crate) mod witness;

/// The async runtime for work that talks to Genesys.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A unique run id: UTC time, the command and a random suffix.
pub(crate) fn new_run_id(command: &str) -> String {
    format!(
        "{}-{command}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Writes a file via a temporary sibling and a rename, so a reader never sees half of it.
///
/// Nothing planted in the workspace is written through: an existing symbolic link at `path`
/// (or, for a relative path, at any directory on the way to it) is refused, and the
/// temporary file is created exclusively (`O_EXCL`) under an unpredictable name in the
/// destination directory, so a link planted under a guessable temporary name is never
/// followed.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    refuse_link(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // As an ordinary new file: the umask decides (the default would be 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| with_path(&e, "creating a temporary file in", dir))?;
    tmp.write_all(bytes)
        .map_err(|e| with_path(&e, "writing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| with_path(&e.error, "renaming the temporary file to", path))?;
    Ok(())
}

/// Creates `path` with `bytes`, failing if anything (a file or a link) is already there:
/// `O_EXCL` never follows a link.
pub(crate) fn write_new(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    refuse_link(path)?;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)
}

/// Refuses a path that is a symbolic link — or, for a relative path, that passes through a
/// directory that is one (a link committed to the repository, like `preview -> /elsewhere`).
/// An absolute path's directories are the caller's own choice and are not second-guessed.
pub(crate) fn refuse_link(path: &std::path::Path) -> std::io::Result<()> {
    let components: Vec<_> = path.components().collect();
    let mut walked = std::path::PathBuf::new();
    for (i, component) in components.iter().enumerate() {
        walked.push(component);
        let last = i + 1 == components.len();
        if !matches!(component, std::path::Component::Normal(_)) || !(last || path.is_relative()) {
            continue;
        }
        if std::fs::symlink_metadata(&walked).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link; herald never writes through a link (remove it or choose another path)",
                    walked.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses `path` when it, or any directory between `root` and it, is a symbolic link (for
/// files herald writes into the workspace, such as imported templates).
pub(crate) fn refuse_link_within(
    root: &std::path::Path,
    path: &std::path::Path,
) -> std::io::Result<()> {
    let Ok(rel) = path.strip_prefix(root) else {
        return refuse_link(path);
    };
    let mut walked = root.to_path_buf();
    for component in rel.components() {
        walked.push(component);
        refuse_link(&walked)?;
    }
    Ok(())
}

fn with_path(e: &std::io::Error, what: &str, path: &std::path::Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn write_atomic_follows_no_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs_err::write(&outside, "outside").unwrap();
        let ws = dir.path().join("ws");
        fs_err::create_dir(&ws).unwrap();
        // The names the old temporary-file scheme would have used, planted as links.
        for name in [
            format!("plan.tmp.{}", std::process::id()),
            format!("plan.json.tmp.{}", std::process::id()),
        ] {
            std::os::unix::fs::symlink(&outside, ws.join(name)).unwrap();
        }
        write_atomic(&ws.join("plan.json"), b"{}").unwrap();
        assert_eq!(fs_err::read_to_string(&outside).unwrap(), "outside");
        assert_eq!(fs_err::read_to_string(ws.join("plan.json")).unwrap(), "{}");

        // A link at the destination itself is refused and left as it was.
        let link = ws.join("linked.json");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = write_atomic(&link, b"{}").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            fs_err::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs_err::read_to_string(&outside).unwrap(), "outside");
        let err = write_new(&link, b"{}").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs_err::read_to_string(&outside).unwrap(), "outside");
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_directory_inside_the_workspace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("templates")).unwrap();
        let err = refuse_link_within(&root, &root.join("templates/x.yaml")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        fs_err::create_dir_all(root.join("campaigns")).unwrap();
        refuse_link_within(&root, &root.join("campaigns/x.yaml")).unwrap();
    }
}
