//! `herald reconcile`: resolve `unknown` sends (maybe sent: a timeout, a reset or a 5xx after
//! the request left) through the analytics conversation-details query. Found → `sent`;
//! absent once the indexing delay has safely passed → `pending` (a later apply sends it);
//! absent but recent → left `unknown` for a later reconcile.
//!
//! The ledger keeps no addresses, so the address is read again from the campaign's audience
//! (matched by row key and checked against the stored recipient HMAC).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use herald_ledger::{NewRun, Resolution, SendState};
use jiff::SignedDuration;

use crate::ExitStatus;
use crate::audience::CampaignRows;
use crate::cli::{GlobalArgs, ReconcileArgs};
use crate::ledger_access::ledger_channel;
use crate::messages::Row;
use crate::output::Printer;
use crate::spec::Name;

/// How long before a dispatch a matching conversation may have started (clock skew).
const BEFORE: SignedDuration = SignedDuration::from_mins(2);

pub(crate) fn run(
    global: &GlobalArgs,
    args: &ReconcileArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((loaded, settings)) = super::valid_env_context(global, printer)? else {
        return Ok(ExitStatus::Invalid);
    };
    let ws = &loaded.workspace;
    let key = settings.ledger_key()?;
    let run_id = super::new_run_id("reconcile");
    let mut locked =
        match crate::ledger_access::open_locked(&settings, &key, &run_id, "reconcile", None)? {
            Ok(l) => l,
            Err(e) => {
                printer.error(&e.to_string());
                return Ok(ExitStatus::Locked);
            }
        };
    let unknown = locked
        .ledger
        .sends_in_state(args.campaign.as_deref(), SendState::Unknown)?;
    if unknown.is_empty() {
        printer.out("no unknown sends\n")?;
        return Ok(ExitStatus::Success);
    }
    locked.ledger.begin_run(&NewRun {
        run_id: run_id.clone(),
        command: "reconcile".into(),
        user: crate::settings::current_user(),
        host: crate::settings::host_name(),
        git_commit: crate::gather::git_state(&ws.root).commit,
        plan_hash: None,
    })?;
    // Addresses of the unknown rows, from the audiences.
    let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in &unknown {
        wanted
            .entry(s.campaign.as_str())
            .or_default()
            .insert(s.row_key.as_str());
    }
    let mut addresses: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut froms: BTreeMap<String, String> = BTreeMap::new();
    for (campaign, keys) in &wanted {
        let Some(c) = Name::parse(campaign)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
        else {
            continue;
        };
        froms.insert(c.name.to_string(), c.from.clone());
        let channel = ledger_channel(ws.templates[&c.template].channel);
        let (rows, _) = CampaignRows::open(ws, c)?;
        for row in rows {
            if let Row::Ready(r) = row
                && keys.contains(r.key.as_str())
            {
                let rid = key.recipient_id(channel, &r.address.normalized());
                if unknown.iter().any(|s| {
                    s.campaign == c.name.as_str() && s.row_key == r.key && s.recipient == rid
                }) {
                    addresses.insert(
                        (c.name.to_string(), r.key.clone()),
                        r.address.as_str().to_owned(),
                    );
                }
            }
        }
    }
    let rt = super::runtime()?;
    let remote = rt.block_on(crate::remote::connect(&settings))?;
    let settle = SignedDuration::from_secs(i64::try_from(args.settle_secs).unwrap_or(i64::MAX));
    // Real time, not `HERALD_NOW`: dispatch times are real, and "not indexed yet" must be
    // judged against the real clock or a maybe-sent message could be sent again.
    let now = jiff::Timestamp::now();
    // Conversations already recorded for sent rows belong to those rows.
    let mut used: BTreeSet<String> = locked
        .ledger
        .sends_in_state(None, SendState::Sent)?
        .into_iter()
        .filter_map(|r| r.conversation_id)
        .collect();
    let (mut found, mut not_found, mut waiting, mut missing) = (0u64, 0u64, 0u64, 0u64);
    let mut out = String::new();
    for s in &unknown {
        let Some(address) = addresses.get(&(s.campaign.clone(), s.row_key.clone())) else {
            missing += 1;
            let _ = writeln!(
                out,
                "  ? {} {} ({}): no longer in the audience; cannot look it up",
                s.campaign, s.row_key, s.masked
            );
            continue;
        };
        let dispatched = s.dispatched_at.unwrap_or(s.updated_at);
        let start = dispatched.checked_sub(BEFORE).unwrap_or(dispatched);
        let end = now.max(
            dispatched
                .checked_add(SignedDuration::from_secs(1))
                .unwrap_or(dispatched),
        );
        let conversations = rt.block_on(remote.client.find_conversations(address, start, end))?;
        let from = froms.get(&s.campaign);
        let candidates: Vec<_> = conversations
            .into_iter()
            .filter(|c| {
                !used.contains(&c.conversation_id)
                    && c.direction.as_deref().is_none_or(|d| d == "outbound")
                    && c.address_from
                        .as_deref()
                        .is_none_or(|f| from.is_none_or(|x| x == f))
            })
            .collect();
        if candidates.len() > 1 {
            waiting += 1;
            let _ = writeln!(
                out,
                "  ? {} {} ({}): {} unclaimed conversations match; left unknown for a person to decide",
                s.campaign,
                s.row_key,
                s.masked,
                candidates.len()
            );
            continue;
        }
        let hit = candidates.into_iter().next();
        let resolution = match hit {
            Some(c) => {
                used.insert(c.conversation_id.clone());
                found += 1;
                let _ = writeln!(
                    out,
                    "  ✓ {} {} ({}): found, conversation {}",
                    s.campaign, s.row_key, s.masked, c.conversation_id
                );
                // Analytics exposes conversations, not message ids: the conversation id stands in.
                Resolution::Found {
                    message_id: c.conversation_id.clone(),
                    conversation_id: Some(c.conversation_id),
                }
            }
            None if now.duration_since(dispatched) >= settle => {
                not_found += 1;
                let _ = writeln!(
                    out,
                    "  ✗ {} {} ({}): not found after the settle time; pending, a later apply sends it",
                    s.campaign, s.row_key, s.masked
                );
                Resolution::NotFound
            }
            None => {
                waiting += 1;
                let _ = writeln!(
                    out,
                    "  … {} {} ({}): not indexed yet; reconcile again after {}",
                    s.campaign,
                    s.row_key,
                    s.masked,
                    (dispatched.checked_add(settle).unwrap_or(dispatched)).strftime("%H:%M:%S UTC")
                );
                continue;
            }
        };
        locked
            .ledger
            .resolve_unknown(&run_id, &s.campaign, &s.row_key, &resolution)?;
    }
    rt.block_on(remote.shutdown());
    locked.ledger.finish_run(&run_id, "ok")?;
    let _ = writeln!(
        out,
        "{found} found (now sent), {not_found} not sent (now pending), {waiting} still unknown, {missing} not in the audience"
    );
    printer.out(&out)?;
    Ok(ExitStatus::Success)
}
