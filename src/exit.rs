//! Designed exit codes, shared by every command (DESIGN §4).

use std::process::ExitCode;

/// How a command ended; the numeric values are part of herald's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success, or nothing to do.
    Success,
    /// 1: an error (I/O, remote API, internal).
    Error,
    /// 2: changes are pending (`plan --detailed-exitcode`).
    Changes,
    /// 3: validation or policy failure.
    Invalid,
    /// 4: the ledger is locked by another run.
    Locked,
}

impl ExitStatus {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Error => 1,
            Self::Changes => 2,
            Self::Invalid => 3,
            Self::Locked => 4,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
