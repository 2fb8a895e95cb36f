//! `dispatch: messaging-campaign`: a campaign's sendable rows go to Genesys as one wave.
//!
//! herald decides every row exactly as for agentless sends (the same decider, claim rules,
//! suppressions, registry, caps and windows); a row that may go now is recorded `handed_off`
//! in the ledger (one transaction per batch of up to 1,000), and only then uploaded to the
//! wave's contact list with its keyed contact id, so a retried upload rewrites the same
//! contacts. When every row is uploaded the wave's campaign is created `off`, bound to the
//! reviewed template and herald's DNC list, switched on and followed ([`super::wave_drive`]).
//! Waves left open by an earlier run are resolved first.

use std::sync::Arc;

use herald_genesys::{
    ContactListDraft, EmailColumn, EmailConfig, EntityRef, FromEmailAddress, GenesysClient,
    MessagingCampaign, PhoneColumn, SmsConfig, SmsPhoneNumberRef, WritableContact,
};
use herald_ledger::{Channel, Claim, ClaimResult, Wave, WaveStatus};

use super::batch::Run;
use super::report::{Count, Counts, Event};
use super::wave_drive::{Driver, Mode, Tally, genesys_name};
use super::{CampaignReport, Dispatch, Executor, Halt, Pending};
use crate::failpoint;
use crate::gather::CampaignInputs;
use crate::plan::{CampaignPlan, Reason};
use crate::spec::model::Campaign;

/// Genesys' limit of contacts per contact list.
pub(crate) const MAX_CONTACTS_PER_LIST: u64 = 1_000_000;
/// Genesys' limit of columns per contact list.
pub(crate) const MAX_COLUMNS: usize = 50;
/// The longest contact value herald uploads (the sandbox's limit; Genesys does not document
/// one in the SDK).
pub(crate) const MAX_VALUE_CHARS: usize = 512;
/// The contact column holding the address.
const ADDRESS_COLUMN: &str = "address";
/// The Genesys DNC list a wave's SMS campaign is bound to, when the org has it (the list
/// `herald suppress push --dnc-list herald-suppressions` fills).
pub(crate) const DNC_LIST_NAME: &str = "herald-suppressions";

/// The wave being built by the current campaign.
pub(crate) struct WaveRun {
    client: GenesysClient,
    wave: Wave,
    columns: Vec<String>,
    requests: u64,
}

impl<D: Dispatch> Executor<'_, D> {
    fn driver<'s>(
        &'s mut self,
        client: &'s GenesysClient,
        on_event: &'s mut dyn FnMut(&Event),
    ) -> Driver<'s> {
        Driver {
            ledger: &mut *self.ledger,
            client,
            rt: self.rt,
            key: self.key,
            run_id: self.run_id,
            interrupted: Some(self.interrupted.clone()),
            on_event,
        }
    }

    /// Sends one `dispatch: messaging-campaign` campaign: resolves its open waves, then hands
    /// its sendable rows to a new wave and follows it.
    pub(crate) fn run_wave(
        &mut self,
        campaign: &Campaign,
        cplan: &CampaignPlan,
        response_id: &str,
        expected_hash: &str,
        inputs: &CampaignInputs,
        client: &GenesysClient,
    ) -> anyhow::Result<Option<CampaignReport>> {
        let name = campaign.name.as_str();
        let mut tally = Tally::default();
        let mut events: Vec<Event> = Vec::new();
        let mut last = 0;
        let mut resumed = false;
        {
            let mut on_event = |e: &Event| events.push(e.clone());
            let mut driver = self.driver(client, &mut on_event);
            for w in driver.open_waves(Some(name))? {
                last = last.max(w.wave);
                resumed = true;
                let t = driver.drive(w, Mode::Apply, None)?;
                tally = add(tally, t);
            }
        }
        for e in &events {
            (self.on_event)(e);
        }
        let mut report = CampaignReport::new(name);
        count_tally(&mut report, tally);
        if self.interrupted() || cplan.to_send() == 0 {
            return Ok(resumed.then_some(report));
        }
        let template = &self.ws.templates[&campaign.template];
        let mut columns = vec![ADDRESS_COLUMN.to_owned()];
        columns.extend(template.variables.keys().cloned());
        if columns.len() > MAX_COLUMNS {
            report.halted = Some(Halt::Stopped(format!(
                "its template has {} variables; a Genesys contact list holds at most {MAX_COLUMNS} columns (the address and each variable); nothing was handed off",
                columns.len() - 1
            )));
            return Ok(Some(report));
        }
        let number = self
            .ledger
            .waves(Some(name))?
            .iter()
            .map(|r| r.wave.wave)
            .max()
            .unwrap_or(last)
            + 1;
        let wave = Wave {
            campaign: name.to_owned(),
            wave: number,
            channel: template.channel,
            status: WaveStatus::Recorded,
            contacts: 0,
            contact_list_id: None,
            genesys_campaign_id: None,
        };
        self.ledger.record_wave(self.run_id, &wave)?;
        self.wave = Some(WaveRun {
            client: client.clone(),
            wave,
            columns,
            requests: 0,
        });
        let handed = self.run_campaign(campaign, cplan, response_id, expected_hash, inputs);
        let run = self
            .wave
            .take()
            .expect("the wave outlives its campaign run");
        let mut handed = handed?;
        for (k, v) in &report.counts {
            handed.add(*k, *v);
        }
        let mut w = run.wave;
        if w.contacts == 0 {
            w.status = WaveStatus::Done;
            self.ledger.record_wave(self.run_id, &w)?;
            return Ok(Some(handed));
        }
        if handed.halted.is_some() {
            // Not started: the next apply (or reconcile) finds no campaign for the wave and
            // puts its rows back to pending.
            return Ok(Some(handed));
        }
        w.status = WaveStatus::Uploaded;
        self.ledger.record_wave(self.run_id, &w)?;
        if let Err(why) = self
            .rt
            .block_on(self.dispatch.preflight(response_id, expected_hash))
        {
            // Not created: the next apply puts the wave's rows back to pending.
            handed.halted = Some(why.into());
            return Ok(Some(handed));
        }
        let body = campaign_body(self, campaign, &w, response_id, client)?;
        let created = self
            .rt
            .block_on(client.create_messaging_campaign(&body))
            .map_err(|e| anyhow::anyhow!(super::agentless::describe(&e)))?;
        failpoint::hit(failpoint::WAVE_AFTER_CREATE);
        w.genesys_campaign_id.clone_from(&created.id);
        w.status = WaveStatus::Created;
        self.ledger.record_wave(self.run_id, &w)?;
        let mut events: Vec<Event> = Vec::new();
        let t = {
            let mut on_event = |e: &Event| events.push(e.clone());
            self.driver(client, &mut on_event)
                .drive(w, Mode::Apply, Some(created))
        };
        for e in &events {
            (self.on_event)(e);
        }
        count_tally(&mut handed, t?);
        Ok(Some(handed))
    }

    /// One batch of a wave: decided rows recorded `handed_off`, then uploaded. `Err` stops
    /// the campaign.
    pub(super) fn flush_wave(
        &mut self,
        run: &Run<'_>,
        batch: &mut Vec<Pending>,
        batches: &mut usize,
        report: &mut CampaignReport,
    ) -> Result<(), Halt> {
        if self.interrupted() {
            report.add(Count::NotStarted, batch.len() as u64);
            batch.clear();
            return Err(Halt::Interrupted);
        }
        // The template is checked on the first batch and once more before the wave's
        // campaign is bound to it (not per batch: the messages leave only after that).
        if *batches == 0
            && let Err(why) = self
                .rt
                .block_on(self.dispatch.preflight(run.response_id, run.expected_hash))
        {
            report.add(Count::NotStarted, batch.len() as u64);
            batch.clear();
            return Err(why.into());
        }
        *batches += 1;
        let mut counts = Counts::new();
        // Values Genesys would refuse are not handed off.
        batch.retain(|(r, _)| {
            let ok = r.address.as_str().chars().count() <= MAX_VALUE_CHARS
                && r.variables
                    .iter()
                    .all(|(_, v)| v.chars().count() <= MAX_VALUE_CHARS);
            if !ok {
                *counts.entry(Count::Row(Reason::RenderError)).or_default() += 1;
            }
            ok
        });
        let (contacts, number) = {
            let w = &self.wave.as_ref().expect("a wave is being built").wave;
            (w.contacts, w.wave)
        };
        if contacts + batch.len() as u64 > MAX_CONTACTS_PER_LIST {
            report.add(Count::NotStarted, batch.len() as u64);
            batch.clear();
            return Err(Halt::Stopped(format!(
                "wave {number} holds {contacts} contacts and a Genesys contact list at most {MAX_CONTACTS_PER_LIST}; the rest go in the next wave: run apply again when it is done"
            )));
        }
        let claims: Vec<Claim> = self.claims(run, batch);
        let results = self
            .ledger
            .hand_off_batch(
                self.run_id,
                run.campaign.name.as_str(),
                number,
                &claims,
                self.options.redo,
            )
            .map_err(|e| Halt::Claim(Arc::new(e)))?;
        let mut handed = Vec::new();
        let mut rids = Vec::new();
        for (((r, _), result), claim) in batch.drain(..).zip(results).zip(&claims) {
            let count = match result {
                ClaimResult::Claimed => {
                    rids.push(claim.recipient.clone());
                    handed.push(r);
                    continue;
                }
                ClaimResult::Suppressed => Count::Row(Reason::Suppressed),
                ClaimResult::Capped(_) => Count::Row(Reason::HeldFrequencyCap),
                ClaimResult::Skipped(state) => Count::Skipped(state),
            };
            *counts.entry(count).or_default() += 1;
        }
        self.record_facts(run, &handed, &rids)
            .map_err(|e| Halt::Claim(Arc::new(e)))?;
        failpoint::hit(failpoint::WAVE_BEFORE_UPLOAD);
        if !handed.is_empty() {
            self.upload(run.campaign, &handed)?;
            if *batches == 1 {
                failpoint::hit(failpoint::WAVE_MID_UPLOAD);
            }
        }
        *counts.entry(Count::HandedOff).or_default() += handed.len() as u64;
        for (k, v) in &counts {
            report.add(*k, *v);
        }
        (self.on_event)(&Event::Batch {
            campaign: run.campaign.name.to_string(),
            counts,
        });
        Ok(())
    }

    /// Uploads handed-off rows to the wave's contact list (made, or found by name, on the
    /// first batch); a retried request rewrites the same contacts.
    fn upload(
        &mut self,
        campaign: &Campaign,
        handed: &[Box<crate::messages::Recipient>],
    ) -> Result<(), Halt> {
        let key = self.key;
        let run_id = self.run_id;
        let rt = self.rt;
        let run = self.wave.as_mut().expect("a wave is being built");
        let fail = |what: &str, e: &herald_genesys::ApiError| {
            Halt::Stopped(format!(
                "{what} failed: {}; the wave's rows stay handed off (nothing was messaged) and the next apply or reconcile puts them back to pending",
                super::agentless::describe(e)
            ))
        };
        if run.wave.contact_list_id.is_none() {
            let name = genesys_name(key, &run.wave.campaign, run.wave.wave);
            run.requests += 1;
            let found = rt
                .block_on(run.client.find_contact_list_by_name(&name))
                .map_err(|e| fail("looking up the wave's contact list", &e))?;
            let list = if let Some(l) = found {
                l
            } else {
                {
                    let (phone_columns, email_columns) = match run.wave.channel {
                        Channel::Sms => (
                            vec![PhoneColumn {
                                column_name: ADDRESS_COLUMN.into(),
                                kind: "cell".into(),
                                callable_time_column: None,
                            }],
                            Vec::new(),
                        ),
                        Channel::Email => (
                            Vec::new(),
                            vec![EmailColumn {
                                column_name: ADDRESS_COLUMN.into(),
                                kind: "personal".into(),
                                contactable_time_column: None,
                            }],
                        ),
                    };
                    run.requests += 1;
                    rt.block_on(run.client.create_contact_list(&ContactListDraft {
                        name,
                        column_names: run.columns.clone(),
                        phone_columns,
                        email_columns,
                        automatic_time_zone_mapping: None,
                    }))
                    .map_err(|e| fail("creating the wave's contact list", &e))?
                }
            };
            run.wave.contact_list_id = Some(list.id);
            self.ledger
                .record_wave(run_id, &run.wave)
                .map_err(|e| Halt::Claim(Arc::new(e)))?;
        }
        let list = run.wave.contact_list_id.clone().unwrap_or_default();
        let contacts: Vec<WritableContact> = handed
            .iter()
            .map(|r| {
                let mut data: std::collections::BTreeMap<String, String> = r
                    .variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                data.insert(ADDRESS_COLUMN.into(), r.address.as_str().to_owned());
                WritableContact {
                    id: key.contact_id(campaign.name.as_str(), &r.key),
                    contact_list_id: list.clone(),
                    data,
                    callable: Some(true),
                }
            })
            .collect();
        run.requests += contacts
            .len()
            .div_ceil(herald_genesys::CONTACTS_PER_REQUEST) as u64;
        rt.block_on(
            run.client
                .add_contacts(&list, &contacts, false, &mut |_| {}),
        )
        .map_err(|e| fail("uploading the wave's contacts", &e))?;
        run.wave.contacts += contacts.len() as u64;
        Ok(())
    }
}

fn add(mut a: Tally, b: Tally) -> Tally {
    a.sent += b.sent;
    a.failed += b.failed;
    a.unknown += b.unknown;
    a.pending += b.pending;
    a.handed_off += b.handed_off;
    a.requests += b.requests;
    a
}

fn count_tally(report: &mut CampaignReport, t: Tally) {
    for (count, n) in [
        (Count::Sent, t.sent),
        (Count::Failed, t.failed),
        (Count::UNKNOWN, t.unknown),
        (Count::Pending, t.pending),
    ] {
        if n > 0 {
            report.add(count, n);
        }
    }
}

/// The wave's campaign: `off`, over its list, bound to the reviewed template (never a message
/// column) and, for SMS, herald's DNC list when the org has it.
fn campaign_body<D: Dispatch>(
    exec: &Executor<'_, D>,
    campaign: &Campaign,
    w: &Wave,
    response_id: &str,
    client: &GenesysClient,
) -> anyhow::Result<MessagingCampaign> {
    let herald_ledger::Wave {
        contact_list_id, ..
    } = w;
    let mpm = match campaign.dispatch {
        crate::spec::model::Dispatch::MessagingCampaign {
            messages_per_minute,
        } => i64::from(messages_per_minute),
        crate::spec::model::Dispatch::Agentless => anyhow::bail!("not a messaging campaign"),
    };
    let mut body = MessagingCampaign {
        name: genesys_name(exec.key, &w.campaign, w.wave),
        contact_list: contact_list_id.clone().map(EntityRef::id),
        messages_per_minute: Some(mpm),
        ..MessagingCampaign::default()
    };
    match w.channel {
        Channel::Sms => {
            let lists = exec
                .rt
                .block_on(client.list_dnc_lists())
                .map_err(|e| anyhow::anyhow!(super::agentless::describe(&e)))?;
            body.dnc_lists = lists
                .into_iter()
                .filter(|l| l.name == DNC_LIST_NAME)
                .map(|l| EntityRef::id(l.id))
                .collect();
            body.sms_config = Some(SmsConfig {
                phone_column: ADDRESS_COLUMN.into(),
                sender_sms_phone_number: SmsPhoneNumberRef {
                    phone_number: campaign.from.clone(),
                },
                content_template: Some(EntityRef::id(response_id)),
                message_column: None,
            });
        }
        Channel::Email => {
            let (local, domain) = campaign
                .from
                .rsplit_once('@')
                .ok_or_else(|| anyhow::anyhow!("`from` is not an email address"))?;
            body.email_config = Some(EmailConfig {
                email_columns: vec![ADDRESS_COLUMN.into()],
                content_template: EntityRef::id(response_id),
                from_address: FromEmailAddress {
                    domain: EntityRef::id(domain),
                    friendly_name: campaign.from_name.clone(),
                    local_part: local.to_owned(),
                },
            });
        }
    }
    Ok(body)
}
