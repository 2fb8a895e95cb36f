//! `herald status`, `suppress …` and `ledger …` on the example workspace's sandbox ledger.

use std::fmt::Write as _;

use crate::support::{TestWorkspace, run};

#[test]
fn suppress_round_trip_is_masked_and_audited() {
    let ws = TestWorkspace::example();
    let (code, out, err) =
        run(ws
            .herald()
            .args(["suppress", "add", "+12125550100", "--reason", "called in"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "suppressed +1******0100 (sms)\n");
    let (_, out, _) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert!(out.starts_with("already suppressed"), "{out}");
    let (_, out, _) = run(ws.herald().args(["suppress", "list"]));
    assert!(
        out.contains("+1******0100") && out.contains("called in") && out.contains("1 suppression"),
        "{out}"
    );
    assert!(!out.contains("2125550100"), "{out}");
    // The key file is created 0600 and the database holds no raw number.
    let db = std::fs::read(ws.path().join(".herald/ledger-sandbox.db")).unwrap();
    assert!(!db.windows(12).any(|w| w == b"+12125550100"));
    let (code, out, _) = run(ws.herald().args(["suppress", "remove", "+12125550100"]));
    assert_eq!(code, 0);
    assert!(out.contains("removed 1 suppression"), "{out}");
    let (code, _, err) = run(ws.herald().args(["suppress", "remove", "+12125550100"]));
    assert_eq!(code, 1, "removing twice is reported");
    assert!(err.contains("was not suppressed"), "{err}");
    let (code, out, _) = run(ws.herald().args(["ledger", "verify"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("ledger ok:"), "{out}");
}

#[test]
fn suppress_import_is_all_or_nothing() {
    let ws = TestWorkspace::example();
    ws.write(
        "dnc.csv",
        "name,phone\nA,+12125550100\nB,+13125550101\nC,555-0102\n",
    );
    let (code, _, err) = run(ws.herald().args(["suppress", "import", "dnc.csv"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("line 4") && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, out, _) = run(ws.herald().args(["suppress", "list", "--format", "json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    ws.write("dnc.csv", "name,phone\nA,+12125550100\nB,+13125550101\n");
    let (code, out, _) = run(ws.herald().args(["suppress", "import", "dnc.csv"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("imported 2 addresses: 2 newly suppressed"),
        "{out}"
    );
    let (_, out, _) = run(ws.herald().args(["status"]));
    assert!(out.contains("2 suppressed recipients"), "{out}");
}

#[test]
fn status_lists_workspace_campaigns_and_unknown_env_is_an_error() {
    let ws = TestWorkspace::example();
    let (code, out, _) = run(ws.herald().args(["status", "--format", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["campaign"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "december-newsletter",
            "order-shipped-2026-11-25",
            "winter-sale-2026"
        ]
    );
    let (code, _, err) = run(ws.herald().args(["status", "--env", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("environment `nope` is not defined"), "{err}");
}

#[test]
fn a_wrong_ledger_key_is_refused() {
    let ws = TestWorkspace::example();
    let (code, _, _) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0);
    let (code, _, err) = run(ws
        .herald()
        .env(
            "HERALD_LEDGER_KEY",
            "eadca3cb4218ef3d06ec67deebe1c2416e2396a3b4982dc046defb7f8cfbed23",
        )
        .args(["status"]));
    assert_eq!(code, 1);
    assert!(err.to_lowercase().contains("key"), "{err}");
}

/// A weak `HERALD_LEDGER_KEY` (short, repeated, low variety) is refused before the ledger is
/// touched, naming `herald ledger keygen`, and the value is never echoed.
#[test]
fn a_weak_ledger_key_is_refused_naming_keygen() {
    let ws = TestWorkspace::example();
    for weak in [
        "benchmark-ledger-key".to_owned(),
        "ab".repeat(32),
        "password".repeat(8),
    ] {
        let (code, out, err) = run(ws.herald().env("HERALD_LEDGER_KEY", &weak).args([
            "suppress",
            "add",
            "+12125550100",
        ]));
        assert_eq!(code, 1, "{weak}: {out}{err}");
        assert!(err.contains("herald ledger keygen"), "{weak}: {err}");
        assert!(!err.contains(&weak) && !out.contains(&weak), "{err}");
    }
    assert!(
        !ws.path().join(".herald/ledger-sandbox.db").exists(),
        "no ledger was written under a weak key"
    );
}

/// A workspace with the sandbox environment and a `local` environment targeting Genesys
/// (its secret file and ledger key absent).
fn two_envs() -> TestWorkspace {
    let ws = TestWorkspace::fixture("base");
    ws.write(
        "herald.yaml",
        "environments:\n  sandbox: { target: sandbox }\n  local:\n    target: genesys\n    base_url: http://127.0.0.1:9\n    client_id: abc\n    secret_file: local-secret\ndefault_environment: sandbox\n",
    );
    ws
}

fn mode(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

/// Without a key, every command on a non-sandbox environment says in one line what is
/// missing and the exact command that fixes it — and writes no key file.
#[test]
fn a_missing_key_is_one_line_naming_the_fix() {
    let ws = two_envs();
    for args in [
        &["plan", "--env", "local"][..],
        &["apply", "--env", "local", "--auto-approve"],
        &["status", "--env", "local"],
        &["ledger", "verify", "--env", "local"],
        &["suppress", "list", "--env", "local"],
    ] {
        let (code, _, err) = run(ws.herald().args(args));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("no ledger key"), "{args:?}: {err}");
        assert!(
            err.contains("herald ledger keygen --env local"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("os error"), "{args:?}: {err}");
    }
    assert!(!ws.path().join(".herald/ledger-local.key").exists());
    assert!(!ws.path().join(".herald/ledger.key").exists());
}

/// An error's cause is printed once, however many layers carry it.
#[test]
fn no_error_prints_its_cause_twice() {
    let ws = two_envs();
    let cases: Vec<(Vec<&str>, Option<&str>)> = vec![
        // The secret file is missing.
        (vec!["plan", "--env", "local"], None),
        // The ledger path is a directory, then in a missing directory of a read-only tree.
        (vec!["status"], Some("ledger-dir/")),
        (vec!["status"], Some("/proc/herald-nowhere/x.db")),
    ];
    for (args, url) in cases {
        let mut cmd = ws.herald();
        cmd.env(
            "HERALD_LEDGER_KEY",
            "40b1a143d8180d5e3b7e4a9925eb10ad7eaa8e4b7f1363f60bfc1bfb32cb21e9",
        );
        if let Some(url) = url {
            std::fs::create_dir_all(ws.path().join("ledger-dir")).unwrap();
            cmd.env("HERALD_LEDGER_URL", url);
        }
        let (code, _, err) = run(cmd.args(&args));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.matches("(os error").count() <= 1,
            "{args:?} repeats its cause: {err}"
        );
        let parts: Vec<&str> = err.trim_end().split(": ").collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                p.len() < 12 || !parts[i + 1..].contains(p),
                "{args:?} repeats `{p}`: {err}"
            );
        }
    }
}

/// `ledger keygen` writes a private key file once, says how to hand it to CI without
/// printing it, and the environment works with it.
#[test]
fn keygen_writes_a_private_key_once_and_never_prints_it() {
    let ws = two_envs();
    let (code, out, err) = run(ws.herald().args(["ledger", "keygen", "--env", "local"]));
    assert_eq!(code, 0, "{err}");
    let path = ws.path().join(".herald/ledger-local.key");
    let key = std::fs::read_to_string(&path).unwrap();
    let key = key.trim();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let all = format!("{out}{err}");
    assert!(!all.contains(key), "the key is never printed: {all}");
    assert!(all.contains("HERALD_LEDGER_KEY"), "{all}");
    assert!(all.contains(".herald/ledger-local.key"), "{all}");

    // Refuses to overwrite.
    let (code, _, err) = run(ws.herald().args(["ledger", "keygen", "--env", "local"]));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), key);

    // The key opens the environment's ledger.
    let (code, _, err) = run(ws.herald().args(["suppress", "list", "--env", "local"]));
    assert_eq!(code, 0, "{err}");
}

/// A ledger that holds rows made with another key refuses a new key: keygen writes no file.
#[test]
fn keygen_refuses_when_the_ledger_was_made_with_another_key() {
    let ws = two_envs();
    let (code, _, err) = run(ws
        .herald()
        .env(
            "HERALD_LEDGER_KEY",
            "ddf01676fba4b84dd0dfcc7b338469357e9f70dff8ece607e087392506e81c4c",
        )
        .args(["suppress", "add", "+12125550100", "--env", "local"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(ws.herald().args(["ledger", "keygen", "--env", "local"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another key"), "{err}");
    assert!(err.contains("fingerprint"), "{err}");
    assert!(!ws.path().join(".herald/ledger-local.key").exists());
}

/// Each environment has its own key file: after the quick start made the sandbox's key,
/// `keygen` for another environment writes that environment's file, and the two keys differ.
#[test]
fn each_environment_has_its_own_key_file() {
    let ws = two_envs();
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    let sandbox = ws.path().join(".herald/ledger-sandbox.key");
    assert!(sandbox.exists(), "the sandbox made its own key file");
    let (code, out, err) = run(ws.herald().args(["ledger", "keygen", "--env", "local"]));
    assert_eq!(code, 0, "keygen after the quick start: {err}");
    assert!(format!("{out}{err}").contains(".herald/ledger-local.key"));
    let local = std::fs::read_to_string(ws.path().join(".herald/ledger-local.key")).unwrap();
    assert_ne!(std::fs::read_to_string(&sandbox).unwrap(), local);
    assert!(!ws.path().join(".herald/ledger.key").exists());
}

/// A checkout from before per-environment key files keeps its ledgers: the shared
/// `.herald/ledger.key` is copied to the environment's file by the first command that opens
/// a ledger made with it, and stays in place for the other environments.
#[test]
fn the_shared_key_file_of_an_older_checkout_is_adopted() {
    let ws = two_envs();
    let shared = ws.path().join(".herald/ledger.key");
    let key = herald_ledger::LedgerKey::load_or_create(&shared).unwrap();
    let secret = std::fs::read_to_string(&shared).unwrap();
    // The sandbox ledger was made with the shared key (as an older herald did).
    drop(
        herald_ledger::SqliteLedger::open(&ws.path().join(".herald/ledger-sandbox.db"), &key)
            .unwrap(),
    );
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    let own = ws.path().join(".herald/ledger-sandbox.key");
    assert_eq!(std::fs::read_to_string(&own).unwrap(), secret, "copied");
    assert_eq!(mode(&own), 0o600);
    assert!(
        shared.exists(),
        "the shared file stays for other environments"
    );
    // A later command uses the environment's own file, even without the shared one.
    std::fs::remove_file(&shared).unwrap();
    let (code, out, err) = run(ws.herald().args(["suppress", "list"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("+1******0100"), "{out}");
}

/// A shared key that did not make an environment's ledger is not adopted: the environment
/// keeps refusing (here the sandbox, whose ledger was made with another key).
#[test]
fn a_shared_key_of_another_ledger_is_not_adopted() {
    let ws = two_envs();
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    let own = ws.path().join(".herald/ledger-sandbox.key");
    std::fs::remove_file(&own).unwrap();
    herald_ledger::LedgerKey::load_or_create(&ws.path().join(".herald/ledger.key")).unwrap();
    let (code, _, err) = run(ws.herald().args(["status"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fingerprint"), "{err}");
    assert!(!own.exists(), "no key file was written");
}

/// The sandbox creates its key on first use, but never when its ledger already holds rows
/// made with another key (a lost key file): the refusal leaves no new key file behind.
#[test]
fn a_refused_key_never_leaves_a_new_key_file() {
    let ws = TestWorkspace::example();
    let (code, _, err) = run(ws.herald().args(["suppress", "add", "+12125550100"]));
    assert_eq!(code, 0, "{err}");
    let path = ws.path().join(".herald/ledger-sandbox.key");
    std::fs::remove_file(&path).unwrap();
    let (code, _, err) = run(ws.herald().args(["status"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fingerprint"), "{err}");
    assert!(!path.exists(), "no new key file was written");
    let (code, _, err) = run(ws.herald().args(["ledger", "keygen"]));
    assert_eq!(code, 1, "{err}");
    assert!(!path.exists(), "no new key file was written");
}

#[test]
fn migrate_from_a_missing_sqlite_ledger_is_refused_and_creates_nothing() {
    let ws = TestWorkspace::example();
    let (code, _, err) = run(ws.herald().args([
        "ledger",
        "migrate",
        "--from",
        "sqlite:missing/x.db",
        "--to",
        "sqlite:.herald/copy.db",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no ledger at") && err.contains("x.db"),
        "{err}"
    );
    assert!(
        !ws.path().join("missing").exists(),
        "the source was created"
    );
    assert!(
        !ws.path().join(".herald/copy.db").exists(),
        "the target was created"
    );
}

/// `ledger export --format csv` never hands a spreadsheet a formula (CSV injection): a cell
/// from an audience or a remote system that begins with `=`, `+`, `-` or `@` is prefixed
/// with `'`, and masked numbers stay readable.
#[test]
fn csv_export_neutralises_formula_cells() {
    let ws = TestWorkspace::fixture("base");
    let mut audience = String::from("customer_id,phone,tz,sms_opt_in,order_id,tracking_url\n");
    for (i, key) in [
        "=HYPERLINK(\"http://evil.test\",\"x\")",
        "@SUM(1)",
        "-2+3",
        "C-4",
    ]
    .iter()
    .enumerate()
    {
        let key = key.replace('"', "\"\"");
        let _ = writeln!(
            audience,
            "\"{key}\",{},America/New_York,yes,ORD-{i},https://track.example.com/{i}",
            crate::support::phone(i)
        );
    }
    ws.write("campaigns/data/shipped.csv", &audience);
    let _sb = crate::support::LocalSandbox::start(&ws);
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .args(["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, export, err) = run(ws.herald().args(["ledger", "export", "--format", "csv"]));
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let mut keys = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        for cell in &record {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unsafe cell {cell:?} in\n{export}"
            );
        }
        assert!(record[3].starts_with("'+1******"), "{export}");
        keys.push(record[1].to_owned());
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "'-2+3",
            "'=HYPERLINK(\"http://evil.test\",\"x\")",
            "'@SUM(1)",
            "C-4"
        ]
    );
}
