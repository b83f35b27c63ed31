//! Enrollment from the scanned QR code: parse `kizuna://enroll?v=1&relay=…&ca=sha256:…&code=…`,
//! make the key pair on the device, send the CSR to `POST /v1/enroll` over TLS that trusts only
//! a relay whose chain carries the CA named in the QR code, and keep what comes back.
//! The session stores the result ([`Enrolled`]) sealed in the device store.

use crate::error::{ClientError, invalid};
use crate::transport::wire;
use kizuna_contract::enrollment::{EnrollRequest, EnrollResponse};
use kizuna_contract::{Problem, ProblemKind};
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What the QR code carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollPayload {
    /// `https://host:port` of the relay.
    pub relay: String,
    /// SHA-256 of the relay CA's certificate (DER), lower-case hex.
    pub ca_sha256: String,
    /// The one-time code.
    pub code: String,
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses the text of an enrollment QR code.
pub fn parse_payload(qr: &str) -> Result<EnrollPayload, ClientError> {
    let not_ours = || ClientError::EnrollmentRefused {
        reason: "this is not a Kizuna enrollment code".into(),
    };
    let query = qr
        .trim()
        .strip_prefix("kizuna://enroll?")
        .ok_or_else(not_ours)?;
    let (mut v, mut relay, mut ca, mut code) = (None, None, None, None);
    for pair in query.split('&') {
        let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
        let val = pct_decode(val).ok_or_else(|| invalid("qr_payload", "bad percent-encoding"))?;
        match k {
            "v" => v = Some(val),
            "relay" => relay = Some(val),
            "ca" => ca = Some(val),
            "code" => code = Some(val),
            _ => {}
        }
    }
    if v.as_deref() != Some("1") {
        return Err(ClientError::EnrollmentRefused {
            reason: "the QR code is for another version of Kizuna; update the app".into(),
        });
    }
    let relay = relay.ok_or_else(|| invalid("qr_payload.relay", "is missing"))?;
    if !relay.starts_with("https://") {
        return Err(invalid("qr_payload.relay", "must be an https:// address"));
    }
    let ca = ca.ok_or_else(|| invalid("qr_payload.ca", "is missing"))?;
    let ca_sha256 = ca
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| invalid("qr_payload.ca", "must be sha256:<64 hex digits>"))?
        .to_ascii_lowercase();
    let code = code
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| invalid("qr_payload.code", "is missing"))?;
    Ok(EnrollPayload {
        relay: relay.trim_end_matches('/').to_string(),
        ca_sha256,
        code,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Trusts a server whose presented chain includes the CA with the pinned fingerprint, and
/// whose certificate that CA signed for the host name (checked by webpki).
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| sha256_hex(c.as_ref()) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General("the relay's CA is not the one in the QR code".into())
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What enrollment produced: everything the device needs to reach the relay.
#[derive(Clone, Serialize, Deserialize)]
pub struct Enrolled {
    /// Relay address.
    pub relay: String,
    /// The relay's CA (pinned).
    pub ca_pem: String,
    /// This device's certificate.
    pub cert_pem: String,
    /// This device's private key (kept only in the encrypted store).
    pub key_pem: String,
    /// The professional.
    pub professional: String,
    /// The device.
    pub device: String,
}

impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolled")
            .field("relay", &self.relay)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The error for a refused enrollment: an unknown, used or expired code and too many
/// attempts (the contract's kinds) are [`ClientError::EnrollmentRefused`], for the person
/// holding the phone; anything else is a [`ClientError::Rejected`].
fn refusal(status: u16, body: &[u8]) -> ClientError {
    let p: Option<Problem> = serde_json::from_slice(body).ok();
    let kind = p.as_ref().and_then(Problem::kind);
    let detail = p.map_or_else(|| "no explanation".into(), |p| p.detail.unwrap_or(p.title));
    match kind {
        Some(ProblemKind::EnrollmentCodeInvalid | ProblemKind::RateLimited) => {
            ClientError::EnrollmentRefused { reason: detail }
        }
        _ => ClientError::Rejected { status, detail },
    }
}

/// A new P-256 key pair made on the device and a certificate request (PEM) for it, as
/// enrollment and renewal send it. The key never leaves the device.
pub(crate) fn new_key_and_csr() -> Result<(rcgen::KeyPair, String), ClientError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| {
        ClientError::Storage {
            detail: format!("key generation failed: {e}"),
        }
    })?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "kizuna device");
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| ClientError::Storage {
            detail: format!("certificate request failed: {e}"),
        })?;
    Ok((key, csr))
}

/// When the first certificate in `cert_pem` expires, in milliseconds since 1970; `None` if
/// it cannot be read.
pub fn cert_not_after_ms(cert_pem: &str) -> Option<i64> {
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(cert.validity().not_after.timestamp().saturating_mul(1000))
}

/// Enrolls with the relay named in `payload`: a new P-256 key made here, its CSR sent with
/// the code. The private key never leaves the device.
pub fn enroll(payload: &EnrollPayload, label: Option<&str>) -> Result<Enrolled, ClientError> {
    let (key, csr) = new_key_and_csr()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Storage {
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: payload.ca_sha256.clone(),
            provider,
        }))
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|_| ClientError::Offline)?;
    let body = serde_json::to_vec(&EnrollRequest {
        code: payload.code.trim().to_string(),
        csr_pem: csr,
        label: label.map(str::to_string),
    })
    .map_err(|e| ClientError::Storage {
        detail: e.to_string(),
    })?;
    let url = format!("{}/v1/enroll", payload.relay);
    let (status, bytes) = crate::runtime::get().block_on(async {
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // A CA mismatch shows up as a TLS failure: say so, it is not a signal problem.
                let mut chain = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    src = s.source();
                }
                if chain.contains("not the one in the QR code") {
                    ClientError::EnrollmentRefused {
                        reason: "the relay's certificate authority does not match the QR code"
                            .into(),
                    }
                } else {
                    tracing::debug!(error = %chain, "enrollment: relay unreachable");
                    ClientError::Offline
                }
            })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|_| ClientError::Offline)?;
        Ok::<_, ClientError>((status, bytes))
    })?;
    if !(200..300).contains(&status) {
        return Err(refusal(status, &bytes));
    }
    let resp: EnrollResponse = wire::decode("POST /v1/enroll", status, &bytes)?;
    // The CA we keep must be the one the QR code named.
    let ca_der = {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(resp.ca_pem.as_bytes()).map_err(|_| {
            ClientError::Rejected {
                status,
                detail: "the relay's CA is not PEM".into(),
            }
        })?
    };
    if sha256_hex(ca_der.as_ref()) != payload.ca_sha256 {
        return Err(ClientError::EnrollmentRefused {
            reason: "the relay's certificate authority does not match the QR code".into(),
        });
    }
    Ok(Enrolled {
        relay: payload.relay.clone(),
        ca_pem: resp.ca_pem,
        cert_pem: resp.certificate_pem,
        key_pem: key.serialize_pem(),
        professional: resp.professional.to_string(),
        device: resp.device.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_payload_the_relay_makes() {
        let h = "ab".repeat(32);
        let p = parse_payload(&format!(
            "kizuna://enroll?v=1&relay=https%3A%2F%2F127.0.0.1%3A8443&ca=sha256:{h}&code=ABCD-EFGH-JKLM"
        ))
        .unwrap();
        assert_eq!(p.relay, "https://127.0.0.1:8443");
        assert_eq!(p.ca_sha256, h);
        assert_eq!(p.code, "ABCD-EFGH-JKLM");
    }

    #[test]
    fn refusals_are_told_apart_by_the_contract_kind() {
        let body = |kind, detail: Option<&str>| {
            serde_json::to_vec(&Problem::new(kind, detail.map(str::to_string))).unwrap()
        };
        assert_eq!(
            refusal(
                403,
                &body(ProblemKind::EnrollmentCodeInvalid, Some("code expired"))
            ),
            ClientError::EnrollmentRefused {
                reason: "code expired".into()
            }
        );
        assert_eq!(
            refusal(429, &body(ProblemKind::RateLimited, None)),
            ClientError::EnrollmentRefused {
                reason: ProblemKind::RateLimited.title().into()
            }
        );
        assert!(matches!(
            refusal(400, &body(ProblemKind::InvalidCsr, None)),
            ClientError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            refusal(502, b"bad gateway"),
            ClientError::Rejected { status: 502, .. }
        ));
    }

    #[test]
    fn the_answer_is_read_as_the_contract_type() {
        let sent = EnrollResponse {
            professional: kizuna_core::ProfessionalId::new().0,
            device: kizuna_core::DeviceId::new().0,
            certificate_pem: "cert".into(),
            ca_pem: "ca".into(),
        };
        let body = serde_json::to_vec(&sent).unwrap();
        let read: EnrollResponse = wire::decode("POST /v1/enroll", 200, &body).unwrap();
        assert_eq!(read, sent);
        let broken = br#"{"professional":"00000000-0000-0000-0000-000000000001"}"#;
        let err = wire::decode::<EnrollResponse>("POST /v1/enroll", 200, broken).unwrap_err();
        assert!(format!("{err:?}").contains("is missing"), "{err:?}");
    }

    #[test]
    fn refuses_other_payloads() {
        assert!(matches!(
            parse_payload("https://example.com"),
            Err(ClientError::EnrollmentRefused { .. })
        ));
        assert!(matches!(
            parse_payload("kizuna://enroll?v=2&relay=https%3A%2F%2Fx&ca=sha256:00&code=A"),
            Err(ClientError::EnrollmentRefused { .. })
        ));
        assert!(matches!(
            parse_payload("kizuna://enroll?v=1&relay=http%3A%2F%2Fx&ca=sha256:00&code=A"),
            Err(ClientError::InvalidInput { .. })
        ));
    }
}
