//! The relay's router: every capability's routes composed with the HTTP plumbing around them
//! (body limits, the cross-site guard, problem+json errors, the request log). Serving (TLS,
//! the accept loop) is separate: see [`crate::http::serve`].

use crate::http::middleware::{
    cross_site_guard, ensure_problem, method_not_allowed, not_found, request_log,
};
use crate::identity::Authed;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kizuna_contract::{Health, MAX_JSON_BODY};

/// Builds the relay's router. Serving (TLS, the accept loop) is separate: see `http::serve`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi_doc))
        .merge(crate::identity::routes::routes())
        .merge(crate::admin::routes::routes())
        .merge(crate::sync::routes::routes())
        .merge(crate::blobs::routes::routes())
        .merge(crate::recovery::routes::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cross_site_guard,
        ))
        .layer(axum::middleware::from_fn(ensure_problem))
        // Devices still on a CA being retired are told to renew (identity::authorities).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::identity::rotation::advise_renewal,
        ))
        // `/readyz` answers 503 with its own JSON reasons, not a problem.
        .merge(crate::watch::routes::routes())
        // The browser console: its own body limits and HTML errors, the same request log.
        .merge(crate::admin::console::router(state.clone()))
        .layer(axum::middleware::from_fn(request_log))
        .with_state(state)
}

async fn healthz() -> Json<Health> {
    Json(Health::ok())
}

/// `GET /v1/openapi.json`: the API description generated from `kizuna_contract`, for any
/// enrolled device (as the contract's route table says: nothing needs it before enrollment,
/// and the same document is public as `docs/openapi.json`).
async fn openapi_doc(_: Authed) -> axum::response::Response {
    static DOC: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(kizuna_contract::openapi_json);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOC.as_str(),
    )
        .into_response()
}
