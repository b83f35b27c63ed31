//! [`ClientError`], the one error of the device session: the variants an app acts on, with
//! messages that name fields, rules and ids only — never patient data (errors reach logs and
//! crash reports). The bindings map it one to one onto their foreign error.

use crate::blob_sync::BlobSyncError;
use crate::sync_client::SyncError;
use crate::transport::TransportError;
use kizuna_core::blobs::BlobError;
use kizuna_core::careplan::CarePlanError;
use kizuna_core::{ContentHash, CoreError, StoreError};

/// What went wrong, in terms an app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The relay cannot be reached (no signal, relay down). Everything keeps working on the
    /// device; try again later.
    #[error("the relay cannot be reached")]
    Offline,
    /// The administrator revoked this device. When `wipe` is true the app must call
    /// `Device.wipe()` now; either way the device must enroll again to sync.
    #[error("this device has been revoked (wipe: {wipe})")]
    Revoked {
        /// Erase the local data now.
        wipe: bool,
    },
    /// The device has no identity yet (enroll first), or it was wiped.
    #[error("this device is not enrolled")]
    NotEnrolled,
    /// The enrollment was refused: the code is unknown, used or expired, the QR code is not
    /// a Kizuna code, or the relay's CA does not match the one in the QR code.
    #[error("enrollment refused: {reason}")]
    EnrollmentRefused {
        /// Why, for the person holding the phone.
        reason: String,
    },
    /// An argument broke a rule; `field` names it (a path such as `vitals[0].pulse_per_min`).
    #[error("invalid input: {field}: {problem}")]
    InvalidInput {
        /// Which field.
        field: String,
        /// The rule it broke.
        problem: String,
    },
    /// The room, report or attachment is not on this device (or no longer visible).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (a kind of thing, not its content).
        what: String,
    },
    /// Not allowed (editing another professional's report, a report in a notice room…).
    #[error("not allowed: {reason}")]
    Forbidden {
        /// The rule.
        reason: String,
    },
    /// The relay refused a request (a version mismatch or a bug: retrying will not help).
    #[error("the relay refused the request ({status})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The relay's explanation.
        detail: String,
    },
    /// The key provider gave no key, or a key that does not open this store.
    #[error("the store key is unavailable or wrong: {detail}")]
    KeyUnavailable {
        /// Which.
        detail: String,
    },
    /// The local store or a file failed (disk full, damaged file).
    #[error("storage failed: {detail}")]
    Storage {
        /// What failed.
        detail: String,
    },
}

impl From<TransportError> for ClientError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Offline(detail) => {
                tracing::debug!(%detail, "relay unreachable");
                ClientError::Offline
            }
            TransportError::Revoked { wipe } => ClientError::Revoked { wipe },
            TransportError::Rejected { status, detail } => ClientError::Rejected { status, detail },
        }
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongKey | StoreError::Crypto(_) => ClientError::KeyUnavailable {
                detail: e.to_string(),
            },
            other => ClientError::Storage {
                detail: other.to_string(),
            },
        }
    }
}

impl From<CoreError> for ClientError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(v) => ClientError::InvalidInput {
                field: v.field,
                problem: v.problem,
            },
            CoreError::NotFound(what) => ClientError::NotFound { what: what.into() },
            CoreError::Forbidden(reason) => ClientError::Forbidden {
                reason: reason.into(),
            },
            CoreError::Store(s) => s.into(),
            other => ClientError::Storage {
                detail: other.to_string(),
            },
        }
    }
}

impl From<BlobError> for ClientError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Core(c) => c.into(),
            BlobError::Io(detail) => ClientError::Storage { detail },
            other => ClientError::Storage {
                detail: other.to_string(),
            },
        }
    }
}

impl From<BlobSyncError> for ClientError {
    fn from(e: BlobSyncError) -> Self {
        match e {
            BlobSyncError::Transport(t) => t.into(),
            BlobSyncError::Blob(b) => b.into(),
        }
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Transport(t) => t.into(),
            SyncError::Core(c) => c.into(),
            SyncError::Protocol => ClientError::Rejected {
                status: 0,
                detail: "the relay's answer is not a valid sync response".into(),
            },
        }
    }
}

impl From<CarePlanError> for ClientError {
    fn from(e: CarePlanError) -> Self {
        match e {
            CarePlanError::Core(c) => c.into(),
            CarePlanError::Invalid(issues) => {
                let field = issues
                    .first()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "files".into());
                ClientError::InvalidInput {
                    field: "files".into(),
                    problem: format!("{} issue(s); first: {field}", issues.len()),
                }
            }
        }
    }
}

/// `InvalidInput` for an argument that does not parse.
pub fn invalid(field: &str, problem: &str) -> ClientError {
    ClientError::InvalidInput {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Parses an id argument.
pub fn parse_id<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, ClientError> {
    s.trim()
        .parse()
        .map_err(|_| invalid(field, "is not a valid id"))
}

/// Parses a hex content hash argument.
pub fn parse_hash(field: &str, s: &str) -> Result<ContentHash, ClientError> {
    s.trim()
        .parse()
        .map_err(|_| invalid(field, "is not a SHA-256 hash in hex"))
}

/// `Storage` with what failed (never patient data).
pub fn storage(detail: impl std::fmt::Display) -> ClientError {
    ClientError::Storage {
        detail: detail.to_string(),
    }
}
