//! Credentials go only to Genesys: a workspace may name a region, a region's API host or this
//! machine, never another host (H019, refused before any network call); another host comes
//! only from `HERALD_BASE_URL`. Server text is printed scrubbed of the secret, and the pinned
//! clock (`HERALD_NOW`) is refused for a real org.
//!
//! No test here reaches past this machine: "another host" is `0.0.0.0`, which is not a
//! loopback address by the rule but, on Linux, connects to this machine — so a request that
//! should never be made is caught by a local listener instead of leaving.

use std::net::TcpListener;
use std::time::Duration;

use crate::genesys_env::{self, herald};
use crate::support::{TestWorkspace, run};

/// A listener that must receive no connection, reachable as `0.0.0.0:PORT`.
struct Tripwire {
    listener: TcpListener,
}

impl Tripwire {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let trip = Self { listener };
        // The premise: a connection to 0.0.0.0:PORT reaches this listener.
        drop(std::net::TcpStream::connect(("0.0.0.0", trip.port())).unwrap());
        assert!(
            trip.connections() == 1,
            "0.0.0.0 does not reach this machine"
        );
        trip
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Connections accepted since the last call.
    fn connections(&self) -> usize {
        std::thread::sleep(Duration::from_millis(50));
        let mut n = 0;
        while self.listener.accept().is_ok() {
            n += 1;
        }
        n
    }
}

fn combined(out: &str, err: &str) -> String {
    format!("{out}{err}")
}

#[test]
fn a_workspace_base_url_off_genesys_is_h019_and_nothing_is_sent() {
    let trip = Tripwire::new();
    for url in [
        format!("http://0.0.0.0:{}", trip.port()),
        format!("https://0.0.0.0:{}", trip.port()),
    ] {
        let ws = genesys_env::workspace(&url);
        let (code, out, err) = run(herald(&ws).arg("validate"));
        assert_eq!(code, 3, "{out}{err}");
        let all = combined(&out, &err);
        assert!(all.contains("H019"), "{all}");
        assert!(
            all.contains("herald.yaml:4"),
            "names the file and line: {all}"
        );
        assert!(all.contains("HERALD_BASE_URL"), "names the fix: {all}");

        for args in [
            &["plan"][..],
            &["apply", "--auto-approve"],
            &["preview", "--out", "site"],
        ] {
            let (code, out, err) = run(herald(&ws).env_remove("HERALD_NOW").args(args));
            assert_ne!(code, 0, "{args:?}: {out}{err}");
            assert!(err.contains("H019"), "{args:?}: {err}");
        }
        // doctor says so too, and neither reads the secret nor connects.
        let (code, out, err) = run(herald(&ws).env_remove("HERALD_NOW").arg("doctor"));
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("not a Genesys Cloud API host"), "{out}{err}");
        assert_eq!(trip.connections(), 0, "a request left for {url}");
    }
}

#[test]
fn a_region_host_or_this_machine_in_the_workspace_is_accepted() {
    for url in [
        "https://api.mypurecloud.com",
        "https://api.mypurecloud.ie/",
        "http://127.0.0.1:9",
        "http://localhost:9",
    ] {
        let ws = genesys_env::workspace(url);
        let (code, out, err) = run(herald(&ws).arg("validate"));
        assert_eq!(code, 0, "{url}: {out}{err}");
    }
}

#[test]
fn another_host_is_accepted_from_herald_base_url_over_https_only() {
    let trip = Tripwire::new();
    // The workspace names this machine (port 9: nothing listens); the variable wins.
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let (code, out, err) = run(herald(&ws).arg("validate"));
    assert_eq!(code, 0, "{out}{err}");

    // https to another host from the variable: the refusal does not apply (the TLS
    // handshake then fails against the plain listener; no credentials are readable there).
    let (code, out, err) = run(herald(&ws)
        .env_remove("HERALD_NOW")
        .env(
            "HERALD_BASE_URL",
            format!("https://0.0.0.0:{}", trip.port()),
        )
        .arg("doctor"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("✗ login: no token from the login host"),
        "{out}{err}"
    );
    assert!(!out.contains("not a Genesys Cloud API host"), "{out}");
    assert!(trip.connections() >= 1, "the variable's host was not used");

    // Plain http to another host would carry the secret in clear text: refused, unsent.
    let (code, out, err) = run(herald(&ws)
        .env_remove("HERALD_NOW")
        .env("HERALD_BASE_URL", format!("http://0.0.0.0:{}", trip.port()))
        .arg("plan"));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("HERALD_BASE_URL") && err.contains("clear text"),
        "{err}"
    );
    assert_eq!(trip.connections(), 0);
}

#[test]
fn herald_now_is_refused_for_a_real_org() {
    // A region target: refused before credentials are even looked for.
    let ws = genesys_env::workspace("http://127.0.0.1:9");
    let yaml = ws
        .read("herald.yaml")
        .replace("base_url: http://127.0.0.1:9", "region: us_east_1")
        .replace("    client_id: herald-sandbox\n", "");
    ws.write("herald.yaml", &yaml);
    let (code, out, err) = run(herald(&ws).arg("plan"));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("HERALD_NOW") && err.contains("environment `test`"),
        "{err}"
    );

    // The variable's host wins over the workspace's loopback one, and it is not this
    // machine: refused, nothing sent.
    let trip = Tripwire::new();
    let ws = genesys_env::workspace(&format!("http://127.0.0.1:{}", trip.port()));
    let (code, out, err) = run(herald(&ws)
        .env(
            "HERALD_BASE_URL",
            format!("https://0.0.0.0:{}", trip.port()),
        )
        .args(["apply", "--auto-approve"]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("HERALD_NOW"), "{err}");
    assert_eq!(trip.connections(), 0, "a request was made");

    // Without the pinned clock the same environment is used (and fails only to connect).
    let (_, out, err) = run(herald(&ws)
        .env_remove("HERALD_NOW")
        .env(
            "HERALD_BASE_URL",
            format!("https://0.0.0.0:{}", trip.port()),
        )
        .arg("plan"));
    assert!(!err.contains("HERALD_NOW"), "{out}{err}");
}

#[test]
fn a_pinned_clock_still_works_against_this_machine_and_the_sandbox() {
    let sb = genesys_env::Sandbox::start(None);
    let ws = genesys_env::workspace(&sb.get().base_url());
    let (code, out, err) = run(herald(&ws).arg("plan"));
    assert_eq!(code, 0, "{out}{err}");
    let ws = TestWorkspace::example();
    let (code, out, err) = run(ws
        .herald()
        .env("HERALD_NOW", "2026-12-02T15:00:00Z")
        .arg("plan"));
    assert_eq!(code, 0, "{out}{err}");
}

/// A login host that echoes the client secret and terminal escapes in its refusal, and an
/// API that echoes them in an error body.
mod echoing_server {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SECRET: &str = "herald-sandbox-secret";
    const TOKEN: &str = "echoed-token-4f1d";

    fn server(login_ok: bool) -> (tokio::runtime::Runtime, MockServer) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async {
            let server = MockServer::start().await;
            let token = if login_ok {
                ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "access_token": TOKEN, "token_type": "bearer", "expires_in": u64::MAX,
                }))
            } else {
                ResponseTemplate::new(400).set_body_json(serde_json::json!({
                    "error": "invalid_client",
                    "error_description": format!("secret {SECRET} is wrong\u{1b}]0;owned\u{7}\u{1b}[2J\nFAKE: all good"),
                }))
            };
            Mock::given(method("POST"))
                .and(path("/oauth/token"))
                .respond_with(token)
                .mount(&server)
                .await;
            Mock::given(path_regex("^/api/"))
                .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                    "message": format!("echo {SECRET} and Bearer {TOKEN}\u{1b}[31m\u{9b}0m"),
                    "code": "bad.request",
                    "status": 400,
                })))
                .mount(&server)
                .await;
            server
        });
        (rt, server)
    }

    // These servers are not herald's sandbox, so the pinned clock is not set for them.

    fn assert_clean(text: &str) {
        assert!(!text.contains(SECRET), "the secret was printed: {text}");
        assert!(!text.contains(TOKEN), "the token was printed: {text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\u{7}'),
            "control characters were printed: {text:?}"
        );
        assert!(
            !text.contains("\nFAKE"),
            "the server broke the line: {text}"
        );
    }

    #[test]
    fn doctor_prints_a_refusal_without_the_echoed_secret_or_escapes() {
        let (_rt, server) = server(false);
        let ws = genesys_env::workspace(&server.uri());
        for format in ["text", "json"] {
            let (code, out, err) = run(herald(&ws)
                .env_remove("HERALD_NOW")
                .args(["doctor", "--format", format]));
            assert_eq!(code, 1, "{out}{err}");
            assert!(out.contains("invalid_client"), "{out}");
            assert_clean(&out);
            assert_clean(&err);
        }
        let (code, out, err) = run(herald(&ws).env_remove("HERALD_NOW").arg("plan"));
        assert_ne!(code, 0, "{out}{err}");
        assert_clean(&out);
        assert_clean(&err);
    }

    #[test]
    fn an_api_error_is_printed_without_the_echoed_secret_token_or_escapes() {
        // The token's `expires_in` is u64::MAX too: clamped, never a panic.
        let (_rt, server) = server(true);
        let ws = genesys_env::workspace(&server.uri());
        let (code, out, err) = run(herald(&ws).env_remove("HERALD_NOW").arg("plan"));
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("bad.request"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_clean(&out);
        assert_clean(&err);
        let (code, out, err) = run(herald(&ws).env_remove("HERALD_NOW").arg("doctor"));
        assert_eq!(code, 1, "{out}{err}");
        assert_clean(&out);
        assert_clean(&err);
    }
}

/// A server on this machine that answers like Genesys but is not herald's sandbox (a local
/// forwarding proxy to a real org, say) does not carry the sandbox's marker: the pinned clock
/// is refused at its first response, before any template write or send.
#[test]
fn herald_now_is_refused_for_a_loopback_server_that_is_not_the_sandbox() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "proxy-token", "token_type": "bearer", "expires_in": 86400,
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v2/responsemanagement/libraries"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "entities": [], "pageNumber": 1, "pageSize": 100, "total": 0, "pageCount": 0,
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/v2/responsemanagement/responses/query"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "results": {"entities": [], "total": 0},
            })))
            .mount(&server)
            .await;
        server
    });
    let ws = genesys_env::workspace(&server.uri());
    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        let (code, out, err) = run(herald(&ws).args(args));
        assert_ne!(code, 0, "{args:?}: {out}{err}");
        assert!(
            err.contains("HERALD_NOW") && err.contains("environment `test`"),
            "{args:?}: {err}"
        );
    }
    // doctor says so, with the fix.
    let (code, out, err) = run(herald(&ws).arg("doctor"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("is not herald's sandbox") && out.contains("unset HERALD_NOW"),
        "{out}{err}"
    );
    let requests = rt.block_on(server.received_requests()).unwrap();
    let writes: Vec<String> = requests
        .iter()
        .filter(|r| r.method.as_str() != "GET" && r.url.path() != "/oauth/token")
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(writes.is_empty(), "written or sent: {writes:?}");
    let apis: Vec<&str> = requests
        .iter()
        .map(|r| r.url.path())
        .filter(|p| p.starts_with("/api/"))
        .collect();
    assert!(apis.is_empty(), "read with the pinned clock: {apis:?}");

    // Without the pinned clock the same server is used.
    let (_, out, err) = run(herald(&ws).env_remove("HERALD_NOW").arg("plan"));
    assert!(!err.contains("HERALD_NOW"), "{out}{err}");
}
