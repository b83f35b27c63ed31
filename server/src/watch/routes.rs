//! `GET /readyz` on the relay's own port (open, like `/healthz`), and the router of
//! `GET /metrics`, served only on the plain-HTTP loopback listener `--metrics-listen` names
//! (never on the devices' port: a scraper needs no certificate and gets no power).

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The readiness route, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new().route("/readyz", get(readyz))
}

/// The router of the metrics listener: `/metrics`, and `/readyz` and `/healthz` again so a
/// local monitor needs one address.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

async fn readyz(State(relay): State<AppState>) -> Response {
    // Flushing the stores blocks: off the async workers.
    let answer = tokio::task::spawn_blocking(move || relay.readiness()).await;
    match answer {
        Ok(r) if r.is_ready() => (StatusCode::OK, axum::Json(r)).into_response(),
        Ok(r) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(r)).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(kizuna_contract::Readiness::from_reasons(vec![
                "the readiness check failed".into(),
            ])),
        )
            .into_response(),
    }
}

async fn metrics(State(relay): State<AppState>) -> Response {
    let text = tokio::task::spawn_blocking(move || relay.metrics_text())
        .await
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
