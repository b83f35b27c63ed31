//! The city's admin console: server-rendered HTML pages under `/console/…`, served by the
//! relay on the same TLS port as the API.
//!
//! - [`auth`]: two-factor login (certificate or password, plus TOTP), credentials, limits;
//!   [`totp`] and [`password`]: the two factor primitives.
//! - [`session`]: server-side sessions and their cookies; [`csrf`]: forgery defences.
//! - [`i18n`]: Japanese (default) and English texts.
//! - [`pages`]: one module per area (professionals, devices, rooms, notices, audit, care
//!   plans); [`qr_png`]: enrollment QR codes as PNG.
//!
//! Every change goes through [`crate::admin::acts`], the same functions the JSON admin API calls,
//! so the console is another door to the same acts, never a second implementation.
//!
//! Templates: **askama**. It compiles the templates (`src/console/templates/`) into Rust at
//! build time: rendering is plain string pushing with no parsing at run time, a field a
//! template names that the page does not have is a compile error, and HTML escaping is on
//! by default. minijinja would parse at start and fail at run time instead; a page set this
//! small gains nothing from run-time templates. There is no JavaScript at all: forms and
//! links only, so the Content-Security-Policy can forbid scripts outright.

pub mod auth;
pub mod csrf;
pub mod i18n;
pub mod pages;
pub mod password;
pub mod qr_png;
pub mod session;
pub mod totp;

use crate::admin::acts::Actor;
use crate::error::RelayError;
use crate::http::extract::PeerInfo;
use crate::identity::directory::Professional;
use crate::state::Relay;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use i18n::{LANG_COOKIE, Lang, Text};
use session::{Flash, Session, Sessions};
use std::sync::Arc;

/// Largest form body (the care-plan upload has its own, larger limit).
pub const MAX_FORM: usize = 64 * 1024;
/// Largest care-plan upload.
pub const MAX_UPLOAD: usize = 4 * 1024 * 1024;

/// The console's state: the relay, the sessions and the login limits.
#[derive(Debug)]
pub struct Console {
    /// The relay whose rules every page uses.
    pub relay: Arc<Relay>,
    /// Signed-in administrators.
    pub sessions: Sessions,
    /// Login attempts per address and failures per account.
    pub throttle: auth::Throttle,
}

/// The console's shared state in handlers.
pub type ConsoleState = Arc<Console>;

/// The console's routes, to be merged into the relay's router.
pub fn router<S: Clone + Send + Sync + 'static>(relay: Arc<Relay>) -> Router<S> {
    let state = Arc::new(Console {
        relay,
        sessions: Sessions::default(),
        throttle: auth::Throttle::default(),
    });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::home::show))
        .route("/console/static/console.css", get(stylesheet))
        .route(
            "/console/login",
            get(pages::login::show).post(pages::login::submit),
        )
        .route("/console/logout", post(pages::login::logout))
        .route(
            "/console/professionals",
            get(pages::professionals::list).post(pages::professionals::register),
        )
        .route(
            "/console/professionals/{id}",
            get(pages::professionals::show).post(pages::professionals::edit),
        )
        .route(
            "/console/professionals/{id}/remove",
            post(pages::professionals::remove),
        )
        .route(
            "/console/professionals/{id}/enroll",
            post(pages::professionals::enroll),
        )
        .route("/console/devices", get(pages::devices::list))
        .route("/console/devices/{id}/revoke", post(pages::devices::revoke))
        .route(
            "/console/rooms",
            get(pages::rooms::list).post(pages::rooms::create),
        )
        .route("/console/rooms/{id}", get(pages::rooms::show))
        .route("/console/rooms/{id}/members", post(pages::rooms::invite))
        .route(
            "/console/rooms/{id}/members/{professional}/remove",
            post(pages::rooms::remove_member),
        )
        .route("/console/rooms/{id}/archive", post(pages::rooms::archive))
        .route(
            "/console/rooms/{id}/consent-form",
            get(pages::rooms::consent_form_file)
                .post(pages::rooms::consent_form)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route(
            "/console/notices",
            get(pages::notices::list).post(pages::notices::post),
        )
        .route("/console/audit", get(pages::audit::show))
        .route("/console/audit/export", get(pages::audit::export))
        .route(
            "/console/careplans",
            get(pages::careplans::show)
                .post(pages::careplans::upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::from_fn(guard))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// Around every console request: refuses cross-origin POSTs, remembers `?lang=`, and sets
/// the security headers (no scripts, no framing, no caching of pages with patient names).
async fn guard(req: Request, next: Next) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str().to_string());
    if let Err(status) = csrf::same_origin(req.method(), req.headers(), authority.as_deref()) {
        tracing::warn!(origin = ?req.headers().get(header::ORIGIN), host = ?req.headers().get(header::HOST), authority = ?authority, "console POST from another origin refused");
        return (status, "cross-origin request refused").into_response();
    }
    let lang = query_lang(req.uri().query());
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(l) = lang {
        let c = format!(
            "{LANG_COOKIE}={}; Path=/console; Secure; SameSite=Strict; Max-Age=31536000",
            l.code()
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn query_lang(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::from_code(v))
}

/// The language of a request: `?lang=`, else the cookie, else Japanese.
pub fn lang_of(parts: &Parts) -> Lang {
    query_lang(parts.uri.query())
        .or_else(|| session::cookie(&parts.headers, LANG_COOKIE).and_then(Lang::from_code))
        .unwrap_or(Lang::Ja)
}

/// The frame of every page: language, navigation, the signed-in administrator, the
/// session's CSRF token and the flash message.
#[derive(Debug)]
pub struct Chrome {
    /// Texts.
    pub t: &'static Text,
    /// `ja` or `en`.
    pub lang: &'static str,
    /// The other language's code.
    pub other_lang: &'static str,
    /// The page title.
    pub title: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    /// Whether an administrator is signed in (navigation shown).
    pub signed_in: bool,
    /// Their name.
    pub admin_name: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// A message from the previous action.
    pub flash: Option<Flash>,
}

/// A signed-in administrator's request.
#[derive(Debug)]
pub struct Ctx {
    /// The console.
    pub console: ConsoleState,
    /// The session cookie's token.
    pub token: String,
    /// The session.
    pub session: Session,
    /// The administrator.
    pub admin: Professional,
    /// The page language.
    pub lang: Lang,
}

impl Ctx {
    /// The relay.
    pub fn relay(&self) -> &Relay {
        &self.console.relay
    }

    /// The texts.
    pub fn t(&self) -> &'static Text {
        self.lang.text()
    }

    /// Who performs this request's acts (for [`crate::admin::acts`] and the audit log).
    pub fn actor(&self) -> Actor {
        Actor {
            professional: self.admin.clone(),
            device: self.session.device,
        }
    }

    /// The frame of a page.
    pub fn chrome(&self, title: &str, nav: &'static str) -> Chrome {
        Chrome {
            t: self.t(),
            lang: self.lang.code(),
            other_lang: self.lang.other(),
            title: title.to_string(),
            nav,
            signed_in: true,
            admin_name: self.admin.name.clone(),
            csrf: self.session.csrf.clone(),
            flash: self.session.flash.clone(),
        }
    }

    /// After a form: a message for the next page and a redirect (POST → redirect → GET).
    pub fn done(&self, to: &str, result: Result<String, RelayError>) -> Response {
        // `to` is built from path ids and form fields: one with a CR/LF (or anything not
        // fit for a `Location` header) is a bad request, never a panic in `Redirect::to`.
        if !safe_location(to) {
            let text = match &result {
                Ok(text) => text.clone(),
                Err(e) => self.error_text(e),
            };
            return (StatusCode::BAD_REQUEST, message_page(self, &text)).into_response();
        }
        match result {
            Ok(text) => self.console.sessions.flash(&self.token, "ok", text),
            Err(e) => {
                let text = self.error_text(&e);
                self.console.sessions.flash(&self.token, "error", text);
            }
        }
        Redirect::to(to).into_response()
    }

    /// What to tell the administrator about an error (never internal detail).
    pub fn error_text(&self, e: &RelayError) -> String {
        let t = self.t();
        match e {
            RelayError::Internal(d) => {
                tracing::error!(error = %d, "console action failed");
                t.error_internal.to_string()
            }
            RelayError::Csr(_) => t.error_internal.to_string(),
            other => format!("{}: {other}", t.error),
        }
    }
}

/// Whether `to` is a console path that can go into a `Location` header as it is.
fn safe_location(to: &str) -> bool {
    to.starts_with("/console")
        && to
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.?=&%~".contains(&b))
}

/// Sends the browser to the login page.
fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

impl FromRequestParts<ConsoleState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &ConsoleState,
    ) -> Result<Self, Response> {
        let lang = lang_of(parts);
        let Some(token) = session::cookie(&parts.headers, session::COOKIE).map(str::to_string)
        else {
            return Err(to_login());
        };
        let Some(session) = console.sessions.touch(&token) else {
            return Err(to_login());
        };
        let relay = &console.relay;
        // The administrator must still be one, on every request.
        let admin = match relay.directory().professional(session.admin) {
            Ok(Some(p)) if p.is_active() && p.is_admin() => p,
            _ => {
                console.sessions.remove(&token);
                return Err(to_login());
            }
        };
        // Setting new credentials ends the sessions opened before.
        let changed = auth::credentials_changed_at(relay, admin.id).ok().flatten();
        if changed.is_none_or(|c| c > session.opened_at) {
            console.sessions.remove(&token);
            return Err(to_login());
        }
        // A session opened with a certificate works only on connections presenting that
        // certificate, and only while the device is not revoked.
        if let Some(device) = session.device {
            let cert = parts.extensions.get::<PeerInfo>().and_then(|p| p.cert);
            let ok = matches!(relay.authenticate(cert), Ok((p, d)) if d.id == device && p.id == admin.id);
            if !ok {
                console.sessions.remove(&token);
                return Err(to_login());
            }
        }
        Ok(Ctx {
            console: console.clone(),
            token,
            session,
            admin,
            lang,
        })
    }
}

/// A form that changes something: the signed-in administrator plus the parsed form, whose
/// CSRF token has been checked against the session's. Every POST handler of the console
/// takes one (the care-plan upload checks its multipart field the same way).
#[derive(Debug)]
pub struct CsrfForm<T>(pub Ctx, pub T);

impl<T> FromRequest<ConsoleState> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + csrf::HasCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| bad_request(&ctx))?;
        let as_form = |bytes: axum::body::Bytes| {
            Request::builder()
                .method(axum::http::Method::POST)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(bytes))
                .unwrap_or_default()
        };
        // The token first (a form without one is refused as forged, not as malformed).
        #[derive(serde::Deserialize)]
        struct TokenOnly {
            #[serde(default)]
            csrf: String,
        }
        let token = axum::Form::<TokenOnly>::from_request(as_form(bytes.clone()), state)
            .await
            .map(|f| f.0.csrf)
            .unwrap_or_default();
        if !csrf::tokens_match(&token, &ctx.session.csrf) {
            return Err(csrf_refused(&ctx));
        }
        let axum::Form(form) = axum::Form::<T>::from_request(as_form(bytes), state)
            .await
            .map_err(|_| bad_request(&ctx))?;
        if !csrf::tokens_match(form.csrf(), &ctx.session.csrf) {
            return Err(csrf_refused(&ctx));
        }
        Ok(CsrfForm(ctx, form))
    }
}

/// The answer to a form whose CSRF token is wrong or missing.
pub fn csrf_refused(ctx: &Ctx) -> Response {
    tracing::warn!("console form with a wrong CSRF token refused");
    (StatusCode::FORBIDDEN, message_page(ctx, ctx.t().error_csrf)).into_response()
}

fn bad_request(ctx: &Ctx) -> Response {
    (StatusCode::BAD_REQUEST, message_page(ctx, ctx.t().error)).into_response()
}

/// A page with just a message.
pub fn message_page(ctx: &Ctx, text: &str) -> Response {
    #[derive(Template)]
    #[template(
        source = "{% extends \"layout.html\" %}{% block content %}<p class=\"flash error\" id=\"message\">{{ text }}</p><p><a href=\"/console/\">{{ b.t.back }}</a></p>{% endblock %}",
        ext = "html"
    )]
    struct Message<'a> {
        b: Chrome,
        text: &'a str,
    }
    render(&Message {
        b: ctx.chrome(ctx.t().error, ""),
        text,
    })
}

/// Renders a page as `text/html`.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    }
}
