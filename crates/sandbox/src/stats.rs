//! Request accounting: how many requests the sandbox answered, per method and route template
//! (e.g. `GET /api/v2/responsemanagement/responses/{responseId}`), how many of them were
//! `429 Too Many Requests`, and the most requests one token had admitted in any 60 s window.
//! Served as JSON at `GET /__sandbox/stats` (reset with `DELETE /__sandbox/stats`), so tests and
//! benchmarks can assert request budgets.
//!
//! Invariants: a route is counted under its template, never its concrete path (ids and
//! addresses never appear in the stats); every `/api/v2` request that reached a route and every
//! `/oauth/token` request is counted exactly once; admin requests are not counted; the 60 s
//! window maximum counts only requests that passed the rate limiter (a refused request does not
//! count against the limit), per token, by the sandbox clock.

use std::collections::{BTreeMap, HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Requests and 429 answers of one method + route template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Route template, e.g. `/api/v2/conversations/messages/agentless`.
    pub route: String,
    /// Requests answered (429s included).
    pub requests: u64,
    /// Of those, answered `429 Too Many Requests`.
    pub too_many_requests: u64,
}

/// The body of `GET /__sandbox/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStats {
    /// When counting started (sandbox start or the last reset).
    pub since: Option<Timestamp>,
    /// All requests counted.
    pub requests: u64,
    /// All 429 answers.
    pub too_many_requests: u64,
    /// The most requests a single token had admitted (not refused with 429) in any 60 s
    /// window — what a per-token limit of `L`/min must keep at or below `L`.
    pub max_admitted_in_60s: u64,
    /// Per method and route template, sorted by route then method.
    pub routes: Vec<RouteStats>,
}

impl SandboxStats {
    fn find(&self, method: &str, route: &str) -> Option<&RouteStats> {
        self.routes
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.route == route)
    }

    /// Requests counted for `method` and `route` (a template), 0 if none.
    pub fn requests_to(&self, method: &str, route: &str) -> u64 {
        self.find(method, route).map_or(0, |r| r.requests)
    }

    /// 429 answers for `method` and `route` (a template), 0 if none.
    pub fn too_many_requests_to(&self, method: &str, route: &str) -> u64 {
        self.find(method, route).map_or(0, |r| r.too_many_requests)
    }
}

const WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// The live counters (inside the sandbox runtime lock).
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    since: Option<Timestamp>,
    routes: BTreeMap<(String, String), (u64, u64)>,
    windows: HashMap<String, VecDeque<Timestamp>>,
    max_admitted_in_60s: u64,
}

impl StatsRecorder {
    pub(crate) fn new(now: Timestamp) -> Self {
        Self {
            since: Some(now),
            ..Self::default()
        }
    }

    /// Counts one request.
    pub(crate) fn record(&mut self, method: &str, route: &str) {
        self.routes
            .entry((route.to_owned(), method.to_owned()))
            .or_default()
            .0 += 1;
    }

    /// Marks a request already counted by [`Self::record`] as answered 429.
    pub(crate) fn too_many(&mut self, method: &str, route: &str) {
        self.routes
            .entry((route.to_owned(), method.to_owned()))
            .or_default()
            .1 += 1;
    }

    /// Notes a request of `token` admitted by the rate limiter at `now`.
    pub(crate) fn admitted(&mut self, token: &str, now: Timestamp) {
        let log = self.windows.entry(token.to_owned()).or_default();
        while log
            .front()
            .is_some_and(|&t| now.duration_since(t) >= WINDOW)
        {
            log.pop_front();
        }
        log.push_back(now);
        self.max_admitted_in_60s = self.max_admitted_in_60s.max(log.len() as u64);
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let routes: Vec<RouteStats> = self
            .routes
            .iter()
            .map(|((route, method), (requests, too_many))| RouteStats {
                method: method.clone(),
                route: route.clone(),
                requests: *requests,
                too_many_requests: *too_many,
            })
            .collect();
        SandboxStats {
            since: self.since,
            requests: routes.iter().map(|r| r.requests).sum(),
            too_many_requests: routes.iter().map(|r| r.too_many_requests).sum(),
            max_admitted_in_60s: self.max_admitted_in_60s,
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_template_and_tracks_the_busiest_window() {
        let t0: Timestamp = "2026-11-25T14:00:00Z".parse().unwrap();
        let mut s = StatsRecorder::new(t0);
        s.record("GET", "/a/{id}");
        s.record("GET", "/a/{id}");
        s.too_many("GET", "/a/{id}");
        s.record("POST", "/a/{id}");
        for i in 0..10 {
            s.admitted("tok", t0 + SignedDuration::from_secs(i * 10));
        }
        // 0, 10, ..., 90 s: any 60 s window holds at most 6 of them.
        s.admitted("other", t0);
        let snap = s.snapshot();
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.too_many_requests, 1);
        assert_eq!(snap.requests_to("GET", "/a/{id}"), 2);
        assert_eq!(snap.too_many_requests_to("get", "/a/{id}"), 1);
        assert_eq!(snap.requests_to("POST", "/a/{id}"), 1);
        assert_eq!(snap.requests_to("DELETE", "/a/{id}"), 0);
        assert_eq!(snap.max_admitted_in_60s, 6);
    }
}
