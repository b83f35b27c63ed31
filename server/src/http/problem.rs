//! Errors as `application/problem+json` without internal detail: [`Problem`], how a
//! [`RelayError`] becomes one, and the `500` answered when a handler panicked. Every
//! capability's routes answer errors this way, so a device sees one error format.

use crate::error::RelayError;
use crate::wire::ProblemBody;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error response: `application/problem+json`.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    body: ProblemBody,
}

impl Problem {
    /// A problem of `kind` (last segment of the type URI) with a status and title.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: Option<String>) -> Problem {
        Problem {
            status,
            body: ProblemBody {
                kind: format!("urn:kizuna:problem:{kind}"),
                title: title.to_string(),
                status: status.as_u16(),
                detail,
                wipe: None,
            },
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

impl From<RelayError> for Problem {
    fn from(e: RelayError) -> Problem {
        use StatusCode as S;
        match e {
            RelayError::Invalid(d) => {
                Problem::new(S::BAD_REQUEST, "invalid", "Invalid request", Some(d))
            }
            RelayError::NotFound(what) => Problem::new(
                S::NOT_FOUND,
                "not-found",
                "Not found",
                Some(format!("{what} not found")),
            ),
            RelayError::Conflict(d) => Problem::new(S::CONFLICT, "conflict", "Conflict", Some(d)),
            RelayError::Unauthenticated => Problem::new(
                S::UNAUTHORIZED,
                "client-certificate-required",
                "Client certificate required",
                Some("connect with the device certificate issued at enrollment".into()),
            ),
            RelayError::Revoked { wipe } => {
                let mut p = Problem::new(
                    S::FORBIDDEN,
                    "device-revoked",
                    "Device revoked",
                    Some("this device's access has been revoked by the administrator".into()),
                );
                p.body.wipe = Some(wipe);
                p
            }
            RelayError::Forbidden(d) => {
                Problem::new(S::FORBIDDEN, "forbidden", "Forbidden", Some(d.to_string()))
            }
            RelayError::BadCode => Problem::new(
                S::FORBIDDEN,
                "enrollment-code-invalid",
                "Enrollment code not accepted",
                Some(
                    "the code is unknown, already used or expired; ask the city for a new one"
                        .into(),
                ),
            ),
            RelayError::RateLimited => Problem::new(
                S::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many attempts",
                Some("too many enrollment attempts from this address; wait and try again".into()),
            ),
            RelayError::Busy => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "busy",
                "Relay busy",
                Some("the relay is at its limit of work in flight; send again shortly".into()),
            ),
            RelayError::Csr(e) if e.is_internal() => {
                tracing::error!("certificate issuance failed");
                internal()
            }
            RelayError::Csr(e) => Problem::new(
                S::BAD_REQUEST,
                "invalid-csr",
                "Invalid certificate signing request",
                Some(e.to_string()),
            ),
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
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        None,
    )
}
