//! Outbound contact lists and messaging campaigns: the calls a messaging-campaign wave makes.
//!
//! Owns the contact-list and messaging-campaign operations and their models (field names as
//! in the official SDK's `ContactList`, `WritableDialerContact`, `DialerContact`,
//! `MessageEvaluation`, `MessagingCampaign`, `SmsConfig`, `EmailConfig` and `CampaignProgress`,
//! version 269.0.0). Invariants: contacts go up and are read back in requests of at most
//! [`CONTACTS_PER_REQUEST`]; a contact upload is idempotent by the caller's contact ids (a
//! retry rewrites the same contacts), so it is retried; creates are not; status changes are
//! version-guarded PUTs; a `complete` campaign is never switched on again (Genesys would
//! message its whole list again) and its progress is never reset: this client has no call
//! for `DELETE …/progress`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::EntityRef;

const CONTACT_LISTS: &str = "/api/v2/outbound/contactlists";
const CAMPAIGNS: &str = "/api/v2/outbound/messagingcampaigns";

/// Contacts per upload and per bulk read (Genesys' documented limit per upload request).
pub const CONTACTS_PER_REQUEST: usize = 1000;

/// A phone column of a contact list (`ContactPhoneNumberColumn`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneColumn {
    /// The column.
    pub column_name: String,
    /// Its type, e.g. `cell`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A column holding the contact's IANA time zone, for callable-time checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callable_time_column: Option<String>,
}

/// An email column of a contact list (`EmailColumn`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailColumn {
    /// The column.
    pub column_name: String,
    /// Its type, e.g. `personal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A column holding the contact's IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contactable_time_column: Option<String>,
}

/// A contact list to create (`ContactList`, the fields herald sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactListDraft {
    /// Name (herald names it from the run and the wave).
    pub name: String,
    /// Every column, at most 50.
    pub column_names: Vec<String>,
    /// Phone columns (SMS).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phone_columns: Vec<PhoneColumn>,
    /// Email columns (email).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_columns: Vec<EmailColumn>,
    /// Whether Genesys maps a time zone from each number (then no `callableTimeColumn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_time_zone_mapping: Option<bool>,
}

/// A contact list (`ContactList`, the fields herald reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: Option<i64>,
    /// Columns.
    #[serde(default)]
    pub column_names: Vec<String>,
    /// Contacts held (only with `includeSize=true`).
    #[serde(default)]
    pub size: Option<i64>,
}

/// A contact to upload (`WritableDialerContact`): the id is the caller's, so a retried upload
/// rewrites the same contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WritableContact {
    /// The caller's contact id.
    pub id: String,
    /// The list it belongs to.
    pub contact_list_id: String,
    /// Values by column.
    pub data: BTreeMap<String, String>,
    /// Whether it may be messaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable: Option<bool>,
}

/// The outcome of one message attempt to a contact column (`MessageEvaluation`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvaluation {
    /// The column messaged.
    #[serde(default)]
    pub contact_column: Option<String>,
    /// `Sms` or `Email`.
    #[serde(default)]
    pub message_type: Option<String>,
    /// The wrap-up code, e.g. `OUTBOUND_MESSAGE_SENT`.
    #[serde(default)]
    pub wrapup_code_id: Option<String>,
    /// When.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// A contact as Genesys holds it (`DialerContact`, the fields herald reads; the address in
/// `data` is the recipient's and is never logged).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialerContact {
    /// The contact id.
    pub id: String,
    /// Its list.
    #[serde(default)]
    pub contact_list_id: Option<String>,
    /// Values by column.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Latest SMS outcome by column.
    #[serde(default)]
    pub latest_sms_evaluations: BTreeMap<String, MessageEvaluation>,
    /// Latest email outcome by column.
    #[serde(default)]
    pub latest_email_evaluations: BTreeMap<String, MessageEvaluation>,
    /// Whether it may be messaged.
    #[serde(default)]
    pub callable: Option<bool>,
}

/// What came of one contact, from its latest evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOutcome {
    /// No evaluation yet: not messaged (still queued, outside callable time, or stopped).
    Pending,
    /// `OUTBOUND_MESSAGE_SENT`.
    Sent,
    /// Genesys skipped it or the message failed (DNC, uncallable, blank, too long, failed).
    Failed,
    /// `OUTBOUND_MESSAGE_AMBIGUOUS`, `UNKNOWN` or a code herald does not know: maybe sent.
    Unknown,
}

impl DialerContact {
    /// The outcome of its latest evaluation on either channel.
    pub fn outcome(&self) -> ContactOutcome {
        let code = self
            .latest_sms_evaluations
            .values()
            .chain(self.latest_email_evaluations.values())
            .find_map(|e| e.wrapup_code_id.as_deref());
        match code {
            None => ContactOutcome::Pending,
            Some(c) => classify_wrapup(c),
        }
    }
}

/// The outcome a campaign wrap-up code means.
pub fn classify_wrapup(code: &str) -> ContactOutcome {
    match code {
        "OUTBOUND_MESSAGE_SENT" => ContactOutcome::Sent,
        "OUTBOUND_MESSAGE_FAILED"
        | "OUTBOUND_MESSAGE_THROTTLED"
        | "ININ_OUTBOUND_CAMPAIGN_FORCED_OFF"
        | "ININ_OUTBOUND_DNC_SKIPPED"
        | "ININ_OUTBOUND_ON_DO_NOT_CALL_LIST"
        | "ININ_OUTBOUND_CONTACT_UNCALLABLE"
        | "OUTBOUND_MESSAGE_BLANK"
        | "OUTBOUND_MAX_MESSAGE_LENGTH_EXCEEDED"
        | "OUTBOUND_INVALID_CONTENT_TEMPLATE" => ContactOutcome::Failed,
        _ => ContactOutcome::Unknown,
    }
}

/// `SmsPhoneNumberRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsPhoneNumberRef {
    /// The E.164 sender number.
    pub phone_number: String,
}

/// `SmsConfig`: `contentTemplate` or `messageColumn`, never both (herald: the template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsConfig {
    /// The column with each contact's number.
    pub phone_column: String,
    /// The sender.
    pub sender_sms_phone_number: SmsPhoneNumberRef,
    /// The `CampaignSmsTemplate` response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_template: Option<EntityRef>,
    /// A column with each contact's text (herald never uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_column: Option<String>,
}

/// `FromEmailAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FromEmailAddress {
    /// The sending domain.
    pub domain: EntityRef,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// The part before `@`.
    pub local_part: String,
}

/// `EmailConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailConfig {
    /// The columns with each contact's address.
    pub email_columns: Vec<String>,
    /// The `CampaignEmailTemplate` response.
    pub content_template: EntityRef,
    /// The sender.
    pub from_address: FromEmailAddress,
}

/// A messaging campaign (`MessagingCampaign`, the fields herald sets and reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagingCampaign {
    /// Id (absent on create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Version (required on update; must be the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `on`, `stopping`, `off`, `complete`, `invalid`, `forced_off`, `forced_stopping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_status: Option<String>,
    /// The contact list.
    pub contact_list: Option<EntityRef>,
    /// DNC lists checked before each message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnc_lists: Vec<EntityRef>,
    /// A callable time set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callable_time_set: Option<EntityRef>,
    /// Whether it stays `on` when its list is exhausted (herald: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_running: Option<bool>,
    /// Messages per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_minute: Option<i64>,
    /// SMS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_config: Option<SmsConfig>,
    /// Email settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_config: Option<EmailConfig>,
}

impl MessagingCampaign {
    /// Its status (`off` when Genesys did not say).
    pub fn status(&self) -> &str {
        self.campaign_status.as_deref().unwrap_or("off")
    }
}

/// A campaign's progress (`CampaignProgress`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignProgress {
    /// Contacts messaged.
    #[serde(default)]
    pub number_of_contacts_messaged: i64,
    /// Contacts in its list.
    #[serde(default)]
    pub total_number_of_contacts: i64,
    /// Percentage of the list processed.
    #[serde(default)]
    pub percentage: i64,
    /// Skipped contacts by wrap-up code.
    #[serde(default)]
    pub number_of_contacts_skipped: BTreeMap<String, i64>,
}

impl CampaignProgress {
    /// Contacts processed: messaged or skipped.
    pub fn processed(&self) -> i64 {
        self.number_of_contacts_messaged + self.number_of_contacts_skipped.values().sum::<i64>()
    }
}

impl GenesysClient {
    /// Creates a contact list. Not retried once it may have been applied: find it by name.
    #[instrument(skip_all)]
    pub async fn create_contact_list(
        &self,
        draft: &ContactListDraft,
    ) -> Result<ContactList, ApiError> {
        let call = Call::new(Method::POST, CONTACT_LISTS, Class::Unsafe).json(draft)?;
        self.call_json(call, "created contact list").await
    }

    /// The contact list with exactly this name, if any.
    #[instrument(skip_all)]
    pub async fn find_contact_list_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ContactList>, ApiError> {
        let lists: Vec<ContactList> = self
            .get_all_pages(
                CONTACT_LISTS,
                &[("name", name.to_owned())],
                "contact list listing",
            )
            .await?;
        Ok(lists.into_iter().find(|l| l.name == name))
    }

    /// One contact list, with its size.
    #[instrument(skip_all)]
    pub async fn get_contact_list(&self, id: &str) -> Result<ContactList, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("{CONTACT_LISTS}/{}", seg(id)),
            Class::Idempotent,
        )
        .query("includeSize", "true");
        self.call_json(call, "contact list").await
    }

    /// Uploads contacts in requests of at most [`CONTACTS_PER_REQUEST`]. Retried like a read:
    /// the contact ids are the caller's, so a repeat rewrites the same contacts. With
    /// `do_not_queue`, a rewritten contact is not queued again in a campaign already running
    /// on the list (Genesys re-queues updated contacts otherwise). Calls `on_batch` with the
    /// contacts uploaded so far after each request.
    #[instrument(skip_all, fields(count = contacts.len()))]
    pub async fn add_contacts(
        &self,
        list_id: &str,
        contacts: &[WritableContact],
        do_not_queue: bool,
        on_batch: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), ApiError> {
        let mut done = 0;
        for chunk in contacts.chunks(CONTACTS_PER_REQUEST) {
            let call = Call::new(
                Method::POST,
                format!("{CONTACT_LISTS}/{}/contacts", seg(list_id)),
                Class::Idempotent,
            )
            .query("priority", "false")
            .query("clearSystemData", "false")
            .query("doNotQueue", do_not_queue.to_string())
            .json(chunk)?;
            self.execute(call).await?;
            done += chunk.len();
            on_batch(done);
        }
        Ok(())
    }

    /// Reads contacts by id with their latest evaluations, in requests of at most
    /// [`CONTACTS_PER_REQUEST`]. Ids Genesys does not hold are left out of the answer.
    #[instrument(skip_all, fields(count = ids.len()))]
    pub async fn get_contacts_bulk(
        &self,
        list_id: &str,
        ids: &[String],
    ) -> Result<Vec<DialerContact>, ApiError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CONTACTS_PER_REQUEST) {
            let call = Call::new(
                Method::POST,
                format!("{CONTACT_LISTS}/{}/contacts/bulk", seg(list_id)),
                Class::Idempotent,
            )
            .json(chunk)?;
            let found: Vec<DialerContact> = self.call_json(call, "contacts").await?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Creates a messaging campaign. It must be created `off` (the status is forced here), so
    /// nothing is sent before herald starts it. Not retried once it may have been applied.
    #[instrument(skip_all)]
    pub async fn create_messaging_campaign(
        &self,
        campaign: &MessagingCampaign,
    ) -> Result<MessagingCampaign, ApiError> {
        let mut body = campaign.clone();
        body.id = None;
        body.version = None;
        body.campaign_status = Some("off".to_owned());
        body.always_running = Some(false);
        let call = Call::new(Method::POST, CAMPAIGNS, Class::Unsafe).json(&body)?;
        self.call_json(call, "created messaging campaign").await
    }

    /// The messaging campaign with exactly this name, if any.
    #[instrument(skip_all)]
    pub async fn find_messaging_campaign_by_name(
        &self,
        name: &str,
    ) -> Result<Option<MessagingCampaign>, ApiError> {
        let all: Vec<MessagingCampaign> = self
            .get_all_pages(
                CAMPAIGNS,
                &[("name", name.to_owned())],
                "messaging campaign listing",
            )
            .await?;
        Ok(all.into_iter().find(|c| c.name == name))
    }

    /// One messaging campaign.
    #[instrument(skip_all)]
    pub async fn get_messaging_campaign(&self, id: &str) -> Result<MessagingCampaign, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("{CAMPAIGNS}/{}", seg(id)),
            Class::Idempotent,
        );
        self.call_json(call, "messaging campaign").await
    }

    /// Replaces a messaging campaign; `campaign.version` must be the current one (a stale one
    /// is [`ApiError::Conflict`]). Refuses to switch a `complete` campaign `on`.
    #[instrument(skip_all)]
    pub async fn update_messaging_campaign(
        &self,
        campaign: &MessagingCampaign,
    ) -> Result<MessagingCampaign, ApiError> {
        let id = campaign.id.as_deref().ok_or_else(|| ApiError::Config {
            reason: "a messaging campaign update needs its id".to_owned(),
        })?;
        if campaign.version.is_none() {
            return Err(ApiError::Config {
                reason: "a messaging campaign update needs its current version".to_owned(),
            });
        }
        if campaign.status() == "on" {
            let now = self.get_messaging_campaign(id).await?;
            refuse_restart(&now)?;
        }
        let call = Call::new(
            Method::PUT,
            format!("{CAMPAIGNS}/{}", seg(id)),
            Class::Idempotent,
        )
        .json(campaign)?;
        self.call_json(call, "updated messaging campaign").await
    }

    /// Switches a campaign `on` (start) or `off` (stop; an `on` campaign becomes `stopping`,
    /// then `off`) with a version-guarded PUT of the campaign as it is now. Starting a
    /// campaign that is already `on` does nothing; starting a `complete` one is refused.
    #[instrument(skip_all)]
    pub async fn set_messaging_campaign_status(
        &self,
        id: &str,
        on: bool,
    ) -> Result<MessagingCampaign, ApiError> {
        let now = self.get_messaging_campaign(id).await?;
        self.switch_messaging_campaign(now, on).await
    }

    /// [`Self::set_messaging_campaign_status`] from the campaign as the caller last read it
    /// (e.g. the answer to its creation): one request instead of two. The PUT is
    /// version-guarded, so a campaign changed since is [`ApiError::Conflict`], never
    /// overwritten.
    #[instrument(skip_all)]
    pub async fn switch_messaging_campaign(
        &self,
        mut now: MessagingCampaign,
        on: bool,
    ) -> Result<MessagingCampaign, ApiError> {
        let id = now.id.clone().ok_or_else(|| ApiError::Config {
            reason: "a messaging campaign update needs its id".to_owned(),
        })?;
        let want = if on { "on" } else { "off" };
        if on {
            refuse_restart(&now)?;
            if now.status() == "on" {
                return Ok(now);
            }
        } else if matches!(now.status(), "off" | "stopping" | "complete") {
            return Ok(now);
        }
        now.campaign_status = Some(want.to_owned());
        let call = Call::new(
            Method::PUT,
            format!("{CAMPAIGNS}/{}", seg(&id)),
            Class::Idempotent,
        )
        .json(&now)?;
        self.call_json(call, "updated messaging campaign").await
    }

    /// A campaign's progress.
    #[instrument(skip_all)]
    pub async fn get_messaging_campaign_progress(
        &self,
        id: &str,
    ) -> Result<CampaignProgress, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("{CAMPAIGNS}/{}/progress", seg(id)),
            Class::Idempotent,
        );
        self.call_json(call, "messaging campaign progress").await
    }
}

/// A `complete` campaign switched on again messages its whole list from the first contact:
/// never.
fn refuse_restart(now: &MessagingCampaign) -> Result<(), ApiError> {
    if now.status() == "complete" {
        return Err(ApiError::Config {
            reason: format!(
                "messaging campaign {} is complete; switching it on again would message its whole list again, so herald never does",
                now.id.as_deref().unwrap_or("?")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapup_codes_map_to_outcomes() {
        assert_eq!(
            classify_wrapup("OUTBOUND_MESSAGE_SENT"),
            ContactOutcome::Sent
        );
        assert_eq!(
            classify_wrapup("ININ_OUTBOUND_ON_DO_NOT_CALL_LIST"),
            ContactOutcome::Failed
        );
        assert_eq!(
            classify_wrapup("OUTBOUND_MESSAGE_AMBIGUOUS"),
            ContactOutcome::Unknown
        );
        assert_eq!(classify_wrapup("SOMETHING_NEW"), ContactOutcome::Unknown);
    }

    #[test]
    fn a_campaign_serialises_with_the_sdk_field_names() {
        let c = MessagingCampaign {
            name: "w".into(),
            contact_list: Some(EntityRef::id("l")),
            dnc_lists: vec![EntityRef::id("d")],
            messages_per_minute: Some(10),
            sms_config: Some(SmsConfig {
                phone_column: "address".into(),
                sender_sms_phone_number: SmsPhoneNumberRef {
                    phone_number: "+15550001111".into(),
                },
                content_template: Some(EntityRef::id("r")),
                message_column: None,
            }),
            ..MessagingCampaign::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["contactList"]["id"], "l");
        assert_eq!(v["dncLists"][0]["id"], "d");
        assert_eq!(v["messagesPerMinute"], 10);
        assert_eq!(v["smsConfig"]["phoneColumn"], "address");
        assert_eq!(
            v["smsConfig"]["senderSmsPhoneNumber"]["phoneNumber"],
            "+15550001111"
        );
        assert_eq!(v["smsConfig"]["contentTemplate"]["id"], "r");
        assert!(v["smsConfig"].get("messageColumn").is_none());
        assert!(v.get("id").is_none());
    }
}
