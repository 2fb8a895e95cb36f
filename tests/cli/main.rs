//! The CLI integration suite: one binary, one module per command.

mod genesys_env;
mod support;

mod apply;
mod hardening;
mod hash;
mod help;
mod init;
mod ledger;
mod local_time;
mod plan;
mod preview;
mod receipts;
mod reconcile;
mod render;
mod schema;
mod serve;
mod suppress_push;
mod validate;
