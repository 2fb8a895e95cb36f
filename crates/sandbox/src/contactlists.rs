//! Outbound contact lists and their contacts, with the shapes of the official SDK
//! (`ContactList`, `ContactPhoneNumberColumn`, `EmailColumn`, `WritableDialerContact`,
//! `DialerContact`, `MessageEvaluation`): `POST|GET /api/v2/outbound/contactlists`,
//! `GET|DELETE …/{contactListId}`, `POST …/{contactListId}/contacts` (query `priority`,
//! `clearSystemData`, `doNotQueue`), `POST …/contacts/bulk` (read back by ids) and
//! `GET …/contacts/{contactId}`.
//!
//! Invariants: a contact is keyed by (list, caller-chosen id), so adding the same id again
//! rewrites that contact (its data) instead of adding a second one; the list's `size` is the
//! number of distinct contacts; a rewritten contact keeps its queue position unless `priority`
//! moves it to the front, and keeps its system data (evaluations, callable status) unless
//! `clearSystemData`; unless `doNotQueue`, a rewritten contact is queued again in every campaign
//! that already processed it (Genesys' documented meaning: "updated contacts will be
//! re-queued"), so it may be messaged again.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::app::{AppState, ConnAbort, DropAfterAccept, GJson};
use crate::clock::iso;
use crate::error::{ApiError, SandboxError};
use crate::responses::{home_division, page, paging_params};
use crate::store::{self, Table};
use crate::wire::EntityRef;

pub(crate) const CONTACT_LISTS: &str = "/api/v2/outbound/contactlists";
/// Columns per contact list (Genesys' documented limit).
pub(crate) const MAX_COLUMNS: usize = 50;
/// Contacts per contact list (Genesys' documented limit), unless changed through the admin API.
pub const DEFAULT_MAX_CONTACTS_PER_LIST: u64 = 1_000_000;
/// Contacts per `POST …/contacts` request, unless changed through the admin API.
pub const DEFAULT_MAX_CONTACTS_PER_REQUEST: usize = 1_000;
/// Contacts in all the org's contact lists together (Genesys' documented limit).
pub const DEFAULT_MAX_CONTACTS_PER_ORG: u64 = 5_000_000;
/// Phone columns per contact list (Genesys' documented limit).
pub(crate) const MAX_PHONE_COLUMNS: usize = 10;
/// Characters of a column name (Genesys' documented limit).
pub(crate) const MAX_COLUMN_NAME_CHARS: usize = 128;
/// Characters of one contact value (Genesys' documented limit).
pub(crate) const MAX_VALUE_CHARS: usize = 512;

/// Genesys `ContactPhoneNumberColumn`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhoneColumn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) column_name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callable_time_column_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callable_time_column: Option<String>,
}

/// Genesys `EmailColumn`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailColumn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) column_name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contactable_time_column_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contactable_time_column: Option<String>,
}

/// Genesys `ContactList` (the fields the sandbox keeps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContactList {
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
    pub(crate) column_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) phone_columns: Option<Vec<PhoneColumn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email_columns: Option<Vec<EmailColumn>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) preview_mode_column_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) preview_mode_accepted_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempt_limits: Option<EntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) automatic_time_zone_mapping: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) zip_code_column_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trim_whitespace: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retention_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) self_uri: Option<String>,
}

impl ContactList {
    pub(crate) fn columns(&self) -> &[String] {
        self.column_names.as_deref().unwrap_or_default()
    }

    pub(crate) fn phone_column(&self, name: &str) -> Option<&PhoneColumn> {
        self.phone_columns
            .iter()
            .flatten()
            .find(|c| c.column_name.as_deref() == Some(name))
    }

    pub(crate) fn is_email_column(&self, name: &str) -> bool {
        self.email_columns
            .iter()
            .flatten()
            .any(|c| c.column_name.as_deref() == Some(name))
    }
}

/// Genesys `MessageEvaluation`: the wrap-up applied to one contact column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageEvaluation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wrapup_code_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timestamp: Option<String>,
}

/// Genesys `PhoneNumberStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhoneNumberStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callable: Option<bool>,
}

/// Genesys `DialerContact` (answers) and `WritableDialerContact` (requests): the sandbox
/// reads both into this one shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DialerContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_list_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) latest_sms_evaluations: Option<BTreeMap<String, MessageEvaluation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) latest_email_evaluations: Option<BTreeMap<String, MessageEvaluation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) phone_number_status: Option<BTreeMap<String, PhoneNumberStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) date_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) self_uri: Option<String>,
}

impl DialerContact {
    pub(crate) fn value(&self, column: &str) -> Option<&str> {
        self.data
            .as_ref()
            .and_then(|d| d.get(column))
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

fn contact_list_not_found(id: &str) -> ApiError {
    ApiError::not_found("contact list", id)
}

fn validate_list(body: &ContactList) -> Result<(), ApiError> {
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::missing_field("name"));
    }
    let columns = body.columns();
    if columns.is_empty() {
        return Err(ApiError::missing_field("columnNames"));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(ApiError::invalid_field(
            "columnNames",
            format!(
                "A contact list may have at most {MAX_COLUMNS} columns; {} were given.",
                columns.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for c in columns {
        if c.trim().is_empty() {
            return Err(ApiError::invalid_field(
                "columnNames",
                "Column names may not be blank.",
            ));
        }
        if c.chars().count() > MAX_COLUMN_NAME_CHARS {
            return Err(ApiError::invalid_field(
                "columnNames",
                format!("Column names are at most {MAX_COLUMN_NAME_CHARS} characters: '{c}'."),
            ));
        }
        if !seen.insert(c.to_lowercase()) {
            return Err(ApiError::invalid_field(
                "columnNames",
                format!("Duplicate column name '{c}'."),
            ));
        }
    }
    let known = |name: &str| columns.iter().any(|c| c == name);
    let atzm = body.automatic_time_zone_mapping == Some(true);
    let phones = body.phone_columns.as_deref().unwrap_or_default();
    let emails = body.email_columns.as_deref().unwrap_or_default();
    if phones.is_empty() && emails.is_empty() {
        return Err(ApiError::invalid_field(
            "phoneColumns",
            "A contact list needs at least one phone column or email column.",
        ));
    }
    if phones.len() > MAX_PHONE_COLUMNS {
        return Err(ApiError::invalid_field(
            "phoneColumns",
            format!("A contact list may have at most {MAX_PHONE_COLUMNS} phone columns."),
        ));
    }
    for p in phones {
        let Some(name) = p.column_name.as_deref() else {
            return Err(ApiError::missing_field("phoneColumns.columnName"));
        };
        if !known(name) {
            return Err(ApiError::invalid_field(
                "phoneColumns",
                format!("Phone column '{name}' is not one of columnNames."),
            ));
        }
        if let Some(tz) = p.callable_time_column.as_deref() {
            if atzm {
                return Err(ApiError::invalid_field(
                    "phoneColumns.callableTimeColumn",
                    "callableTimeColumn is not allowed when automaticTimeZoneMapping is true.",
                ));
            }
            if !known(tz) {
                return Err(ApiError::invalid_field(
                    "phoneColumns.callableTimeColumn",
                    format!("Callable time column '{tz}' is not one of columnNames."),
                ));
            }
        }
    }
    for e in emails {
        let Some(name) = e.column_name.as_deref() else {
            return Err(ApiError::missing_field("emailColumns.columnName"));
        };
        if !known(name) {
            return Err(ApiError::invalid_field(
                "emailColumns",
                format!("Email column '{name}' is not one of columnNames."),
            ));
        }
    }
    if let Some(zip) = body.zip_code_column_name.as_deref() {
        if !atzm {
            return Err(ApiError::invalid_field(
                "zipCodeColumnName",
                "zipCodeColumnName is only allowed when automaticTimeZoneMapping is true.",
            ));
        }
        if !known(zip) {
            return Err(ApiError::invalid_field(
                "zipCodeColumnName",
                format!("'{zip}' is not one of columnNames."),
            ));
        }
    }
    Ok(())
}

pub(crate) fn contact_count(conn: &Connection, list_id: &str) -> Result<i64, SandboxError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM contacts WHERE list_id = ?1",
        params![list_id],
        |row| row.get(0),
    )?)
}

/// The list with its `size` when the caller asked for it (`includeSize=true`), as Genesys
/// reports it only then.
fn with_size(
    conn: &Connection,
    mut list: ContactList,
    include: bool,
) -> Result<ContactList, SandboxError> {
    list.size = None;
    if include && let Some(id) = list.id.clone() {
        list.size = Some(contact_count(conn, &id)?);
    }
    Ok(list)
}

fn include_size(query: &HashMap<String, String>) -> bool {
    query
        .get("includeSize")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(crate) async fn create_contact_list(
    State(state): State<AppState>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<ContactList>,
) -> Result<Response, ApiError> {
    validate_list(&body)?;
    let now = iso(state.now());
    let id = uuid::Uuid::new_v4().to_string();
    let list = ContactList {
        id: Some(id.clone()),
        date_created: Some(now.clone()),
        date_modified: Some(now),
        version: Some(1),
        division: Some(body.division.clone().unwrap_or_else(home_division)),
        size: None,
        trim_whitespace: Some(body.trim_whitespace.unwrap_or(true)),
        automatic_time_zone_mapping: Some(body.automatic_time_zone_mapping.unwrap_or(false)),
        self_uri: Some(format!("{CONTACT_LISTS}/{id}")),
        ..body
    };
    let stored = list.clone();
    state
        .store
        .call(move |c| store::put_entity(c, Table::ContactLists, &id, &stored))
        .await?;
    Ok(crate::messaging::answer_or_drop(drop, abort, Json(list).into_response()).await)
}

pub(crate) async fn list_contact_lists(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<crate::wire::Listing<ContactList>>, ApiError> {
    let (size, number) = paging_params(&query, 100)?;
    let name = query.get("name").map(|n| n.to_lowercase());
    let include = include_size(&query);
    let all = state
        .store
        .call(move |c| {
            store::list_entities::<ContactList>(c, Table::ContactLists)?
                .into_iter()
                .map(|l| with_size(c, l, include))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let items = all
        .into_iter()
        .filter(|l| {
            name.as_deref().is_none_or(|n| {
                l.name
                    .as_deref()
                    .is_some_and(|ln| ln.to_lowercase().contains(n))
            })
        })
        .collect();
    Ok(Json(page(items, size, number, CONTACT_LISTS, "")))
}

pub(crate) async fn get_contact_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ContactList>, ApiError> {
    let lookup = id.clone();
    let include = include_size(&query);
    state
        .store
        .call(move |c| {
            store::get_entity::<ContactList>(c, Table::ContactLists, &lookup)?
                .map(|l| with_size(c, l, include))
                .transpose()
        })
        .await?
        .map(Json)
        .ok_or_else(|| contact_list_not_found(&id))
}

pub(crate) async fn delete_contact_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lookup = id.clone();
    let in_use = state
        .store
        .call(move |c| {
            let campaigns: Vec<crate::campaigns::MessagingCampaign> =
                store::list_entities(c, Table::MessagingCampaigns)?;
            Ok(campaigns
                .into_iter()
                .find(|m| {
                    m.contact_list.as_ref().and_then(|r| r.id.as_deref()) == Some(lookup.as_str())
                })
                .and_then(|m| m.id))
        })
        .await?;
    if let Some(campaign) = in_use {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "resource.in.use",
            format!("The contact list {id} is used by messaging campaign {campaign}."),
        ));
    }
    let deleted = state
        .store
        .call(move |c| {
            let deleted = store::delete_entity(c, Table::ContactLists, &id)?;
            c.execute("DELETE FROM contacts WHERE list_id = ?1", params![id])?;
            Ok(deleted)
        })
        .await?;
    if deleted {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found("contact list", "the given id"))
    }
}

/// Query of `POST …/contacts`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddContactsQuery {
    #[serde(default)]
    priority: Option<bool>,
    #[serde(default)]
    clear_system_data: Option<bool>,
    #[serde(default)]
    do_not_queue: Option<bool>,
}

fn contact_uri(list_id: &str, id: &str) -> String {
    format!("{CONTACT_LISTS}/{list_id}/contacts/{id}")
}

pub(crate) fn get_contact(
    conn: &Connection,
    list_id: &str,
    id: &str,
) -> Result<Option<DialerContact>, SandboxError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM contacts WHERE list_id = ?1 AND id = ?2",
            params![list_id, id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

pub(crate) fn put_contact(
    conn: &Connection,
    list_id: &str,
    contact: &DialerContact,
) -> Result<(), SandboxError> {
    let id = contact.id.clone().unwrap_or_default();
    conn.execute(
        "UPDATE contacts SET body = ?3 WHERE list_id = ?1 AND id = ?2",
        params![list_id, id, serde_json::to_string(contact)?],
    )?;
    Ok(())
}

fn validate_contact(list: &ContactList, c: &DialerContact) -> Result<(), ApiError> {
    if let Some(id) = c.id.as_deref()
        && (id.trim().is_empty() || id.len() > 255)
    {
        return Err(ApiError::invalid_field(
            "id",
            format!("Invalid contact id '{id}'."),
        ));
    }
    if let Some(list_id) = c.contact_list_id.as_deref()
        && Some(list_id) != list.id.as_deref()
    {
        return Err(ApiError::invalid_field(
            "contactListId",
            format!("contactListId '{list_id}' does not match the contact list in the path."),
        ));
    }
    let Some(data) = c.data.as_ref() else {
        return Err(ApiError::missing_field("data"));
    };
    if let Some(unknown) = data.keys().find(|k| !list.columns().contains(k)) {
        return Err(ApiError::invalid_field(
            "data",
            format!("'{unknown}' is not a column of the contact list."),
        ));
    }
    if let Some((column, _)) = data
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_VALUE_CHARS)
    {
        return Err(ApiError::invalid_field(
            "data",
            format!("The value of '{column}' is longer than {MAX_VALUE_CHARS} characters."),
        ));
    }
    Ok(())
}

pub(crate) async fn add_contacts(
    State(state): State<AppState>,
    Path(list_id): Path<String>,
    Query(query): Query<AddContactsQuery>,
    drop: Option<axum::Extension<DropAfterAccept>>,
    abort: Option<axum::Extension<ConnAbort>>,
    GJson(body): GJson<Vec<DialerContact>>,
) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::missing_field("body"));
    }
    let (max_per_list, max_per_request, max_per_org) = {
        let rt = state.runtime();
        (
            rt.outbound_limits.max_contacts_per_list,
            rt.outbound_limits.max_contacts_per_request,
            rt.outbound_limits.max_contacts_per_org,
        )
    };
    if body.len() > max_per_request {
        return Err(ApiError::invalid_field(
            "body",
            format!(
                "At most {max_per_request} contacts may be added per request; {} were given.",
                body.len()
            ),
        ));
    }
    let now = iso(state.now());
    let added = state
        .store
        .call(move |c| {
            let Some(list) = store::get_entity::<ContactList>(c, Table::ContactLists, &list_id)?
            else {
                return Ok(Err(contact_list_not_found(&list_id)));
            };
            for contact in &body {
                if let Err(e) = validate_contact(&list, contact) {
                    return Ok(Err(e));
                }
            }
            let tx = c.transaction()?;
            let existing = contact_count(&tx, &list_id)?;
            let mut fresh = HashSet::new();
            for contact in &body {
                if let Some(id) = contact.id.as_deref()
                    && get_contact(&tx, &list_id, id)?.is_some()
                {
                    continue;
                }
                fresh.insert(contact.id.clone().unwrap_or_default());
            }
            let fresh_count = i64::try_from(fresh.len()).unwrap_or(i64::MAX);
            if u64::try_from(existing + fresh_count).unwrap_or(u64::MAX) > max_per_list {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "contact.list.size.limit.exceeded",
                    format!(
                        "The contact list would hold {} contacts; the maximum is {max_per_list}.",
                        existing + fresh_count
                    ),
                )
                .with_detail("body", "contact.list.size.limit.exceeded")));
            }
            let in_org: i64 = tx.query_row("SELECT COUNT(*) FROM contacts", [], |row| row.get(0))?;
            if u64::try_from(in_org + fresh_count).unwrap_or(u64::MAX) > max_per_org {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "contact.org.size.limit.exceeded",
                    format!(
                        "The organization's contact lists would hold {} contacts; the maximum is {max_per_org}.",
                        in_org + fresh_count
                    ),
                )
                .with_detail("body", "contact.org.size.limit.exceeded")));
            }
            let mut answers = Vec::with_capacity(body.len());
            for contact in body {
                let id = contact
                    .id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
                let previous = get_contact(&tx, &list_id, &id)?;
                let keep_system = previous.is_some() && query.clear_system_data != Some(true);
                let prior = previous.clone().unwrap_or_default();
                let stored = DialerContact {
                    id: Some(id.clone()),
                    contact_list_id: Some(list_id.clone()),
                    data: contact.data,
                    latest_sms_evaluations: if keep_system {
                        prior.latest_sms_evaluations
                    } else {
                        None
                    },
                    latest_email_evaluations: if keep_system {
                        prior.latest_email_evaluations
                    } else {
                        None
                    },
                    callable: Some(contact.callable.unwrap_or(true)),
                    phone_number_status: contact.phone_number_status.or(if keep_system {
                        prior.phone_number_status
                    } else {
                        None
                    }),
                    date_created: Some(prior.date_created.unwrap_or_else(|| now.clone())),
                    self_uri: Some(contact_uri(&list_id, &id)),
                };
                let json = serde_json::to_string(&stored)?;
                let front: i64 = tx.query_row(
                    "SELECT COALESCE(MIN(queue_pos), 0) - 1 FROM contacts WHERE list_id = ?1",
                    params![list_id],
                    |row| row.get(0),
                )?;
                if previous.is_some() {
                    tx.execute(
                        "UPDATE contacts SET body = ?3 WHERE list_id = ?1 AND id = ?2",
                        params![list_id, id, json],
                    )?;
                    if query.priority == Some(true) {
                        tx.execute(
                            "UPDATE contacts SET queue_pos = ?3 WHERE list_id = ?1 AND id = ?2",
                            params![list_id, id, front],
                        )?;
                    }
                    if query.do_not_queue != Some(true) {
                        // Re-queued: every campaign on this list may process it again.
                        tx.execute(
                            "DELETE FROM campaign_contacts WHERE contact_id = ?2 AND campaign_id IN
                               (SELECT id FROM messaging_campaigns
                                 WHERE json_extract(body, '$.contactList.id') = ?1)",
                            params![list_id, id],
                        )?;
                    }
                } else {
                    let back: i64 = tx.query_row(
                        "SELECT COALESCE(MAX(queue_pos), 0) + 1 FROM contacts WHERE list_id = ?1",
                        params![list_id],
                        |row| row.get(0),
                    )?;
                    let pos = if query.priority == Some(true) {
                        front
                    } else {
                        back
                    };
                    tx.execute(
                        "INSERT INTO contacts (list_id, id, queue_pos, body) VALUES (?1, ?2, ?3, ?4)",
                        params![list_id, id, pos, json],
                    )?;
                }
                answers.push(stored);
            }
            tx.commit()?;
            Ok(Ok(answers))
        })
        .await??;
    Ok(crate::messaging::answer_or_drop(drop, abort, Json(added).into_response()).await)
}

pub(crate) async fn bulk_get_contacts(
    State(state): State<AppState>,
    Path(list_id): Path<String>,
    GJson(ids): GJson<Vec<String>>,
) -> Result<Json<Vec<DialerContact>>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::missing_field("body"));
    }
    let max = state.runtime().outbound_limits.max_contacts_per_request;
    if ids.len() > max {
        return Err(ApiError::invalid_field(
            "body",
            format!(
                "At most {max} contact ids may be read per request; {} were given.",
                ids.len()
            ),
        ));
    }
    state
        .store
        .call(move |c| {
            if store::get_entity::<ContactList>(c, Table::ContactLists, &list_id)?.is_none() {
                return Ok(Err(contact_list_not_found(&list_id)));
            }
            let mut found = Vec::new();
            for id in &ids {
                if let Some(contact) = get_contact(c, &list_id, id)? {
                    found.push(contact);
                }
            }
            Ok(Ok(Json(found)))
        })
        .await?
}

pub(crate) async fn get_one_contact(
    State(state): State<AppState>,
    Path((list_id, id)): Path<(String, String)>,
) -> Result<Json<DialerContact>, ApiError> {
    let (l, i) = (list_id.clone(), id.clone());
    state
        .store
        .call(move |c| get_contact(c, &l, &i))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("contact", &id))
}

/// Outbound limits the sandbox enforces; the body of `GET|POST /__sandbox/outbound-limits`
/// (POST replaces the fields it names), so tests can reach a limit without a million contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundLimits {
    /// Contacts one contact list may hold (Genesys: 1,000,000).
    pub max_contacts_per_list: u64,
    /// Contacts per `POST …/contacts` or ids per `POST …/contacts/bulk` (1,000).
    pub max_contacts_per_request: usize,
    /// Contacts in all the org's lists together (Genesys: 5,000,000).
    pub max_contacts_per_org: u64,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            max_contacts_per_list: DEFAULT_MAX_CONTACTS_PER_LIST,
            max_contacts_per_request: DEFAULT_MAX_CONTACTS_PER_REQUEST,
            max_contacts_per_org: DEFAULT_MAX_CONTACTS_PER_ORG,
        }
    }
}

/// Body of `POST /__sandbox/outbound-limits`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::struct_field_names)] // the names are the admin API's JSON fields
pub(crate) struct OutboundLimitsChange {
    #[serde(default)]
    max_contacts_per_list: Option<u64>,
    #[serde(default)]
    max_contacts_per_request: Option<usize>,
    #[serde(default)]
    max_contacts_per_org: Option<u64>,
}

impl OutboundLimits {
    pub(crate) fn apply(&mut self, change: OutboundLimitsChange) {
        if let Some(v) = change.max_contacts_per_list {
            self.max_contacts_per_list = v;
        }
        if let Some(v) = change.max_contacts_per_request {
            self.max_contacts_per_request = v;
        }
        if let Some(v) = change.max_contacts_per_org {
            self.max_contacts_per_org = v;
        }
    }
}
