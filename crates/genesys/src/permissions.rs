//! The Genesys permissions herald's calls need, and how a grant covers one.
//!
//! Owns [`REQUIRED_PERMISSIONS`] (one row per endpoint herald calls, with the permission names
//! the official SDK documents for it; `docs/permissions.md` is the same table with sources) and
//! [`missing_permissions`], which checks granted permission strings the way Genesys policies
//! are written (`domain:entity:action`, where a policy's entity or action may be `*`).
//! Invariant: the table names only endpoints this crate calls; a row with several permissions
//! is satisfied by any one of them (the SDK's "Requires ANY permissions").

/// One endpoint herald calls and the permission(s) it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredPermission {
    /// Any one of these is enough.
    pub any_of: &'static [&'static str],
    /// HTTP method.
    pub method: &'static str,
    /// Path template, as in the Genesys API reference.
    pub path: &'static str,
    /// The API area (for grouping in reports).
    pub area: &'static str,
    /// What herald uses it for.
    pub used_for: &'static str,
}

/// Every endpoint herald calls that needs a permission. `GET /api/v2/tokens/me`,
/// `GET /api/v2/authorization/subjects/me` and `GET /api/v2/organizations/limits/namespaces/…`
/// need none.
pub const REQUIRED_PERMISSIONS: &[RequiredPermission] = &[
    RequiredPermission {
        any_of: &["responses:library:view"],
        method: "GET",
        path: "/api/v2/responsemanagement/libraries",
        area: "Response Management",
        used_for: "find the managed template library",
    },
    RequiredPermission {
        any_of: &["responses:library:add"],
        method: "POST",
        path: "/api/v2/responsemanagement/libraries",
        area: "Response Management",
        used_for: "create the managed template library on first apply",
    },
    RequiredPermission {
        any_of: &["responses:response:view"],
        method: "GET",
        path: "/api/v2/responsemanagement/responses/{responseId}",
        area: "Response Management",
        used_for: "read templates (also the library listing and POST …/responses/query)",
    },
    RequiredPermission {
        any_of: &["responses:response:add"],
        method: "POST",
        path: "/api/v2/responsemanagement/responses",
        area: "Response Management",
        used_for: "create templates",
    },
    RequiredPermission {
        any_of: &["responses:response:edit"],
        method: "PUT",
        path: "/api/v2/responsemanagement/responses/{responseId}",
        area: "Response Management",
        used_for: "update templates",
    },
    RequiredPermission {
        any_of: &["conversation:message:create"],
        method: "POST",
        path: "/api/v2/conversations/messages/agentless",
        area: "Agentless messaging",
        used_for: "send SMS",
    },
    RequiredPermission {
        any_of: &[
            "conversation:email:create",
            "conversation:agentlessEmail:send",
        ],
        method: "POST",
        path: "/api/v2/conversations/emails/agentless",
        area: "Agentless messaging",
        used_for: "send email",
    },
    RequiredPermission {
        any_of: &["conversation:message:view"],
        method: "GET",
        path: "/api/v2/conversations/messages/{messageId}/details",
        area: "Conversations",
        used_for: "delivery receipts (`herald receipts`)",
    },
    RequiredPermission {
        any_of: &[
            "analytics:conversationDetail:view",
            "analytics:agentConversationDetail:view",
        ],
        method: "POST",
        path: "/api/v2/analytics/conversations/details/query",
        area: "Analytics",
        used_for: "reconcile sends whose outcome is unknown; delivery statuses in bulk (`herald receipts`)",
    },
    RequiredPermission {
        any_of: &["outbound:dncList:view"],
        method: "GET",
        path: "/api/v2/outbound/dnclists",
        area: "Outbound DNC",
        used_for: "find the DNC list `suppress push` mirrors into",
    },
    RequiredPermission {
        any_of: &["outbound:dncList:add"],
        method: "POST",
        path: "/api/v2/outbound/dnclists",
        area: "Outbound DNC",
        used_for: "create that DNC list",
    },
    RequiredPermission {
        any_of: &["outbound:dnc:add"],
        method: "POST",
        path: "/api/v2/outbound/dnclists/{dncListId}/phonenumbers",
        area: "Outbound DNC",
        used_for: "append suppressed numbers",
    },
    RequiredPermission {
        any_of: &["sms:phoneNumber:view"],
        method: "GET",
        path: "/api/v2/routing/sms/phonenumbers",
        area: "Routing",
        used_for: "`herald doctor`: check each SMS `from` is provisioned",
    },
    RequiredPermission {
        any_of: &["routing:email:manage", "routing:email:view"],
        method: "GET",
        path: "/api/v2/routing/email/outbound/domains/{domainId}",
        area: "Routing",
        used_for: "`herald doctor`: check each email `from` domain is an outbound domain",
    },
];

/// The endpoints a `dispatch: messaging-campaign` campaign adds, beyond
/// [`REQUIRED_PERMISSIONS`]. Permission names from the SDK's descriptions (CLI
/// `build/gc/cmd/outbound_*`); `:start`/`:stop` are checked too, though herald starts and
/// stops a campaign with a version-guarded PUT of its status (`:edit`). Email campaigns take
/// the `outbound:emailCampaign:*` permissions instead of `outbound:messagingCampaign:*`.
pub const CAMPAIGN_PERMISSIONS: &[RequiredPermission] = &[
    RequiredPermission {
        any_of: &["outbound:contactList:add"],
        method: "POST",
        path: "/api/v2/outbound/contactlists",
        area: "Outbound campaigns",
        used_for: "create one contact list per wave",
    },
    RequiredPermission {
        any_of: &["outbound:contactList:view"],
        method: "GET",
        path: "/api/v2/outbound/contactlists[/{contactListId}]",
        area: "Outbound campaigns",
        used_for: "find a wave's contact list again after a crash",
    },
    RequiredPermission {
        any_of: &["outbound:contact:add"],
        method: "POST",
        path: "/api/v2/outbound/contactlists/{contactListId}/contacts",
        area: "Outbound campaigns",
        used_for: "upload a wave's contacts",
    },
    RequiredPermission {
        any_of: &["outbound:contact:view"],
        method: "POST",
        path: "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk",
        area: "Outbound campaigns",
        used_for: "read each contact's outcome (apply and reconcile)",
    },
    RequiredPermission {
        any_of: &[
            "outbound:messagingCampaign:add",
            "outbound:emailCampaign:add",
        ],
        method: "POST",
        path: "/api/v2/outbound/messagingcampaigns",
        area: "Outbound campaigns",
        used_for: "create one campaign per wave, off",
    },
    RequiredPermission {
        any_of: &[
            "outbound:messagingCampaign:view",
            "outbound:emailCampaign:view",
        ],
        method: "GET",
        path: "/api/v2/outbound/messagingcampaigns[/{messagingCampaignId}[/progress]]",
        area: "Outbound campaigns",
        used_for: "read a wave's campaign and its progress",
    },
    RequiredPermission {
        any_of: &[
            "outbound:messagingCampaign:edit",
            "outbound:emailCampaign:edit",
        ],
        method: "PUT",
        path: "/api/v2/outbound/messagingcampaigns/{messagingCampaignId}",
        area: "Outbound campaigns",
        used_for: "start and stop a wave's campaign (its status, version-guarded)",
    },
];

/// True when one granted permission (`domain:entity:action`, entity or action possibly `*`)
/// covers `needed`.
pub fn grant_covers(granted: &str, needed: &str) -> bool {
    let mut g = granted.split(':');
    let mut n = needed.split(':');
    let (Some(gd), Some(ge), Some(ga), None) = (g.next(), g.next(), g.next(), g.next()) else {
        return false;
    };
    let (Some(nd), Some(ne), Some(na), None) = (n.next(), n.next(), n.next(), n.next()) else {
        return false;
    };
    let part = |g: &str, n: &str| g == "*" || g.eq_ignore_ascii_case(n);
    part(gd, nd) && part(ge, ne) && part(ga, na)
}

/// The rows of [`REQUIRED_PERMISSIONS`] that none of `granted` covers.
pub fn missing_permissions<S: AsRef<str>>(granted: &[S]) -> Vec<&'static RequiredPermission> {
    missing_of(REQUIRED_PERMISSIONS, granted)
}

/// The rows of `table` that none of `granted` covers.
pub fn missing_of<S: AsRef<str>>(
    table: &'static [RequiredPermission],
    granted: &[S],
) -> Vec<&'static RequiredPermission> {
    table
        .iter()
        .filter(|row| {
            !row.any_of
                .iter()
                .any(|needed| granted.iter().any(|g| grant_covers(g.as_ref(), needed)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_alternatives() {
        assert!(grant_covers("outbound:*:*", "outbound:dnc:add"));
        assert!(grant_covers("outbound:dnc:*", "outbound:dnc:add"));
        assert!(!grant_covers("outbound:dncList:*", "outbound:dnc:add"));
        assert!(!grant_covers("outbound:dnc", "outbound:dnc:add"));
        let all: Vec<&str> = REQUIRED_PERMISSIONS.iter().map(|r| r.any_of[0]).collect();
        assert!(missing_permissions(&all).is_empty());
        // Either email permission satisfies the email row.
        let mut alt: Vec<&str> = all
            .iter()
            .copied()
            .filter(|p| *p != "conversation:email:create")
            .collect();
        alt.push("conversation:agentlessEmail:send");
        assert!(missing_permissions(&alt).is_empty());
        let without: Vec<&str> = all
            .iter()
            .copied()
            .filter(|p| *p != "conversation:message:create")
            .collect();
        let missing = missing_permissions(&without);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].path, "/api/v2/conversations/messages/agentless");
    }

    #[test]
    fn every_row_names_a_real_looking_permission_and_path() {
        for row in REQUIRED_PERMISSIONS {
            assert!(row.path.starts_with("/api/v2/"), "{row:?}");
            for p in row.any_of {
                assert_eq!(p.split(':').count(), 3, "{p}");
            }
        }
    }
}
