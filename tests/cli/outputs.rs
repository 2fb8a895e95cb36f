//! Outputs never write through links: a symbolic link committed to (or planted in) the
//! workspace at an output path is refused, and the file it points to is left untouched.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{TestWorkspace, run};

const NOW: &str = "2026-12-02T15:00:00Z";

/// A directory outside the workspace holding one file, `victim.txt`.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("victim.txt"), "untouched").unwrap();
    dir
}

fn assert_untouched(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["victim.txt"], "something was written outside");
    assert_eq!(
        std::fs::read_to_string(dir.join("victim.txt")).unwrap(),
        "untouched"
    );
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[test]
fn a_committed_preview_link_does_not_receive_the_page() {
    let ws = TestWorkspace::example();
    let out = outside();
    symlink(out.path(), ws.path().join("preview")).unwrap();
    let (code, stdout, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("preview"));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_untouched(out.path());
    assert!(is_link(&ws.path().join("preview")));

    // A real directory whose index.html is a link: refused too.
    std::fs::remove_file(ws.path().join("preview")).unwrap();
    std::fs::create_dir(ws.path().join("preview")).unwrap();
    symlink(
        out.path().join("victim.txt"),
        ws.path().join("preview/index.html"),
    )
    .unwrap();
    let (code, stdout, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("preview"));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_untouched(out.path());
}

#[test]
fn a_planted_plan_file_link_is_refused_and_its_target_untouched() {
    let ws = TestWorkspace::example();
    let out = outside();
    symlink(out.path().join("victim.txt"), ws.path().join("plan.json")).unwrap();
    let (code, stdout, err) =
        run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--out", "plan.json"]));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(err.contains("plan.json is a symbolic link"), "{err}");
    assert!(
        is_link(&ws.path().join("plan.json")),
        "the link was replaced"
    );
    assert_untouched(out.path());

    // Through a linked directory.
    symlink(out.path(), ws.path().join("reports")).unwrap();
    let (code, stdout, err) =
        run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--out", "reports/plan.json"]));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_untouched(out.path());

    // A plain path still works, and leaves no temporary file behind.
    let (code, stdout, err) =
        run(ws
            .herald()
            .env("HERALD_NOW", NOW)
            .args(["plan", "--out", "saved.json"]));
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(ws.read("saved.json").contains("\"campaigns\""));
    let leftovers: Vec<_> = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_linked_state_directory_is_refused() {
    let ws = TestWorkspace::example();
    let out = outside();
    symlink(out.path(), ws.path().join(".herald")).unwrap();
    let (code, stdout, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(
        err.contains(".herald") && err.contains("symbolic link"),
        "{err}"
    );
    assert_untouched(out.path());
}

#[test]
fn init_does_not_write_through_a_dangling_link() {
    let dir = tempfile::tempdir().unwrap();
    let out = outside();
    symlink(
        out.path().join("planted.yaml"),
        dir.path().join("herald.yaml"),
    )
    .unwrap();
    let (code, stdout, err) = run(crate::support::herald_cmd().arg("init").arg(dir.path()));
    assert_ne!(code, 0, "{stdout}{err}");
    assert_untouched(out.path());
}

#[test]
fn schema_does_not_write_through_a_link() {
    let ws = TestWorkspace::example();
    let out = outside();
    std::fs::create_dir(ws.path().join("schema")).unwrap();
    symlink(
        out.path().join("victim.txt"),
        ws.path().join("schema/herald.schema.json"),
    )
    .unwrap();
    let (code, stdout, err) = run(ws.herald().arg("schema"));
    assert_ne!(code, 0, "{stdout}{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_untouched(out.path());
}

/// A link planted inside `.herald/` at the ledger, its SQLite side files, the sandbox's state
/// or its lock: SQLite would create (and write) the file it points to. Refused before
/// anything is opened, and nothing is written outside.
#[test]
fn links_inside_the_state_directory_are_refused() {
    for name in [
        "ledger-sandbox.db",
        "ledger-sandbox.db-wal",
        "ledger-sandbox.db-journal",
        "sandbox-state.db",
        "sandbox-state.db-wal",
    ] {
        let ws = TestWorkspace::fixture("base");
        let away = outside();
        std::fs::create_dir_all(ws.path().join(".herald")).unwrap();
        symlink(
            away.path().join("planted"),
            ws.path().join(".herald").join(name),
        )
        .unwrap();
        let (code, out, err) = run(ws.herald().env("HERALD_NOW", NOW).arg("plan"));
        assert_ne!(code, 0, "{name}: a link was followed:\n{out}\n{err}");
        assert!(err.contains("symbolic link"), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert_untouched(away.path());
    }
}
