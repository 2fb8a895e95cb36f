//! Standalone serving (`herald sandbox serve`): [`ServeArgs`] (clap) and [`serve`], which binds
//! 127.0.0.1, prints the banner (base URL, `client_id:`, `client_secret:`, `from_number:`, one
//! per line) and runs until Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::config::{Faults, InboundForward, SandboxConfig, StateLocation};
use crate::error::SandboxError;

/// Options of `herald sandbox serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (127.0.0.1 only; 0 picks a free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// `SQLite` file that keeps state across restarts (default: in memory).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seed for fault decisions.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Requests per token per 60 s window; 0 disables the limit.
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    pub rate_limit: u32,
    /// Share (0–1) of API requests answered 503.
    #[arg(long, value_name = "RATIO", default_value_t = 0.0)]
    pub fail_5xx: f64,
    /// Share (0–1) of agentless sends accepted, then answered by closing the connection.
    #[arg(long, value_name = "RATIO", default_value_t = 0.0)]
    pub drop_ratio: f64,
    /// Delay before each API request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = crate::config::DEFAULT_TOKEN_LIFETIME_SECS)]
    pub token_lifetime: u64,
    /// Seconds before an accepted conversation shows in the analytics query.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub index_delay: u64,
    /// Answer the next N API requests with 429.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub burst_429: u32,
    /// POST inbound replies to this URL (as an Architect Data Action would).
    #[arg(long, value_name = "URL")]
    pub forward_inbound: Option<String>,
    /// Value of the `X-Herald-Secret` header on forwarded replies.
    #[arg(
        long,
        value_name = "SECRET",
        env = "HERALD_SANDBOX_FORWARD_SECRET",
        hide_env_values = true
    )]
    pub forward_secret: Option<String>,
}

impl ServeArgs {
    /// The sandbox configuration these options describe.
    pub fn to_config(&self) -> Result<SandboxConfig, SandboxError> {
        let faults = Faults {
            error_5xx_ratio: self.fail_5xx,
            drop_ratio: self.drop_ratio,
            latency_ms: self.latency_ms,
            burst_429: self.burst_429,
            burst_retry_after_secs: 1,
            index_delay_secs: self.index_delay,
        };
        faults.validate().map_err(SandboxError::Config)?;
        let inbound_forward = match (&self.forward_inbound, &self.forward_secret) {
            (Some(url), Some(secret)) => Some(InboundForward {
                url: url.clone(),
                secret: secret.clone(),
            }),
            (Some(_), None) => {
                return Err(SandboxError::Config(
                    "--forward-inbound needs --forward-secret (or HERALD_SANDBOX_FORWARD_SECRET)"
                        .to_owned(),
                ));
            }
            (None, _) => None,
        };
        Ok(SandboxConfig {
            state: self
                .state
                .clone()
                .map_or(StateLocation::Memory, StateLocation::File),
            seed: self.seed,
            token_lifetime_secs: self.token_lifetime,
            rate_limit_per_minute: (self.rate_limit > 0).then_some(self.rate_limit),
            faults,
            inbound_forward,
            ..SandboxConfig::default()
        })
    }
}

/// Writes the banner lines for a running sandbox.
pub fn write_banner(
    sandbox: &crate::RunningSandbox,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    writeln!(out, "herald sandbox listening on {}", sandbox.base_url())?;
    writeln!(out, "client_id: {}", sandbox.client_id())?;
    writeln!(out, "client_secret: {}", sandbox.client_secret())?;
    writeln!(out, "from_number: {}", sandbox.from_number())?;
    out.flush()
}

/// Runs a standalone sandbox on 127.0.0.1 until Ctrl-C, then shuts it down cleanly.
pub async fn serve(
    args: ServeArgs,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), SandboxError> {
    let config = args.to_config()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let sandbox = crate::start(config, addr).await?;
    write_banner(&sandbox, out).map_err(SandboxError::Output)?;
    let signal = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    signal.map_err(SandboxError::Signal)
}
