//! The relay's certificate authorities and their rotation with an overlap period.
//!
//! Normally one CA (`DIR/ca.crt`, `DIR/ca.key`) issues everything and is the only root client
//! certificates may chain to. `kizuna admin ca rotate` makes a new CA while the relay serves
//! and starts the *overlap period*:
//! - the new CA (`DIR/ca-next.crt`, `DIR/ca-next.key`) issues every new certificate: the
//!   server's, enrollments', renewals';
//! - client certificates of **both** CAs pass the handshake;
//! - the server certificate is served as leaf → new CA cross-signed by the old
//!   (`DIR/ca-next.cross.crt`) → new CA, so a phone that still trusts only the old CA builds
//!   the path leaf → cross → old root, and one that has learnt the new CA stops at it;
//! - every answer to a device presenting a certificate of the old CA carries
//!   `kizuna-certificate: renew`, and the phone renews in the same sync (new key, certificate
//!   of the new CA, the new CA added to what it trusts from the renewal's answer).
//!
//! `kizuna admin ca retire-old` ends the overlap: the new pair becomes `ca.crt`/`ca.key`, the
//! old key is deleted and its certificate kept as `DIR/ca-retired/<fingerprint>.crt`. A
//! retired CA stays a root of the handshake only so the relay can answer a device still on it
//! with the `certificate-retired` problem (enroll again) instead of a bare TLS alert; no
//! request of such a certificate is served ([`Generation::Retired`]).
//!
//! Which CA issued a device's current certificate is kept per device (meta key
//! `issuer:<device id>` → the CA's fingerprint), written at enrollment and renewal; a rotation
//! stamps the devices that have none (enrolled before this was kept) with the old CA. That is
//! what `kizuna admin ca status` lists, and what `retire-old` refuses over without `--force`.
//!
//! Files change in an order a crash cannot break: a rotation writes `ca-next.crt` last (until
//! then nothing uses the new CA); a retirement renames `ca-next.crt` over `ca.crt`, then
//! `ca-next.key` over `ca.key`, and [`Authorities::load`] finishes a retirement stopped
//! between the two.

use super::pki::{self, Ca, PkiError};
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The new CA of a rotation, beside `ca.crt`.
pub const NEXT_CRT: &str = "ca-next.crt";
/// The new CA's key (0600).
pub const NEXT_KEY: &str = "ca-next.key";
/// The new CA's certificate signed by the old CA.
pub const NEXT_CROSS: &str = "ca-next.cross.crt";
/// After a retirement: the issuing CA's certificate signed by the CA retired before it, still
/// served so a phone that was away the whole overlap can verify the relay and be told
/// `certificate-retired` instead of failing the handshake.
pub const CROSS: &str = "ca.cross.crt";
/// Certificates of retired CAs, `<fingerprint>.crt`.
pub const RETIRED_DIR: &str = "ca-retired";

/// A CA the relay knows by its certificate only (a retiring or retired one).
#[derive(Clone, Debug)]
pub struct KnownCa {
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// SHA-256 of the certificate, hex.
    pub fingerprint: String,
    /// SHA-256 of its subject name: the issuer of what it signed.
    pub subject: [u8; 32],
    /// Its common name.
    pub name: String,
    /// Its expiry, seconds since 1970.
    pub not_after: i64,
}

impl KnownCa {
    fn of(ca: &Ca) -> KnownCa {
        KnownCa {
            pem: ca.cert_pem().to_string(),
            der: ca.cert_der().clone(),
            fingerprint: ca.fingerprint(),
            subject: ca.subject_sha256(),
            name: ca.name(),
            not_after: ca.not_after(),
        }
    }

    /// Reads a CA certificate (PEM).
    pub fn from_pem(pem: &str) -> Result<KnownCa, PkiError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| PkiError::Pem(e.to_string()))?;
        Ok(KnownCa {
            pem: pem.to_string(),
            fingerprint: pki::sha256_hex(&der),
            subject: pki::name_sha256(&der, false)
                .ok_or_else(|| PkiError::Pem("CA certificate unreadable".into()))?,
            name: pki::common_name(&der).unwrap_or_default(),
            not_after: pki::cert_not_after(&der).unwrap_or(0),
            der,
        })
    }
}

/// The old CA during a rotation's overlap, with the new CA's certificate it signed.
#[derive(Clone, Debug)]
pub struct Retiring {
    /// The old CA.
    pub ca: KnownCa,
    /// The new CA's certificate signed by the old one.
    pub cross: CertificateDer<'static>,
}

/// The relay's CAs at one moment.
#[derive(Debug)]
pub struct CaSet {
    /// Issues every new certificate.
    pub issuing: Arc<Ca>,
    /// The same, as known by its certificate.
    pub issuing_known: KnownCa,
    /// During an overlap, the old CA.
    pub retiring: Option<Retiring>,
    /// CAs retired earlier (refused with `certificate-retired`).
    pub retired: Vec<KnownCa>,
    /// Outside an overlap: the issuing CA signed by the CA retired before it, if any.
    pub retired_cross: Option<CertificateDer<'static>>,
}

/// Which of the relay's CAs issued a certificate (by its issuer name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// The CA issuing now.
    Issuing,
    /// The old CA of the current overlap: served, and asked to renew.
    Retiring,
    /// A retired CA: refused with `certificate-retired`.
    Retired,
    /// None the relay knows (cannot pass the handshake).
    Unknown,
}

impl CaSet {
    /// Which CA has the subject `issuer` (SHA-256 of a name).
    pub fn generation(&self, issuer: &[u8; 32]) -> Generation {
        if &self.issuing_known.subject == issuer {
            Generation::Issuing
        } else if self
            .retiring
            .as_ref()
            .is_some_and(|r| &r.ca.subject == issuer)
        {
            Generation::Retiring
        } else if self.retired.iter().any(|r| &r.subject == issuer) {
            Generation::Retired
        } else {
            Generation::Unknown
        }
    }

    /// What the server certificate is followed by: during an overlap the cross-signed
    /// certificate first (the path of phones that trust only the old CA), then the issuing
    /// CA itself (which enrollment pins by fingerprint).
    pub fn chain_tail(&self) -> Vec<CertificateDer<'static>> {
        let mut tail = Vec::new();
        match &self.retiring {
            Some(r) => tail.push(r.cross.clone()),
            None => tail.extend(self.retired_cross.iter().cloned()),
        }
        tail.push(self.issuing.cert_der().clone());
        tail
    }

    fn roots(&self) -> Vec<CertificateDer<'static>> {
        let mut roots = vec![self.issuing.cert_der().clone()];
        if let Some(r) = &self.retiring {
            roots.push(r.ca.der.clone());
        }
        roots.extend(self.retired.iter().map(|r| r.der.clone()));
        roots
    }

    fn names(&self) -> Vec<String> {
        let mut v = vec![self.issuing_known.name.clone()];
        v.extend(self.retiring.iter().map(|r| r.ca.name.clone()));
        v.extend(self.retired.iter().map(|r| r.name.clone()));
        v
    }
}

/// Why a rotation step was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// A rotation is already in its overlap period (`rotate`), or none is (`retire-old`).
    #[error("{0}")]
    State(&'static str),
    /// Making or reading certificates failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Writing the CA files failed.
    #[error("writing the CA files: {0}")]
    Io(#[from] std::io::Error),
}

/// The relay's CAs, changed by a rotation while it serves; also the client certificate
/// verifier of its TLS configuration (it follows the changes at once).
pub struct Authorities {
    dir: Option<PathBuf>,
    set: RwLock<Arc<CaSet>>,
    verifier: RwLock<Arc<dyn ClientCertVerifier>>,
    change: Mutex<()>,
    generation: AtomicU64,
}

impl std::fmt::Debug for Authorities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorities")
            .field("set", &self.current())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn write_public(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl Authorities {
    fn with(dir: Option<PathBuf>, set: CaSet) -> Result<Authorities, PkiError> {
        let verifier = pki::client_verifier(&set.roots())?;
        Ok(Authorities {
            dir,
            set: RwLock::new(Arc::new(set)),
            verifier: RwLock::new(verifier),
            change: Mutex::new(()),
            generation: AtomicU64::new(0),
        })
    }

    /// One CA and no files: for relays built in memory (tests, fuzzing). It cannot rotate.
    pub fn single(ca: Arc<Ca>) -> Result<Authorities, PkiError> {
        let issuing_known = KnownCa::of(&ca);
        Authorities::with(
            None,
            CaSet {
                issuing: ca,
                issuing_known,
                retiring: None,
                retired: Vec::new(),
                retired_cross: None,
            },
        )
    }

    /// Loads the CAs of the data directory `dir` (creating `ca.crt`/`ca.key` on a new one,
    /// as [`Ca::load_or_create`]), first finishing a retirement a crash interrupted.
    pub fn load(dir: &Path) -> Result<Authorities, PkiError> {
        let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (next_crt, next_key) = (dir.join(NEXT_CRT), dir.join(NEXT_KEY));
        if !next_crt.exists() && next_key.exists() && crt.exists() {
            let (c, k) = (read(&crt)?, read(&next_key)?);
            if Ca::key_matches(&c, &k) {
                // `ca-next.crt` was renamed over `ca.crt`, the key not yet: finish.
                std::fs::rename(&next_key, &key)?;
                if dir.join(NEXT_CROSS).exists() {
                    std::fs::rename(dir.join(NEXT_CROSS), dir.join(CROSS))?;
                }
                sync_dir(dir)?;
                tracing::warn!("finished a CA retirement that was interrupted");
            }
        }
        let ca = Ca::load_or_create(dir)?;
        let mut retired = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join(RETIRED_DIR)) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "crt") {
                    retired.push(KnownCa::from_pem(&read(&e.path())?)?);
                }
            }
        }
        retired.sort_by_key(|a| a.not_after);
        let set = if next_crt.exists() {
            let next = Ca::from_pem(&read(&next_crt)?, &read(&next_key)?)?;
            let cross = CertificateDer::from_pem_slice(read(&dir.join(NEXT_CROSS))?.as_bytes())
                .map_err(|e| PkiError::Pem(format!("{NEXT_CROSS}: {e}")))?;
            let old = KnownCa::of(&ca);
            retired.retain(|r| r.fingerprint != old.fingerprint);
            CaSet {
                issuing_known: KnownCa::of(&next),
                issuing: Arc::new(next),
                retiring: Some(Retiring { ca: old, cross }),
                retired,
                retired_cross: None,
            }
        } else {
            let known = KnownCa::of(&ca);
            retired.retain(|r| r.fingerprint != known.fingerprint);
            // Only a cross certificate of this very CA (a later `--new-ca` leaves a stale one).
            let retired_cross = read(&dir.join(CROSS))
                .ok()
                .and_then(|p| CertificateDer::from_pem_slice(p.as_bytes()).ok())
                .filter(|c| pki::name_sha256(c, false) == Some(known.subject))
                .filter(|c| {
                    pki::name_sha256(c, true)
                        .is_some_and(|i| retired.iter().any(|r| r.subject == i))
                });
            CaSet {
                issuing_known: known,
                issuing: Arc::new(ca),
                retiring: None,
                retired,
                retired_cross,
            }
        };
        Authorities::with(Some(dir.to_path_buf()), set)
    }

    /// The CAs now.
    pub fn current(&self) -> Arc<CaSet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The CA issuing now.
    pub fn issuing(&self) -> Arc<Ca> {
        self.current().issuing.clone()
    }

    /// Bumped at every rotation and retirement: the server certificate is re-issued when it
    /// sees a new value (`identity::server_cert`).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn install(&self, set: CaSet) -> Result<Arc<CaSet>, PkiError> {
        let verifier = pki::client_verifier(&set.roots())?;
        let set = Arc::new(set);
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = set.clone();
        *self
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner) = verifier;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(set)
    }

    fn data_dir(&self) -> Result<&Path, RotationError> {
        self.dir
            .as_deref()
            .ok_or(RotationError::State("this relay keeps no CA files"))
    }

    /// Starts a rotation: a new CA, cross-signed by the current one, written beside it and
    /// issuing from now on; both trusted. Refused during an overlap.
    pub fn rotate(&self) -> Result<Arc<CaSet>, RotationError> {
        let _one = self.change.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = self.data_dir()?;
        let now = self.current();
        if now.retiring.is_some() {
            return Err(RotationError::State(
                "a CA rotation is already in its overlap period: retire the old CA first \
                 (kizuna admin ca retire-old)",
            ));
        }
        let names = now.names();
        let mut n = names.len() + 1;
        let name = loop {
            let candidate = format!("Kizuna relay CA {n}");
            if !names.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        let (next, cross) = now.issuing.create_cross_signed(&name)?;
        // The certificate last: until it exists nothing uses the new CA.
        pki::write_private(&dir.join(NEXT_KEY), &next.key_pem())?;
        write_public(&dir.join(NEXT_CROSS), &der_to_pem(&cross))?;
        write_public(&dir.join(NEXT_CRT), next.cert_pem())?;
        sync_dir(dir)?;
        let old = now.issuing_known.clone();
        let set = CaSet {
            issuing_known: KnownCa::of(&next),
            issuing: Arc::new(next),
            retiring: Some(Retiring { ca: old, cross }),
            retired: now.retired.clone(),
            retired_cross: None,
        };
        tracing::info!(new = %set.issuing_known.fingerprint, "CA rotation started: both CAs trusted, the new one issuing");
        Ok(self.install(set)?)
    }

    /// Ends the overlap: the new CA becomes `ca.crt`/`ca.key`, the old key is deleted, the old
    /// certificate kept under `ca-retired/` and refused from now on.
    pub fn retire_old(&self) -> Result<Arc<CaSet>, RotationError> {
        let _one = self.change.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = self.data_dir()?;
        let now = self.current();
        let Some(old) = now.retiring.clone() else {
            return Err(RotationError::State(
                "no CA rotation is in progress: there is no old CA to retire",
            ));
        };
        let retired_dir = dir.join(RETIRED_DIR);
        if !retired_dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&retired_dir)?;
        }
        write_public(
            &retired_dir.join(format!("{}.crt", old.ca.fingerprint)),
            &old.ca.pem,
        )?;
        sync_dir(&retired_dir)?;
        std::fs::rename(dir.join(NEXT_CRT), dir.join("ca.crt"))?;
        std::fs::rename(dir.join(NEXT_KEY), dir.join("ca.key"))?;
        std::fs::rename(dir.join(NEXT_CROSS), dir.join(CROSS))?;
        sync_dir(dir)?;
        let mut retired = now.retired.clone();
        retired.push(old.ca);
        let set = CaSet {
            issuing: now.issuing.clone(),
            issuing_known: now.issuing_known.clone(),
            retiring: None,
            retired,
            retired_cross: Some(old.cross),
        };
        tracing::info!(issuing = %set.issuing_known.fingerprint, "old CA retired");
        Ok(self.install(set)?)
    }

    fn inner(&self) -> Arc<dyn ClientCertVerifier> {
        self.verifier
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ClientCertVerifier for Authorities {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // `/v1/enroll` and `/healthz` need none; every other route refuses without one.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: the set changes while serving, and an empty list asks a client to send
        // whatever certificate it has.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_then_retire_moves_the_files_and_the_generations() {
        let t = tempfile::tempdir().unwrap();
        let a = Authorities::load(t.path()).unwrap();
        let first = a.current().issuing_known.clone();
        assert!(a.retire_old().is_err());
        let set = a.rotate().unwrap();
        assert_eq!(set.generation(&first.subject), Generation::Retiring);
        assert_eq!(
            set.generation(&set.issuing_known.subject),
            Generation::Issuing
        );
        assert_ne!(set.issuing_known.name, first.name);
        assert_eq!(set.chain_tail().len(), 2);
        assert!(a.rotate().is_err());
        // A restart sees the same overlap.
        let again = Authorities::load(t.path()).unwrap().current();
        assert_eq!(
            again.issuing_known.fingerprint,
            set.issuing_known.fingerprint
        );
        assert_eq!(
            again.retiring.as_ref().unwrap().ca.fingerprint,
            first.fingerprint
        );
        let done = a.retire_old().unwrap();
        assert_eq!(done.generation(&first.subject), Generation::Retired);
        // Still the cross-signed certificate, for phones that were away.
        assert_eq!(done.chain_tail().len(), 2);
        assert!(!t.path().join(NEXT_CRT).exists());
        let c = std::fs::read_to_string(t.path().join("ca.crt")).unwrap();
        let k = std::fs::read_to_string(t.path().join("ca.key")).unwrap();
        assert!(Ca::key_matches(&c, &k));
        assert_eq!(
            pki::pem_fingerprint(&c).unwrap(),
            done.issuing_known.fingerprint
        );
        let reloaded = Authorities::load(t.path()).unwrap().current();
        assert_eq!(reloaded.generation(&first.subject), Generation::Retired);
        assert!(reloaded.retiring.is_none());
        assert_eq!(reloaded.chain_tail().len(), 2);
    }

    #[test]
    fn a_retirement_cut_between_its_renames_is_finished_at_load() {
        let t = tempfile::tempdir().unwrap();
        let a = Authorities::load(t.path()).unwrap();
        let new = a.rotate().unwrap().issuing_known.clone();
        // The crash: the certificate renamed over ca.crt, the key not yet.
        std::fs::rename(t.path().join(NEXT_CRT), t.path().join("ca.crt")).unwrap();
        let set = Authorities::load(t.path()).unwrap().current();
        assert_eq!(set.issuing_known.fingerprint, new.fingerprint);
        assert!(set.retiring.is_none());
        assert!(!t.path().join(NEXT_KEY).exists());
    }
}
