//! Outbound messaging campaigns with the shapes of the official SDK (`MessagingCampaign`,
//! `SmsConfig`, `EmailConfig`, `ContactSort`, `CampaignProgress`,
//! `MessagingCampaignDiagnostics`, `CallableTimeSet`), and the dispatcher that messages their
//! contacts:
//!
//! - `POST|GET /api/v2/outbound/messagingcampaigns`, `GET|PUT|DELETE …/{id}` (PUT needs the
//!   current `version`: a stale one is 409 `conflict`), `POST …/{id}/start|stop`,
//!   `GET|DELETE …/{id}/progress` (DELETE resets the progress: the list is messaged again from
//!   its first contact), `GET …/{id}/diagnostics`;
//! - `POST|GET /api/v2/outbound/callabletimesets[/{id}]`.
//!
//! The dispatcher ([`dispatch_pass`]) runs on the sandbox clock: an `on` campaign may have sent
//! `floor(elapsed × messagesPerMinute / 60 s)` messages since it was (re)started. It walks the
//! list in queue order (or by `contactSorts`), skips uncallable contacts and numbers on the
//! campaign's DNC lists (recording a wrap-up evaluation), leaves contacts outside the callable
//! time set for later, renders the content template (or reads the message column), records each
//! message exactly as an agentless send is recorded, and sets the campaign `complete` when every
//! contact has been processed. A `stopping` campaign becomes `off` at the next pass.
//!
//! Invariants: a contact is messaged at most once per run of a campaign; a run ends only by
//! `complete → on` (PUT or start) or `DELETE …/progress` — the two hazards — or by re-queueing a
//! contact (re-upload without `doNotQueue`); a message and the contact's evaluation are
//! committed in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::app::{AppState, ConnAbort, DropAfterAccept, GJson};
use crate::clock::iso;
use crate::contactlists::{ContactList, DialerContact, MessageEvaluation};
use crate::error::{ApiError, SandboxError};
use crate::org::OrgSetup;
use crate::responses::{home_division, page, paging_params};
use crate::store::{self, AcceptedMessage, Channel, Table};
use crate::wire::{DncList, EntityRef};

const CAMPAIGNS: &str = "/api/v2/outbound/messagingcampaigns";
const TIME_SETS: &str = "/api/v2/outbound/callabletimesets";
/// Contacts read per query by the dispatcher (without `contactSorts`).
const PENDING_BATCH: i64 = 500;
const STATUSES: [&str; 7] = [
    "on",
    "stopping",
    "off",
    "complete",
    "invalid",
    "forced_off",
    "forced_stopping",
];

/// Wrap-up codes the dispatcher records (the names of Genesys' system wrap-up codes for
/// messaging campaigns).
pub(crate) const SENT: &str = "OUTBOUND_MESSAGE_SENT";
pub(crate) const ON_DNC: &str = "ININ_OUTBOUND_ON_DO_NOT_CALL_LIST";
pub(crate) const UNCALLABLE: &str = "ININ_OUTBOUND_CONTACT_UNCALLABLE";
pub(crate) const BLANK: &str = "OUTBOUND_MESSAGE_BLANK";
pub(crate) const TOO_LONG: &str = "OUTBOUND_MAX_MESSAGE_LENGTH_EXCEEDED";

/// Genesys `SmsPhoneNumberRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SmsPhoneNumberRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) self_uri: Option<String>,
}

/// Genesys `SmsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SmsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) phone_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sender_sms_phone_number: Option<SmsPhoneNumberRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_template: Option<EntityRef>,
}

/// Genesys `FromEmailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FromEmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) local_part: Option<String>,
}

/// Genesys `ReplyToEmailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplyToEmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) route: Option<EntityRef>,
}

/// Genesys `EmailConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email_columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_template: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from_address: Option<FromEmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to_address: Option<ReplyToEmailAddress>,
}

/// Genesys `ContactSort`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContactSort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) numeric: Option<bool>,
}

/// Genesys `MessagingCampaign` (SMS and email; no `WhatsApp`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessagingCampaign {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) date_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) date_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) division: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) campaign_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callable_time_set: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_list: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dnc_lists: Option<Vec<EntityRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) always_running: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_sorts: Option<Vec<ContactSort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) messages_per_minute: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rule_sets: Option<Vec<EntityRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_list_filters: Option<Vec<EntityRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email_config: Option<EmailConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sms_config: Option<SmsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) self_uri: Option<String>,
}

impl MessagingCampaign {
    fn status(&self) -> &str {
        self.campaign_status.as_deref().unwrap_or("off")
    }

    fn list_id(&self) -> &str {
        self.contact_list
            .as_ref()
            .and_then(|r| r.id.as_deref())
            .unwrap_or_default()
    }
}

/// Genesys `CampaignTimeSlot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimeSlot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day: Option<i64>,
}

/// Genesys `CallableTime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallableTime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_slots: Option<Vec<TimeSlot>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone_id: Option<String>,
}

/// Genesys `CallableTimeSet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallableTimeSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    callable_times: Option<Vec<CallableTime>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    self_uri: Option<String>,
}

fn parse_slot_time(s: &str) -> Option<jiff::civil::Time> {
    jiff::civil::Time::strptime("%H:%M:%S", s)
        .or_else(|_| jiff::civil::Time::strptime("%H:%M", s))
        .ok()
}

fn validate_time_set(body: &CallableTimeSet) -> Result<(), ApiError> {
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::missing_field("name"));
    }
    let times = body.callable_times.as_deref().unwrap_or_default();
    if times.is_empty() {
        return Err(ApiError::missing_field("callableTimes"));
    }
    for t in times {
        let Some(tz) = t.time_zone_id.as_deref() else {
            return Err(ApiError::missing_field("callableTimes.timeZoneId"));
        };
        if jiff::tz::TimeZone::get(tz).is_err() {
            return Err(ApiError::invalid_field(
                "callableTimes.timeZoneId",
                format!("Unknown time zone '{tz}'."),
            ));
        }
        for slot in t.time_slots.iter().flatten() {
            let ok = slot.day.is_some_and(|d| (1..=7).contains(&d))
                && slot
                    .start_time
                    .as_deref()
                    .and_then(parse_slot_time)
                    .is_some()
                && slot
                    .stop_time
                    .as_deref()
                    .and_then(parse_slot_time)
                    .is_some();
            if !ok {
                return Err(ApiError::invalid_field(
                    "callableTimes.timeSlots",
                    "Each time slot needs startTime and stopTime (HH:mm:ss) and a day 1-7.",
                ));
            }
        }
    }
    Ok(())
}

pub(crate) async fn create_time_set(
    State(state): State<AppState>,
    GJson(body): GJson<CallableTimeSet>,
) -> Result<Json<CallableTimeSet>, ApiError> {
    validate_time_set(&body)?;
    let now = iso(state.now());
    let id = uuid::Uuid::new_v4().to_string();
    let set = CallableTimeSet {
        id: Some(id.clone()),
        date_created: Some(now.clone()),
        date_modified: Some(now),
        version: Some(1),
        self_uri: Some(format!("{TIME_SETS}/{id}")),
        ..body
    };
    let stored = set.clone();
    state
        .store
        .call(move |c| store::put_entity(c, Table::CallableTimeSets, &id, &stored))
        .await?;
    Ok(Json(set))
}

pub(crate) async fn get_time_set(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CallableTimeSet>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| store::get_entity(c, Table::CallableTimeSets, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("callable time set", &id))
}

/// Whether `now` falls in one of the set's slots, in the contact's zone when it has one, else
/// in each callable time's own zone.
fn callable_now(
    set: &CallableTimeSet,
    contact_zone: Option<&jiff::tz::TimeZone>,
    now: Timestamp,
) -> bool {
    set.callable_times.iter().flatten().any(|t| {
        let zone = match contact_zone {
            Some(z) => z.clone(),
            None => match t.time_zone_id.as_deref().map(jiff::tz::TimeZone::get) {
                Some(Ok(z)) => z,
                _ => return false,
            },
        };
        let local = zone.to_datetime(now);
        let day = i64::from(local.weekday().to_monday_one_offset());
        let time = local.time();
        t.time_slots.iter().flatten().any(|s| {
            let (Some(start), Some(stop)) = (
                s.start_time.as_deref().and_then(parse_slot_time),
                s.stop_time.as_deref().and_then(parse_slot_time),
            ) else {
                return false;
            };
            s.day == Some(day) && start <= time && time < stop
        })
    })
}

fn response_type_of(conn: &Connection, id: &str) -> Result<Option<String>, SandboxError> {
    Ok(
        store::get_entity::<crate::wire::Response>(conn, Table::Responses, id)?
            .map(|r| r.response_type.unwrap_or_default()),
    )
}

fn ref_id(r: Option<&EntityRef>) -> Option<&str> {
    r.and_then(|r| r.id.as_deref()).filter(|s| !s.is_empty())
}

/// Validates a campaign body against the stored lists, templates and the org set-up.
fn validate_campaign(
    conn: &Connection,
    org: &OrgSetup,
    body: &MessagingCampaign,
) -> Result<Result<(), ApiError>, SandboxError> {
    let err = |e: ApiError| Ok(Err(e));
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return err(ApiError::missing_field("name"));
    }
    if let Some(s) = body.campaign_status.as_deref()
        && !STATUSES.contains(&s)
    {
        return err(ApiError::invalid_field(
            "campaignStatus",
            format!("Invalid campaignStatus '{s}'."),
        ));
    }
    let Some(list_id) = ref_id(body.contact_list.as_ref()) else {
        return err(ApiError::missing_field("contactList"));
    };
    let Some(list) = store::get_entity::<ContactList>(conn, Table::ContactLists, list_id)? else {
        return err(ApiError::invalid_field(
            "contactList",
            format!("The contact list {list_id} does not exist."),
        ));
    };
    match body.messages_per_minute {
        None => return err(ApiError::missing_field("messagesPerMinute")),
        Some(n) if n < 1 => {
            return err(ApiError::invalid_field(
                "messagesPerMinute",
                "messagesPerMinute must be at least 1.",
            ));
        }
        Some(_) => {}
    }
    match (&body.sms_config, &body.email_config) {
        (Some(_), Some(_)) => {
            return err(ApiError::invalid_field(
                "smsConfig",
                "A messaging campaign has either smsConfig or emailConfig, not both.",
            ));
        }
        (None, None) => return err(ApiError::missing_field("smsConfig")),
        (Some(sms), None) => {
            let Some(phone) = sms.phone_column.as_deref() else {
                return err(ApiError::missing_field("smsConfig.phoneColumn"));
            };
            if list.phone_column(phone).is_none() {
                return err(ApiError::invalid_field(
                    "smsConfig.phoneColumn",
                    format!("'{phone}' is not a phone column of the contact list."),
                ));
            }
            let Some(sender) = sms
                .sender_sms_phone_number
                .as_ref()
                .and_then(|s| s.phone_number.as_deref())
            else {
                return err(ApiError::missing_field("smsConfig.senderSmsPhoneNumber"));
            };
            if !org.sms_numbers.iter().any(|n| n == sender) {
                return err(ApiError::invalid_field(
                    "smsConfig.senderSmsPhoneNumber",
                    format!("'{sender}' is not an SMS number provisioned in this organization."),
                ));
            }
            match (
                ref_id(sms.content_template.as_ref()),
                sms.message_column.as_deref(),
            ) {
                (Some(_), Some(_)) => {
                    return err(ApiError::invalid_field(
                        "smsConfig",
                        "smsConfig takes either contentTemplate or messageColumn, not both.",
                    ));
                }
                (None, None) => {
                    return err(ApiError::invalid_field(
                        "smsConfig",
                        "smsConfig needs either contentTemplate or messageColumn.",
                    ));
                }
                (Some(t), None) => {
                    if response_type_of(conn, t)?.as_deref() != Some("CampaignSmsTemplate") {
                        return err(ApiError::invalid_field(
                            "smsConfig.contentTemplate",
                            format!("{t} is not a CampaignSmsTemplate response."),
                        ));
                    }
                }
                (None, Some(col)) => {
                    if !list.columns().iter().any(|c| c == col) {
                        return err(ApiError::invalid_field(
                            "smsConfig.messageColumn",
                            format!("'{col}' is not a column of the contact list."),
                        ));
                    }
                }
            }
        }
        (None, Some(email)) => {
            let columns = email.email_columns.as_deref().unwrap_or_default();
            if columns.is_empty() {
                return err(ApiError::missing_field("emailConfig.emailColumns"));
            }
            if let Some(bad) = columns.iter().find(|c| !list.is_email_column(c)) {
                return err(ApiError::invalid_field(
                    "emailConfig.emailColumns",
                    format!("'{bad}' is not an email column of the contact list."),
                ));
            }
            let Some(t) = ref_id(email.content_template.as_ref()) else {
                return err(ApiError::missing_field("emailConfig.contentTemplate"));
            };
            if response_type_of(conn, t)?.as_deref() != Some("CampaignEmailTemplate") {
                return err(ApiError::invalid_field(
                    "emailConfig.contentTemplate",
                    format!("{t} is not a CampaignEmailTemplate response."),
                ));
            }
            let from = email.from_address.clone().unwrap_or_default();
            let Some(domain) = ref_id(from.domain.as_ref()) else {
                return err(ApiError::missing_field("emailConfig.fromAddress.domain"));
            };
            if !org
                .email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
            {
                return err(ApiError::invalid_field(
                    "emailConfig.fromAddress.domain",
                    format!("'{domain}' is not an outbound domain of this organization."),
                ));
            }
            if from.local_part.as_deref().is_none_or(str::is_empty) {
                return err(ApiError::missing_field("emailConfig.fromAddress.localPart"));
            }
        }
    }
    for dnc in body.dnc_lists.iter().flatten() {
        let Some(id) = ref_id(Some(dnc)) else {
            return err(ApiError::missing_field("dncLists.id"));
        };
        if store::get_entity::<DncList>(conn, Table::DncLists, id)?.is_none() {
            return err(ApiError::invalid_field(
                "dncLists",
                format!("The DNC list {id} does not exist."),
            ));
        }
    }
    if let Some(set) = body.callable_time_set.as_ref() {
        let id = set.id.as_deref().unwrap_or_default();
        if store::get_entity::<CallableTimeSet>(conn, Table::CallableTimeSets, id)?.is_none() {
            return err(ApiError::invalid_field(
                "callableTimeSet",
                format!("The callable time set {id} does not exist."),
            ));
        }
    }
    let sorts = body.contact_sorts.as_deref().unwrap_or_default();
    if sorts.len() > 4 {
        return err(ApiError::invalid_field(
            "contactSorts",
            "Contacts may be sorted on at most four columns.",
        ));
    }
    for s in sorts {
        let field = s.field_name.as_deref().unwrap_or_default();
        if !list.columns().iter().any(|c| c == field) {
            return err(ApiError::invalid_field(
                "contactSorts",
                format!("'{field}' is not a column of the contact list."),
            ));
        }
        if let Some(d) = s.direction.as_deref()
            && d != "ASC"
            && d != "DESC"
        {
            return err(ApiError::invalid_field(
                "contactSorts.direction",
                format!("Invalid direction '{d}'."),
            ));
        }
    }
    Ok(Ok(()))
}

fn campaign_not_found(id: &str) -> ApiError {
    ApiError::not_found("messaging campaign", id)
}

/// Starts a new pacing window; with `fresh`, forgets which contacts were processed (the list is
/// messaged again from its first contact).
fn start_run(conn: &Connection, id: &str, now: Timestamp, fresh: bool) -> Result<(), SandboxError> {
    conn.execute(
        "INSERT INTO campaign_runs (campaign_id, paced_from_ms, sent_since, rescheduled) VALUES (?1, ?2, 0, 0)
         ON CONFLICT(campaign_id) DO UPDATE SET paced_from_ms = excluded.paced_from_ms, sent_since = 0",
        params![id, now.as_millisecond()],
    )?;
    if fresh {
        conn.execute(
            "DELETE FROM campaign_contacts WHERE campaign_id = ?1",
            params![id],
        )?;
        conn.execute(
            "UPDATE campaign_runs SET rescheduled = 0 WHERE campaign_id = ?1",
            params![id],
        )?;
    }
    Ok(())
}

/// Applies a requested status to a stored campaign: `on` (a `complete` campaign starts over from
/// its first contact), `off` (an `on` campaign goes `stopping`); anything else must equal the
/// current status.
fn transition(
    conn: &Connection,
    campaign: &mut MessagingCampaign,
    requested: &str,
    now: Timestamp,
) -> Result<Result<(), ApiError>, SandboxError> {
    let id = campaign.id.clone().unwrap_or_default();
    let current = campaign.status().to_owned();
    if requested == current {
        return Ok(Ok(()));
    }
    match requested {
        "on" => {
            start_run(conn, &id, now, current == "complete")?;
            campaign.campaign_status = Some("on".to_owned());
        }
        "off" => {
            campaign.campaign_status =
                Some(if current == "on" { "stopping" } else { "off" }.to_owned());
        }
        other => {
            return Ok(Err(ApiError::invalid_field(
                "campaignStatus",
                format!("campaignStatus cannot be set from '{current}' to '{other}'."),
            )));
        }
    }
    Ok(Ok(()))
}

pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<MessagingCampaign>,
) -> Result<Response, ApiError> {
    let org = state.runtime().org.clone();
    let now = state.now();
    let campaign = state
        .store
        .call(move |c| {
            if let Err(e) = validate_campaign(c, &org, &body)? {
                return Ok(Err(e));
            }
            let requested = body
                .campaign_status
                .clone()
                .unwrap_or_else(|| "off".to_owned());
            if requested != "on" && requested != "off" {
                return Ok(Err(ApiError::invalid_field(
                    "campaignStatus",
                    "A new messaging campaign is either 'on' or 'off'.",
                )));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let mut campaign = MessagingCampaign {
                id: Some(id.clone()),
                date_created: Some(iso(now)),
                date_modified: Some(iso(now)),
                version: Some(1),
                division: Some(body.division.clone().unwrap_or_else(home_division)),
                campaign_status: Some("off".to_owned()),
                always_running: Some(body.always_running.unwrap_or(false)),
                self_uri: Some(format!("{CAMPAIGNS}/{id}")),
                ..body
            };
            if let Err(e) = transition(c, &mut campaign, &requested, now)? {
                return Ok(Err(e));
            }
            store::put_entity(c, Table::MessagingCampaigns, &id, &campaign)?;
            Ok(Ok(campaign))
        })
        .await??;
    Ok(crate::messaging::answer_or_drop(drop, abort, Json(campaign).into_response()).await)
}

pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<crate::wire::Listing<MessagingCampaign>>, ApiError> {
    let (size, number) = paging_params(&query, 100)?;
    let all: Vec<MessagingCampaign> = state
        .store
        .call(|c| store::list_entities(c, Table::MessagingCampaigns))
        .await?;
    let name = query.get("name").map(|n| n.to_lowercase());
    let items = all
        .into_iter()
        .filter(|m| {
            name.as_deref().is_none_or(|n| {
                m.name
                    .as_deref()
                    .is_some_and(|mn| mn.to_lowercase().contains(n))
            })
        })
        .filter(|m| query.get("contactListId").is_none_or(|l| m.list_id() == l))
        .filter(|m| query.get("campaignStatus").is_none_or(|s| m.status() == s))
        .collect();
    Ok(Json(page(items, size, number, CAMPAIGNS, "")))
}

pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessagingCampaign>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| store::get_entity(c, Table::MessagingCampaigns, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| campaign_not_found(&id))
}

pub(crate) async fn update_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<MessagingCampaign>,
) -> Result<Response, ApiError> {
    let org = state.runtime().org.clone();
    let now = state.now();
    let campaign = state
        .store
        .call(move |c| {
            let Some(current) =
                store::get_entity::<MessagingCampaign>(c, Table::MessagingCampaigns, &id)?
            else {
                return Ok(Err(campaign_not_found(&id)));
            };
            let Some(version) = body.version else {
                return Ok(Err(ApiError::missing_field("version")));
            };
            let current_version = current.version.unwrap_or(1);
            if version != current_version {
                return Ok(Err(ApiError::version_conflict(version, current_version)));
            }
            if let Err(e) = validate_campaign(c, &org, &body)? {
                return Ok(Err(e));
            }
            let requested = body
                .campaign_status
                .clone()
                .unwrap_or_else(|| current.status().to_owned());
            let mut updated = MessagingCampaign {
                id: current.id.clone(),
                date_created: current.date_created.clone(),
                date_modified: Some(iso(now)),
                version: Some(current_version + 1),
                division: body.division.clone().or(current.division.clone()),
                campaign_status: current.campaign_status.clone(),
                always_running: Some(body.always_running.unwrap_or(false)),
                self_uri: current.self_uri.clone(),
                ..body
            };
            if let Err(e) = transition(c, &mut updated, &requested, now)? {
                return Ok(Err(e));
            }
            store::put_entity(c, Table::MessagingCampaigns, &id, &updated)?;
            Ok(Ok(updated))
        })
        .await??;
    Ok(crate::messaging::answer_or_drop(drop, abort, Json(campaign).into_response()).await)
}

pub(crate) async fn delete_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessagingCampaign>, ApiError> {
    state
        .store
        .call(move |c| {
            let Some(current) =
                store::get_entity::<MessagingCampaign>(c, Table::MessagingCampaigns, &id)?
            else {
                return Ok(Err(campaign_not_found(&id)));
            };
            if matches!(current.status(), "on" | "stopping" | "forced_stopping") {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid.campaign.status",
                    format!(
                        "The messaging campaign {id} is '{}'; turn it off before deleting it.",
                        current.status()
                    ),
                )));
            }
            store::delete_entity(c, Table::MessagingCampaigns, &id)?;
            c.execute(
                "DELETE FROM campaign_runs WHERE campaign_id = ?1",
                params![id],
            )?;
            c.execute(
                "DELETE FROM campaign_contacts WHERE campaign_id = ?1",
                params![id],
            )?;
            Ok(Ok(Json(current)))
        })
        .await?
}

async fn set_status(state: &AppState, id: String, requested: &'static str) -> Result<(), ApiError> {
    let now = state.now();
    state
        .store
        .call(move |c| {
            let Some(mut campaign) =
                store::get_entity::<MessagingCampaign>(c, Table::MessagingCampaigns, &id)?
            else {
                return Ok(Err(campaign_not_found(&id)));
            };
            if let Err(e) = transition(c, &mut campaign, requested, now)? {
                return Ok(Err(e));
            }
            campaign.date_modified = Some(iso(now));
            campaign.version = Some(campaign.version.unwrap_or(1) + 1);
            store::put_entity(c, Table::MessagingCampaigns, &id, &campaign)?;
            Ok(Ok(()))
        })
        .await?
}

/// `POST …/{id}/start`.
pub(crate) async fn start_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_status(&state, id, "on").await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST …/{id}/stop`.
pub(crate) async fn stop_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_status(&state, id, "off").await?;
    Ok(StatusCode::ACCEPTED)
}

/// Genesys `CampaignProgress`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CampaignProgress {
    campaign: EntityRef,
    contact_list: EntityRef,
    number_of_contacts_called: i64,
    number_of_contacts_messaged: i64,
    total_number_of_contacts: i64,
    percentage: i64,
    number_of_contacts_skipped: BTreeMap<String, i64>,
}

fn entity_ref(id: &str, uri: String) -> EntityRef {
    EntityRef {
        id: Some(id.to_owned()),
        name: None,
        self_uri: Some(uri),
    }
}

fn progress_of(conn: &Connection, id: &str) -> Result<Option<CampaignProgress>, SandboxError> {
    let Some(campaign) =
        store::get_entity::<MessagingCampaign>(conn, Table::MessagingCampaigns, id)?
    else {
        return Ok(None);
    };
    let list_id = campaign.list_id().to_owned();
    let total = crate::contactlists::contact_count(conn, &list_id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT outcome, COUNT(*) FROM campaign_contacts WHERE campaign_id = ?1 GROUP BY outcome",
    )?;
    let counts = stmt
        .query_map(params![id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let messaged = counts
        .iter()
        .filter(|(o, _)| o == SENT)
        .map(|(_, n)| n)
        .sum();
    let skipped: BTreeMap<String, i64> =
        counts.iter().filter(|(o, _)| o != SENT).cloned().collect();
    let processed: i64 = counts.iter().map(|(_, n)| n).sum();
    let percentage = if total == 0 {
        0
    } else {
        processed * 100 / total
    };
    Ok(Some(CampaignProgress {
        campaign: entity_ref(id, format!("{CAMPAIGNS}/{id}")),
        contact_list: entity_ref(
            &list_id,
            format!("{}/{list_id}", crate::contactlists::CONTACT_LISTS),
        ),
        number_of_contacts_called: 0,
        number_of_contacts_messaged: messaged,
        total_number_of_contacts: total,
        percentage,
        number_of_contacts_skipped: skipped,
    }))
}

/// `GET …/{id}/progress`.
pub(crate) async fn get_progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignProgress>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| progress_of(c, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| campaign_not_found(&id))
}

/// `POST /api/v2/outbound/messagingcampaigns/progress`: the progress of each campaign named
/// (ids of campaigns that do not exist are left out).
pub(crate) async fn bulk_progress(
    State(state): State<AppState>,
    GJson(ids): GJson<Vec<String>>,
) -> Result<Json<Vec<CampaignProgress>>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::missing_field("body"));
    }
    let all = state
        .store
        .call(move |c| {
            ids.iter()
                .filter_map(|id| progress_of(c, id).transpose())
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(Json(all))
}

/// `DELETE …/{id}/progress`: "Reset messaging campaign progress and recycle the messaging
/// campaign" — every contact is pending again; an `on` campaign messages the list again from
/// its first contact, a `complete` one goes `off`.
pub(crate) async fn reset_progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    state
        .store
        .call(move |c| {
            let Some(mut campaign) =
                store::get_entity::<MessagingCampaign>(c, Table::MessagingCampaigns, &id)?
            else {
                return Ok(Err(campaign_not_found(&id)));
            };
            start_run(c, &id, now, true)?;
            if campaign.status() == "complete" {
                campaign.campaign_status = Some("off".to_owned());
                store::put_entity(c, Table::MessagingCampaigns, &id, &campaign)?;
            }
            Ok(Ok(StatusCode::ACCEPTED))
        })
        .await?
}

/// Genesys `MessagingCampaignDiagnostics`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CampaignDiagnostics {
    time_zone_rescheduled_contacts_count: i64,
    filtered_out_contacts_count: i64,
}

pub(crate) async fn get_diagnostics(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignDiagnostics>, ApiError> {
    state
        .store
        .call(move |c| {
            if store::get_entity::<MessagingCampaign>(c, Table::MessagingCampaigns, &id)?.is_none()
            {
                return Ok(Err(campaign_not_found(&id)));
            }
            let rescheduled: i64 = c
                .query_row(
                    "SELECT rescheduled FROM campaign_runs WHERE campaign_id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0);
            Ok(Ok(Json(CampaignDiagnostics {
                time_zone_rescheduled_contacts_count: rescheduled,
                filtered_out_contacts_count: 0,
            })))
        })
        .await?
}

// ---------------------------------------------------------------------------------------------
// The dispatcher.

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Fills `{{Column}}` placeholders from the contact's data, else the substitution's default,
/// else nothing.
fn render(template: &str, contact: &DialerContact, defaults: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        let value = contact
            .value(key)
            .map(str::to_owned)
            .or_else(|| defaults.get(key).cloned())
            .unwrap_or_default();
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

struct Template {
    texts: Vec<crate::wire::ResponseText>,
    defaults: HashMap<String, String>,
}

fn load_template(conn: &Connection, id: Option<&str>) -> Result<Option<Template>, SandboxError> {
    let Some(id) = id else { return Ok(None) };
    Ok(
        store::get_entity::<crate::wire::Response>(conn, Table::Responses, id)?.map(|r| Template {
            texts: r.texts.unwrap_or_default(),
            defaults: r
                .substitutions
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.default_value.map(|d| (s.id, d)))
                .collect(),
        }),
    )
}

fn dnc_values(
    conn: &Connection,
    campaign: &MessagingCampaign,
) -> Result<HashSet<String>, SandboxError> {
    let mut all = HashSet::new();
    for r in campaign.dnc_lists.iter().flatten() {
        if let Some(id) = r.id.as_deref() {
            for v in store::list_dnc_entries(conn, id)? {
                all.insert(v.to_lowercase());
                let d = digits(&v);
                if !d.is_empty() && !v.contains('@') {
                    all.insert(d);
                }
            }
        }
    }
    Ok(all)
}

fn on_dnc(dnc: &HashSet<String>, address: &str) -> bool {
    if address.contains('@') {
        dnc.contains(&address.to_lowercase())
    } else {
        dnc.contains(&digits(address))
    }
}

/// Queue key of a contact: its position, then its insertion order.
type QueueKey = (i64, i64);

/// Contacts of `campaign` not yet processed in its run: with `contactSorts`, all of them in
/// that order; otherwise up to `PENDING_BATCH` in queue order after `after`.
fn pending_contacts(
    conn: &Connection,
    campaign_id: &str,
    list_id: &str,
    sorts: &[ContactSort],
    after: Option<QueueKey>,
) -> Result<Vec<(DialerContact, QueueKey)>, SandboxError> {
    let (pos, seq) = after.unwrap_or((i64::MIN, i64::MIN));
    let limit = if sorts.is_empty() { PENDING_BATCH } else { -1 };
    let mut stmt = conn.prepare_cached(
        "SELECT body, queue_pos, seq FROM contacts c WHERE c.list_id = ?1 AND NOT EXISTS
           (SELECT 1 FROM campaign_contacts p WHERE p.campaign_id = ?2 AND p.contact_id = c.id)
           AND (c.queue_pos > ?3 OR (c.queue_pos = ?3 AND c.seq > ?4))
         ORDER BY c.queue_pos, c.seq LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(params![list_id, campaign_id, pos, seq, limit], |row| {
            Ok((row.get::<_, String>(0)?, (row.get(1)?, row.get(2)?)))
        })?
        .collect::<Result<Vec<(String, QueueKey)>, _>>()?;
    let mut contacts = rows
        .into_iter()
        .map(|(b, key)| {
            serde_json::from_str::<DialerContact>(&b)
                .map(|c| (c, key))
                .map_err(SandboxError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !sorts.is_empty() {
        contacts.sort_by(|(a, _), (b, _)| {
            for s in sorts {
                let field = s.field_name.as_deref().unwrap_or_default();
                let (x, y) = (a.value(field).unwrap_or(""), b.value(field).unwrap_or(""));
                let ord = if s.numeric == Some(true) {
                    let (x, y) = (
                        x.trim().parse::<f64>().unwrap_or(f64::MAX),
                        y.trim().parse::<f64>().unwrap_or(f64::MAX),
                    );
                    x.total_cmp(&y)
                } else {
                    x.cmp(y)
                };
                let ord = if s.direction.as_deref() == Some("DESC") {
                    ord.reverse()
                } else {
                    ord
                };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    Ok(contacts)
}

#[allow(clippy::too_many_arguments)]
fn mark(
    conn: &Connection,
    campaign_id: &str,
    list_id: &str,
    mut contact: DialerContact,
    outcome: &str,
    channel: Channel,
    column: &str,
    address: Option<&str>,
    now: Timestamp,
) -> Result<(), SandboxError> {
    let id = contact.id.clone().unwrap_or_default();
    conn.execute(
        "INSERT INTO campaign_contacts (campaign_id, contact_id, outcome, at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(campaign_id, contact_id) DO UPDATE SET outcome = excluded.outcome, at_ms = excluded.at_ms",
        params![campaign_id, id, outcome, now.as_millisecond()],
    )?;
    let evaluation = MessageEvaluation {
        contact_column: Some(column.to_owned()),
        contact_address: address.map(str::to_owned),
        message_type: Some(
            if channel == Channel::Sms {
                "Sms"
            } else {
                "Email"
            }
            .to_owned(),
        ),
        wrapup_code_id: Some(outcome.to_owned()),
        timestamp: Some(iso(now)),
    };
    let map = match channel {
        Channel::Sms => contact.latest_sms_evaluations.get_or_insert_default(),
        Channel::Email => contact.latest_email_evaluations.get_or_insert_default(),
    };
    map.insert(column.to_owned(), evaluation);
    crate::contactlists::put_contact(conn, list_id, &contact)
}

/// One dispatcher pass over every campaign; returns the number of messages sent.
pub(crate) fn dispatch_pass(
    conn: &mut Connection,
    org: &OrgSetup,
    now: Timestamp,
) -> Result<usize, SandboxError> {
    let campaigns: Vec<MessagingCampaign> = store::list_entities(conn, Table::MessagingCampaigns)?;
    let mut sent_total = 0;
    for listed in campaigns {
        if !matches!(listed.status(), "on" | "stopping" | "forced_stopping") {
            continue;
        }
        let id = listed.id.clone().unwrap_or_default();
        // Immediate: another sandbox process on the same state file waits for this one, and
        // the campaign is read again inside the transaction, so no contact is messaged twice.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(mut campaign) =
            store::get_entity::<MessagingCampaign>(&tx, Table::MessagingCampaigns, &id)?
        else {
            continue;
        };
        match campaign.status() {
            "stopping" => campaign.campaign_status = Some("off".to_owned()),
            "forced_stopping" => campaign.campaign_status = Some("forced_off".to_owned()),
            "on" => sent_total += run_campaign(&tx, org, &mut campaign, now)?,
            _ => continue,
        }
        store::put_entity(&tx, Table::MessagingCampaigns, &id, &campaign)?;
        tx.commit()?;
    }
    Ok(sent_total)
}

fn run_campaign(
    conn: &Connection,
    org: &OrgSetup,
    campaign: &mut MessagingCampaign,
    now: Timestamp,
) -> Result<usize, SandboxError> {
    let id = campaign.id.clone().unwrap_or_default();
    let list_id = campaign.list_id().to_owned();
    let Some(list) = store::get_entity::<ContactList>(conn, Table::ContactLists, &list_id)? else {
        campaign.campaign_status = Some("invalid".to_owned());
        return Ok(0);
    };
    let run: Option<(i64, i64)> = conn
        .query_row(
            "SELECT paced_from_ms, sent_since FROM campaign_runs WHERE campaign_id = ?1",
            params![id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (paced_from, sent_since) = if let Some(r) = run {
        r
    } else {
        start_run(conn, &id, now, false)?;
        (now.as_millisecond(), 0)
    };
    let rate = campaign.messages_per_minute.unwrap_or(1).max(1);
    let elapsed = (now.as_millisecond() - paced_from).max(0);
    let mut allowance = i64::try_from(i128::from(elapsed) * i128::from(rate) / 60_000)
        .unwrap_or(i64::MAX)
        - sent_since;

    let (channel, columns, from, template, message_column) =
        match (&campaign.sms_config, &campaign.email_config) {
            (Some(sms), _) => (
                Channel::Sms,
                vec![sms.phone_column.clone().unwrap_or_default()],
                sms.sender_sms_phone_number
                    .as_ref()
                    .and_then(|s| s.phone_number.clone())
                    .unwrap_or_default(),
                load_template(conn, ref_id(sms.content_template.as_ref()))?,
                sms.message_column.clone(),
            ),
            (None, Some(email)) => {
                let from = email.from_address.clone().unwrap_or_default();
                (
                    Channel::Email,
                    email.email_columns.clone().unwrap_or_default(),
                    format!(
                        "{}@{}",
                        from.local_part.unwrap_or_default(),
                        ref_id(from.domain.as_ref()).unwrap_or_default()
                    ),
                    load_template(conn, ref_id(email.content_template.as_ref()))?,
                    None,
                )
            }
            (None, None) => {
                campaign.campaign_status = Some("invalid".to_owned());
                return Ok(0);
            }
        };
    let sender_ok = match channel {
        Channel::Sms => org.sms_numbers.contains(&from),
        Channel::Email => org.email_domains.iter().any(|d| {
            from.to_lowercase()
                .ends_with(&format!("@{}", d.to_lowercase()))
        }),
    };
    if !sender_ok {
        campaign.campaign_status = Some("invalid".to_owned());
        return Ok(0);
    }
    let dnc = dnc_values(conn, campaign)?;
    let time_set = match campaign
        .callable_time_set
        .as_ref()
        .and_then(|r| r.id.as_deref())
    {
        Some(ts) => store::get_entity::<CallableTimeSet>(conn, Table::CallableTimeSets, ts)?,
        None => None,
    };
    let sorts = campaign.contact_sorts.clone().unwrap_or_default();
    let mut sent = 0usize;
    let mut rescheduled = 0i64;
    let mut exhausted = true;
    let mut cursor: Option<QueueKey> = None;
    'batches: loop {
        let batch = pending_contacts(conn, &id, &list_id, &sorts, cursor)?;
        if batch.is_empty() {
            break;
        }
        let last_batch =
            !sorts.is_empty() || batch.len() < usize::try_from(PENDING_BATCH).unwrap_or(usize::MAX);
        for (contact, key) in batch {
            cursor = Some(key);
            let column = columns
                .iter()
                .find(|c| contact.value(c).is_some())
                .cloned()
                .unwrap_or_else(|| columns.first().cloned().unwrap_or_default());
            let address = contact.value(&column).map(str::to_owned);
            let number_uncallable = contact
                .phone_number_status
                .as_ref()
                .and_then(|m| m.get(&column))
                .is_some_and(|s| s.callable == Some(false));
            let Some(address) =
                address.filter(|_| contact.callable != Some(false) && !number_uncallable)
            else {
                mark(
                    conn, &id, &list_id, contact, UNCALLABLE, channel, &column, None, now,
                )?;
                continue;
            };
            if on_dnc(&dnc, &address) {
                mark(
                    conn,
                    &id,
                    &list_id,
                    contact,
                    ON_DNC,
                    channel,
                    &column,
                    Some(&address),
                    now,
                )?;
                continue;
            }
            if let Some(set) = time_set.as_ref() {
                let zone = list
                    .phone_column(&column)
                    .and_then(|p| p.callable_time_column.as_deref())
                    .and_then(|tz_col| contact.value(tz_col))
                    .and_then(|tz| jiff::tz::TimeZone::get(tz).ok())
                    .or_else(|| {
                        list.time_zone
                            .as_deref()
                            .and_then(|tz| jiff::tz::TimeZone::get(tz).ok())
                    });
                if !callable_now(set, zone.as_ref(), now) {
                    rescheduled += 1;
                    exhausted = false;
                    continue;
                }
            }
            let (text, subject, html) = match (channel, &template, &message_column) {
                (Channel::Sms, Some(t), _) => (
                    t.texts
                        .first()
                        .map(|x| render(&x.content, &contact, &t.defaults)),
                    None,
                    None,
                ),
                (Channel::Sms, None, Some(col)) => {
                    (contact.value(col).map(str::to_owned), None, None)
                }
                (Channel::Email, Some(t), _) => {
                    let pick = |kind: &str| {
                        t.texts
                            .iter()
                            .find(|x| x.kind.as_deref() == Some(kind))
                            .map(|x| render(&x.content, &contact, &t.defaults))
                    };
                    (None, pick("subject"), pick("body"))
                }
                _ => (None, None, None),
            };
            let blank = match channel {
                Channel::Sms => text.as_deref().is_none_or(|t| t.trim().is_empty()),
                Channel::Email => html.as_deref().is_none_or(|t| t.trim().is_empty()),
            };
            if blank {
                mark(
                    conn,
                    &id,
                    &list_id,
                    contact,
                    BLANK,
                    channel,
                    &column,
                    Some(&address),
                    now,
                )?;
                continue;
            }
            if channel == Channel::Sms
                && text
                    .as_deref()
                    .is_some_and(|t| t.chars().count() > crate::messaging::SMS_MAX_CHARS)
            {
                mark(
                    conn,
                    &id,
                    &list_id,
                    contact,
                    TOO_LONG,
                    channel,
                    &column,
                    Some(&address),
                    now,
                )?;
                continue;
            }
            if allowance <= 0 {
                exhausted = false;
                break 'batches;
            }
            let opted_out = store::is_opted_out(conn, &address)?;
            store::insert_message(
                conn,
                &AcceptedMessage {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    conversation_id: uuid::Uuid::new_v4().to_string(),
                    channel,
                    from: from.clone(),
                    to: address.clone(),
                    text,
                    subject,
                    html,
                    accepted_at: now,
                    recipient_opted_out: opted_out,
                },
            )?;
            mark(
                conn,
                &id,
                &list_id,
                contact,
                SENT,
                channel,
                &column,
                Some(&address),
                now,
            )?;
            allowance -= 1;
            sent += 1;
        }
        if last_batch {
            break;
        }
    }
    conn.execute(
        "UPDATE campaign_runs SET sent_since = sent_since + ?2, rescheduled = ?3 WHERE campaign_id = ?1",
        params![id, i64::try_from(sent).unwrap_or(i64::MAX), rescheduled],
    )?;
    if exhausted && campaign.always_running != Some(true) {
        campaign.campaign_status = Some("complete".to_owned());
    }
    Ok(sent)
}
