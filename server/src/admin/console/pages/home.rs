//! `GET /console/`: what matters at a glance — who waits for a certificate, which phones
//! were revoked, which rooms are busy.

use super::{all_names, failed};
use crate::admin::console::{Chrome, Ctx, render};
use crate::error::RelayError;
use askama::Template;
use axum::response::Response;
use kizuna_core::RoomKind;

/// A professional in a list.
#[derive(Debug)]
pub struct PersonLine {
    id: String,
    name: String,
    profession: String,
    organisation: String,
}

/// A revoked device.
#[derive(Debug)]
pub struct DeviceLine {
    owner: String,
    label: String,
    status: String,
}

/// A busy room.
#[derive(Debug)]
pub struct BusyRoom {
    id: String,
    name: String,
    week: u64,
    unread: u64,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    b: Chrome,
    professionals: usize,
    active_devices: usize,
    patient_rooms: usize,
    reports_week: u64,
    waiting: Vec<PersonLine>,
    revoked: Vec<DeviceLine>,
    busy: Vec<BusyRoom>,
}

fn build(ctx: &Ctx) -> Result<Home, RelayError> {
    let relay = ctx.relay();
    let (professionals, devices) = (relay.professionals()?, relay.devices()?);
    let names = all_names(ctx)?;
    let with_device: std::collections::HashSet<_> = devices
        .iter()
        .filter(|d| d.revoked_at.is_none())
        .map(|d| d.professional)
        .collect();
    let waiting = professionals
        .iter()
        .filter(|p| !with_device.contains(&p.id))
        .map(|p| PersonLine {
            id: p.id.to_string(),
            name: p.name.clone(),
            profession: ctx.lang.profession(p.profession),
            organisation: p.organisation.name.clone(),
        })
        .collect();
    let rows = super::device_rows(ctx, &devices, &names);
    let revoked = rows
        .into_iter()
        .filter(|d| !d.active)
        .take(10)
        .map(|d| DeviceLine {
            owner: d.owner,
            label: d.label,
            status: d.status,
        })
        .collect();
    let mut busy = Vec::new();
    let mut reports_week = 0;
    let mut patient_rooms = 0;
    for r in relay.rooms()? {
        if RoomKind::from(r.kind) != RoomKind::Patient || r.archived_at.is_some() {
            continue;
        }
        patient_rooms += 1;
        let a = relay.room_activity(kizuna_core::RoomId(r.id))?;
        reports_week += a.reports_this_week;
        if a.reports_this_week > 0 || a.unread_must_reads > 0 {
            busy.push(BusyRoom {
                id: r.id.to_string(),
                name: r.display_name,
                week: a.reports_this_week,
                unread: a.unread_must_reads,
            });
        }
    }
    busy.sort_by_key(|b| std::cmp::Reverse((b.week, b.unread)));
    busy.truncate(5);
    Ok(Home {
        b: ctx.chrome(ctx.t().title_home, "home"),
        professionals: professionals.len(),
        active_devices: with_device
            .len()
            .max(devices.iter().filter(|d| d.revoked_at.is_none()).count()),
        patient_rooms,
        reports_week,
        waiting,
        revoked,
        busy,
    })
}

/// The overview.
pub async fn show(ctx: Ctx) -> Response {
    match build(&ctx) {
        Ok(page) => render(&page),
        Err(e) => failed(&ctx, &e),
    }
}
