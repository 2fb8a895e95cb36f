//! Outbound DNC lists: list, create, get, and `POST .../{id}/phonenumbers` (internal `rds`
//! lists only, as the real API enforces with `dnc.source.operation.not.supported`).
//!
//! Invariants: `size` always equals the number of distinct entries of the list; appending
//! numbers bumps `version` and `dateModified`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use crate::app::{AppState, GJson};
use crate::clock::iso;
use crate::error::ApiError;
use crate::responses::{home_division, page, paging_params};
use crate::store::{self, Table};
use crate::wire::{DncList, Listing};

const DNC_LISTS: &str = "/api/v2/outbound/dnclists";
const SOURCE_TYPES: [&str; 4] = ["rds", "rds_custom", "dnc.com", "gryphon"];
const CONTACT_METHODS: [&str; 4] = ["Email", "Phone", "Any", "WhatsApp"];

pub(crate) async fn list_dnc_lists(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Listing<DncList>>, ApiError> {
    let (size, number) = paging_params(&query, 100)?;
    let name = query.get("name").map(|n| n.to_lowercase());
    let all: Vec<DncList> = state
        .store
        .call(|c| store::list_entities(c, Table::DncLists))
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
    Ok(Json(page(items, size, number, DNC_LISTS, "")))
}

pub(crate) async fn create_dnc_list(
    State(state): State<AppState>,
    GJson(body): GJson<DncList>,
) -> Result<Json<DncList>, ApiError> {
    let Some(name) = body.name.clone().filter(|n| !n.trim().is_empty()) else {
        return Err(ApiError::missing_field("name"));
    };
    let Some(source) = body.dnc_source_type.clone() else {
        return Err(ApiError::missing_field("dncSourceType"));
    };
    if !SOURCE_TYPES.contains(&source.as_str()) {
        return Err(ApiError::invalid_field(
            "dncSourceType",
            format!("Invalid dncSourceType '{source}'."),
        ));
    }
    match body.contact_method.as_deref() {
        Some(m) if !CONTACT_METHODS.contains(&m) => {
            return Err(ApiError::invalid_field(
                "contactMethod",
                format!("Invalid contactMethod '{m}'."),
            ));
        }
        None if source == "rds" => return Err(ApiError::missing_field("contactMethod")),
        _ => {}
    }
    let now = iso(state.now());
    let id = uuid::Uuid::new_v4().to_string();
    let list = DncList {
        id: Some(id.clone()),
        name: Some(name),
        date_created: Some(now.clone()),
        date_modified: Some(now),
        version: Some(1),
        size: Some(0),
        dnc_source_type: Some(source),
        contact_method: body.contact_method,
        division: Some(home_division()),
        self_uri: Some(format!("{DNC_LISTS}/{id}")),
    };
    let stored = list.clone();
    state
        .store
        .call(move |c| store::put_entity(c, Table::DncLists, &id, &stored))
        .await?;
    Ok(Json(list))
}

pub(crate) async fn get_dnc_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DncList>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| store::get_entity::<DncList>(c, Table::DncLists, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("dnc list", &id))
}

pub(crate) async fn add_phone_numbers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    GJson(numbers): GJson<Vec<String>>,
) -> Result<StatusCode, ApiError> {
    if numbers.is_empty() {
        return Err(ApiError::missing_field("body"));
    }
    if let Some(bad) = numbers.iter().find(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid_field(
            "body",
            format!("Invalid phone number '{bad}'."),
        ));
    }
    let now = iso(state.now());
    state
        .store
        .call(move |c| {
            let Some(mut list) = store::get_entity::<DncList>(c, Table::DncLists, &id)? else {
                return Ok(Err(ApiError::not_found("dnc list", &id)));
            };
            if list.dnc_source_type.as_deref() != Some("rds") {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "dnc.source.operation.not.supported",
                    "Phone numbers can only be added to internal (rds) DNC lists.",
                )));
            }
            let size = store::add_dnc_entries(c, &id, &numbers)?;
            list.size = Some(size);
            list.version = Some(list.version.unwrap_or(1) + 1);
            list.date_modified = Some(now);
            store::put_entity(c, Table::DncLists, &id, &list)?;
            Ok(Ok(StatusCode::OK))
        })
        .await?
}

/// Body of `PATCH …/{dncListId}/phonenumbers` (`DncPatchPhoneNumbersRequest`).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PatchPhoneNumbers {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    phone_numbers: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    expiration_date_time: Option<String>,
}

/// `PATCH /api/v2/outbound/dnclists/{dncListId}/phonenumbers`: `Add` or `Remove` numbers of
/// an internal (`rds`) list.
pub(crate) async fn patch_phone_numbers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    GJson(body): GJson<PatchPhoneNumbers>,
) -> Result<StatusCode, ApiError> {
    let remove = match body.action.as_deref() {
        Some(a) if a.eq_ignore_ascii_case("add") => false,
        Some(a) if a.eq_ignore_ascii_case("remove") => true,
        Some(a) => {
            return Err(ApiError::invalid_field(
                "action",
                format!("Invalid action '{a}'."),
            ));
        }
        None => return Err(ApiError::missing_field("action")),
    };
    let numbers = body.phone_numbers.unwrap_or_default();
    if numbers.is_empty() {
        return Err(ApiError::missing_field("phoneNumbers"));
    }
    let now = iso(state.now());
    state
        .store
        .call(move |c| {
            let Some(mut list) = store::get_entity::<DncList>(c, Table::DncLists, &id)? else {
                return Ok(Err(ApiError::not_found("dnc list", &id)));
            };
            if list.dnc_source_type.as_deref() != Some("rds") {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "dnc.source.operation.not.supported",
                    "Phone numbers can only be added to or removed from internal (rds) DNC lists.",
                )));
            }
            let size = if remove {
                store::remove_dnc_entries(c, &id, &numbers)?
            } else {
                store::add_dnc_entries(c, &id, &numbers)?
            };
            list.size = Some(size);
            list.version = Some(list.version.unwrap_or(1) + 1);
            list.date_modified = Some(now);
            store::put_entity(c, Table::DncLists, &id, &list)?;
            Ok(Ok(StatusCode::NO_CONTENT))
        })
        .await?
}
