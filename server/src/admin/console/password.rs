//! Console passwords, stored only as PBKDF2-HMAC-SHA256 hashes (ring's `pbkdf2`): 600,000
//! iterations (OWASP's figure for this function), a 16-byte random salt per password, and
//! a constant-time comparison. We chose PBKDF2 from ring over argon2 so the relay keeps one
//! audited crypto library; the password is never the only factor (a TOTP code is always
//! needed too) and attempts are rate-limited, which is what makes online guessing hopeless.
//!
//! Stored form: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.

use ring::pbkdf2;
use std::num::NonZeroU32;

/// Iterations for new hashes.
pub const ITERATIONS: u32 = 600_000;
/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 12;
/// Longest password accepted, in characters.
pub const MAX_CHARS: usize = 200;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether a new password is acceptable; the reason if not.
pub fn check_new(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(format!("password: at least {MIN_CHARS} characters"));
    }
    if n > MAX_CHARS {
        return Err(format!("password: at most {MAX_CHARS} characters"));
    }
    Ok(())
}

/// Hashes a password for storage.
pub fn hash(password: &str) -> Result<String, ring::error::Unspecified> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)?;
    let mut out = [0u8; 32];
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(ring::error::Unspecified)?;
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        hex(&salt),
        hex(&out)
    ))
}

/// Checks a password against a stored hash (constant time in the hash comparison).
pub fn verify(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(want), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(iter), Some(salt), Some(want)) = (
        iter.parse::<u32>().ok().and_then(NonZeroU32::new),
        unhex(salt),
        unhex(want),
    ) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iter,
        &salt,
        password.as_bytes(),
        &want,
    )
    .is_ok()
}

/// A random password for the demo: 16 symbols from the enrollment-code alphabet (80 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(ALPHABET[usize::from(b % 32)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse battery").unwrap_or_default();
        let b = hash("correct horse battery").unwrap_or_default();
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterz", &a));
        assert!(!verify("correct horse battery", "pbkdf2-sha256$1$zz$00"));
        assert!(!verify("x", "plain"));
        assert!(check_new("short").is_err());
        assert!(check_new(&random_password()).is_ok());
    }
}
