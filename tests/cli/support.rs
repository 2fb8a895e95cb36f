//! Test harness: a temporary workspace and a command builder running the real binary with
//! colour off and a fixed time zone.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary workspace directory.
pub(crate) struct TestWorkspace {
    pub(crate) dir: tempfile::TempDir,
}

impl TestWorkspace {
    /// An empty directory.
    pub(crate) fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A copy of the repository's example workspace.
    pub(crate) fn example() -> Self {
        let ws = Self::empty();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for rel in ["herald.yaml", "templates", "campaigns"] {
            copy_tree(&root.join(rel), &ws.path().join(rel));
        }
        ws
    }

    /// A copy of a fixture under tests/fixtures/.
    pub(crate) fn fixture(name: &str) -> Self {
        let ws = Self::empty();
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
            ws.path(),
        );
        ws
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parents).
    pub(crate) fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// `herald ARGS` in this workspace.
    pub(crate) fn herald(&self) -> Command {
        let mut cmd = herald_cmd();
        cmd.current_dir(self.path());
        cmd
    }
}

/// The herald binary with a clean, deterministic environment.
pub(crate) fn herald_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("RUST_LOG")
        .env_remove("HERALD_LEDGER_KEY");
    cmd
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// Output of a finished command: (exit code, stdout, stderr).
pub(crate) fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run herald");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[allow(dead_code)]
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
