//! The client secret and access tokens never appear in logs (at TRACE, from every crate in
//! the process), in error messages or in `Debug` output.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use herald_genesys::{
    AgentlessSms, ClientConfig, Credentials, GenesysClient, RetryPolicy, SecretString,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "canary-s3cret-never-print-5e1d";
const TOKEN: &str = "canary-access-token-77aa";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Refuses the first use of the token with 401, then answers 503 (a maybe-sent send).
struct FirstUnauthorizedThen503(std::sync::atomic::AtomicBool);

impl Respond for FirstUnauthorizedThen503 {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(401)
        }
    }
}

#[tokio::test]
async fn canary_secret_and_token_never_appear_in_trace_logs_errors_or_debug() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("good-id:{SECRET}"))
            )
            .as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": TOKEN, "token_type": "bearer", "expires_in": 86400
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "description": "client not found"
        })))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/conversations/messages/agentless"))
        .respond_with(FirstUnauthorizedThen503(
            std::sync::atomic::AtomicBool::default(),
        ))
        .mount(&server)
        .await;

    let mut config = ClientConfig::new(
        server.uri(),
        Credentials::new("good-id", SecretString::from(SECRET.to_owned())),
    );
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let client = GenesysClient::new(config.clone()).unwrap();
    let sms = AgentlessSms {
        from: "+15550001111".into(),
        to: "+15550100123".into(),
        text: "hello".into(),
    };
    let send_err = client.send_sms(&sms).await.unwrap_err();

    let mut bad = config.clone();
    bad.credentials = Credentials::new("bad-id", SecretString::from(SECRET.to_owned()));
    let login_err = GenesysClient::new(bad)
        .unwrap()
        .authenticate()
        .await
        .unwrap_err();

    let mut everything = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        everything.contains("obtained access token"),
        "logs were captured at TRACE: {everything}"
    );
    for text in [
        format!("{send_err} {send_err:?}"),
        format!("{login_err} {login_err:?}"),
        format!("{client:?} {config:?}"),
    ] {
        everything.push_str(&text);
    }
    assert!(login_err.to_string().contains("invalid_client"));
    assert!(send_err.to_string().contains("outcome unknown"));

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("good-id:{SECRET}"));
    for needle in [SECRET, TOKEN, basic.as_str(), "+15550100123"] {
        assert!(
            !everything.contains(needle),
            "`{needle}` leaked into output:\n{everything}"
        );
    }
}
