//! Why a rule refused: [`RelayError`], the one error every capability's rules return. The
//! HTTP layer turns each into problem+json (`http::problem`); `Internal` details are logged
//! and never sent.

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
    /// Storage or another internal failure.
    #[error("internal error: {0}")]
    Internal(String),
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
