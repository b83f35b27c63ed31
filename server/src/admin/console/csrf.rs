//! Cross-site request forgery defences. Every form that changes something carries the
//! session's random token in a hidden field, and the handler refuses the request unless it
//! matches (compared in constant time) — see [`CsrfForm`]. The login form, which has no
//! session yet, uses a double-submit token: a random value in a `__Host-` cookie that must
//! equal the form field. On top, the session cookie is `SameSite=Strict` and every POST
//! whose `Origin` header names another origin is refused before any handler runs
//! ([`same_origin`]).

use axum::http::{HeaderMap, Method, StatusCode};

/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "__Host-kizuna-login";

/// Whether two tokens are equal (constant time; empty never matches).
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// Compares two byte strings without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a state-changing request whose `Origin` is not this relay. Browsers send
/// `Origin` on every POST; a missing one (old clients, curl) is left to the token check.
pub fn same_origin(
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Result<(), StatusCode> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority);
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) if o == format!("https://{h}") => Ok(()),
        _ => Err(StatusCode::FORBIDDEN),
    }
}

/// A form with the CSRF token field.
pub trait HasCsrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_tokens() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&Method::POST, &h, None).is_ok());
        h.insert(
            axum::http::header::HOST,
            "127.0.0.1:8443"
                .parse()
                .unwrap_or(axum::http::HeaderValue::from_static("x")),
        );
        h.insert(
            axum::http::header::ORIGIN,
            axum::http::HeaderValue::from_static("https://127.0.0.1:8443"),
        );
        assert!(same_origin(&Method::POST, &h, None).is_ok());
        h.insert(
            axum::http::header::ORIGIN,
            axum::http::HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&Method::POST, &h, None).is_err());
        assert!(same_origin(&Method::GET, &h, None).is_ok());
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("", ""));
    }
}
