//! Why a rule refused: [`RelayError`], the one error every capability's rules return. The
//! HTTP layer turns each into problem+json (`http::problem`); `Internal` details are logged
//! and never sent.

use crate::audit::AuditError;
use crate::identity::directory::DirError;
use crate::identity::pki::CsrError;

/// `Internal` details are logged and never sent.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The request is well-formed but a value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The connection carried no (usable) client certificate.
    #[error("a client certificate is required")]
    Unauthenticated,
    /// The client certificate was issued by a CA the relay retired after a rotation: the
    /// device must enroll again.
    #[error("this device's certificate was issued by a retired certificate authority")]
    CertificateRetired,
    /// The device was revoked; `wipe` tells it to erase its local data.
    #[error("this device has been revoked")]
    Revoked {
        /// Whether the device must erase its local data.
        wipe: bool,
    },
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The enrollment code is unknown, already used or expired (deliberately not saying which).
    #[error("the enrollment code is unknown, already used or expired")]
    BadCode,
    /// Too many enrollment attempts from this source.
    #[error("too many enrollment attempts; wait and try again")]
    RateLimited,
    /// The relay is at its ceiling of work in flight; the device sends again shortly.
    #[error("the relay is busy; try again shortly")]
    Busy,
    /// The CSR was refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// The relay's disk is full (or below the free space it keeps in reserve): the act was
    /// not done. Its own kind so the caller (and the operator) learns the cause.
    #[error("the relay's disk is full")]
    StorageFull,
    /// Writing to the relay's disk failed for another reason (the detail is logged, never
    /// sent): the act was not done.
    #[error("writing to the relay's disk failed: {0}")]
    Storage(String),
    /// Storage or another internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RelayError {
    /// A short name of the kind of failure, without any detail (so without patient data):
    /// what the audit log's `admin.failed` records say about an act that did not happen.
    pub fn kind_name(&self) -> &'static str {
        match self {
            RelayError::Invalid(_) => "invalid",
            RelayError::NotFound(_) => "not-found",
            RelayError::Conflict(_) => "conflict",
            RelayError::Unauthenticated => "unauthenticated",
            RelayError::CertificateRetired => "certificate-retired",
            RelayError::Revoked { .. } => "revoked",
            RelayError::Forbidden(_) => "forbidden",
            RelayError::BadCode => "bad-code",
            RelayError::RateLimited => "rate-limited",
            RelayError::Busy => "busy",
            RelayError::Csr(_) => "invalid-csr",
            RelayError::StorageFull => "storage-full",
            RelayError::Storage(_) => "storage-failed",
            RelayError::Internal(_) => "internal",
        }
    }
}

/// Whether an I/O error means "no space left": `ENOSPC`, or `EDQUOT` (the relay's user is
/// over its quota), which the operator fixes the same way.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

impl From<AuditError> for RelayError {
    /// A record that could not be written: a full disk says so, anything else is a storage
    /// failure (the act waiting for the record is then not done).
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Io(io) if is_disk_full(&io) => RelayError::StorageFull,
            other => RelayError::Storage(format!("audit log: {other}")),
        }
    }
}

impl From<DirError> for RelayError {
    fn from(e: DirError) -> Self {
        RelayError::Internal(e.to_string())
    }
}

impl From<kizuna_core::ValidationError> for RelayError {
    fn from(e: kizuna_core::ValidationError) -> Self {
        RelayError::Invalid(e.to_string())
    }
}
