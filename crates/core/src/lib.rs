//! herald's pure domain: what every command computes, with no I/O.
//!
//! [`spec`] holds the validated workspace model (the loader in the `herald` crate builds it);
//! [`messages`] turns audience rows into messages, which [`text`] renders and measures;
//! [`schedule`] and [`local_time`] decide when a recipient may be messaged; [`plan`] decides
//! every row and template from observed state passed in as values, and computes the review
//! digest; [`diag`] collects diagnostics; [`hash`] names content.
//!
//! This crate does no I/O: no files, network, processes, environment or clock. Cargo's
//! dependency graph keeps it so: its dependencies are an allowlist checked by
//! `tests/dependencies.rs` against `cargo metadata`.

pub mod channel;
pub mod diag;
pub mod hash;
pub mod local_time;
pub mod messages;
pub mod plan;
pub mod schedule;
pub mod send;
pub mod spec;
pub mod text;

pub use channel::Channel;
pub use send::{Redo, SendState};
