//! Enrollment: one-time codes an administrator hands to a professional (shown as text and QR),
//! and their exchange, with the device's own CSR, for a device certificate. The rate limit per
//! source address keeps the codes' 60 bits out of reach of guessing.

use crate::error::RelayError;
use crate::http::peer::DeviceIdentity;
use crate::identity::directory::{Device, EnrollCode};
use crate::identity::pki;
use crate::state::Relay;
use kizuna_contract::enrollment::{EnrollCodeResponse, EnrollResponse};
use kizuna_core::fields::check_text;
use kizuna_core::{DeviceId, ProfessionalId, Timestamp};
use std::net::IpAddr;

/// The alphabet of enrollment codes: no 0/O or 1/I, so codes read aloud or typed survive.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Symbols in a code: 12 × 5 bits = 60 bits of randomness.
const CODE_LEN: usize = 12;

/// Makes a fresh code, shown as `XXXX-XXXX-XXXX`.
fn new_code() -> String {
    let mut out = String::with_capacity(CODE_LEN + 2);
    for i in 0..CODE_LEN {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = rand::random::<u8>() as usize % CODE_ALPHABET.len();
        out.push(CODE_ALPHABET[idx] as char);
    }
    out
}

/// The stored key of a code: SHA-256 of its normalised text (upper case, no dashes/spaces).
fn code_hash(code: &str) -> Option<[u8; 32]> {
    let norm: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if norm.len() != CODE_LEN || !norm.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return None;
    }
    let d = ring::digest::digest(&ring::digest::SHA256, norm.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Some(out)
}

/// Percent-encodes everything but unreserved characters (for the QR payload).
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Relay {
    /// Makes a one-time enrollment code for a professional's new device.
    pub fn create_enroll_code(
        &self,
        professional: ProfessionalId,
        valid_hours: Option<u32>,
    ) -> Result<EnrollCodeResponse, RelayError> {
        let p = self.active_professional(professional)?;
        let ttl_ms = match valid_hours {
            Some(h) if (1..=168).contains(&h) => i64::from(h) * 3_600_000,
            Some(_) => {
                return Err(RelayError::Invalid(
                    "valid_hours: must be between 1 and 168".into(),
                ));
            }
            None => i64::try_from(self.config.code_ttl.as_millis()).unwrap_or(86_400_000),
        };
        let code = new_code();
        let hash = code_hash(&code).ok_or_else(|| RelayError::Internal("code hash".into()))?;
        let now = Timestamp::now();
        let expires_at = now.plus_millis(ttl_ms);
        self.dir.put_enroll_code(
            hash,
            &EnrollCode {
                professional: p.id,
                created_at: now,
                expires_at,
            },
        )?;
        self.dir.flush()?;
        let fingerprint = self.ca().fingerprint();
        let qr_payload = format!(
            "kizuna://enroll?v=1&relay={}&ca=sha256:{}&code={}",
            pct(&self.public_url),
            fingerprint,
            code
        );
        tracing::info!(professional = %p.id, "enrollment code issued");
        Ok(EnrollCodeResponse {
            professional: p.id.0,
            code,
            expires_at: expires_at.into(),
            relay_url: self.public_url.clone(),
            ca_fingerprint: format!("sha256:{fingerprint}"),
            qr_payload,
        })
    }

    /// Stores a code with a given expiry; for tests of expiry and for tools.
    pub fn insert_enroll_code(
        &self,
        professional: ProfessionalId,
        code: &str,
        expires_at: Timestamp,
    ) -> Result<(), RelayError> {
        let hash = code_hash(code).ok_or_else(|| RelayError::Invalid("code: bad format".into()))?;
        self.dir.put_enroll_code(
            hash,
            &EnrollCode {
                professional,
                created_at: Timestamp::now(),
                expires_at,
            },
        )?;
        Ok(())
    }

    /// Enrolls a device that asked over the network: checks the rate limit for `source`,
    /// then does [`Relay::enroll_checked`].
    pub fn enroll(
        &self,
        source: IpAddr,
        code: &str,
        csr_pem: &str,
        label: Option<&str>,
    ) -> Result<EnrollResponse, RelayError> {
        if !self.limiter.allow(
            source,
            self.config.enroll_attempts,
            self.config.enroll_window,
        ) {
            tracing::warn!(source = %source, "enrollment rate limit hit");
            return Err(RelayError::RateLimited);
        }
        self.enroll_checked(source, code, csr_pem, label)
    }

    /// Enrolls a device: checks the CSR, then uses up the code and signs the device
    /// certificate. A malformed CSR does not use up the code. No rate limit: for enrollments
    /// made by the relay process itself (the administrator's first identity, the demo).
    pub fn enroll_checked(
        &self,
        source: IpAddr,
        code: &str,
        csr_pem: &str,
        label: Option<&str>,
    ) -> Result<EnrollResponse, RelayError> {
        let label = label.unwrap_or("device");
        check_text("label", label, 1, 64)?;
        // Parse before using up the code, so a broken app can retry with the same code.
        pki::check_csr(csr_pem)?;
        let Some(hash) = code_hash(code) else {
            return Err(RelayError::BadCode);
        };
        let Some(entry) = self.dir.take_enroll_code(hash)? else {
            tracing::info!(source = %source, "enrollment with unknown code");
            return Err(RelayError::BadCode);
        };
        if entry.expires_at < Timestamp::now() {
            tracing::info!(source = %source, "enrollment with expired code");
            return Err(RelayError::BadCode);
        }
        let p = match self.active_professional(entry.professional) {
            Ok(p) => p,
            Err(_) => return Err(RelayError::BadCode),
        };
        let id = DeviceIdentity {
            professional: p.id,
            device: DeviceId::new(),
        };
        // One CA for the certificate, its record and the answer, even if a rotation lands now.
        let ca = self.ca();
        let cert_pem = ca.issue_device_cert_at(
            csr_pem,
            id,
            &p.name,
            &p.organisation.name,
            self.clock().now_utc(),
        )?;
        let device = Device {
            id: id.device,
            professional: p.id,
            label: label.to_string(),
            enrolled_at: Timestamp::now(),
            cert_fingerprint: pki::pem_fingerprint(&cert_pem).unwrap_or_default(),
            cert_not_after: crate::identity::renewal::not_after_of(&cert_pem),
            revoked_at: None,
            wipe: false,
            last_seen: None,
        };
        // Audited before the device exists: an enrollment the log cannot record is not made.
        self.audit().record(crate::audit::Entry {
            professional: Some(p.id),
            device: Some(device.id),
            action: "device.enrolled",
            subject: Some(device.id.to_string()),
            ..crate::audit::Entry::default()
        })?;
        self.dir.put_device(&device)?;
        self.note_issuer(device.id, &ca.fingerprint())?;
        self.dir.flush()?;
        tracing::info!(professional = %p.id, device = %device.id, "device enrolled");
        Ok(EnrollResponse {
            professional: p.id.0,
            device: device.id.0,
            certificate_pem: cert_pem,
            ca_pem: ca.cert_pem().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalise_and_reject_bad_symbols() {
        let c = new_code();
        assert_eq!(c.len(), 14);
        assert!(code_hash(&c).is_some());
        assert_eq!(
            code_hash(&c),
            code_hash(&c.to_lowercase().replace('-', " "))
        );
        assert!(code_hash("0000-0000-0000").is_none());
        assert!(code_hash("ABCD").is_none());
    }
}
