//! The CLI integration suite: one binary, one module per command.

mod genesys_env;
mod support;

mod apply;
mod doctor;
mod frequency_caps;
mod hardening;
mod hash;
mod help;
mod init;
mod ledger;
mod ledger_tamper;
mod local_time;
mod plan;
mod preview;
mod production_path;
mod receipts;
mod reconcile;
mod render;
mod review;
mod review_digest;
mod schema;
mod serve;
mod suppress_push;
mod validate;
