//! `herald suppress push`: only user-supplied numbers whose hash is suppressed reach the
//! Genesys DNC list, and pushing twice adds nothing.

use crate::genesys_env::{self, PHONES, Sandbox, herald};
use crate::support::run;

fn list_id(out: &str) -> String {
    let start = out.rfind('(').expect("list id in output") + 1;
    let end = out[start..].find(')').unwrap() + start;
    out[start..end].to_owned()
}

#[test]
fn push_mirrors_only_suppressed_numbers_and_is_idempotent() {
    let sandbox = Sandbox::start(None);
    let ws = genesys_env::workspace(&sandbox.get().base_url());
    for address in [PHONES[0], "+16175550199", "someone@example.com"] {
        let (code, _, err) = run(herald(&ws).args(["suppress", "add", address]));
        assert_eq!(code, 0, "{err}");
    }
    // Candidates: one suppressed number, two that are not.
    ws.write(
        "numbers.csv",
        &format!(
            "name,phone\na,{}\nb,{}\nc,+16175550199\n",
            PHONES[1], PHONES[2]
        ),
    );
    let (code, out, err) = run(herald(&ws).args([
        "suppress",
        "push",
        "--dnc-list",
        "Herald opt-outs",
        "--from-file",
        "numbers.csv",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("3 candidate numbers, 1 suppressed for SMS"),
        "{out}"
    );
    assert!(
        out.contains("1 suppressed number not in the candidates"),
        "{out}"
    );
    assert!(
        out.contains("pushed 1 number to new DNC list `Herald opt-outs`"),
        "{out}"
    );
    let id = list_id(&out);
    let entries_url = format!(
        "{}/__sandbox/dnclists/{id}/phonenumbers",
        sandbox.get().base_url()
    );
    assert_eq!(
        sandbox.get_json(&entries_url),
        (200, serde_json::json!(["+16175550199"]))
    );

    // The audiences supply the other suppressed number; the list is reused, not recreated.
    let (code, out, err) = run(herald(&ws).args([
        "suppress",
        "push",
        "--dnc-list",
        "Herald opt-outs",
        "--from-audiences",
        "--from-file",
        "numbers.csv",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("pushed 2 numbers to DNC list `Herald opt-outs`"),
        "{out}"
    );
    assert_eq!(list_id(&out), id);
    let (_, mut entries) = sandbox.get_json(&entries_url);
    let mut got: Vec<String> = serde_json::from_value(entries.take()).unwrap();
    got.sort();
    assert_eq!(got, ["+12125550100", "+16175550199"]);

    // Idempotent: the same push again leaves the list as it was.
    let (code, _, err) = run(herald(&ws).args([
        "suppress",
        "push",
        "--dnc-list",
        "Herald opt-outs",
        "--from-audiences",
        "--from-file",
        "numbers.csv",
    ]));
    assert_eq!(code, 0, "{err}");
    let (_, entries) = sandbox.get_json(&entries_url);
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");

    // Nothing printed carries a full number.
    for p in PHONES {
        assert!(!out.contains(p), "{out}");
    }
}

#[test]
fn push_needs_a_source_and_dry_run_changes_nothing() {
    let sandbox = Sandbox::start(None);
    let ws = genesys_env::workspace(&sandbox.get().base_url());
    let (code, _, err) = run(herald(&ws).args(["suppress", "push", "--dnc-list", "x"]));
    assert_eq!(code, 1, "usage errors exit 1: {err}");
    run(herald(&ws).args(["suppress", "add", PHONES[3]]));
    let (code, out, err) = run(herald(&ws).args([
        "suppress",
        "push",
        "--dnc-list",
        "x",
        "--from-audiences",
        "--dry-run",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("dry run: would push 1 number to DNC list `x`"),
        "{out}"
    );
    assert!(
        out.contains("4 candidate numbers, 1 suppressed for SMS"),
        "{out}"
    );
    // The dry run created no list: the real push creates it.
    let (code, out, err) =
        run(herald(&ws).args(["suppress", "push", "--dnc-list", "x", "--from-audiences"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pushed 1 number to new DNC list `x`"), "{out}");
}
