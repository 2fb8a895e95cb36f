//! Stale-plan checks: a saved plan is applied only for the objects whose reviewed inputs
//! (template text, remote version, campaign and audience definitions, audience file, send
//! keys, what those rows send; the environment, policy and built-in data for all of them) are
//! still what the current plan sees.

use std::collections::BTreeMap;
use std::fmt;

use crate::plan::{CampaignStatus, Plan};
use crate::spec::Name;
use crate::spec::model::Workspace;

/// One object of a plan, named as the plan names it ("template X", "campaign Y").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PlanObject {
    /// A campaign, by name (ordered before templates, as "campaign" sorts before "template").
    Campaign(String),
    /// A template, by name.
    Template(String),
}

impl fmt::Display for PlanObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Template(n) => write!(f, "template {n}"),
            Self::Campaign(n) => write!(f, "campaign {n}"),
        }
    }
}

/// The stale objects of a saved plan, each with why (campaigns, then templates, by
/// name).
pub(crate) type StaleSet = BTreeMap<PlanObject, String>;

/// Compares a saved plan with the current one; returns the objects that are stale, with why.
/// Objects absent from the saved plan are not applied either (nobody reviewed them).
pub(crate) fn stale_objects(saved: &Plan, current: &Plan, ws: &Workspace) -> StaleSet {
    let mut stale_set = BTreeMap::new();
    for t in &current.templates {
        let key = PlanObject::Template(t.name.clone());
        let Some(s) = saved.templates.iter().find(|s| s.name == t.name) else {
            if t.action.is_change() {
                stale_set.insert(key, "not in the saved plan".to_owned());
            }
            continue;
        };
        if s.content_hash != t.content_hash {
            stale_set.insert(
                key,
                format!(
                    "its text changed since the plan ({} → {})",
                    short(&s.content_hash),
                    short(&t.content_hash)
                ),
            );
        } else if s.remote != t.remote {
            let v = |r: &Option<crate::plan::RemoteRef>| {
                r.as_ref()
                    .map_or_else(|| "absent".to_owned(), |r| format!("version {}", r.version))
            };
            stale_set.insert(
                key,
                format!(
                    "it changed in Genesys since the plan ({} → {})",
                    v(&s.remote),
                    v(&t.remote)
                ),
            );
        } else if s.action != t.action {
            stale_set.insert(
                key,
                format!(
                    "its planned action changed ({:?} → {:?})",
                    s.action, t.action
                ),
            );
        }
    }
    for c in &current.campaigns {
        let key = PlanObject::Campaign(c.name.clone());
        let Some(s) = saved.campaigns.iter().find(|s| s.name == c.name) else {
            if c.status == CampaignStatus::Active {
                stale_set.insert(key, "not in the saved plan".to_owned());
            }
            continue;
        };
        // The campaign's and its audience's definitions, and the policy in herald.yaml
        // (send window, caps), must be the reviewed ones: an address column or a variable
        // mapping that changed sends something nobody reviewed.
        let definition_files: Vec<String> = Name::parse(&c.name)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
            .map(|camp| {
                let mut files = vec![
                    crate::load::PROJECT_FILE.to_owned(),
                    camp.origin.file.clone(),
                ];
                if let Some(a) = ws.audiences.get(&camp.audience) {
                    files.push(a.origin.file.clone());
                }
                files
            })
            .unwrap_or_default();
        let changed_file = definition_files
            .iter()
            .find(|f| saved.inputs.get(*f) != current.inputs.get(*f));
        if let Some(f) = changed_file {
            stale_set.insert(key, format!("{f} changed since the plan"));
        } else if s.audience_hash != c.audience_hash {
            stale_set.insert(
                key,
                format!(
                    "its audience file {} changed since the plan",
                    c.audience_file
                ),
            );
        } else if s.template_hash != c.template_hash {
            stale_set.insert(key, "its template changed since the plan".to_owned());
        } else if s.send_keys != c.send_keys {
            stale_set.insert(key, format!("the set of recipients to send changed since the plan ({} → {} keys; another run may have sent some)", s.send_keys.count, c.send_keys.count));
        } else if s.outcome.digest != c.outcome.digest {
            stale_set.insert(
                key,
                format!(
                    "what it sends changed since the plan (sends {} → {}: recipient, address, text, time zone or state)",
                    s.outcome.count, c.outcome.count
                ),
            );
        } else if s.status != c.status {
            stale_set.insert(
                key,
                format!("its status changed ({} → {})", s.status, c.status),
            );
        }
    }
    // Where and under what rules the saved plan runs: another environment (org, host, client,
    // settings), policy, or herald and time-zone data makes every object it would change stale.
    let line = |p: &Plan, name: &str| {
        p.review
            .iter()
            .find(|o| o.object == name)
            .map(|o| o.digest.clone())
    };
    let moved: Vec<&str> = [
        (
            "environment",
            "its environment (org, host, client or settings)",
        ),
        ("policy", "the effective policy"),
        ("data", "herald's version or time-zone data"),
    ]
    .into_iter()
    .filter(|(name, _)| line(saved, name) != line(current, name))
    .map(|(_, what)| what)
    .collect();
    if !moved.is_empty() {
        let why = format!("{} changed since the plan", moved.join(" and "));
        for t in current.templates.iter().filter(|t| t.action.is_change()) {
            stale_set
                .entry(PlanObject::Template(t.name.clone()))
                .or_insert_with(|| why.clone());
        }
        for c in current
            .campaigns
            .iter()
            .filter(|c| c.status == CampaignStatus::Active)
        {
            stale_set
                .entry(PlanObject::Campaign(c.name.clone()))
                .or_insert_with(|| why.clone());
        }
    }
    stale_set
}

fn short(h: &str) -> &str {
    let h = h.strip_prefix("sha256:").unwrap_or(h);
    h.get(..12).unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_print_and_sort_as_the_plan_names_them() {
        let mut set = StaleSet::new();
        for o in [
            PlanObject::Template("a-template".into()),
            PlanObject::Campaign("z-campaign".into()),
            PlanObject::Campaign("b-campaign".into()),
        ] {
            set.insert(o, String::new());
        }
        let shown: Vec<String> = set.keys().map(ToString::to_string).collect();
        // The same order as the plan's own "campaign X" / "template Y" strings sort in.
        let mut as_strings = shown.clone();
        as_strings.sort();
        assert_eq!(shown, as_strings);
        assert_eq!(
            shown,
            [
                "campaign b-campaign",
                "campaign z-campaign",
                "template a-template"
            ]
        );
    }
}
