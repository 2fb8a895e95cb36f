//! `docs/sandbox.md` stays true: every admin request its walk-through and table show is sent
//! to a sandbox, and each must be accepted; the defaults it states are the sandbox's.

use serde_json::Value;

const DOC: &str = include_str!("../../../docs/sandbox.md");

/// `(method, path, body)` of every `curl … $S/…` line of the page.
fn curl_requests(doc: &str) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for line in doc.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("curl -s ") else {
            continue;
        };
        let method = if rest.starts_with("-X POST") {
            "POST"
        } else {
            "GET"
        };
        let start = rest.find("$S/").expect("every curl line names $S") + 3;
        let path: String = rest[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let body = rest
            .find("-d '")
            .map(|i| rest[i + 4..rest.rfind('\'').unwrap()].to_owned());
        out.push((method.to_owned(), format!("/__sandbox/{path}"), body));
    }
    out
}

#[tokio::test]
async fn every_admin_request_of_the_walkthrough_is_accepted() {
    let sb = herald_sandbox::start(
        herald_sandbox::SandboxConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let requests = curl_requests(DOC);
    assert!(requests.len() >= 10, "{requests:#?}");
    let mut checked = 0;
    for (method, path, body) in &requests {
        if path.contains("RESPONSE_ID") {
            continue; // needs a template made by an apply; the API test covers the edit
        }
        let url = format!("{}{path}", sb.base_url());
        let req = if method == "POST" {
            let body = body.clone().expect("a POST line has a body");
            let json: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{path}: the page's body is not JSON ({e}): {body}"));
            http.post(&url).json(&json)
        } else {
            http.get(&url)
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {path} {body:?}: {status} {text}"
        );
        checked += 1;
    }
    assert!(checked >= 9, "{checked}");
}

#[test]
fn the_defaults_the_page_states_are_the_sandboxes() {
    for fact in [
        herald_sandbox::DEFAULT_CLIENT_ID,
        herald_sandbox::DEFAULT_CLIENT_SECRET,
        herald_sandbox::DEFAULT_FROM_NUMBER,
        herald_sandbox::DEFAULT_EMAIL_DOMAIN,
    ] {
        assert!(
            DOC.contains(&format!("`{fact}`")),
            "the page names `{fact}`"
        );
    }
    for (option, default) in [
        (
            "--rate-limit N",
            herald_sandbox::DEFAULT_RATE_LIMIT_PER_MINUTE.to_string(),
        ),
        (
            "--token-lifetime S",
            herald_sandbox::DEFAULT_TOKEN_LIFETIME_SECS.to_string(),
        ),
    ] {
        assert!(
            DOC.contains(&format!("| `{option}` | {default} |")),
            "{option} defaults to {default}"
        );
    }
    // Every permission the sandbox grants by default is restored by the walk-through.
    for p in herald_sandbox::DEFAULT_PERMISSIONS {
        assert!(DOC.contains(&format!("\"{p}\"")), "{p}");
    }
}
