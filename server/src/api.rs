//! The relay's HTTP API: `router(state)` builds the axum router; `net::serve` runs it over
//! TLS. Every error is `application/problem+json` without internal detail; every request gets
//! an id (`x-request-id`) and a log line with method, route template, status and latency,
//! never the body or the raw URI, so patient names cannot reach the log.

use crate::pki::PeerCert;
use crate::relay::{Relay, RelayError};
use crate::wire::{
    DirectRequest, DirectoryView, EnrollCodeRequest, EnrollCodeResponse, EnrollRequest,
    EnrollResponse, InviteRequest, MeResponse, MeRoom, NewProfessional, NewRoom, ProblemBody,
    RevokeRequest, RoomView,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Path, Request, State,
};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use kizuna_core::sync::protocol::{MAX_MESSAGE_BYTES, ProtocolError, SyncRequest};
use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::Instrument;

/// Largest request body accepted by any endpoint (JSON only here; blobs come later with
/// their own limit).
pub const MAX_BODY: usize = 64 * 1024;

/// The shared state of every handler.
pub type AppState = Arc<Relay>;

/// What the TLS layer knows about the connection a request came on. Inserted into every
/// request's extensions by `net::serve`.
#[derive(Clone, Copy, Debug)]
pub struct PeerInfo {
    /// The TCP peer address (for rate limits).
    pub addr: SocketAddr,
    /// The client certificate, if one was presented (rustls has verified it chains to the CA).
    pub cert: Option<PeerCert>,
}

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
            RelayError::Csr(crate::pki::CsrError::Internal) => {
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

/// The `500` problem answered when a handler panicked (see `net::serve`).
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
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            Some("send the body as application/json".into()),
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "too-large",
            "Request too large",
            Some(format!("the body is larger than {MAX_BODY} bytes")),
        ),
        JsonRejection::JsonDataError(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some("the JSON body is missing fields or has values of the wrong type".into()),
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some("the body is not valid JSON".into()),
        ),
    }
}

/// A request from an enrolled, non-revoked device: checked against the directory on every
/// request (not once per connection), so a revocation applies to open connections too.
#[derive(Debug)]
pub struct Authed {
    /// The professional.
    pub professional: crate::directory::Professional,
    /// The device.
    pub device: crate::directory::Device,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let cert = parts.extensions.get::<PeerInfo>().and_then(|p| p.cert);
        let (professional, device) = state.authenticate(cert)?;
        Ok(Authed {
            professional,
            device,
        })
    }
}

/// A request from an administrator's device.
#[derive(Debug)]
pub struct Admin(pub Authed);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let a = Authed::from_request_parts(parts, state).await?;
        if !a.professional.is_admin() {
            return Err(RelayError::Forbidden("this needs an administrator's device").into());
        }
        Ok(Admin(a))
    }
}

/// An optional JSON body: empty means the defaults.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some("the body is not valid JSON for this endpoint".into()),
        )
    })
}

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Problem> {
    s.parse().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some(format!("{what} is not a valid id")),
        )
    })
}

/// Builds the relay's router. Serving (TLS, the accept loop) is separate: see `net::serve`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/enroll", post(enroll))
        .route("/v1/me", get(me))
        .route("/v1/direct", post(direct))
        .route(
            "/v1/admin/professionals",
            get(list_professionals).post(add_professional),
        )
        .route("/v1/admin/professionals/{id}", delete(remove_professional))
        .route(
            "/v1/admin/professionals/{id}/enroll-codes",
            post(enroll_code),
        )
        .route("/v1/admin/rooms", get(list_rooms).post(create_room))
        .route("/v1/admin/rooms/{id}", get(show_room))
        .route(
            "/v1/admin/rooms/{room}/members/{professional}",
            put(invite).delete(remove_member),
        )
        .route("/v1/admin/devices", get(list_devices))
        .route("/v1/admin/devices/{id}/revoke", post(revoke_device))
        .route("/v1/admin/audit", get(audit_export))
        .route("/v1/admin/audit/verify", get(audit_verify))
        .route(
            "/v1/sync",
            post(sync).layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES)),
        )
        .route("/v1/events", get(events))
        .route("/v1/blobs/{hash}/upload", get(blob_upload_status))
        .route(
            "/v1/blobs/{hash}",
            get(blob_download)
                .put(blob_upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .merge(crate::admin_api::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cross_site_guard,
        ))
        .layer(axum::middleware::from_fn(ensure_problem))
        // The browser console: its own body limits and HTML errors, the same request log.
        .merge(crate::console::router(state.clone()))
        .layer(axum::middleware::from_fn(request_log))
        .with_state(state)
}

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
/// other JSON posts a certificate makes (`/v1/direct`, `/v1/enroll`). Sync and blob uploads
/// have their own binary types, the consent form its scan's type.
fn needs_json(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    changes
        && (path.starts_with("/v1/admin/") || path == "/v1/direct" || path == "/v1/enroll")
        && !path.ends_with("/consent-form")
}

/// Refuses what a web page in an administrator's browser could make it send with the admin
/// certificate the operations guide has them import: any `/v1/` request with an `Origin`
/// other than the relay's own (`403`), and any state-changing JSON route whose body is not
/// declared `application/json` (`415`, even when the body is empty: a cross-site form can
/// only send `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`
/// without a CORS preflight, which the relay never grants). Runs before any handler.
async fn cross_site_guard(State(relay): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(axum::http::header::ORIGIN)
        && !own_origin(&relay, &req, origin.as_bytes())
    {
        tracing::warn!("API request from another origin refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "cross-origin",
            "Cross-origin request refused",
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
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                Some("send Content-Type: application/json (an empty body is allowed)".into()),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Gives every request an id, a span, and one log line without patient data.
async fn request_log(req: Request, next: Next) -> Response {
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
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            ms = start.elapsed().as_millis() as u64,
            "request done"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Turns any error response that is not already problem+json (axum's own rejections, such
/// as a body over the limit read as bytes or a path that is not UTF-8) into one, dropping
/// its text so no internal detail or echoed input leaves the relay.
async fn ensure_problem(req: Request, next: Next) -> Response {
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
    let (kind, title) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "Request too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        s if s.is_server_error() => ("internal", "Internal error"),
        _ => ("invalid", "Invalid request"),
    };
    let mut problem = Problem::new(status, kind, title, None).into_response();
    if let Some(allow) = resp.headers().get(axum::http::header::ALLOW) {
        problem
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    problem
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        Some("no such endpoint".into()),
    )
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        None,
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn enroll(
    State(relay): State<AppState>,
    peer: Option<axum::Extension<PeerInfo>>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollResponse>, Problem> {
    let ip = peer
        .map(|p| p.0.addr.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let resp = relay.enroll(ip, &req.code, &req.csr_pem, req.label.as_deref())?;
    Ok(Json(resp))
}

async fn me(State(relay): State<AppState>, auth: Authed) -> Result<Json<MeResponse>, Problem> {
    Ok(Json(relay.me(&auth.professional, &auth.device)?))
}

async fn direct(
    State(relay): State<AppState>,
    auth: Authed,
    ApiJson(req): ApiJson<DirectRequest>,
) -> Result<Json<MeRoom>, Problem> {
    Ok(Json(relay.direct_room(&auth.professional, req.with)?))
}

async fn list_professionals(
    State(relay): State<AppState>,
    _: Admin,
) -> Result<Json<DirectoryView>, Problem> {
    Ok(Json(relay.directory_view()?))
}

async fn add_professional(
    State(relay): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<NewProfessional>,
) -> Result<(StatusCode, Json<crate::directory::Professional>), Problem> {
    let p = crate::admin::add_professional(&relay, &(&admin).into(), req)?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn remove_professional(
    State(relay): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id: ProfessionalId = parse_id(&id, "professional id")?;
    crate::admin::remove_professional(&relay, &(&admin).into(), id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enroll_code(
    State(relay): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<EnrollCodeResponse>), Problem> {
    let id: ProfessionalId = parse_id(&id, "professional id")?;
    let hours = optional_json::<EnrollCodeRequest>(&body)?.valid_hours;
    let code = crate::admin::enroll_code(&relay, &(&admin).into(), id, hours)?;
    Ok((StatusCode::CREATED, Json(code)))
}

async fn list_rooms(
    State(relay): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<RoomView>>, Problem> {
    Ok(Json(relay.rooms()?))
}

async fn create_room(
    State(relay): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<NewRoom>,
) -> Result<(StatusCode, Json<RoomView>), Problem> {
    let room = crate::admin::create_room(&relay, &(&admin).into(), req)?;
    Ok((StatusCode::CREATED, Json(room)))
}

async fn show_room(
    State(relay): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<RoomView>, Problem> {
    let id: RoomId = parse_id(&id, "room id")?;
    Ok(Json(relay.room_view(id)?))
}

async fn invite(
    State(relay): State<AppState>,
    admin: Admin,
    Path((room, professional)): Path<(String, String)>,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<Json<RoomView>, Problem> {
    let room: RoomId = parse_id(&room, "room id")?;
    let professional: ProfessionalId = parse_id(&professional, "professional id")?;
    let view = crate::admin::invite(&relay, &(&admin).into(), room, professional, req.role)?;
    Ok(Json(view))
}

async fn remove_member(
    State(relay): State<AppState>,
    admin: Admin,
    Path((room, professional)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let room: RoomId = parse_id(&room, "room id")?;
    let professional: ProfessionalId = parse_id(&professional, "professional id")?;
    crate::admin::remove_member(&relay, &(&admin).into(), room, professional)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_devices(
    State(relay): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<crate::directory::Device>>, Problem> {
    Ok(Json(relay.devices()?))
}

async fn revoke_device(
    State(relay): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, Problem> {
    let id: DeviceId = parse_id(&id, "device id")?;
    let wipe = optional_json::<RevokeRequest>(&body)?.wipe;
    crate::admin::revoke_device(&relay, &(&admin).into(), id, wipe)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records an administrator's act in the audit log (ids only): `admin::audit`, the one
/// audit path of every administrative act (API and console).
pub fn admin_audit(
    relay: &Relay,
    admin: &Admin,
    action: &'static str,
    room: Option<RoomId>,
    subject: impl std::fmt::Display,
) -> Result<(), Problem> {
    crate::admin::audit(relay, &admin.into(), action, room, subject).map_err(Problem::from)
}

/// The media type of sync requests and answers (postcard, `docs/protocol.md`).
pub const SYNC_MEDIA_TYPE: &str = "application/x-kizuna-sync";

fn protocol_problem(e: &ProtocolError) -> Problem {
    match e {
        ProtocolError::TooLarge => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request too large",
            Some(e.to_string()),
        ),
        ProtocolError::Version(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "protocol-version",
            "Unsupported protocol version",
            Some(e.to_string()),
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some(e.to_string()),
        ),
    }
}

async fn sync(
    State(relay): State<AppState>,
    auth: Authed,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if media != Some(SYNC_MEDIA_TYPE.as_bytes()) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            Some(format!("send the body as {SYNC_MEDIA_TYPE}")),
        ));
    }
    let req = SyncRequest::decode(&body).map_err(|e| protocol_problem(&e))?;
    drop(body);
    // Merging and checking Automerge changes is CPU work and sled writes block: keep them off
    // the async workers, a few at a time. A panic in here fails this request only.
    let slot = relay
        .sync_slots()
        .acquire()
        .await
        .map_err(|_| RelayError::Internal("the relay is stopping".into()))?;
    let worker = relay.clone();
    let answer =
        tokio::task::spawn_blocking(move || worker.sync(&auth.professional, &auth.device, &req))
            .await
            .map_err(|_| RelayError::Internal("the sync task failed".into()))??;
    drop(slot);
    Ok((
        [(axum::http::header::CONTENT_TYPE, SYNC_MEDIA_TYPE)],
        answer.encode(),
    )
        .into_response())
}

/// Query of `GET /v1/events`.
#[derive(Debug, serde::Deserialize)]
struct EventsQuery {
    /// The cursor of the previous answer (absent or 0: start now).
    #[serde(default)]
    cursor: u64,
    /// Seconds to wait at most (capped at [`MAX_EVENTS_WAIT`]).
    #[serde(default)]
    timeout: Option<u64>,
}

/// Longest long poll, well under the idle-connection timeout.
pub const MAX_EVENTS_WAIT: std::time::Duration = std::time::Duration::from_secs(55);

async fn events(
    State(relay): State<AppState>,
    auth: Authed,
    axum::extract::Query(q): axum::extract::Query<EventsQuery>,
) -> Result<Json<crate::events::Changed>, Problem> {
    if q.cursor == 0 {
        return Ok(Json(crate::events::Changed {
            cursor: relay.events().cursor(),
            docs: Vec::new(),
            resync: false,
        }));
    }
    let wait = std::time::Duration::from_secs(q.timeout.unwrap_or(25)).min(MAX_EVENTS_WAIT);
    let me = auth.professional.id;
    let r = relay.clone();
    let visible = move || r.visible_docs(me).unwrap_or_default();
    Ok(Json(relay.events().wait(q.cursor, me, wait, visible).await))
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Default, serde::Deserialize)]
struct AuditQuery {
    room: Option<String>,
    professional: Option<String>,
    /// Milliseconds since the epoch, or RFC 3339.
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

fn parse_time(s: &str, what: &str) -> Result<Timestamp, Problem> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp(ms));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
        .map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid request",
                Some(format!(
                    "{what}: give milliseconds since 1970 or an RFC 3339 time"
                )),
            )
        })
}

async fn audit_export(
    State(relay): State<AppState>,
    _: Admin,
    axum::extract::Query(q): axum::extract::Query<AuditQuery>,
) -> Result<Response, Problem> {
    let filter = crate::audit::Filter {
        room: q.room.as_deref().map(|r| parse_id(r, "room")).transpose()?,
        professional: q
            .professional
            .as_deref()
            .map(|r| parse_id(r, "professional"))
            .transpose()?,
        since: q
            .since
            .as_deref()
            .map(|t| parse_time(t, "since"))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_time(t, "until"))
            .transpose()?,
    };
    let limit = q.limit.unwrap_or(100_000).min(1_000_000);
    let records = tokio::task::spawn_blocking(move || relay.audit().export(&filter, limit))
        .await
        .map_err(|_| RelayError::Internal("the audit task failed".into()))?
        .map_err(|e| RelayError::Internal(e.to_string()))?;
    let mut body = String::new();
    for r in records {
        body.push_str(&serde_json::to_string(&r).unwrap_or_default());
        body.push('\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

async fn audit_verify(
    State(relay): State<AppState>,
    _: Admin,
) -> Result<Json<crate::audit::Verdict>, Problem> {
    let verdict = tokio::task::spawn_blocking(move || relay.audit().verify())
        .await
        .map_err(|_| RelayError::Internal("the audit task failed".into()))?
        .map_err(|e| RelayError::Internal(e.to_string()))?;
    Ok(Json(verdict))
}

/// Query of the blob endpoints.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct BlobQuery {
    /// The document whose content references the blob.
    pub(crate) doc: String,
    /// Upload: the blob's full size.
    pub(crate) size: Option<u64>,
    /// Upload: the MIME type.
    #[serde(rename = "type")]
    pub(crate) media_type: Option<String>,
    /// Upload: where these bytes start.
    pub(crate) offset: Option<u64>,
}

pub(crate) fn parse_hash(s: &str) -> Result<kizuna_core::ContentHash, Problem> {
    s.parse().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some("the blob name is not a SHA-256 hex hash".into()),
        )
    })
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, Problem> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| RelayError::Internal("a storage task failed".into()))??)
}

/// `GET /v1/blobs/{hash}/upload?doc=&size=&type=`: how many bytes the relay holds (starting
/// the upload if new).
async fn blob_upload_status(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
) -> Result<Json<crate::blobs::UploadStatus>, Problem> {
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    let size = q.size.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "Invalid request",
            Some("size: required".into()),
        )
    })?;
    let media = q
        .media_type
        .unwrap_or_else(|| "application/octet-stream".into());
    // An upload cut a moment ago may still be storing its last bytes: answer once it is done,
    // so the device resumes from the true end.
    let r = relay.clone();
    drop(claim_blob(&r, crate::blobs::staged_name(&hash, auth.device.id, doc)).await?);
    let status = blocking(move || {
        relay.begin_upload(
            auth.professional.id,
            auth.device.id,
            doc,
            hash,
            size,
            &media,
        )
    })
    .await?;
    Ok(Json(status))
}

/// Waits (up to 10 s) until no other request is writing the unfinished upload `staged`
/// (one device's own, see `blobs::staged_name`), then holds it.
async fn claim_blob(
    relay: &Relay,
    hash: kizuna_core::ContentHash,
) -> Result<crate::blobs::BlobClaim<'_>, Problem> {
    for _ in 0..500 {
        if let Some(c) = relay.claim_blob(hash) {
            return Ok(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(RelayError::Conflict("another upload of this attachment is in progress".into()).into())
}

/// Bytes buffered before each durable append.
const APPEND_BYTES: usize = 4 * 1024 * 1024;

/// `PUT /v1/blobs/{hash}?doc=&offset=`: the bytes from `offset` on. Everything received is
/// kept even if the connection is cut; the last byte triggers the hash check.
async fn blob_upload(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
    body: axum::body::Body,
) -> Result<Json<crate::blobs::UploadStatus>, Problem> {
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    let offset = q.offset.unwrap_or(0);
    let device = auth.device.id;
    let pro = auth.professional.id;
    // The receiving runs in its own task: when a cut connection makes hyper drop this
    // handler, the bytes that already arrived are still appended.
    let task = tokio::spawn(receive_upload(relay, pro, device, doc, hash, offset, body));
    task.await
        .map_err(|_| RelayError::Internal("the upload task failed".into()))?
}

async fn receive_upload(
    relay: AppState,
    pro: ProfessionalId,
    device: DeviceId,
    doc: RoomId,
    hash: kizuna_core::ContentHash,
    offset: u64,
    body: axum::body::Body,
) -> Result<Json<crate::blobs::UploadStatus>, Problem> {
    use futures::StreamExt;
    let r = relay.clone();
    let claim = claim_blob(&r, crate::blobs::staged_name(&hash, device, doc)).await?;
    // Resume where this device's upload is, whatever the device believed; with none begun
    // (or already finished), say where things stand.
    match r.upload_offset(device, doc, &hash) {
        Ok(Some(stored)) if stored != offset => {
            return Err(RelayError::Conflict(format!(
                "the relay holds {stored} bytes; resume from there"
            ))
            .into());
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            drop(claim);
            let rr = relay.clone();
            let status = blocking(move || rr.finish_upload(pro, device, doc, &hash, None)).await?;
            return Ok(Json(status));
        }
        Err(e) => return Err(e.into()),
    }
    // Network and disk overlap: this task receives while a blocking writer appends the
    // previous piece (two pieces in flight at most). The writer also hashes when the whole
    // blob comes in this request, so finishing does not read it back.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let writer_relay = relay.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut running = (offset == 0).then(|| ring::digest::Context::new(&ring::digest::SHA256));
        let mut w = writer_relay.upload_writer(device, doc, &hash, offset)?;
        let mut failed = None;
        while let Some(piece) = rx.blocking_recv() {
            if let Some(ctx) = running.as_mut() {
                ctx.update(&piece);
            }
            if let Err(e) = w.write(&piece) {
                failed = Some(e);
                break;
            }
        }
        // Whatever arrived is kept (flushed once), even when the connection was cut.
        let at = w
            .commit()
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        if let Some(e) = failed {
            return Err(RelayError::Invalid(e.to_string()));
        }
        Ok::<_, RelayError>((at, running.map(kizuna_core::blobs::digest)))
    });
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(APPEND_BYTES);
    let mut cut = false;
    loop {
        let done = match stream.next().await {
            Some(Ok(bytes)) => {
                buf.extend_from_slice(&bytes);
                false
            }
            Some(Err(_)) => {
                cut = true;
                true
            }
            None => true,
        };
        if (buf.len() >= APPEND_BYTES || (done && !buf.is_empty()))
            && tx.send(std::mem::take(&mut buf)).await.is_err()
        {
            // The writer stopped on an error; it is reported below.
            break;
        }
        if done {
            break;
        }
    }
    drop(tx);
    let (offset, streamed) = writer
        .await
        .map_err(|_| RelayError::Internal("the upload writer failed".into()))??;
    drop(claim);
    if cut {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "upload-cut",
            "Upload cut",
            Some(format!("the relay holds {offset} bytes; resume from there")),
        ));
    }
    let rr = relay.clone();
    let status = blocking(move || rr.finish_upload(pro, device, doc, &hash, streamed)).await?;
    Ok(Json(status))
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`.
pub(crate) fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && end < size).then_some((start, end))
}

/// `GET /v1/blobs/{hash}?doc=`: the blob, or the `Range` asked for, streamed from the store.
async fn blob_download(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, Problem> {
    use axum::http::header;
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    let (pro, device) = (auth.professional.id, auth.device.id);
    let r = relay.clone();
    let meta = blocking(move || {
        if !r.may_read_blob(pro, device, doc, &hash)? {
            return Err(crate::blobs::denied());
        }
        r.audit()
            .record(crate::audit::Entry {
                professional: Some(pro),
                device: Some(device),
                action: "blob.read",
                room: Some(doc),
                subject: Some(hash.to_hex()),
                ..crate::audit::Entry::default()
            })
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        r.blobs()
            .store()
            .meta(&hash)
            .map_err(|e| RelayError::Internal(e.to_string()))?
            .ok_or_else(crate::blobs::denied)
    })
    .await?;
    let size = meta.stored;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|h| parse_range(h, size));
    let (start, end, status) = match range {
        None => (0, size.saturating_sub(1), StatusCode::OK),
        Some(Some((a, b))) => (a, b, StatusCode::PARTIAL_CONTENT),
        Some(None) => {
            let mut p = Problem::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range",
                "Range not satisfiable",
                Some(format!("the attachment has {size} bytes")),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                p.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(p);
        }
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let stream = futures::stream::unfold((start, len), move |(pos, left)| {
        let relay = relay.clone();
        async move {
            if left == 0 {
                return None;
            }
            let want = usize::try_from(left.min(4 * kizuna_core::blobs::CHUNK as u64)).unwrap_or(0);
            let read = tokio::task::spawn_blocking(move || {
                relay.blobs().store().read_at(&hash, pos, want)
            })
            .await;
            match read {
                Ok(Ok(bytes)) if !bytes.is_empty() => {
                    let n = bytes.len() as u64;
                    Some((
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes)),
                        (pos + n, left - n),
                    ))
                }
                _ => Some((
                    Err(std::io::Error::other("the attachment could not be read")),
                    (pos, 0),
                )),
            }
        }
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}
