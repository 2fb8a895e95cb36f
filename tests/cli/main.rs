//! The CLI integration suite: one binary, one module per command.

mod support;

mod apply;
mod hash;
mod init;
mod ledger;
mod plan;
mod render;
mod schema;
mod validate;
