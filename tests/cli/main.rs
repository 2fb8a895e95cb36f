//! The CLI integration suite: one binary, one module per command.

mod genesys_env;
mod support;

mod hash;
mod init;
mod ledger;
mod receipts;
mod render;
mod schema;
mod serve;
mod suppress_push;
mod validate;
