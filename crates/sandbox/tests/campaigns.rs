//! Black-box tests of the outbound contact lists, messaging campaigns and their dispatcher over
//! real HTTP, with a fake clock driving the dispatcher's pace.

use std::sync::Arc;

use herald_sandbox::clock::FakeClock;
use herald_sandbox::{
    AcceptedMessage, Faults, OrgSetup, RunningSandbox, SandboxConfig, start_with_clock,
};
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const LISTS: &str = "/api/v2/outbound/contactlists";
const CAMPAIGNS: &str = "/api/v2/outbound/messagingcampaigns";

struct Env {
    sb: RunningSandbox,
    clock: FakeClock,
    http: reqwest::Client,
    token: String,
}

impl Env {
    /// A sandbox whose clock is frozen on a Wednesday, 14:00 UTC.
    async fn new() -> Self {
        let clock = FakeClock::new("2026-11-25T14:00:00Z".parse().unwrap());
        let sb = start_with_clock(
            SandboxConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{}/oauth/token", sb.base_url()))
            .basic_auth(sb.client_id(), Some(sb.client_secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let token = resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            sb,
            clock,
            http,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sb.base_url()))
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
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body).await;
        assert!(s.is_success(), "{s} {v}");
        v
    }

    /// A list with `phone`, `email`, `tz`, `text` and `name` columns.
    async fn list(&self) -> String {
        let list = self
            .ok(
                Method::POST,
                LISTS,
                Some(json!({
                    "name": "wave-1",
                    "columnNames": ["phone", "email", "tz", "text", "name"],
                    "phoneColumns": [{"columnName": "phone", "type": "cell", "callableTimeColumn": "tz"}],
                    "emailColumns": [{"columnName": "email", "type": "personal"}],
                })),
            )
            .await;
        list["id"].as_str().unwrap().to_owned()
    }

    async fn add(&self, list: &str, contacts: &[(&str, &str)], query: &str) -> Value {
        let body: Vec<Value> = contacts
            .iter()
            .map(|(id, phone)| {
                json!({"id": id, "contactListId": list,
                       "data": {"phone": phone, "name": format!("N{id}"), "text": format!("Hi {id}")},
                       "callable": true})
            })
            .collect();
        self.ok(
            Method::POST,
            &format!("{LISTS}/{list}/contacts{query}"),
            Some(Value::Array(body)),
        )
        .await
    }

    async fn template(&self) -> String {
        let lib = self
            .ok(
                Method::POST,
                "/api/v2/responsemanagement/libraries",
                Some(json!({"name": "campaigns"})),
            )
            .await;
        let t = self
            .ok(
                Method::POST,
                "/api/v2/responsemanagement/responses",
                Some(json!({"name": "hello", "libraries": [{"id": lib["id"]}],
                       "responseType": "CampaignSmsTemplate",
                       "texts": [{"content": "Hello {{name}}", "contentType": "text/plain"}]})),
            )
            .await;
        t["id"].as_str().unwrap().to_owned()
    }

    fn sms_campaign(&self, list: &str, per_minute: i64, content: &Value) -> Value {
        let mut sms = json!({"phoneColumn": "phone",
                             "senderSmsPhoneNumber": {"phoneNumber": self.sb.from_number()}});
        for (k, v) in content.as_object().unwrap() {
            sms[k] = v.clone();
        }
        json!({"name": "wave-1", "contactList": {"id": list}, "messagesPerMinute": per_minute,
               "campaignStatus": "off", "smsConfig": sms})
    }

    async fn create(&self, body: Value) -> Value {
        self.ok(Method::POST, CAMPAIGNS, Some(body)).await
    }

    async fn set_status(&self, id: &str, status: &str) -> Value {
        let (_, mut c) = self.get(&format!("{CAMPAIGNS}/{id}")).await;
        c["campaignStatus"] = json!(status);
        self.ok(Method::PUT, &format!("{CAMPAIGNS}/{id}"), Some(c))
            .await
    }

    async fn status(&self, id: &str) -> String {
        let (_, c) = self.get(&format!("{CAMPAIGNS}/{id}")).await;
        c["campaignStatus"].as_str().unwrap().to_owned()
    }

    async fn advance_and_dispatch(&self, secs: i64) {
        self.clock.advance(SignedDuration::from_secs(secs));
        self.sb.dispatch_campaigns().await.unwrap();
    }

    async fn messages(&self) -> Vec<AcceptedMessage> {
        self.sb.messages().await.unwrap()
    }
}

fn count_to(messages: &[AcceptedMessage], to: &str) -> usize {
    messages.iter().filter(|m| m.to == to).count()
}

fn numbers(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("c{i}"), format!("+1317555{i:04}")))
        .collect()
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["status"], want.as_u16(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["contextId"].as_str().is_some(), "{body}");
}

#[tokio::test]
async fn contact_lists_validate_columns_and_limits() {
    let env = Env::new().await;
    let columns: Vec<String> = (0..51).map(|i| format!("c{i}")).collect();
    let (s, e) = env
        .post(
            LISTS,
            json!({"name": "wide", "columnNames": columns,
                   "phoneColumns": [{"columnName": "c0", "type": "cell"}]}),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let (s, e) = env
        .post(
            LISTS,
            json!({"name": "bad", "columnNames": ["a"], "phoneColumns": [{"columnName": "b"}]}),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let (s, e) = env
        .post(
            LISTS,
            json!({"name": "atzm", "columnNames": ["p", "tz"], "automaticTimeZoneMapping": true,
                   "phoneColumns": [{"columnName": "p", "callableTimeColumn": "tz"}]}),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");

    let list = env.list().await;
    let (s, got) = env.get(&format!("{LISTS}/{list}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got.get("size").is_none(), "size only with includeSize=true");
    let (_, got) = env.get(&format!("{LISTS}/{list}?includeSize=true")).await;
    assert_eq!(got["size"], 0);
    assert_eq!(got["version"], 1);
    assert_eq!(got["phoneColumns"][0]["callableTimeColumn"], "tz");

    // A column the list does not have is refused; more than the per-request limit too.
    let (s, e) = env
        .post(
            &format!("{LISTS}/{list}/contacts"),
            json!([{"id": "x", "data": {"nope": "1"}}]),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"id": format!("k{i}"), "data": {"phone": "+13175550000"}}))
        .collect();
    let (s, e) = env
        .post(&format!("{LISTS}/{list}/contacts"), Value::Array(many))
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");

    // The per-list limit (1,000,000; lowered through the admin API) in Genesys' error shape.
    let mut limits = env.sb.outbound_limits();
    assert_eq!(limits.max_contacts_per_list, 1_000_000);
    limits.max_contacts_per_list = 3;
    env.sb.set_outbound_limits(limits);
    let four = numbers(4);
    env.add(&list, &refs(&four[..3]), "").await;
    let (s, e) = env
        .post(
            &format!("{LISTS}/{list}/contacts"),
            json!([{"id": "c3", "data": {"phone": "+13175550003"}}]),
        )
        .await;
    assert_error(
        s,
        &e,
        StatusCode::BAD_REQUEST,
        "contact.list.size.limit.exceeded",
    );
    // Rewriting contacts already in a full list is fine.
    env.add(&list, &refs(&four[..3]), "").await;
    // And the org-wide limit (5,000,000), across lists.
    let mut limits = env.sb.outbound_limits();
    assert_eq!(limits.max_contacts_per_org, 5_000_000);
    limits.max_contacts_per_org = 4;
    limits.max_contacts_per_list = 1_000_000;
    env.sb.set_outbound_limits(limits);
    let other = env.list().await;
    env.add(&other, &refs(&four[..1]), "").await;
    let (s, e) = env
        .post(
            &format!("{LISTS}/{other}/contacts"),
            json!([{"id": "z", "data": {"phone": "+13175550009"}}]),
        )
        .await;
    assert_error(
        s,
        &e,
        StatusCode::BAD_REQUEST,
        "contact.org.size.limit.exceeded",
    );
    env.sb
        .set_outbound_limits(herald_sandbox::OutboundLimits::default());
    let (s, e) = env
        .post(
            &format!("{LISTS}/{other}/contacts"),
            json!([{"id": "long", "data": {"phone": "+13175550009", "name": "x".repeat(513)}}]),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let (s, _) = env
        .call(Method::DELETE, &format!("{LISTS}/{other}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, _) = env
        .call(Method::DELETE, &format!("{LISTS}/{list}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = env.get(&format!("{LISTS}/{list}")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not.found");
}

#[tokio::test]
async fn re_uploading_the_same_contacts_is_idempotent() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(3);
    let first = env.add(&list, &refs(&contacts), "?doNotQueue=true").await;
    assert_eq!(first.as_array().unwrap().len(), 3);
    assert_eq!(first[0]["id"], "c0");
    assert_eq!(first[0]["contactListId"], list.as_str());
    assert_eq!(first[0]["callable"], true);
    // The same batch again (a retried upload) rewrites, never duplicates.
    env.add(&list, &refs(&contacts), "?doNotQueue=true").await;
    let (_, got) = env.get(&format!("{LISTS}/{list}?includeSize=true")).await;
    assert_eq!(got["size"], 3);
    let changed = [("c1", "+13175559999")];
    env.add(&list, &changed, "?doNotQueue=true").await;
    let (_, got) = env.get(&format!("{LISTS}/{list}?includeSize=true")).await;
    assert_eq!(got["size"], 3);
    let (s, bulk) = env
        .post(
            &format!("{LISTS}/{list}/contacts/bulk"),
            json!(["c1", "c0", "missing"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = bulk
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c0"]);
    assert_eq!(bulk[0]["data"]["phone"], "+13175559999");
    let (s, one) = env.get(&format!("{LISTS}/{list}/contacts/c2")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["data"]["phone"], "+13175550002");
}

#[tokio::test]
async fn content_template_and_message_column_are_exclusive() {
    let env = Env::new().await;
    let list = env.list().await;
    let template = env.template().await;
    let both = env.sms_campaign(
        &list,
        10,
        &json!({"contentTemplate": {"id": template}, "messageColumn": "text"}),
    );
    let (s, e) = env.post(CAMPAIGNS, both).await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let neither = env.sms_campaign(&list, 10, &json!({}));
    let (s, e) = env.post(CAMPAIGNS, neither).await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let unknown_sender = {
        let mut b = env.sms_campaign(&list, 10, &json!({"messageColumn": "text"}));
        b["smsConfig"]["senderSmsPhoneNumber"]["phoneNumber"] = json!("+15559990000");
        b
    };
    let (s, e) = env.post(CAMPAIGNS, unknown_sender).await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
    let with_template = env
        .create(env.sms_campaign(&list, 10, &json!({"contentTemplate": {"id": template}})))
        .await;
    assert_eq!(with_template["campaignStatus"], "off");
    assert_eq!(with_template["version"], 1);
    let with_column = env
        .create(env.sms_campaign(&list, 10, &json!({"messageColumn": "text"})))
        .await;
    assert_eq!(with_column["smsConfig"]["messageColumn"], "text");
}

#[tokio::test]
async fn a_stale_version_is_a_conflict() {
    let env = Env::new().await;
    let list = env.list().await;
    let created = env
        .create(env.sms_campaign(&list, 10, &json!({"messageColumn": "text"})))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let id = id.as_str();
    let mut update = created.clone();
    update["messagesPerMinute"] = json!(20);
    let (s, updated) = env.put(&format!("{CAMPAIGNS}/{id}"), update).await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["messagesPerMinute"], 20);
    let (s, e) = env.put(&format!("{CAMPAIGNS}/{id}"), created.clone()).await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
    let mut no_version = created;
    no_version.as_object_mut().unwrap().remove("version");
    let (s, e) = env.put(&format!("{CAMPAIGNS}/{id}"), no_version).await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "bad.request");
    // A status only the platform sets is refused.
    let (_, mut current) = env.get(&format!("{CAMPAIGNS}/{id}")).await;
    current["campaignStatus"] = json!("complete");
    let (s, e) = env.put(&format!("{CAMPAIGNS}/{id}"), current).await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid.value");
}

#[tokio::test]
async fn the_dispatcher_keeps_messages_per_minute_and_completes() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(25);
    env.add(&list, &refs(&contacts), "").await;
    let template = env.template().await;
    let c = env
        .create(env.sms_campaign(&list, 10, &json!({"contentTemplate": {"id": template}})))
        .await;
    let id = c["id"].as_str().unwrap();
    env.advance_and_dispatch(600).await;
    assert!(
        env.messages().await.is_empty(),
        "an off campaign sends nothing"
    );
    env.set_status(id, "on").await;
    env.sb.dispatch_campaigns().await.unwrap();
    assert_eq!(
        env.messages().await.len(),
        0,
        "nothing at the start instant"
    );
    env.advance_and_dispatch(30).await;
    assert_eq!(env.messages().await.len(), 5);
    env.advance_and_dispatch(30).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 10);
    // In queue order, rendered from the template, from the campaign's sender.
    assert_eq!(sent[0].to, "+13175550000");
    assert_eq!(sent[0].text.as_deref(), Some("Hello Nc0"));
    assert_eq!(sent[0].from, env.sb.from_number());
    let (_, progress) = env.get(&format!("{CAMPAIGNS}/{id}/progress")).await;
    assert_eq!(progress["numberOfContactsMessaged"], 10);
    assert_eq!(progress["totalNumberOfContacts"], 25);
    assert_eq!(progress["percentage"], 40);
    assert_eq!(progress["campaign"]["id"], id);
    assert_eq!(env.status(id).await, "on");
    env.advance_and_dispatch(120).await;
    assert_eq!(env.messages().await.len(), 25);
    assert_eq!(env.status(id).await, "complete");
    let (_, progress) = env.get(&format!("{CAMPAIGNS}/{id}/progress")).await;
    assert_eq!(progress["percentage"], 100);
    // Each recipient received exactly one message.
    let sent = env.messages().await;
    for (_, phone) in &contacts {
        assert_eq!(count_to(&sent, phone), 1, "{phone}");
    }
    let (_, diag) = env.get(&format!("{CAMPAIGNS}/{id}/diagnostics")).await;
    assert_eq!(diag["timeZoneRescheduledContactsCount"], 0);
    let (s, all) = env
        .post(&format!("{CAMPAIGNS}/progress"), json!([id, "missing"]))
        .await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["numberOfContactsMessaged"], 25);
}

#[tokio::test]
async fn stopping_a_campaign_stops_its_messages() {
    let env = Env::new().await;
    let list = env.list().await;
    env.add(&list, &refs(&numbers(10)), "").await;
    let c = env
        .create(env.sms_campaign(&list, 60, &json!({"messageColumn": "text"})))
        .await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(3).await;
    assert_eq!(env.messages().await.len(), 3);
    let (s, _) = env
        .call(Method::POST, &format!("{CAMPAIGNS}/{id}/stop"), None)
        .await;
    assert!(s.is_success());
    assert_eq!(env.status(id).await, "stopping");
    env.advance_and_dispatch(60).await;
    assert_eq!(env.status(id).await, "off");
    assert_eq!(env.messages().await.len(), 3);
    // Started again, it carries on where it stopped (no one messaged twice).
    let (s, _) = env
        .call(Method::POST, &format!("{CAMPAIGNS}/{id}/start"), None)
        .await;
    assert!(s.is_success());
    env.advance_and_dispatch(60).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 10);
    assert_eq!(env.status(id).await, "complete");
    assert!(
        numbers(10)
            .iter()
            .all(|(_, phone)| count_to(&sent, phone) == 1)
    );
}

#[tokio::test]
async fn dnc_listed_and_uncallable_contacts_are_skipped_with_evaluations() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(4);
    env.add(&list, &refs(&contacts), "").await;
    env.post(
        &format!("{LISTS}/{list}/contacts"),
        json!([{"id": "c3", "data": {"phone": "+13175550003", "text": "x"}, "callable": false}]),
    )
    .await;
    let dnc = env
        .ok(
            Method::POST,
            "/api/v2/outbound/dnclists",
            Some(json!({"name": "opt-outs", "dncSourceType": "rds", "contactMethod": "Phone"})),
        )
        .await;
    let dnc_id = dnc["id"].as_str().unwrap();
    let (s, _) = env
        .call(
            Method::PATCH,
            &format!("/api/v2/outbound/dnclists/{dnc_id}/phonenumbers"),
            Some(json!({"action": "Add", "phoneNumbers": ["+13175550001"]})),
        )
        .await;
    assert!(s.is_success());
    let mut body = env.sms_campaign(&list, 60, &json!({"messageColumn": "text"}));
    body["dncLists"] = json!([{"id": dnc_id}]);
    let c = env.create(body).await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(60).await;
    let sent = env.messages().await;
    let to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["+13175550000", "+13175550002"]);
    assert_eq!(env.status(id).await, "complete");
    let (_, progress) = env.get(&format!("{CAMPAIGNS}/{id}/progress")).await;
    assert_eq!(progress["numberOfContactsMessaged"], 2);
    assert_eq!(
        progress["numberOfContactsSkipped"],
        json!({"ININ_OUTBOUND_CONTACT_UNCALLABLE": 1, "ININ_OUTBOUND_ON_DO_NOT_CALL_LIST": 1})
    );
    let (_, bulk) = env
        .post(
            &format!("{LISTS}/{list}/contacts/bulk"),
            json!(["c0", "c1", "c2", "c3"]),
        )
        .await;
    let evaluation = &bulk[0]["latestSmsEvaluations"]["phone"];
    assert_eq!(evaluation["wrapupCodeId"], "OUTBOUND_MESSAGE_SENT");
    assert_eq!(evaluation["contactColumn"], "phone");
    assert_eq!(evaluation["contactAddress"], "+13175550000");
    assert_eq!(evaluation["messageType"], "Sms");
    assert_eq!(evaluation["timestamp"], "2026-11-25T14:01:00.000Z");
    assert_eq!(
        bulk[1]["latestSmsEvaluations"]["phone"]["wrapupCodeId"],
        "ININ_OUTBOUND_ON_DO_NOT_CALL_LIST"
    );
    assert_eq!(
        bulk[3]["latestSmsEvaluations"]["phone"]["wrapupCodeId"],
        "ININ_OUTBOUND_CONTACT_UNCALLABLE"
    );
}

#[tokio::test]
async fn contacts_outside_the_callable_time_set_wait_for_their_window() {
    let env = Env::new().await;
    let list = env.list().await;
    // 14:00 UTC on a Wednesday is 09:00 in New York and 06:00 in Los Angeles.
    env.post(
        &format!("{LISTS}/{list}/contacts"),
        json!([
            {"id": "ny", "data": {"phone": "+13175550001", "tz": "America/New_York", "text": "a"}},
            {"id": "la", "data": {"phone": "+13175550002", "tz": "America/Los_Angeles", "text": "b"}},
        ]),
    )
    .await;
    let time_set = env
        .ok(
            Method::POST,
            "/api/v2/outbound/callabletimesets",
            Some(json!({"name": "daytime", "callableTimes": [{
                "timeZoneId": "America/New_York",
                "timeSlots": (1..=7).map(|d| json!({"startTime": "08:00:00", "stopTime": "20:00:00", "day": d})).collect::<Vec<_>>(),
            }]})),
        )
        .await;
    let mut body = env.sms_campaign(&list, 60, &json!({"messageColumn": "text"}));
    body["callableTimeSet"] = json!({"id": time_set["id"]});
    let c = env.create(body).await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(60).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+13175550001");
    assert_eq!(env.status(id).await, "on");
    let (_, diag) = env.get(&format!("{CAMPAIGNS}/{id}/diagnostics")).await;
    assert_eq!(diag["timeZoneRescheduledContactsCount"], 1);
    // Two hours later it is 08:01 in Los Angeles.
    env.advance_and_dispatch(7200).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].to, "+13175550002");
    assert_eq!(env.status(id).await, "complete");
}

#[tokio::test]
async fn a_complete_campaign_switched_on_again_re_messages_its_list() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(3);
    env.add(&list, &refs(&contacts), "").await;
    let c = env
        .create(env.sms_campaign(&list, 60, &json!({"messageColumn": "text"})))
        .await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(60).await;
    assert_eq!(env.status(id).await, "complete");
    assert_eq!(env.messages().await.len(), 3);
    // The hazard: on again, from the first contact.
    env.set_status(id, "on").await;
    env.advance_and_dispatch(1).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].to, "+13175550000");
    env.advance_and_dispatch(60).await;
    let sent = env.messages().await;
    assert!(contacts.iter().all(|(_, p)| count_to(&sent, p) == 2));
    assert_eq!(env.status(id).await, "complete");

    // The other hazard: resetting the progress of a running campaign.
    env.set_status(id, "on").await;
    env.advance_and_dispatch(60).await;
    assert_eq!(env.messages().await.len(), 9);
    env.set_status(id, "on").await;
    env.advance_and_dispatch(1).await;
    assert_eq!(env.messages().await.len(), 10);
    let (s, _) = env
        .call(Method::DELETE, &format!("{CAMPAIGNS}/{id}/progress"), None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, progress) = env.get(&format!("{CAMPAIGNS}/{id}/progress")).await;
    assert_eq!(progress["numberOfContactsMessaged"], 0);
    env.advance_and_dispatch(60).await;
    // c0 was messaged in this run before the reset, and is messaged again after it.
    let sent = env.messages().await;
    assert_eq!(count_to(&sent, "+13175550000"), 5);
    assert_eq!(count_to(&sent, "+13175550001"), 4);
}

#[tokio::test]
async fn re_uploading_without_do_not_queue_re_queues_a_messaged_contact() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(2);
    env.add(&list, &refs(&contacts), "").await;
    let mut body = env.sms_campaign(&list, 60, &json!({"messageColumn": "text"}));
    body["alwaysRunning"] = json!(true);
    let c = env.create(body).await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(60).await;
    assert_eq!(env.messages().await.len(), 2);
    assert_eq!(env.status(id).await, "on", "always running");
    env.add(&list, &refs(&contacts), "?doNotQueue=true").await;
    env.advance_and_dispatch(60).await;
    assert_eq!(
        env.messages().await.len(),
        2,
        "doNotQueue keeps them processed"
    );
    env.add(&list, &refs(&contacts[..1]), "").await;
    env.advance_and_dispatch(60).await;
    assert_eq!(count_to(&env.messages().await, "+13175550000"), 2);
}

#[tokio::test]
async fn email_campaigns_render_subject_and_body() {
    let env = Env::new().await;
    let list = env.list().await;
    env.post(
        &format!("{LISTS}/{list}/contacts"),
        json!([{"id": "e1", "data": {"email": "ann@example.org", "name": "Ann"}}]),
    )
    .await;
    let lib = env
        .ok(
            Method::POST,
            "/api/v2/responsemanagement/libraries",
            Some(json!({"name": "mail"})),
        )
        .await;
    let t = env
        .ok(
            Method::POST,
            "/api/v2/responsemanagement/responses",
            Some(json!({"name": "mail", "libraries": [{"id": lib["id"]}],
                   "responseType": "CampaignEmailTemplate",
                   "texts": [{"content": "Hi {{name}}", "contentType": "text/plain", "type": "subject"},
                             {"content": "<p>Dear {{name}}</p>", "contentType": "text/html", "type": "body"}]})),
        )
        .await;
    let body = json!({"name": "mail", "contactList": {"id": list}, "messagesPerMinute": 60,
        "campaignStatus": "on",
        "emailConfig": {"emailColumns": ["email"], "contentTemplate": {"id": t["id"]},
                        "fromAddress": {"domain": {"id": "example.com"}, "localPart": "news", "friendlyName": "News"}}});
    let c = env.create(body).await;
    assert_eq!(c["campaignStatus"], "on");
    env.advance_and_dispatch(60).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].from, "news@example.com");
    assert_eq!(sent[0].subject.as_deref(), Some("Hi Ann"));
    assert_eq!(sent[0].html.as_deref(), Some("<p>Dear Ann</p>"));
    let (_, bulk) = env
        .post(&format!("{LISTS}/{list}/contacts/bulk"), json!(["e1"]))
        .await;
    assert_eq!(
        bulk[0]["latestEmailEvaluations"]["email"]["messageType"],
        "Email"
    );
}

#[tokio::test]
async fn permissions_and_faults_apply_to_the_new_endpoints() {
    let env = Env::new().await;
    let list = env.list().await;
    let org = env.sb.org();
    env.sb
        .set_org(OrgSetup {
            permissions: org
                .permissions
                .iter()
                .filter(|p| p.as_str() != "outbound:contact:add")
                .cloned()
                .collect(),
            ..org.clone()
        })
        .unwrap();
    let (s, e) = env
        .post(
            &format!("{LISTS}/{list}/contacts"),
            json!([{"id": "a", "data": {"phone": "+13175550000"}}]),
        )
        .await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "missing.any.permissions");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("outbound:contact:add")
    );
    let (s, e) = env.get(CAMPAIGNS).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    env.sb.set_org(org).unwrap();

    env.sb
        .set_faults(Faults {
            error_5xx_ratio: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let (s, _) = env.get(&format!("{LISTS}/{list}")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    // Dropped after acceptance: the upload is committed although the client saw no answer.
    env.sb
        .set_faults(Faults {
            drop_ratio: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let dropped = env
        .http
        .post(format!("{}{LISTS}/{list}/contacts", env.sb.base_url()))
        .bearer_auth(&env.token)
        .json(&json!([{"id": "a", "data": {"phone": "+13175550000"}}]))
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "the connection is closed without an answer"
    );
    env.sb.set_faults(Faults::default()).unwrap();
    let (_, got) = env.get(&format!("{LISTS}/{list}?includeSize=true")).await;
    assert_eq!(got["size"], 1);
}

#[tokio::test]
async fn large_lists_are_walked_in_batches_and_contact_sorts_order_the_walk() {
    let env = Env::new().await;
    let list = env.list().await;
    let contacts = numbers(1200);
    for chunk in contacts.chunks(1000) {
        env.add(&list, &refs(chunk), "").await;
    }
    let c = env
        .create(env.sms_campaign(&list, 100_000, &json!({"messageColumn": "text"})))
        .await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(1).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 1200);
    assert_eq!(sent[1199].to, "+13175551199");
    assert_eq!(env.status(id).await, "complete");

    // Sorted by a column, descending: the last contact first.
    let sorted_list = env.list().await;
    env.add(&sorted_list, &refs(&numbers(3)), "").await;
    let mut body = env.sms_campaign(&sorted_list, 60, &json!({"messageColumn": "text"}));
    body["contactSorts"] = json!([{"fieldName": "name", "direction": "DESC", "numeric": false}]);
    let c = env.create(body).await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(1).await;
    let sent = env.messages().await;
    assert_eq!(sent.len(), 1201);
    assert_eq!(sent[1200].to, "+13175550002");
    // Priority uploads go to the front of the queue.
    let front = env.list().await;
    env.add(&front, &refs(&numbers(2)), "").await;
    env.add(&front, &[("late", "+13175559999")], "?priority=true")
        .await;
    let c = env
        .create(env.sms_campaign(&front, 60, &json!({"messageColumn": "text"})))
        .await;
    let id = c["id"].as_str().unwrap();
    env.set_status(id, "on").await;
    env.advance_and_dispatch(1).await;
    let sent = env.messages().await;
    assert_eq!(sent.last().unwrap().to, "+13175559999");
}
