//! `herald schema`: the checked-in schemas are current, and every example document validates
//! against its schema.

use crate::support::{TestWorkspace, herald_snapshot, repo_root, run};

#[test]
fn checked_in_schemas_are_current() {
    let (code, _, err) = run(crate::support::herald_cmd()
        .current_dir(repo_root())
        .args(["schema", "--check"]));
    assert_eq!(
        code, 0,
        "schema/ is stale; run `cargo run -- schema` and commit:\n{err}"
    );
}

#[test]
fn check_detects_a_stale_file_and_regeneration_fixes_it() {
    let ws = TestWorkspace::example();
    herald_snapshot!("first_write", ws.herald().args(["schema"]));
    ws.write("schema/template.schema.json", "{}\n");
    herald_snapshot!("stale_check", ws.herald().args(["schema", "--check"]));
    let (code, _, _) = run(ws.herald().args(["schema"]));
    assert_eq!(code, 0);
    let (code, _, _) = run(ws.herald().args(["schema", "--check"]));
    assert_eq!(code, 0);
}

fn yaml_to_json(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("example YAML parses")
}

#[test]
fn every_example_file_validates_against_its_schema() {
    let root = repo_root();
    let schema = |name: &str| -> jsonschema::Validator {
        let text = std::fs::read_to_string(root.join("schema").join(name)).unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    };
    let project = schema("herald.schema.json");
    let doc = yaml_to_json(&std::fs::read_to_string(root.join("herald.yaml")).unwrap());
    assert!(
        project.is_valid(&doc),
        "herald.yaml: {:?}",
        project
            .iter_errors(&doc)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    let mut checked = 0;
    for dir in ["templates", "campaigns"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let doc = yaml_to_json(&std::fs::read_to_string(&path).unwrap());
            let kind = doc["kind"].as_str().unwrap().to_lowercase();
            let v = schema(&format!("{kind}.schema.json"));
            assert!(
                v.is_valid(&doc),
                "{}: {:?}",
                path.display(),
                v.iter_errors(&doc)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            );
            // And the schema rejects an unknown field, as the loader does.
            let mut bad = doc.clone();
            bad["colour"] = serde_json::json!("blue");
            assert!(
                !v.is_valid(&bad),
                "{} schema accepts unknown fields",
                path.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9, "3 templates, 3 audiences, 3 campaigns");
}
