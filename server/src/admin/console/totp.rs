//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second
//! steps, 6 digits — what every authenticator app (Google Authenticator, Microsoft
//! Authenticator, 1Password…) does by default. A dozen lines over ring's HMAC, so no extra
//! crate. Secrets are 160 random bits, shown in base32 as the apps expect.

use ring::hmac;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of now (clock drift of the phone).
pub const WINDOW: u64 = 1;

/// A fresh 160-bit secret.
pub fn new_secret() -> Result<Vec<u8>, ring::error::Unspecified> {
    let mut s = vec![0u8; 20];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s)?;
    Ok(s)
}

/// The secret as base32 without padding (what apps accept as "setup key").
pub fn encode_secret(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Reads a base32 secret, ignoring spaces, case and padding.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// HOTP value of `counter` (RFC 4226 section 5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[off]) & 0x7f) << 24
        | u32::from(h[off + 1]) << 16
        | u32::from(h[off + 2]) << 8
        | u32::from(h[off + 3]);
    bin % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The 6-digit code for a Unix time, zero-padded.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    format!("{:06}", hotp(secret, step_of(unix_secs), DIGITS))
}

/// Checks a typed code against now ± [`WINDOW`] steps. Returns the matching step, which
/// must be later than `after` (the step of the last code accepted), so a code works once.
pub fn verify(secret: &[u8], code: &str, unix_secs: u64, after: Option<u64>) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    // Compare every candidate (no early exit), in constant time per candidate.
    for step in now.saturating_sub(WINDOW)..=now + WINDOW {
        let want = format!("{:06}", hotp(secret, step, DIGITS));
        if super::csrf::constant_time_eq(want.as_bytes(), code.as_bytes())
            && after.is_none_or(|a| step > a)
        {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans.
pub fn otpauth_uri(secret_b32: &str, account: &str, issuer: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 are ours).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(secret, step_of(t), 8), want, "t = {t}");
            assert_eq!(code_at(secret, t), format!("{:06}", want % 1_000_000));
        }
    }

    #[test]
    fn verify_accepts_drift_and_refuses_replay() {
        let secret = b"12345678901234567890";
        let t = 1_111_111_109;
        let code = code_at(secret, t);
        let step = verify(secret, &code, t + 30, None);
        assert_eq!(step, Some(step_of(t)), "one step late is accepted");
        assert_eq!(verify(secret, &code, t + 120, None), None, "too late");
        assert_eq!(verify(secret, &code, t, step), None, "a code works once");
        assert_eq!(verify(secret, "12345", t, None), None);
        assert_eq!(verify(secret, "abcdef", t, None), None);
    }

    #[test]
    fn secrets_round_trip_in_base32() {
        let s = new_secret().unwrap_or_default();
        assert_eq!(s.len(), 20);
        let text = encode_secret(&s);
        assert_eq!(decode_secret(&text.to_lowercase()), Some(s));
        assert!(
            otpauth_uri(&text, "admin", "Kizuna")
                .starts_with("otpauth://totp/Kizuna:admin?secret=")
        );
    }
}
