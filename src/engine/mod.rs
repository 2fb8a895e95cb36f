//! Orchestration behind the commands that change state: each entry function takes resolved
//! settings and inputs, does the work (ledger, Genesys, files) and returns a typed report that
//! the command prints. Nothing here writes to the terminal.
//!
//! - [`apply`]: lock, re-plan, stale checks ([`stale`]), the template phase, the campaign
//!   phase and the `--wait` loop, over the executor in [`crate::apply`];
//! - [`reconcile`]: resolve `unknown` sends through the analytics API;
//! - [`receipts`]: poll delivery receipts and suppress opted-out recipients;
//! - [`suppress`]: the suppression list and `suppress push` to a Genesys DNC list;
//! - [`import`]: adopt Genesys responses as template YAML;
//! - [`preview`]: plan and gather the reviewer's page inputs;
//! - [`status`]: per-campaign counts from the ledger.

pub(crate) mod apply;
pub(crate) mod doctor;
pub(crate) mod import;
pub(crate) mod ledger;
pub(crate) mod preview;
pub(crate) mod receipts;
pub(crate) mod reconcile;
pub(crate) mod stale;
pub(crate) mod status;
pub(crate) mod suppress;
pub(crate) mod witness;

/// The async runtime for work that talks to Genesys.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A unique run id: UTC time, the command and a random suffix.
pub(crate) fn new_run_id(command: &str) -> String {
    format!(
        "{}-{command}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Writes a file via a temporary sibling and a rename, so a reader never sees half of it.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs_err::write(&tmp, bytes)?;
    fs_err::rename(&tmp, path)
}
