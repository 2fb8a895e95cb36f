//! `herald init`: a starter workspace that validates, and no overwrite.

use crate::support::{TestWorkspace, herald_cmd, herald_snapshot, run};

#[test]
fn init_creates_a_valid_workspace() {
    let ws = TestWorkspace::empty();
    let (code, _, err) = run(herald_cmd().arg("init").arg(ws.path().join("new")));
    assert_eq!(code, 0, "{err}");
    let dir = ws.path().join("new");
    for f in [
        "herald.yaml",
        "templates/appointment-reminder.yaml",
        "campaigns/data/patients.csv",
        ".gitignore",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(
        std::fs::read_to_string(dir.join(".gitignore"))
            .unwrap()
            .contains(".herald/")
    );
    herald_snapshot!(
        "starter_workspace_validates",
        herald_cmd().current_dir(&dir).arg("validate")
    );
}

#[test]
fn init_refuses_an_existing_workspace_and_writes_nothing() {
    let ws = TestWorkspace::example();
    let before = ws.read("herald.yaml");
    herald_snapshot!(ws.herald().arg("init"));
    assert_eq!(ws.read("herald.yaml"), before);
    assert!(
        !ws.path()
            .join("templates/appointment-reminder.yaml")
            .exists()
    );
}
