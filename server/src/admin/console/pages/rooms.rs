//! `/console/rooms…`: patient rooms with consent, members and roles, activity (counts only),
//! archive; creating a room with its consent record.

use super::{Opt, failed, parse_id};
use crate::admin::acts as admin;
use crate::admin::console::csrf::HasCsrf;
use crate::admin::console::{Chrome, CsrfForm, Ctx, csrf, csrf_refused, render};
use crate::error::RelayError;
use crate::identity::NewRoom;
use askama::Template;
use axum::extract::{Multipart, Path};
use axum::response::Response;
use kizuna_core::model::Consent;
use kizuna_core::{Date, ProfessionalId, Role, RoomId, RoomKind};
use serde::Deserialize;

/// A row of the rooms table.
#[derive(Debug)]
pub struct Row {
    id: String,
    name: String,
    consent: String,
    members: usize,
    week: u64,
    unread: u64,
    status: String,
    archived: bool,
}

#[derive(Template)]
#[template(path = "rooms.html")]
struct ListPage {
    b: Chrome,
    rows: Vec<Row>,
}

fn build_list(ctx: &Ctx) -> Result<ListPage, RelayError> {
    let relay = ctx.relay();
    let t = ctx.t();
    let mut rows = Vec::new();
    for r in relay.rooms()? {
        let activity = relay.room_activity(RoomId(r.id))?;
        let name = match RoomKind::from(r.kind) {
            RoomKind::CityNotices => t.room_notices.to_string(),
            RoomKind::Alerts => t.room_alerts.to_string(),
            _ => r.display_name.clone(),
        };
        rows.push(Row {
            id: r.id.to_string(),
            name,
            consent: r
                .consent
                .as_ref()
                .map(|c| format!("{} ({}) {}", c.given_by, c.relation, c.date))
                .unwrap_or_default(),
            members: r.members.len(),
            week: activity.reports_this_week,
            unread: activity.unread_must_reads,
            status: if r.archived_at.is_some() {
                t.archived.to_string()
            } else {
                t.open.to_string()
            },
            archived: r.archived_at.is_some(),
        });
    }
    // Patient rooms first, open before archived, then by name.
    rows.sort_by(|a, b| {
        (a.archived, a.consent.is_empty(), &a.name).cmp(&(
            b.archived,
            b.consent.is_empty(),
            &b.name,
        ))
    });
    Ok(ListPage {
        b: ctx.chrome(t.title_rooms, "rooms"),
        rows,
    })
}

/// The list and the creation form.
pub async fn list(ctx: Ctx) -> Response {
    match build_list(&ctx) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// The creation form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    csrf: String,
    patient_name: String,
    consent_by: String,
    consent_relation: String,
    consent_date: String,
    consent_obtained_by: String,
}

impl HasCsrf for CreateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Creates a patient room with its consent record (`admin::create_room`).
pub async fn create(CsrfForm(ctx, form): CsrfForm<CreateForm>) -> Response {
    let r = (|| {
        let date: Date = form
            .consent_date
            .parse()
            .map_err(|e: kizuna_core::ValidationError| RelayError::Invalid(e.to_string()))?;
        let obtained_by = form.consent_obtained_by.trim().to_string();
        let obtained_by_id = (obtained_by == ctx.admin.name).then_some(ctx.admin.id);
        admin::create_room(
            ctx.relay(),
            &ctx.actor(),
            NewRoom {
                kind: RoomKind::Patient,
                display_name: form.patient_name.trim().to_string(),
                consent: Some(Consent {
                    given_by: form.consent_by.trim().to_string(),
                    relation: form.consent_relation.trim().to_string(),
                    date,
                    obtained_by,
                    obtained_by_id,
                    form: None,
                }),
            },
        )
    })();
    match r {
        Ok(room) => ctx.done(
            &format!("/console/rooms/{}", room.id),
            Ok(ctx.t().done_room_created.to_string()),
        ),
        Err(e) => ctx.done("/console/rooms", Err(e)),
    }
}

/// The consent record as shown.
#[derive(Debug)]
pub struct ConsentView {
    given_by: String,
    relation: String,
    date: String,
    obtained_by: String,
    form: String,
    has_form: bool,
}

/// A member row.
#[derive(Debug)]
pub struct MemberRow {
    id: String,
    name: String,
    profession: String,
    role: String,
    other_role: &'static str,
    other_role_label: &'static str,
}

/// A past care-plan import.
#[derive(Debug)]
pub struct ImportLine {
    at: String,
    by: String,
    files: String,
}

#[derive(Template)]
#[template(path = "room.html")]
struct ShowPage {
    b: Chrome,
    id: String,
    is_patient: bool,
    archived: bool,
    consent: Option<ConsentView>,
    members: Vec<MemberRow>,
    candidates: Vec<Opt>,
    activity_week: u64,
    activity_unread: u64,
    activity_total: u64,
    activity_last: String,
    imports: Vec<ImportLine>,
}

fn build_show(ctx: &Ctx, id: &str) -> Result<ShowPage, RelayError> {
    let id: RoomId = parse_id(id, "room")?;
    let relay = ctx.relay();
    let t = ctx.t();
    let room = relay.room_view(id)?;
    if RoomKind::from(room.kind) == RoomKind::Direct {
        // Direct conversations are private to their two members.
        return Err(RelayError::NotFound("room"));
    }
    let activity = relay.room_activity(id)?;
    let title = match RoomKind::from(room.kind) {
        RoomKind::CityNotices => t.room_notices.to_string(),
        RoomKind::Alerts => t.room_alerts.to_string(),
        _ => room.display_name.clone(),
    };
    let members: Vec<MemberRow> = room
        .members
        .iter()
        .map(|m| {
            let (other_role, other_role_label) = match Role::from(m.role) {
                Role::Writer => ("reader", t.make_reader),
                Role::Reader => ("writer", t.make_writer),
            };
            MemberRow {
                id: m.professional.to_string(),
                name: m.name.clone(),
                profession: ctx.lang.profession(m.profession),
                role: ctx.lang.role(m.role).to_string(),
                other_role,
                other_role_label,
            }
        })
        .collect();
    let candidates = relay
        .professionals()?
        .into_iter()
        .filter(|p| !room.members.iter().any(|m| m.professional == p.id.0))
        .map(|p| Opt {
            value: p.id.to_string(),
            label: format!(
                "{} ({}, {})",
                p.name,
                ctx.lang.profession(p.profession),
                p.organisation.name
            ),
            selected: false,
        })
        .collect();
    let imports = relay
        .care_plan_imports(id)?
        .into_iter()
        .map(|i| ImportLine {
            at: ctx.lang.when(i.imported_at),
            by: i.imported_by,
            files: i
                .files
                .iter()
                .map(|(n, rows)| format!("{n} ({rows} {})", t.careplan_rows))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    Ok(ShowPage {
        b: ctx.chrome(&title, "rooms"),
        id: id.to_string(),
        is_patient: RoomKind::from(room.kind) == RoomKind::Patient,
        archived: room.archived_at.is_some(),
        consent: room.consent.map(|c| ConsentView {
            given_by: c.given_by,
            relation: c.relation,
            date: c.date.to_string(),
            obtained_by: c.obtained_by,
            has_form: c.form.is_some(),
            form: c.form.unwrap_or_else(|| t.none.to_string()),
        }),
        members,
        candidates,
        activity_week: activity.reports_this_week,
        activity_unread: activity.unread_must_reads,
        activity_total: activity.reports,
        activity_last: activity
            .last_post
            .map_or_else(|| t.none.to_string(), |x| ctx.lang.when(x)),
        imports,
    })
}

/// One room.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> Response {
    match build_show(&ctx, &id) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// The invite (and change-role) form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    csrf: String,
    professional: String,
    role: String,
}

impl HasCsrf for InviteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Invites a professional or changes their role (`admin::invite`).
pub async fn invite(Path(id): Path<String>, CsrfForm(ctx, form): CsrfForm<InviteForm>) -> Response {
    let r = (|| {
        let room: RoomId = parse_id(&id, "room")?;
        let p: ProfessionalId = parse_id(&form.professional, "professional")?;
        let role = match form.role.as_str() {
            "writer" => Role::Writer,
            "reader" => Role::Reader,
            _ => return Err(RelayError::Invalid("role: writer or reader".into())),
        };
        admin::invite(ctx.relay(), &ctx.actor(), room, p, role)
    })();
    ctx.done(
        &format!("/console/rooms/{id}"),
        r.map(|_| ctx.t().done_invited.to_string()),
    )
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct PlainForm {
    csrf: String,
}

impl HasCsrf for PlainForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Removes a member (`admin::remove_member`).
pub async fn remove_member(
    Path((id, professional)): Path<(String, String)>,
    CsrfForm(ctx, _): CsrfForm<PlainForm>,
) -> Response {
    let r = (|| {
        let room: RoomId = parse_id(&id, "room")?;
        let p: ProfessionalId = parse_id(&professional, "professional")?;
        admin::remove_member(ctx.relay(), &ctx.actor(), room, p)
    })();
    ctx.done(
        &format!("/console/rooms/{id}"),
        r.map(|()| ctx.t().done_member_removed.to_string()),
    )
}

/// The archive form.
#[derive(Debug, Deserialize)]
pub struct ArchiveForm {
    csrf: String,
    archived: String,
}

impl HasCsrf for ArchiveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Archives or restores a room (`admin::set_archived`).
pub async fn archive(
    Path(id): Path<String>,
    CsrfForm(ctx, form): CsrfForm<ArchiveForm>,
) -> Response {
    let archived = form.archived == "yes";
    let r = parse_id::<RoomId>(&id, "room")
        .and_then(|room| admin::set_archived(ctx.relay(), &ctx.actor(), room, archived));
    let text = if archived {
        ctx.t().done_archived
    } else {
        ctx.t().done_restored
    };
    ctx.done(&format!("/console/rooms/{id}"), r.map(|_| text.to_string()))
}

/// Takes the scanned consent form (`admin::attach_consent_form`): a multipart form with the
/// CSRF token and one PDF, JPEG or PNG file.
pub async fn consent_form(Path(id): Path<String>, ctx: Ctx, mut multipart: Multipart) -> Response {
    let back = format!("/console/rooms/{id}");
    let malformed = || RelayError::Invalid("file: the upload is malformed or too large".into());
    let mut token = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return ctx.done(&back, Err(malformed())),
        };
        let name = field.name().unwrap_or_default().to_string();
        let media = field.content_type().unwrap_or_default().to_string();
        let Ok(bytes) = field.bytes().await else {
            return ctx.done(&back, Err(malformed()));
        };
        match name.as_str() {
            "csrf" => token = String::from_utf8_lossy(&bytes).into_owned(),
            "file" if !bytes.is_empty() => file = Some((media, bytes.to_vec())),
            _ => {}
        }
    }
    if !csrf::tokens_match(&token, &ctx.session.csrf) {
        return csrf_refused(&ctx);
    }
    let r = parse_id::<RoomId>(&id, "room").and_then(|room| {
        let (media, bytes) =
            file.ok_or_else(|| RelayError::Invalid("file: choose the scan".into()))?;
        admin::attach_consent_form(ctx.relay(), &ctx.actor(), room, &media, &bytes)
    });
    ctx.done(&back, r.map(|_| ctx.t().done_consent_form.to_string()))
}

/// Shows the scanned consent form to the administrator (audited).
pub async fn consent_form_file(ctx: Ctx, Path(id): Path<String>) -> Response {
    use axum::response::IntoResponse;
    let r = (|| {
        let room: RoomId = parse_id(&id, "room")?;
        let view = ctx.relay().room_view(room)?;
        let hash = view
            .consent
            .and_then(|c| c.form)
            .and_then(|h| h.parse::<kizuna_core::ContentHash>().ok())
            .ok_or(RelayError::NotFound("consent form"))?;
        let store = ctx.relay().blobs().store();
        let meta = store
            .meta(&hash)
            .map_err(|e| RelayError::Internal(e.to_string()))?
            .ok_or(RelayError::NotFound("consent form"))?;
        let bytes = store
            .read_at(&hash, 0, usize::try_from(meta.size).unwrap_or(usize::MAX))
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        admin::audit(
            ctx.relay(),
            &ctx.actor(),
            "admin.room.consent_form.read",
            Some(room),
            hash,
        )?;
        Ok::<_, RelayError>((meta.media_type, bytes))
    })();
    match r {
        Ok((media, bytes)) => (
            [
                (axum::http::header::CONTENT_TYPE, media),
                (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failed(&ctx, &e),
    }
}
