//! Every command's `--help`, walked from the clap command tree: one snapshot per command path
//! (a new subcommand fails here until its snapshot is reviewed and accepted), every leaf
//! command carries an example, and the top-level help lists the exit codes.

use clap::CommandFactory;

use crate::support::{herald_cmd, herald_snapshot, repo_root, run};

/// Every command path below `cmd` (itself included, as `prefix`), depth first, with whether it
/// is a leaf (takes no subcommand).
fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<(Vec<String>, bool)>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
        .collect();
    out.push((prefix.to_vec(), subs.is_empty()));
    for sub in subs {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        walk(sub, &path, out);
    }
}

fn command_paths() -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    walk(&herald::cli::Cli::command(), &[], &mut out);
    out
}

/// The snapshot name of a command path: `help` for `herald`, `help_ledger_head` for
/// `herald ledger head`.
fn snapshot_name(path: &[String]) -> String {
    std::iter::once("help")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("_")
}

#[test]
fn the_walk_reaches_every_depth() {
    let names: Vec<String> = command_paths().iter().map(|(p, _)| p.join(" ")).collect();
    for expected in [
        "",
        "doctor",
        "ledger",
        "ledger head",
        "ledger keygen",
        "sandbox serve",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "`herald {expected}` not walked: {names:?}"
        );
    }
}

#[test]
fn every_command_help_is_snapshotted() {
    let mut failed = Vec::new();
    for (path, _) in command_paths() {
        let name = snapshot_name(&path);
        let result = std::panic::catch_unwind(|| {
            herald_snapshot!(name.as_str(), herald_cmd().args(&path).arg("--help"));
        });
        if result.is_err() {
            failed.push(format!(
                "herald {}",
                [path.as_slice(), &["--help".to_owned()]].concat().join(" ")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "help changed or is new (review with `cargo insta review`): {failed:?}"
    );
}

/// Help snapshots are the files named `cli__help__help*.snap` (no other test here is named
/// `help…`); each must belong to a command that still exists.
#[test]
fn no_help_snapshot_outlives_its_command() {
    let names: Vec<String> = command_paths()
        .iter()
        .map(|(p, _)| snapshot_name(p))
        .collect();
    let dir = repo_root().join("tests/cli/snapshots");
    let stale: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            stem.strip_prefix("cli__help__")
                .filter(|name| name.starts_with("help"))
                .map(str::to_owned)
        })
        .filter(|name| !names.contains(name))
        .collect();
    assert!(
        stale.is_empty(),
        "help snapshots of commands that no longer exist (delete them): {stale:?}"
    );
}

#[test]
fn every_command_help_shows_an_example() {
    let mut missing = Vec::new();
    for (path, leaf) in command_paths() {
        if !leaf {
            continue;
        }
        let (code, out, err) = run(herald_cmd().args(&path).arg("--help"));
        assert_eq!(code, 0, "{path:?}: {err}");
        if !out.contains("Example") {
            missing.push(path.join(" "));
        }
    }
    assert!(missing.is_empty(), "no example in --help of: {missing:?}");
}

#[test]
fn top_level_help_lists_commands_and_exit_codes() {
    let (code, out, _) = run(herald_cmd().arg("--help"));
    assert_eq!(code, 0);
    for (path, _) in command_paths() {
        if let [top] = path.as_slice() {
            assert!(
                out.contains(&format!("  {top} ")),
                "`{top}` missing from:\n{out}"
            );
        }
    }
    assert!(out.contains("Exit codes:"), "{out}");
    assert!(out.contains("4  ledger locked"), "{out}");
}

#[test]
fn unknown_flags_are_usage_errors() {
    // Usage errors exit 1 (2 means changes pending).
    herald_snapshot!(herald_cmd().args(["plan", "--nope"]));
}

/// Completion scripts come from the command tree: every subcommand is offered, in each shell.
#[test]
fn completions_offer_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, err) = run(herald_cmd().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["plan", "apply", "doctor", "keygen", "completions"] {
            assert!(out.contains(sub), "{shell} completion lacks `{sub}`");
        }
    }
    let (code, _, err) = run(herald_cmd().args(["completions", "tcsh"]));
    assert_eq!(code, 1, "a usage error: {err}");
}

/// `herald man` prints herald(1) and any subcommand's page; an unknown one names the choices.
#[test]
fn man_pages_for_herald_and_its_subcommands() {
    let (code, out, _) = run(herald_cmd().arg("man"));
    assert_eq!(code, 0);
    assert!(
        out.contains(".TH herald 1"),
        "{}",
        &out[..out.len().min(300)]
    );
    assert!(out.contains("ledger"), "subcommands are listed");
    let (code, out, _) = run(herald_cmd().args(["man", "ledger", "verify"]));
    assert_eq!(code, 0);
    assert!(out.contains(".TH herald-ledger-verify 1"));
    assert!(out.contains("expect\\-head"), "its own options");
    let (code, _, err) = run(herald_cmd().args(["man", "ledger", "nope"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("`herald-ledger` has no subcommand `nope` (it has: verify"),
        "{err}"
    );
}
