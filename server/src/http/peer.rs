//! Who the TLS peer is: the professional and device a client certificate names, read from the
//! certificate rustls has already verified against the relay's CA. The accept loop attaches
//! it to every request ([`super::extract::PeerInfo`]); the identity capability checks it
//! against the directory. Here, below every capability, so serving needs no rule.

use kizuna_core::{DeviceId, ProfessionalId};

/// URI prefix naming a professional in a device certificate.
pub const PROFESSIONAL_URI: &str = "urn:kizuna:professional:";
/// URI prefix naming a device in a device certificate.
pub const DEVICE_URI: &str = "urn:kizuna:device:";

/// The professional and device a client certificate was issued to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The person the device belongs to.
    pub professional: ProfessionalId,
    /// The device itself.
    pub device: DeviceId,
}

/// A verified client certificate as the relay sees it: who it names and its SHA-256, so the
/// relay can insist on the exact certificate it issued at enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCert {
    /// The professional and device named in the certificate.
    pub identity: DeviceIdentity,
    /// SHA-256 of the certificate's DER.
    pub sha256: [u8; 32],
    /// SHA-256 of the certificate's issuer name (DER): which of the relay's CAs issued it,
    /// during and after a CA rotation (`identity::authorities`).
    pub issuer: [u8; 32],
}

impl PeerCert {
    /// Reads a client certificate (DER) already verified against the CA by rustls.
    pub fn from_der(der: &[u8]) -> Option<PeerCert> {
        let identity = identity_from_cert(der)?;
        let d = ring::digest::digest(&ring::digest::SHA256, der);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(d.as_ref());
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let d = ring::digest::digest(&ring::digest::SHA256, cert.issuer().as_raw());
        let mut issuer = [0u8; 32];
        issuer.copy_from_slice(d.as_ref());
        Some(PeerCert {
            identity,
            sha256,
            issuer,
        })
    }

    /// The fingerprint as lower-case hex, as stored with the device.
    pub fn fingerprint(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Reads the professional and device named in a device certificate (DER). `None` when the
/// certificate names neither or is not parseable.
pub fn identity_from_cert(der: &[u8]) -> Option<DeviceIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut professional = None;
    let mut device = None;
    for name in &san.value.general_names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name {
            if let Some(rest) = uri.strip_prefix(PROFESSIONAL_URI) {
                professional = rest.parse().ok();
            } else if let Some(rest) = uri.strip_prefix(DEVICE_URI) {
                device = rest.parse().ok();
            }
        }
    }
    Some(DeviceIdentity {
        professional: professional?,
        device: device?,
    })
}
