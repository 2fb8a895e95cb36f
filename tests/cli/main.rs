//! The CLI integration suite: one binary, one module per command.

mod support;

mod hash;
mod init;
mod ledger;
mod render;
mod schema;
mod validate;
