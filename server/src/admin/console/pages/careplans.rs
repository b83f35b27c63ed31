//! `/console/careplans`: upload the standard care-plan CSV files (ケアプランデータ連携) into a
//! patient room, through `admin::import_care_plan` → `kizuna_core::careplan::import` (all
//! files checked, then one change).

use super::{Opt, failed, parse_id};
use crate::admin::acts as admin;
use crate::admin::console::{Chrome, Ctx, csrf, csrf_refused, render};
use crate::error::RelayError;
use askama::Template;
use axum::extract::{Multipart, Query};
use axum::response::Response;
use kizuna_core::{RoomId, RoomKind};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "careplans.html")]
struct Page {
    b: Chrome,
    rooms: Vec<Opt>,
    imports: Vec<String>,
}

/// `?room=` preselects a room.
#[derive(Debug, Default, Deserialize)]
pub struct RoomQuery {
    #[serde(default)]
    room: String,
}

fn build(ctx: &Ctx, q: &RoomQuery) -> Result<Page, RelayError> {
    let relay = ctx.relay();
    let rooms: Vec<Opt> = relay
        .rooms()?
        .into_iter()
        .filter(|r| RoomKind::from(r.kind) == RoomKind::Patient && r.archived_at.is_none())
        .map(|r| Opt {
            selected: q.room == r.id.to_string(),
            value: r.id.to_string(),
            label: r.display_name,
        })
        .collect();
    let mut imports = Vec::new();
    if let Ok(room) = q.room.parse::<RoomId>() {
        for i in relay.care_plan_imports(room)? {
            let files: Vec<String> = i.files.iter().map(|(n, _)| n.clone()).collect();
            imports.push(format!(
                "{} — {}: {}",
                ctx.lang.when(i.imported_at),
                i.imported_by,
                files.join(", ")
            ));
        }
    }
    Ok(Page {
        b: ctx.chrome(ctx.t().title_careplans, "careplans"),
        rooms,
        imports,
    })
}

/// The upload form.
pub async fn show(ctx: Ctx, Query(q): Query<RoomQuery>) -> Response {
    match build(&ctx, &q) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// Takes the files and imports them.
pub async fn upload(ctx: Ctx, mut multipart: Multipart) -> Response {
    let mut token = String::new();
    let mut room = String::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return ctx.done(
                    "/console/careplans",
                    Err(RelayError::Invalid(
                        "files: the upload is malformed or too large".into(),
                    )),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let Ok(bytes) = field.bytes().await else {
            return ctx.done(
                "/console/careplans",
                Err(RelayError::Invalid(
                    "files: the upload is malformed or too large".into(),
                )),
            );
        };
        match name.as_str() {
            "csrf" => token = String::from_utf8_lossy(&bytes).into_owned(),
            "room" => room = String::from_utf8_lossy(&bytes).into_owned(),
            "files" => {
                if let Some(f) = file_name.filter(|f| !f.is_empty()) {
                    // Keep the base name only (browsers may send a path).
                    let base = f.rsplit(['/', '\\']).next().unwrap_or(&f).to_string();
                    files.push((base, bytes.to_vec()));
                }
            }
            _ => {}
        }
    }
    if !csrf::tokens_match(&token, &ctx.session.csrf) {
        return csrf_refused(&ctx);
    }
    let back = format!("/console/careplans?room={}", room.trim());
    let r = parse_id::<RoomId>(room.trim(), "room")
        .and_then(|room| admin::import_care_plan(ctx.relay(), &ctx.actor(), room, &files));
    let t = ctx.t();
    ctx.done(
        &back,
        r.map(|s| {
            let files: Vec<String> = s
                .files
                .iter()
                .map(|(n, _, rows)| format!("{n} ({rows} {})", t.careplan_rows))
                .collect();
            format!("{}: {}", t.imported, files.join(", "))
        }),
    )
}
