//! Response Management: libraries and responses (herald's templates).
//!
//! Owns the library and response operations. Invariants: listings are read to the last page;
//! creates are unsafe (never repeated after they may have applied); an update carries the
//! version it was based on and a stale version surfaces as `ApiError::Conflict`.

use reqwest::Method;
use serde::Serialize;
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::{Library, Response, ResponseDraft, ResponseQuery, ResponseUpdate};

const LIBRARIES: &str = "/api/v2/responsemanagement/libraries";
const RESPONSES: &str = "/api/v2/responsemanagement/responses";
const QUERY_PAGE_SIZE: u32 = 500;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireQuery {
    page_size: u32,
    page_number: u32,
    filters: Vec<WireFilter>,
}

#[derive(Serialize)]
struct WireFilter {
    name: &'static str,
    operator: &'static str,
    values: Vec<String>,
}

#[derive(serde::Deserialize)]
struct WireQueryResults {
    results: QueryPage,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    #[serde(default)]
    entities: Vec<Response>,
    #[serde(default)]
    page_count: Option<u32>,
}

#[derive(Serialize)]
struct NewLibrary<'a> {
    name: &'a str,
}

impl GenesysClient {
    /// Every Response Management library (all pages).
    #[instrument(skip_all)]
    pub async fn list_libraries(&self) -> Result<Vec<Library>, ApiError> {
        self.get_all_pages(LIBRARIES, &[], "library listing").await
    }

    /// The library with exactly this name, if any.
    #[instrument(skip_all)]
    pub async fn find_library_by_name(&self, name: &str) -> Result<Option<Library>, ApiError> {
        let candidates: Vec<Library> = self
            .get_all_pages(
                LIBRARIES,
                &[("libraryPrefix", name.to_owned())],
                "library listing",
            )
            .await?;
        Ok(candidates.into_iter().find(|l| l.name == name))
    }

    /// Creates a library. Not retried once it may have been applied (`Unknown` then).
    #[instrument(skip_all)]
    pub async fn create_library(&self, name: &str) -> Result<Library, ApiError> {
        let call = Call::new(Method::POST, LIBRARIES, Class::Unsafe).json(&NewLibrary { name })?;
        self.call_json(call, "created library").await
    }

    /// Every response in a library (all pages).
    #[instrument(skip_all)]
    pub async fn list_responses(&self, library_id: &str) -> Result<Vec<Response>, ApiError> {
        self.get_all_pages(
            RESPONSES,
            &[("libraryId", library_id.to_owned())],
            "response listing",
        )
        .await
    }

    /// One response; `ApiError::NotFound` when it does not exist.
    #[instrument(skip_all)]
    pub async fn get_response(&self, id: &str) -> Result<Response, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("{RESPONSES}/{}", seg(id)),
            Class::Idempotent,
        );
        self.call_json(call, "response").await
    }

    /// Creates a response. Not retried once it may have been applied (`Unknown` then).
    #[instrument(skip_all)]
    pub async fn create_response(&self, draft: &ResponseDraft) -> Result<Response, ApiError> {
        let call = Call::new(Method::POST, RESPONSES, Class::Unsafe).json(draft)?;
        self.call_json(call, "created response").await
    }

    /// Replaces a response's name, libraries and texts, guarded by `version` (the version the
    /// change was planned against). A stale version gives `ApiError::Conflict`.
    #[instrument(skip_all)]
    pub async fn update_response(
        &self,
        id: &str,
        version: u32,
        draft: &ResponseDraft,
    ) -> Result<Response, ApiError> {
        let call = Call::new(
            Method::PUT,
            format!("{RESPONSES}/{}", seg(id)),
            Class::Idempotent,
        )
        .json(&ResponseUpdate { draft, version })?;
        self.call_json(call, "updated response").await
    }

    /// Deletes a response.
    #[instrument(skip_all)]
    pub async fn delete_response(&self, id: &str) -> Result<(), ApiError> {
        let call = Call::new(
            Method::DELETE,
            format!("{RESPONSES}/{}", seg(id)),
            Class::Idempotent,
        );
        self.execute(call).await.map(|_| ())
    }

    /// Responses matching every given filter (all pages). With no filter, every response.
    #[instrument(skip_all)]
    pub async fn query_responses(&self, query: &ResponseQuery) -> Result<Vec<Response>, ApiError> {
        let mut filters = Vec::new();
        if let Some(name) = &query.name {
            filters.push(WireFilter {
                name: "name",
                operator: "EQUALS",
                values: vec![name.clone()],
            });
        }
        if let Some(library) = &query.library_id {
            filters.push(WireFilter {
                name: "libraryId",
                operator: "EQUALS",
                values: vec![library.clone()],
            });
        }
        if let Some(kind) = query.response_type {
            filters.push(WireFilter {
                name: "responseType",
                operator: "EQUALS",
                values: vec![kind.as_str().to_owned()],
            });
        }
        let mut all = Vec::new();
        let mut page_number = 1;
        loop {
            let body = WireQuery {
                page_size: QUERY_PAGE_SIZE,
                page_number,
                filters: filters
                    .iter()
                    .map(|f| WireFilter {
                        name: f.name,
                        operator: f.operator,
                        values: f.values.clone(),
                    })
                    .collect(),
            };
            // A read-only query: safe to repeat.
            let call = Call::new(
                Method::POST,
                format!("{RESPONSES}/query"),
                Class::Idempotent,
            )
            .json(&body)?;
            let page: WireQueryResults = self.call_json(call, "response query").await?;
            let count = page.results.entities.len();
            all.extend(page.results.entities);
            let last = page
                .results
                .page_count
                .map_or(count < QUERY_PAGE_SIZE as usize, |pc| page_number >= pc);
            if last || count == 0 || page_number >= 10_000 {
                return Ok(all);
            }
            page_number += 1;
        }
    }
}
