//! Reconcile: resolve `unknown` sends (maybe sent: a timeout, a reset or a 5xx after the
//! request left) through the analytics conversation-details query. Found → `sent`; absent
//! once the indexing delay has safely passed → `pending` (a later apply sends it); absent but
//! recent → left `unknown` for a later reconcile.
//!
//! The ledger keeps no addresses, so the address is read again from the campaign's audience
//! (matched by row key and checked against the stored recipient HMAC).

use std::collections::{BTreeMap, BTreeSet};

use herald_genesys::ConversationSummary;
use herald_ledger::{LockError, NewRun, Resolution, SendState};
use jiff::{SignedDuration, Timestamp};

use crate::audience::CampaignRows;
use crate::messages::Row;
use crate::settings::EnvSettings;
use crate::spec::Name;
use crate::spec::model::Workspace;

/// How long before a dispatch a matching conversation may have started (clock skew).
const BEFORE: SignedDuration = SignedDuration::from_mins(2);

/// The longest span of dispatch times one analytics query covers (a slice); a longer backlog
/// is split so no query needs more than its 100 pages.
const SLICE: SignedDuration = SignedDuration::from_hours(6);

/// When a send left (its last update when the dispatch time is missing).
fn dispatched_at(s: &herald_ledger::SendRecord) -> Timestamp {
    s.dispatched_at.unwrap_or(s.updated_at)
}

/// Groups row indices into slices of dispatch times no longer than [`SLICE`], each sorted
/// oldest first.
fn slices(rows: &[usize], at: impl Fn(usize) -> Timestamp) -> Vec<Vec<usize>> {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|&i| at(i));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some(last) if at(i).duration_since(at(last[0])) <= SLICE => last.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// An address compared case- and space-insensitively (e-mail domains and local parts as
/// Genesys reports them).
fn address_key(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

/// What reconcile found for one `unknown` send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The row is no longer in the audience: its address cannot be looked up.
    NotInAudience,
    /// Several unclaimed conversations match (how many): left unknown for a person.
    Ambiguous(usize),
    /// Found: now `sent`, with this conversation.
    Found(String),
    /// Not found after the settle time: now `pending`.
    NotSent,
    /// Not found yet, but too recent to tell: reconcile again after this instant.
    NotIndexed(Timestamp),
}

/// One `unknown` send and what became of it.
#[derive(Debug, Clone)]
pub(crate) struct Reconciled {
    /// Campaign.
    pub(crate) campaign: String,
    /// Row key.
    pub(crate) row_key: String,
    /// Masked address.
    pub(crate) masked: String,
    /// The finding.
    pub(crate) finding: Finding,
}

/// Every `unknown` send looked at, in ledger order (empty: there were none).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReconcileReport {
    /// The sends.
    pub(crate) rows: Vec<Reconciled>,
    /// The ledger's chain head after the run was recorded (`None`: nothing was written).
    pub(crate) ledger_head: Option<herald_ledger::ChainHead>,
}

impl ReconcileReport {
    /// How many sends had each kind of finding: (found, not sent, still unknown, not in the
    /// audience).
    pub(crate) fn totals(&self) -> (u64, u64, u64, u64) {
        let mut t = (0, 0, 0, 0);
        for r in &self.rows {
            match r.finding {
                Finding::Found(_) => t.0 += 1,
                Finding::NotSent => t.1 += 1,
                Finding::Ambiguous(_) | Finding::NotIndexed(_) => t.2 += 1,
                Finding::NotInAudience => t.3 += 1,
            }
        }
        t
    }
}

/// Reconciles the `unknown` sends of `campaign` (all campaigns when `None`) under the run
/// lock; a send not found is judged not sent once `settle` has passed since its dispatch.
/// `on_progress` is told, after each bulk query, how many sends are looked up of how many.
pub(crate) fn reconcile(
    ws: &Workspace,
    settings: &EnvSettings,
    campaign: Option<&str>,
    settle: SignedDuration,
    on_progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Result<ReconcileReport, LockError>> {
    let key = settings.ledger_key()?;
    let run_id = super::new_run_id("reconcile");
    let mut locked =
        match crate::ledger_access::open_locked(settings, &key, &run_id, "reconcile", None)? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
    let unknown = locked.ledger.sends_in_state(campaign, SendState::Unknown)?;
    if unknown.is_empty() {
        return Ok(Ok(ReconcileReport::default()));
    }
    locked.ledger.begin_run(&NewRun {
        run_id: run_id.clone(),
        command: "reconcile".into(),
        user: settings.vars.user.clone(),
        host: settings.vars.host.clone(),
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
        let channel = ws.templates[&c.template].channel;
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
    let remote = rt.block_on(crate::remote::connect(settings))?;
    // Real time, not `HERALD_NOW`: dispatch times are real, and "not indexed yet" must be
    // judged against the real clock or a maybe-sent message could be sent again.
    let now = Timestamp::now();
    // Conversations already recorded for sent rows belong to those rows.
    let mut used: BTreeSet<String> = locked
        .ledger
        .sends_in_state(None, SendState::Sent)?
        .into_iter()
        .filter_map(|r| r.conversation_id)
        .collect();
    // Bulk look-up: one paged analytics query per `from` address and time slice, matched
    // locally by recipient address — requests grow with pages, not rows.
    let mut by_from: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in unknown.iter().enumerate() {
        if addresses.contains_key(&(s.campaign.clone(), s.row_key.clone()))
            && let Some(from) = froms.get(&s.campaign)
        {
            by_from.entry(from.as_str()).or_default().push(i);
        }
    }
    let mut found: BTreeMap<usize, Vec<ConversationSummary>> = BTreeMap::new();
    let total = by_from.values().map(Vec::len).sum::<usize>() as u64;
    for (from, rows) in &by_from {
        for slice in slices(rows, |i| dispatched_at(&unknown[i])) {
            let first = dispatched_at(&unknown[slice[0]]);
            let start = first.checked_sub(BEFORE).unwrap_or(first);
            let end = now.max(
                first
                    .checked_add(SignedDuration::from_secs(1))
                    .unwrap_or(first),
            );
            let conversations = rt.block_on(remote.client.conversations_from(from, start, end))?;
            let mut by_to: BTreeMap<String, Vec<&ConversationSummary>> = BTreeMap::new();
            for c in &conversations {
                if let Some(to) = &c.address_to {
                    by_to.entry(address_key(to)).or_default().push(c);
                }
            }
            for &i in &slice {
                let s = &unknown[i];
                let address = &addresses[&(s.campaign.clone(), s.row_key.clone())];
                let dispatched = dispatched_at(s);
                let earliest = dispatched.checked_sub(BEFORE).unwrap_or(dispatched);
                let matches = by_to
                    .get(&address_key(address))
                    .map(|cs| {
                        cs.iter()
                            .filter(|c| c.start.is_none_or(|t| t >= earliest))
                            .map(|c| (*c).clone())
                            .collect()
                    })
                    .unwrap_or_default();
                found.insert(i, matches);
            }
            on_progress(found.len() as u64, total);
        }
    }
    let mut report = ReconcileReport::default();
    for (i, s) in unknown.iter().enumerate() {
        let mut note = |finding: Finding| {
            report.rows.push(Reconciled {
                campaign: s.campaign.clone(),
                row_key: s.row_key.clone(),
                masked: s.masked.clone(),
                finding,
            });
        };
        let Some(conversations) = found.remove(&i) else {
            note(Finding::NotInAudience);
            continue;
        };
        let dispatched = dispatched_at(s);
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
            note(Finding::Ambiguous(candidates.len()));
            continue;
        }
        let resolution = match candidates.into_iter().next() {
            Some(c) => {
                used.insert(c.conversation_id.clone());
                note(Finding::Found(c.conversation_id.clone()));
                // Analytics exposes conversations, not message ids: the conversation id stands in.
                Resolution::Found {
                    message_id: c.conversation_id.clone(),
                    conversation_id: Some(c.conversation_id),
                }
            }
            None if now.duration_since(dispatched) >= settle => {
                note(Finding::NotSent);
                Resolution::NotFound
            }
            None => {
                note(Finding::NotIndexed(
                    dispatched.checked_add(settle).unwrap_or(dispatched),
                ));
                continue;
            }
        };
        locked
            .ledger
            .resolve_unknown(&run_id, &s.campaign, &s.row_key, &resolution)?;
    }
    rt.block_on(remote.shutdown());
    locked.ledger.finish_run(&run_id, "ok")?;
    report.ledger_head = locked.ledger.head()?;
    Ok(Ok(report))
}
