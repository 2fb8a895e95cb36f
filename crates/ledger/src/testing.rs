//! Shared behaviour tests for [`Ledger`] backends.
//!
//! Placeholder replaced below.
