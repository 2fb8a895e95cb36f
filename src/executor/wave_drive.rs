//! Driving a messaging-campaign wave in Genesys once its rows are handed off: create its
//! campaign `off`, switch it on, follow its progress, and read each contact's outcome back into
//! the ledger. Used by `apply` (which starts and waits), `reconcile` (which only reads) and
//! `campaign stop`.
//!
//! Safe by construction: one contact list and one campaign per wave, named from the campaign,
//! the wave number and the ledger key's fingerprint, so a re-run finds what a crashed run made
//! instead of making another. herald never switches a `complete` campaign on again, never
//! recycles a list and never resets progress (the client has no call for it); a wave whose
//! campaign was never created messaged nobody, so its rows go back to `pending` for a later
//! wave.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use herald_genesys::{ApiError, ContactOutcome, GenesysClient, MessagingCampaign};
use herald_ledger::{DispatchHandle, Ledger, LedgerKey, Outcome, OutcomeResult, Wave, WaveStatus};

use super::report::Event;
use crate::failpoint;
use crate::plan::{POLL_MAX_SECONDS, POLL_MIN_SECONDS, POLLS_PER_WAVE};

/// Contacts per bulk read (as per upload).
const READ_BATCH: usize = herald_genesys::CONTACTS_PER_REQUEST;
/// The time between two polls of wave `w`: its expected duration (contacts / messages per
/// minute) over [`POLLS_PER_WAVE`], within [`POLL_MIN_SECONDS`]..=[`POLL_MAX_SECONDS`] (the
/// cadence `herald plan` counts).
fn poll_interval(w: &Wave, campaign: &MessagingCampaign) -> Duration {
    let per_minute = u64::try_from(campaign.messages_per_minute.unwrap_or(1))
        .unwrap_or(1)
        .max(1);
    let expected = Duration::from_millis(w.contacts.saturating_mul(60_000) / per_minute);
    (expected / u32::try_from(POLLS_PER_WAVE).unwrap_or(1)).clamp(
        Duration::from_secs(POLL_MIN_SECONDS),
        Duration::from_secs(POLL_MAX_SECONDS),
    )
}

/// The time until the next poll: when the rest of the list should be done at the rate seen
/// since `seen` (a tenth more, so the poll finds it done), never sooner than
/// [`poll_interval`] nor later than [`POLL_MAX_SECONDS`]; [`poll_interval`] when no rate is
/// known yet (`first` poll of a wave started earlier, nothing processed since).
fn next_poll(
    w: &Wave,
    campaign: &MessagingCampaign,
    seen: (Instant, u64),
    processed: u64,
    first: bool,
) -> Duration {
    let base = poll_interval(w, campaign);
    let done = processed.saturating_sub(seen.1);
    if first || done == 0 || processed >= w.contacts {
        return base;
    }
    let rest = w.contacts - processed;
    let ms = seen
        .0
        .elapsed()
        .as_millis()
        .saturating_mul(u128::from(rest) * 11)
        / (u128::from(done) * 10);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
        .clamp(base, Duration::from_secs(POLL_MAX_SECONDS))
}

/// What a driver may do to the wave's campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `apply`: start a created campaign and follow it until it finishes (or Ctrl-C).
    Apply,
    /// `reconcile`: read what Genesys did, once; never start anything.
    Reconcile,
}

/// What reading a wave's outcomes came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Contacts Genesys messaged.
    pub(crate) sent: u64,
    /// Contacts Genesys skipped or failed.
    pub(crate) failed: u64,
    /// Contacts maybe messaged (an ambiguous wrap-up).
    pub(crate) unknown: u64,
    /// Contacts not messaged by a finished or stopped wave: `pending` again.
    pub(crate) pending: u64,
    /// Contacts still in Genesys' hands.
    pub(crate) handed_off: u64,
    /// Requests made.
    pub(crate) requests: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.sent += o.sent;
        self.failed += o.failed;
        self.unknown += o.unknown;
        self.pending += o.pending;
        self.handed_off += o.handed_off;
        self.requests += o.requests;
    }
}

/// The Genesys name of a wave's contact list and campaign: the campaign, the wave and the
/// ledger key's fingerprint (two ledgers sharing an org never collide).
pub(crate) fn genesys_name(key: &LedgerKey, campaign: &str, wave: u32) -> String {
    format!("herald-{campaign}-w{wave}-{}", &key.fingerprint()[..8])
}

/// Whether a Genesys campaign status means it sends nothing more.
fn finished(status: &str) -> bool {
    matches!(status, "complete" | "off" | "forced_off" | "invalid")
}

/// Drives waves for one run.
pub(crate) struct Driver<'a> {
    pub(crate) ledger: &'a mut dyn Ledger,
    pub(crate) client: &'a GenesysClient,
    pub(crate) rt: &'a tokio::runtime::Runtime,
    pub(crate) key: &'a LedgerKey,
    pub(crate) run_id: &'a str,
    pub(crate) interrupted: Option<Arc<AtomicBool>>,
    pub(crate) on_event: &'a mut dyn FnMut(&Event),
}

impl Driver<'_> {
    fn interrupted(&self) -> bool {
        self.interrupted
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Sleeps `d`, or less when interrupted (Ctrl-C is seen within a quarter of a second).
    fn pause(&self, d: Duration) {
        let step = Duration::from_millis(250);
        let mut left = d;
        while !left.is_zero() && !self.interrupted() {
            let now = left.min(step);
            std::thread::sleep(now);
            left -= now;
        }
    }

    fn api<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> anyhow::Result<T> {
        self.rt
            .block_on(f)
            .map_err(|e| anyhow::anyhow!(super::agentless::describe(&e)))
            .with_context(|| what.to_owned())
    }

    fn record(&mut self, w: &Wave) -> anyhow::Result<()> {
        self.ledger.record_wave(self.run_id, w)?;
        Ok(())
    }

    /// The waves of `campaign` (or all) that may still have rows in Genesys' hands: not
    /// finished, or finished with rows still handed off (one bounded look-up per wave).
    pub(crate) fn open_waves(&self, campaign: Option<&str>) -> anyhow::Result<Vec<Wave>> {
        let mut open = Vec::new();
        for w in self.ledger.waves(campaign)?.into_iter().map(|r| r.wave) {
            if w.status < WaveStatus::Stopped
                || !self
                    .ledger
                    .handed_off_page(&w.campaign, w.wave, None, 1)?
                    .is_empty()
            {
                open.push(w);
            }
        }
        Ok(open)
    }

    /// Brings one wave as far as `mode` allows and reads its outcomes. `created`: the
    /// campaign as this run just created it (spares reading it again before the start).
    pub(crate) fn drive(
        &mut self,
        mut w: Wave,
        mode: Mode,
        created: Option<MessagingCampaign>,
    ) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let name = genesys_name(self.key, &w.campaign, w.wave);
        if w.genesys_campaign_id.is_none() {
            // Made before a crash but not recorded? Found by its name, never made twice.
            tally.requests += 1;
            let found = self.api(
                "looking up the wave's messaging campaign",
                self.client.find_messaging_campaign_by_name(&name),
            )?;
            let Some(id) = found.and_then(|c| c.id) else {
                // No campaign: nobody was messaged. Its rows are sendable again.
                tally.add(self.read_outcomes(&w, true, false)?);
                w.status = WaveStatus::Stopped;
                self.record(&w)?;
                return Ok(tally);
            };
            w.genesys_campaign_id = Some(id);
            if w.status < WaveStatus::Created {
                w.status = WaveStatus::Created;
            }
            self.record(&w)?;
        }
        let id = w.genesys_campaign_id.clone().unwrap_or_default();
        // The campaign as last seen, when this call switched it on (no need to read it on
        // the first poll).
        let mut c: Option<MessagingCampaign> = None;
        if w.status == WaveStatus::Created {
            // Off: never started (herald records a stop before making it). Anything else:
            // started by a run that stopped before recording it. As just created, it needs
            // no read; the start is a version-guarded PUT of it either way.
            let known = created.filter(|k| k.version.is_some() && k.id.is_some());
            let as_created = known.is_some();
            let now = if let Some(k) = known {
                k
            } else {
                tally.requests += 1;
                self.api(
                    "reading the wave's campaign",
                    self.client.get_messaging_campaign(&id),
                )?
            };
            let start = now.status() == "off" && mode == Mode::Apply;
            if start {
                tally.requests += 1;
                let put = self
                    .rt
                    .block_on(self.client.switch_messaging_campaign(now.clone(), true));
                c = Some(match put {
                    // Changed since it was created: start it as it is now (a `complete` one
                    // is refused, an `on` one left as is).
                    Err(ApiError::Conflict { .. }) if as_created => {
                        tally.requests += 2;
                        self.api(
                            "starting the wave's campaign",
                            self.client.set_messaging_campaign_status(&id, true),
                        )?
                    }
                    put => put
                        .map_err(|e| anyhow::anyhow!(super::agentless::describe(&e)))
                        .context("starting the wave's campaign")?,
                });
                failpoint::hit(failpoint::WAVE_AFTER_START);
            }
            if start || now.status() != "off" {
                w.status = WaveStatus::Started;
                self.record(&w)?;
            }
        }
        if w.status == WaveStatus::Stopped {
            // Stopped by `herald campaign stop`: make sure Genesys stopped it too.
            tally.requests += 1;
            self.api(
                "stopping the wave's campaign",
                self.client.set_messaging_campaign_status(&id, false),
            )?;
        }
        // A poll reads the progress (one request); the campaign's status is read too when it
        // is not known, when the progress says the list is done, and when the progress has
        // not moved since the last poll (a stop, an invalid or a `complete` campaign: Genesys
        // sends nothing more, so the progress stalls). A wave just started shows nothing
        // yet: its first poll waits one interval. Then the next poll is due when the rest
        // should be done at the rate seen so far.
        let mut seen: (Instant, u64) = (Instant::now(), 0);
        if let Some(campaign) = &c {
            self.pause(poll_interval(&w, campaign));
        }
        let mut polls = 0u32;
        let mut last: Option<u64> = None;
        let status = loop {
            polls += 1;
            tally.requests += 1;
            let p = self.api(
                "reading the wave's progress",
                self.client.get_messaging_campaign_progress(&id),
            )?;
            let processed = u64::try_from(p.processed()).unwrap_or(0);
            let first = polls == 1 && c.is_none();
            let stalled = last.is_some_and(|l| processed <= l);
            last = Some(processed);
            if c.is_none() || processed >= w.contacts || stalled {
                tally.requests += 1;
                c = Some(self.api(
                    "reading the wave's campaign",
                    self.client.get_messaging_campaign(&id),
                )?);
            }
            let campaign = c.as_ref().expect("read on the first poll");
            (self.on_event)(&Event::Wave {
                campaign: w.campaign.clone(),
                wave: w.wave,
                status: campaign.status().to_owned(),
                processed,
                contacts: w.contacts,
            });
            if processed > 0 {
                failpoint::hit(failpoint::WAVE_MID_DISPATCH);
            }
            // A created campaign that is off was never started: not finished.
            let done = finished(campaign.status()) && w.status != WaveStatus::Created;
            if done || mode == Mode::Reconcile || self.interrupted() {
                break campaign.status().to_owned();
            }
            let wait = next_poll(&w, campaign, seen, processed, first);
            if first {
                // Following a wave started earlier: its rate is measured from here.
                seen = (Instant::now(), processed);
            }
            self.pause(wait);
        };
        let done = finished(&status) && w.status != WaveStatus::Created;
        tally.add(self.read_outcomes(&w, done, true)?);
        if done && w.status != WaveStatus::Stopped {
            w.status = WaveStatus::Done;
            self.record(&w)?;
        }
        Ok(tally)
    }

    /// Reads the outcome of every handed-off row of wave `w`, by contact id, in pages and
    /// requests of at most [`READ_BATCH`] (`ask`: the list exists and may be read). A contact
    /// without an evaluation goes back to `pending` when the wave sends nothing more (`done`),
    /// else stays handed off.
    fn read_outcomes(&mut self, w: &Wave, done: bool, ask: bool) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let list = w.contact_list_id.clone().filter(|_| ask);
        // The wave's rows in pages by row key (memory does not grow with the wave). A row
        // recorded below leaves `handed_off`; one left handed off is behind the next page.
        let mut after: Option<String> = None;
        loop {
            let chunk =
                self.ledger
                    .handed_off_page(&w.campaign, w.wave, after.as_deref(), READ_BATCH)?;
            let Some(end) = chunk.last() else { break };
            after = Some(end.clone());
            let ids: Vec<String> = chunk
                .iter()
                .map(|k| self.key.contact_id(&w.campaign, k))
                .collect();
            let found = match &list {
                Some(list) => {
                    tally.requests += 1;
                    match self.rt.block_on(self.client.get_contacts_bulk(list, &ids)) {
                        Ok(found) => found,
                        Err(ApiError::NotFound { .. }) => Vec::new(),
                        Err(e) => {
                            return Err(anyhow::anyhow!(super::agentless::describe(&e))
                                .context("reading the wave's contacts"));
                        }
                    }
                }
                None => Vec::new(),
            };
            let by_id: std::collections::HashMap<&str, &herald_genesys::DialerContact> =
                found.iter().map(|c| (c.id.as_str(), c)).collect();
            let mut outcomes = Vec::new();
            for (row_key, id) in chunk.iter().zip(&ids) {
                let contact = by_id.get(id.as_str());
                let outcome = contact.map_or(ContactOutcome::Pending, |c| c.outcome());
                let code = contact.and_then(|c| {
                    c.latest_sms_evaluations
                        .values()
                        .chain(c.latest_email_evaluations.values())
                        .find_map(|e| e.wrapup_code_id.clone())
                });
                let result = match outcome {
                    ContactOutcome::Sent => {
                        tally.sent += 1;
                        OutcomeResult::Sent {
                            handle: DispatchHandle::contact(id.clone()),
                        }
                    }
                    ContactOutcome::Failed => {
                        tally.failed += 1;
                        OutcomeResult::Failed {
                            code: code.unwrap_or_else(|| "failed".into()),
                        }
                    }
                    ContactOutcome::Unknown => {
                        tally.unknown += 1;
                        OutcomeResult::Unknown {
                            reason: format!(
                                "wave {}: {}",
                                w.wave,
                                code.unwrap_or_else(|| "ambiguous".into())
                            ),
                        }
                    }
                    ContactOutcome::Pending if done => {
                        tally.pending += 1;
                        OutcomeResult::Pending {
                            next_attempt_at: None,
                            reason: format!("not messaged by wave {}", w.wave),
                        }
                    }
                    ContactOutcome::Pending => {
                        tally.handed_off += 1;
                        continue;
                    }
                };
                outcomes.push(Outcome {
                    campaign: w.campaign.clone(),
                    row_key: row_key.clone(),
                    result,
                });
            }
            if !outcomes.is_empty() {
                self.ledger.record_wave_outcomes(self.run_id, &outcomes)?;
            }
        }
        Ok(tally)
    }

    /// Stops every running wave of `campaign`: recorded `stopped` first (so no later run
    /// starts it again), then switched off in Genesys; what it messaged is read back and the
    /// rest goes back to `pending`.
    pub(crate) fn stop(&mut self, campaign: &str) -> anyhow::Result<(Vec<u32>, Tally)> {
        let mut stopped = Vec::new();
        let mut tally = Tally::default();
        for mut w in self.open_waves(Some(campaign))? {
            if w.status < WaveStatus::Stopped {
                w.status = WaveStatus::Stopped;
                self.record(&w)?;
            }
            stopped.push(w.wave);
            // Genesys may take a pass to go from `stopping` to `off`.
            for round in 0..40 {
                let mut t = self.drive(w.clone(), Mode::Reconcile, None)?;
                let settled = t.handed_off == 0 || round == 39 || self.interrupted();
                if !settled {
                    // Read again next round: only the last read's remainder counts.
                    t.handed_off = 0;
                }
                tally.add(t);
                if settled {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok((stopped, tally))
    }
}
