//! `herald doctor` against a sandbox in the test process: the all-good case and each failure
//! mode, named in the output, with exit 1.

use crate::support::{LocalSandbox, TestWorkspace, run};

/// The repository's example workspace (SMS and email campaigns) pointed at a sandbox.
fn setup() -> (TestWorkspace, LocalSandbox) {
    let ws = TestWorkspace::example();
    let sb = LocalSandbox::start(&ws);
    (ws, sb)
}

fn doctor(ws: &TestWorkspace, extra: &[&str]) -> (i32, String, String) {
    run(ws.herald().arg("doctor").args(extra))
}

fn assert_fails(ws: &TestWorkspace, extra: &[&str], line: &str) -> String {
    let (code, out, err) = doctor(ws, extra);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(line), "expected `{line}` in:\n{out}{err}");
    out
}

#[test]
fn all_good_exits_0_and_masks_numbers() {
    let (ws, _sb) = setup();
    let (code, out, err) = doctor(&ws, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "✓ workspace:",
        "✓ credentials:",
        "✓ login:",
        "✓ permissions:",
        "✓ sms-from: campaign `winter-sale-2026`: +1******1111",
        "✓ email-domain: campaign `december-newsletter`: n***@example.com",
        "! library:",
        "✓ ledger-key:",
        "0 failed",
    ] {
        assert!(out.contains(line), "expected `{line}` in:\n{out}");
    }
    assert!(!out.contains("+15550001111"), "numbers are masked: {out}");
    let secret = ws.read("local-secret");
    assert!(!out.contains(secret.trim()), "the secret is never printed");
    let (code, json, _) = doctor(&ws, &["--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "fail"),
        "{json}"
    );
}

#[test]
fn wrong_secret_is_refused_credentials() {
    let (ws, _sb) = setup();
    ws.write("local-secret", "not-the-secret");
    let out = assert_fails(&ws, &[], "✗ login: the login host refused the credentials");
    assert!(!out.contains("not-the-secret"), "{out}");
}

#[test]
fn wrong_base_url_is_told_apart_from_refused_credentials() {
    let (ws, sb) = setup();
    let yaml = ws.read("herald.yaml").replace(
        &sb.sandbox().base_url(),
        &format!("{}/wrong", sb.sandbox().base_url()),
    );
    ws.write("herald.yaml", &yaml);
    assert_fails(&ws, &[], "✗ login: no token from the login host");
    // Nothing listening there at all.
    let yaml = ws.read("herald.yaml").replace(
        &format!("{}/wrong", sb.sandbox().base_url()),
        "http://127.0.0.1:9",
    );
    ws.write("herald.yaml", &yaml);
    let out = assert_fails(&ws, &[], "✗ login: no token from the login host");
    assert!(!out.contains("refused the credentials"), "{out}");
}

#[test]
fn unprovisioned_sms_from_is_named() {
    let (ws, sb) = setup();
    let mut org = sb.sandbox().org();
    org.sms_numbers.clear();
    sb.sandbox().set_org(org).unwrap();
    assert_fails(
        &ws,
        &[],
        "✗ sms-from: campaign `winter-sale-2026`: +1******1111 is not a provisioned SMS number",
    );
}

#[test]
fn unknown_email_domain_is_named() {
    let (ws, sb) = setup();
    let mut org = sb.sandbox().org();
    org.email_domains.clear();
    sb.sandbox().set_org(org).unwrap();
    assert_fails(
        &ws,
        &[],
        "✗ email-domain: campaign `december-newsletter`: `example.com` is not an outbound email domain",
    );
}

#[test]
fn missing_dnc_list_is_named() {
    let (ws, _sb) = setup();
    assert_fails(
        &ws,
        &["--dnc-list", "Herald opt-outs"],
        "✗ dnc-list: no DNC list named `Herald opt-outs`",
    );
}

#[test]
fn dropped_permission_is_named() {
    let (ws, sb) = setup();
    let mut org = sb.sandbox().org();
    org.permissions
        .retain(|p| !p.starts_with("responses:") && !p.starts_with("responses:*"));
    sb.sandbox().set_org(org).unwrap();
    assert_fails(&ws, &[], "✗ permissions: missing: responses:library:view");
}

#[test]
fn wrong_ledger_key_is_named() {
    let (ws, _sb) = setup();
    // The ledger is made with the workspace's key…
    let (code, _, err) = run(ws.herald().arg("status"));
    assert_eq!(code, 0, "{err}");
    // …which is then replaced by another.
    let key = ws.path().join(".herald/ledger-local.key");
    std::fs::remove_file(&key).unwrap();
    herald_ledger::LedgerKey::generate()
        .write_new(&key)
        .unwrap();
    assert_fails(
        &ws,
        &[],
        "✗ ledger-key: the ledger was made with the key of fingerprint",
    );
}

#[test]
fn missing_ledger_key_names_keygen() {
    let (ws, _sb) = setup();
    std::fs::remove_file(ws.path().join(".herald/ledger-local.key")).unwrap();
    let out = assert_fails(
        &ws,
        &[],
        "✗ ledger-key: no ledger key for environment `local`",
    );
    assert!(
        out.contains("fix: run `herald ledger keygen --env local`"),
        "{out}"
    );
}

#[test]
fn serve_without_a_secret_is_named() {
    let (ws, _sb) = setup();
    let (code, out, err) = run(ws
        .herald()
        .env_remove("HERALD_WEBHOOK_SECRET")
        .args(["doctor", "--serve"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("✗ inbound-secret:"), "{out}");
}

/// The client id `herald.yaml` names for the test environment.
fn client_id(ws: &TestWorkspace) -> String {
    let yaml = ws.read("herald.yaml");
    let after = yaml
        .split("client_id:")
        .nth(1)
        .expect("client_id in herald.yaml");
    after.lines().next().unwrap().trim().to_owned()
}

/// The org and OAuth client the token acts as come first, and one line names where each
/// effective setting came from.
#[test]
fn the_org_comes_first_and_each_setting_names_its_source() {
    let (ws, _sb) = setup();
    let (code, out, err) = run(ws
        .herald()
        .env("GENESYSCLOUD_OAUTHCLIENT_ID", client_id(&ws))
        .arg("doctor"));
    assert_eq!(code, 0, "{out}{err}");
    let first = out
        .lines()
        .find(|l| l.starts_with(['✓', '!', '✗']))
        .unwrap();
    assert!(
        first.starts_with("✓ org: organization `herald sandbox org` ("),
        "the org is the first check: {out}"
    );
    assert!(first.contains("OAuth client `herald`"), "{first}");
    let settings = out.lines().find(|l| l.starts_with("✓ settings:")).unwrap();
    for part in [
        "environment `local`",
        "(from `base_url:` of environment `local` in herald.yaml)",
        "client id (from GENESYSCLOUD_OAUTHCLIENT_ID)",
        "client secret (from `secret_file:` local-secret)",
        "ledger .herald/ledger-local.db (from default)",
        "ledger key (from .herald/ledger-local.key)",
    ] {
        assert!(settings.contains(part), "expected `{part}` in {settings}");
    }
}

/// A campaign faster than the environment can send is named (the plan's duration for it
/// would otherwise be wrong by orders of magnitude).
#[test]
fn a_campaign_faster_than_the_token_allows_is_named() {
    let (ws, _sb) = setup();
    let yaml = ws.read("campaigns/winter-sale.yaml");
    assert!(yaml.contains("rate_per_minute: 60"), "{yaml}");
    ws.write(
        "campaigns/winter-sale.yaml",
        &yaml.replace("rate_per_minute: 60", "rate_per_minute: 100000"),
    );
    let (_, out, err) = doctor(&ws, &[]);
    assert!(
        out.contains("! campaign-rate: campaign `winter-sale-2026` asks for 100000 messages/min, but environment `local` sends at most"),
        "{out}{err}"
    );
}

/// `doctor --serve` applies serve's own rule to the shared secret: a short one fails here
/// rather than at the first request.
#[test]
fn a_short_webhook_secret_fails_as_serve_would() {
    let (ws, _sb) = setup();
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_WEBHOOK_SECRET", "short")
        .args(["doctor", "--serve"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("✗ inbound-secret: 1 of the 1 secret(s) from HERALD_WEBHOOK_SECRET is shorter than 16 bytes"),
        "{out}"
    );
    assert!(
        !out.contains("short\n") && !out.contains(" short "),
        "{out}"
    );
}

#[test]
fn a_messaging_campaign_adds_the_campaign_permissions() {
    let (ws, sb) = setup();
    // Agentless only: no campaign-permissions check at all.
    let (code, out, err) = doctor(&ws, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("campaign-permissions"), "{out}");
    let path = ws.path().join("campaigns/winter-sale.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("rate_per_minute: 60\n", "");
    std::fs::write(
        &path,
        format!("{text}dispatch: messaging-campaign\nmessages_per_minute: 100\n"),
    )
    .unwrap();
    let (code, out, err) = doctor(&ws, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("✓ campaign-permissions: the OAuth client's roles cover the 7 contact-list and campaign permissions"),
        "{out}"
    );
    let mut org = sb.sandbox().org();
    org.permissions.retain(|p| p != "outbound:contact:add");
    sb.sandbox().set_org(org).unwrap();
    assert_fails(
        &ws,
        &[],
        "✗ campaign-permissions: campaigns winter-sale-2026 use `dispatch: messaging-campaign`; missing: outbound:contact:add (upload a wave's contacts)",
    );
}
