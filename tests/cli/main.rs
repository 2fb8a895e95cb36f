//! The CLI integration suite: one binary, one module per command.

mod genesys_env;
mod support;

mod apply;
mod archive;
mod compliance;
mod credentials;
mod dispatch;
mod dnc;
mod doctor;
mod formats;
mod frequency_caps;
mod hardening;
mod hash;
mod help;
mod init;
mod keyword_replies;
mod ledger;
mod ledger_tamper;
mod local_time;
mod outputs;
mod plan;
mod preview;
mod production_path;
mod receipts;
mod reconcile;
mod render;
mod review;
mod review_binds;
mod review_digest;
mod reviewed_text;
mod schema;
mod send_windows;
mod serve;
mod suppress_push;
mod validate;
