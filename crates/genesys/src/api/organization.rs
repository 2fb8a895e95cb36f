//! Org limits (`GET /api/v2/organizations/limits/namespaces/{namespace}`).
//!
//! Owns `org_limit`. Invariant: a limit the OAuth client may not read (403) or that does not
//! exist (404, or absent from the namespace) is `Ok(None)`, so callers fall back to settings.

use reqwest::Method;
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;
use crate::models::WireLimit;

#[derive(serde::Deserialize)]
struct LimitsListing {
    #[serde(default)]
    entities: Vec<WireLimit>,
}

impl GenesysClient {
    /// The org's value for a limit, e.g. (`auth.api`, `client.credentials.token.rate.per.minute`),
    /// or `None` when it is not readable.
    #[instrument(skip_all)]
    pub async fn org_limit(&self, namespace: &str, key: &str) -> Result<Option<u32>, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("/api/v2/organizations/limits/namespaces/{}", seg(namespace)),
            Class::Idempotent,
        );
        match self.call_json::<LimitsListing>(call, "org limits").await {
            Ok(listing) => Ok(listing
                .entities
                .into_iter()
                .find(|l| l.key.as_deref() == Some(key))
                .and_then(|l| l.value)
                .and_then(|v| u32::try_from(v).ok())),
            Err(ApiError::Forbidden { .. } | ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
