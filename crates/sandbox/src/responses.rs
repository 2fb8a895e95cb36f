//! Response Management: libraries and responses (`/api/v2/responsemanagement/...`).
//!
//! Invariants: ids are server-assigned; `version` starts at 1 and increments on every accepted
//! update (API or out-of-band edit); a PUT without `version` is a 400 and one with a stale
//! `version` a 409, and neither changes anything; a response always references at least one
//! existing library; a library that still holds responses cannot be deleted.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::app::{AppState, Caller, GJson};
use crate::clock::iso;
use crate::error::{ApiError, SandboxError};
use crate::store::{self, Table};
use crate::wire::{
    EntityRef, Library, Listing, Response, ResponseFilter, ResponseQueryRequest,
    ResponseQueryResults, UserRef,
};

const LIBRARIES: &str = "/api/v2/responsemanagement/libraries";
const RESPONSES: &str = "/api/v2/responsemanagement/responses";
const RESPONSE_TYPES: [&str; 6] = [
    "MessagingTemplate",
    "CampaignSmsTemplate",
    "CampaignEmailTemplate",
    "Footer",
    "Form",
    "AppleInvitation",
];

/// Parses `pageSize`/`pageNumber` query parameters (defaults 25 and 1, size ≤ `max`).
pub(crate) fn paging_params(
    query: &HashMap<String, String>,
    max: u32,
) -> Result<(u32, u32), ApiError> {
    let parse = |name: &str, default: u32| -> Result<u32, ApiError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_query_param(name, format!("{name} must be a positive integer"))
            }),
        }
    };
    let size = parse("pageSize", 25)?;
    if size > max {
        return Err(ApiError::bad_query_param(
            "pageSize",
            format!("pageSize must be at most {max}"),
        ));
    }
    Ok((size, parse("pageNumber", 1)?))
}

/// Slices `items` into one page and builds the Genesys listing envelope.
pub(crate) fn page<T>(
    items: Vec<T>,
    page_size: u32,
    page_number: u32,
    path: &str,
    extra_query: &str,
) -> Listing<T> {
    let total = items.len() as u64;
    let size = u64::from(page_size.max(1));
    let page_count = u32::try_from(total.div_ceil(size)).unwrap_or(u32::MAX);
    let skip =
        usize::try_from(u64::from(page_number.saturating_sub(1)) * size).unwrap_or(usize::MAX);
    let entities: Vec<T> = items
        .into_iter()
        .skip(skip)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    let uri = |n: u32| format!("{path}?pageSize={page_size}&pageNumber={n}{extra_query}");
    Listing {
        entities,
        page_size,
        page_number,
        total,
        page_count,
        first_uri: uri(1),
        self_uri: uri(page_number),
        last_uri: uri(page_count.max(1)),
        next_uri: (page_number < page_count).then(|| uri(page_number + 1)),
        previous_uri: (page_number > 1).then(|| uri(page_number - 1)),
    }
}

fn creator(state: &AppState, caller: &Caller) -> UserRef {
    let _ = state;
    UserRef {
        id: caller.0.clone(),
        self_uri: format!("/api/v2/users/{}", caller.0),
    }
}

fn non_empty(field: &str, value: Option<&String>) -> Result<String, ApiError> {
    match value.map(|s| s.trim()) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(ApiError::missing_field(field)),
    }
}

// ---------------------------------------------------------------- libraries

pub(crate) async fn list_libraries(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Listing<Library>>, ApiError> {
    let (size, number) = paging_params(&query, 500)?;
    let prefix = query.get("libraryPrefix").cloned();
    let all: Vec<Library> = state
        .store
        .call(|c| store::list_entities(c, Table::Libraries))
        .await?;
    let filtered = all
        .into_iter()
        .filter(|l| {
            prefix.as_deref().is_none_or(|p| {
                l.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().starts_with(&p.to_lowercase()))
            })
        })
        .collect();
    Ok(Json(page(filtered, size, number, LIBRARIES, "")))
}

pub(crate) async fn create_library(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    GJson(body): GJson<Library>,
) -> Result<Json<Library>, ApiError> {
    let name = non_empty("name", body.name.as_ref())?;
    let id = uuid::Uuid::new_v4().to_string();
    let library = Library {
        id: Some(id.clone()),
        name: Some(name),
        version: Some(1),
        created_by: Some(creator(&state, &caller)),
        date_created: Some(iso(state.now())),
        response_type: body.response_type,
        division: Some(home_division()),
        self_uri: Some(format!("{LIBRARIES}/{id}")),
    };
    let stored = library.clone();
    state
        .store
        .call(move |c| store::put_entity(c, Table::Libraries, &id, &stored))
        .await?;
    Ok(Json(library))
}

pub(crate) fn home_division() -> EntityRef {
    EntityRef {
        id: Some("00000000-0000-0000-0000-000000000000".to_owned()),
        name: Some("Home".to_owned()),
        self_uri: Some(
            "/api/v2/authorization/divisions/00000000-0000-0000-0000-000000000000".to_owned(),
        ),
    }
}

pub(crate) async fn get_library(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Library>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| store::get_entity::<Library>(c, Table::Libraries, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("library", &id))
}

pub(crate) async fn update_library(
    State(state): State<AppState>,
    Path(id): Path<String>,
    GJson(body): GJson<Library>,
) -> Result<Json<Library>, ApiError> {
    let name = non_empty("name", body.name.as_ref())?;
    let Some(supplied) = body.version else {
        return Err(ApiError::missing_field("version"));
    };
    let result = state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let Some(mut lib) = store::get_entity::<Library>(&tx, Table::Libraries, &id)? else {
                return Ok(Err(ApiError::not_found("library", &id)));
            };
            let current = lib.version.unwrap_or(1);
            if supplied != current {
                return Ok(Err(ApiError::version_conflict(supplied, current)));
            }
            lib.name = Some(name);
            lib.version = Some(current + 1);
            store::put_entity(&tx, Table::Libraries, &id, &lib)?;
            tx.commit()?;
            Ok(Ok(lib))
        })
        .await?;
    result.map(Json)
}

pub(crate) async fn delete_library(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            if store::get_entity::<Library>(&tx, Table::Libraries, &id)?.is_none() {
                return Ok(Err(ApiError::not_found("library", &id)));
            }
            let responses: Vec<Response> = store::list_entities(&tx, Table::Responses)?;
            if responses.iter().any(|r| in_library(r, &id)) {
                return Ok(Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.request",
                    "The library still contains responses; delete them first.",
                )));
            }
            store::delete_entity(&tx, Table::Libraries, &id)?;
            tx.commit()?;
            Ok(Ok(StatusCode::NO_CONTENT))
        })
        .await?
}

fn in_library(r: &Response, library_id: &str) -> bool {
    r.libraries
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|l| l.id.as_deref() == Some(library_id))
}

// ---------------------------------------------------------------- responses

/// Validates the writable fields of a response body; returns (name, libraries, texts).
fn validate_response(
    conn: &rusqlite::Connection,
    body: &Response,
    response_type: Option<&str>,
) -> Result<Result<(String, Vec<EntityRef>), ApiError>, SandboxError> {
    let name = match non_empty("name", body.name.as_ref()) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    let libraries = body.libraries.clone().unwrap_or_default();
    if libraries.is_empty() {
        return Ok(Err(ApiError::missing_field("libraries")));
    }
    let mut resolved = Vec::new();
    for lib in &libraries {
        let Some(id) = lib.id.as_deref() else {
            return Ok(Err(ApiError::invalid_field(
                "libraries",
                "Each library reference needs an id.",
            )));
        };
        let Some(found) = store::get_entity::<Library>(conn, Table::Libraries, id)? else {
            return Ok(Err(ApiError::invalid_field(
                "libraries",
                format!("Library {id} does not exist."),
            )));
        };
        resolved.push(EntityRef {
            id: found.id,
            name: found.name,
            self_uri: found.self_uri,
        });
    }
    if let Some(rt) = response_type
        && !RESPONSE_TYPES.contains(&rt)
    {
        return Ok(Err(ApiError::invalid_field(
            "responseType",
            format!("Invalid responseType '{rt}'."),
        )));
    }
    let texts = body.texts.as_deref().unwrap_or_default();
    let needs_texts = matches!(
        response_type,
        None | Some(
            "CampaignSmsTemplate" | "CampaignEmailTemplate" | "MessagingTemplate" | "Footer"
        )
    );
    if needs_texts && texts.is_empty() {
        return Ok(Err(ApiError::missing_field("texts")));
    }
    for text in texts {
        if let Some(ct) = text.content_type.as_deref()
            && ct != "text/plain"
            && ct != "text/html"
        {
            return Ok(Err(ApiError::invalid_field(
                "texts.contentType",
                format!("Invalid contentType '{ct}'."),
            )));
        }
        if let Some(kind) = text.kind.as_deref()
            && kind != "body"
            && kind != "subject"
        {
            return Ok(Err(ApiError::invalid_field(
                "texts.type",
                format!("Invalid text type '{kind}'."),
            )));
        }
    }
    if response_type == Some("CampaignSmsTemplate")
        && texts.iter().any(|t| {
            t.content_type
                .as_deref()
                .is_some_and(|ct| ct != "text/plain")
        })
    {
        return Ok(Err(ApiError::invalid_field(
            "texts.contentType",
            "A CampaignSmsTemplate text must be text/plain.",
        )));
    }
    if response_type == Some("CampaignEmailTemplate") {
        for needed in ["subject", "body"] {
            if !texts.iter().any(|t| t.kind.as_deref() == Some(needed)) {
                return Ok(Err(ApiError::invalid_field(
                    "texts",
                    format!("A CampaignEmailTemplate needs a '{needed}' text."),
                )));
            }
        }
    }
    Ok(Ok((name, resolved)))
}

pub(crate) async fn create_response(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    GJson(body): GJson<Response>,
) -> Result<Json<Response>, ApiError> {
    if let Some(it) = body.interaction_type.as_deref()
        && !["chat", "email", "twitter"].contains(&it)
    {
        return Err(ApiError::invalid_field(
            "interactionType",
            format!("Invalid interactionType '{it}'."),
        ));
    }
    let created_by = creator(&state, &caller);
    let now = iso(state.now());
    state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let (name, libraries) =
                match validate_response(&tx, &body, body.response_type.as_deref())? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
            let id = uuid::Uuid::new_v4().to_string();
            let response = Response {
                id: Some(id.clone()),
                name: Some(name),
                version: Some(1),
                libraries: Some(libraries),
                texts: Some(body.texts.unwrap_or_default()),
                created_by: Some(created_by),
                date_created: Some(now),
                interaction_type: body.interaction_type,
                substitutions: Some(body.substitutions.unwrap_or_default()),
                response_type: body.response_type,
                self_uri: Some(format!("{RESPONSES}/{id}")),
            };
            store::put_entity(&tx, Table::Responses, &id, &response)?;
            tx.commit()?;
            Ok(Ok(Json(response)))
        })
        .await?
}

pub(crate) async fn get_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Response>, ApiError> {
    let lookup = id.clone();
    state
        .store
        .call(move |c| store::get_entity::<Response>(c, Table::Responses, &lookup))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("response", &id))
}

pub(crate) async fn update_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
    GJson(body): GJson<Response>,
) -> Result<Json<Response>, ApiError> {
    state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let Some(mut current) = store::get_entity::<Response>(&tx, Table::Responses, &id)?
            else {
                return Ok(Err(ApiError::not_found("response", &id)));
            };
            let Some(supplied) = body.version else {
                return Ok(Err(ApiError::missing_field("version")));
            };
            let version = current.version.unwrap_or(1);
            if supplied != version {
                return Ok(Err(ApiError::version_conflict(supplied, version)));
            }
            // Only name, libraries and texts can be updated; the type is the stored one.
            let (name, libraries) =
                match validate_response(&tx, &body, current.response_type.as_deref())? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
            current.name = Some(name);
            current.libraries = Some(libraries);
            if let Some(texts) = body.texts {
                current.texts = Some(texts);
            }
            current.version = Some(version + 1);
            store::put_entity(&tx, Table::Responses, &id, &current)?;
            tx.commit()?;
            Ok(Ok(Json(current)))
        })
        .await?
}

pub(crate) async fn delete_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lookup = id.clone();
    let deleted = state
        .store
        .call(move |c| store::delete_entity(c, Table::Responses, &lookup))
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("response", &id))
    }
}

pub(crate) async fn list_responses(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Listing<Response>>, ApiError> {
    let Some(library_id) = query.get("libraryId").cloned() else {
        return Err(ApiError::bad_query_param(
            "libraryId",
            "The query parameter 'libraryId' is required.",
        ));
    };
    let (size, number) = paging_params(&query, 500)?;
    let lib = library_id.clone();
    let (exists, all) = state
        .store
        .call(move |c| {
            let exists = store::get_entity::<Library>(c, Table::Libraries, &lib)?.is_some();
            let all: Vec<Response> = store::list_entities(c, Table::Responses)?;
            Ok((exists, all))
        })
        .await?;
    if !exists {
        return Err(ApiError::not_found("library", &library_id));
    }
    let items = all
        .into_iter()
        .filter(|r| in_library(r, &library_id))
        .collect();
    Ok(Json(page(
        items,
        size,
        number,
        RESPONSES,
        &format!("&libraryId={library_id}"),
    )))
}

fn filter_values(r: &Response, name: &str) -> Option<Vec<String>> {
    match name {
        "name" => Some(r.name.clone().into_iter().collect()),
        "libraryId" => Some(
            r.libraries
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|l| l.id.clone())
                .collect(),
        ),
        "responseType" => Some(r.response_type.clone().into_iter().collect()),
        "text.contentType" => Some(
            r.texts
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t.content_type.clone())
                .collect(),
        ),
        _ => None,
    }
}

fn filter_matches(filter: &ResponseFilter, fields: &[String]) -> bool {
    let any = |pred: &dyn Fn(&str, &str) -> bool| {
        fields
            .iter()
            .any(|f| filter.values.iter().any(|v| pred(f, v)))
    };
    match filter.operator.as_str() {
        "IN" | "EQUALS" => any(&|f, v| f == v),
        "NOTEQUALS" => !any(&|f, v| f == v),
        "BEGINS_WITH" => any(&|f, v| f.to_lowercase().starts_with(&v.to_lowercase())),
        "ENDS_WITH" => any(&|f, v| f.to_lowercase().ends_with(&v.to_lowercase())),
        "CONTAINS" => any(&|f, v| f.to_lowercase().contains(&v.to_lowercase())),
        _ => false,
    }
}

pub(crate) async fn query_responses(
    State(state): State<AppState>,
    GJson(body): GJson<ResponseQueryRequest>,
) -> Result<Json<ResponseQueryResults>, ApiError> {
    let size = body.page_size.unwrap_or(25);
    if !(1..=500).contains(&size) {
        return Err(ApiError::invalid_field(
            "pageSize",
            "pageSize must be between 1 and 500.",
        ));
    }
    let number = body.page_number.unwrap_or(1).max(1);
    for f in &body.filters {
        if ![
            "IN",
            "EQUALS",
            "NOTEQUALS",
            "BEGINS_WITH",
            "ENDS_WITH",
            "CONTAINS",
        ]
        .contains(&f.operator.as_str())
        {
            return Err(ApiError::invalid_field(
                "filters.operator",
                format!("Invalid filter operator '{}'.", f.operator),
            ));
        }
        if ![
            "name",
            "libraryId",
            "responseType",
            "text.contentType",
            "messagingTemplate",
        ]
        .contains(&f.name.as_str())
        {
            return Err(ApiError::invalid_field(
                "filters.name",
                format!("Invalid filter name '{}'.", f.name),
            ));
        }
    }
    let all: Vec<Response> = state
        .store
        .call(|c| store::list_entities(c, Table::Responses))
        .await?;
    let phrase = body.query_phrase.as_deref().map(str::to_lowercase);
    let items = all
        .into_iter()
        .filter(|r| {
            phrase.as_deref().is_none_or(|p| {
                r.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(p))
            })
        })
        .filter(|r| {
            body.filters
                .iter()
                .all(|f| filter_values(r, &f.name).is_none_or(|fields| filter_matches(f, &fields)))
        })
        .collect();
    Ok(Json(ResponseQueryResults {
        results: page(
            items,
            size,
            number,
            "/api/v2/responsemanagement/responses/query",
            "",
        ),
    }))
}

/// Out-of-band edit (drift): replaces the content of the response's body text (or its first
/// text when none is typed `body`) and bumps `version`, as an edit in the Genesys UI would.
pub(crate) async fn edit_out_of_band(
    state: &AppState,
    id: String,
    content: String,
    kind: Option<String>,
) -> Result<Response, SandboxError> {
    state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let Some(mut response) = store::get_entity::<Response>(&tx, Table::Responses, &id)?
            else {
                return Err(SandboxError::NotFound(format!("response {id}")));
            };
            let texts = response.texts.get_or_insert_with(Vec::new);
            let wanted = kind.as_deref().unwrap_or("body");
            let index = texts
                .iter()
                .position(|t| t.kind.as_deref() == Some(wanted))
                .or(if kind.is_none() && !texts.is_empty() {
                    Some(0)
                } else {
                    None
                });
            match index {
                Some(i) => texts[i].content = content,
                None => texts.push(crate::wire::ResponseText {
                    content,
                    content_type: Some("text/plain".to_owned()),
                    kind: kind.clone(),
                }),
            }
            response.version = Some(response.version.unwrap_or(1) + 1);
            store::put_entity(&tx, Table::Responses, &id, &response)?;
            tx.commit()?;
            Ok(response)
        })
        .await
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
