//! `GET/POST /console/login` and `POST /console/logout`.

use crate::admin::acts::{self as admin, Actor};
use crate::admin::console::auth::{self, Factors, MAX_ATTEMPTS_PER_IP, MAX_FAILURES_PER_ACCOUNT};
use crate::admin::console::csrf::{self, HasCsrf, LOGIN_COOKIE};
use crate::admin::console::session::{self, Flash, clear_cookie, set_cookie};
use crate::admin::console::{Chrome, ConsoleState, CsrfForm, lang_of, render};
use crate::http::extract::PeerInfo;
use crate::identity::directory::Professional;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use kizuna_core::DeviceId;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    b: Chrome,
    login_csrf: String,
    cert_admin: Option<String>,
}

/// The administrator whose enrolled device's certificate this connection presents, if any.
fn cert_admin(console: &ConsoleState, peer: Option<&PeerInfo>) -> Option<(Professional, DeviceId)> {
    let cert = peer.and_then(|p| p.cert);
    match console.relay.authenticate(cert) {
        Ok((p, d)) if p.is_admin() => Some((p, d.id)),
        _ => None,
    }
}

fn page(
    console: &ConsoleState,
    parts_lang: crate::admin::console::i18n::Lang,
    peer: Option<&PeerInfo>,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let t = parts_lang.text();
    let token = session::random_token();
    let b = Chrome {
        t,
        lang: parts_lang.code(),
        other_lang: parts_lang.other(),
        title: t.title_login.to_string(),
        nav: "",
        signed_in: false,
        admin_name: String::new(),
        csrf: String::new(),
        flash,
    };
    let mut resp = render(&LoginPage {
        b,
        login_csrf: token.clone(),
        cert_admin: cert_admin(console, peer).map(|(p, _)| p.name),
    });
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LOGIN_COOKIE, &token, None)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The login form.
pub async fn show(
    State(console): State<ConsoleState>,
    peer: Option<Extension<PeerInfo>>,
    parts: Parts,
) -> Response {
    let lang = lang_of(&parts);
    let bye = parts.uri.query().is_some_and(|q| q.contains("bye=1"));
    let flash = bye.then(|| Flash {
        kind: "ok",
        text: lang.text().logged_out.to_string(),
    });
    page(&console, lang, peer.as_deref(), flash, StatusCode::OK)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: String,
    method: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    code: String,
}

/// Checks both factors and opens a session.
pub async fn submit(
    State(console): State<ConsoleState>,
    peer: Option<Extension<PeerInfo>>,
    headers: HeaderMap,
    parts: Parts,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let lang = lang_of(&parts);
    let t = lang.text();
    let peer = peer.as_deref().copied();
    let fail = |text: &str, status: StatusCode| {
        page(
            &console,
            lang,
            peer.as_ref(),
            Some(Flash {
                kind: "error",
                text: text.to_string(),
            }),
            status,
        )
    };
    let ip = peer.map_or_else(|| "-".to_string(), |p| p.addr.ip().to_string());
    let relay = console.relay.clone();
    // Every attempt goes into the audit log with its outcome (never the password or code).
    let record = |who: Option<&Professional>, device: Option<DeviceId>, reason: &str| {
        let action = if reason == "ok" {
            "admin.console.login"
        } else {
            "admin.console.login_failed"
        };
        if let Err(e) = login_audit(&relay, who, device, action, reason, &ip) {
            tracing::error!(error = %e, "console login not audited");
        }
    };
    let cookie = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !csrf::tokens_match(cookie, &form.csrf) {
        record(None, None, "forged-form");
        return fail(t.error_csrf, StatusCode::FORBIDDEN);
    }
    if !console
        .throttle
        .hit(&format!("ip:{ip}"), MAX_ATTEMPTS_PER_IP)
    {
        tracing::warn!(source = %ip, "console login rate limit hit");
        record(None, None, "throttled-address");
        return fail(t.login_throttled, StatusCode::TOO_MANY_REQUESTS);
    }
    // First factor: who is it?
    let login = form.login.trim().to_string();
    let (who, device, password) = if form.method == "certificate" {
        match cert_admin(&console, peer.as_ref()) {
            Some((p, d)) => (Some(p), Some(d), None),
            None => (None, None, None),
        }
    } else {
        let p = auth::lookup_login(&relay, &login)
            .ok()
            .flatten()
            .and_then(|id| relay.directory().professional(id).ok().flatten())
            .filter(|p| p.is_active() && p.is_admin());
        (p, None, Some(form.password.clone()))
    };
    // The account's failure budget is reserved before anything is checked, atomically: at
    // most MAX_FAILURES_PER_ACCOUNT attempts are ever checked per window, even when many
    // arrive at once. Unknown names have a budget of their own, so they lock the same way.
    let account = match (&who, form.method == "certificate") {
        (Some(p), _) => format!("acct:{}", p.id),
        (None, true) => format!("cert:{ip}"),
        (None, false) => format!("name:{}", login.chars().take(64).collect::<String>()),
    };
    if !console.throttle.reserve(&account, MAX_FAILURES_PER_ACCOUNT) {
        tracing::warn!(professional = ?who.as_ref().map(|p| p.id), "console login refused: too many failures");
        record(who.as_ref(), device, "throttled-account");
        return fail(t.login_throttled, StatusCode::TOO_MANY_REQUESTS);
    }
    let Some(who) = who else {
        // Spend the same time as a real check, so a wrong login name is not told apart.
        let pw = form.password.clone();
        let _ = tokio::task::spawn_blocking(move || {
            crate::admin::console::password::verify(&pw, DUMMY_HASH)
        })
        .await;
        let reason = if form.method == "certificate" {
            "no-certificate"
        } else {
            "unknown-name"
        };
        record(None, None, reason);
        return fail(t.login_failed, StatusCode::UNAUTHORIZED);
    };
    let code = form.code.clone();
    let pid = who.id;
    let r2 = relay.clone();
    let checked = tokio::task::spawn_blocking(move || {
        auth::check_factors(&r2, pid, password.as_deref(), &code)
    })
    .await;
    let actor = Actor {
        professional: who.clone(),
        device,
    };
    match checked {
        Ok(Ok(Factors::Ok)) => console.throttle.release(&account),
        Ok(Ok(wrong)) => {
            record(Some(&who), device, wrong.reason());
            return fail(t.login_failed, StatusCode::UNAUTHORIZED);
        }
        Ok(Err(e)) => {
            console.throttle.release(&account);
            tracing::error!(error = %e, "console login check failed");
            return fail(t.error_internal, StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(_) => {
            console.throttle.release(&account);
            return fail(t.error_internal, StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let token = console.sessions.create(who.id, device);
    if login_audit(
        &relay,
        Some(&actor.professional),
        device,
        "admin.console.login",
        "ok",
        &ip,
    )
    .is_err()
    {
        console.sessions.remove(&token);
        return fail(t.error_internal, StatusCode::INTERNAL_SERVER_ERROR);
    }
    tracing::info!(professional = %who.id, certificate = device.is_some(), "console login");
    let mut resp = Redirect::to("/console/").into_response();
    for c in [
        set_cookie(session::COOKIE, &token, None),
        clear_cookie(LOGIN_COOKIE),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Records one login attempt: who (when known), the outcome as `reason`, and the source
/// address as subject. Never the login name typed (it may be a mistyped password), the
/// password or the code.
fn login_audit(
    relay: &crate::state::Relay,
    who: Option<&Professional>,
    device: Option<DeviceId>,
    action: &'static str,
    reason: &str,
    ip: &str,
) -> Result<(), crate::error::RelayError> {
    relay
        .audit()
        .record(crate::audit::Entry {
            professional: who.map(|p| p.id),
            device,
            action,
            subject: Some(format!("ip:{ip}")),
            reason: Some(reason.to_string()),
            ..crate::audit::Entry::default()
        })
        .map_err(|e| crate::error::RelayError::Internal(e.to_string()))
}

/// A hash of nothing anyone types, to spend equal time on unknown login names.
const DUMMY_HASH: &str = "pbkdf2-sha256$600000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000";

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

impl HasCsrf for LogoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Ends the session.
pub async fn logout(CsrfForm(ctx, _): CsrfForm<LogoutForm>) -> Response {
    ctx.console.sessions.remove(&ctx.token);
    let _ = admin::audit(
        ctx.relay(),
        &ctx.actor(),
        "admin.console.logout",
        None,
        ctx.admin.id,
    );
    let mut resp = Redirect::to("/console/login?bye=1").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(session::COOKIE)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
