//! What wraps every route: the cross-site guard, the request log without patient data, turning
//! any other error into problem+json, and the fallbacks for unknown paths and methods.

use super::extract::PeerInfo;
use super::problem::{Problem, ProblemKind};
use crate::state::{AppState, Relay};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

/// Whether `origin` is this relay's own origin: its public URL, or `https://` and the
/// `Host` the request was sent to (a browser only sends that `Host` to a server whose TLS
/// certificate is valid for it, i.e. this relay).
fn own_origin(relay: &Relay, req: &Request, origin: &[u8]) -> bool {
    let public = relay.public_url().trim_end_matches('/').as_bytes();
    if origin == public {
        return true;
    }
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the `:authority` of the URI.
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| req.uri().authority().map(|a| a.as_str().as_bytes()));
    host.is_some_and(|h| origin.strip_prefix(b"https://") == Some(h))
}

/// Whether a request changes something through a JSON route, so it must say
/// `Content-Type: application/json`: every POST/PUT/DELETE/PATCH of the admin API and the
/// other JSON posts a certificate makes (`/v1/direct`, `/v1/enroll`, `/v1/renew`). Sync and blob uploads
/// have their own binary types, the consent form its scan's type.
fn needs_json(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    changes
        && (path.starts_with("/v1/admin/")
            || path == "/v1/direct"
            || path == "/v1/enroll"
            || path == "/v1/renew")
        && !path.ends_with("/consent-form")
}

/// Refuses what a web page in an administrator's browser could make it send with the admin
/// certificate the operations guide has them import: any `/v1/` request with an `Origin`
/// other than the relay's own (`403`), and any state-changing JSON route whose body is not
/// declared `application/json` (`415`, even when the body is empty: a cross-site form can
/// only send `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`
/// without a CORS preflight, which the relay never grants). Runs before any handler.
pub async fn cross_site_guard(State(relay): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(axum::http::header::ORIGIN)
        && !own_origin(&relay, &req, origin.as_bytes())
    {
        tracing::warn!("API request from another origin refused");
        return Problem::new(
            ProblemKind::CrossOrigin,
            Some("the relay's API does not answer requests made by other web sites".into()),
        )
        .into_response();
    }
    if needs_json(req.method(), req.uri().path()) {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Problem::new(
                ProblemKind::UnsupportedMediaType,
                Some("send Content-Type: application/json (an empty body is allowed)".into()),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Gives every request an id, a span, and one log line without patient data.
pub async fn request_log(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".to_string());
    let device = req
        .extensions()
        .get::<PeerInfo>()
        .and_then(|p| p.cert)
        .map(|c| c.identity.device.to_string());
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route, device = device.as_deref().unwrap_or("-"));
    let start = std::time::Instant::now();
    // Health probes come every few seconds from a monitor: not worth an INFO line each.
    let probe = route == "/healthz" || route == "/readyz";
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        let status = resp.status().as_u16();
        let ms = start.elapsed().as_millis() as u64;
        if probe {
            tracing::debug!(status, ms, "request done");
        } else {
            tracing::info!(status, ms, "request done");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Turns any error response that is not already problem+json (axum's own rejections, such
/// as a body over the limit read as bytes or a path that is not UTF-8) into one, dropping
/// its text so no internal detail or echoed input leaves the relay.
pub async fn ensure_problem(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if is_problem {
        return resp;
    }
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
        s if s.is_server_error() => ProblemKind::Internal,
        _ => ProblemKind::Invalid,
    };
    let mut problem = Problem::new(kind, None).with_status(status).into_response();
    if let Some(allow) = resp.headers().get(axum::http::header::ALLOW) {
        problem
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    problem
}

/// The answer for a path no route serves.
pub async fn not_found() -> Problem {
    Problem::new(ProblemKind::NotFound, Some("no such endpoint".into()))
}

/// The answer for a method a route does not serve.
pub async fn method_not_allowed() -> Problem {
    Problem::new(ProblemKind::MethodNotAllowed, None)
}
