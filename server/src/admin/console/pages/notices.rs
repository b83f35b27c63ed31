//! `/console/notices`: post a city notice or a disaster/infection alert with importance and
//! expiry; see who has read each.

use super::{failed, parse_local};
use crate::admin::acts as admin;
use crate::admin::console::csrf::HasCsrf;
use crate::admin::console::{Chrome, CsrfForm, Ctx, render};
use crate::error::RelayError;
use askama::Template;
use axum::response::Response;
use kizuna_contract::notices::CityRoom;
use kizuna_core::model::{Importance, NoticeContent};
use serde::Deserialize;

/// A notice as listed.
#[derive(Debug)]
pub struct NoticeLine {
    id: String,
    title: String,
    body: String,
    stars: String,
    posted: String,
    author: String,
    expires: String,
    expired: bool,
    read_count: usize,
    audience: usize,
    readers: Vec<(String, String)>,
}

/// One city room's notices.
#[derive(Debug)]
pub struct Group {
    title: &'static str,
    notices: Vec<NoticeLine>,
}

#[derive(Template)]
#[template(path = "notices.html")]
struct Page {
    b: Chrome,
    groups: Vec<Group>,
}

fn build(ctx: &Ctx) -> Result<Page, RelayError> {
    let t = ctx.t();
    let mut groups = Vec::new();
    for (which, title) in [
        (CityRoom::Alerts, t.room_alerts),
        (CityRoom::Notices, t.room_notices),
    ] {
        let notices = ctx
            .relay()
            .notices(which)?
            .into_iter()
            .map(|v| NoticeLine {
                id: v.notice.id.to_string(),
                title: v.notice.content.title.clone(),
                body: v.notice.content.body.clone(),
                stars: "☆".repeat(usize::from(v.notice.content.importance.stars())),
                posted: ctx.lang.when(v.notice.posted_at),
                author: v.notice.author.name.clone(),
                expires: v
                    .notice
                    .content
                    .expires_at
                    .map(|x| ctx.lang.when(x))
                    .unwrap_or_default(),
                expired: v.expired,
                read_count: v.read_by.len(),
                audience: usize::try_from(v.audience).unwrap_or(usize::MAX),
                readers: v
                    .read_by
                    .iter()
                    .map(|r| (r.name.clone(), ctx.lang.when(r.read_at)))
                    .collect(),
            })
            .collect();
        groups.push(Group { title, notices });
    }
    Ok(Page {
        b: ctx.chrome(t.title_notices, "notices"),
        groups,
    })
}

/// The form and both rooms' notices.
pub async fn list(ctx: Ctx) -> Response {
    match build(&ctx) {
        Ok(p) => render(&p),
        Err(e) => failed(&ctx, &e),
    }
}

/// The posting form.
#[derive(Debug, Deserialize)]
pub struct PostForm {
    csrf: String,
    room: String,
    title: String,
    body: String,
    importance: u8,
    /// `YYYY-MM-DDTHH:MM` in Japan time (an `<input type=datetime-local>`), or empty.
    #[serde(default)]
    expires: String,
}

impl HasCsrf for PostForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Posts a notice (`admin::post_notice`).
pub async fn post(CsrfForm(ctx, form): CsrfForm<PostForm>) -> Response {
    let r = (|| {
        let which = CityRoom::from_key(&form.room)
            .ok_or_else(|| RelayError::Invalid("room: notices or alerts".into()))?;
        let importance = Importance::try_from(form.importance)
            .map_err(|e| RelayError::Invalid(e.to_string()))?;
        let content = NoticeContent {
            title: form.title.trim().to_string(),
            body: form.body.trim().to_string(),
            importance,
            expires_at: parse_local(&form.expires)?,
        };
        admin::post_notice(ctx.relay(), &ctx.actor(), which, &content)
    })();
    ctx.done(
        "/console/notices",
        r.map(|_| ctx.t().done_posted.to_string()),
    )
}
