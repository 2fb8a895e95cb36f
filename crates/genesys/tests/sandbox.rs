//! The client against the herald sandbox (an independent emulator with its own wire types):
//! end-to-end shapes, faults (5xx, accept-then-drop, 429 bursts, short tokens) and the rate
//! limiter measured from the sandbox's own arrival times.

use std::time::Duration;

use herald_genesys::{
    AgentlessSms, ApiError, ClientConfig, Credentials, EntityRef, GenesysClient, ResponseDraft,
    ResponseQuery, ResponseText, ResponseType, RetryPolicy, SecretString, SlidingLog,
    TextContentType,
};
use herald_sandbox::{Faults, RunningSandbox, SandboxConfig};

async fn sandbox(rate_limit_per_minute: Option<u32>) -> RunningSandbox {
    herald_sandbox::start(
        SandboxConfig {
            rate_limit_per_minute,
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn client(sb: &RunningSandbox, requests_per_minute: Option<u32>) -> GenesysClient {
    let mut config = ClientConfig::new(
        sb.base_url(),
        Credentials::new(
            sb.client_id(),
            SecretString::from(sb.client_secret().to_owned()),
        ),
    );
    config.requests_per_minute = requests_per_minute;
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    GenesysClient::new(config).unwrap()
}

fn sms(sb: &RunningSandbox, i: usize) -> AgentlessSms {
    AgentlessSms {
        from: sb.from_number().to_owned(),
        to: format!("+1555010{i:04}"),
        text: format!("Your order ORD-{i} has shipped."),
    }
}

fn draft(name: &str, library: &str, text: &str) -> ResponseDraft {
    ResponseDraft {
        name: name.to_owned(),
        libraries: vec![EntityRef::id(library)],
        response_type: Some(ResponseType::CampaignSmsTemplate),
        texts: vec![ResponseText {
            content: text.to_owned(),
            content_type: TextContentType::Plain,
            text_type: None,
        }],
        substitutions: vec![],
    }
}

#[tokio::test]
async fn response_management_round_trip_paging_query_and_conflict() {
    let sb = sandbox(None).await;
    let c = client(&sb, None);
    let lib = c.create_library("Herald campaigns").await.unwrap();
    assert_eq!(
        c.find_library_by_name("Herald campaigns")
            .await
            .unwrap()
            .map(|l| l.id),
        Some(lib.id.clone())
    );
    for i in 0..130 {
        c.create_response(&draft(&format!("t-{i:03}"), &lib.id, "Hi {{first}}"))
            .await
            .unwrap();
    }
    let all = c.list_responses(&lib.id).await.unwrap();
    assert_eq!(all.len(), 130, "two pages of 100");
    let mut names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 130);

    let found = c
        .query_responses(&ResponseQuery {
            name: Some("t-007".into()),
            library_id: Some(lib.id.clone()),
            response_type: Some(ResponseType::CampaignSmsTemplate),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let r = c.get_response(&found[0].id).await.unwrap();
    assert_eq!(r.texts[0].content, "Hi {{first}}");

    let updated = c
        .update_response(
            &r.id,
            r.version,
            &draft("t-007", &lib.id, "Hello {{first}}"),
        )
        .await
        .unwrap();
    assert!(updated.version > r.version);
    let err = c
        .update_response(&r.id, r.version, &draft("t-007", &lib.id, "stale"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
    assert!(err.code().is_some());

    c.delete_response(&r.id).await.unwrap();
    assert!(matches!(
        c.get_response(&r.id).await,
        Err(ApiError::NotFound { .. })
    ));
}

#[tokio::test]
async fn sends_are_recorded_and_details_dnc_and_analytics_agree() {
    let sb = sandbox(None).await;
    let c = client(&sb, None);
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let sent = c.send_sms(&sms(&sb, 1)).await.unwrap();
    let messages = sb.messages().await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, sent.message_id);
    assert_eq!(messages[0].conversation_id, sent.conversation_id);

    let details = c.message_details(&sent.message_id).await.unwrap();
    assert_eq!(details.id, sent.message_id);
    assert!(!details.recipient_opted_out());

    let after = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    let found = c
        .find_conversations(&sms(&sb, 1).to, before, after)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|f| f.conversation_id.as_str())
            .collect::<Vec<_>>(),
        vec![sent.conversation_id.as_str()]
    );

    let list = c.create_dnc_list("herald-suppressions").await.unwrap();
    c.add_dnc_phone_numbers(&list.id, &[sms(&sb, 2).to])
        .await
        .unwrap();
    let lists = c.list_dnc_lists().await.unwrap();
    assert!(lists.iter().any(|l| l.id == list.id));
}

#[tokio::test]
async fn under_faults_reads_recover_and_sends_are_never_duplicated() {
    let sb = sandbox(None).await;
    let c = client(&sb, None);
    let lib = c.create_library("lib").await.unwrap();

    // Every request fails with 503: a read is retried and exhausts, a send is Unknown once.
    sb.set_faults(Faults {
        error_5xx_ratio: 1.0,
        ..Faults::default()
    })
    .unwrap();
    assert!(matches!(
        c.list_responses(&lib.id).await,
        Err(ApiError::Server { .. })
    ));
    assert!(matches!(
        c.send_sms(&sms(&sb, 1)).await,
        Err(ApiError::Unknown { .. })
    ));
    assert!(
        sb.messages().await.unwrap().is_empty(),
        "503 before handling"
    );

    // Some requests fail (seeded, so the sequence is reproducible): reads still succeed
    // thanks to retries.
    sb.set_faults(Faults {
        error_5xx_ratio: 0.3,
        ..Faults::default()
    })
    .unwrap();
    for _ in 0..5 {
        c.list_responses(&lib.id).await.unwrap();
    }

    // Accept-then-drop: the send is Unknown, the sandbox kept exactly one message.
    sb.set_faults(Faults {
        drop_ratio: 1.0,
        ..Faults::default()
    })
    .unwrap();
    let err = c.send_sms(&sms(&sb, 2)).await.unwrap_err();
    assert!(matches!(err, ApiError::Unknown { .. }), "{err:?}");
    let kept: Vec<_> = sb
        .messages()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.to == sms(&sb, 2).to)
        .collect();
    assert_eq!(kept.len(), 1, "maybe-sent means sent once, not twice");

    // A 429 burst is waited out and the send goes through exactly once.
    sb.set_faults(Faults {
        burst_429: 2,
        burst_retry_after_secs: 1,
        ..Faults::default()
    })
    .unwrap();
    c.send_sms(&sms(&sb, 3)).await.unwrap();
    let to = sms(&sb, 3).to;
    let count = sb
        .messages()
        .await
        .unwrap()
        .iter()
        .filter(|m| m.to == to)
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_before_they_expire() {
    let sb = sandbox(None).await;
    sb.set_token_lifetime(2);
    let c = client(&sb, None);
    c.send_sms(&sms(&sb, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    c.send_sms(&sms(&sb, 2)).await.unwrap();
    assert_eq!(c.token_requests(), 2, "renewed at half the 2 s lifetime");
}

/// Sends `n` SMS from `workers` concurrent tasks and returns the sandbox arrival times (ms).
async fn burst(sb: &RunningSandbox, c: &GenesysClient, n: usize, workers: usize) -> Vec<i64> {
    let mut set = tokio::task::JoinSet::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..workers {
        let c = c.clone();
        let next = std::sync::Arc::clone(&next);
        let from = sb.from_number().to_owned();
        set.spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return results;
                }
                let msg = AgentlessSms {
                    from: from.clone(),
                    to: format!("+1555010{i:04}"),
                    text: "hi".into(),
                };
                results.push(c.send_sms(&msg).await);
            }
        });
    }
    while let Some(results) = set.join_next().await {
        for r in results.unwrap() {
            // The 429 wait budget is 0: any 429 would surface here.
            r.unwrap();
        }
    }
    let mut arrivals: Vec<i64> = sb
        .messages()
        .await
        .unwrap()
        .iter()
        .map(|m| m.accepted_at.as_millisecond())
        .collect();
    arrivals.sort_unstable();
    assert_eq!(arrivals.len(), n);
    arrivals
}

/// The most arrivals in any half-open 60 s window `[t, t + 60 s)` (two-pointer sweep).
fn max_in_any_minute(arrivals: &[i64]) -> usize {
    let mut max = 0;
    let mut lo = 0;
    for hi in 0..arrivals.len() {
        while arrivals[hi] - arrivals[lo] >= 60_000 {
            lo += 1;
        }
        max = max.max(hi - lo + 1);
    }
    max
}

fn strict_client(sb: &RunningSandbox, limit: u32) -> GenesysClient {
    let mut config = ClientConfig::new(
        sb.base_url(),
        Credentials::new(
            sb.client_id(),
            SecretString::from(sb.client_secret().to_owned()),
        ),
    );
    config.requests_per_minute = Some(limit);
    config.rate_limit_wait_budget = Duration::ZERO;
    GenesysClient::new(config).unwrap()
}

/// Fast version: the client's sliding log shapes a burst the way the rule says — at most
/// `limit / 20` requests at once, then one per `60.5 s / limit` — with zero 429s.
#[tokio::test]
async fn rate_limiter_paces_a_burst_with_zero_429s() {
    let limit = 120;
    let sb = sandbox(Some(limit)).await;
    let c = strict_client(&sb, limit);
    c.authenticate().await.unwrap();
    let n = 24;
    let arrivals = burst(&sb, &c, n, 8).await;
    let span = Duration::from_millis(u64::try_from(arrivals[n - 1] - arrivals[0]).unwrap());
    // After the burst of 6, the remaining 18 need at least 18 spacings of ~504 ms (~9 s).
    let spacing = (herald_genesys::LIMIT_WINDOW + herald_genesys::DEFAULT_JITTER_MARGIN) / limit;
    // (less the jitter margin: these are server arrival times, not client start times)
    let floor = (spacing * 18).saturating_sub(herald_genesys::DEFAULT_JITTER_MARGIN);
    assert!(span >= floor, "{span:?} < {floor:?}");
    assert!(max_in_any_minute(&arrivals) <= limit as usize);
    let stats = sb.stats();
    assert_eq!(stats.too_many_requests, 0);
    assert_eq!(
        stats.requests_to("POST", "/api/v2/conversations/messages/agentless"),
        n as u64
    );
}

/// The acceptance test: 2,000 sends against the sandbox's default 300/min limit produce zero
/// 429s, no 60 s window over the limit, and at least 98 % of the limit sustained. Takes about
/// 6.7 minutes; run it with
/// `cargo test -p herald-genesys --test sandbox -- --ignored two_thousand`.
#[tokio::test]
#[ignore = "takes about 6.7 minutes of real time"]
async fn two_thousand_sends_at_300_per_minute_never_exceed_the_limit() {
    let limit = herald_sandbox::DEFAULT_RATE_LIMIT_PER_MINUTE;
    let sb = sandbox(Some(limit)).await;
    let c = strict_client(&sb, limit);
    c.authenticate().await.unwrap();
    let arrivals = burst(&sb, &c, 2_000, 32).await;
    let max = max_in_any_minute(&arrivals);
    assert!(max <= limit as usize, "{max} requests in one 60 s window");
    let stats = sb.stats();
    assert_eq!(stats.too_many_requests, 0);
    assert!(stats.max_admitted_in_60s <= u64::from(limit));
    // Utilisation over the whole run, opening burst included: ≥ 98 % of the limit.
    let span_ms = u32::try_from(arrivals[1_999] - arrivals[0]).unwrap();
    let per_minute = 1_999.0 * 60_000.0 / f64::from(span_ms);
    let log = SlidingLog::new(limit, herald_genesys::DEFAULT_JITTER_MARGIN).unwrap();
    assert!(per_minute >= 0.98 * f64::from(limit), "{per_minute:.1}/min");
    assert!(
        per_minute <= log.sustained_per_minute() * 1.01,
        "{per_minute:.1}/min"
    );
}

/// A 429 burst (the sandbox's fault) is waited out by every worker together while the total
/// wait stays within the budget; past the budget the calls fail with a typed `RateLimited`
/// that says how long the client waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_is_waited_out_until_the_wait_budget_is_spent() {
    let sb = sandbox(None).await;
    let mut config = ClientConfig::new(
        sb.base_url(),
        Credentials::new(
            sb.client_id(),
            SecretString::from(sb.client_secret().to_owned()),
        ),
    );
    // Ten 1 s pauses cannot exceed 12 s even if none overlap (a loaded machine).
    config.rate_limit_wait_budget = Duration::from_secs(12);
    let c = GenesysClient::new(config.clone()).unwrap();
    c.authenticate().await.unwrap();
    // Ten 429s with Retry-After: 1 across 4 workers: more than the old 5 retries per request.
    sb.set_faults(Faults {
        burst_429: 10,
        burst_retry_after_secs: 1,
        ..Faults::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..4 {
        let c = c.clone();
        let msg = sms(&sb, i);
        set.spawn(async move { c.send_sms(&msg).await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    let waited = c.rate_limited_wait();
    assert!(
        waited >= Duration::from_secs(1) && waited <= Duration::from_secs(12),
        "{waited:?}"
    );
    assert_eq!(
        sb.messages().await.unwrap().len(),
        4,
        "each sent exactly once"
    );
    let route = "/api/v2/conversations/messages/agentless";
    assert_eq!(sb.stats().too_many_requests_to("POST", route), 10);

    // A burst longer than the budget: the client waits what is left of it, then gives up.
    sb.set_faults(Faults {
        burst_429: 1_000,
        burst_retry_after_secs: 1,
        ..Faults::default()
    })
    .unwrap();
    config.rate_limit_wait_budget = Duration::from_secs(5);
    let c = GenesysClient::new(config).unwrap();
    let err = c.send_sms(&sms(&sb, 9)).await.unwrap_err();
    match &err {
        ApiError::RateLimited {
            waited,
            budget,
            retry_after,
            ..
        } => {
            assert_eq!(*budget, Duration::from_secs(5));
            assert!(
                *waited <= *budget && *waited > Duration::from_secs(3),
                "{waited:?}"
            );
            assert_eq!(*retry_after, Some(Duration::from_secs(1)));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_definitely_not_sent());
    let text = err.to_string();
    assert!(
        text.contains("of the 5s wait budget") && text.contains("rerun to resume"),
        "{text}"
    );
    assert_eq!(sb.messages().await.unwrap().len(), 4);
    sb.shutdown().await;
}

/// Everything `herald doctor` reads, against the sandbox's seeded org, and each failure the
/// sandbox can be set up for: a number unprovisioned, a domain removed, a permission dropped.
#[tokio::test]
async fn org_setup_reads_token_permissions_numbers_domains_and_limits() {
    let sb = sandbox(Some(300)).await;
    let c = client(&sb, None);

    let info = c.token_info().await.unwrap();
    let oauth = info.oauth_client.unwrap();
    assert_eq!(oauth.id, sb.client_id());
    assert_eq!(
        oauth.authorized_grant_type.as_deref(),
        Some("CLIENT-CREDENTIALS")
    );
    assert_eq!(oauth.role_divisions.len(), 1);
    assert!(info.organization.unwrap().id.is_some());

    let granted = c.granted_permissions().await.unwrap();
    assert!(
        granted.contains(&"conversation:message:create".to_owned()),
        "{granted:?}"
    );
    assert!(
        herald_genesys::missing_permissions(&granted).is_empty(),
        "{granted:?}"
    );

    let numbers = c.sms_phone_numbers().await.unwrap();
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].phone_number, sb.from_number());
    assert!(numbers[0].can_send_sms());

    let domains = c.outbound_email_domains().await.unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].id, herald_sandbox::DEFAULT_EMAIL_DOMAIN);
    assert!(
        c.outbound_email_domain("example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        c.outbound_email_domain("elsewhere.test")
            .await
            .unwrap()
            .is_none()
    );

    let limits = c.org_limits("platform.api").await.unwrap();
    assert!(
        limits
            .iter()
            .any(|l| l.key == "client.credentials.token.rate.per.minute" && l.value == 300),
        "{limits:?}"
    );
    assert!(c.org_limits("messaging").await.unwrap().is_empty());
    assert!(c.list_dnc_lists().await.unwrap().is_empty());

    // Failure set-ups: the sandbox reports them and enforces them.
    let mut org = sb.org();
    org.sms_numbers.clear();
    org.email_domains.clear();
    org.permissions
        .retain(|p| p != "conversation:message:create" && p != "outbound:dnc:add");
    sb.set_org(org).unwrap();
    assert!(c.sms_phone_numbers().await.unwrap().is_empty());
    assert!(
        c.outbound_email_domain("example.com")
            .await
            .unwrap()
            .is_none()
    );
    let missing: Vec<&str> =
        herald_genesys::missing_permissions(&c.granted_permissions().await.unwrap())
            .iter()
            .map(|r| r.path)
            .collect();
    assert_eq!(
        missing,
        [
            "/api/v2/conversations/messages/agentless",
            "/api/v2/outbound/dnclists/{dncListId}/phonenumbers"
        ]
    );
    // A dropped permission: 403 missing.any.permissions naming it.
    let err = c.send_sms(&sms(&sb, 1)).await.unwrap_err();
    assert!(matches!(err, ApiError::Forbidden { .. }), "{err:?}");
    assert_eq!(err.code(), Some("missing.any.permissions"));
    assert!(
        err.to_string().contains("conversation:message:create"),
        "{err}"
    );
    // With the permission back, the unprovisioned number is refused.
    let mut org = sb.org();
    org.permissions
        .push("conversation:message:create".to_owned());
    sb.set_org(org).unwrap();
    let err = c.send_sms(&sms(&sb, 1)).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert!(sb.messages().await.unwrap().is_empty());

    // Every doctor read is counted under its route template.
    let stats = sb.stats();
    for (method, route) in [
        ("GET", "/api/v2/tokens/me"),
        ("GET", "/api/v2/authorization/subjects/me"),
        ("GET", "/api/v2/routing/sms/phonenumbers"),
        ("GET", "/api/v2/routing/email/outbound/domains"),
        ("GET", "/api/v2/routing/email/outbound/domains/{domainId}"),
        (
            "GET",
            "/api/v2/organizations/limits/namespaces/{namespaceName}",
        ),
    ] {
        assert!(stats.requests_to(method, route) >= 1, "{method} {route}");
    }
    sb.shutdown().await;
}

/// Bulk reconcile: one paged query per sender returns every conversation of the interval
/// (250 here: pages of 100, so 3 requests), none from another sender or outside the interval.
#[tokio::test]
async fn conversations_from_a_sender_are_read_in_pages() {
    let sb = sandbox(None).await;
    let c = client(&sb, None);
    let mut org = sb.org();
    org.sms_numbers.push("+15550002222".to_owned());
    sb.set_org(org).unwrap();
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    for i in 0..250 {
        c.send_sms(&sms(&sb, i)).await.unwrap();
    }
    for i in 0..5 {
        let mut other = sms(&sb, 1_000 + i);
        other.from = "+15550002222".to_owned();
        c.send_sms(&other).await.unwrap();
    }
    let end = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    sb.reset_stats();
    let found = c
        .conversations_from(sb.from_number(), start, end)
        .await
        .unwrap();
    assert_eq!(found.len(), 250);
    let route = "/api/v2/analytics/conversations/details/query";
    assert_eq!(sb.stats().requests_to("POST", route), 3);
    let mut to: Vec<String> = found.iter().filter_map(|s| s.address_to.clone()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(
        to.len(),
        250,
        "each recipient once, addresses from the sender's session"
    );
    assert!(
        found
            .iter()
            .all(|s| s.address_from.as_deref() == Some(sb.from_number()))
    );
    let accepted = sb.messages().await.unwrap();
    let first_ids: std::collections::BTreeSet<&str> = accepted
        .iter()
        .filter(|m| m.from == sb.from_number())
        .map(|m| m.conversation_id.as_str())
        .collect();
    assert!(
        found
            .iter()
            .all(|s| first_ids.contains(s.conversation_id.as_str()))
    );
    // An interval that ends before the sends finds nothing.
    let none = c
        .conversations_from(
            sb.from_number(),
            start - jiff::SignedDuration::from_secs(3600),
            start,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    sb.shutdown().await;
}
