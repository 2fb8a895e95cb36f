//! A hostile or broken server: what it sends back never reaches an error as it was sent.
//! Echoed secrets and tokens are removed, control characters escaped, bodies read only up to
//! a cap, and any `expires_in` is clamped.

use base64::Engine as _;
use herald_genesys::{
    ApiError, ClientConfig, Credentials, GenesysClient, RetryPolicy, SecretString,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "client-id";
const SECRET: &str = "canary-s3cret-do-not-print-77aa";
const TOKEN: &str = "canary-token-hostile-1";

fn client(server: &MockServer) -> GenesysClient {
    let mut config = ClientConfig::new(
        server.uri(),
        Credentials::new(CLIENT_ID, SecretString::from(SECRET.to_owned())),
    );
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    GenesysClient::new(config).unwrap()
}

async fn mount_token(server: &MockServer, expires_in: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": TOKEN, "token_type": "bearer", "expires_in": expires_in,
        })))
        .mount(server)
        .await;
}

fn basic() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))
}

/// No secret, no token, no control character, one line.
fn assert_clean(text: &str) {
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    assert!(
        !text.contains(&basic()),
        "the basic credentials leaked: {text}"
    );
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
    assert!(
        !text.chars().any(char::is_control),
        "control characters: {text:?}"
    );
}

#[tokio::test]
async fn a_login_error_echoing_the_secret_and_escapes_prints_neither() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": format!("invalid_client\u{1b}[2J{SECRET}"),
            "error_description": format!(
                "client {CLIENT_ID} with secret {SECRET} (basic {}) refused\u{1b}]0;pwned\u{7}\nnext line\u{9b}31m",
                basic()
            ),
        })))
        .mount(&server)
        .await;
    let err = client(&server).authenticate().await.unwrap_err();
    let text = err.to_string();
    assert_clean(&text);
    assert!(text.contains("[redacted]"), "{text}");
    assert!(matches!(err, ApiError::Auth { status: 400, .. }), "{err:?}");
}

#[tokio::test]
async fn an_api_error_echoing_the_secret_token_and_escapes_prints_none_of_them() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!(3600)).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({
                    "message": format!("bad token Bearer {TOKEN}, secret {SECRET}\u{1b}[31m red \r\n\u{202e}txet"),
                    "code": format!("bad.request\u{1b}[0m"),
                    "contextId": format!("ctx\u{7}{SECRET}"),
                    "details": [{"errorCode": format!("x\u{1b}"), "fieldName": SECRET}],
                    "status": 400,
                }))
                .insert_header("inin-correlation-id", "corr-1"),
        )
        .mount(&server)
        .await;
    let err = client(&server).list_libraries().await.unwrap_err();
    let text = err.to_string();
    assert_clean(&text);
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("bad.request"), "{text}");
}

#[tokio::test]
async fn a_ten_megabyte_error_body_is_capped() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!(3600)).await;
    let huge = format!(
        r#"{{"message":"{}","code":"bad.request","status":400}}"#,
        "A".repeat(10 * 1024 * 1024)
    );
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let err = client(&server).list_libraries().await.unwrap_err();
    let text = err.to_string();
    assert!(text.len() < 4096, "{} bytes of error text", text.len());
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn a_huge_success_body_is_refused_not_read() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!(3600)).await;
    let huge = format!(
        r#"{{"entities":[],"pageCount":1,"padding":"{}"}}"#,
        "A".repeat(20 * 1024 * 1024)
    );
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let err = client(&server).list_libraries().await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn a_huge_token_response_is_refused() {
    let server = MockServer::start().await;
    let huge = format!(
        r#"{{"access_token":"{TOKEN}","expires_in":3600,"padding":"{}"}}"#,
        "A".repeat(10 * 1024 * 1024)
    );
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let err = client(&server).authenticate().await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert_clean(&err.to_string());
}

#[tokio::test]
async fn any_expires_in_is_clamped_never_a_panic() {
    for expires_in in [
        serde_json::json!(u64::MAX),
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!("never"),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, expires_in.clone()).await;
        Mock::given(method("GET"))
            .and(path("/api/v2/responsemanagement/libraries"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"entities": [], "pageCount": 1})),
            )
            .mount(&server)
            .await;
        let client = client(&server);
        client.authenticate().await.unwrap();
        assert!(
            client.list_libraries().await.unwrap().is_empty(),
            "{expires_in}"
        );
    }
}

#[tokio::test]
async fn a_token_response_quoting_the_secret_never_leaks_it() {
    let server = MockServer::start().await;
    // A value of the wrong type is what a JSON parser quotes in its error.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": TOKEN, "expires_in": format!("{SECRET}\u{1b}[2J"),
        })))
        .mount(&server)
        .await;
    if let Err(err) = client(&server).authenticate().await {
        assert_clean(&err.to_string());
    }
}

#[tokio::test]
async fn a_success_body_of_the_wrong_shape_is_reported_scrubbed() {
    let server = MockServer::start().await;
    mount_token(&server, serde_json::json!(3600)).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "entities": format!("{SECRET} {TOKEN}\u{1b}[2J"), "pageCount": 1,
        })))
        .mount(&server)
        .await;
    let err = client(&server).list_libraries().await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    assert_clean(&err.to_string());
}
