//! The ledger's error type.
//!
//! Owns: every failure a ledger backend reports. Variants say what the caller should do
//! (refuse the run, report a wrong key, upgrade herald); none carries an address, a message
//! body or key material, so they are safe to print.

use std::path::PathBuf;

/// Errors from opening, migrating, reading or writing a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The underlying database reported an error.
    #[error("ledger database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL server or driver reported an error.
    #[cfg(feature = "postgres")]
    #[error("ledger database error: {0}")]
    Postgres(#[from] postgres::Error),
    /// The database cannot hold a ledger as configured (no schema selected, a lock for
    /// another database, an unusable URL).
    #[error("ledger database: {0}")]
    Backend(String),
    /// A file or directory operation failed.
    #[error("ledger I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The ledger was written by a newer herald whose schema this build does not know.
    #[error(
        "ledger {path} has schema version {found}, but this herald supports up to {supported}; upgrade herald"
    )]
    NewerSchema {
        /// The ledger file (or, for PostgreSQL, the database URL without its password).
        path: PathBuf,
        /// Schema version found in the file.
        found: i64,
        /// Newest schema version this build knows.
        supported: i64,
    },
    /// The ledger key does not match the key the ledger was created with.
    #[error(
        "wrong ledger key: this ledger was created with key fingerprint {expected}, but the configured key has fingerprint {actual}; \
         set HERALD_LEDGER_KEY or the key file to the original key (a different key would silently miss every opt-out)"
    )]
    WrongKey {
        /// Fingerprint stored in the ledger.
        expected: String,
        /// Fingerprint of the key that was supplied.
        actual: String,
    },
    /// The supplied key material is unusable (empty, too short, malformed key file).
    #[error("invalid ledger key: {0}")]
    InvalidKey(String),
    /// A key file exists but is readable by group or others.
    #[error(
        "ledger key file {path} has mode {mode:o}; it must not be readable by group or others (chmod 600)"
    )]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A write asked for a state change the send state machine does not allow.
    #[error("send {campaign}/{row_key}: cannot go from {from} to {to}")]
    InvalidTransition {
        /// Campaign of the send.
        campaign: String,
        /// Audience row key of the send.
        row_key: String,
        /// Current state (or `absent`).
        from: String,
        /// Requested state.
        to: String,
    },
    /// A referenced object does not exist.
    #[error("{what} not found: {name}")]
    NotFound {
        /// Kind of object (`run`, `template binding`, …).
        what: &'static str,
        /// Its identifier.
        name: String,
    },
    /// An object that must be unique already exists.
    #[error("{what} already exists: {name}")]
    AlreadyExists {
        /// Kind of object.
        what: &'static str,
        /// Its identifier.
        name: String,
    },
    /// A write the ledger's rules refuse (e.g. a wave moved backwards).
    #[error("{0}")]
    Refused(String),
    /// Stored data could not be decoded (corruption or tampering).
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
}

/// Result alias for ledger operations.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
