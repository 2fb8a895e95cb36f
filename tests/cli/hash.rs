//! The canonical content hash: invariant under comments, key order, CRLF and a BOM; changed by
//! any change to text, variables or channel.

use proptest::prelude::*;

use crate::support::{TestWorkspace, run};

fn hash_of(template_yaml: &str) -> String {
    let ws = TestWorkspace::empty();
    ws.write("herald.yaml", "default_environment: sandbox\n");
    ws.write("templates/t.yaml", template_yaml);
    let (code, out, err) = run(ws.herald().args(["validate", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["templates"][0]["hash"].as_str().unwrap().to_owned()
}

const FIELDS: [&str; 7] = [
    "kind: Template",
    "name: greeting",
    "channel: sms",
    "category: transactional",
    "status: published",
    "body: \"Hello {{first_name}}, see you soon\"",
    "variables:\n  first_name: { description: First name, example: Sam }",
];

fn doc(order: &[usize], comments: bool, crlf: bool, bom: bool) -> String {
    let mut text = String::new();
    if bom {
        text.push('\u{FEFF}');
    }
    for &i in order {
        if comments {
            text.push_str("# a reviewer's note\n");
        }
        text.push_str(FIELDS[i]);
        text.push('\n');
    }
    if crlf {
        text.replace('\n', "\r\n")
    } else {
        text
    }
}

#[test]
fn hash_is_stable_and_versioned() {
    let h = hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false));
    assert!(h.starts_with("sha256:") && h.len() == 71, "{h}");
    // Pinned: the v1 canonical form must never change silently.
    insta::assert_snapshot!("greeting_hash_v1", h);
}

#[test]
fn formatting_does_not_change_the_hash() {
    let base = hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false));
    assert_eq!(
        hash_of(&doc(&[6, 5, 4, 3, 2, 1, 0], false, false, false)),
        base,
        "key order"
    );
    assert_eq!(
        hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], true, false, false)),
        base,
        "comments"
    );
    assert_eq!(
        hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, true, false)),
        base,
        "CRLF"
    );
    assert_eq!(
        hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, false, true)),
        base,
        "BOM"
    );
    // A block scalar with CRLF line ends hashes like the LF one.
    let block = |nl: &str| {
        format!(
            "kind: Template{nl}name: greeting{nl}channel: sms{nl}category: transactional{nl}status: published{nl}body: |-{nl}  Hello {{{{first_name}}}},{nl}  see you soon{nl}variables:{nl}  first_name: {{ description: First name, example: Sam }}{nl}"
        )
    };
    assert_eq!(hash_of(&block("\r\n")), hash_of(&block("\n")));
}

#[test]
fn content_changes_change_the_hash() {
    let base = hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false));
    let variants = [
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false).replace("see you soon", "see you soon!"),
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false).replace("see you soon", "see you  soon"),
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false).replace("example: Sam", "example: Alex"),
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false)
            .replace("description: First name", "description: Given name"),
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false)
            .replace("transactional", "marketing")
            .replace("see you soon", "see you soon. Reply STOP to opt out"),
        doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false).replace("first_name", "name"),
    ];
    let mut seen = std::collections::BTreeSet::from([base]);
    for v in &variants {
        assert!(
            seen.insert(hash_of(v)),
            "variant did not change the hash:\n{v}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn any_key_order_and_formatting_gives_the_same_hash(
        order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
        comments in any::<bool>(), crlf in any::<bool>(), bom in any::<bool>(),
    ) {
        let base = hash_of(&doc(&[0, 1, 2, 3, 4, 5, 6], false, false, false));
        prop_assert_eq!(hash_of(&doc(&order, comments, crlf, bom)), base);
    }
}
