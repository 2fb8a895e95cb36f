//! The org set-up `herald doctor` reads, with the real request and response shapes of the
//! official SDK: `GET /api/v2/tokens/me` (`TokenInfo`), `GET /api/v2/authorization/subjects/me`
//! (`AuthzSubject`; role policies only with `includeFullRoles=true`),
//! `GET /api/v2/routing/sms/phonenumbers` (`SmsPhoneNumberEntityListing`, paged, `phoneNumber`
//! filter) and `GET /api/v2/routing/email/outbound/domains[/{domainId}]` (`OutboundDomain`).
//!
//! Invariants: what these endpoints report is what the sandbox enforces — a send from a number
//! or email domain not in [`OrgSetup`] is refused — and [`OrgSetup`] can be changed while the
//! sandbox runs (`POST /__sandbox/org`) to test each failure: an unprovisioned number, a
//! removed domain, a dropped permission (the routes needing it then answer 403
//! `missing.any.permissions`, as Genesys does).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;
use crate::responses::{home_division, page, paging_params};

/// The org id and name every sandbox reports.
pub const ORG_ID: &str = "5ab1e000-0000-4000-8000-00000000a11d";
const ORG_NAME: &str = "herald sandbox org";
const ROLE_ID: &str = "5ab1e000-0000-4000-8000-0000000001e5";
const ROLE_NAME: &str = "herald sender";

/// The permissions the sandbox's OAuth client holds by default: everything the sandbox serves.
pub const DEFAULT_PERMISSIONS: &[&str] = &[
    "responses:library:view",
    "responses:library:add",
    "responses:library:edit",
    "responses:library:delete",
    "responses:response:view",
    "responses:response:add",
    "responses:response:edit",
    "responses:response:delete",
    "conversation:message:create",
    "conversation:message:view",
    "conversation:email:create",
    "conversation:agentlessEmail:send",
    "analytics:conversationDetail:view",
    "outbound:dncList:view",
    "outbound:dncList:add",
    "outbound:dnc:add",
    "outbound:dnc:edit",
    "outbound:contactList:add",
    "outbound:contactList:view",
    "outbound:contactList:delete",
    "outbound:contact:add",
    "outbound:contact:view",
    "outbound:callableTimeSet:add",
    "outbound:callableTimeSet:view",
    "outbound:messagingCampaign:add",
    "outbound:messagingCampaign:view",
    "outbound:messagingCampaign:edit",
    "outbound:messagingCampaign:delete",
    "outbound:messagingCampaign:start",
    "outbound:messagingCampaign:stop",
    "sms:phoneNumber:view",
    "routing:email:view",
    "routing:email:manage",
];

/// What the org has provisioned and what its OAuth client may do; the body of
/// `GET|POST /__sandbox/org` (POST replaces only the fields it names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgSetup {
    /// Provisioned SMS numbers (E.164).
    pub sms_numbers: Vec<String>,
    /// Outbound email domains.
    pub email_domains: Vec<String>,
    /// Permissions (`domain:entity:action`) of the OAuth client's role.
    pub permissions: Vec<String>,
}

/// Body of `POST /__sandbox/org`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OrgChange {
    sms_numbers: Option<Vec<String>>,
    email_domains: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
}

impl OrgSetup {
    pub(crate) fn apply(&mut self, change: OrgChange) -> Result<(), String> {
        if let Some(numbers) = &change.sms_numbers
            && let Some(bad) = numbers.iter().find(|n| !crate::messaging::is_e164(n))
        {
            return Err(format!("'{bad}' is not an E.164 number"));
        }
        if let Some(bad) = change
            .permissions
            .iter()
            .flatten()
            .find(|p| p.split(':').count() != 3)
        {
            return Err(format!("'{bad}' is not a domain:entity:action permission"));
        }
        if let Some(v) = change.sms_numbers {
            self.sms_numbers = v;
        }
        if let Some(v) = change.email_domains {
            self.email_domains = v;
        }
        if let Some(v) = change.permissions {
            self.permissions = v;
        }
        Ok(())
    }
}

/// The permissions each route needs (any one of them), as the SDK documents them; routes not
/// listed need none.
const ROUTE_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    (
        "GET",
        "/api/v2/responsemanagement/libraries",
        &["responses:library:view"],
    ),
    (
        "POST",
        "/api/v2/responsemanagement/libraries",
        &["responses:library:add"],
    ),
    (
        "GET",
        "/api/v2/responsemanagement/libraries/{libraryId}",
        &["responses:library:view"],
    ),
    (
        "PUT",
        "/api/v2/responsemanagement/libraries/{libraryId}",
        &["responses:library:edit"],
    ),
    (
        "DELETE",
        "/api/v2/responsemanagement/libraries/{libraryId}",
        &["responses:library:delete"],
    ),
    (
        "GET",
        "/api/v2/responsemanagement/responses",
        &["responses:response:view"],
    ),
    (
        "POST",
        "/api/v2/responsemanagement/responses",
        &["responses:response:add"],
    ),
    (
        "POST",
        "/api/v2/responsemanagement/responses/query",
        &["responses:response:view"],
    ),
    (
        "GET",
        "/api/v2/responsemanagement/responses/{responseId}",
        &["responses:response:view"],
    ),
    (
        "PUT",
        "/api/v2/responsemanagement/responses/{responseId}",
        &["responses:response:edit"],
    ),
    (
        "DELETE",
        "/api/v2/responsemanagement/responses/{responseId}",
        &["responses:response:delete"],
    ),
    (
        "POST",
        "/api/v2/conversations/messages/agentless",
        &["conversation:message:create"],
    ),
    (
        "POST",
        "/api/v2/conversations/emails/agentless",
        &[
            "conversation:email:create",
            "conversation:agentlessEmail:send",
        ],
    ),
    (
        "GET",
        "/api/v2/conversations/messages/{messageId}/details",
        &[
            "conversation:message:view",
            "conversation:webmessaging:view",
        ],
    ),
    (
        "GET",
        "/api/v2/outbound/dnclists",
        &["outbound:dncList:view"],
    ),
    (
        "POST",
        "/api/v2/outbound/dnclists",
        &["outbound:dncList:add"],
    ),
    (
        "GET",
        "/api/v2/outbound/dnclists/{dncListId}",
        &["outbound:dncList:view"],
    ),
    (
        "POST",
        "/api/v2/outbound/dnclists/{dncListId}/phonenumbers",
        &["outbound:dnc:add"],
    ),
    (
        "PATCH",
        "/api/v2/outbound/dnclists/{dncListId}/phonenumbers",
        &["outbound:dnc:edit"],
    ),
    (
        "GET",
        "/api/v2/outbound/contactlists",
        &["outbound:contactList:view"],
    ),
    (
        "POST",
        "/api/v2/outbound/contactlists",
        &["outbound:contactList:add"],
    ),
    (
        "GET",
        "/api/v2/outbound/contactlists/{contactListId}",
        &["outbound:contactList:view"],
    ),
    (
        "DELETE",
        "/api/v2/outbound/contactlists/{contactListId}",
        &["outbound:contactList:delete"],
    ),
    (
        "POST",
        "/api/v2/outbound/contactlists/{contactListId}/contacts",
        &["outbound:contact:add"],
    ),
    (
        "POST",
        "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk",
        &["outbound:contact:view"],
    ),
    (
        "GET",
        "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}",
        &["outbound:contact:view"],
    ),
    (
        "POST",
        "/api/v2/outbound/callabletimesets",
        &["outbound:callableTimeSet:add"],
    ),
    (
        "GET",
        "/api/v2/outbound/callabletimesets/{callableTimeSetId}",
        &["outbound:callableTimeSet:view"],
    ),
    (
        "GET",
        "/api/v2/outbound/messagingcampaigns",
        &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
    ),
    (
        "POST",
        "/api/v2/outbound/messagingcampaigns",
        &[
            "outbound:messagingCampaign:add",
            "outbound:emailCampaign:add",
        ],
    ),
    (
        "GET",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}",
        &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
    ),
    (
        "PUT",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}",
        &[
            "outbound:messagingCampaign:edit",
            "outbound:emailCampaign:edit",
        ],
    ),
    (
        "DELETE",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}",
        &[
            "outbound:messagingCampaign:delete",
            "outbound:emailCampaign:delete",
        ],
    ),
    (
        "POST",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/start",
        &[
            "outbound:messagingCampaign:start",
            "outbound:emailCampaign:start",
            "outbound:whatsAppCampaign:start",
        ],
    ),
    (
        "POST",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/stop",
        &[
            "outbound:messagingCampaign:stop",
            "outbound:emailCampaign:stop",
            "outbound:whatsAppCampaign:stop",
        ],
    ),
    (
        "POST",
        "/api/v2/outbound/messagingcampaigns/progress",
        &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
    ),
    (
        "GET",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/progress",
        &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
    ),
    (
        "DELETE",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/progress",
        &[
            "outbound:messagingCampaign:edit",
            "outbound:emailCampaign:edit",
        ],
    ),
    (
        "GET",
        "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}/diagnostics",
        &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
    ),
    (
        "POST",
        "/api/v2/analytics/conversations/details/query",
        &[
            "analytics:conversationDetail:view",
            "analytics:agentConversationDetail:view",
        ],
    ),
    (
        "GET",
        "/api/v2/routing/sms/phonenumbers",
        &["sms:phoneNumber:view"],
    ),
    (
        "GET",
        "/api/v2/routing/email/outbound/domains",
        &["routing:email:manage"],
    ),
    (
        "GET",
        "/api/v2/routing/email/outbound/domains/{domainId}",
        &["routing:email:manage", "routing:email:view"],
    ),
];

fn covers(granted: &str, needed: &str) -> bool {
    let g: Vec<&str> = granted.split(':').collect();
    let n: Vec<&str> = needed.split(':').collect();
    g.len() == 3 && n.len() == 3 && g.iter().zip(&n).all(|(g, n)| *g == "*" || g == n)
}

/// `Err(403 missing.any.permissions)` when the org's permissions cover none of the route's.
pub(crate) fn check_permission(org: &OrgSetup, method: &str, route: &str) -> Result<(), ApiError> {
    let Some((_, _, any_of)) = ROUTE_PERMISSIONS
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
    else {
        return Ok(());
    };
    if any_of
        .iter()
        .any(|needed| org.permissions.iter().any(|g| covers(g, needed)))
    {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "missing.any.permissions",
        format!(
            "Unable to perform the requested action. You must have at least one of the following permissions assigned: [{}]",
            any_of.join(", ")
        ),
    ))
}

fn number_id(n: &str) -> String {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    format!("5ab1e000-0000-4000-9000-{digits:0>12}")
}

/// `GET /api/v2/tokens/me`.
pub(crate) async fn tokens_me(State(state): State<AppState>) -> Json<Value> {
    let org = json!({"id": ORG_ID, "name": ORG_NAME});
    Json(json!({
        "organization": org,
        "homeOrganization": org,
        "authorizedScope": [],
        "OAuthClient": {
            "id": state.client_id,
            "name": "herald",
            "authorizedGrantType": "CLIENT-CREDENTIALS",
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": home_division().id}],
            "state": "active",
            "organization": org,
        },
    }))
}

/// `GET /api/v2/authorization/subjects/me[?includeFullRoles=true]`.
pub(crate) async fn subjects_me(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let full = query
        .get("includeFullRoles")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let permissions = state.runtime().org.permissions.clone();
    // One policy per domain:entity with its actions, as Genesys roles are stored.
    let mut policies: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in &permissions {
        let mut parts = p.splitn(3, ':');
        if let (Some(d), Some(e), Some(a)) = (parts.next(), parts.next(), parts.next()) {
            policies
                .entry((d.to_owned(), e.to_owned()))
                .or_default()
                .push(a.to_owned());
        }
    }
    let mut role = json!({
        "id": ROLE_ID,
        "name": ROLE_NAME,
        "default": false,
        "selfUri": format!("/api/v2/authorization/roles/{ROLE_ID}"),
    });
    if full {
        role["policies"] = policies
            .into_iter()
            .map(|((domain, entity), actions)| {
                json!({"domain": domain, "entityName": entity, "actions": actions})
            })
            .collect();
    }
    let division = home_division();
    Json(json!({
        "id": state.client_id,
        "name": "herald",
        "grants": [{
            "subjectId": state.client_id,
            "division": {"id": division.id, "name": division.name, "homeDivision": true,
                         "selfUri": division.self_uri},
            "role": role,
            "grantMadeAt": "2026-01-01T00:00:00.000Z",
        }],
        "version": 1,
        "selfUri": "/api/v2/authorization/subjects/me",
    }))
}

/// A `phoneNumber` filter: digits are a contains-search, `*` matches any digits.
fn number_matches(pattern: &str, number: &str) -> bool {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if !pattern.contains('*') {
        return digits.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = digits.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// `GET /api/v2/routing/sms/phonenumbers` (paged; `phoneNumber`, `phoneNumberStatus` filters).
pub(crate) async fn sms_phone_numbers(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<crate::wire::Listing<Value>>, ApiError> {
    let (size, number) = paging_params(&query, 500)?;
    if let Some(p) = query.get("phoneNumber")
        && !p.chars().all(|c| c.is_ascii_digit() || c == '*')
    {
        return Err(ApiError::invalid_field(
            "phoneNumber",
            "phoneNumber may contain only the digits 0-9 and '*'.",
        ));
    }
    let numbers = state.runtime().org.sms_numbers.clone();
    let items = numbers
        .iter()
        .filter(|n| {
            query
                .get("phoneNumber")
                .is_none_or(|p| number_matches(p, n))
        })
        .filter(|_| {
            query
                .get("phoneNumberStatus")
                .is_none_or(|s| s.split(',').any(|s| s.eq_ignore_ascii_case("ACTIVE")))
        })
        .map(|n| {
            let id = number_id(n);
            json!({
                "id": id,
                "name": n,
                "phoneNumber": n,
                "phoneNumberType": "local",
                "provisionedThroughPureCloud": true,
                "phoneNumberStatus": "ACTIVE",
                "capabilities": ["sms"],
                "countryCode": "US",
                "dateCreated": "2026-01-01T00:00:00.000Z",
                "version": 1,
                "supportsSms": true,
                "supportsMms": false,
                "supportsVoice": false,
                "selfUri": format!("/api/v2/routing/sms/phonenumbers/{id}"),
            })
        })
        .collect();
    Ok(Json(page(
        items,
        size,
        number,
        "/api/v2/routing/sms/phonenumbers",
        "",
    )))
}

fn domain_json(d: &str) -> Value {
    json!({
        "id": d,
        "name": d,
        "senderType": "EmailDomain",
        "selfUri": format!("/api/v2/routing/email/outbound/domains/{d}"),
    })
}

/// `GET /api/v2/routing/email/outbound/domains` (paged).
pub(crate) async fn outbound_domains(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<crate::wire::Listing<Value>>, ApiError> {
    let (size, number) = paging_params(&query, 100)?;
    let domains = state.runtime().org.email_domains.clone();
    let filter = query.get("filter").map(|f| f.to_lowercase());
    let items = domains
        .iter()
        .filter(|d| {
            filter
                .as_deref()
                .is_none_or(|f| d.to_lowercase().contains(f))
        })
        .map(|d| domain_json(d))
        .collect();
    Ok(Json(page(
        items,
        size,
        number,
        "/api/v2/routing/email/outbound/domains",
        "",
    )))
}

/// `GET /api/v2/routing/email/outbound/domains/{domainId}`.
pub(crate) async fn outbound_domain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let known = state
        .runtime()
        .org
        .email_domains
        .iter()
        .find(|d| d.eq_ignore_ascii_case(&id))
        .cloned();
    known
        .map(|d| Json(domain_json(&d)))
        .ok_or_else(|| ApiError::not_found("outbound domain", &id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_checked_with_wildcards() {
        let mut org = OrgSetup {
            sms_numbers: vec![],
            email_domains: vec![],
            permissions: vec!["conversation:*:*".to_owned()],
        };
        let send = "/api/v2/conversations/messages/agentless";
        assert!(check_permission(&org, "POST", send).is_ok());
        assert!(check_permission(&org, "GET", "/api/v2/tokens/me").is_ok());
        org.permissions = vec!["conversation:message:view".to_owned()];
        let err = check_permission(&org, "POST", send).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::FORBIDDEN);
        assert_eq!(err.body.code, "missing.any.permissions");
        assert!(err.body.message.contains("conversation:message:create"));
    }

    #[test]
    fn phone_number_filters() {
        assert!(number_matches("555000", "+15550001111"));
        assert!(number_matches("1555*", "+15550001111"));
        assert!(number_matches("1*1111", "+15550001111"));
        assert!(!number_matches("1317*", "+15550001111"));
        assert!(!number_matches("999", "+15550001111"));
    }
}
