//! Outbound DNC lists: herald mirrors its suppression list into an internal (`rds`) list.
//!
//! Owns the DNC operations. Invariants: lists herald creates are internal (`rds`) phone lists,
//! the only kind that accepts appended numbers; appending is idempotent and sent in chunks.

use reqwest::Method;
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::{DncList, WireDncListCreate};

const DNC_LISTS: &str = "/api/v2/outbound/dnclists";
/// Numbers per append request, well under the 512,000-byte request limit.
const APPEND_CHUNK: usize = 1000;

impl GenesysClient {
    /// Every DNC list (all pages).
    #[instrument(skip_all)]
    pub async fn list_dnc_lists(&self) -> Result<Vec<DncList>, ApiError> {
        self.get_all_pages(DNC_LISTS, &[], "DNC list listing").await
    }

    /// One DNC list.
    #[instrument(skip_all)]
    pub async fn get_dnc_list(&self, id: &str) -> Result<DncList, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("{DNC_LISTS}/{}", seg(id)),
            Class::Idempotent,
        );
        self.call_json(call, "DNC list").await
    }

    /// Creates an internal (`rds`) phone DNC list. Not retried once it may have been applied.
    #[instrument(skip_all)]
    pub async fn create_dnc_list(&self, name: &str) -> Result<DncList, ApiError> {
        let call = Call::new(Method::POST, DNC_LISTS, Class::Unsafe).json(&WireDncListCreate {
            name,
            dnc_source_type: "rds",
            contact_method: "Phone",
        })?;
        self.call_json(call, "created DNC list").await
    }

    /// Appends E.164 numbers to an internal DNC list, in chunks of 1000.
    #[instrument(skip_all, fields(count = numbers.len()))]
    pub async fn add_dnc_phone_numbers(
        &self,
        id: &str,
        numbers: &[String],
    ) -> Result<(), ApiError> {
        for chunk in numbers.chunks(APPEND_CHUNK) {
            let call = Call::new(
                Method::POST,
                format!("{DNC_LISTS}/{}/phonenumbers", seg(id)),
                Class::Idempotent,
            )
            .json(chunk)?;
            self.execute(call).await?;
        }
        Ok(())
    }
}
