//! Doctor checks about where settings come from, which org a token acts in, campaign rates and
//! the inbound secret: what an engineer taking a workspace to an org needs to see first.

use herald_genesys::GenesysClient;

use super::DoctorReport;
use crate::settings::{
    ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_LEDGER_KEY, ENV_LEDGER_URL, EnvSettings, LedgerLocation,
};
use crate::spec::Target;
use crate::spec::model::Workspace;

/// One line naming each effective setting and where it came from (flag > environment
/// variable > herald.yaml > default). Never a secret's value.
pub(super) fn sources(settings: &EnvSettings, report: &mut DoctorReport) {
    let env = &settings.env;
    let mut parts = vec![format!(
        "environment `{}` ({})",
        env.name,
        if settings.vars.environment.is_some() {
            "HERALD_ENV or --env"
        } else {
            "--env or default_environment"
        }
    )];
    if env.target == Target::Genesys {
        match crate::settings::base_url_setting(env, &settings.vars) {
            Some((url, source)) => parts.push(format!("API {} (from {source})", url.trim())),
            None => match crate::settings::region_setting(env, &settings.vars) {
                Some((region, source)) => parts.push(format!("region {region} (from {source})")),
                None => parts.push("no region".to_owned()),
            },
        }
        let id = if settings.vars.client_id.is_some() {
            ENV_CLIENT_ID.to_owned()
        } else {
            "`client_id:` in herald.yaml".to_owned()
        };
        parts.push(format!("client id (from {id})"));
        let secret = if settings.vars.client_secret.is_some() {
            ENV_CLIENT_SECRET.to_owned()
        } else if let Some(f) = &env.secret_file {
            format!("`secret_file:` {f}")
        } else if env.credential_command.is_some() {
            "`credential_command:`".to_owned()
        } else {
            "nowhere".to_owned()
        };
        parts.push(format!("client secret (from {secret})"));
    }
    let ledger_source = if settings.vars.ledger_url.is_some() {
        ENV_LEDGER_URL
    } else if env.ledger.is_some() {
        "`ledger:` in herald.yaml"
    } else {
        "default"
    };
    let ledger = match &settings.ledger {
        LedgerLocation::Sqlite(p) => settings.shown_path(p),
        LedgerLocation::Postgres(_) => "PostgreSQL".to_owned(),
    };
    parts.push(format!("ledger {ledger} (from {ledger_source})"));
    let key = if settings.vars.ledger_key.is_some() {
        ENV_LEDGER_KEY.to_owned()
    } else {
        settings.shown_path(&settings.key_file)
    };
    parts.push(format!("ledger key (from {key})"));
    report.ok("settings", parts.join(" · "));
}

/// The org and OAuth client the token acts as, put first: nobody should send from the wrong
/// org because two orgs share a region.
pub(super) async fn org(client: &GenesysClient, report: &mut DoctorReport) {
    let check = match client.token_info().await {
        Ok(info) => {
            let org = info.organization.as_ref();
            let name = org.and_then(|o| o.name.as_deref()).unwrap_or("(no name)");
            let id = org.and_then(|o| o.id.as_deref()).unwrap_or("unknown id");
            let client = info.oauth_client.as_ref().map_or_else(
                || "an unnamed OAuth client".to_owned(),
                |c| format!("OAuth client `{}`", c.name.as_deref().unwrap_or(&c.id)),
            );
            (true, format!("organization `{name}` ({id}), {client}"))
        }
        Err(e) => (false, format!("could not read the token's org: {e}")),
    };
    let before = report.checks.len();
    match check {
        (true, detail) => report.ok("org", detail),
        (false, detail) => report.warn(
            "org",
            detail,
            "check in Genesys Cloud → Admin → OAuth which org this client belongs to",
        ),
    }
    let org = report.checks.remove(before);
    report.checks.insert(0, org);
}

/// Campaigns whose `rate_per_minute` the environment's token cannot reach: they are sent at
/// the environment's `rate_per_minute` (and at most the org's per-token limit), so a plan's
/// duration for them would mislead.
pub(super) fn campaign_rates(
    ws: &Workspace,
    settings: &EnvSettings,
    org_limit: Option<u32>,
    report: &mut DoctorReport,
) {
    let env_rate = settings.env.rate_per_minute;
    let ceiling = org_limit.map_or(env_rate, |l| l.min(env_rate));
    for c in ws.campaigns.values() {
        let Some(rate) = c.rate_per_minute.filter(|r| *r > ceiling) else {
            continue;
        };
        report.warn(
            "campaign-rate",
            format!(
                "campaign `{}` asks for {rate} messages/min, but environment `{}` sends at most {ceiling}/min (its rate_per_minute {env_rate}{})",
                c.name,
                settings.env.name,
                org_limit.map_or_else(String::new, |l| format!(", the org's {l} requests/min per token"))
            ),
            format!("set `rate_per_minute: {ceiling}` (or less) on the campaign"),
        );
    }
}

/// The shared secrets `herald serve` would use, checked by the rules `serve` applies: from
/// `HERALD_WEBHOOK_SECRET` or `webhook_secret_file` (private to its owner), each at least
/// [`herald_inbound::MIN_SECRET_LEN`] bytes.
pub(super) fn inbound_secret(settings: &EnvSettings, report: &mut DoctorReport) {
    let source = settings.webhook_secret_source();
    match settings.webhook_secrets() {
        Ok(secrets) => {
            let short = secrets
                .iter()
                .filter(|s| {
                    secrecy::ExposeSecret::expose_secret(*s).len() < herald_inbound::MIN_SECRET_LEN
                })
                .count();
            if short > 0 {
                report.fail(
                    "inbound-secret",
                    format!(
                        "{short} of the {} secret(s) from {source} is shorter than {} bytes; `herald serve` refuses it",
                        secrets.len(),
                        herald_inbound::MIN_SECRET_LEN
                    ),
                    "use a random secret of at least 32 characters (e.g. `openssl rand -hex 32`)",
                );
            } else {
                report.ok(
                    "inbound-secret",
                    format!("{} secret(s) configured ({source})", secrets.len()),
                );
            }
        }
        Err(e) => report.fail(
            "inbound-secret",
            format!("{e:#}"),
            "write a random secret of at least 32 characters to the file, `chmod 600` it (e.g. `openssl rand -hex 32 > inbound.secret`), or set HERALD_WEBHOOK_SECRET",
        ),
    }
}
