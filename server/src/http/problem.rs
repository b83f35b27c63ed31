//! Errors as `application/problem+json` without internal detail: [`Problem`], how a
//! [`RelayError`] becomes one, and the `500` answered when a handler panicked. Every
//! capability's routes answer errors this way, so a device sees one error format.

use crate::error::RelayError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
pub use kizuna_contract::ProblemKind;
use kizuna_contract::problem::PROBLEM_MEDIA_TYPE;

/// An error response: the contract's `application/problem+json` body with its HTTP status,
/// so every kind, title and status the relay sends comes from [`ProblemKind`].
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    body: kizuna_contract::Problem,
}

impl Problem {
    /// A problem of `kind`, with the status and title the contract gives that kind.
    pub fn new(kind: ProblemKind, detail: Option<String>) -> Problem {
        Problem::from_body(kizuna_contract::Problem::new(kind, detail))
    }

    /// The same problem answered with another status (the catch-all keeps the status the
    /// response already had).
    pub fn with_status(self, status: StatusCode) -> Problem {
        Problem::from_body(self.body.with_status(status.as_u16()))
    }

    /// The HTTP status it is answered with (counted by `/metrics`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn from_body(body: kizuna_contract::Problem) -> Problem {
        let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Problem { status, body }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_MEDIA_TYPE),
        );
        resp
    }
}

impl From<RelayError> for Problem {
    fn from(e: RelayError) -> Problem {
        match e {
            RelayError::Invalid(d) => Problem::new(ProblemKind::Invalid, Some(d)),
            RelayError::NotFound(what) => {
                Problem::new(ProblemKind::NotFound, Some(format!("{what} not found")))
            }
            RelayError::Conflict(d) => Problem::new(ProblemKind::Conflict, Some(d)),
            RelayError::Unauthenticated => Problem::new(
                ProblemKind::ClientCertificateRequired,
                Some("connect with the device certificate issued at enrollment".into()),
            ),
            RelayError::CertificateRetired => Problem::new(
                ProblemKind::CertificateRetired,
                Some(
                    "this device's certificate was issued by a certificate authority the relay \
                     has retired: enroll the device again with a new code from the administrator"
                        .into(),
                ),
            ),
            RelayError::Revoked { wipe } => {
                Problem::from_body(kizuna_contract::Problem::revoked(wipe))
            }
            RelayError::Forbidden(d) => Problem::new(ProblemKind::Forbidden, Some(d.to_string())),
            RelayError::BadCode => Problem::new(
                ProblemKind::EnrollmentCodeInvalid,
                Some(
                    "the code is unknown, already used or expired; ask the city for a new one"
                        .into(),
                ),
            ),
            RelayError::RateLimited => Problem::new(
                ProblemKind::RateLimited,
                Some("too many enrollment attempts from this address; wait and try again".into()),
            ),
            RelayError::Busy => Problem::new(
                ProblemKind::Busy,
                Some("the relay is at its limit of work in flight; send again shortly".into()),
            ),
            RelayError::Csr(e) if e.is_internal() => {
                tracing::error!("certificate issuance failed");
                internal()
            }
            RelayError::Csr(e) => Problem::new(ProblemKind::InvalidCsr, Some(e.to_string())),
            RelayError::StorageFull => {
                tracing::error!(
                    "refused: the relay's disk is full (or below its free-space reserve)"
                );
                Problem::new(
                    ProblemKind::StorageFull,
                    Some(
                        "the relay's disk is full: nothing was done; the operator must free space \
                         on the relay's data directory, then send again"
                            .into(),
                    ),
                )
            }
            RelayError::Storage(d) => {
                tracing::error!(error = %d, "refused: writing to the relay's disk failed");
                Problem::new(
                    ProblemKind::StorageFailed,
                    Some(
                        "the relay could not write to its disk: nothing was done; the relay's \
                         log names the cause"
                            .into(),
                    ),
                )
            }
            RelayError::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                internal()
            }
        }
    }
}

/// The `500` problem answered when a handler panicked (see `http::serve`).
pub fn internal_error_response() -> Response {
    internal().into_response()
}

fn internal() -> Problem {
    Problem::new(ProblemKind::Internal, None)
}
