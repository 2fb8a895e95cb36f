//! The layers stay apart, checked on Cargo's dependency graph rather than on source text.
//!
//! The pure domain is its own crate, `herald-core`: its direct dependencies are an allowlist
//! and no crate that does I/O may be reachable from it. (Inside the crate, `crates/core/
//! clippy.toml` disallows the standard library's files, processes, sockets, environment and
//! clocks; CI runs clippy with `-D warnings`.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What `herald-core` may depend on (normal dependencies): pure data, text and time crates.
const CORE_ALLOWLIST: &[&str] = &[
    "annotate-snippets",
    "email_address",
    "foldhash",
    "herald-numbering",
    "hex",
    "jiff",
    "schemars",
    "serde",
    "serde-saphyr",
    "serde_json",
    "sha2",
    "similar",
    "unicode-normalization",
    "unicode-security",
];

/// Crates that talk to the outside world: never reachable from `herald-core`, directly or
/// through another crate.
const IO_CRATES: &[&str] = &[
    "herald-genesys",
    "herald-ledger",
    "herald-sandbox",
    "herald-inbound",
    "fs-err",
    "tokio",
    "mio",
    "socket2",
    "reqwest",
    "hyper",
    "rusqlite",
    "libsqlite3-sys",
    "postgres",
    "axum",
    "tempfile",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Problems with `package`'s graph in `meta`: direct normal dependencies outside `allow`,
/// and crates of `deny` reachable through normal dependencies.
fn check(meta: &Value, package: &str, allow: &[&str], deny: &[&str]) -> Vec<String> {
    let packages = meta["packages"].as_array().expect("packages");
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let Some(root) = packages.iter().find(|p| p["name"] == package) else {
        return vec![format!("no package `{package}` in the workspace")];
    };
    let mut problems = Vec::new();
    for dep in root["dependencies"].as_array().expect("dependencies") {
        let normal = dep["kind"].is_null();
        let name = dep["name"].as_str().unwrap();
        if normal && !allow.contains(&name) {
            problems.push(format!(
                "`{package}` depends on `{name}`, which is not on its allowlist"
            ));
        }
    }
    // Walk the resolved graph through normal dependencies only.
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![(root["id"].as_str().unwrap(), vec![package])];
    while let Some((id, path)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if !normal {
                continue;
            }
            let dep_id = dep["pkg"].as_str().unwrap();
            let name = name_of[dep_id];
            let mut via = path.clone();
            via.push(name);
            if deny.contains(&name) {
                problems.push(format!(
                    "`{package}` reaches the I/O crate `{name}` ({})",
                    via.join(" -> ")
                ));
            }
            stack.push((dep_id, via));
        }
    }
    problems
}

#[test]
fn the_core_depends_only_on_its_allowlist_and_reaches_no_io_crate() {
    let problems = check(&metadata(), "herald-core", CORE_ALLOWLIST, IO_CRATES);
    assert!(
        problems.is_empty(),
        "herald-core must stay pure; move I/O to the herald crate:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_ledger_uses_the_core_for_shared_rules() {
    let meta = metadata();
    let ledger = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "herald-ledger")
        .expect("herald-ledger");
    assert!(
        ledger["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "herald-core" && d["kind"].is_null()),
        "herald-ledger takes Channel, SendState, masking and the cap rule from herald-core"
    );
}

/// The check itself: a graph where the core gained `tokio` directly, or `reqwest` through an
/// allowed crate, is refused; the real graph with an allowed crate is not.
#[test]
fn the_check_catches_a_new_dependency_and_a_transitive_io_crate() {
    let meta = serde_json::json!({
        "packages": [
            {"id": "core", "name": "herald-core", "dependencies": [
                {"name": "serde", "kind": null},
                {"name": "tokio", "kind": null},
                {"name": "proptest", "kind": "dev"}
            ]},
            {"id": "serde", "name": "serde", "dependencies": []},
            {"id": "tokio", "name": "tokio", "dependencies": []},
            {"id": "reqwest", "name": "reqwest", "dependencies": []},
            {"id": "proptest", "name": "proptest", "dependencies": []}
        ],
        "resolve": {"nodes": [
            {"id": "core", "deps": [
                {"pkg": "serde", "dep_kinds": [{"kind": null}]},
                {"pkg": "tokio", "dep_kinds": [{"kind": null}]},
                {"pkg": "proptest", "dep_kinds": [{"kind": "dev"}]}
            ]},
            {"id": "serde", "deps": [{"pkg": "reqwest", "dep_kinds": [{"kind": null}]}]},
            {"id": "tokio", "deps": []},
            {"id": "reqwest", "deps": []},
            {"id": "proptest", "deps": []}
        ]}
    });
    let problems = check(&meta, "herald-core", &["serde"], &["tokio", "reqwest"]);
    assert_eq!(
        problems.len(),
        3,
        "direct tokio, reachable tokio and reqwest: {problems:#?}"
    );
    assert!(problems[0].contains("`tokio`, which is not on its allowlist"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("herald-core -> serde -> reqwest"))
    );
    assert!(
        !problems.iter().any(|p| p.contains("proptest")),
        "dev-dependencies are not the core's"
    );
    let clean = check(&meta, "herald-core", &["serde", "tokio"], &["reqwest-x"]);
    assert!(clean.is_empty(), "{clean:#?}");
}

/// herald's CLI face: argument parsing, the commands, terminal output and exit codes.
const FACE: &[&str] = &["cli", "commands", "output", "exit"];

/// Source files of the face itself (and the binary's entry points), relative to `src/`.
const FACE_FILES: &[&str] = &[
    "main.rs",
    "lib.rs",
    "cli.rs",
    "commands",
    "output.rs",
    "exit.rs",
];

/// Every path a source file names that reaches into the face: `crate::cli::…` in a `use`
/// tree (grouped or not) or anywhere in code, found by parsing the file.
fn face_paths(source: &str) -> Vec<String> {
    use syn::visit::Visit;
    struct Finder(Vec<String>);
    impl Finder {
        fn check(&mut self, segments: &[String]) {
            if segments.len() >= 2 && segments[0] == "crate" && FACE.contains(&segments[1].as_str())
            {
                self.0.push(segments.join("::"));
            }
        }
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
            fn walk(tree: &syn::UseTree, prefix: &mut Vec<String>, f: &mut Finder) {
                match tree {
                    syn::UseTree::Path(p) => {
                        prefix.push(p.ident.to_string());
                        walk(&p.tree, prefix, f);
                        prefix.pop();
                    }
                    syn::UseTree::Name(n) => {
                        prefix.push(n.ident.to_string());
                        f.check(prefix);
                        prefix.pop();
                    }
                    syn::UseTree::Rename(r) => {
                        prefix.push(r.ident.to_string());
                        f.check(prefix);
                        prefix.pop();
                    }
                    syn::UseTree::Glob(_) => f.check(prefix),
                    syn::UseTree::Group(g) => {
                        for t in &g.items {
                            walk(t, prefix, f);
                        }
                    }
                }
            }
            walk(&item.tree, &mut Vec::new(), self);
        }
        fn visit_path(&mut self, path: &'ast syn::Path) {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.check(&segments);
            syn::visit::visit_path(self, path);
        }
    }
    let file = syn::parse_file(source).expect("herald's sources parse");
    let mut finder = Finder(Vec::new());
    finder.visit_file(&file);
    finder.0
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The engine, the executor, the workspace files, settings and the preview never import the
/// CLI face: they return typed reports and errors, and the face prints them.
#[test]
fn no_layer_below_the_face_imports_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        if FACE_FILES.contains(&first.as_ref()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for p in face_paths(&text) {
            problems.push(format!("src/{}: uses `{p}`", rel.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "only the CLI face (cli, commands, output, exit) may use the face:\n{}",
        problems.join("\n")
    );
}

/// The check finds the face however it is named: a plain or grouped import, a glob, or a
/// path in code; other modules pass.
#[test]
fn the_face_check_parses_rather_than_matches_text() {
    for source in [
        "use crate::output::Printer;",
        "use crate::{spec::Channel, cli::ChannelArg};",
        "use crate::{\n    commands,\n};",
        "use crate::exit::*;",
        "fn f() { let _ = crate::output::error_chain(&e); }",
        "fn f() -> crate::cli::Format { todo!() }",
    ] {
        assert!(!face_paths(source).is_empty(), "not caught: {source}");
    }
    for source in [
        "use crate::spec::Channel;",
        "// use crate::cli::Format;",
        "fn f() { let s = \"crate::cli\"; }",
        "use crate::engine::output_of;",
    ] {
        assert!(face_paths(source).is_empty(), "false alarm: {source}");
    }
}
