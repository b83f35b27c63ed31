//! Device certificate renewal: an enrolled device, over mTLS with its current certificate,
//! trades a CSR for a new key made on the device for a new certificate of the *same* device
//! (`POST /v1/renew`).
//!
//! Which certificates a device may present afterwards: the new one, and the one the renewal
//! was asked with, until that one expires, the device is revoked, or the device renews again
//! with the new one (then only the newest and the one it renewed with count). Keeping the old
//! one means a phone whose answer was lost on the way (it stays on its old key) is not locked
//! out; dropping it at the next renewal means at most two certificates of a device are ever
//! accepted. A revoked device cannot renew, and revocation covers all its certificates: it
//! is a mark on the device, not on a certificate.
//!
//! The renewed certificate is kept as its own small record beside the device (meta key
//! `cert:<device id>`), never by rewriting the device record, which a revocation writes: a
//! renewal racing a revocation cannot undo it.

use crate::error::RelayError;
use crate::http::peer::{DeviceIdentity, PeerCert};
use crate::identity::directory::{Device, Professional};
use crate::identity::pki::{self, DEVICE_CERT_DAYS};
use crate::state::Relay;
use kizuna_contract::enrollment::RenewResponse;
use kizuna_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::PoisonError;

/// Prefix of the renewed-certificate record of each device (`cert:<device id>` → JSON).
const META_CERT: &str = "cert:";

/// A device's certificate after its last renewal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewedCert {
    /// SHA-256 of the newest certificate.
    pub fingerprint: String,
    /// SHA-256 of the certificate the renewal was asked with, still accepted until it
    /// expires (see the module documentation).
    pub previous: Option<String>,
    /// When the newest certificate expires.
    pub not_after: Timestamp,
    /// When it was issued.
    pub renewed_at: Timestamp,
}

/// When a certificate (PEM) expires, read from the certificate itself.
pub fn not_after_of(cert_pem: &str) -> Option<Timestamp> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let secs = cert.validity().not_after.timestamp();
    Some(Timestamp(secs.saturating_mul(1000)))
}

impl Relay {
    /// The device's renewed certificate, if it ever renewed.
    pub fn renewed_cert(&self, device: &Device) -> Result<Option<RenewedCert>, RelayError> {
        match self.dir.meta(&format!("{META_CERT}{}", device.id))? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(|_| {
                RelayError::Internal(format!("renewed certificate of {} unreadable", device.id))
            })?)),
            None => Ok(None),
        }
    }

    /// Whether `fingerprint` is a certificate the device may present: the enrolled one until
    /// the first renewal, then the newest and the one it was renewed with.
    pub fn accepts_cert(&self, device: &Device, fingerprint: &str) -> Result<bool, RelayError> {
        Ok(match self.renewed_cert(device)? {
            None => device.cert_fingerprint == fingerprint,
            Some(r) => r.fingerprint == fingerprint || r.previous.as_deref() == Some(fingerprint),
        })
    }

    /// The device as the administrator sees it: with its newest certificate's fingerprint
    /// and expiry.
    pub fn with_current_cert(&self, mut device: Device) -> Result<Device, RelayError> {
        if let Some(r) = self.renewed_cert(&device)? {
            device.cert_fingerprint = r.fingerprint;
            device.cert_not_after = Some(r.not_after);
        }
        if device.cert_not_after.is_none() {
            // Enrolled before the expiry was kept: issued with the enrollment, for two years.
            device.cert_not_after = Some(
                device
                    .enrolled_at
                    .plus_millis(DEVICE_CERT_DAYS * 86_400_000),
            );
        }
        Ok(device)
    }

    /// Renews the certificate of the device `auth` authenticated with `presented` (its
    /// certificate on this connection): signs `csr_pem` for the same professional and device,
    /// by the relay's clock, and records it. The device is checked again under the renewal
    /// lock, so a revocation that landed after authentication still refuses.
    pub fn renew_device_cert(
        &self,
        professional: &Professional,
        device: &Device,
        presented: &PeerCert,
        csr_pem: &str,
    ) -> Result<RenewResponse, RelayError> {
        pki::check_csr(csr_pem)?;
        let _one = self
            .renew_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now_device = self
            .dir
            .device(device.id)?
            .ok_or(RelayError::Unauthenticated)?;
        if now_device.revoked_at.is_some() {
            return Err(RelayError::Revoked {
                wipe: now_device.wipe,
            });
        }
        let presented = presented.fingerprint();
        if !self.accepts_cert(&now_device, &presented)? {
            // Superseded while this request waited for the lock.
            return Err(RelayError::Unauthenticated);
        }
        let id = DeviceIdentity {
            professional: professional.id,
            device: device.id,
        };
        // The CA issuing now: during a CA rotation the new one, whose certificate the answer
        // carries so the phone trusts it from now on.
        let ca = self.ca();
        let cert_pem = ca.issue_device_cert_at(
            csr_pem,
            id,
            &professional.name,
            &professional.organisation.name,
            self.clock().now_utc(),
        )?;
        let fingerprint = pki::pem_fingerprint(&cert_pem)
            .ok_or_else(|| RelayError::Internal("issued certificate unreadable".into()))?;
        let not_after = not_after_of(&cert_pem)
            .ok_or_else(|| RelayError::Internal("issued certificate unreadable".into()))?;
        let record = RenewedCert {
            fingerprint,
            previous: Some(presented),
            not_after,
            renewed_at: self.clock().now(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| RelayError::Internal(e.to_string()))?;
        self.audit().record(crate::audit::Entry {
            professional: Some(professional.id),
            device: Some(device.id),
            action: "device.renewed",
            subject: Some(device.id.to_string()),
            ..crate::audit::Entry::default()
        })?;
        self.dir
            .set_meta(&format!("{META_CERT}{}", device.id), &bytes)?;
        self.note_issuer(device.id, &ca.fingerprint())?;
        // Durable before the device gets the certificate it will rely on.
        self.dir.flush()?;
        tracing::info!(device = %device.id, not_after = not_after.0, "device certificate renewed");
        Ok(RenewResponse {
            device: device.id.0,
            certificate_pem: cert_pem,
            expires_at: not_after.into(),
            ca_pem: ca.cert_pem().to_string(),
        })
    }
}
