//! `herald doctor`: checks an environment's set-up before a first apply — the workspace, the
//! credentials and the token grant, the OAuth client's permissions, the managed library, the
//! campaigns' senders, the DNC list, the org's rate limit, the ledger and its key, and the
//! inbound secret. Each check is a line with a status and, for a failure, the fix. Nothing
//! secret is kept in the report; numbers and addresses are masked.

mod setup;

use herald_genesys::{ApiError, GenesysClient};
use serde::Serialize;

use crate::settings::{EnvSettings, LedgerLocation};
use crate::spec::model::Workspace;
use crate::spec::{Channel, Target, mask_email, mask_phone};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckStatus {
    /// Fine.
    Ok,
    /// Not a failure, but worth knowing.
    Warn,
    /// Must be fixed before an apply.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// A stable id (`credentials`, `login`, `permissions`, …).
    pub(crate) id: &'static str,
    /// The outcome.
    pub(crate) status: CheckStatus,
    /// What was found.
    pub(crate) detail: String,
    /// How to fix a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

/// Every check, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DoctorReport {
    /// The environment checked.
    pub(crate) environment: String,
    /// The checks.
    pub(crate) checks: Vec<Check>,
}

impl DoctorReport {
    fn push(
        &mut self,
        check: &'static str,
        status: CheckStatus,
        detail: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id: check,
            status,
            detail,
            fix,
        });
    }
    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, CheckStatus::Ok, detail.into(), None);
    }
    fn warn(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(check, CheckStatus::Warn, detail.into(), Some(fix.into()));
    }
    fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(check, CheckStatus::Fail, detail.into(), Some(fix.into()));
    }

    /// Whether any check failed.
    pub(crate) fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }
}

/// What else doctor checks, beyond the environment's own settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct DoctorOptions {
    /// The DNC list `suppress push --dnc-list` uses.
    pub(crate) dnc_list: Option<String>,
    /// `herald serve` will run for this environment (the inbound secret must be configured);
    /// also implied by `webhook_secret_file:` or `HERALD_WEBHOOK_SECRET`.
    pub(crate) serve: bool,
}

/// Runs every check against the environment; `workspace_errors` is how many errors loading
/// the workspace found (its own check).
pub(crate) fn doctor(
    ws: &Workspace,
    workspace_errors: usize,
    settings: &EnvSettings,
    opts: &DoctorOptions,
) -> DoctorReport {
    let mut report = DoctorReport {
        environment: settings.env.name.clone(),
        checks: Vec::new(),
    };
    if workspace_errors == 0 {
        report.ok(
            "workspace",
            format!(
                "herald.yaml and the workspace validate ({} templates, {} campaigns)",
                ws.templates.len(),
                ws.campaigns.len()
            ),
        );
    } else {
        report.fail(
            "workspace",
            format!("the workspace has {workspace_errors} errors"),
            "run `herald validate` and fix what it names",
        );
    }
    setup::sources(settings, &mut report);
    let credentials = remote_checks(ws, settings, opts, &mut report);
    ledger_checks(settings, &mut report);
    inbound_check(settings, opts, &mut report);
    // Details quote what the server sent (names, error messages): escape control characters
    // and make sure the client secret appears nowhere, whatever the server echoed.
    let secret = credentials
        .as_ref()
        .map(|c| secrecy::ExposeSecret::expose_secret(&c.client_secret).to_owned());
    let secrets: Vec<&str> = secret.iter().map(String::as_str).collect();
    for check in &mut report.checks {
        check.detail = herald_genesys::scrub_text(&check.detail, &secrets);
        check.fix = check
            .fix
            .as_deref()
            .map(|f| herald_genesys::scrub_text(f, &secrets));
    }
    report
}

/// The remote checks; returns the credentials they resolved, if any (so the report can be
/// scrubbed of the secret).
fn remote_checks(
    ws: &Workspace,
    settings: &EnvSettings,
    opts: &DoctorOptions,
    report: &mut DoctorReport,
) -> Option<herald_genesys::Credentials> {
    let env = &settings.env;
    let mut resolved = None;
    if env.target == Target::Genesys {
        // Where the secret would go is checked before the secret is read.
        if let Err(e) = crate::remote::allowed_base_url(settings) {
            report.fail(
                "login",
                format!("{e:#}"),
                format!(
                    "use `region:` in herald.yaml, or set {} where herald runs",
                    crate::settings::ENV_BASE_URL
                ),
            );
            return None;
        }
        match crate::remote::credentials(settings) {
            Ok(c) => {
                resolved = Some(c);
                report.ok("credentials", credentials_source(settings));
            }
            Err(e) => {
                report.fail(
                    "credentials",
                    format!("{e:#}"),
                    format!(
                        "set {} and {} (or `client_id:` with `secret_file:` or `credential_command:` in herald.yaml)",
                        crate::settings::ENV_CLIENT_ID,
                        crate::settings::ENV_CLIENT_SECRET
                    ),
                );
                return resolved;
            }
        }
    } else {
        report.ok("credentials", "the embedded sandbox's own client");
    }
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report.fail("login", format!("{e:#}"), "retry");
            return resolved;
        }
    };
    let remote = match rt.block_on(crate::remote::connect_unchecked(settings)) {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                "login",
                format!("{e:#}"),
                "set `region:` (or `base_url:`) in herald.yaml",
            );
            return resolved;
        }
    };
    let client = &remote.client;
    let local = remote.sandbox.is_some();
    let base = client.base_url().to_owned();
    match rt.block_on(client.authenticate()) {
        Ok(()) if settings.now_pinned && !local && !client.login_is_herald_sandbox() => {
            // Only an API on this machine gets this far with a pinned clock (see settings).
            report.fail(
                "login",
                format!(
                    "{base} granted a token but is not herald's sandbox: {:#}",
                    crate::settings::pinned_clock_refused(&settings.env)
                ),
                format!("unset {}", crate::settings::ENV_NOW),
            );
            rt.block_on(remote.shutdown());
            return resolved;
        }
        Ok(()) => report.ok("login", format!("token granted for {base}")),
        Err(e) => {
            if refused_credentials(&e) {
                report.fail(
                    "login",
                    format!("the login host refused the credentials: {e}"),
                    "check the client id and secret of the OAuth client (client credentials grant) in Genesys Cloud → Admin → OAuth",
                );
            } else {
                report.fail(
                    "login",
                    format!(
                        "no token from the login host {} for the API {base} (wrong region or base URL?): {e}",
                        client.login_url()
                    ),
                    "check `region:` / `base_url:` in herald.yaml (or GENESYSCLOUD_REGION): it must be the org's region",
                );
            }
            rt.block_on(remote.shutdown());
            return resolved;
        }
    }
    rt.block_on(async {
        setup::org(client, report).await;
        org_checks(ws, settings, opts, client, report).await;
    });
    rt.block_on(remote.shutdown());
    resolved
}

/// 401, or a 400 naming the client or grant: the host is right, the credentials are not.
fn refused_credentials(e: &ApiError) -> bool {
    match e {
        ApiError::Auth { status, error, .. } => {
            *status == 401
                || *status == 403
                || (*status == 400
                    && error.as_deref().is_some_and(|e| {
                        matches!(
                            e,
                            "invalid_client" | "unauthorized_client" | "invalid_grant"
                        )
                    }))
        }
        _ => false,
    }
}

fn credentials_source(settings: &EnvSettings) -> String {
    let env = &settings.env;
    let source = if settings.vars.client_secret.is_some() {
        crate::settings::ENV_CLIENT_SECRET.to_owned()
    } else if let Some(f) = &env.secret_file {
        format!("secret_file {f}")
    } else {
        "credential_command".to_owned()
    };
    format!("client id and secret resolve (secret from {source})")
}

/// When a campaign uses `dispatch: messaging-campaign`: the contact-list and campaign
/// permissions it adds (`herald_genesys::CAMPAIGN_PERMISSIONS`).
async fn campaign_permission_check(
    ws: &Workspace,
    client: &GenesysClient,
    report: &mut DoctorReport,
) {
    let users: Vec<String> = ws
        .campaigns
        .values()
        .filter(|c| !c.dispatch.is_agentless())
        .map(|c| c.name.to_string())
        .collect();
    if users.is_empty() {
        return;
    }
    let Ok(granted) = client.granted_permissions().await else {
        return;
    };
    let missing = herald_genesys::missing_of(herald_genesys::CAMPAIGN_PERMISSIONS, &granted);
    if missing.is_empty() {
        report.ok(
            "campaign-permissions",
            format!(
                "the OAuth client's roles cover the {} contact-list and campaign permissions of `dispatch: messaging-campaign` ({})",
                herald_genesys::CAMPAIGN_PERMISSIONS.len(),
                users.join(", ")
            ),
        );
    } else {
        let names: Vec<String> = missing
            .iter()
            .map(|m| format!("{} ({})", m.any_of.join(" or "), m.used_for))
            .collect();
        report.fail(
            "campaign-permissions",
            format!(
                "campaigns {} use `dispatch: messaging-campaign`; missing: {}",
                users.join(", "),
                names.join(", ")
            ),
            "add them to the OAuth client's role (docs/permissions.md), or use `dispatch: agentless`",
        );
    }
}

async fn org_checks(
    ws: &Workspace,
    settings: &EnvSettings,
    opts: &DoctorOptions,
    client: &GenesysClient,
    report: &mut DoctorReport,
) {
    match client.granted_permissions().await {
        Ok(granted) => {
            let missing = herald_genesys::missing_permissions(&granted);
            if missing.is_empty() {
                report.ok(
                    "permissions",
                    format!(
                        "the OAuth client's roles cover the {} permissions herald uses",
                        herald_genesys::REQUIRED_PERMISSIONS.len()
                    ),
                );
            } else {
                let names: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{} ({})", m.any_of.join(" or "), m.used_for))
                    .collect();
                report.fail(
                    "permissions",
                    format!("missing: {}", names.join(", ")),
                    "add the missing permissions to the OAuth client's role (see the permissions table in README)",
                );
            }
        }
        Err(e) => report.fail(
            "permissions",
            format!("could not read the client's grants: {e}"),
            "check the OAuth client's roles in Genesys Cloud → Admin → OAuth",
        ),
    }
    campaign_permission_check(ws, client, report).await;
    let library = &settings.env.library;
    match client.find_library_by_name(library).await {
        Ok(Some(_)) => report.ok("library", format!("managed library `{library}` exists")),
        Ok(None) => report.warn(
            "library",
            format!("managed library `{library}` does not exist yet"),
            "nothing to do: the first apply creates it",
        ),
        Err(e) => report.fail(
            "library",
            format!("could not list the Response Management libraries: {e}"),
            "grant responses:library:view",
        ),
    }
    sender_checks(ws, client, report).await;
    if let Some(list) = &opts.dnc_list {
        match client.list_dnc_lists().await {
            Ok(lists) if lists.iter().any(|l| &l.name == list) => {
                report.ok("dnc-list", format!("DNC list `{list}` exists"));
            }
            Ok(_) => report.fail(
                "dnc-list",
                format!("no DNC list named `{list}`"),
                format!("create it in Genesys Cloud → Admin → Outbound → DNC lists, or run `herald suppress push --dnc-list \"{list}\" --from-audiences` (it creates the list)"),
            ),
            Err(e) => report.fail(
                "dnc-list",
                format!("could not list the DNC lists: {e}"),
                "grant outbound:dncList:view",
            ),
        }
    }
    let configured = settings.env.rate_per_minute;
    let limit = client
        .org_limit("platform.api", "client.credentials.token.rate.per.minute")
        .await;
    setup::campaign_rates(ws, settings, limit.as_ref().ok().copied().flatten(), report);
    match limit {
        Ok(Some(limit)) if limit < configured => report.warn(
            "rate-limit",
            format!("the org allows {limit} requests/min per token, rate_per_minute is {configured}"),
            format!("set `rate_per_minute: {limit}` in herald.yaml"),
        ),
        Ok(Some(limit)) => report.ok(
            "rate-limit",
            format!("rate_per_minute {configured} is within the org's {limit} requests/min per token"),
        ),
        Ok(None) => report.warn(
            "rate-limit",
            format!("the org's per-token limit is not published; rate_per_minute is {configured}"),
            "keep rate_per_minute at or below 300 (the Genesys default) unless the org's limit is known",
        ),
        Err(e) => report.warn(
            "rate-limit",
            format!("could not read the org's limits: {e}"),
            "keep rate_per_minute at or below 300 (the Genesys default)",
        ),
    }
}

async fn sender_checks(ws: &Workspace, client: &GenesysClient, report: &mut DoctorReport) {
    let mut sms = Vec::new();
    let mut email = Vec::new();
    for c in ws.campaigns.values() {
        match ws.templates.get(&c.template).map(|t| t.channel) {
            Some(Channel::Sms) => sms.push(c),
            Some(Channel::Email) => email.push(c),
            None => {}
        }
    }
    if !sms.is_empty() {
        match client.sms_phone_numbers().await {
            Ok(numbers) => {
                for c in sms {
                    let masked = mask_phone(&c.from);
                    if numbers
                        .iter()
                        .any(|n| n.phone_number == c.from && n.can_send_sms())
                    {
                        report.ok(
                            "sms-from",
                            format!(
                                "campaign `{}`: {masked} is a provisioned SMS number",
                                c.name
                            ),
                        );
                    } else {
                        report.fail(
                            "sms-from",
                            format!("campaign `{}`: {masked} is not a provisioned SMS number of the org", c.name),
                            "provision the number in Genesys Cloud → Admin → Message → SMS Number Inventory, or change the campaign's `from`",
                        );
                    }
                }
            }
            Err(e) => report.fail(
                "sms-from",
                format!("could not list the org's SMS numbers: {e}"),
                "grant sms:phoneNumber:view",
            ),
        }
    }
    // Each domain is read by id (needs `routing:email:view`; the full listing needs
    // `routing:email:manage`).
    for c in email {
        let domain = c.from.rsplit_once('@').map_or("", |(_, d)| d);
        let masked = mask_email(&c.from);
        match client.outbound_email_domain(domain).await {
            Ok(Some(_)) => report.ok(
                "email-domain",
                format!(
                    "campaign `{}`: {masked} is on an outbound domain of the org",
                    c.name
                ),
            ),
            Ok(None) => report.fail(
                "email-domain",
                format!(
                    "campaign `{}`: `{domain}` is not an outbound email domain of the org",
                    c.name
                ),
                "add and verify the domain in Genesys Cloud → Admin → Email → Outbound Domains, or change the campaign's `from`",
            ),
            Err(e) => report.fail(
                "email-domain",
                format!("campaign `{}`: could not read the outbound email domain `{domain}`: {e}", c.name),
                "grant routing:email:view",
            ),
        }
    }
}

fn ledger_checks(settings: &EnvSettings, report: &mut DoctorReport) {
    let name = &settings.env.name;
    let key = match settings.ledger_key() {
        Ok(k) => k,
        Err(e) => {
            let missing = settings.vars.ledger_key.is_none()
                && std::fs::symlink_metadata(&settings.key_file).is_err();
            report.fail(
                "ledger-key",
                if missing {
                    format!(
                        "no ledger key for environment `{name}`: {} is missing and {} is unset",
                        settings.shown_path(&settings.key_file),
                        crate::settings::ENV_LEDGER_KEY
                    )
                } else {
                    format!("{e:#}")
                },
                format!(
                    "run `herald ledger keygen --env {name}` (or set {} to the team's key)",
                    crate::settings::ENV_LEDGER_KEY
                ),
            );
            return;
        }
    };
    if let LedgerLocation::Sqlite(path) = &settings.ledger
        && std::fs::symlink_metadata(path).is_err()
    {
        report.ok(
            "ledger-key",
            format!("ledger key fingerprint {}", key.fingerprint()),
        );
        report.warn(
            "ledger",
            format!("{} does not exist yet", settings.shown_path(path)),
            "nothing to do: the first apply creates it",
        );
        return;
    }
    match crate::ledger_access::other_key_fingerprint(settings, &key) {
        Ok(None) => report.ok(
            "ledger-key",
            format!(
                "the ledger was made with this key (fingerprint {})",
                key.fingerprint()
            ),
        ),
        Ok(Some(expected)) => {
            report.fail(
                "ledger-key",
                format!(
                    "the ledger was made with the key of fingerprint {expected}, this key's is {}",
                    key.fingerprint()
                ),
                format!(
                    "use the team's key: restore {} or set {} to it",
                    settings.shown_path(&settings.key_file),
                    crate::settings::ENV_LEDGER_KEY
                ),
            );
            return;
        }
        Err(e) => {
            report.fail(
                "ledger",
                format!("{e:#}"),
                "check the ledger location (`ledger:` in herald.yaml or HERALD_LEDGER_URL) and that it is reachable",
            );
            return;
        }
    }
    match crate::ledger_access::open(settings, &key) {
        Ok(_) => report.ok(
            "ledger",
            format!(
                "reachable, schema version {}",
                herald_ledger::SCHEMA_VERSION
            ),
        ),
        Err(e) => report.fail(
            "ledger",
            format!("{e:#}"),
            "check the ledger location and that this herald is at least as new as the one that last wrote it",
        ),
    }
}

fn inbound_check(settings: &EnvSettings, opts: &DoctorOptions, report: &mut DoctorReport) {
    let configured =
        settings.env.webhook_secret_file.is_some() || settings.vars.webhook_secret.is_some();
    if opts.serve || configured {
        setup::inbound_secret(settings, report);
    }
}
