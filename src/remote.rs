//! Connecting to the environment's Genesys API: the embedded sandbox (started in-process with
//! its state in `.herald/sandbox-state.db`) or a real org (region or base URL, credentials
//! from the environment, a secret file or a credential command — never the command line).

use anyhow::{Context as _, bail};
use herald_genesys::{ClientConfig, Credentials, GenesysClient, Region, SecretString};
use herald_sandbox::{RunningSandbox, SandboxConfig, StateLocation};

use crate::settings::{self, EnvSettings};
use crate::spec::Target;

/// A connected API client, keeping the embedded sandbox alive while it is in use.
pub struct Remote {
    /// The client.
    pub client: GenesysClient,
    /// The in-process sandbox, for the `sandbox` target.
    pub sandbox: Option<RunningSandbox>,
}

impl Remote {
    /// Stops the embedded sandbox, if any.
    pub async fn shutdown(self) {
        if let Some(s) = self.sandbox {
            s.shutdown().await;
        }
    }
}

/// Connects to the environment's API. No request is made yet, except that with a pinned
/// clock (`HERALD_NOW`) a `genesys` environment fetches its token to check that the server is
/// herald's sandbox.
pub(crate) async fn connect(settings: &EnvSettings) -> anyhow::Result<Remote> {
    let remote = connect_unchecked(settings).await?;
    if settings.now_pinned && remote.sandbox.is_none() {
        // Settings let a pinned clock through for an API on this machine; it must also be
        // herald's sandbox, not a proxy to a real org. Its first answer says so, before
        // anything is read, written or sent.
        remote.client.authenticate().await?;
        if !remote.client.login_is_herald_sandbox() {
            remote.shutdown().await;
            return Err(settings::pinned_clock_refused(&settings.env));
        }
    }
    Ok(remote)
}

/// [`connect`] without its check of a pinned clock: for `herald doctor`, which sends nothing,
/// logs in itself to tell its failures apart, and reports the check on its own.
pub(crate) async fn connect_unchecked(settings: &EnvSettings) -> anyhow::Result<Remote> {
    let env = &settings.env;
    match env.target {
        Target::Sandbox => {
            if let Some(dir) = settings.sandbox_state.parent() {
                fs_err::create_dir_all(dir)?;
            }
            let config = SandboxConfig {
                state: StateLocation::File(settings.sandbox_state.clone()),
                ..SandboxConfig::default()
            };
            let sandbox = herald_sandbox::start(config, "127.0.0.1:0".parse()?)
                .await
                .context("starting the embedded sandbox")?;
            let credentials = Credentials::new(
                sandbox.client_id(),
                SecretString::from(sandbox.client_secret().to_owned()),
            );
            let mut config = ClientConfig::new(sandbox.base_url(), credentials);
            config.requests_per_minute = Some(env.rate_per_minute);
            if let Some(budget) = settings.rate_limit_wait {
                config.rate_limit_wait_budget = budget;
            }
            Ok(Remote {
                client: GenesysClient::new(config)?,
                sandbox: Some(sandbox),
            })
        }
        Target::Genesys => {
            // Where the client secret will go is decided before the secret is even read.
            let base_url = allowed_base_url(settings)?;
            let region = settings::region_setting(env, &settings.vars);
            let credentials = credentials(settings)?;
            let mut config = match (base_url, region) {
                (Some(url), _) => ClientConfig::new(url, credentials),
                (None, Some((r, source))) => {
                    let region: Region = r
                        .parse()
                        .with_context(|| format!("environment `{}`: {source}", env.name))?;
                    ClientConfig::for_region(region, credentials)
                }
                (None, None) => bail!(
                    "environment `{}` has no region: set `region:` in herald.yaml or {}",
                    env.name,
                    settings::ENV_REGION
                ),
            };
            config.requests_per_minute = Some(env.rate_per_minute);
            if let Some(budget) = settings.rate_limit_wait {
                config.rate_limit_wait_budget = budget;
            }
            Ok(Remote {
                client: GenesysClient::new(config)?,
                sandbox: None,
            })
        }
    }
}

/// The base URL a `genesys` environment may send its credentials to, or `None` for its
/// region's host. From herald.yaml only a Genesys Cloud region's API host over https or this
/// machine is accepted (the loader reports anything else as H019 too); any other host must
/// come from `HERALD_BASE_URL`, set by whoever runs herald, and must use https.
pub(crate) fn allowed_base_url(settings: &EnvSettings) -> anyhow::Result<Option<String>> {
    use herald_genesys::BaseUrlHost;
    let Some((url, source)) = settings::base_url_setting(&settings.env, &settings.vars) else {
        return Ok(None);
    };
    let from_environment = settings.vars.base_url.is_some();
    let host = herald_genesys::classify_base_url(url).with_context(|| source.clone())?;
    let allowed = match host {
        BaseUrlHost::Genesys(_) | BaseUrlHost::Loopback => true,
        BaseUrlHost::OtherHttps => from_environment,
        BaseUrlHost::OtherHttp => false,
    };
    if !allowed && !from_environment {
        bail!(
            "{source} is `{url}`, which is not a Genesys Cloud API host over https nor this machine: the workspace may name only a region (`region:`), a region's API host or this machine, so that a change to the repository cannot send the OAuth client secret elsewhere; remove it, and set {} where herald runs if this gateway is really wanted",
            settings::ENV_BASE_URL
        );
    }
    if !allowed {
        bail!(
            "{source} is `{url}`: plain http to another machine would send the OAuth client secret in clear text; use https (or a host on this machine)"
        );
    }
    Ok(Some(url.trim().to_owned()))
}

pub(crate) fn credentials(settings: &EnvSettings) -> anyhow::Result<Credentials> {
    let env = &settings.env;
    let client_id = settings
        .vars
        .client_id
        .clone()
        .or_else(|| env.client_id.clone())
        .with_context(|| {
            format!(
                "no OAuth client id for environment `{}`: set {} or `client_id:` in herald.yaml",
                env.name,
                settings::ENV_CLIENT_ID
            )
        })?;
    if let Some(secret) = &settings.vars.client_secret {
        return Ok(Credentials::new(client_id, secret.clone()));
    }
    if let Some(file) = &env.secret_file {
        let path = if std::path::Path::new(file).is_absolute() {
            file.into()
        } else {
            settings.workspace_root.join(file)
        };
        return Credentials::from_secret_file(client_id, path).map_err(anyhow::Error::new);
    }
    if let Some(argv) = &env.credential_command {
        return Credentials::from_command(client_id, argv).map_err(anyhow::Error::new);
    }
    bail!(
        "no OAuth client secret for environment `{}`: set {}, `secret_file:` or `credential_command:` in herald.yaml",
        env.name,
        settings::ENV_CLIENT_SECRET
    )
}
