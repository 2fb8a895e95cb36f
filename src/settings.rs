//! Settings resolved once per invocation: CLI > environment variables > herald.yaml > defaults.
//! The variables' names are listed here. Resolving does no I/O: the process's environment,
//! user, host and clock are read once by [`crate::process`] and passed in as [`EnvVars`];
//! the key and secret files are read by [`crate::secret_files`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::spec::Target;
use crate::spec::model::{Environment, Workspace};

/// Selects the environment when `--env` is absent.
pub(crate) const ENV_ENVIRONMENT: &str = "HERALD_ENV";
/// The ledger key (64 hex digits or a passphrase of at least 16 characters).
pub(crate) const ENV_LEDGER_KEY: &str = "HERALD_LEDGER_KEY";
/// Overrides the ledger location (a SQLite path or a `postgres://` URL).
pub(crate) const ENV_LEDGER_URL: &str = "HERALD_LEDGER_URL";
/// Pins "now" (RFC 3339) for reproducible plans and tests.
pub(crate) const ENV_NOW: &str = "HERALD_NOW";
/// Genesys OAuth client id (the name Genesys's own tools use).
pub(crate) const ENV_CLIENT_ID: &str = "GENESYSCLOUD_OAUTHCLIENT_ID";
/// Genesys OAuth client secret.
pub(crate) const ENV_CLIENT_SECRET: &str = "GENESYSCLOUD_OAUTHCLIENT_SECRET";
/// Genesys region id.
pub(crate) const ENV_REGION: &str = "GENESYSCLOUD_REGION";
/// An API base URL that is not a Genesys Cloud region's API host (a gateway or proxy). Only
/// the environment (or the machine's operator) may choose one: a workspace file can name
/// only a region's host or this machine, so a pull request cannot send the client secret
/// elsewhere.
pub(crate) const ENV_BASE_URL: &str = "HERALD_BASE_URL";
/// Shared secret(s) for `herald serve`, comma-separated for rotation.
pub(crate) const ENV_WEBHOOK_SECRET: &str = "HERALD_WEBHOOK_SECRET";

/// Names a failpoint that aborts the process when reached (crash testing; see `failpoint`).
pub(crate) const ENV_FAILPOINT: &str = "HERALD_FAILPOINT";

/// The directory herald keeps its local state in, inside the workspace.
pub(crate) const STATE_DIR: &str = ".herald";

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Everything a command needs to know about its target environment.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    /// The environment.
    pub env: Environment,
    /// The ledger.
    pub ledger: LedgerLocation,
    /// The environment's ledger key file, `.herald/ledger-ENV.key` (used when
    /// `HERALD_LEDGER_KEY` is unset).
    pub key_file: PathBuf,
    /// The key file every environment shared before each had its own, `.herald/ledger.key`:
    /// adopted (copied to `key_file`) by an environment whose ledger it opens.
    pub shared_key_file: PathBuf,
    /// The embedded sandbox's state file.
    pub sandbox_state: PathBuf,
    /// "Now", pinned by `HERALD_NOW` or the real clock.
    pub now: jiff::Timestamp,
    /// Whether "now" was pinned by `HERALD_NOW` (then no real waiting happens).
    pub now_pinned: bool,
    /// The workspace root.
    pub workspace_root: PathBuf,
    /// Values read from the process environment, once.
    pub vars: EnvVars,
    /// How long 429 answers may pause the client in total before a run stops (`apply
    /// --rate-limit-wait`); `None` = the client's default (10 minutes).
    pub rate_limit_wait: Option<std::time::Duration>,
}

/// What herald reads from its process — environment variables, user, host and the real
/// clock — captured once by [`crate::process`] (secrets stay wrapped; they are never printed).
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    /// `HERALD_ENV`.
    pub environment: Option<String>,
    /// `HERALD_LEDGER_URL`.
    pub ledger_url: Option<String>,
    /// `HERALD_NOW`, as given.
    pub now: Option<String>,
    /// The real time when the process environment was read.
    pub clock: Option<jiff::Timestamp>,
    /// `HERALD_LEDGER_KEY`.
    pub ledger_key: Option<secrecy::SecretString>,
    /// `GENESYSCLOUD_OAUTHCLIENT_ID`.
    pub client_id: Option<String>,
    /// `GENESYSCLOUD_OAUTHCLIENT_SECRET`.
    pub client_secret: Option<secrecy::SecretString>,
    /// `GENESYSCLOUD_REGION`.
    pub region: Option<String>,
    /// `HERALD_BASE_URL`.
    pub base_url: Option<String>,
    /// `HERALD_WEBHOOK_SECRET`.
    pub webhook_secret: Option<secrecy::SecretString>,
    /// The user running herald (for run records and lock holders).
    pub user: String,
    /// This machine's host name.
    pub host: String,
}

/// Resolves the environment named by `--env`, `HERALD_ENV` or `default_environment`.
pub(crate) fn resolve_env(
    ws: &Workspace,
    cli_env: Option<&str>,
    vars: EnvVars,
) -> anyhow::Result<EnvSettings> {
    let name = cli_env
        .map(str::to_owned)
        .or_else(|| vars.environment.clone())
        .unwrap_or_else(|| ws.project.default_environment.clone());
    let Some(env) = ws.project.environments.get(&name) else {
        let known: Vec<&str> = ws.project.environments.keys().map(String::as_str).collect();
        bail!(
            "environment `{name}` is not defined in herald.yaml (known: {})",
            known.join(", ")
        );
    };
    let state = ws.root.join(STATE_DIR);
    let ledger = match vars.ledger_url.clone().or_else(|| env.ledger.clone()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            LedgerLocation::Postgres(url)
        }
        Some(path) => LedgerLocation::Sqlite(resolve_path(
            &ws.root,
            path.strip_prefix("sqlite:").unwrap_or(&path),
        )),
        None => LedgerLocation::Sqlite(state.join(format!("ledger-{name}.db"))),
    };
    let pinned = vars.now.clone();
    if pinned.is_some() {
        refuse_pinned_clock(env, &vars)?;
    }
    let now = match &pinned {
        Some(raw) => raw
            .parse()
            .with_context(|| format!("{ENV_NOW}=`{raw}` is not an RFC 3339 instant"))?,
        None => vars
            .clock
            .context("the real time was not read from the process")?,
    };
    Ok(EnvSettings {
        env: env.clone(),
        ledger,
        key_file: state.join(format!("ledger-{name}.key")),
        shared_key_file: state.join("ledger.key"),
        sandbox_state: state.join("sandbox-state.db"),
        now,
        now_pinned: pinned.is_some(),
        workspace_root: ws.root.clone(),
        vars,
        rate_limit_wait: None,
    })
}

/// The API base URL a `genesys` environment uses and where it comes from:
/// `HERALD_BASE_URL`, else `base_url:` in herald.yaml, else `None` (the region's host).
pub(crate) fn base_url_setting<'a>(
    env: &'a Environment,
    vars: &'a EnvVars,
) -> Option<(&'a str, String)> {
    if let Some(url) = &vars.base_url {
        return Some((url, ENV_BASE_URL.to_owned()));
    }
    env.base_url.as_deref().map(|url| {
        (
            url,
            format!("`base_url:` of environment `{}` in herald.yaml", env.name),
        )
    })
}

/// The region a `genesys` environment uses and where it comes from: `GENESYSCLOUD_REGION`,
/// else `region:` in herald.yaml (the environment beats the file, as for every setting).
pub(crate) fn region_setting<'a>(
    env: &'a Environment,
    vars: &'a EnvVars,
) -> Option<(&'a str, String)> {
    if let Some(r) = &vars.region {
        return Some((r, ENV_REGION.to_owned()));
    }
    env.region.as_deref().map(|r| {
        (
            r,
            format!("`region:` of environment `{}` in herald.yaml", env.name),
        )
    })
}

/// `HERALD_NOW` moves the clock quiet hours and schedules are judged by, so it is honoured
/// only where nothing reaches a real recipient: the in-process sandbox, or an API on this
/// machine that `remote::connect` then finds to be a standalone `herald sandbox serve`. For any
/// other target it is an error.
fn refuse_pinned_clock(env: &Environment, vars: &EnvVars) -> anyhow::Result<()> {
    if env.target == Target::Sandbox {
        return Ok(());
    }
    let on_this_machine = base_url_setting(env, vars).is_some_and(|(url, _)| {
        matches!(
            herald_genesys::classify_base_url(url),
            Ok(herald_genesys::BaseUrlHost::Loopback)
        )
    });
    if on_this_machine {
        // Only provisionally: `remote::connect` also requires the server to identify itself
        // as herald's sandbox, as a proxy on this machine may forward to a real org.
        return Ok(());
    }
    Err(pinned_clock_refused(env))
}

/// The refusal of `HERALD_NOW` for an environment that may reach real recipients.
pub(crate) fn pinned_clock_refused(env: &Environment) -> anyhow::Error {
    anyhow::anyhow!(
        "{ENV_NOW} is set, but environment `{}` targets Genesys Cloud: a pinned clock would judge quiet hours and schedules by a time that is not now, so it is refused for any target but the sandbox (the embedded one or `herald sandbox serve` on this machine); unset {ENV_NOW}",
        env.name
    )
}

pub(crate) fn resolve_path(root: &Path, raw: &str) -> PathBuf {
    let p = PathBuf::from(raw);
    if p.is_absolute() { p } else { root.join(p) }
}

impl EnvSettings {
    /// A path as the user knows it: relative to the workspace root when inside it.
    pub(crate) fn shown_path(&self, path: &Path) -> String {
        path.strip_prefix(&self.workspace_root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Where the webhook secrets come from, for error messages (never their values).
    pub(crate) fn webhook_secret_source(&self) -> &'static str {
        if self.vars.webhook_secret.is_some() {
            ENV_WEBHOOK_SECRET
        } else {
            "`webhook_secret_file`"
        }
    }

    /// The instant sends are judged against: the pinned `HERALD_NOW`, else `None` (real time).
    pub(crate) fn fixed_now(&self) -> Option<jiff::Timestamp> {
        self.now_pinned.then_some(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesys_env(region: Option<&str>) -> Environment {
        Environment {
            name: "prod".into(),
            target: Target::Genesys,
            region: region.map(str::to_owned),
            base_url: None,
            library: crate::spec::model::DEFAULT_LIBRARY.into(),
            ledger: None,
            client_id: None,
            secret_file: None,
            credential_command: None,
            webhook_secret_file: None,
            rate_per_minute: crate::spec::model::DEFAULT_RATE_PER_MINUTE,
        }
    }

    /// The environment variable beats herald.yaml for the region, as for every other setting
    /// (it used to be the other way round, silently).
    #[test]
    fn the_region_variable_beats_the_file() {
        let env = genesys_env(Some("us-east-1"));
        let vars = EnvVars {
            region: Some("eu-west-1".into()),
            ..EnvVars::default()
        };
        assert_eq!(
            region_setting(&env, &vars),
            Some(("eu-west-1", ENV_REGION.to_owned()))
        );
        let unset = EnvVars::default();
        let (region, source) = region_setting(&env, &unset).unwrap();
        assert_eq!(region, "us-east-1");
        assert!(source.contains("herald.yaml"), "{source}");
        let none = genesys_env(None);
        assert_eq!(region_setting(&none, &unset), None);
    }
}
