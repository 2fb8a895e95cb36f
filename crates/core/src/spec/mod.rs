//! The desired-state model: what the YAML files say, as serde + schemars types.
//!
//! `*Doc` types are the raw documents (deny unknown fields, spans kept for diagnostics);
//! [`crate::load`] turns them into the validated types of [`model`] that the rest of herald
//! accepts. Nothing here does I/O.

pub mod caps;
pub mod consent;
mod docs;
mod ids;
pub mod model;
pub mod state_rules;

pub use docs::*;
pub use ids::*;
