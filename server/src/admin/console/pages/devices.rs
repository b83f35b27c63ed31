//! `/console/devices`: every device with its owner and last sync; revoke, or revoke and
//! order a wipe.

use super::{DeviceRow, all_names, device_rows, failed, parse_id};
use crate::admin::acts as admin;
use crate::admin::console::csrf::HasCsrf;
use crate::admin::console::{Chrome, CsrfForm, Ctx, render};
use crate::error::RelayError;
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use kizuna_core::DeviceId;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "devices.html")]
struct Page {
    b: Chrome,
    devices: Vec<DeviceRow>,
    back: &'static str,
}

fn build(ctx: &Ctx) -> Result<Page, RelayError> {
    let devices = ctx.relay().devices()?;
    let names = all_names(ctx)?;
    Ok(Page {
        b: ctx.chrome(ctx.t().title_devices, "devices"),
        devices: device_rows(ctx, &devices, &names),
        back: "/console/devices",
    })
}

/// The list.
pub async fn list(ctx: Ctx) -> Response {
    match build(&ctx) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// The revoke buttons' form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
    #[serde(default)]
    wipe: String,
    #[serde(default)]
    back: String,
}

impl HasCsrf for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Revokes a device, with `wipe=yes` also ordering it to erase its data
/// (`admin::revoke_device`). Goes back to the page it came from.
pub async fn revoke(Path(id): Path<String>, CsrfForm(ctx, form): CsrfForm<RevokeForm>) -> Response {
    let wipe = form.wipe == "yes";
    let r = parse_id::<DeviceId>(&id, "device")
        .and_then(|d| admin::revoke_device(ctx.relay(), &ctx.actor(), d, wipe));
    let text = if wipe {
        ctx.t().done_revoked_wipe
    } else {
        ctx.t().done_revoked
    };
    // Back to the page the button was on (a console path only).
    let back = Some(form.back.as_str())
        .filter(|p| p.starts_with("/console/"))
        .filter(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b))
        })
        .unwrap_or("/console/devices");
    ctx.done(back, r.map(|()| text.to_string()))
}
