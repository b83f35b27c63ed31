//! The routes a device uses about itself: enrolling with a one-time code, who it is and which
//! rooms it may sync (`/v1/me`), renewing its certificate (`/v1/renew`), and opening a direct
//! conversation.

use super::authed::Authed;
use crate::error::RelayError;
use crate::http::extract::{ApiJson, PeerInfo};
use crate::http::problem::Problem;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use kizuna_contract::enrollment::{EnrollRequest, EnrollResponse, RenewRequest, RenewResponse};
use kizuna_contract::me::{DirectRequest, MeResponse, MeRoom};
use kizuna_core::ProfessionalId;

/// The device-facing identity routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/enroll", post(enroll))
        .route("/v1/renew", post(renew))
        .route("/v1/me", get(me))
        .route("/v1/direct", post(direct))
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

async fn renew(
    State(relay): State<AppState>,
    auth: Authed,
    peer: Option<axum::Extension<PeerInfo>>,
    ApiJson(req): ApiJson<RenewRequest>,
) -> Result<Json<RenewResponse>, Problem> {
    let cert = peer
        .and_then(|p| p.0.cert)
        .ok_or(RelayError::Unauthenticated)?;
    Ok(Json(relay.renew_device_cert(
        &auth.professional,
        &auth.device,
        &cert,
        &req.csr_pem,
    )?))
}

async fn me(State(relay): State<AppState>, auth: Authed) -> Result<Json<MeResponse>, Problem> {
    Ok(Json(relay.me(&auth.professional, &auth.device)?))
}

async fn direct(
    State(relay): State<AppState>,
    auth: Authed,
    ApiJson(req): ApiJson<DirectRequest>,
) -> Result<Json<MeRoom>, Problem> {
    Ok(Json(relay.direct_room(
        &auth.professional,
        ProfessionalId(req.with),
    )?))
}
