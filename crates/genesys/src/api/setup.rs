//! Reads of the org's set-up that `herald doctor` checks before a first apply: who the token
//! is and what it may do, the org's SMS numbers and outbound email domains, and the org's
//! published limits.
//!
//! Owns `token_info`, `granted_permissions`, `sms_phone_numbers`, `outbound_email_domains`,
//! `outbound_email_domain` and `org_limits`. Invariants: all are read-only (idempotent) and go
//! through the shared throttle like every other call; permissions come from
//! `GET /api/v2/authorization/subjects/me?includeFullRoles=true`, which needs no permission
//! and answers for the OAuth client itself under a client-credentials grant (its grants are
//! the roles and divisions given to the client), expanded to `domain:entity:action` strings.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::seg;
use crate::client::{Call, Class, GenesysClient};
use crate::error::ApiError;

/// An id and a name (`NamedEntity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntity {
    /// Entity id.
    #[serde(default)]
    pub id: Option<String>,
    /// Entity name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A role granted in a division (`RoleDivision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivision {
    /// Role id.
    pub role_id: String,
    /// Division id (`*` for all divisions).
    pub division_id: String,
}

/// The OAuth client behind a token (`OrgOAuthClient`, the fields herald reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenClient {
    /// OAuth client id.
    pub id: String,
    /// OAuth client name.
    #[serde(default)]
    pub name: Option<String>,
    /// `CLIENT-CREDENTIALS` for herald's grant.
    #[serde(default)]
    pub authorized_grant_type: Option<String>,
    /// Roles and divisions given to the client.
    #[serde(default)]
    pub role_divisions: Vec<RoleDivision>,
}

/// `GET /api/v2/tokens/me` (`TokenInfo`, the fields herald reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The org the token acts in.
    #[serde(default)]
    pub organization: Option<NamedEntity>,
    /// The OAuth client (JSON key `OAuthClient`).
    #[serde(default, rename = "OAuthClient")]
    pub oauth_client: Option<TokenClient>,
}

#[derive(Deserialize)]
struct WireSubject {
    #[serde(default)]
    grants: Vec<WireGrant>,
}

#[derive(Deserialize)]
struct WireGrant {
    #[serde(default)]
    role: Option<WireRole>,
}

#[derive(Deserialize)]
struct WireRole {
    #[serde(default)]
    policies: Vec<WirePolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePolicy {
    domain: Option<String>,
    entity_name: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
}

/// One of the org's SMS numbers (`SmsPhoneNumber`, the fields herald reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsPhoneNumber {
    /// Number id.
    pub id: String,
    /// E.164 number.
    pub phone_number: String,
    /// `local`, `mobile`, `tollfree`, `shortcode`, `alphanumeric`.
    #[serde(default)]
    pub phone_number_type: Option<String>,
    /// `ACTIVE` when it can send; also `INVALID`, `PORTING`, `PENDING`, ….
    #[serde(default)]
    pub phone_number_status: Option<String>,
    /// E.g. `sms`, `mms`, `voice`.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl SmsPhoneNumber {
    /// Active and able to send SMS.
    pub fn can_send_sms(&self) -> bool {
        self.phone_number_status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"))
            && (self.capabilities.is_empty()
                || self
                    .capabilities
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case("sms")))
    }
}

/// One of the org's outbound email domains (`OutboundDomain`, the fields herald reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundDomain {
    /// Domain id (the domain name).
    pub id: String,
    /// Domain name.
    #[serde(default)]
    pub name: Option<String>,
    /// `EmailDomain`, `EmailSmtpDomain`, ….
    #[serde(default)]
    pub sender_type: Option<String>,
}

/// One limit of an org namespace (`Limit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgLimit {
    /// Limit key, e.g. `client.credentials.token.rate.per.minute`.
    pub key: String,
    /// Namespace, e.g. `platform.api`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Value.
    pub value: i64,
}

#[derive(Deserialize)]
struct LimitsListing {
    #[serde(default)]
    entities: Vec<OrgLimit>,
}

impl GenesysClient {
    /// The org and OAuth client behind the token (`GET /api/v2/tokens/me`; no permission).
    #[instrument(skip_all)]
    pub async fn token_info(&self) -> Result<TokenInfo, ApiError> {
        let call = Call::new(Method::GET, "/api/v2/tokens/me", Class::Idempotent);
        self.call_json(call, "token info").await
    }

    /// Every permission the token holds, as `domain:entity:action` strings (sorted, no
    /// duplicates; entity or action may be `*`), from
    /// `GET /api/v2/authorization/subjects/me?includeFullRoles=true` (no permission needed).
    /// Check them with [`crate::missing_permissions`].
    #[instrument(skip_all)]
    pub async fn granted_permissions(&self) -> Result<Vec<String>, ApiError> {
        let call = Call::new(
            Method::GET,
            "/api/v2/authorization/subjects/me",
            Class::Idempotent,
        )
        .query("includeFullRoles", "true");
        let subject: WireSubject = self.call_json(call, "authorization subject").await?;
        let mut out: Vec<String> = subject
            .grants
            .into_iter()
            .filter_map(|g| g.role)
            .flat_map(|r| r.policies)
            .flat_map(|p| {
                let domain = p.domain.unwrap_or_default();
                let entity = p.entity_name.unwrap_or_else(|| "*".to_owned());
                p.actions
                    .into_iter()
                    .map(move |a| format!("{domain}:{entity}:{a}"))
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Every SMS number of the org (`GET /api/v2/routing/sms/phonenumbers`, all pages;
    /// permission `sms:phoneNumber:view`).
    #[instrument(skip_all)]
    pub async fn sms_phone_numbers(&self) -> Result<Vec<SmsPhoneNumber>, ApiError> {
        self.get_all_pages("/api/v2/routing/sms/phonenumbers", &[], "SMS numbers")
            .await
    }

    /// Every outbound email domain of the org (`GET /api/v2/routing/email/outbound/domains`,
    /// all pages; permission `routing:email:manage`). Prefer [`Self::outbound_email_domain`],
    /// which `routing:email:view` allows.
    #[instrument(skip_all)]
    pub async fn outbound_email_domains(&self) -> Result<Vec<OutboundDomain>, ApiError> {
        self.get_all_pages(
            "/api/v2/routing/email/outbound/domains",
            &[],
            "outbound email domains",
        )
        .await
    }

    /// One outbound email domain by id (the domain name), `None` when the org has no such
    /// domain (`GET /api/v2/routing/email/outbound/domains/{domainId}`; permission
    /// `routing:email:view` or `routing:email:manage`).
    #[instrument(skip_all)]
    pub async fn outbound_email_domain(
        &self,
        domain: &str,
    ) -> Result<Option<OutboundDomain>, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("/api/v2/routing/email/outbound/domains/{}", seg(domain)),
            Class::Idempotent,
        );
        match self.call_json(call, "outbound email domain").await {
            Ok(d) => Ok(Some(d)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every limit the org publishes in a namespace, e.g. `platform.api`
    /// (`GET /api/v2/organizations/limits/namespaces/{namespaceName}`; no permission).
    #[instrument(skip_all)]
    pub async fn org_limits(&self, namespace: &str) -> Result<Vec<OrgLimit>, ApiError> {
        let call = Call::new(
            Method::GET,
            format!("/api/v2/organizations/limits/namespaces/{}", seg(namespace)),
            Class::Idempotent,
        );
        let listing: LimitsListing = self.call_json(call, "org limits").await?;
        Ok(listing.entities)
    }
}
