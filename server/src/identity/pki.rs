//! The relay's own certificate authority and the TLS configurations built on it.
//!
//! The relay is its own CA so that a city needs no outside PKI: it issues a fresh server
//! certificate at every start and one client certificate per enrolled device. A device
//! certificate names the professional and the device as URIs in the subject alternative name
//! (`urn:kizuna:professional:<uuid>`, `urn:kizuna:device:<uuid>`), so the relay can find the
//! directory entry of every TLS peer without trusting anything the client sends in HTTP.

pub use crate::http::peer::{
    DEVICE_URI, DeviceIdentity, PROFESSIONAL_URI, PeerCert, identity_from_cert,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Something went wrong creating, loading or using certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to build or parse a certificate or key.
    #[error("certificate error: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused a configuration (wrong key type, bad root…).
    #[error("tls configuration error: {0}")]
    Tls(#[from] rustls::Error),
    /// A file could not be read or written.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// A PEM file did not hold what it should.
    #[error("PEM error: {0}")]
    Pem(String),
    /// A client verifier could not be built from the CA.
    #[error("client verifier error: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// How long a device certificate is valid. Revocation is immediate through the directory;
/// expiry only bounds the life of a certificate that was copied off a device.
pub const DEVICE_CERT_DAYS: i64 = 730;
/// How long the relay's CA is valid.
pub const CA_DAYS: i64 = 3650;
/// How long a server certificate is valid; a new one is made at every start and whenever
/// fewer than [`SERVER_CERT_RENEW_DAYS`] remain (`identity::server_cert`).
pub const SERVER_CERT_DAYS: i64 = 90;
/// The server certificate is replaced when fewer days than this remain: a relay whose
/// renewal fails (full disk, a bug) has a month of warnings before phones are refused.
pub const SERVER_CERT_RENEW_DAYS: i64 = 30;

/// The relay's certificate authority: its certificate and signing key.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn validity(params: &mut CertificateParams, days: i64) {
    validity_at(params, time::OffsetDateTime::now_utc(), days);
}

fn validity_at(params: &mut CertificateParams, now: time::OffsetDateTime, days: i64) {
    // A little slack before now so a device whose clock is a few minutes behind still accepts.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

impl Ca {
    fn params(name: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Kizuna relay");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        validity(&mut params, CA_DAYS);
        params
    }

    /// Creates a new CA with a fresh P-256 key.
    pub fn create(name: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = Ca::params(name);
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().clone();
        Ok(Ca {
            cert_pem,
            cert_der,
            issuer: Issuer::new(params, key),
        })
    }

    /// Creates the next CA of a rotation, named `name`, and the same CA certificate signed by
    /// `self` (the cross-signed certificate): a phone that trusts only `self` verifies a server
    /// certificate of the new CA through it (`identity::authorities`).
    pub fn create_cross_signed(
        &self,
        name: &str,
    ) -> Result<(Ca, CertificateDer<'static>), PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = Ca::params(name);
        let cert = params.self_signed(&key)?;
        params.serial_number = Some(random_serial());
        let cross = params.signed_by(&key, &self.issuer)?;
        params.serial_number = None;
        let ca = Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        };
        Ok((ca, cross.der().clone()))
    }

    /// Whether `key_pem` is this CA's private key's partner: the key of `cert_pem`.
    pub fn key_matches(cert_pem: &str, key_pem: &str) -> bool {
        let Ok(key) = KeyPair::from_pem(key_pem) else {
            return false;
        };
        let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
            return false;
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
            return false;
        };
        cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
    }

    /// Loads a CA from its PEM certificate and PEM private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::Pem(e.to_string()))?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            cert_der,
            issuer,
        })
    }

    /// Loads `ca.crt` and `ca.key` from `dir`, or creates and writes them (key mode 0600).
    pub fn load_or_create(dir: &Path) -> Result<Ca, PkiError> {
        let crt = dir.join("ca.crt");
        let key = dir.join("ca.key");
        if crt.exists() && key.exists() {
            let c = std::fs::read_to_string(&crt)?;
            let k = std::fs::read_to_string(&key)?;
            return Ca::from_pem(&c, &k);
        }
        let ca = Ca::create("Kizuna relay CA")?;
        write_private(&key, &ca.key_pem())?;
        std::fs::write(&crt, ca.cert_pem())?;
        Ok(ca)
    }

    /// The CA certificate in PEM, handed to devices and curl.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA private key in PEM; only ever written to a 0600 file.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// SHA-256 of the CA's subject name (DER): what a certificate it issued carries as its
    /// issuer ([`PeerCert::issuer`]), so the relay knows which of its CAs issued a peer's.
    pub fn subject_sha256(&self) -> [u8; 32] {
        name_sha256(&self.cert_der, false).unwrap_or([0; 32])
    }

    /// The CA's common name ("Kizuna relay CA 2").
    pub fn name(&self) -> String {
        common_name(&self.cert_der).unwrap_or_default()
    }

    /// When the CA certificate expires, in seconds since 1970.
    pub fn not_after(&self) -> i64 {
        cert_not_after(&self.cert_der).unwrap_or(0)
    }

    /// SHA-256 of the CA certificate (lower-case hex). Put in the enrollment QR code so a phone
    /// can pin the right relay before it sends a single byte.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.cert_der)
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses) with a fresh key.
    pub fn issue_server_cert(
        &self,
        names: &[String],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), PkiError> {
        self.issue_server_cert_at(names, time::OffsetDateTime::now_utc())
    }

    /// [`Ca::issue_server_cert`] valid from `now` (the relay's clock, `identity::clock`).
    pub fn issue_server_cert_at(
        &self,
        names: &[String],
        now: time::OffsetDateTime,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Kizuna relay");
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        validity_at(&mut params, now, SERVER_CERT_DAYS);
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| PkiError::Pem(e.to_string()))?;
        Ok((cert.der().clone(), key_der))
    }

    /// Signs a device certificate for the key in `csr_pem`. Only the public key is taken from
    /// the request; the names in the certificate are the relay's, never the requester's.
    pub fn issue_device_cert(
        &self,
        csr_pem: &str,
        id: DeviceIdentity,
        display_name: &str,
        organisation: &str,
    ) -> Result<String, CsrError> {
        self.issue_device_cert_at(
            csr_pem,
            id,
            display_name,
            organisation,
            time::OffsetDateTime::now_utc(),
        )
    }

    /// [`Ca::issue_device_cert`] valid from `now` (the relay's clock) for
    /// [`DEVICE_CERT_DAYS`]: used by enrollment and by renewal (`identity::renewal`).
    pub fn issue_device_cert_at(
        &self,
        csr_pem: &str,
        id: DeviceIdentity,
        display_name: &str,
        organisation: &str,
        now: time::OffsetDateTime,
    ) -> Result<String, CsrError> {
        let mut csr = parse_csr(csr_pem)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, display_name);
        dn.push(DnType::OrganizationName, organisation);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::URI(
                format!("{PROFESSIONAL_URI}{}", id.professional)
                    .try_into()
                    .map_err(|_| CsrError::Internal)?,
            ),
            SanType::URI(
                format!("{DEVICE_URI}{}", id.device)
                    .try_into()
                    .map_err(|_| CsrError::Internal)?,
            ),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        validity_at(&mut params, now, DEVICE_CERT_DAYS);
        csr.params = params;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(|_| CsrError::Internal)?;
        Ok(cert.pem())
    }
}

/// Why a certificate signing request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// Not PEM, not a CSR, or the signature does not verify.
    #[error("the CSR could not be parsed or its signature does not verify")]
    Malformed,
    /// The key type is not one the relay accepts.
    #[error("the CSR's key type is not accepted (use ECDSA P-256, P-384 or Ed25519)")]
    KeyType,
    /// Signing failed on the relay's side.
    #[error("the certificate could not be issued")]
    Internal,
}

impl CsrError {
    /// Whether the relay, not the CSR, is at fault: the HTTP layer logs it and answers `500`
    /// without detail instead of telling the device its request was bad.
    pub fn is_internal(&self) -> bool {
        matches!(self, CsrError::Internal)
    }
}

/// Largest CSR accepted, in bytes of PEM.
pub const MAX_CSR_LEN: usize = 8 * 1024;

/// Checks a CSR without signing anything: parseable, signature verifies, accepted key type.
pub fn check_csr(csr_pem: &str) -> Result<(), CsrError> {
    parse_csr(csr_pem).map(|_| ())
}

fn parse_csr(csr_pem: &str) -> Result<CertificateSigningRequestParams, CsrError> {
    if csr_pem.len() > MAX_CSR_LEN || !csr_pem.contains("-----BEGIN CERTIFICATE REQUEST-----") {
        return Err(CsrError::Malformed);
    }
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
        rcgen::Error::UnsupportedSignatureAlgorithm => CsrError::KeyType,
        _ => CsrError::Malformed,
    })?;
    let alg = csr.public_key.algorithm();
    let ok = alg == &rcgen::PKCS_ECDSA_P256_SHA256
        || alg == &rcgen::PKCS_ECDSA_P384_SHA384
        || alg == &rcgen::PKCS_ED25519;
    if !ok {
        return Err(CsrError::KeyType);
    }
    Ok(csr)
}

/// What a device does at enrollment: makes its own key pair and a CSR for it. The key never
/// leaves the device. Used by the demo, the tests and as a reference for the mobile code.
pub fn new_device_key_and_csr() -> Result<(KeyPair, String), PkiError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kizuna device");
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?;
    Ok((key, csr.pem()?))
}

/// SHA-256 of a certificate's subject name (`issuer` false) or issuer name (true), as DER.
pub fn name_sha256(der: &[u8], issuer: bool) -> Option<[u8; 32]> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let raw = if issuer {
        cert.issuer().as_raw()
    } else {
        cert.subject().as_raw()
    };
    let d = ring::digest::digest(&ring::digest::SHA256, raw);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Some(out)
}

/// A certificate's subject common name.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// When a certificate (DER) expires, in seconds since 1970.
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 fingerprint of the first certificate in a PEM string.
pub fn pem_fingerprint(cert_pem: &str) -> Option<String> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
    Some(sha256_hex(&der))
}

/// The only crypto provider Kizuna uses (ring; no aws-lc).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The relay's TLS configuration: TLS 1.3 only, the given server certificate, and client
/// certificates verified against the CA. Client authentication is *optional at the
/// handshake* so that `POST /v1/enroll` and `/healthz` work without one; a certificate that
/// is presented must chain to the CA or the handshake fails. Every other route refuses a
/// request whose connection carried no certificate (see `identity::authed`).
pub fn server_config(
    ca: &Ca,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let certified = certified_key(ca, cert, key)?;
    server_config_resolving(
        ca,
        Arc::new(rustls::sign::SingleCertAndKey::from(certified)),
    )
}

/// A server certificate with its chain (the certificate, then the CA, which phones pin) and
/// its signing key, as rustls serves it.
pub fn certified_key(
    ca: &Ca,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::sign::CertifiedKey, PkiError> {
    let key = provider().key_provider.load_private_key(key)?;
    let certified = rustls::sign::CertifiedKey::new(vec![cert, ca.cert_der().clone()], key);
    certified.keys_match()?;
    Ok(certified)
}

/// A server certificate followed by `tail` (the CA certificates phones may need to build a
/// path: during a CA rotation the cross-signed certificate, then the issuing CA) with its
/// signing key.
pub fn certified_chain(
    cert: CertificateDer<'static>,
    tail: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::sign::CertifiedKey, PkiError> {
    let key = provider().key_provider.load_private_key(key)?;
    let mut chain = vec![cert];
    chain.extend(tail);
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    certified.keys_match()?;
    Ok(certified)
}

/// Verifies client certificates against `roots`: a presented certificate must chain to one
/// of them, while no certificate at all passes the handshake (see [`server_config`]).
pub fn client_verifier(
    roots: &[CertificateDer<'static>],
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, PkiError> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone())?;
    }
    Ok(
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .allow_unauthenticated()
            .build()?,
    )
}

/// [`server_config`] with the server certificate chosen by `resolver` at each handshake: the
/// relay's replaces its certificate before it expires without a restart
/// (`identity::server_cert`).
pub fn server_config_resolving(
    ca: &Ca,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    server_config_verifying(client_verifier(&[ca.cert_der().clone()])?, resolver)
}

/// [`server_config_resolving`] with client certificates checked by `verifier`: the relay's
/// set of CAs, which a CA rotation changes while it serves (`identity::authorities`).
pub fn server_config_verifying(
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let provider = provider();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A client TLS configuration trusting only `ca_pem`, TLS 1.3 only, optionally presenting a
/// device identity (certificate and key in PEM). Used by the admin CLI and the tests.
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| PkiError::Pem(e.to_string()))?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let mut cfg = match identity {
        Some((cert_pem, key_pem)) => {
            let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PkiError::Pem(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| PkiError::Pem(e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Writes a secret (a private key) readable and writable by the owner only (mode 0600),
/// replacing any file already there.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An older file keeps its mode through `open`; force it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_core::{DeviceId, ProfessionalId};

    #[test]
    fn device_cert_names_professional_and_device() {
        let ca = Ca::create("test").unwrap();
        let (_key, csr) = new_device_key_and_csr().unwrap();
        let id = DeviceIdentity {
            professional: ProfessionalId::new(),
            device: DeviceId::new(),
        };
        let pem = ca
            .issue_device_cert(&csr, id, "佐藤 美咲", "みどり")
            .unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(identity_from_cert(&der), Some(id));
    }

    #[test]
    fn garbage_csr_is_malformed() {
        let ca = Ca::create("test").unwrap();
        let id = DeviceIdentity {
            professional: ProfessionalId::new(),
            device: DeviceId::new(),
        };
        let bad = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
        assert!(matches!(
            ca.issue_device_cert(bad, id, "x", "y"),
            Err(CsrError::Malformed)
        ));
        assert!(matches!(
            ca.issue_device_cert("hello", id, "x", "y"),
            Err(CsrError::Malformed)
        ));
    }
}
