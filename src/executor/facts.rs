//! Why each send was allowed, recorded with it when it is claimed (`herald audit` reads it).
//!
//! One compact JSON object per send (schema 8's `send_facts`), with no raw address or personal
//! value: the recipient's zones and state as decided, its local time at the claim, the rules
//! that applied (with the version of the built-in data they come from), the consent the row
//! carried (the column's name, never its value) and the Do-Not-Call registry check.

use herald_ledger::{DncRegistry, RecipientId};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::local_time::RowZones;
use crate::messages::Recipient;
use crate::spec::Category;
use crate::spec::model::{Campaign, Template, Workspace};

/// What the facts of one batch share: the registry check's findings and the ledger key (for
/// the keyed consent reference).
pub(super) struct DncCheck<'a> {
    /// The ledger key.
    pub(super) key: &'a herald_ledger::LedgerKey,
    /// Whether registries apply to the campaign (marketing SMS).
    pub(super) applies: bool,
    /// Every loaded registry.
    pub(super) registries: &'a [DncRegistry],
    /// The batch's recipients that a registry lists, with the registries.
    pub(super) listed: &'a std::collections::HashMap<RecipientId, Vec<String>>,
}

fn zones(r: &Recipient) -> (Vec<String>, &'static str) {
    let name = |tz: &jiff::tz::TimeZone| tz.iana_name().unwrap_or("?").to_owned();
    match &r.place.zones {
        RowZones::Explicit(tz) => (vec![name(tz)], "timezone column"),
        RowZones::FromNumber(z) => (z.iter().map(name).collect(), "phone number"),
        RowZones::AudienceDefault(tz) => (vec![name(tz)], "audience default"),
        RowZones::Invalid | RowZones::Unknown | RowZones::Missing => (Vec::new(), "none"),
    }
}

/// The facts of one claimed send, as JSON object text.
pub(super) fn send_facts(
    ws: &Workspace,
    campaign: &Campaign,
    template: &Template,
    r: &Recipient,
    rid: &RecipientId,
    now: Timestamp,
    dnc: &DncCheck<'_>,
) -> String {
    let mut m = Map::new();
    let (zones, zone_source) = zones(r);
    let local: Vec<String> = match &r.place.zones {
        RowZones::Explicit(tz) | RowZones::AudienceDefault(tz) => {
            vec![tz.to_datetime(now).strftime("%Y-%m-%dT%H:%M").to_string()]
        }
        RowZones::FromNumber(z) => z
            .iter()
            .map(|tz| tz.to_datetime(now).strftime("%Y-%m-%dT%H:%M").to_string())
            .collect(),
        _ => Vec::new(),
    };
    m.insert("zones".into(), json!(zones));
    m.insert("zone_from".into(), json!(zone_source));
    let states: Vec<String> = r.place.states().map(|s| s.as_str().to_owned()).collect();
    m.insert("states".into(), json!(states));
    m.insert("local_time".into(), json!(local));
    m.insert("at".into(), json!(now.to_string()));
    m.insert("category".into(), json!(template.category.as_str()));
    let policy = &ws.project.policy;
    let mut rules = Vec::new();
    if template.category == Category::Marketing {
        rules.push("federal 08:00-21:00 (47 CFR 64.1200(c)(1))".to_owned());
    }
    if let Some(w) = &policy.send_window {
        rules.push(format!(
            "policy send_window {}-{}",
            w.start.strftime("%H:%M"),
            w.end.strftime("%H:%M")
        ));
    }
    if policy.state_rules.applies_to(template.category) {
        for s in r.place.states() {
            if let Some(rule) = policy.state_rules.get(s) {
                rules.push(format!("state {} ({})", s.as_str(), rule.citation));
            }
        }
    }
    if !policy.frequency_caps.is_empty() {
        rules.push(format!(
            "{} policy frequency cap(s)",
            policy.frequency_caps.len()
        ));
    }
    m.insert("rules".into(), json!(rules));
    m.insert("rule_data".into(), json!(crate::gather::builtin_data()));
    let audience = &ws.audiences[&campaign.audience];
    let consent = match &audience.consent {
        Some(col) => format!("column {col}: yes"),
        None => "no consent column".to_owned(),
    };
    m.insert("consent".into(), json!(consent));
    // The evidence the row carried, as a keyed reference only (never the values).
    let ev = &audience.consent_evidence;
    let declared: Vec<String> = [
        ("timestamp", &ev.timestamp),
        ("source", &ev.source),
        ("seller", &ev.seller),
        ("type", &audience.consent_type),
    ]
    .into_iter()
    .filter_map(|(what, col)| col.as_ref().map(|c| format!("{what} {c}")))
    .collect();
    if !declared.is_empty() {
        m.insert("consent_evidence".into(), json!(declared.join(", ")));
        m.insert(
            "consent_ref".into(),
            json!(r.consent_evidence.as_deref().map_or_else(
                || "none (evidence columns empty)".to_owned(),
                |e| dnc.key.consent_ref(e)
            )),
        );
    }
    if policy.state_rules.applies_to(template.category) {
        let calendars: Vec<String> = r
            .place
            .states()
            .filter_map(|s| policy.state_rules.get(s).map(|rule| (s, rule)))
            .filter(|(_, rule)| !rule.holidays.is_empty())
            .map(|(s, _)| s.as_str().to_owned())
            .collect();
        if !calendars.is_empty() {
            m.insert("holiday_calendars".into(), json!(calendars));
        }
    }
    let check = if !dnc.applies {
        "not applicable (not a marketing SMS)".to_owned()
    } else if dnc.registries.is_empty() {
        "no registry loaded".to_owned()
    } else {
        let loaded = dnc
            .registries
            .iter()
            .map(|g| format!("{} {}", g.source, g.downloaded_on))
            .collect::<Vec<_>>()
            .join(", ");
        match dnc.listed.get(rid) {
            Some(on) if r.express_consent => format!(
                "listed on {}; sent on express written consent (column {})",
                on.join(", "),
                policy.dnc_express_consent_column.as_deref().unwrap_or("?")
            ),
            Some(on) => format!("listed on {} (not expected to be sent)", on.join(", ")),
            None => format!("not listed ({loaded})"),
        }
    };
    m.insert("dnc".into(), json!(check));
    Value::Object(m).to_string()
}
