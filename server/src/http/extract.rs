//! What handlers take from a request before any rule runs: the TLS peer ([`PeerInfo`]), JSON
//! bodies whose rejections are problem+json without echoing the input, and ids in paths.

use super::peer::PeerCert;
use super::problem::{Problem, ProblemKind};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use std::net::SocketAddr;

use kizuna_contract::MAX_JSON_BODY as MAX_BODY;

/// What the TLS layer knows about the connection a request came on. Inserted into every
/// request's extensions by `http::serve`.
#[derive(Clone, Copy, Debug)]
pub struct PeerInfo {
    /// The TCP peer address (for rate limits).
    pub addr: SocketAddr,
    /// The client certificate, if one was presented (rustls has verified it chains to the CA).
    pub cert: Option<PeerCert>,
}

/// JSON body extractor whose rejections are problem+json without echoing the input.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_problem(&rej)),
        }
    }
}

fn json_problem(rej: &JsonRejection) -> Problem {
    let status = rej.status();
    match rej {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            ProblemKind::UnsupportedMediaType,
            Some("send the body as application/json".into()),
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            ProblemKind::TooLarge,
            Some(format!("the body is larger than {MAX_BODY} bytes")),
        ),
        JsonRejection::JsonDataError(_) => Problem::new(
            ProblemKind::Invalid,
            Some("the JSON body is missing fields or has values of the wrong type".into()),
        ),
        _ => Problem::new(
            ProblemKind::Invalid,
            Some("the body is not valid JSON".into()),
        ),
    }
}

/// An optional JSON body: empty means the defaults.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| {
        Problem::new(
            ProblemKind::Invalid,
            Some("the body is not valid JSON for this endpoint".into()),
        )
    })
}

/// Parses an id from a path segment; the problem names `what`, never the input.
pub fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Problem> {
    s.parse().map_err(|_| {
        Problem::new(
            ProblemKind::Invalid,
            Some(format!("{what} is not a valid id")),
        )
    })
}
