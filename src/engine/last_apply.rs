//! What changed in each campaign's settings since the last apply: the campaign's file now
//! against the same file at the git commit the ledger recorded for the last apply that
//! finished `ok`. Without a recorded commit (not a git repository) or with the file absent at
//! it, nothing is reported. An apply made from a workspace with uncommitted changes recorded
//! only its commit, so the comparison is with what was committed then.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::Sources;
use crate::plan::{Plan, SettingChange};
use crate::spec::Name;
use crate::spec::model::Workspace;
use crate::text::mask_contacts;

/// How many recent runs are searched for the last apply.
const RUNS_SEARCHED: usize = 500;

/// Fields that are the campaign's identity or prose, not settings.
const NOT_SETTINGS: &[&str] = &["kind", "name", "description"];

/// Fills each campaign's `changes.settings` (campaigns the ledger has rows for).
pub(crate) fn mark_setting_changes(
    plan: &mut Plan,
    ws: &Workspace,
    sources: &Sources,
    ledger: &dyn herald_ledger::Ledger,
) -> anyhow::Result<()> {
    let Some(commit) = ledger
        .runs(RUNS_SEARCHED)?
        .into_iter()
        .find(|r| r.run.command == "apply" && r.outcome.as_deref() == Some("ok"))
        .and_then(|r| r.run.git_commit)
    else {
        return Ok(());
    };
    for c in plan.campaigns.iter_mut().filter(|c| !c.changes.new) {
        let Some(campaign) = Name::parse(&c.name).ok().and_then(|n| ws.campaigns.get(&n)) else {
            continue;
        };
        let file = &campaign.origin.file;
        let (Some(now), Some(then)) = (sources.get(file), file_at(&ws.root, &commit, file)) else {
            continue;
        };
        c.changes.settings = setting_changes(&then, now);
    }
    Ok(())
}

/// A file's text at `commit` (`git show COMMIT:./FILE` from the workspace root).
fn file_at(root: &Path, commit: &str, file: &str) -> Option<String> {
    if !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    std::process::Command::new("git")
        .args(["show", &format!("{commit}:./{file}")])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
}

/// The top-level settings that differ between two versions of a campaign file, values as
/// compact JSON (strings bare), addresses masked.
fn setting_changes(then: &str, now: &str) -> Vec<SettingChange> {
    let parse =
        |text: &str| crate::load::yaml::from_str::<BTreeMap<String, serde_json::Value>>(text).ok();
    let (Some(then), Some(now)) = (parse(then), parse(now)) else {
        return Vec::new();
    };
    let mut fields: Vec<&String> = then.keys().chain(now.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| !NOT_SETTINGS.contains(&f.as_str()) && then.get(*f) != now.get(*f))
        .map(|f| SettingChange {
            field: f.clone(),
            before: shown(then.get(f)),
            after: shown(now.get(f)),
        })
        .collect()
}

fn shown(v: Option<&serde_json::Value>) -> String {
    let text = match v {
        None => "none".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let text = mask_contacts(&crate::text::visible::escape_line(&text));
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::setting_changes;

    #[test]
    fn changed_settings_are_listed_with_masked_values() {
        let then = "kind: Campaign\nname: a\naudience: vip\nfrom: \"+15550001111\"\nrate_per_minute: 60\nsend_window: { start: \"09:00\", end: \"20:00\" }\n";
        let now = "kind: Campaign\nname: a\ndescription: new words\naudience: everyone\nfrom: \"+15550002222\"\nrate_per_minute: 60\n";
        let changes: Vec<String> = setting_changes(then, now)
            .iter()
            .map(|c| format!("{} {} → {}", c.field, c.before, c.after))
            .collect();
        assert_eq!(
            changes,
            [
                "audience vip → everyone",
                "from +1******1111 → +1******2222",
                r#"send_window {"end":"20:00","start":"09:00"} → none"#,
            ]
        );
        assert!(setting_changes(then, then).is_empty());
    }
}
