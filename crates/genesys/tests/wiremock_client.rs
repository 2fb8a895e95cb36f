//! Narrow behaviour tests of the client against wiremock: token lifecycle, 401 single flight,
//! `Retry-After` pauses, retry classes, error mapping, paging and secret hygiene.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use herald_genesys::{
    AgentlessEmail, AgentlessSms, ApiError, ClientConfig, Credentials, EmailAddress, EntityRef,
    GenesysClient, ResponseDraft, ResponseText, ResponseType, RetryPolicy, SecretString,
    TextContentType, Timeouts,
};
use tokio::time::Instant;
use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "canary-s3cret-do-not-print-91f2";
const TOKEN_PREFIX: &str = "canary-token-";

/// Issues `canary-token-1`, `canary-token-2`, … with the given lifetime.
struct TokenIssuer {
    issued: AtomicUsize,
    expires_in: u64,
}

impl Respond for TokenIssuer {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("{TOKEN_PREFIX}{n}"),
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }))
    }
}

async fn mount_token(server: &MockServer, expires_in: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(wiremock::matchers::body_string(
            "grant_type=client_credentials",
        ))
        .respond_with(TokenIssuer {
            issued: AtomicUsize::new(0),
            expires_in,
        })
        .mount(server)
        .await;
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

fn config(base: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        base,
        Credentials::new("client-id", SecretString::from(SECRET.to_owned())),
    );
    config.retry = fast_retry();
    config
}

/// For tests on a paused clock: no HTTP timers, or auto-advance would fire them.
fn paused_config(base: &str) -> ClientConfig {
    let mut config = config(base);
    config.timeouts = Timeouts {
        connect: None,
        request: None,
        pool_idle: None,
    };
    config
}

fn response_json(id: &str, version: u32) -> serde_json::Value {
    serde_json::json!({
        "id": id, "name": format!("name-{id}"), "version": version,
        "libraries": [{"id": "lib-1", "name": "Herald"}],
        "responseType": "CampaignSmsTemplate",
        "texts": [{"content": "Hi {{first}}", "contentType": "text/plain"}],
        "substitutions": [{"id": "first"}],
        "selfUri": format!("/api/v2/responsemanagement/responses/{id}")
    })
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

fn bearer(r: &Request) -> String {
    r.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn sms() -> AgentlessSms {
    AgentlessSms {
        from: "+15550001111".into(),
        to: "+15550100123".into(),
        text: "Your order ORD-1 has shipped.".into(),
    }
}

const SMS_PATH: &str = "/api/v2/conversations/messages/agentless";

fn accepted_sms() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(serde_json::json!({
        "id": "msg-1", "conversationId": "conv-1", "fromAddress": "+15550001111",
        "toAddress": "+15550100123", "messengerType": "sms",
        "message": {"id": "msg-1", "status": "queued"},
        "timestamp": "2026-11-25T14:00:00.000Z", "selfUri": "/x"
    }))
}

#[tokio::test(start_paused = true)]
async fn token_is_fetched_with_basic_auth_cached_and_renewed_five_minutes_before_expiry() {
    let server = MockServer::start().await;
    mount_token(&server, 600).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(response_json("r1", 1)))
        .mount(&server)
        .await;
    let client = GenesysClient::new(paused_config(&server.uri())).unwrap();

    client.get_response("r1").await.unwrap();
    tokio::time::advance(Duration::from_secs(299)).await;
    client.get_response("r1").await.unwrap();
    assert_eq!(client.token_requests(), 1, "still more than 5 minutes left");

    tokio::time::advance(Duration::from_secs(2)).await;
    client.get_response("r1").await.unwrap();
    assert_eq!(client.token_requests(), 2, "renewed with < 5 minutes left");

    let tokens = requests_to(&server, "/oauth/token").await;
    assert_eq!(tokens.len(), 2);
    let expected_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("client-id:{SECRET}"))
    );
    assert_eq!(bearer(&tokens[0]), expected_basic);
    let calls = requests_to(&server, "/api/v2/responsemanagement/responses/r1").await;
    let seen: Vec<String> = calls.iter().map(bearer).collect();
    assert_eq!(
        seen,
        vec![
            format!("Bearer {TOKEN_PREFIX}1"),
            format!("Bearer {TOKEN_PREFIX}1"),
            format!("Bearer {TOKEN_PREFIX}2"),
        ]
    );
}

/// 401 for the first token, success for any later one.
struct RejectFirstToken;

impl Respond for RejectFirstToken {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if bearer(request) == format!("Bearer {TOKEN_PREFIX}1") {
            ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "message": "Authentication failed", "code": "authentication.required",
                "status": 401, "contextId": "ctx-401"
            }))
        } else {
            ResponseTemplate::new(200).set_body_json(response_json("r1", 1))
        }
    }
}

#[tokio::test]
async fn four_concurrent_workers_hitting_401_cause_exactly_one_renewal() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(RejectFirstToken)
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    client.authenticate().await.unwrap();

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let c = client.clone();
        workers.spawn(async move { c.get_response("r1").await });
    }
    while let Some(result) = workers.join_next().await {
        assert_eq!(result.unwrap().unwrap().id, "r1");
    }
    assert_eq!(requests_to(&server, "/oauth/token").await.len(), 2);
    assert_eq!(client.token_requests(), 2);
    let calls = requests_to(&server, "/api/v2/responsemanagement/responses/r1").await;
    assert_eq!(
        calls.len(),
        8,
        "each worker: one refused attempt, one retry"
    );
}

#[tokio::test]
async fn a_persistent_401_is_retried_once_then_reported_never_looped() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "message": "bad credentials", "code": "bad.credentials", "status": 401,
            "contextId": "ctx-a"
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.context_id(), Some("ctx-a"));
    assert_eq!(requests_to(&server, SMS_PATH).await.len(), 2);
    assert_eq!(requests_to(&server, "/oauth/token").await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_after_seven_seconds_holds_every_worker() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(serde_json::json!({
                    "message": "Rate limit exceeded the maximum. Retry the request in [7] seconds",
                    "code": "too.many.requests.retry.after", "status": 429
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(response_json("r1", 1)))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = GenesysClient::new(paused_config(&server.uri())).unwrap();
    client.authenticate().await.unwrap();

    let t0 = Instant::now();
    let first = {
        let c = client.clone();
        tokio::spawn(async move { (c.get_response("r1").await, Instant::now()) })
    };
    // Wait (without moving the paused clock) until the 429 has set the shared pause.
    let paused_until = loop {
        if let Some(until) = client.throttled_until() {
            break until;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(paused_until - t0 >= Duration::from_secs(7));

    let mut others = Vec::new();
    for _ in 0..3 {
        let c = client.clone();
        others.push(tokio::spawn(async move {
            (c.get_response("r1").await, Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(6_900)).await;
    assert_eq!(
        requests_to(&server, "/api/v2/responsemanagement/responses/r1")
            .await
            .len(),
        1,
        "nobody may send during the pause"
    );
    for worker in std::iter::once(first).chain(others) {
        let (result, done) = worker.await.unwrap();
        assert_eq!(result.unwrap().id, "r1");
        assert!(done - t0 >= Duration::from_secs(7), "{:?}", done - t0);
    }
    assert_eq!(
        requests_to(&server, "/api/v2/responsemanagement/responses/r1")
            .await
            .len(),
        5
    );
}

#[tokio::test]
async fn get_is_retried_on_503_until_it_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(response_json("r1", 4)))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let before = client.retry_budget_remaining();
    let r = client.get_response("r1").await.unwrap();
    assert_eq!(r.version, 4);
    assert_eq!(
        requests_to(&server, "/api/v2/responsemanagement/responses/r1")
            .await
            .len(),
        3
    );
    assert!(
        client.retry_budget_remaining() < before,
        "retries spend the budget"
    );
}

#[tokio::test]
async fn get_gives_up_after_max_attempts_with_the_server_error() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("ININ-Correlation-Id", "corr-503")
                .set_body_string("upstream unavailable"),
        )
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.get_response("r1").await.unwrap_err();
    assert!(matches!(err, ApiError::Server { .. }), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.context_id(), Some("corr-503"));
    assert_eq!(
        requests_to(&server, "/api/v2/responsemanagement/responses/r1")
            .await
            .len(),
        4
    );
}

#[tokio::test]
async fn an_empty_retry_budget_stops_retries() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/responses/r1"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.retry.budget = 5; // exactly one retry
    let client = GenesysClient::new(cfg).unwrap();
    assert!(client.get_response("r1").await.is_err());
    assert!(client.get_response("r1").await.is_err());
    assert_eq!(
        requests_to(&server, "/api/v2/responsemanagement/responses/r1")
            .await
            .len(),
        3,
        "2 + 1: the second request had no budget left to retry"
    );
}

#[tokio::test]
async fn agentless_send_on_503_is_unknown_and_not_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(serde_json::json!({
            "message": "Service unavailable", "code": "service.unavailable", "status": 503,
            "contextId": "ctx-503"
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unknown { .. }), "{err:?}");
    assert!(!err.is_definitely_not_sent());
    assert_eq!(err.context_id(), Some("ctx-503"));
    assert_eq!(requests_to(&server, SMS_PATH).await.len(), 1);
}

#[tokio::test]
async fn agentless_send_body_success_and_error_classes() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .and(body_json(serde_json::json!({
            "fromAddress": "+15550001111", "toAddress": "+15550100123",
            "toAddressMessengerType": "sms", "textBody": "Your order ORD-1 has shipped."
        })))
        .respond_with(accepted_sms())
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let sent = client.send_sms(&sms()).await.unwrap();
    assert_eq!(sent.message_id, "msg-1");
    assert_eq!(sent.conversation_id, "conv-1");
    assert_eq!(sent.status.as_deref(), Some("queued"));

    // A 400 is a rejection with the Genesys code, sent once.
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "message": "Invalid toAddress +15550100123", "code": "invalid.value", "status": 400,
            "contextId": "ctx-400"
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    match &err {
        ApiError::Rejected { status, code, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("invalid.value"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("5550100123"), "{err}");
    assert_eq!(requests_to(&server, SMS_PATH).await.len(), 1);
}

#[tokio::test]
async fn agentless_send_retries_429_then_succeeds_and_gives_up_as_rate_limited() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(accepted_sms())
        .with_priority(2)
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    assert_eq!(client.send_sms(&sms()).await.unwrap().message_id, "msg-1");
    assert_eq!(requests_to(&server, SMS_PATH).await.len(), 3);

    // Without a usable Retry-After the client backs off (20 ms at most here, 100 ms minimum
    // pause) until the total wait budget is spent: many more than the old 5 retries.
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "garbage"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.rate_limit_wait_budget = Duration::from_secs(1);
    let client = GenesysClient::new(cfg).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    match &err {
        ApiError::RateLimited {
            retry_after: None,
            waited,
            budget,
            ..
        } => {
            assert_eq!(*budget, Duration::from_secs(1));
            assert!(*waited > Duration::from_millis(800) && *waited <= *budget);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_definitely_not_sent());
    let attempts = requests_to(&server, SMS_PATH).await.len();
    assert!(
        (9..=11).contains(&attempts),
        "{attempts} attempts of 100 ms each"
    );
    assert_eq!(client.rate_limited_wait(), client_waited(&err));
}

fn client_waited(err: &ApiError) -> Duration {
    match err {
        ApiError::RateLimited { waited, .. } => *waited,
        _ => Duration::MAX,
    }
}

/// A `Retry-After` longer than the whole wait budget is not waited for at all.
#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_returned_at_once() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path(SMS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    match err {
        ApiError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests_to(&server, SMS_PATH).await.len(), 1);
}

/// A server that reads one request and closes the connection without answering.
async fn accept_then_drop_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the whole request (headers and the JSON body), then hang up.
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let headers_done = text.contains("\r\n\r\n");
                    let has_body = text.contains("content-length:");
                    if headers_done && (!has_body || buf.ends_with(b"}")) {
                        break;
                    }
                }
                drop(socket);
            });
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn agentless_send_accepted_then_dropped_is_unknown_and_not_retried() {
    let login = MockServer::start().await;
    mount_token(&login, 86_400).await;
    let (base, connections) = accept_then_drop_server().await;
    let mut cfg = config(&base);
    cfg.login_url = login.uri();
    let client = GenesysClient::new(cfg).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unknown { .. }), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // The same failure on a read is retried (and finally reported as a transport error).
    let err = client.get_response("r1").await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1 + 4);
}

/// A login host that cannot be reached is named as the login host, not the API host (which
/// the user configured, and which may well be reachable).
#[tokio::test]
async fn an_unreachable_login_host_is_named() {
    let api = MockServer::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = config(&api.uri());
    cfg.login_url = format!("http://{addr}");
    let client = GenesysClient::new(cfg).unwrap();
    assert_eq!(client.login_url(), format!("http://{addr}"));
    let err = client.send_sms(&sms()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "cannot reach the Genesys login host http://{addr}"
        )),
        "{text}"
    );
    assert!(!text.contains(&api.uri()), "{text}");
}

#[tokio::test]
async fn agentless_send_to_a_refused_connection_is_not_sent() {
    let login = MockServer::start().await;
    mount_token(&login, 86_400).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = config(&format!("http://{addr}"));
    cfg.login_url = login.uri();
    let client = GenesysClient::new(cfg).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    assert!(matches!(err, ApiError::NotSent { .. }), "{err:?}");
    assert!(err.is_definitely_not_sent());
}

#[tokio::test]
async fn stale_version_maps_to_conflict_for_409_and_version_mismatch_400() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/responsemanagement/responses/r409"))
        .and(body_partial_json(
            serde_json::json!({"version": 3, "name": "order-shipped"}),
        ))
        .respond_with(ResponseTemplate::new(409).set_body_json(serde_json::json!({
            "message": "conflict", "code": "conflict", "status": 409, "contextId": "ctx-409"
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/responsemanagement/responses/r400"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "message": "The version supplied (3) does not match the current version (4)",
            "code": "bad.request", "status": 400
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/responsemanagement/responses/r-ok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(response_json("r-ok", 4)))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let draft = ResponseDraft {
        name: "order-shipped".into(),
        libraries: vec![EntityRef::id("lib-1")],
        response_type: Some(ResponseType::CampaignSmsTemplate),
        texts: vec![ResponseText {
            content: "Hi {{first}}".into(),
            content_type: TextContentType::Plain,
            text_type: None,
        }],
        substitutions: vec![],
    };
    let err = client.update_response("r409", 3, &draft).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Conflict {
                after_retry: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.context_id(), Some("ctx-409"));
    let err = client.update_response("r400", 3, &draft).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert_eq!(
        client
            .update_response("r-ok", 3, &draft)
            .await
            .unwrap()
            .version,
        4
    );
    let err = client.get_response("missing").await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn listings_are_read_across_pages() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    for page in 1..=3u32 {
        let count = if page == 3 { 50 } else { 100 };
        let entities: Vec<_> = (0..count)
            .map(|i| response_json(&format!("r{}", (page - 1) * 100 + i), 1))
            .collect();
        Mock::given(method("GET"))
            .and(path("/api/v2/responsemanagement/responses"))
            .and(query_param("libraryId", "lib-1"))
            .and(query_param("pageSize", "100"))
            .and(query_param("pageNumber", page.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "entities": entities, "pageSize": 100, "pageNumber": page,
                "total": 250, "pageCount": 3
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let all = client.list_responses("lib-1").await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(all[0].id, "r0");
    assert_eq!(all[249].id, "r249");
}

#[tokio::test]
async fn libraries_found_by_exact_name_and_created() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .and(query_param("libraryPrefix", "Herald"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "entities": [{"id": "l2", "name": "Herald campaigns old"},
                         {"id": "l1", "name": "Herald"}],
            "pageCount": 1
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/responsemanagement/libraries"))
        .and(body_json(serde_json::json!({"name": "New lib"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": "l9", "name": "New lib", "version": 1})),
        )
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    assert_eq!(
        client
            .find_library_by_name("Herald")
            .await
            .unwrap()
            .unwrap()
            .id,
        "l1"
    );
    assert_eq!(client.create_library("New lib").await.unwrap().id, "l9");
}

#[tokio::test]
async fn email_send_body_matches_the_sdk_shape() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/conversations/emails/agentless"))
        .and(body_json(serde_json::json!({
            "senderType": "Outbound",
            "fromAddress": {"email": "news@example.com", "name": "Shop"},
            "toAddresses": [{"email": "jane@example.org"}],
            "subject": "Shipped", "textBody": "t", "htmlBody": "<p>h</p>"
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(serde_json::json!({
            "id": "e1", "conversationId": "c9", "senderType": "Outbound"
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let sent = client
        .send_email(&AgentlessEmail {
            from: EmailAddress {
                email: "news@example.com".into(),
                name: Some("Shop".into()),
            },
            to: EmailAddress {
                email: "jane@example.org".into(),
                name: None,
            },
            subject: "Shipped".into(),
            text_body: Some("t".into()),
            html_body: Some("<p>h</p>".into()),
            reply_to: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (sent.id.as_str(), sent.conversation_id.as_str()),
        ("e1", "c9")
    );
}

#[tokio::test]
async fn dnc_analytics_message_details_and_limits() {
    let server = MockServer::start().await;
    mount_token(&server, 86_400).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/outbound/dnclists"))
        .and(body_json(serde_json::json!({
            "name": "herald", "dncSourceType": "rds", "contactMethod": "Phone"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "d1", "name": "herald", "version": 1, "dncSourceType": "rds"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/outbound/dnclists/d1/phonenumbers"))
        .and(body_json(serde_json::json!(["+15550100123"])))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/analytics/conversations/details/query"))
        .and(body_partial_json(serde_json::json!({
            "interval": "2026-11-25T14:00:00Z/2026-11-25T15:00:00Z",
            "segmentFilters": [{"type": "and", "predicates": [{"type": "dimension",
                "dimension": "addressTo", "operator": "matches", "value": "+15550100123"}]}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "totalHits": 1,
            "conversations": [{"conversationId": "c1", "conversationStart": "2026-11-25T14:05:00.123Z",
              "originatingDirection": "outbound",
              "participants": [{"purpose": "customer", "sessions": [{"mediaType": "message",
                "messageType": "sms", "direction": "outbound", "addressFrom": "+15550001111",
                "addressTo": "+15550100123"}]}]}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/conversations/messages/msg-1/details"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "msg-1", "status": "delivery-failed", "conversationId": "c1",
            "normalizedReceipts": [{"type": "Receipt", "status": "Failed",
                "reasons": [{"code": "RecipientOptedOut"}], "isFinalReceipt": true}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/limits/namespaces/auth.api"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "entities": [{"key": "client.credentials.token.rate.per.minute", "value": 600,
                          "namespace": "auth.api"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/limits/namespaces/messaging"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "message": "missing permission", "code": "missing.permissions", "status": 403
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();

    assert_eq!(client.create_dnc_list("herald").await.unwrap().id, "d1");
    client
        .add_dnc_phone_numbers("d1", &["+15550100123".to_owned()])
        .await
        .unwrap();
    let found = client
        .find_conversations(
            "+15550100123",
            "2026-11-25T14:00:00Z".parse().unwrap(),
            "2026-11-25T15:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].conversation_id, "c1");
    assert_eq!(found[0].address_from.as_deref(), Some("+15550001111"));
    assert_eq!(found[0].direction.as_deref(), Some("outbound"));
    let details = client.message_details("msg-1").await.unwrap();
    assert!(details.recipient_opted_out());
    assert_eq!(
        client
            .org_limit("auth.api", "client.credentials.token.rate.per.minute")
            .await
            .unwrap(),
        Some(600)
    );
    assert_eq!(client.org_limit("auth.api", "nope").await.unwrap(), None);
    assert_eq!(
        client.org_limit("messaging", "anything").await.unwrap(),
        None,
        "unreadable limits fall back"
    );
}

#[tokio::test]
async fn login_is_retried_on_a_transient_failure_but_not_on_refused_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, 86_400).await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    client.authenticate().await.unwrap();
    assert_eq!(requests_to(&server, "/oauth/token").await.len(), 2);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "bad client"
        })))
        .mount(&server)
        .await;
    let client = GenesysClient::new(config(&server.uri())).unwrap();
    let err = client.send_sms(&sms()).await.unwrap_err();
    assert!(matches!(err, ApiError::Auth { status: 401, .. }), "{err:?}");
    assert_eq!(err.code(), Some("invalid_client"));
    assert!(err.is_definitely_not_sent());
    assert_eq!(requests_to(&server, "/oauth/token").await.len(), 1);
    assert!(requests_to(&server, SMS_PATH).await.is_empty());
}

/// The login service's `x-herald-sandbox: 1` marker is what tells herald's sandbox from
/// Genesys Cloud (or a proxy to it): read from the token response only, never assumed.
#[tokio::test]
async fn the_sandbox_marker_is_read_from_the_token_response() {
    for (marker, expected) in [(None, false), (Some("0"), false), (Some("1"), true)] {
        let server = MockServer::start().await;
        let mut token = ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "t", "token_type": "bearer", "expires_in": 3600,
        }));
        if let Some(value) = marker {
            token = token.insert_header(herald_genesys::HERALD_SANDBOX_HEADER, value);
        }
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(token)
            .mount(&server)
            .await;
        let client = GenesysClient::new(ClientConfig::new(
            server.uri(),
            Credentials::new("id", SecretString::from(SECRET.to_owned())),
        ))
        .unwrap();
        assert!(!client.login_is_herald_sandbox(), "before any token");
        client.authenticate().await.unwrap();
        assert_eq!(client.login_is_herald_sandbox(), expected, "{marker:?}");
    }
}
