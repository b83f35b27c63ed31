//! Every JSON admin route (`/v1/admin/…`): professionals, enrollment codes, rooms and
//! members, devices, the audit log, and what came with the console (edits, archiving, room
//! activity, notices and alerts, care-plan imports, consent forms, console credentials).
//! Each handler that changes something calls the same [`super::acts`] function as the console
//! page, and `kizuna admin` calls these routes. Merged into [`crate::router`], so the same
//! problem+json errors, body limits and request log apply.

use super::acts::{self as admin, Actor};
use super::console::auth;
use crate::error::RelayError;
use crate::http::extract::{ApiJson, optional_json, parse_id};
use crate::http::problem::{Problem, ProblemKind};
use crate::identity::Admin;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use kizuna_contract::audit::{AUDIT_EXPORT_MEDIA_TYPE, AuditQuery, Verdict};
use kizuna_contract::careplans::{
    CarePlanImportView, CarePlanUploadRequest, ImportSummary, MAX_CARE_PLAN_BODY,
};
use kizuna_contract::console::{ConsoleSetup, CredentialsRequest};
use kizuna_contract::directory::{
    DeviceView, DirectoryView, NewProfessional, ProfessionalView, RevokeRequest,
};
use kizuna_contract::enrollment::{CaStatus, EnrollCodeRequest, EnrollCodeResponse, RetireRequest};
use kizuna_contract::notices::{CityRoom, NewNotice, NoticeView, PostedNotice};
use kizuna_contract::rooms::{ArchiveRequest, InviteRequest, NewRoom, RoomActivity, RoomView};
use kizuna_core::model::NoticeContent;
use kizuna_core::{DeviceId, ProfessionalId, RoomId, Timestamp};
use serde::Deserialize;

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

/// Every admin route, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
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
        .route("/v1/admin/ca", get(ca_status))
        .route("/v1/admin/ca/rotate", post(ca_rotate))
        .route("/v1/admin/ca/retire-old", post(ca_retire_old))
        .route("/v1/admin/audit", get(audit_export))
        .route("/v1/admin/audit/verify", get(audit_verify))
        .route("/v1/admin/audit/rotate", post(audit_rotate))
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
) -> Result<Json<ProfessionalView>, Problem> {
    let pid: ProfessionalId = id(&pid, "professional")?;
    let p = admin::update_professional(&relay, &(&admin).into(), pid, req.into())?;
    Ok(Json(ProfessionalView::from(&p)))
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
    Ok((StatusCode::CREATED, Json(ImportSummary::from(summary))))
}

/// `GET /v1/admin/notices?room=notices|alerts` (read as text so that a wrong key is an
/// `invalid` problem naming the parameter).
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

async fn post_notice(
    State(relay): State<AppState>,
    admin: Admin,
    ApiJson(req): ApiJson<NewNotice>,
) -> Result<(StatusCode, Json<PostedNotice>), Problem> {
    let content = NoticeContent {
        title: req.title,
        body: req.body,
        importance: req.importance.into(),
        expires_at: req.expires_at.map(Into::into),
    };
    let id = admin::post_notice(&relay, &(&admin).into(), req.room, &content)?;
    Ok((
        StatusCode::CREATED,
        Json(PostedNotice {
            id: id.0,
            room: relay.city_room(req.room)?.0,
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
) -> Result<(StatusCode, Json<ProfessionalView>), Problem> {
    let p = admin::add_professional(&relay, &(&admin).into(), req.into())?;
    Ok((StatusCode::CREATED, Json(ProfessionalView::from(&p))))
}

async fn remove_professional(
    State(relay): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id: ProfessionalId = parse_id(&id, "professional id")?;
    admin::remove_professional(&relay, &(&admin).into(), id)?;
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
    let code = admin::enroll_code(&relay, &(&admin).into(), id, hours)?;
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
    let room = admin::create_room(&relay, &(&admin).into(), req.try_into()?)?;
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
    let view = admin::invite(
        &relay,
        &(&admin).into(),
        room,
        professional,
        req.role.into(),
    )?;
    Ok(Json(view))
}

async fn remove_member(
    State(relay): State<AppState>,
    admin: Admin,
    Path((room, professional)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let room: RoomId = parse_id(&room, "room id")?;
    let professional: ProfessionalId = parse_id(&professional, "professional id")?;
    admin::remove_member(&relay, &(&admin).into(), room, professional)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_devices(
    State(relay): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<DeviceView>>, Problem> {
    let now = relay.clock().now();
    Ok(Json(
        relay
            .devices()?
            .iter()
            .map(|d| crate::identity::device_view(d, now))
            .collect(),
    ))
}

async fn revoke_device(
    State(relay): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, Problem> {
    let id: DeviceId = parse_id(&id, "device id")?;
    let wipe = optional_json::<RevokeRequest>(&body)?.wipe;
    admin::revoke_device(&relay, &(&admin).into(), id, wipe)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ca_status(State(relay): State<AppState>, _: Admin) -> Result<Json<CaStatus>, Problem> {
    Ok(Json(relay.ca_status()?))
}

async fn ca_rotate(State(relay): State<AppState>, admin: Admin) -> Result<Json<CaStatus>, Problem> {
    Ok(Json(admin::rotate_ca(&relay, &(&admin).into())?))
}

async fn ca_retire_old(
    State(relay): State<AppState>,
    admin: Admin,
    body: axum::body::Bytes,
) -> Result<Json<CaStatus>, Problem> {
    let force = optional_json::<RetireRequest>(&body)?.force;
    Ok(Json(admin::retire_old_ca(&relay, &(&admin).into(), force)?))
}

fn parse_time(s: &str, what: &str) -> Result<Timestamp, Problem> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(Timestamp(ms));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
        .map_err(|_| {
            Problem::new(
                ProblemKind::Invalid,
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
        after: q.after,
    };
    let limit = q.effective_limit();
    let body = tokio::task::spawn_blocking(move || admin::audit_export(&relay, &filter, limit))
        .await
        .map_err(|_| RelayError::Internal("the audit task failed".into()))??;
    Ok((
        [(axum::http::header::CONTENT_TYPE, AUDIT_EXPORT_MEDIA_TYPE)],
        body,
    )
        .into_response())
}

async fn audit_rotate(
    State(relay): State<AppState>,
    admin: Admin,
) -> Result<Json<kizuna_contract::audit::Rotated>, Problem> {
    let actor: Actor = (&admin).into();
    let segment = tokio::task::spawn_blocking(move || admin::audit_rotate(&relay, &actor))
        .await
        .map_err(|_| RelayError::Internal("the audit task failed".into()))??;
    Ok(Json(kizuna_contract::audit::Rotated { segment }))
}

async fn audit_verify(State(relay): State<AppState>, _: Admin) -> Result<Json<Verdict>, Problem> {
    let verdict = tokio::task::spawn_blocking(move || admin::audit_verify(&relay))
        .await
        .map_err(|_| RelayError::Internal("the audit task failed".into()))??;
    Ok(Json(verdict))
}
