//! `/console/audit`: filter by professional, room and time; verify the hash chain; export
//! the filtered records as a JSON-lines download.

use super::{Opt, all_names, failed, format_local, parse_id, parse_local};
use crate::admin::acts as admin;
use crate::admin::console::{Chrome, Ctx, render};
use crate::audit::Filter;
use crate::error::RelayError;
use askama::Template;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kizuna_core::RoomKind;
use serde::Deserialize;

/// Records shown on the page at most (the download exports up to the contract's
/// `MAX_EXPORT_LIMIT`).
pub const SHOWN: usize = 300;

/// The filter form (GET).
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    professional: String,
    #[serde(default)]
    room: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    verify: String,
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, RelayError> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        Ok(Filter {
            room: opt(&self.room).map(|r| parse_id(&r, "room")).transpose()?,
            professional: opt(&self.professional)
                .map(|p| parse_id(&p, "professional"))
                .transpose()?,
            since: parse_local(&self.since)?,
            until: parse_local(&self.until)?,
            after: None,
        })
    }

    /// The query string of the same filter (for the export link).
    fn query(&self) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        format!(
            "professional={}&room={}&since={}&until={}",
            enc(&self.professional),
            enc(&self.room),
            enc(&self.since),
            enc(&self.until)
        )
    }
}

/// A record as shown.
#[derive(Debug)]
pub struct Line {
    seq: u64,
    at: String,
    who: String,
    action: String,
    room: String,
    subject: String,
    details: String,
}

/// The verification result.
#[derive(Debug)]
pub struct VerdictView {
    intact: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Page {
    b: Chrome,
    professionals: Vec<Opt>,
    rooms: Vec<Opt>,
    since: String,
    until: String,
    query: String,
    verdict: Option<VerdictView>,
    shown_text: String,
    records: Vec<Line>,
}

fn build(ctx: &Ctx, q: &AuditQuery) -> Result<Page, RelayError> {
    let relay = ctx.relay();
    let t = ctx.t();
    let filter = q.filter()?;
    let names = all_names(ctx)?;
    let mut room_names = std::collections::HashMap::new();
    for r in relay.directory().rooms()? {
        let name = match r.kind {
            RoomKind::CityNotices => t.room_notices.to_string(),
            RoomKind::Alerts => t.room_alerts.to_string(),
            RoomKind::Direct => "(direct)".to_string(),
            RoomKind::Patient => r.display_name.clone(),
        };
        room_names.insert(r.id, (name, r.kind));
    }
    let verdict = if q.verify.is_empty() {
        None
    } else {
        let v = admin::audit_verify(relay)?;
        Some(VerdictView {
            intact: v.intact,
            text: if v.intact {
                format!("{} {}", t.audit_intact, v.records)
            } else {
                format!(
                    "{} {} ({})",
                    t.audit_broken,
                    v.first_broken.unwrap_or(0),
                    v.problem.unwrap_or_default()
                )
            },
        })
    };
    let records = relay
        .audit()
        .newest(&filter, SHOWN)
        .map_err(|e| RelayError::Internal(e.to_string()))?
        .into_iter()
        .map(|r| Line {
            seq: r.seq,
            at: ctx.lang.when(r.at),
            who: r
                .professional
                .map(|p| names.get(&p).cloned().unwrap_or_else(|| p.to_string()))
                .unwrap_or_else(|| "relay".into()),
            action: r.action.clone(),
            room: r
                .room
                .map(|id| {
                    room_names
                        .get(&id)
                        .map_or_else(|| id.to_string(), |(n, _)| n.clone())
                })
                .unwrap_or_default(),
            subject: r
                .subject
                .as_deref()
                .map(|s| {
                    s.parse()
                        .ok()
                        .and_then(|id| names.get(&id).cloned())
                        .unwrap_or_else(|| s.to_string())
                })
                .unwrap_or_default(),
            details: {
                let mut d = Vec::new();
                if r.device.is_some() {
                    d.push("cert".to_string());
                }
                if !r.changes.is_empty() {
                    d.push(format!("{} changes", r.changes.len()));
                }
                if let Some(reason) = &r.reason {
                    d.push(reason.clone());
                }
                d.join(" · ")
            },
        })
        .collect();
    let mut professionals: Vec<Opt> = relay
        .directory()
        .professionals()?
        .into_iter()
        .map(|p| Opt {
            selected: q.professional == p.id.to_string(),
            value: p.id.to_string(),
            label: p.name,
        })
        .collect();
    professionals.sort_by(|a, b| a.label.cmp(&b.label));
    let mut rooms: Vec<Opt> = room_names
        .iter()
        .filter(|(_, (_, k))| *k != RoomKind::Direct)
        .map(|(id, (n, _))| Opt {
            selected: q.room == id.to_string(),
            value: id.to_string(),
            label: n.clone(),
        })
        .collect();
    rooms.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(Page {
        b: ctx.chrome(t.title_audit, "audit"),
        professionals,
        rooms,
        since: filter.since.map(format_local).unwrap_or_default(),
        until: filter.until.map(format_local).unwrap_or_default(),
        query: q.query(),
        verdict,
        shown_text: format!("{} {SHOWN}", t.audit_shown),
        records,
    })
}

/// The filtered view, with the verification result when asked.
pub async fn show(ctx: Ctx, Query(q): Query<AuditQuery>) -> Response {
    match build(&ctx, &q) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// The filtered records as a JSON-lines file, oldest first (the same records and format as
/// `GET /v1/admin/audit` and `kizuna admin audit export`).
pub async fn export(ctx: Ctx, Query(q): Query<AuditQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failed(&ctx, &e),
    };
    let relay = ctx.console.relay.clone();
    let body = tokio::task::spawn_blocking(move || {
        admin::audit_export(&relay, &filter, kizuna_contract::audit::MAX_EXPORT_LIMIT)
    })
    .await;
    match body {
        Ok(Ok(body)) => (
            [
                (
                    header::CONTENT_TYPE,
                    kizuna_contract::audit::AUDIT_EXPORT_MEDIA_TYPE,
                ),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"kizuna-audit.jsonl\"",
                ),
            ],
            body,
        )
            .into_response(),
        _ => failed(&ctx, &RelayError::Internal("audit export failed".into())),
    }
}
