//! The review digest: one hash that binds `apply` to the plan a reviewer approved.
//!
//! # Canonical input (review format `herald-review-v2`)
//!
//! One line per object: the environment, the policy and herald's built-in data, then the
//! plan's templates (sorted by name), then its campaigns (sorted by name). Fields are
//! separated by one space; names never hold spaces. An object's name is the words before its
//! first `key=value` field.
//!
//! ```text
//! environment name=NAME target=sandbox|genesys host=HOST org=ID|unknown client=HASH|none settings=HASH
//! policy effective=HASH
//! data herald=VERSION numbering=SOURCE tzdb=ID
//! template NAME content=HASH desired=HASH remote=VERSION|none
//! campaign NAME template=HASH definition=HASH audience=HASH settings=HASH data=HASH rows=N keys=COUNT:HASH outcome=COUNT:HASH
//! ```
//!
//! - `environment`: the target environment's name and kind, the API host (`embedded` for the
//!   built-in sandbox), the org the token acts in and a hash of its OAuth client id (both from
//!   `GET /api/v2/tokens/me`; `unknown`/`none` when Genesys did not say), and SHA-256 of the
//!   environment's effective settings in `herald.yaml` as canonical JSON.
//! - `policy`: SHA-256 of the effective policy as canonical JSON (send window, caps, state
//!   rules as in effect, denied variable patterns, opt-out keywords, and any later field).
//! - `data`: herald's version, the phone-numbering data and the time-zone database in use.
//! - `content`: herald's content hash of the template (what every send records);
//!   `desired`: the canonical hash of the response apply writes; `remote`: the version of the
//!   Genesys response the plan was made against (`none` when there is none yet).
//! - `template`: the content hash of the campaign's template; `definition`: SHA-256 of the
//!   campaign's definition file; `audience`: SHA-256 of the audience's definition file;
//!   `settings`: SHA-256 of the effective campaign and audience model as canonical JSON (with
//!   the campaign's dispatch and `messages_per_minute` unless it is the default agentless);
//!   `data`: SHA-256 of the audience data file's bytes; `rows`: rows in the audience data;
//!   `keys`: the count and digest of the send keys (the keys apply may send to, now or once
//!   held rows open); `outcome`: the count and digest of what those rows send (key, address,
//!   placement, rendered message: see [`super::outcome`]).
//!
//! An object's digest is `sha256:` + hex SHA-256 of its line (UTF-8, no line break). The review
//! digest is `sha256:` + hex SHA-256 of `herald-review-v2\n` followed by every line, each ending
//! in `\n`. The lines hold names, hashes, counts and the org id only: no address.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Plan;
use super::outcome::OutcomeDigest;

/// First line of the canonical input.
pub const REVIEW_FORMAT: &str = "herald-review-v2";

/// The marker that carries the review digest in a Markdown plan.
pub const DIGEST_MARKER: &str = "herald-review-digest:";

/// The marker that carries one object's canonical line in a Markdown plan.
pub const OBJECT_MARKER: &str = "herald-review-object:";

/// The marker that names the review format of a Markdown plan.
pub const FORMAT_MARKER: &str = "herald-review-format:";

/// One reviewed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewObject {
    /// `environment`, `policy`, `data`, `template NAME` or `campaign NAME`.
    pub object: String,
    /// Its canonical line.
    pub input: String,
    /// `sha256:` + hex of the line.
    pub digest: String,
}

/// The definition files' and effective model's hashes of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignDefinition {
    /// SHA-256 of the campaign's file.
    pub campaign: String,
    /// SHA-256 of the audience's definition file.
    pub audience: String,
    /// SHA-256 of the effective campaign and audience model (canonical JSON).
    pub settings: String,
}

/// Where the plan is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvironmentFacts {
    /// The environment's name.
    pub name: String,
    /// `sandbox` or `genesys`.
    pub target: String,
    /// The API host (`embedded` for the built-in sandbox).
    pub host: String,
    /// The org the token acts in.
    pub org: Option<String>,
    /// A hash of the OAuth client id.
    pub client: Option<String>,
    /// SHA-256 of the environment's effective settings.
    pub settings: String,
}

/// Everything besides the plan itself that the review digest covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewInputs {
    /// The target environment.
    pub environment: EnvironmentFacts,
    /// SHA-256 of the effective policy.
    pub policy: String,
    /// `herald=… numbering=… tzdb=…`.
    pub data: String,
    /// Per campaign name.
    pub campaigns: BTreeMap<String, CampaignDefinition>,
}

/// The canonical lines of a plan's objects.
pub fn objects(plan: &Plan, inputs: &ReviewInputs) -> Vec<ReviewObject> {
    let mut out = Vec::new();
    let env = &inputs.environment;
    out.push(object(format!(
        "environment name={} target={} host={} org={} client={} settings={}",
        env.name,
        env.target,
        env.host,
        env.org.as_deref().unwrap_or("unknown"),
        env.client.as_deref().unwrap_or("none"),
        env.settings
    )));
    out.push(object(format!("policy effective={}", inputs.policy)));
    out.push(object(format!("data {}", inputs.data)));
    for t in &plan.templates {
        out.push(object(format!(
            "template {} content={} desired={} remote={}",
            t.name,
            t.content_hash,
            t.desired_remote_hash,
            t.remote
                .as_ref()
                .map_or_else(|| "none".to_owned(), |r| r.version.to_string())
        )));
    }
    let mut campaigns: Vec<_> = plan.campaigns.iter().collect();
    campaigns.sort_by(|a, b| a.name.cmp(&b.name));
    for c in campaigns {
        let def = inputs.campaigns.get(&c.name).cloned().unwrap_or_default();
        out.push(object(format!(
            "campaign {} template={} definition={} audience={} settings={} data={} rows={} keys={}:{} outcome={}:{}",
            c.name,
            c.template_hash,
            def.campaign,
            def.audience,
            def.settings,
            c.audience_hash,
            c.rows,
            c.send_keys.count,
            c.send_keys.digest,
            c.outcome.count,
            c.outcome.digest
        )));
    }
    out
}

/// The object a line describes: its words before the first `key=value` field.
fn object_name(input: &str) -> String {
    input
        .split(' ')
        .take_while(|w| !w.contains('='))
        .collect::<Vec<_>>()
        .join(" ")
}

fn object(input: String) -> ReviewObject {
    let digest = crate::hash::sha256(input.as_bytes()).to_string();
    ReviewObject {
        object: object_name(&input),
        input,
        digest,
    }
}

/// The review digest over the objects' lines.
pub fn digest(objects: &[ReviewObject]) -> String {
    let mut text = format!("{REVIEW_FORMAT}\n");
    for o in objects {
        text.push_str(&o.input);
        text.push('\n');
    }
    crate::hash::sha256(text.as_bytes()).to_string()
}

/// What a Markdown plan's review markers hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarkdownReview {
    /// The review format it names (`None`: a plan of `herald-review-v1`, which named none).
    pub format: Option<String>,
    /// The digest it names.
    pub digest: Option<String>,
    /// Its objects.
    pub objects: Vec<ReviewObject>,
}

/// Reads the reviewed objects from a Markdown plan (its `herald-review-object` markers), the
/// digest and the review format its markers name.
pub fn from_markdown(text: &str) -> MarkdownReview {
    let mut found = MarkdownReview::default();
    for line in text.lines() {
        let Some(inner) = line
            .trim()
            .strip_prefix("<!--")
            .and_then(|l| l.strip_suffix("-->"))
            .map(str::trim)
        else {
            continue;
        };
        if let Some(d) = inner.strip_prefix(DIGEST_MARKER) {
            found.digest = Some(d.trim().to_owned());
        } else if let Some(f) = inner.strip_prefix(FORMAT_MARKER) {
            found.format = Some(f.trim().to_owned());
        } else if let Some(input) = inner.strip_prefix(OBJECT_MARKER) {
            found.objects.push(object(input.trim().to_owned()));
        }
    }
    found
}

/// The Markdown markers of a plan's review: the format, the digest, then one line per object.
pub fn markers(plan: &Plan) -> String {
    let mut out = format!("<!-- {FORMAT_MARKER} {REVIEW_FORMAT} -->\n");
    let _ = writeln!(out, "<!-- {DIGEST_MARKER} {} -->", plan.review_digest);
    for o in &plan.review {
        let _ = writeln!(out, "<!-- {OBJECT_MARKER} {} -->", o.input);
    }
    out
}

fn field<'a>(input: &'a str, key: &str) -> Option<&'a str> {
    input
        .split(' ')
        .find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How the audience's row count moved (or that its bytes changed under the same count).
fn rows_changed(old: &str, now: &str) -> String {
    let n = |i: &str| field(i, "rows").and_then(|v| v.parse::<u64>().ok());
    match (n(old), n(now)) {
        (Some(a), Some(b)) if b > a => format!(
            "its audience gained {} since the review ({a} → {b})",
            plural(b - a, "row", "rows")
        ),
        (Some(a), Some(b)) if b < a => format!(
            "its audience lost {} since the review ({a} → {b})",
            plural(a - b, "row", "rows")
        ),
        (Some(a), Some(b)) => {
            format!("its audience data changed since the review (rows {a} → {b})")
        }
        _ => "its audience data changed since the review".to_owned(),
    }
}

/// How the sends moved: their counts, and how many changed when both sides' groups are known.
fn sends_changed(old: &str, now: &str, groups: Option<(&str, &str)>) -> String {
    let count = |i: &str| {
        field(i, "outcome")
            .and_then(|v| v.split_once(':'))
            .and_then(|(n, _)| n.parse::<u64>().ok())
    };
    let counts = match (count(old), count(now)) {
        (Some(a), Some(b)) => format!("sends {a} → {b}"),
        _ => "sends changed".to_owned(),
    };
    let changed = groups.and_then(|(a, b)| OutcomeDigest::changed_groups(a, b));
    match changed {
        Some(n) if n > 0 => format!(
            "what it sends changed since the review ({counts}; at least {} changed: recipient, address, text, time zone or state)",
            plural(n as u64, "send", "sends")
        ),
        _ => format!(
            "what it sends changed since the review ({counts}; recipient, address, text, time zone or state)"
        ),
    }
}

/// Which fields of a singleton object (environment, data) changed, with their values; hashes
/// are named, not shown.
fn fields_changed(old: &str, now: &str, hidden: &[&str]) -> String {
    let keys: Vec<&str> = now
        .split(' ')
        .filter_map(|f| f.split_once('=').map(|(k, _)| k))
        .collect();
    let mut parts = Vec::new();
    for k in keys {
        let (a, b) = (field(old, k), field(now, k));
        if a == b {
            continue;
        }
        if hidden.contains(&k) {
            parts.push(format!("{k} changed"));
        } else {
            parts.push(format!(
                "{k} {} → {}",
                a.unwrap_or("(none)"),
                b.unwrap_or("(none)")
            ));
        }
    }
    if parts.is_empty() {
        "changed since the review".to_owned()
    } else {
        format!("{} since the review", parts.join(", "))
    }
}

/// The campaigns' outcome groups of a saved plan (name → groups), to count changed sends.
pub fn outcome_groups(plan: &Plan) -> BTreeMap<String, String> {
    plan.campaigns
        .iter()
        .map(|c| (c.name.clone(), c.outcome.groups.clone()))
        .collect()
}

/// Why each object differs between the reviewed objects and the current ones, one sentence
/// per object, in plan order (removed objects last). Empty when they are the same.
/// `reviewed_groups` and `current_groups` are the campaigns' outcome groups when known (a
/// saved plan holds them; a Markdown plan does not).
pub fn differences(
    reviewed: &[ReviewObject],
    current: &[ReviewObject],
    reviewed_groups: &BTreeMap<String, String>,
    current_groups: &BTreeMap<String, String>,
) -> Vec<String> {
    let before: BTreeMap<&str, &ReviewObject> =
        reviewed.iter().map(|o| (o.object.as_str(), o)).collect();
    let mut out = Vec::new();
    for now in current {
        let Some(old) = before.get(now.object.as_str()) else {
            out.push(format!("{}: not in the reviewed plan", now.object));
            continue;
        };
        if old.digest == now.digest {
            continue;
        }
        let changed = |k: &str| field(&old.input, k) != field(&now.input, k);
        let mut why: Vec<String> = Vec::new();
        match now.object.as_str() {
            "environment" => why.push(format!(
                "this run targets another environment: {}",
                fields_changed(&old.input, &now.input, &["client", "settings"])
            )),
            "policy" => why.push(
                "the effective policy in herald.yaml changed since the review (send window, state rules, caps or another policy field)"
                    .to_owned(),
            ),
            "data" => why.push(format!(
                "herald's built-in data changed: {}",
                fields_changed(&old.input, &now.input, &[])
            )),
            _ => {}
        }
        if changed("content") || changed("desired") {
            why.push("its text or settings changed since the review".to_owned());
        }
        if changed("remote") {
            why.push(format!(
                "its Genesys response is version {}, the review saw {}",
                field(&now.input, "remote").unwrap_or("none"),
                field(&old.input, "remote").unwrap_or("none")
            ));
        }
        if changed("template") {
            why.push("its template changed since the review".to_owned());
        }
        if changed("definition") {
            why.push("its campaign file changed since the review".to_owned());
        }
        if changed("audience") {
            why.push("its audience definition changed since the review".to_owned());
        }
        if now.object.starts_with("campaign ") && changed("settings") {
            why.push(
                "its effective settings (sender, schedule, window, rate, dispatch, variables or audience columns) changed since the review"
                    .to_owned(),
            );
        }
        if changed("rows") || (now.object.starts_with("campaign ") && changed("data")) {
            why.push(rows_changed(&old.input, &now.input));
        }
        if changed("outcome") {
            let name = now.object.strip_prefix("campaign ").unwrap_or_default();
            let groups = reviewed_groups
                .get(name)
                .zip(current_groups.get(name))
                .map(|(a, b)| (a.as_str(), b.as_str()));
            why.push(sends_changed(&old.input, &now.input, groups));
        } else if changed("keys") {
            why.push("the recipients it would send to changed since the review".to_owned());
        }
        if why.is_empty() {
            why.push("changed since the review".to_owned());
        }
        out.push(format!("{}: {}", now.object, why.join("; ")));
    }
    let current: Vec<&str> = current.iter().map(|o| o.object.as_str()).collect();
    for old in reviewed {
        if !current.contains(&old.object.as_str()) {
            out.push(format!(
                "{}: reviewed but no longer in the plan",
                old.object
            ));
        }
    }
    out
}

/// Why a plan made during a run (`apply --wait`, when held rows open) is not the approved
/// one: [`differences`] over the lines less what the run itself moves (a campaign's `keys`
/// and `outcome`, as its rows become final; a template's `remote` version, which the run
/// writes and each batch's pre-flight checks), plus any campaign that would now send to more
/// keys than were approved. Empty when the run may go on.
pub fn changed_while_running(reviewed: &[ReviewObject], now: &[ReviewObject]) -> Vec<String> {
    let fixed = |objects: &[ReviewObject]| -> Vec<ReviewObject> {
        objects
            .iter()
            .map(|o| object(without_progress(&o.input)))
            .collect()
    };
    let mut out = differences(
        &fixed(reviewed),
        &fixed(now),
        &BTreeMap::new(),
        &BTreeMap::new(),
    );
    let keys = |objects: &[ReviewObject], name: &str| -> Option<u64> {
        let o = objects.iter().find(|o| o.object == name)?;
        field(&o.input, "keys")?.split(':').next()?.parse().ok()
    };
    for o in now.iter().filter(|o| o.object.starts_with("campaign ")) {
        if let (Some(approved), Some(found)) = (keys(reviewed, &o.object), keys(now, &o.object))
            && found > approved
        {
            out.push(format!(
                "{}: it would now send to {found} recipients, the review approved {approved}",
                o.object
            ));
        }
    }
    out
}

/// A line without the fields a run moves by itself (see [`changed_while_running`]).
fn without_progress(input: &str) -> String {
    let moved: &[&str] = if input.starts_with("campaign ") {
        &["keys=", "outcome="]
    } else if input.starts_with("template ") {
        &["remote="]
    } else {
        &[]
    };
    input
        .split(' ')
        .filter(|f| !moved.iter().any(|m| f.starts_with(m)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(input: &str) -> ReviewObject {
        object(input.to_owned())
    }

    const ENV: &str = "environment name=sandbox target=sandbox host=embedded org=o1 client=none settings=sha256:e";
    const CAMPAIGN: &str = "campaign c template=sha256:1 definition=sha256:3 audience=sha256:4 settings=sha256:6 data=sha256:7 rows=3 keys=2:sha256:5 outcome=2:sha256:8";

    #[test]
    fn digest_is_over_the_documented_canonical_text() {
        let objs = vec![
            obj(ENV),
            obj("policy effective=sha256:p"),
            obj("data herald=0.1.0 numbering=phonenumbers-9.0.43 tzdb=bundled-2026f"),
            obj("template a content=sha256:1 desired=sha256:2 remote=none"),
            obj(CAMPAIGN),
        ];
        let text = format!(
            "herald-review-v2\n{ENV}\npolicy effective=sha256:p\ndata herald=0.1.0 numbering=phonenumbers-9.0.43 tzdb=bundled-2026f\n{}\n{CAMPAIGN}\n",
            objs[3].input
        );
        assert_eq!(
            digest(&objs),
            crate::hash::sha256(text.as_bytes()).to_string()
        );
        assert!(digest(&objs).starts_with("sha256:"));
        assert_eq!(
            objs[0].digest,
            crate::hash::sha256(objs[0].input.as_bytes()).to_string()
        );
        assert_eq!(objs[0].object, "environment");
        assert_eq!(objs[1].object, "policy");
        assert_eq!(objs[2].object, "data");
        assert_eq!(objs[3].object, "template a");
        assert_eq!(objs[4].object, "campaign c");
        assert_ne!(digest(&objs), digest(&objs[..1]));
    }

    #[test]
    fn differences_name_the_object_and_count_added_rows() {
        let none = BTreeMap::new();
        let reviewed = vec![
            obj("template a content=sha256:1 desired=sha256:2 remote=3"),
            obj(CAMPAIGN),
        ];
        assert!(differences(&reviewed, &reviewed, &none, &none).is_empty());
        let now = vec![
            obj("template a content=sha256:9 desired=sha256:8 remote=3"),
            obj(&CAMPAIGN
                .replace("rows=3", "rows=6")
                .replace("keys=2:sha256:5", "keys=5:sha256:6")),
        ];
        let d = differences(&reviewed, &now, &none, &none);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("template a: its text"), "{d:?}");
        assert!(
            d[1].contains("campaign c: its audience gained 3 rows"),
            "{d:?}"
        );
    }

    #[test]
    fn differences_name_the_environment_policy_data_and_changed_sends() {
        let none = BTreeMap::new();
        let reviewed = vec![
            obj(ENV),
            obj("policy effective=sha256:p"),
            obj("data herald=0.1.0 numbering=n tzdb=bundled-2026f"),
            obj(CAMPAIGN),
        ];
        let now = vec![
            obj(&ENV.replace("name=sandbox", "name=prod")),
            obj("policy effective=sha256:q"),
            obj("data herald=0.1.0 numbering=n tzdb=bundled-2026g"),
            obj(&CAMPAIGN
                .replace("data=sha256:7", "data=sha256:70")
                .replace("outcome=2:sha256:8", "outcome=2:sha256:80")),
        ];
        let zero: Vec<String> = (0..crate::plan::outcome::GROUPS)
            .map(|_| "1:00".to_owned())
            .collect();
        let mut one = zero.clone();
        one[5] = "1:ff".to_owned();
        let g = |v: &[String]| BTreeMap::from([("c".to_owned(), v.join(","))]);
        let d = differences(&reviewed, &now, &g(&zero), &g(&one));
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(
            d[0].starts_with(
                "environment: this run targets another environment: name sandbox → prod"
            ),
            "{d:?}"
        );
        assert!(d[1].starts_with("policy: the effective policy"), "{d:?}");
        assert!(d[2].contains("tzdb bundled-2026f → bundled-2026g"), "{d:?}");
        assert!(
            d[3].contains("its audience data changed since the review (rows 3 → 3)"),
            "{d:?}"
        );
        assert!(
            d[3].contains("sends 2 → 2; at least 1 send changed"),
            "{d:?}"
        );
        // Without the groups (a Markdown plan), the counts only.
        let d = differences(&reviewed, &now, &none, &none);
        assert!(
            d[3].contains("what it sends changed since the review (sends 2 → 2;"),
            "{d:?}"
        );
    }

    #[test]
    fn markdown_markers_round_trip() {
        let md = "text\n<!-- herald-review-format: herald-review-v2 -->\n<!-- herald-review-digest: sha256:ab -->\n<!-- herald-review-object: template a content=x desired=y remote=none -->\n";
        let found = from_markdown(md);
        assert_eq!(found.format.as_deref(), Some(REVIEW_FORMAT));
        assert_eq!(found.digest.as_deref(), Some("sha256:ab"));
        assert_eq!(
            found.objects,
            vec![obj("template a content=x desired=y remote=none")]
        );
        assert_eq!(
            from_markdown("<!-- herald-review-digest: sha256:ab -->").format,
            None
        );
    }

    #[test]
    fn a_run_may_move_only_its_own_progress() {
        let reviewed = vec![
            obj(ENV),
            obj("policy effective=sha256:p"),
            obj("template a content=sha256:1 desired=sha256:2 remote=none"),
            obj(CAMPAIGN),
        ];
        // Rows sent during the run and the template the run wrote: the run goes on.
        let progressed = vec![
            obj(ENV),
            obj("policy effective=sha256:p"),
            obj("template a content=sha256:1 desired=sha256:2 remote=3"),
            obj(&CAMPAIGN
                .replace("keys=2:sha256:5", "keys=1:sha256:9")
                .replace("outcome=2:sha256:8", "outcome=1:sha256:7")),
        ];
        assert!(changed_while_running(&reviewed, &progressed).is_empty());
        // More keys than approved: a row the review did not send to.
        let grown = vec![
            obj(ENV),
            obj("policy effective=sha256:p"),
            obj("template a content=sha256:1 desired=sha256:2 remote=3"),
            obj(&CAMPAIGN.replace("keys=2:sha256:5", "keys=3:sha256:9")),
        ];
        let why = changed_while_running(&reviewed, &grown);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(
            why[0].starts_with("campaign c: it would now send to 3"),
            "{why:?}"
        );
        // Anything else that differs is named, as in the approval check.
        for (i, line) in [
            ENV.replace("org=o1", "org=o2"),
            "policy effective=sha256:q".to_owned(),
            "template a content=sha256:9 desired=sha256:2 remote=none".to_owned(),
            CAMPAIGN.replace("data=sha256:7", "data=sha256:70"),
            CAMPAIGN.replace("settings=sha256:6", "settings=sha256:60"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut now = reviewed.clone();
            now[i.min(3)] = obj(&line);
            let why = changed_while_running(&reviewed, &now);
            assert_eq!(why.len(), 1, "{line}: {why:?}");
        }
    }
}
