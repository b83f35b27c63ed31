//! The one error type of the bindings: the variants an app acts on, with messages that name
//! fields, rules and ids only — never patient data (errors reach logs and crash reports). It
//! mirrors `kizuna_client::ClientError` variant for variant.

use kizuna_client::ClientError;
use kizuna_core::ContentHash;

/// What went wrong, in terms an app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KizunaError {
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

impl From<uniffi::UnexpectedUniFFICallbackError> for KizunaError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KizunaError::KeyUnavailable {
            detail: format!("the app's callback failed: {}", e.reason),
        }
    }
}

impl From<ClientError> for KizunaError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Offline => KizunaError::Offline,
            ClientError::Revoked { wipe } => KizunaError::Revoked { wipe },
            ClientError::NotEnrolled => KizunaError::NotEnrolled,
            ClientError::EnrollmentRefused { reason } => KizunaError::EnrollmentRefused { reason },
            ClientError::InvalidInput { field, problem } => {
                KizunaError::InvalidInput { field, problem }
            }
            ClientError::NotFound { what } => KizunaError::NotFound { what },
            ClientError::Forbidden { reason } => KizunaError::Forbidden { reason },
            ClientError::Rejected { status, detail } => KizunaError::Rejected { status, detail },
            ClientError::KeyUnavailable { detail } => KizunaError::KeyUnavailable { detail },
            ClientError::Storage { detail } => KizunaError::Storage { detail },
        }
    }
}

/// `InvalidInput` for an argument that does not parse.
pub(crate) fn invalid(field: &str, problem: &str) -> KizunaError {
    kizuna_client::error::invalid(field, problem).into()
}

/// Parses an id argument.
pub(crate) fn parse_id<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, KizunaError> {
    Ok(kizuna_client::error::parse_id(field, s)?)
}

/// Parses a hex hash argument.
pub(crate) fn parse_hash(field: &str, s: &str) -> Result<ContentHash, KizunaError> {
    Ok(kizuna_client::error::parse_hash(field, s)?)
}
