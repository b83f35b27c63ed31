//! The sync routes: `POST /v1/sync` (decode, run the merge off the async workers a few at a
//! time, encode) and the live channel's long poll `GET /v1/events`.

use crate::error::RelayError;
use crate::http::problem::{Problem, ProblemKind};
use crate::identity::Authed;
use crate::state::AppState;
use crate::watch::metrics::SyncOutcome;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_contract::events::{
    Changed, DEFAULT_EVENTS_WAIT_SECS, EventsQuery, MAX_EVENTS_WAIT_SECS,
};
use kizuna_core::sync::protocol::{MAX_MESSAGE_BYTES, ProtocolError, SyncRequest};

/// The sync routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sync",
            post(sync).layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES)),
        )
        .route("/v1/events", get(events))
}

/// The media type of sync requests and answers (postcard, `docs/protocol.md`).
pub use kizuna_contract::SYNC_MEDIA_TYPE;

fn protocol_problem(e: &ProtocolError) -> Problem {
    match e {
        ProtocolError::TooLarge => Problem::new(ProblemKind::TooLarge, Some(e.to_string())),
        ProtocolError::Version(_) => {
            Problem::new(ProblemKind::ProtocolVersion, Some(e.to_string()))
        }
        _ => Problem::new(ProblemKind::Invalid, Some(e.to_string())),
    }
}

async fn sync(
    State(relay): State<AppState>,
    auth: Authed,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let start = std::time::Instant::now();
    let answer = sync_answer(relay.clone(), auth, headers, body).await;
    let outcome = match &answer {
        Ok(_) => SyncOutcome::Ok,
        Err(p) if p.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE => SyncOutcome::Busy,
        Err(p) if p.status() == axum::http::StatusCode::INSUFFICIENT_STORAGE => {
            SyncOutcome::StorageFull
        }
        Err(_) => SyncOutcome::Error,
    };
    relay.metrics().sync_done(outcome, start.elapsed());
    answer
}

async fn sync_answer(
    relay: AppState,
    auth: Authed,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    if media != Some(SYNC_MEDIA_TYPE.as_bytes()) {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
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

/// Longest long poll, well under the idle-connection timeout (the contract's limit).
pub const MAX_EVENTS_WAIT: std::time::Duration =
    std::time::Duration::from_secs(MAX_EVENTS_WAIT_SECS);

async fn events(
    State(relay): State<AppState>,
    auth: Authed,
    axum::extract::Query(q): axum::extract::Query<EventsQuery>,
) -> Result<Json<Changed>, Problem> {
    if q.cursor == 0 {
        return Ok(Json(Changed {
            cursor: relay.events().cursor(),
            docs: Vec::new(),
            resync: false,
        }));
    }
    let wait = std::time::Duration::from_secs(q.timeout.unwrap_or(DEFAULT_EVENTS_WAIT_SECS))
        .min(MAX_EVENTS_WAIT);
    let me = auth.professional.id;
    let r = relay.clone();
    let visible = move || r.visible_docs(me).unwrap_or_default();
    Ok(Json(relay.events().wait(q.cursor, me, wait, visible).await))
}
