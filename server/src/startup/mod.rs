//! The relay's data directory and its start-up: CA, directory store, server certificate,
//! the administrator's first identity.
//!
//! Layout of `DIR`:
//! - `ca.crt`, `ca.key` (0600): the relay's CA; during a CA rotation's overlap also
//!   `ca-next.crt`, `ca-next.key`, `ca-next.cross.crt`, and after one `ca.cross.crt` and
//!   `ca-retired/` (`identity::authorities`);
//! - `directory/`: the sled store (one process at a time);
//! - `store.key` (0600): the key of the encrypted room store; `rooms/`: the room documents,
//!   sealed with AES-256-GCM; `blobs/`: attachments, sealed the same way; `audit/`: the
//!   hash-chained audit log;
//! - `relay.json`: the URL of the running relay, read by `kizuna admin`;
//! - `admin/admin.crt`, `admin/admin.key` (0600): the administrator's first identity, made at
//!   first start by `kizuna serve` (the demo puts it in `demo/admin.*` instead).
//!
//! The server certificate is made afresh at every start and kept in memory only; a
//! background thread replaces it before it expires (`identity::server_cert`).
//!
//! A directory a relay has used is never re-initialised: [`preflight`] refuses a start whose
//! CA key, store key, audit log (or, from the command line, administrator identity) is
//! missing, before anything is created. [`demo_city`] fills a fresh data directory with the
//! fictional city of `kizuna demo`.

use crate::audit::AuditLog;
use crate::blobs::{BlobLimits, Blobs};
use crate::identity::NewProfessional;
use crate::identity::authorities::Authorities;
use crate::identity::directory::{DirError, Professional, SledDirectory};
use crate::identity::pki;
use crate::identity::server_cert::{self, ServerCerts};
use crate::recovery::Recovery;
use crate::recovery::journal::JournaledDirectory;
use crate::state::{Relay, RelayConfig, Storage};
use crate::sync::documents::{self, Documents, MemoryBudget};
use kizuna_core::{Organisation, Profession, ProfessionalId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod demo_city;
pub mod preflight;

/// Any start-up failure, explained for the operator.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A relay ready to serve: rules plus TLS configuration.
#[derive(Debug)]
pub struct Prepared {
    /// The relay.
    pub relay: Arc<Relay>,
    /// The TLS 1.3 server configuration with client verification.
    pub tls: Arc<rustls::ServerConfig>,
    /// The server certificate `tls` serves, renewed while the relay runs.
    pub server_certs: Arc<ServerCerts>,
}

/// Creates the data directory with mode 0700 if needed.
pub fn ensure_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !path.exists() {
        std::fs::create_dir_all(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Makes an existing directory owner-only (mode 0700): a new data directory made by hand
/// (mode 755 under the usual umask) before the first start writes keys into it. Says so when
/// it changed the mode.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        tracing::info!(dir = %path.display(), from = format!("{mode:o}"), "data directory made owner-only (mode 700)");
    }
    Ok(())
}

/// The URL devices use to reach a relay listening on `listen`, named `hostname` if given.
pub fn public_url(listen: SocketAddr, hostname: Option<&str>) -> String {
    match hostname {
        Some(h) => format!("https://{h}:{}", listen.port()),
        None if listen.ip().is_unspecified() => format!("https://127.0.0.1:{}", listen.port()),
        None => match listen {
            SocketAddr::V4(a) => format!("https://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("https://[{}]:{}", a.ip(), a.port()),
        },
    }
}

/// Opens (or creates) everything in `data` and prepares a relay that will be reached on
/// `listen` (the real bound address, so port 0 has been resolved).
pub fn prepare(
    data: &Path,
    listen: SocketAddr,
    hostname: Option<&str>,
    config: RelayConfig,
) -> Result<Prepared, StartError> {
    // The command line checked more (permissions, the administrator's identity) before it
    // bound its port; this is the part every caller gets: never a new CA beside an old
    // certificate, a new store key or an empty audit log on a directory a relay has used.
    preflight::check(
        data,
        &preflight::Checks {
            allow_missing_ca_pair: true,
            ..preflight::Checks::default()
        },
    )?;
    ensure_dir(data)?;
    let cas = Arc::new(Authorities::load(data)?);
    let key = documents::load_or_create_key(&data.join("store.key"))?;
    let recovery = Arc::new(Recovery::open(data, &key).map_err(|e| {
        format!(
            "cannot open the journal in {}: {e}",
            data.join(crate::recovery::JOURNAL_DIR).display()
        )
    })?);
    if let Some(r) = &recovery.restored {
        tracing::info!(
            backup_taken_at = %r.backup_taken_at,
            documents = recovery.vouched.as_ref().map_or(0, |v| v.len()),
            "restored from a backup: taking back from the phones what was acknowledged after it"
        );
    }
    // The room store first: its check record refuses a wrong store key before the directory
    // and the journal of an older relay are sealed with it.
    let documents = Documents::open_with(
        &data.join("rooms"),
        &key,
        MemoryBudget::default(),
        Some(recovery.stored_hook()),
    )
    .map_err(|e| format!("cannot open the room store in {}: {e}", data.display()))?;
    let dir = SledDirectory::open(&data.join("directory"), &key).map_err(|e| match e {
        DirError::WrongKey => format!(
            "{}: {e}. The directory, the journal and the room store are sealed with \
             {}; a backup does not hold it — it is the copy kept apart from the backups",
            data.join("directory").display(),
            data.join("store.key").display()
        ),
        e => format!(
            "cannot open the directory store in {} (is another kizuna running on it?): {e}",
            data.display()
        ),
    })?;
    let sealed = recovery.journal.seal_plain_lines().map_err(|e| {
        format!(
            "cannot seal the journal {}: {e}",
            recovery.journal.path().display()
        )
    })?;
    if sealed > 0 {
        tracing::info!(lines = sealed, "journal lines of an older relay sealed");
    }
    let dir = JournaledDirectory::new(Box::new(dir), recovery.journal.clone());
    let url = public_url(listen, hostname);
    // Records' details are sealed with the store key like the directory and the rooms.
    let audit_sealer = kizuna_core::store::Sealer::new(&key).map_err(|e| e.to_string())?;
    let audit = AuditLog::open_rotating(&data.join("audit"), config.audit_rotate_bytes)
        .map_err(|e| format!("cannot open the audit log in {}: {e}", data.display()))?
        .sealed_with(Arc::new(audit_sealer));
    let blobs = Blobs::open(&data.join("blobs"), &key, BlobLimits::default())?;
    let storage = Storage {
        documents,
        audit,
        blobs,
        recovery: Some(recovery),
        data_dir: data.to_path_buf(),
    };
    let relay = Relay::new(Box::new(dir), cas.clone(), url, config, storage)?;
    relay.ensure_city_rooms()?;
    let relay = Arc::new(relay);
    spawn_blob_expiry(Arc::downgrade(&relay));
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(h) = hostname {
        names.push(h.to_string());
    }
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    let server_certs = Arc::new(ServerCerts::new(cas.clone(), names, relay.clock().clone())?);
    server_cert::spawn_renewal(&server_certs);
    report_server_cert(&relay, &server_certs);
    let tls = pki::server_config_verifying(cas, server_certs.clone())?;
    Ok(Prepared {
        relay,
        tls,
        server_certs,
    })
}

/// Keeps `/metrics`' days left of the server certificate true across renewals: copies the
/// served certificate's expiry into the relay's counters now and then every minute, while
/// both live.
fn report_server_cert(relay: &Arc<Relay>, certs: &Arc<ServerCerts>) {
    relay.metrics().set_server_cert_not_after(certs.not_after());
    let (relay, certs) = (Arc::downgrade(relay), Arc::downgrade(certs));
    let _ = std::thread::Builder::new()
        .name("kizuna-cert-metric".into())
        .spawn(move || {
            loop {
                for _ in 0..60 {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    if relay.strong_count() == 0 || certs.strong_count() == 0 {
                        return;
                    }
                }
                let (Some(r), Some(c)) = (relay.upgrade(), certs.upgrade()) else {
                    return;
                };
                r.metrics().set_server_cert_not_after(c.not_after());
            }
        });
}

/// Deletes abandoned uploads at start and then hourly, while the relay lives.
fn spawn_blob_expiry(relay: std::sync::Weak<Relay>) {
    let _ = std::thread::Builder::new()
        .name("kizuna-blob-expiry".into())
        .spawn(move || {
            loop {
                let Some(r) = relay.upgrade() else {
                    return;
                };
                match r.blobs().expire() {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(uploads = n, "expired unfinished uploads"),
                    Err(e) => tracing::warn!(error = %e, "expiring uploads failed"),
                }
                drop(r);
                for _ in 0..3600 {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    if relay.strong_count() == 0 {
                        return;
                    }
                }
            }
        });
}

/// Writes `DIR/relay.json` so `kizuna admin` knows where the relay listens.
pub fn write_relay_info(data: &Path, url: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "url": url }).to_string();
    std::fs::write(data.join("relay.json"), body)
}

/// Reads the URL written by [`write_relay_info`].
pub fn read_relay_url(data: &Path) -> Option<String> {
    let s = std::fs::read_to_string(data.join("relay.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&s).ok()?;
    v.get("url")?.as_str().map(str::to_string)
}

/// Where the administrator's identity is looked for, in order.
pub fn admin_identity_paths(data: &Path) -> Vec<(PathBuf, PathBuf)> {
    ["admin", "demo"]
        .iter()
        .map(|d| {
            (
                data.join(d).join("admin.crt"),
                data.join(d).join("admin.key"),
            )
        })
        .collect()
}

/// Enrolls a device for `professional` the way a phone would (key made here, CSR, one-time
/// code) and writes `<out>/<stem>.crt` and `<out>/<stem>.key` (0600). For the relay's own
/// administrator at first start and for the demo's devices.
pub fn enroll_local(
    relay: &Relay,
    professional: ProfessionalId,
    label: &str,
    out: &Path,
    stem: &str,
) -> Result<(PathBuf, PathBuf), StartError> {
    ensure_dir(out)?;
    let (key, csr) = pki::new_device_key_and_csr()?;
    let code = relay.create_enroll_code(professional, Some(1))?;
    let resp = relay.enroll_checked(
        std::net::IpAddr::from([127, 0, 0, 1]),
        &code.code,
        &csr,
        Some(label),
    )?;
    let crt = out.join(format!("{stem}.crt"));
    let keyp = out.join(format!("{stem}.key"));
    pki::write_private(&keyp, &key.serialize_pem())?;
    std::fs::write(&crt, resp.certificate_pem)?;
    Ok((crt, keyp))
}

/// What [`ensure_admin`] did.
#[derive(Debug)]
pub enum AdminSetup {
    /// An administrator and their identity files were there already.
    Existing,
    /// First start: the administrator was registered and their identity written.
    Created(Professional),
    /// The identity files were missing (deleted after a lost key or a CA rotation): a new
    /// identity was issued for the existing administrator.
    Reissued(Professional),
}

/// On first start, registers the city's administrator and writes their first identity to
/// `<out>/admin.crt` and `.key`. If an administrator exists but those files do not, issues a
/// new identity for them: deleting the files and restarting is how a lost administrator key
/// is replaced, and how the administrator gets back in after a CA rotation.
pub fn ensure_admin(
    relay: &Relay,
    out: &Path,
    name: &str,
    kana: &str,
    organisation: &str,
) -> Result<AdminSetup, StartError> {
    if let Some(admin) = relay.administrators()?.into_iter().next() {
        if out.join("admin.crt").exists() && out.join("admin.key").exists() {
            return Ok(AdminSetup::Existing);
        }
        relay.audit().record(crate::audit::Entry {
            action: "relay.administrator.reissued",
            subject: Some(admin.id.to_string()),
            ..crate::audit::Entry::default()
        })?;
        enroll_local(relay, admin.id, "admin console", out, "admin")?;
        tracing::warn!(professional = %admin.id, "administrator identity re-issued");
        return Ok(AdminSetup::Reissued(admin));
    }
    // The first start's act: audited first, like any administrator added later.
    let id = ProfessionalId::new();
    relay.audit().record(crate::audit::Entry {
        action: "relay.administrator.created",
        subject: Some(id.to_string()),
        ..crate::audit::Entry::default()
    })?;
    let admin = relay.add_professional_as(
        id,
        NewProfessional {
            name: name.to_string(),
            kana: kana.to_string(),
            profession: Profession::CityAdministrator,
            organisation: Organisation {
                name: organisation.to_string(),
                office_number: None,
            },
        },
    )?;
    enroll_local(relay, admin.id, "admin console", out, "admin")?;
    Ok(AdminSetup::Created(admin))
}
