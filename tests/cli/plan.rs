//! `herald plan`.
