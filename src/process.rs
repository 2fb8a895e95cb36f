//! What herald reads from its process, read once per invocation: environment variables, the
//! user and host (for run records and lock holders) and the real clock. Settings are then
//! resolved from these values without further I/O.

use crate::settings::{
    ENV_BASE_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_ENVIRONMENT, ENV_LEDGER_KEY,
    ENV_LEDGER_URL, ENV_NOW, ENV_REGION, ENV_WEBHOOK_SECRET, EnvSettings, EnvVars,
};
use crate::spec::model::Workspace;

/// Reads an environment variable; empty counts as unset.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// "Now" for a command that resolves no environment (`validate`, `render`): `HERALD_NOW` when
/// it is an RFC 3339 instant, else the real clock. Only consent expiry reads it there.
pub(crate) fn workspace_clock() -> jiff::Timestamp {
    env_var(ENV_NOW)
        .and_then(|raw| raw.parse().ok())
        .unwrap_or_else(jiff::Timestamp::now)
}

impl EnvVars {
    /// Reads the variables, user, host and clock from the process.
    pub(crate) fn from_process() -> Self {
        let secret = |name: &str| env_var(name).map(secrecy::SecretString::from);
        Self {
            environment: env_var(ENV_ENVIRONMENT),
            ledger_url: env_var(ENV_LEDGER_URL),
            now: env_var(ENV_NOW),
            clock: Some(jiff::Timestamp::now()),
            ledger_key: secret(ENV_LEDGER_KEY),
            client_id: env_var(ENV_CLIENT_ID),
            client_secret: secret(ENV_CLIENT_SECRET),
            region: env_var(ENV_REGION),
            base_url: env_var(ENV_BASE_URL),
            webhook_secret: secret(ENV_WEBHOOK_SECRET),
            user: current_user(),
            host: host_name(),
        }
    }
}

/// Resolves the settings of the environment named by `--env`, `HERALD_ENV` or
/// `default_environment` from this process, and checks that the workspace's state directory
/// holds no link that would send the ledger or keys elsewhere.
pub(crate) fn resolve_env(ws: &Workspace, cli_env: Option<&str>) -> anyhow::Result<EnvSettings> {
    let settings = crate::settings::resolve_env(ws, cli_env, EnvVars::from_process())?;
    crate::secret_files::refuse_state_links(&settings)?;
    Ok(settings)
}

/// The user running herald (for run records and lock holders).
fn current_user() -> String {
    env_var("USER")
        .or_else(|| env_var("USERNAME"))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This machine's host name.
fn host_name() -> String {
    fs_err::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs_err::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| env_var("HOSTNAME"))
        .unwrap_or_else(|| "unknown".to_owned())
}
