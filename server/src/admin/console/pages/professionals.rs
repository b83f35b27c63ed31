//! `/console/professionals…`: register, edit, remove, devices with their last sync, and the
//! enrollment QR code for a new phone.

use super::{DeviceRow, Opt, all_names, device_rows, failed, parse_id};
use crate::admin::acts as admin;
use crate::admin::console::csrf::HasCsrf;
use crate::admin::console::{Chrome, CsrfForm, Ctx, qr_png, render};
use crate::error::RelayError;
use crate::identity::NewProfessional;
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use kizuna_core::{Organisation, Profession, ProfessionalId};
use serde::Deserialize;

/// A row of the professionals table.
#[derive(Debug)]
pub struct Row {
    id: String,
    name: String,
    kana: String,
    profession: String,
    organisation: String,
    devices: usize,
    last_sync: String,
}

/// The register/edit form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ProfessionalForm {
    #[serde(default)]
    csrf: String,
    /// Name.
    pub name: String,
    /// Kana.
    pub kana: String,
    /// Profession key.
    pub profession: String,
    /// Organisation name.
    pub organisation: String,
    /// Office number (may be empty).
    #[serde(default)]
    pub office_number: String,
}

impl HasCsrf for ProfessionalForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl ProfessionalForm {
    fn to_new(&self) -> Result<NewProfessional, RelayError> {
        let profession = self
            .profession
            .parse::<Profession>()
            .ok()
            .ok_or_else(|| RelayError::Invalid("profession: unknown".into()))?;
        let office = self.office_number.trim();
        Ok(NewProfessional {
            name: self.name.trim().to_string(),
            kana: self.kana.trim().to_string(),
            profession,
            organisation: Organisation {
                name: self.organisation.trim().to_string(),
                office_number: (!office.is_empty()).then(|| office.to_string()),
            },
        })
    }
}

fn profession_options(ctx: &Ctx, selected: Option<Profession>, admin: bool) -> Vec<Opt> {
    let mut out: Vec<Opt> = Profession::ALL
        .iter()
        .filter(|p| **p != Profession::CityAdministrator)
        .map(|p| Opt {
            value: p.key().to_string(),
            label: ctx.lang.profession(*p),
            selected: Some(*p) == selected,
        })
        .collect();
    if admin {
        out = vec![Opt {
            value: Profession::CityAdministrator.key().to_string(),
            label: ctx.lang.profession(Profession::CityAdministrator),
            selected: true,
        }];
    }
    out
}

#[derive(Template)]
#[template(path = "professionals.html")]
struct ListPage {
    b: Chrome,
    rows: Vec<Row>,
    form: ProfessionalForm,
    professions: Vec<Opt>,
}

fn build_list(ctx: &Ctx) -> Result<ListPage, RelayError> {
    let dir = ctx.relay().directory_view()?;
    let rows = dir
        .professionals
        .iter()
        .map(|p| {
            let mine: Vec<_> = dir
                .devices
                .iter()
                .filter(|d| d.professional == p.id)
                .collect();
            let last = mine.iter().filter_map(|d| d.last_seen).max();
            Row {
                id: p.id.to_string(),
                name: p.name.clone(),
                kana: p.kana.clone(),
                profession: ctx.lang.profession(p.profession),
                organisation: p.organisation.name.clone(),
                devices: mine.iter().filter(|d| d.revoked_at.is_none()).count(),
                last_sync: last.map_or_else(|| ctx.t().never.to_string(), |t| ctx.lang.when(t)),
            }
        })
        .collect();
    Ok(ListPage {
        b: ctx.chrome(ctx.t().title_professionals, "professionals"),
        rows,
        form: ProfessionalForm::default(),
        professions: profession_options(ctx, Some(Profession::Nurse), false),
    })
}

/// The list and the registration form.
pub async fn list(ctx: Ctx) -> Response {
    match build_list(&ctx) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// Registers a professional (`admin::add_professional`).
pub async fn register(CsrfForm(ctx, form): CsrfForm<ProfessionalForm>) -> Response {
    let r = form
        .to_new()
        .and_then(|new| admin::add_professional(ctx.relay(), &ctx.actor(), new));
    match r {
        Ok(p) => ctx.done(
            &format!("/console/professionals/{}", p.id),
            Ok(format!("{}: {}", ctx.t().done_registered, p.name)),
        ),
        Err(e) => ctx.done("/console/professionals", Err(e)),
    }
}

/// A room a professional is in.
#[derive(Debug)]
pub struct RoomLine {
    id: String,
    name: String,
    role: String,
}

#[derive(Template)]
#[template(path = "professional.html")]
struct ShowPage {
    b: Chrome,
    id: String,
    is_admin: bool,
    form: ProfessionalForm,
    professions: Vec<Opt>,
    devices: Vec<DeviceRow>,
    rooms: Vec<RoomLine>,
    back: String,
}

fn build_show(ctx: &Ctx, id: &str) -> Result<ShowPage, RelayError> {
    let id: ProfessionalId = parse_id(id, "professional")?;
    let relay = ctx.relay();
    let p = relay
        .directory()
        .professional(id)?
        .filter(|p| p.is_active())
        .ok_or(RelayError::NotFound("professional"))?;
    let devices: Vec<_> = relay
        .devices()?
        .into_iter()
        .filter(|d| d.professional == id)
        .collect();
    let names = all_names(ctx)?;
    let mut rooms = Vec::new();
    for (rid, role) in relay.directory().memberships_of(id)? {
        if let Some(r) = relay.directory().room(rid)? {
            if r.kind == kizuna_core::RoomKind::Direct {
                continue;
            }
            rooms.push(RoomLine {
                id: rid.to_string(),
                name: r.display_name,
                role: ctx.lang.role(role).to_string(),
            });
        }
    }
    Ok(ShowPage {
        b: ctx.chrome(&p.name, "professionals"),
        id: id.to_string(),
        is_admin: p.is_admin(),
        professions: profession_options(ctx, Some(p.profession), p.is_admin()),
        form: ProfessionalForm {
            csrf: String::new(),
            name: p.name.clone(),
            kana: p.kana.clone(),
            profession: p.profession.key().to_string(),
            organisation: p.organisation.name.clone(),
            office_number: p.organisation.office_number.clone().unwrap_or_default(),
        },
        devices: device_rows(ctx, &devices, &names),
        rooms,
        back: format!("/console/professionals/{id}"),
    })
}

/// One professional: edit form, devices, rooms, enrollment, removal.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> Response {
    match build_show(&ctx, &id) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// Saves an edit (`admin::update_professional`).
pub async fn edit(
    Path(id): Path<String>,
    CsrfForm(ctx, form): CsrfForm<ProfessionalForm>,
) -> Response {
    if let Err(e) = parse_id::<ProfessionalId>(&id, "professional") {
        return failed(&ctx, &e);
    }
    let back = format!("/console/professionals/{id}");
    let r = parse_id::<ProfessionalId>(&id, "professional").and_then(|pid| {
        let new = form.to_new()?;
        admin::update_professional(ctx.relay(), &ctx.actor(), pid, new)
    });
    ctx.done(
        &back,
        r.map(|p| format!("{}: {}", ctx.t().done_saved, p.name)),
    )
}

/// The removal form.
#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

impl HasCsrf for RemoveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Removes a professional (`admin::remove_professional`).
pub async fn remove(Path(id): Path<String>, CsrfForm(ctx, form): CsrfForm<RemoveForm>) -> Response {
    if let Err(e) = parse_id::<ProfessionalId>(&id, "professional") {
        return failed(&ctx, &e);
    }
    if form.confirm != "yes" {
        let e = RelayError::Invalid(ctx.t().error_confirm.to_string());
        return ctx.done(&format!("/console/professionals/{id}"), Err(e));
    }
    match parse_id::<ProfessionalId>(&id, "professional")
        .and_then(|pid| admin::remove_professional(ctx.relay(), &ctx.actor(), pid))
    {
        Ok(()) => ctx.done(
            "/console/professionals",
            Ok(ctx.t().done_removed.to_string()),
        ),
        Err(e) => ctx.done(&format!("/console/professionals/{id}"), Err(e)),
    }
}

/// The enrollment form.
#[derive(Debug, Deserialize)]
pub struct EnrollForm {
    csrf: String,
    #[serde(default)]
    valid_hours: Option<u32>,
}

impl HasCsrf for EnrollForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    b: Chrome,
    id: String,
    name: String,
    code: String,
    expires: String,
    relay_url: String,
    ca_fingerprint: String,
    png_base64: String,
    png_size: usize,
}

/// Makes a one-time code (`admin::enroll_code`) and shows it with its QR code as a PNG.
/// The code is shown on this answer only (never stored in clear), so the page is the
/// answer to the POST rather than a redirect.
pub async fn enroll(Path(id): Path<String>, CsrfForm(ctx, form): CsrfForm<EnrollForm>) -> Response {
    let back = format!("/console/professionals/{id}");
    let r = parse_id::<ProfessionalId>(&id, "professional").and_then(|pid| {
        let p = ctx
            .relay()
            .directory()
            .professional(pid)?
            .ok_or(RelayError::NotFound("professional"))?;
        let code = admin::enroll_code(ctx.relay(), &ctx.actor(), pid, form.valid_hours)?;
        let png = qr_png::qr_png(&code.qr_payload)
            .map_err(|e| RelayError::Internal(format!("QR code: {e}")))?;
        Ok((p, code, png))
    });
    match r {
        Ok((p, code, png)) => {
            let size = qr_size(&png);
            render(&EnrollPage {
                b: ctx.chrome(ctx.t().title_enroll, "professionals"),
                id,
                name: p.name,
                code: code.code,
                expires: ctx.lang.when(code.expires_at),
                relay_url: code.relay_url,
                ca_fingerprint: code.ca_fingerprint,
                png_base64: data_encoding::BASE64.encode(&png),
                png_size: size,
            })
        }
        Err(e) => ctx.done(&back, Err(e)),
    }
}

/// The width of a PNG, from its header.
fn qr_size(png: &[u8]) -> usize {
    png.get(16..20)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_be_bytes(b) as usize)
}
