//! The JSON admin routes added with the console, for every act the console can do that the
//! first admin API lacked: edit a professional, archive a room, a room's activity, city
//! notices and alerts, care-plan imports, and the administrator's console credentials.
//! Each handler calls the same [`crate::admin`] function as the console page, and `kizuna
//! admin` calls these routes. Merged into `api::router`, so the same problem+json errors,
//! body limits and request log apply.

use crate::admin::{self, Actor};
use crate::admin_docs::{
    CarePlanImportView, CarePlanUploadRequest, CityRoom, NoticeView, RoomActivity,
};
use crate::api::{Admin, ApiJson, AppState, Problem};
use crate::console::auth::{self, ConsoleSetup, CredentialsRequest};
use crate::relay::RelayError;
use crate::wire::{NewProfessional, RoomView};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use kizuna_core::careplan::ImportSummary;
use kizuna_core::model::{Importance, NoticeContent};
use kizuna_core::{NoticeId, ProfessionalId, RoomId, Timestamp};
use serde::{Deserialize, Serialize};

/// Largest care-plan upload (base64 inside JSON).
pub const MAX_CARE_PLAN_BODY: usize = 6 * 1024 * 1024;

/// Largest scanned consent form.
pub const MAX_CONSENT_FORM: usize = 32 * 1024 * 1024;

/// `PUT /v1/admin/rooms/{id}/consent-form`: the scan as the body, its type as
/// `Content-Type` (PDF, JPEG or PNG).
async fn consent_form(
    State(relay): State<AppState>,
    admin: Admin,
    Path(room): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<RoomView>, Problem> {
    let room: RoomId = id(&room, "room")?;
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let actor: Actor = (&admin).into();
    let view = tokio::task::spawn_blocking(move || {
        admin::attach_consent_form(&relay, &actor, room, &media, &body)
    })
    .await
    .map_err(|_| RelayError::Internal("the upload task failed".into()))??;
    Ok(Json(view))
}

impl From<&Admin> for Actor {
    fn from(a: &Admin) -> Actor {
        Actor {
            professional: a.0.professional.clone(),
            device: Some(a.0.device.id),
        }
    }
}

/// The admin routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/professionals/{id}/profile",
            put(update_professional),
        )
        .route("/v1/admin/rooms/{id}/archived", put(set_archived))
        .route("/v1/admin/rooms/{id}/activity", get(activity))
        .route(
            "/v1/admin/rooms/{id}/care-plans",
            get(care_plans)
                .post(import_care_plan)
                .layer(DefaultBodyLimit::max(MAX_CARE_PLAN_BODY)),
        )
        .route(
            "/v1/admin/rooms/{id}/consent-form",
            put(consent_form).layer(DefaultBodyLimit::max(MAX_CONSENT_FORM)),
        )
        .route("/v1/admin/notices", get(list_notices).post(post_notice))
        .route("/v1/admin/console/credentials", put(console_credentials))
}

fn id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, Problem> {
    s.parse()
        .map_err(|_| RelayError::Invalid(format!("{what}: not a valid id")).into())
}

async fn update_professional(
    State(relay): State<AppState>,
    admin: Admin,
    Path(pid): Path<String>,
    ApiJson(req): ApiJson<NewProfessional>,
) -> Result<Json<crate::directory::Professional>, Problem> {
    let pid: ProfessionalId = id(&pid, "professional")?;
    Ok(Json(admin::update_professional(
        &relay,
        &(&admin).into(),
        pid,
        req,
    )?))
}

/// `PUT /v1/admin/rooms/{id}/archived`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// `true` to archive, `false` to restore.
    pub archived: bool,
}

async fn set_archived(
    State(relay): State<AppState>,
    admin: Admin,
    Path(room): Path<String>,
    ApiJson(req): ApiJson<ArchiveRequest>,
) -> Result<Json<RoomView>, Problem> {
    let room: RoomId = id(&room, "room")?;
    Ok(Json(admin::set_archived(
        &relay,
        &(&admin).into(),
        room,
        req.archived,
    )?))
}

async fn activity(
    State(relay): State<AppState>,
    _: Admin,
    Path(room): Path<String>,
) -> Result<Json<RoomActivity>, Problem> {
    let room: RoomId = id(&room, "room")?;
    Ok(Json(relay.room_activity(room)?))
}

async fn care_plans(
    State(relay): State<AppState>,
    _: Admin,
    Path(room): Path<String>,
) -> Result<Json<Vec<CarePlanImportView>>, Problem> {
    let room: RoomId = id(&room, "room")?;
    Ok(Json(relay.care_plan_imports(room)?))
}

async fn import_care_plan(
    State(relay): State<AppState>,
    admin: Admin,
    Path(room): Path<String>,
    ApiJson(req): ApiJson<CarePlanUploadRequest>,
) -> Result<(StatusCode, Json<ImportSummary>), Problem> {
    let room: RoomId = id(&room, "room")?;
    let mut files = Vec::new();
    for f in req.files {
        let bytes = data_encoding::BASE64
            .decode(f.data_base64.as_bytes())
            .map_err(|_| RelayError::Invalid("files: data_base64 is not base64".into()))?;
        files.push((f.name, bytes));
    }
    let actor: Actor = (&admin).into();
    let summary =
        tokio::task::spawn_blocking(move || admin::import_care_plan(&relay, &actor, room, &files))
            .await
            .map_err(|_| RelayError::Internal("the import task failed".into()))??;
    Ok((StatusCode::CREATED, Json(summary)))
}

/// `GET /v1/admin/notices?room=notices|alerts`.
#[derive(Debug, Default, Deserialize)]
struct NoticesQuery {
    room: Option<String>,
}

async fn list_notices(
    State(relay): State<AppState>,
    _: Admin,
    Query(q): Query<NoticesQuery>,
) -> Result<Json<Vec<NoticeView>>, Problem> {
    let rooms = match q.room.as_deref() {
        None => vec![CityRoom::Alerts, CityRoom::Notices],
        Some(k) => vec![
            CityRoom::from_key(k)
                .ok_or_else(|| RelayError::Invalid("room: notices or alerts".into()))?,
        ],
    };
    let mut out = Vec::new();
    for r in rooms {
        out.extend(relay.notices(r)?);
    }
    Ok(Json(out))
}

/// `POST /v1/admin/notices`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    /// `notices` or `alerts`.
    pub room: CityRoom,
    /// Headline.
    pub title: String,
    /// Text.
    pub body: String,
    /// 1–3.
    pub importance: Importance,
    /// After this it shows as expired (ms since 1970).
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// The answer to a posted notice.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostedNotice {
    /// The notice id.
    pub id: NoticeId,
    /// Where it went.
    pub room: RoomId,
}

async fn post_notice(
    State(relay): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<NewNotice>,
) -> Result<(StatusCode, Json<PostedNotice>), Problem> {
    let content = NoticeContent {
        title: req.title,
        body: req.body,
        importance: req.importance,
        expires_at: req.expires_at,
    };
    let id = admin::post_notice(&relay, &(&admin).into(), req.room, &content)?;
    Ok((
        StatusCode::CREATED,
        Json(PostedNotice {
            id,
            room: relay.city_room(req.room)?,
        }),
    ))
}

async fn console_credentials(
    State(relay): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<CredentialsRequest>,
) -> Result<Json<ConsoleSetup>, Problem> {
    let actor: Actor = (&admin).into();
    let setup = tokio::task::spawn_blocking(move || auth::set_credentials(&relay, &actor, &req))
        .await
        .map_err(|_| RelayError::Internal("the credentials task failed".into()))??;
    Ok(Json(setup))
}
