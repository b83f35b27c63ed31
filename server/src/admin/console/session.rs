//! Console sessions: kept on the server (in memory), found by a random token in a cookie
//! that scripts cannot read (`HttpOnly`), that travels only over TLS (`Secure`), never with
//! a request started by another site (`SameSite=Strict`), and that no other host or path
//! can set (`__Host-` prefix). The store keys sessions by the SHA-256 of the token, so a
//! memory dump does not hand out live cookies.
//!
//! A session ends after [`IDLE`] without a request, after [`ABSOLUTE`] in any case, at
//! logout, and when the relay restarts. A new token is issued at login (no fixation).

use kizuna_core::{DeviceId, ProfessionalId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const COOKIE: &str = "__Host-kizuna-console";
/// Idle timeout.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// Longest life of a session, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 3600);
/// Most sessions kept at once (the oldest go first beyond this).
pub const MAX_SESSIONS: usize = 1000;

/// A message shown once on the next page (after a redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

/// One signed-in administrator.
#[derive(Clone, Debug)]
pub struct Session {
    /// The administrator.
    pub admin: ProfessionalId,
    /// The device whose certificate was used at login; the session then only works on
    /// connections presenting that certificate.
    pub device: Option<DeviceId>,
    /// The CSRF token of every form in this session.
    pub csrf: String,
    /// A message for the next page.
    pub flash: Option<Flash>,
    /// When it was opened (wall clock, compared with when credentials last changed).
    pub opened_at: kizuna_core::Timestamp,
    created: Instant,
    last: Instant,
}

/// The store.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session; returns the cookie token.
    pub fn create(&self, admin: ProfessionalId, device: Option<DeviceId>) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            key(&token),
            Session {
                admin,
                device,
                csrf: random_token(),
                flash: None,
                opened_at: kizuna_core::Timestamp::now(),
                created: now,
                last: now,
            },
        );
        token
    }

    /// The live session of a token, marked as used now; takes its flash message.
    pub fn touch(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let k = key(token);
        let s = map.get_mut(&k)?;
        if !alive(s, now) {
            map.remove(&k);
            return None;
        }
        s.last = now;
        let out = s.clone();
        s.flash = None;
        Some(out)
    }

    /// Sets the message for the next page.
    pub fn flash(&self, token: &str, kind: &'static str, text: String) {
        if let Some(s) = self.lock().get_mut(&key(token)) {
            s.flash = Some(Flash { kind, text });
        }
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.lock().remove(&key(token));
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.created) < ABSOLUTE
}

/// A `Set-Cookie` value for a secret cookie (`HttpOnly`, `Secure`, `SameSite=Strict`).
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>) -> String {
    let mut c = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={}", a.as_secs()));
    }
    c
}

/// A `Set-Cookie` value that deletes a cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_token_and_end() {
        let s = Sessions::default();
        let a = ProfessionalId::new();
        let t = s.create(a, None);
        assert_eq!(s.touch(&t).map(|x| x.admin), Some(a));
        assert!(s.touch("nope").is_none());
        s.flash(&t, "ok", "done".into());
        assert!(s.touch(&t).and_then(|x| x.flash).is_some());
        assert!(s.touch(&t).and_then(|x| x.flash).is_none(), "shown once");
        s.remove(&t);
        assert!(s.touch(&t).is_none());
    }

    #[test]
    fn cookies_parse() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; __Host-kizuna-console=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(set_cookie(COOKIE, "x", None).contains("HttpOnly; SameSite=Strict"));
    }
}
