//! The console's pages, one module per area. Handlers read through `Relay` and change
//! through [`crate::admin::acts`] only.

pub mod audit;
pub mod careplans;
pub mod devices;
pub mod home;
pub mod login;
pub mod notices;
pub mod professionals;
pub mod rooms;

use super::Ctx;
use crate::error::RelayError;
use crate::identity::directory::Device;
use axum::response::IntoResponse;
use kizuna_core::{ProfessionalId, Timestamp};
use std::collections::HashMap;

/// An `<option>`.
#[derive(Debug)]
pub struct Opt {
    /// Its value.
    pub value: String,
    /// What it shows.
    pub label: String,
    /// Whether it is selected.
    pub selected: bool,
}

/// A row of a device table.
#[derive(Debug)]
pub struct DeviceRow {
    /// Device id.
    pub id: String,
    /// Whose.
    pub owner: String,
    /// Label from enrollment.
    pub label: String,
    /// When enrolled.
    pub enrolled: String,
    /// When it last synced.
    pub last_seen: String,
    /// When its certificate expires, with the days left (the phone renews it in its last
    /// 30 days as it syncs; a date close at hand means the phone has not synced lately).
    pub cert_expiry: String,
    /// Active, revoked, revoked with wipe.
    pub status: String,
    /// Not revoked.
    pub active: bool,
    /// Told to wipe.
    pub wipe: bool,
}

/// Rows of a device table.
pub fn device_rows(
    ctx: &Ctx,
    devices: &[Device],
    names: &HashMap<ProfessionalId, String>,
) -> Vec<DeviceRow> {
    let t = ctx.t();
    let now = ctx.relay().clock().now();
    devices
        .iter()
        .map(|d| DeviceRow {
            id: d.id.to_string(),
            owner: names
                .get(&d.professional)
                .cloned()
                .unwrap_or_else(|| d.professional.to_string()),
            label: d.label.clone(),
            enrolled: ctx.lang.when(d.enrolled_at),
            last_seen: d
                .last_seen
                .map_or_else(|| t.never.to_string(), |x| ctx.lang.when(x)),
            cert_expiry: match d.cert_not_after {
                Some(end) if end < now => format!("{} ({})", ctx.lang.when(end), t.expired),
                Some(end) => format!(
                    "{} ({})",
                    ctx.lang.when(end),
                    ctx.lang
                        .days_left(end.0.saturating_sub(now.0).div_euclid(86_400_000))
                ),
                None => "-".to_string(),
            },
            status: match (d.revoked_at, d.wipe) {
                (None, _) => t.status_active.to_string(),
                (Some(at), false) => format!("{} {}", t.status_revoked, ctx.lang.when(at)),
                (Some(at), true) => format!("{} {}", t.status_revoked_wipe, ctx.lang.when(at)),
            },
            active: d.revoked_at.is_none(),
            wipe: d.wipe,
        })
        .collect()
}

/// Names of every professional ever registered (removed ones too), by id.
pub fn all_names(ctx: &Ctx) -> Result<HashMap<ProfessionalId, String>, RelayError> {
    Ok(ctx
        .relay()
        .directory()
        .professionals()?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

/// Parses an id from a path or form.
pub fn parse_id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, RelayError> {
    s.parse()
        .map_err(|_| RelayError::Invalid(format!("{what}: not a valid id")))
}

/// The page for a failed read.
pub fn failed(ctx: &Ctx, e: &RelayError) -> axum::response::Response {
    let status = match e {
        RelayError::NotFound(_) => axum::http::StatusCode::NOT_FOUND,
        RelayError::Invalid(_) => axum::http::StatusCode::BAD_REQUEST,
        _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, super::message_page(ctx, &ctx.error_text(e))).into_response()
}

/// Reads an `<input type=datetime-local>` value (`YYYY-MM-DDTHH:MM[:SS]`) as Japan time;
/// empty is `None`.
pub fn parse_local(s: &str) -> Result<Option<Timestamp>, RelayError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let full = if s.len() == 16 {
        format!("{s}:00")
    } else {
        s.to_string()
    };
    let fmt = time::format_description::parse("[year]-[month]-[day]T[hour]:[minute]:[second]")
        .map_err(|_| RelayError::Internal("time format".into()))?;
    let dt = time::PrimitiveDateTime::parse(&full, &fmt)
        .map_err(|_| RelayError::Invalid("time: use YYYY-MM-DDTHH:MM".into()))?;
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    Ok(Some(Timestamp(
        dt.assume_offset(offset).unix_timestamp() * 1000,
    )))
}

/// The reverse of [`parse_local`], for filling a form back in.
pub fn format_local(t: Timestamp) -> String {
    super::i18n::Lang::Ja.when(t).replace(' ', "T")
}
