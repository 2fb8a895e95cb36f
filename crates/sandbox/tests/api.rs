//! Black-box tests of every sandbox endpoint over real HTTP (reqwest), success and error
//! shapes, with a fake clock wherever time matters.

use std::sync::Arc;

use herald_sandbox::clock::FakeClock;
use herald_sandbox::{Faults, RunningSandbox, SandboxConfig, StateLocation, start_with_clock};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Env {
    sb: RunningSandbox,
    clock: FakeClock,
    http: reqwest::Client,
    token: String,
}

impl Env {
    async fn new() -> Self {
        Self::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Self {
        let clock = FakeClock::new("2026-11-25T14:00:00Z".parse().unwrap());
        let sb = start_with_clock(
            config,
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let token = get_token(&http, &sb).await;
        Self {
            sb,
            clock,
            http,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn library(&self, name: &str) -> String {
        let (s, lib) = self
            .post(
                "/api/v2/responsemanagement/libraries",
                json!({"name": name}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{lib}");
        lib["id"].as_str().unwrap().to_owned()
    }

    async fn sms(&self, to: &str, text: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v2/conversations/messages/agentless",
            json!({"fromAddress": self.sb.from_number(), "toAddress": to,
                   "toAddressMessengerType": "sms", "textBody": text}),
        )
        .await
    }
}

async fn get_token(http: &reqwest::Client, sb: &RunningSandbox) -> String {
    let resp = http
        .post(format!("{}/oauth/token", sb.base_url()))
        .basic_auth(sb.client_id(), Some(sb.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Asserts the Genesys `ErrorBody` shape and returns it.
fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], want_status.as_u16(), "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["contextId"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["details"].is_array() && body["errors"].is_array(),
        "{body}"
    );
}

fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["fieldName"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn oauth_token_success_and_error_shapes() {
    let env = Env::new().await;
    let url = env.url("/oauth/token");
    let resp = env
        .http
        .post(&url)
        .basic_auth(env.sb.client_id(), Some(env.sb.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86_400);
    assert!(body.get("refresh_token").is_none());

    // Wrong secret: 401 with the OAuth error shape, not an ErrorBody.
    let resp = env
        .http
        .post(&url)
        .basic_auth(env.sb.client_id(), Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string() && body["description"].is_string());
    assert!(body.get("code").is_none());

    // Credentials in the form instead of Basic are refused.
    let resp = env
        .http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", env.sb.client_id()),
            ("client_secret", env.sb.client_secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Another grant type.
    let resp = env
        .http
        .post(&url)
        .basic_auth(env.sb.client_id(), Some(env.sb.client_secret()))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn bearer_auth_missing_unknown_and_expired() {
    let env = Env::new().await;
    let path = "/api/v2/responsemanagement/libraries";
    let resp = env.http.get(env.url(path)).send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "authentication.required",
    );

    let resp = env
        .http
        .get(env.url(path))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "bad.credentials");

    // Short-lived token, then the fake clock passes its expiry.
    env.sb.set_token_lifetime(300);
    let short = get_token(&env.http, &env.sb).await;
    let resp = env
        .http
        .get(env.url(path))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    env.clock.advance(SignedDuration::from_secs(300));
    let resp = env
        .http
        .get(env.url(path))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "credentials.expired",
    );
    // The long-lived token from the start still works.
    assert_eq!(env.get(path).await.0, StatusCode::OK);
}

#[tokio::test]
async fn libraries_crud_paging_and_versions() {
    let env = Env::new().await;
    let base = "/api/v2/responsemanagement/libraries";
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(env.library(&format!("lib {i}")).await);
    }
    let (s, page) = env.get(&format!("{base}?pageSize=2&pageNumber=2")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["total"], 5);
    assert_eq!(page["pageCount"], 3);
    assert_eq!(page["pageNumber"], 2);
    assert_eq!(page["entities"].as_array().unwrap().len(), 2);
    assert_eq!(page["entities"][0]["id"], ids[2].as_str());
    assert!(page["nextUri"].as_str().unwrap().contains("pageNumber=3"));
    assert!(
        page["previousUri"]
            .as_str()
            .unwrap()
            .contains("pageNumber=1")
    );
    let (_, last) = env.get(&format!("{base}?pageSize=2&pageNumber=3")).await;
    assert!(last.get("nextUri").is_none());
    let (s, err) = env.get(&format!("{base}?pageSize=abc")).await;
    assert_error(
        s,
        &err,
        StatusCode::BAD_REQUEST,
        "invalid.query.param.value",
    );

    let (s, lib) = env.get(&format!("{base}/{}", ids[0])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lib["version"], 1);
    let (s, lib) = env
        .put(
            &format!("{base}/{}", ids[0]),
            json!({"name": "renamed", "version": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (lib["name"].as_str(), lib["version"].as_i64()),
        (Some("renamed"), Some(2))
    );
    let (s, err) = env
        .put(
            &format!("{base}/{}", ids[0]),
            json!({"name": "again", "version": 1}),
        )
        .await;
    assert_error(s, &err, StatusCode::CONFLICT, "conflict");

    let (s, err) = env.post(base, json!({})).await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "bad.request");
    assert_eq!(detail_fields(&err), ["name"]);

    let (s, _) = env
        .call(reqwest::Method::DELETE, &format!("{base}/{}", ids[1]), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, err) = env.get(&format!("{base}/{}", ids[1])).await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");
}

#[tokio::test]
async fn responses_crud_version_conflict_validation_and_query() {
    let env = Env::new().await;
    let lib = env.library("Herald campaigns").await;
    let other = env.library("Other").await;
    let base = "/api/v2/responsemanagement/responses";
    let (s, created) = env
        .post(
            base,
            json!({"name": "order-shipped", "libraries": [{"id": lib}],
                   "responseType": "CampaignSmsTemplate",
                   "texts": [{"content": "Hi {{First}}", "contentType": "text/plain"}],
                   "substitutions": [{"id": "First", "defaultValue": "there"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["version"], 1);
    assert_eq!(created["libraries"][0]["name"], "Herald campaigns");
    assert_eq!(created["selfUri"], format!("{base}/{id}"));
    assert!(created["dateCreated"].as_str().unwrap().ends_with('Z'));

    let (s, updated) = env
        .put(
            &format!("{base}/{id}"),
            json!({"name": "order-shipped", "version": 1, "libraries": [{"id": lib}],
                   "texts": [{"content": "Hello {{First}}", "contentType": "text/plain"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["texts"][0]["content"], "Hello {{First}}");
    assert_eq!(updated["responseType"], "CampaignSmsTemplate");

    // Stale version: 409 and nothing changes.
    let (s, err) = env
        .put(
            &format!("{base}/{id}"),
            json!({"name": "x", "version": 1, "libraries": [{"id": lib}],
                   "texts": [{"content": "stale", "contentType": "text/plain"}]}),
        )
        .await;
    assert_error(s, &err, StatusCode::CONFLICT, "conflict");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("does not match the current version")
    );
    let (_, now) = env.get(&format!("{base}/{id}")).await;
    assert_eq!(
        (now["version"].as_i64(), now["name"].as_str()),
        (Some(2), Some("order-shipped"))
    );

    // Missing version on PUT.
    let (s, err) = env
        .put(
            &format!("{base}/{id}"),
            json!({"name": "x", "libraries": [{"id": lib}], "texts": []}),
        )
        .await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "bad.request");
    assert_eq!(detail_fields(&err), ["version"]);

    // Invalid bodies name the field.
    for (body, field) in [
        (
            json!({"libraries": [{"id": lib}], "texts": [{"content": "a"}]}),
            "name",
        ),
        (
            json!({"name": "n", "texts": [{"content": "a"}]}),
            "libraries",
        ),
        (
            json!({"name": "n", "libraries": [{"id": "missing"}], "texts": [{"content": "a"}]}),
            "libraries",
        ),
        (
            json!({"name": "n", "libraries": [{"id": lib}], "responseType": "Sms", "texts": [{"content": "a"}]}),
            "responseType",
        ),
        (
            json!({"name": "n", "libraries": [{"id": lib}], "responseType": "CampaignSmsTemplate", "texts": []}),
            "texts",
        ),
        (
            json!({"name": "n", "libraries": [{"id": lib}], "texts": [{"content": "a", "contentType": "text/rtf"}]}),
            "texts.contentType",
        ),
        (
            json!({"name": "n", "libraries": [{"id": lib}], "responseType": "CampaignEmailTemplate",
                "texts": [{"content": "<p>x</p>", "contentType": "text/html", "type": "body"}]}),
            "texts",
        ),
    ] {
        let (s, err) = env.post(base, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert_eq!(detail_fields(&err), [field], "{body} -> {err}");
    }
    let resp = env
        .http
        .post(env.url(base))
        .bearer_auth(&env.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_error(
        status,
        &resp.json().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad.request",
    );

    // An email template and a response in the other library, for list and query.
    let (s, email) = env
        .post(
            base,
            json!({"name": "receipt-email", "libraries": [{"id": lib}], "responseType": "CampaignEmailTemplate",
                   "texts": [{"content": "Your receipt", "contentType": "text/plain", "type": "subject"},
                             {"content": "<p>Thanks</p>", "contentType": "text/html", "type": "body"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{email}");
    let (s, _) = env
        .post(base, json!({"name": "order-other", "libraries": [{"id": other}], "texts": [{"content": "x"}]}))
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, err) = env.get(base).await;
    assert_error(
        s,
        &err,
        StatusCode::BAD_REQUEST,
        "invalid.query.param.value",
    );
    assert_eq!(detail_fields(&err), ["libraryId"]);
    let (s, listing) = env.get(&format!("{base}?libraryId={lib}&pageSize=1")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (listing["total"].as_u64(), listing["pageCount"].as_u64()),
        (Some(2), Some(2))
    );

    let query = "/api/v2/responsemanagement/responses/query";
    let names = |v: &Value| -> Vec<String> {
        v["results"]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (s, res) = env
        .post(query, json!({"filters": [{"name": "libraryId", "operator": "EQUALS", "values": [lib]},
                                        {"name": "responseType", "operator": "EQUALS", "values": ["CampaignSmsTemplate"]}]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(names(&res), ["order-shipped"]);
    assert_eq!(res["results"]["total"], 1);
    let (_, res) = env
        .post(
            query,
            json!({"filters": [{"name": "name", "operator": "BEGINS_WITH", "values": ["order"]}]}),
        )
        .await;
    assert_eq!(names(&res), ["order-shipped", "order-other"]);
    let (_, res) = env
        .post(query, json!({"filters": [{"name": "name", "operator": "IN", "values": ["receipt-email", "nope"]}]}))
        .await;
    assert_eq!(names(&res), ["receipt-email"]);
    let (s, err) = env
        .post(
            query,
            json!({"filters": [{"name": "name", "operator": "LIKE", "values": ["x"]}]}),
        )
        .await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "invalid.value");

    // A library with responses cannot be deleted; a deleted response is gone.
    let (s, _) = env
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v2/responsemanagement/libraries/{lib}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env
        .call(reqwest::Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, err) = env.get(&format!("{base}/{id}")).await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");
}

#[tokio::test]
async fn out_of_band_edit_bumps_version_and_text() {
    let env = Env::new().await;
    let lib = env.library("L").await;
    let (_, created) = env
        .post(
            "/api/v2/responsemanagement/responses",
            json!({"name": "t", "libraries": [{"id": lib}], "responseType": "CampaignSmsTemplate",
                   "texts": [{"content": "reviewed", "contentType": "text/plain"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let edited = env
        .sb
        .edit_response_out_of_band(id, "drifted")
        .await
        .unwrap();
    assert_eq!(edited.version, Some(2));
    let (_, got) = env
        .get(&format!("/api/v2/responsemanagement/responses/{id}"))
        .await;
    assert_eq!(got["texts"][0]["content"], "drifted");
    assert_eq!(got["version"], 2);
    // Through the admin API as well.
    let resp = env
        .http
        .post(env.url(&format!("/__sandbox/responses/{id}/edit")))
        .json(&json!({"content": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, got) = env
        .get(&format!("/api/v2/responsemanagement/responses/{id}"))
        .await;
    assert_eq!(
        (got["texts"][0]["content"].as_str(), got["version"].as_i64()),
        (Some("again"), Some(3))
    );
    assert!(
        env.sb
            .edit_response_out_of_band("missing", "x")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn agentless_sms_shape_validation_and_status_lifecycle() {
    let env = Env::new().await;
    let (s, sent) = env.sms("+13175550100", "Your order shipped").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    assert!(sent["conversationId"].is_string());
    assert_eq!(sent["fromAddress"], "+15550001111");
    assert_eq!(sent["toAddress"], "+13175550100");
    assert_eq!(sent["messengerType"], "sms");
    assert_eq!(sent["message"]["status"], "queued");
    assert_eq!(sent["message"]["id"], id.as_str());
    assert_eq!(
        sent["message"]["normalizedMessage"]["text"],
        "Your order shipped"
    );
    assert!(sent["timestamp"].is_string() && sent["user"]["id"].is_string());
    assert!(
        sent.get("status").is_none(),
        "no top-level status in the real shape"
    );

    let messages = env.sb.messages().await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, id);
    assert_eq!(messages[0].accepted_at, env.clock.now_for_test());

    let details = format!("/api/v2/conversations/messages/{id}/details");
    let (s, d) = env.get(&details).await;
    assert_eq!((s, d["status"].as_str()), (StatusCode::OK, Some("queued")));
    env.clock.advance(SignedDuration::from_millis(600));
    let (_, d) = env.get(&details).await;
    assert_eq!(d["status"], "sent");
    assert_eq!(d["normalizedReceipts"][0]["status"], "Sent");
    env.clock.advance(SignedDuration::from_secs(1));
    let (_, d) = env.get(&details).await;
    assert_eq!(d["status"], "delivery-success");
    assert_eq!(d["normalizedReceipts"][1]["status"], "Delivered");
    assert_eq!(d["normalizedReceipts"][1]["isFinalReceipt"], true);
    let (s, err) = env.get("/api/v2/conversations/messages/nope/details").await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");

    let long = "x".repeat(766);
    let ok765 = "é".repeat(765);
    assert_eq!(
        env.sms("+13175550100", &ok765).await.0,
        StatusCode::ACCEPTED
    );
    for (body, field) in [
        (
            json!({"fromAddress": "+15550001111", "toAddress": "3175550100", "toAddressMessengerType": "sms", "textBody": "x"}),
            "toAddress",
        ),
        (
            json!({"fromAddress": "+15550009999", "toAddress": "+13175550100", "toAddressMessengerType": "sms", "textBody": "x"}),
            "fromAddress",
        ),
        (
            json!({"fromAddress": "+15550001111", "toAddress": "+13175550100", "toAddressMessengerType": "sms", "textBody": long}),
            "textBody",
        ),
        (
            json!({"fromAddress": "+15550001111", "toAddress": "+13175550100", "toAddressMessengerType": "sms"}),
            "textBody",
        ),
        (
            json!({"fromAddress": "+15550001111", "toAddress": "+13175550100", "toAddressMessengerType": "fax", "textBody": "x"}),
            "toAddressMessengerType",
        ),
        (
            json!({"fromAddress": "+15550001111", "toAddress": "+13175550100", "textBody": "x"}),
            "toAddressMessengerType",
        ),
    ] {
        let (s, err) = env
            .post("/api/v2/conversations/messages/agentless", body.clone())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert_eq!(detail_fields(&err), [field], "{body} -> {err}");
    }
    // Rejected sends are not recorded.
    assert_eq!(env.sb.messages().await.unwrap().len(), 2);
}

trait NowForTest {
    fn now_for_test(&self) -> Timestamp;
}
impl NowForTest for FakeClock {
    fn now_for_test(&self) -> Timestamp {
        herald_sandbox::clock::Clock::now(self)
    }
}

#[tokio::test]
async fn stop_reply_makes_later_sends_fail_recipient_opted_out() {
    let env = Env::new().await;
    let (_, before) = env.sms("+13175550100", "first").await;
    let reply = env.sb.inbound("+13175550100", " stop ").await.unwrap();
    assert_eq!(
        reply.conversation_id,
        before["conversationId"].as_str().unwrap()
    );
    let (s, after) = env.sms("+13175550100", "second").await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "opted-out sends are still accepted"
    );
    env.clock.advance(SignedDuration::from_secs(5));
    let status = |v: &Value| {
        format!(
            "/api/v2/conversations/messages/{}/details",
            v["id"].as_str().unwrap()
        )
    };
    let (_, d) = env.get(&status(&before)).await;
    assert_eq!(d["status"], "delivery-success");
    let (_, d) = env.get(&status(&after)).await;
    assert_eq!(d["status"], "delivery-failed");
    let failed = &d["normalizedReceipts"][1];
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["reasons"][0]["code"], "RecipientOptedOut");

    // START opts back in (via the admin API).
    let resp = env
        .http
        .post(env.url("/__sandbox/inbound"))
        .json(&json!({"from": "+13175550100", "text": "START"}))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["subscription"], "opted_in");
    let (_, third) = env.sms("+13175550100", "third").await;
    env.clock.advance(SignedDuration::from_secs(5));
    assert_eq!(
        env.get(&status(&third)).await.1["status"],
        "delivery-success"
    );
    let inbound: Value = env
        .http
        .get(env.url("/__sandbox/inbound"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbound.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn agentless_email_shape_and_validation() {
    let env = Env::new().await;
    let path = "/api/v2/conversations/emails/agentless";
    let good = json!({"senderType": "Outbound", "fromAddress": {"email": "news@example.com", "name": "News"},
                      "toAddresses": [{"email": "a@customer.org"}], "subject": "Hi", "htmlBody": "<p>x</p>"});
    let (s, sent) = env.post(path, good.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["senderType"], "Outbound");
    assert_eq!(sent["toAddresses"][0]["email"], "a@customer.org");
    assert!(
        sent["id"].is_string()
            && sent["conversationId"].is_string()
            && sent["dateCreated"].is_string()
    );
    let messages = env.sb.messages().await.unwrap();
    assert_eq!(messages[0].channel, herald_sandbox::Channel::Email);
    assert_eq!(messages[0].subject.as_deref(), Some("Hi"));

    let mut two = good.clone();
    two["toAddresses"] = json!([{"email": "a@customer.org"}, {"email": "b@customer.org"}]);
    let mut long_subject = good.clone();
    long_subject["subject"] = json!("s".repeat(401));
    let mut foreign = good.clone();
    foreign["fromAddress"] = json!({"email": "x@not-provisioned.net"});
    let mut inbound = good.clone();
    inbound["senderType"] = json!("Inbound");
    for (body, field) in [
        (two, "toAddresses"),
        (long_subject, "subject"),
        (foreign, "fromAddress.email"),
        (inbound, "senderType"),
    ] {
        let (s, err) = env.post(path, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert_eq!(detail_fields(&err), [field]);
    }
    assert_eq!(env.sb.messages().await.unwrap().len(), 1);
}

#[tokio::test]
async fn dnc_lists_create_get_list_and_append() {
    let env = Env::new().await;
    let base = "/api/v2/outbound/dnclists";
    let (s, list) = env
        .post(
            base,
            json!({"name": "herald opt-outs", "dncSourceType": "rds", "contactMethod": "Phone"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let id = list["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (list["size"].as_i64(), list["version"].as_i64()),
        (Some(0), Some(1))
    );
    let (s, _) = env
        .post(
            &format!("{base}/{id}/phonenumbers"),
            json!(["+13175550100", "+13175550101", "+13175550100"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, got) = env.get(&format!("{base}/{id}")).await;
    assert_eq!(
        (got["size"].as_i64(), got["version"].as_i64()),
        (Some(2), Some(2))
    );
    let entries: Vec<String> = env
        .http
        .get(env.url(&format!("/__sandbox/dnclists/{id}/phonenumbers")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entries, ["+13175550100", "+13175550101"]);

    let (_, ext) = env
        .post(
            base,
            json!({"name": "external", "dncSourceType": "dnc.com"}),
        )
        .await;
    let (s, err) = env
        .post(
            &format!("{base}/{}/phonenumbers", ext["id"].as_str().unwrap()),
            json!(["+13175550100"]),
        )
        .await;
    assert_error(
        s,
        &err,
        StatusCode::BAD_REQUEST,
        "dnc.source.operation.not.supported",
    );
    let (s, err) = env
        .post(base, json!({"name": "no method", "dncSourceType": "rds"}))
        .await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "bad.request");
    assert_eq!(detail_fields(&err), ["contactMethod"]);
    let (s, listing) = env.get(&format!("{base}?name=herald")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listing["total"], 1);
    let (s, err) = env.get(&format!("{base}/missing")).await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");
    let (s, err) = env
        .post(
            &format!("{base}/missing/phonenumbers"),
            json!(["+13175550100"]),
        )
        .await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");
}

#[tokio::test]
async fn analytics_query_filters_interval_and_index_delay() {
    let env = Env::new().await;
    env.sb
        .set_faults(Faults {
            index_delay_secs: 30,
            ..Faults::default()
        })
        .unwrap();
    let (_, a) = env.sms("+13175550100", "a").await;
    env.sms("+13175550101", "b").await;
    let query = |to: &str| {
        json!({"interval": "2026-11-25T00:00:00.000Z/2026-11-26T00:00:00.000Z",
               "segmentFilters": [{"type": "and", "predicates": [
                    {"type": "dimension", "dimension": "addressTo", "operator": "matches", "value": to},
                    {"dimension": "mediaType", "value": "message"},
                    {"dimension": "direction", "value": "outbound"}]}]})
    };
    let path = "/api/v2/analytics/conversations/details/query";
    let (s, res) = env.post(path, query("+13175550100")).await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["totalHits"], 0, "not indexed yet");
    assert!(res.get("conversations").is_none());
    env.clock.advance(SignedDuration::from_secs(30));
    let (_, res) = env.post(path, query("+13175550100")).await;
    assert_eq!(res["totalHits"], 1);
    let conv = &res["conversations"][0];
    assert_eq!(conv["conversationId"], a["conversationId"]);
    assert_eq!(conv["originatingDirection"], "outbound");
    let session = &conv["participants"][0]["sessions"][0];
    assert_eq!(session["addressTo"], "+13175550100");
    assert_eq!(session["addressFrom"], "+15550001111");
    assert_eq!(session["mediaType"], "message");
    assert_eq!(session["messageType"], "sms");
    assert_eq!(session["deliveryStatus"], "DeliverySuccess");

    // An interval that excludes the send, an or-filter, and errors.
    let mut outside = query("+13175550100");
    outside["interval"] = json!("2026-11-24T00:00:00Z/2026-11-25T00:00:00Z");
    assert_eq!(env.post(path, outside).await.1["totalHits"], 0);
    let either = json!({"interval": "2026-11-25T00:00:00Z/2026-11-26T00:00:00Z",
        "segmentFilters": [{"type": "or", "predicates": [{"dimension": "addressTo", "value": "+13175550100"},
                                                          {"dimension": "addressTo", "value": "+13175550101"}]}]});
    assert_eq!(env.post(path, either).await.1["totalHits"], 2);
    let (s, err) = env.post(path, json!({"segmentFilters": []})).await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "bad.request");
    assert_eq!(detail_fields(&err), ["interval"]);
    let (s, err) = env.post(path, json!({"interval": "yesterday"})).await;
    assert_error(s, &err, StatusCode::BAD_REQUEST, "invalid.value");
    let mut bad_dim = query("+1");
    bad_dim["segmentFilters"][0]["predicates"][0]["dimension"] = json!("queueId");
    assert_eq!(env.post(path, bad_dim).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_recovers() {
    let env = Env::with(SandboxConfig {
        rate_limit_per_minute: Some(3),
        ..SandboxConfig::default()
    })
    .await;
    let path = "/api/v2/responsemanagement/libraries";
    for _ in 0..3 {
        assert_eq!(env.get(path).await.0, StatusCode::OK);
    }
    let resp = env
        .http
        .get(env.url(path))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "60");
    assert!(resp.headers().get("inin-ratelimit-allowed").is_none());
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too.many.requests.retry.after",
    );
    assert!(body["message"].as_str().unwrap().contains("[60]"));
    // A second token has its own window.
    let other = get_token(&env.http, &env.sb).await;
    let resp = env
        .http
        .get(env.url(path))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    env.clock.advance(SignedDuration::from_secs(60));
    assert_eq!(env.get(path).await.0, StatusCode::OK);
    // Limits API reports the configured value; unlimited removes it.
    let (_, limits) = env
        .get("/api/v2/organizations/limits/namespaces/platform.api")
        .await;
    assert_eq!(
        limits["entities"][0]["key"],
        "client.credentials.token.rate.per.minute"
    );
    assert_eq!(limits["entities"][0]["value"], 3);
    env.sb.set_rate_limit(None);
    for _ in 0..10 {
        assert_eq!(env.get(path).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn burst_and_5xx_faults_are_injected_and_deterministic() {
    let env = Env::new().await;
    let path = "/api/v2/responsemanagement/libraries";
    env.sb
        .set_faults(Faults {
            burst_429: 2,
            burst_retry_after_secs: 7,
            ..Faults::default()
        })
        .unwrap();
    for _ in 0..2 {
        let resp = env
            .http
            .get(env.url(path))
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "7");
    }
    assert_eq!(env.get(path).await.0, StatusCode::OK);
    assert_eq!(env.sb.faults().burst_429, 0);

    // The same seed yields the same sequence of 5xx answers.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let env = Env::with(SandboxConfig {
            seed: 42,
            faults: Faults {
                error_5xx_ratio: 0.5,
                ..Faults::default()
            },
            ..SandboxConfig::default()
        })
        .await;
        let mut seq = Vec::new();
        for _ in 0..20 {
            let (s, body) = env.get(path).await;
            if s == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(body["status"], 503);
            }
            seq.push(s.as_u16());
        }
        runs.push(seq);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&503) && runs[0].contains(&200),
        "{:?}",
        runs[0]
    );

    // Bad fault settings are refused.
    let resp = env
        .http
        .post(env.url("/__sandbox/faults"))
        .json(&json!({"drop_ratio": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = env
        .http
        .post(env.url("/__sandbox/faults"))
        .json(&json!({"unknown": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = env
        .http
        .post(env.url("/__sandbox/faults"))
        .json(&json!({"latency_ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(env.sb.faults().latency_ms, 1);
}

#[tokio::test]
async fn accept_then_drop_records_the_message_but_closes_the_connection() {
    let env = Env::new().await;
    env.sb
        .set_faults(Faults {
            drop_ratio: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let err = env
        .http
        .post(env.url("/api/v2/conversations/messages/agentless"))
        .bearer_auth(&env.token)
        .json(
            &json!({"fromAddress": env.sb.from_number(), "toAddress": "+13175550100",
                      "toAddressMessengerType": "sms", "textBody": "maybe sent"}),
        )
        .send()
        .await
        .expect_err("the client must see no response");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    let messages = env.sb.messages().await.unwrap();
    assert_eq!(messages.len(), 1, "the message was accepted");
    assert_eq!(messages[0].text.as_deref(), Some("maybe sent"));

    // Non-send endpoints are unaffected, and the sandbox keeps serving.
    assert_eq!(
        env.get("/api/v2/responsemanagement/libraries").await.0,
        StatusCode::OK
    );
    env.sb.set_faults(Faults::default()).unwrap();
    assert_eq!(env.sms("+13175550100", "ok").await.0, StatusCode::ACCEPTED);
    let listed: Value = env
        .http
        .get(env.url("/__sandbox/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed[0]["accepted_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-25T14:00:00")
    );
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        state: StateLocation::File(dir.path().join("sandbox-state.db")),
        ..SandboxConfig::default()
    };
    let env = Env::with(config.clone()).await;
    let lib = env.library("persistent").await;
    env.sms("+13175550100", "kept").await;
    env.sb.shutdown().await;

    let env = Env::with(config).await;
    let (s, got) = env
        .get(&format!("/api/v2/responsemanagement/libraries/{lib}"))
        .await;
    assert_eq!(
        (s, got["name"].as_str()),
        (StatusCode::OK, Some("persistent"))
    );
    let messages = env.sb.messages().await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text.as_deref(), Some("kept"));
}

#[tokio::test]
async fn inbound_reply_is_forwarded_with_the_shared_secret() {
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, Value)>();
    let app = axum::Router::new().route(
        "/inbound",
        post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let secret = headers
                        .get("x-herald-secret")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    tx.send((secret, body)).unwrap();
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/inbound", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env = Env::with(SandboxConfig {
        inbound_forward: Some(herald_sandbox::InboundForward {
            url: receiver,
            secret: "s3cret".to_owned(),
        }),
        ..SandboxConfig::default()
    })
    .await;
    let reply = env.sb.inbound("+13175550100", "STOP").await.unwrap();
    let (secret, body) = rx.recv().await.unwrap();
    assert_eq!(secret.as_deref(), Some("s3cret"));
    assert_eq!(body["messageId"], reply.message_id.as_str());
    assert_eq!(body["from"], "+13175550100");
    assert_eq!(body["to"], "+15550001111");
    assert_eq!(body["text"], "STOP");
    assert!(body["conversationId"].is_string() && body["timestamp"].is_string());
}

#[tokio::test]
async fn unknown_api_route_is_a_404_error_body() {
    let env = Env::new().await;
    let (s, err) = env.get("/api/v2/messaging/templates").await;
    assert_error(s, &err, StatusCode::NOT_FOUND, "not.found");
}

#[tokio::test]
async fn stats_count_requests_and_429s_by_route_template() {
    let env = Env::with(SandboxConfig {
        rate_limit_per_minute: Some(4),
        ..SandboxConfig::default()
    })
    .await;
    let lib = env.library("stats").await;
    let (_, created) = env
        .post(
            "/api/v2/responsemanagement/responses",
            json!({"name": "r", "libraries": [{"id": lib}], "responseType": "CampaignSmsTemplate",
                   "texts": [{"content": "hi", "contentType": "text/plain"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let get_response = format!("/api/v2/responsemanagement/responses/{id}");
    assert_eq!(env.get(&get_response).await.0, StatusCode::OK);
    assert_eq!(env.sms("+13175550100", "hi").await.0, StatusCode::ACCEPTED);
    // The fifth API request in the window is refused.
    assert_eq!(
        env.get(&get_response).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let resp = env
        .http
        .get(env.url("/__sandbox/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let json: Value = resp.json().await.unwrap();
    let route = |method: &str, route: &str| {
        json["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["route"] == route)
            .map(|r| {
                (
                    r["requests"].as_u64().unwrap(),
                    r["tooManyRequests"].as_u64().unwrap(),
                )
            })
    };
    let template = "/api/v2/responsemanagement/responses/{responseId}";
    assert_eq!(route("GET", template), Some((2, 1)));
    assert_eq!(
        route("POST", "/api/v2/conversations/messages/agentless"),
        Some((1, 0))
    );
    assert_eq!(
        route("POST", "/api/v2/responsemanagement/libraries"),
        Some((1, 0))
    );
    assert_eq!(route("POST", "/oauth/token"), Some((1, 0)));
    assert_eq!(json["tooManyRequests"], 1);
    assert_eq!(json["requests"], 6);
    assert_eq!(json["maxAdmittedIn60s"], 4);
    // No concrete id or address appears, only templates.
    let text = json.to_string();
    assert!(!text.contains(id) && !text.contains("3175550100"), "{text}");

    let typed = env.sb.stats();
    assert_eq!(typed.requests_to("GET", template), 2);
    assert_eq!(typed.too_many_requests_to("GET", template), 1);
    assert_eq!(typed.max_admitted_in_60s, 4);

    // A window later the limiter admits again; the maximum stays 4.
    env.clock.advance(SignedDuration::from_secs(60));
    assert_eq!(env.get(&get_response).await.0, StatusCode::OK);
    assert_eq!(env.sb.stats().max_admitted_in_60s, 4);
    // Admin requests are not counted; a reset starts afresh.
    let resp = env
        .http
        .delete(env.url("/__sandbox/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let after = env.sb.stats();
    assert_eq!((after.requests, after.max_admitted_in_60s), (0, 0));
}

#[tokio::test]
async fn state_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state").join("nested");
    let path = state_dir.join("sandbox-state.db");
    let config = SandboxConfig {
        state: StateLocation::File(path.clone()),
        ..SandboxConfig::default()
    };
    let env = Env::with(config.clone()).await;
    env.sms("+13175550100", "private").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    for suffix in ["-wal", "-shm"] {
        let side = state_dir.join(format!("sandbox-state.db{suffix}"));
        if side.exists() {
            assert_eq!(mode(&side) & 0o077, 0, "{}", side.display());
        }
    }
    env.sb.shutdown().await;

    // An existing file readable by others is tightened on the next start.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = Env::with(config).await;
    assert_eq!(mode(&path), 0o600);
    env.sb.shutdown().await;
}

/// Every answer — the token, an API call, a refusal — carries the sandbox's marker header, so
/// herald can tell this sandbox from a real org behind a proxy on this machine.
#[tokio::test]
async fn every_response_carries_the_sandbox_marker() {
    let env = Env::new().await;
    let marker = |resp: &reqwest::Response| {
        resp.headers()
            .get(herald_sandbox::MARKER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let token = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth(env.sb.client_id(), Some(env.sb.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(marker(&token).as_deref(), Some("1"));
    let api = env
        .http
        .get(env.url("/api/v2/tokens/me"))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(marker(&api).as_deref(), Some("1"));
    let refused = env
        .http
        .get(env.url("/api/v2/tokens/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(marker(&refused).as_deref(), Some("1"));
}
