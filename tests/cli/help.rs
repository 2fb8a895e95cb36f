//! Every command's `--help` carries an example, and the top-level help lists the exit codes.

use crate::support::{herald_cmd, run};

const COMMANDS: &[&[&str]] = &[
    &["validate"],
    &["schema"],
    &["render"],
    &["init"],
    &["plan"],
    &["preview"],
    &["apply"],
    &["reconcile"],
    &["import"],
    &["status"],
    &["ledger", "verify"],
    &["ledger", "export"],
    &["ledger", "history"],
    &["ledger", "migrate"],
    &["suppress", "add"],
    &["suppress", "remove"],
    &["suppress", "list"],
    &["suppress", "import"],
    &["suppress", "push"],
    &["serve"],
    &["receipts"],
    &["sandbox", "serve"],
];

#[test]
fn every_command_help_shows_an_example() {
    let mut missing = Vec::new();
    for cmd in COMMANDS {
        let (code, out, err) = run(herald_cmd().args(*cmd).arg("--help"));
        assert_eq!(code, 0, "{cmd:?}: {err}");
        if !out.contains("Example") {
            missing.push(cmd.join(" "));
        }
    }
    assert!(missing.is_empty(), "no example in --help of: {missing:?}");
}

#[test]
fn top_level_help_lists_commands_and_exit_codes() {
    let (code, out, _) = run(herald_cmd().arg("--help"));
    assert_eq!(code, 0);
    for word in [
        "validate",
        "plan",
        "apply",
        "reconcile",
        "serve",
        "Exit codes:",
        "4  ledger locked",
    ] {
        assert!(out.contains(word), "`{word}` missing from:\n{out}");
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let (code, _, err) = run(herald_cmd().args(["plan", "--nope"]));
    assert_eq!(code, 1, "usage errors exit 1 (2 means changes pending)");
    assert!(err.contains("--nope"), "{err}");
}
