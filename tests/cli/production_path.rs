//! README's "Going to production" path, followed command by command against a standalone
//! `herald sandbox serve`: the commands are read from the README itself, so the test fails
//! when a step stops working.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{TestWorkspace, repo_root, run};

/// The rehearsal commands: the first `sh` block of the README's "Going to production".
fn readme_steps() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme
        .split("## Going to production")
        .nth(1)
        .expect("README has a Going to production section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section starts with a sh block");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The standalone sandbox child, killed on drop.
struct Standalone(Child);

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every permission herald needs is named, exactly, in the README's table.
#[test]
fn readme_permissions_table_names_every_required_permission() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for row in herald_genesys::REQUIRED_PERMISSIONS {
        for p in row.any_of {
            assert!(
                readme.contains(&format!("`{p}`")),
                "README lacks the permission `{p}`"
            );
        }
    }
    assert!(!readme.contains("<!-- permissions table -->"));
}

#[test]
fn readme_production_path_works_against_the_standalone_sandbox() {
    let ws = TestWorkspace::example();
    let steps = readme_steps();
    assert!(
        steps.iter().any(|s| s.starts_with("herald doctor")),
        "{steps:?}"
    );
    let mut sandbox = None;
    for step in &steps {
        if let Some(rest) = step.strip_prefix("herald sandbox serve") {
            // A free port instead of the README's fixed one; the rest of the line is kept.
            let args: Vec<&str> = rest.split_whitespace().filter(|a| *a != "&").collect();
            let port_at = args.iter().position(|a| *a == "--port").expect("--port");
            let fixed = args[port_at + 1];
            let mut args = args.clone();
            args[port_at + 1] = "0";
            let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(["sandbox", "serve"])
                .args(&args)
                .current_dir(ws.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut line = String::new();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            stdout.read_line(&mut line).unwrap();
            // Keep reading what it prints, so it never writes to a closed pipe.
            std::thread::spawn(move || for _ in stdout.lines() {});
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap_or_else(|| panic!("no URL in `{line}`"))
                .to_owned();
            let yaml = ws
                .read("herald.yaml")
                .replace(&format!("http://127.0.0.1:{fixed}"), &url);
            ws.write("herald.yaml", &yaml);
            sandbox = Some(Standalone(child));
        } else if let Some(rest) = step.strip_prefix("herald ") {
            let (code, out, err) = run(ws
                .herald()
                .env("HERALD_NOW", "2026-12-02T15:00:00Z")
                .args(rest.split_whitespace()));
            assert_eq!(code, 0, "`{step}` failed:\n{out}{err}");
            if rest.starts_with("doctor") {
                assert!(out.contains("0 failed"), "{out}");
            }
            if rest.starts_with("apply") {
                assert!(out.contains("sent"), "{out}");
            }
        } else {
            let status = Command::new("sh")
                .args(["-c", step])
                .current_dir(ws.path())
                .status()
                .unwrap();
            assert!(status.success(), "`{step}` failed");
        }
    }
    assert!(sandbox.is_some(), "the path starts a standalone sandbox");
    assert!(ws.path().join(".herald/ledger-local.key").exists());
}
