//! The review digest: one hash that binds `apply` to the plan a reviewer approved.
//!
//! # Canonical input (review format `herald-review-v1`)
//!
//! One line per object of the plan, templates first (in plan order, sorted by name), then
//! campaigns (sorted by name). Fields are separated by one space; names never hold spaces.
//!
//! ```text
//! template NAME content=HASH desired=HASH remote=VERSION|none
//! campaign NAME template=HASH definition=HASH audience=HASH rows=N keys=COUNT:HASH
//! ```
//!
//! - `content`: herald's content hash of the template (what every send records);
//!   `desired`: the canonical hash of the response apply writes; `remote`: the version of the
//!   Genesys response the plan was made against (`none` when there is none yet).
//! - `template`: the content hash of the campaign's template; `definition`: SHA-256 of the
//!   campaign's definition file; `audience`: SHA-256 of the audience's definition file;
//!   `rows`: rows in the audience data; `keys`: the count and digest of the send keys
//!   (the keys apply may send to, now or once held rows open).
//!
//! An object's digest is `sha256:` + hex SHA-256 of its line (UTF-8, no line break). The review
//! digest is `sha256:` + hex SHA-256 of `herald-review-v1\n` followed by every line, each ending
//! in `\n`. The lines hold names, hashes and counts only: no address.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Plan;

/// First line of the canonical input.
pub const REVIEW_FORMAT: &str = "herald-review-v1";

/// The marker that carries the review digest in a Markdown plan.
pub const DIGEST_MARKER: &str = "herald-review-digest:";

/// The marker that carries one object's canonical line in a Markdown plan.
pub const OBJECT_MARKER: &str = "herald-review-object:";

/// One reviewed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewObject {
    /// `template NAME` or `campaign NAME`.
    pub object: String,
    /// Its canonical line.
    pub input: String,
    /// `sha256:` + hex of the line.
    pub digest: String,
}

/// The definition files' hashes of a campaign (from the plan's inputs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignDefinition {
    /// SHA-256 of the campaign's file.
    pub campaign: String,
    /// SHA-256 of the audience's definition file.
    pub audience: String,
}

/// The canonical lines of a plan's objects. `definitions` maps a campaign name to its
/// definition files' hashes.
pub fn objects(
    plan: &Plan,
    definitions: &BTreeMap<String, CampaignDefinition>,
) -> Vec<ReviewObject> {
    let mut out = Vec::new();
    for t in &plan.templates {
        let input = format!(
            "template {} content={} desired={} remote={}",
            t.name,
            t.content_hash,
            t.desired_remote_hash,
            t.remote
                .as_ref()
                .map_or_else(|| "none".to_owned(), |r| r.version.to_string())
        );
        out.push(object(format!("template {}", t.name), input));
    }
    let mut campaigns: Vec<_> = plan.campaigns.iter().collect();
    campaigns.sort_by(|a, b| a.name.cmp(&b.name));
    for c in campaigns {
        let def = definitions.get(&c.name).cloned().unwrap_or_default();
        let input = format!(
            "campaign {} template={} definition={} audience={} rows={} keys={}:{}",
            c.name,
            c.template_hash,
            def.campaign,
            def.audience,
            c.rows,
            c.send_keys.count,
            c.send_keys.digest
        );
        out.push(object(format!("campaign {}", c.name), input));
    }
    out
}

fn object(object: String, input: String) -> ReviewObject {
    let digest = crate::hash::sha256(input.as_bytes()).to_string();
    ReviewObject {
        object,
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

/// Reads the reviewed objects from a Markdown plan (its `herald-review-object` markers) and
/// the digest its marker names.
pub fn from_markdown(text: &str) -> (Option<String>, Vec<ReviewObject>) {
    let mut digest_found = None;
    let mut found = Vec::new();
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
            digest_found = Some(d.trim().to_owned());
        } else if let Some(input) = inner.strip_prefix(OBJECT_MARKER) {
            let input = input.trim().to_owned();
            let name: Vec<&str> = input.splitn(3, ' ').take(2).collect();
            found.push(object(name.join(" "), input));
        }
    }
    (digest_found, found)
}

/// The Markdown markers of a plan's review: the digest, then one line per object.
pub fn markers(plan: &Plan) -> String {
    let mut out = format!("<!-- {DIGEST_MARKER} {} -->\n", plan.review_digest);
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

/// How the audience's row count moved.
fn rows_changed(old: &str, now: &str) -> String {
    let n = |i: &str| field(i, "rows").and_then(|v| v.parse::<u64>().ok());
    match (n(old), n(now)) {
        (Some(a), Some(b)) if b >= a => format!(
            "its audience gained {} row{} since the review ({a} → {b})",
            b - a,
            if b - a == 1 { "" } else { "s" }
        ),
        (Some(a), Some(b)) => format!(
            "its audience lost {} row{} since the review ({a} → {b})",
            a - b,
            if a - b == 1 { "" } else { "s" }
        ),
        _ => "its audience rows changed since the review".to_owned(),
    }
}

/// Why each object differs between the reviewed objects and the current ones, one sentence
/// per object, in plan order (removed objects last). Empty when they are the same.
pub fn differences(reviewed: &[ReviewObject], current: &[ReviewObject]) -> Vec<String> {
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
        if changed("rows") {
            why.push(rows_changed(&old.input, &now.input));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(input: &str) -> ReviewObject {
        let name: Vec<&str> = input.splitn(3, ' ').take(2).collect();
        object(name.join(" "), input.to_owned())
    }

    #[test]
    fn digest_is_over_the_documented_canonical_text() {
        let objs = vec![
            obj("template a content=sha256:1 desired=sha256:2 remote=none"),
            obj(
                "campaign c template=sha256:1 definition=sha256:3 audience=sha256:4 rows=3 keys=2:sha256:5",
            ),
        ];
        let text = format!("herald-review-v1\n{}\n{}\n", objs[0].input, objs[1].input);
        assert_eq!(
            digest(&objs),
            crate::hash::sha256(text.as_bytes()).to_string()
        );
        assert!(digest(&objs).starts_with("sha256:"));
        assert_eq!(
            objs[0].digest,
            crate::hash::sha256(objs[0].input.as_bytes()).to_string()
        );
        assert_ne!(digest(&objs), digest(&objs[..1]));
    }

    #[test]
    fn differences_name_the_object_and_count_added_rows() {
        let reviewed = vec![
            obj("template a content=sha256:1 desired=sha256:2 remote=3"),
            obj(
                "campaign c template=sha256:1 definition=sha256:3 audience=sha256:4 rows=3 keys=2:sha256:5",
            ),
        ];
        assert!(differences(&reviewed, &reviewed).is_empty());
        let now = vec![
            obj("template a content=sha256:9 desired=sha256:8 remote=3"),
            obj(
                "campaign c template=sha256:1 definition=sha256:3 audience=sha256:4 rows=6 keys=5:sha256:6",
            ),
        ];
        let d = differences(&reviewed, &now);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("template a: its text"), "{d:?}");
        assert!(
            d[1].contains("campaign c: its audience gained 3 rows"),
            "{d:?}"
        );
    }

    #[test]
    fn markdown_markers_round_trip() {
        let md = "text\n<!-- herald-review-digest: sha256:ab -->\n<!-- herald-review-object: template a content=x desired=y remote=none -->\n";
        let (d, objs) = from_markdown(md);
        assert_eq!(d.as_deref(), Some("sha256:ab"));
        assert_eq!(
            objs,
            vec![obj("template a content=x desired=y remote=none")]
        );
    }
}
