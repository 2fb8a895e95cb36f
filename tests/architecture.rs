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
