//! The planning core stays pure: the modules below never import an I/O crate or an I/O module
//! of herald. Reading the remote, the ledger, files, git or the clock's surroundings belongs to
//! `gather` (planning) and the executor; the core gets plain values.

use std::path::{Path, PathBuf};

/// Source files and directories of the pure core, relative to `src/`.
const PURE: &[&str] = &[
    "plan",
    "spec",
    "text",
    "hash.rs",
    "messages.rs",
    "schedule.rs",
    "local_time.rs",
    "diag.rs",
];

/// Crates that talk to the outside world.
const IO_CRATES: &[&str] = &[
    "herald_genesys",
    "herald_ledger",
    "herald_sandbox",
    "herald_inbound",
    "fs_err",
    "tokio",
    "reqwest",
    "rusqlite",
    "postgres",
    "axum",
];

/// Standard-library modules that do I/O.
const IO_STD: &[&str] = &["fs", "process", "net"];

/// herald's own modules that do I/O.
const IO_MODULES: &[&str] = &[
    "gather",
    "ledger_access",
    "remote",
    "audience",
    "load",
    "apply",
    "commands",
    "settings",
    "output",
    "failpoint",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The code of a line, without its `//` comment (string literals holding `//` are rare in
/// these modules and only make the check stricter).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `code` as a whole path segment.
fn has_segment(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

/// What a line of code imports or names that the pure core must not use.
fn violations(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    for krate in IO_CRATES {
        if has_segment(code, krate) {
            found.push(format!("crate `{krate}`"));
        }
    }
    for m in IO_STD {
        let direct = format!("std::{m}");
        let grouped = compact.find("std::{").is_some_and(|i| {
            let group = &compact[i + 6..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .any(|item| item == *m || item.starts_with(&format!("{m}::")))
        });
        if (compact.contains(&direct) && has_segment(code, m)) || grouped {
            found.push(format!("`std::{m}`"));
        }
    }
    for m in IO_MODULES {
        let path = format!("crate::{m}");
        let grouped = compact.find("crate::{").is_some_and(|i| {
            let group = &compact[i + 8..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .any(|item| item == *m || item.starts_with(&format!("{m}::")))
        });
        if compact.contains(&path) && has_segment(code, m) || grouped {
            found.push(format!("module `crate::{m}`"));
        }
    }
    found
}

fn check(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for p in PURE {
        let path = root.join(p);
        assert!(
            path.exists(),
            "{} is listed as pure but missing",
            path.display()
        );
        rust_files(&path, &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        // Imports split over several lines (`use std::{\n fs,\n}`) are joined first.
        let mut statement = String::new();
        let mut start = 0;
        for (n, line) in text.lines().enumerate() {
            let c = code(line);
            if statement.is_empty() {
                start = n + 1;
            }
            statement.push_str(c);
            statement.push(' ');
            let open = statement.matches('{').count() > statement.matches('}').count();
            if open && statement.trim_start().starts_with("use ") {
                continue;
            }
            for v in violations(&statement) {
                problems.push(format!(
                    "{}:{start}: the pure core uses {v}",
                    file.strip_prefix(root.parent().unwrap_or(root))
                        .unwrap_or(&file)
                        .display()
                ));
            }
            statement.clear();
        }
    }
    problems
}

#[test]
fn the_planning_core_does_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&root);
    assert!(
        problems.is_empty(),
        "pure modules must take observed state as values; move the I/O to src/gather.rs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_catches_each_kind_of_import() {
    for line in [
        "use herald_ledger::KeySet;",
        "let f = fs_err::File::open(p)?;",
        "use std::fs;",
        "std::process::Command::new(\"git\")",
        "use std::{collections::BTreeMap, net::TcpStream};",
        "use crate::gather::Narrow;",
        "use crate::{spec::Name, ledger_access};",
        "let x = tokio::spawn(f);",
    ] {
        assert!(!violations(line).is_empty(), "not caught: {line}");
    }
    for line in [
        "use std::collections::BTreeMap;",
        "use crate::spec::model::Campaign;",
        "let fsm = refs_errand;",
        "use crate::text::mask_contacts;",
    ] {
        assert!(violations(line).is_empty(), "false alarm: {line}");
    }
}
