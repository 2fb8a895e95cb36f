//! Distribution: the release workflow, the container image and the CI examples are checked
//! for what can be checked without running them (valid YAML for their CI systems, the
//! platforms built, checksums, a pinned download instead of compiling herald in every job).

use std::path::PathBuf;

use serde_json::Value;

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&repo_file(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

/// Every `run:` script of a GitHub Actions job, joined.
fn scripts(job: &Value) -> String {
    job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_release_workflow_builds_every_platform_with_checksums_and_an_image() {
    let wf = yaml(".github/workflows/release.yml");
    assert_eq!(
        wf["on"]["push"]["tags"][0], "v*",
        "releases come from version tags"
    );
    let build = &wf["jobs"]["build"];
    let targets: Vec<&str> = build["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|t| t["target"].as_str().expect("target"))
        .collect();
    for want in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(targets.contains(&want), "{want} is built: {targets:?}");
    }
    let run = scripts(build);
    assert!(
        run.contains("cargo build --release --locked --bin herald"),
        "{run}"
    );
    assert!(
        run.contains("--version"),
        "each binary is run once before it ships"
    );
    let release = scripts(&wf["jobs"]["release"]);
    assert!(
        release.contains("sha256sum") && release.contains("SHA256SUMS"),
        "{release}"
    );
    assert_eq!(wf["jobs"]["image"]["needs"], "build");
}

#[test]
fn the_container_image_runs_herald_as_an_unprivileged_user() {
    let docker = repo_file("Dockerfile");
    assert!(docker.contains("cargo build --release --locked --bin herald"));
    let last_stage = docker.rsplit("\nFROM ").next().expect("a final stage");
    assert!(last_stage.contains("USER herald"), "{last_stage}");
    assert!(
        last_stage.contains("ENTRYPOINT [\"herald\"]"),
        "{last_stage}"
    );
    assert!(
        !last_stage.contains("cargo"),
        "the image holds the binary, not the toolchain"
    );
    let ignore = repo_file(".dockerignore");
    for path in ["target", ".herald"] {
        assert!(
            ignore.lines().any(|l| l == path),
            "{path} stays out of the build context"
        );
    }
}

#[test]
fn ci_examples_install_a_pinned_checked_release_instead_of_compiling() {
    for rel in ["docs/ci/github-actions.yml", "docs/ci/gitlab-ci.yml"] {
        let doc = yaml(rel);
        let text = repo_file(rel);
        assert!(!text.contains("cargo install"), "{rel} compiles herald");
        assert!(text.contains("sha256sum -c"), "{rel} checks the archive");
        assert!(
            !text.contains(" --json"),
            "{rel} uses --format json, the flag every command shares"
        );
        let vars = if rel.contains("gitlab") {
            &doc["variables"]
        } else {
            &doc["env"]
        };
        let version = vars["HERALD_VERSION"].as_str().expect("a pinned version");
        assert!(version.starts_with('v'), "{version}");
        let sha = vars["HERALD_SHA256"]
            .as_str()
            .expect("the archive's checksum, as a string");
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{sha}"
        );
    }
    // Every GitHub job that runs herald installs it first.
    let gh = yaml("docs/ci/github-actions.yml");
    for (name, job) in gh["jobs"].as_object().expect("jobs") {
        let run = scripts(job);
        if run.contains("herald ") {
            assert!(run.contains("sha256sum -c"), "job {name} installs herald");
        }
    }
}
