//! An HTTPS client of the relay's API over mTLS (reqwest on rustls with the ring provider).
//! The admin CLI uses it with the administrator's certificate; the tests use it as devices.
//! Every body it sends or reads is a `kizuna_contract` type, the same the relay's handlers use.

use crate::identity::pki;
use crate::identity::{NewProfessional, NewRoom};
use crate::startup;
use kizuna_contract::Health;
use kizuna_contract::audit::Verdict;
use kizuna_contract::careplans::{CarePlanUpload, CarePlanUploadRequest, ImportSummary};
use kizuna_contract::console::{ConsoleSetup, CredentialsRequest};
use kizuna_contract::directory::{DeviceView, DirectoryView, ProfessionalView, RevokeRequest};
use kizuna_contract::enrollment::{
    CaStatus, EnrollCodeRequest, EnrollCodeResponse, EnrollRequest, EnrollResponse, RenewRequest,
    RenewResponse, RetireRequest,
};
use kizuna_contract::me::{DirectRequest, MeResponse, MeRoom};
use kizuna_contract::notices::{CityRoom, NewNotice, NoticeView, PostedNotice};
use kizuna_contract::rooms::{ArchiveRequest, InviteRequest, RoomActivity, RoomView};
use kizuna_contract::{Problem, Role};
use kizuna_core::{DeviceId, ProfessionalId, RoomId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// An id the client puts in a path or body: core's typed ids (what the relay's records hold)
/// or the bare UUIDs of the contract's views.
pub trait AnyId {
    /// The UUID on the wire.
    fn uuid(&self) -> Uuid;
}

impl AnyId for Uuid {
    fn uuid(&self) -> Uuid {
        *self
    }
}

impl AnyId for ProfessionalId {
    fn uuid(&self) -> Uuid {
        self.0
    }
}

impl AnyId for RoomId {
    fn uuid(&self) -> Uuid {
        self.0
    }
}

impl AnyId for DeviceId {
    fn uuid(&self) -> Uuid {
        self.0
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Certificates or keys could not be loaded.
    #[error("setup: {0}")]
    Setup(String),
    /// The relay could not be reached or the TLS handshake failed.
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    /// The relay answered with a problem.
    #[error("{} ({}): {}", .0.title, .0.status, .0.detail.clone().unwrap_or_default())]
    Problem(Problem),
    /// The relay's answer could not be read.
    #[error("unexpected answer from the relay: {0}")]
    Decode(String),
}

impl ClientError {
    /// The HTTP status of a problem answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem(p) => Some(p.status),
            _ => None,
        }
    }
}

/// A client of one relay.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

fn connect_err(e: reqwest::Error) -> ClientError {
    // Walk the error chain so the TLS reason (unknown CA, revoked…) is visible.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ClientError::Connect(msg)
}

impl Client {
    /// A client of the relay at `base` (`https://host:port`) trusting `ca_pem`, presenting
    /// `identity` (certificate PEM, key PEM) if given.
    pub fn new(
        base: &str,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<Client, ClientError> {
        let tls = crate::identity::pki::client_config(ca_pem, identity)
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The administrator's client for the relay serving `data`: trusting `ca.crt` (and, during
    /// a CA rotation, `ca-next.crt`), presenting the admin identity (`admin/` or `demo/`, see
    /// [`admin_identity`]), at the URL from `relay.json` unless `relay` overrides it.
    pub fn admin_from_data_dir(data: &Path, relay: Option<&str>) -> Result<Client, ClientError> {
        let mut ca = std::fs::read_to_string(data.join("ca.crt")).map_err(|e| {
            ClientError::Setup(format!(
                "cannot read {}: {e} (has the relay been started with --data {}?)",
                data.join("ca.crt").display(),
                data.display()
            ))
        })?;
        if let Ok(next) = std::fs::read_to_string(data.join("ca-next.crt")) {
            ca.push('\n');
            ca.push_str(&next);
        }
        let (crt, key) = admin_identity(data)?;
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| ClientError::Setup(format!("cannot read {}: {e}", p.display())))
        };
        let crt = read(&crt)?;
        let key = read(&key)?;
        let url = match relay {
            Some(u) => u.to_string(),
            None => startup::read_relay_url(data).ok_or_else(|| {
                ClientError::Setup(format!(
                    "no {}/relay.json: is the relay running? (or pass --relay URL)",
                    data.display()
                ))
            })?,
        };
        Client::new(&url, &ca, Some((&crt, &key)))
    }

    /// Sends `req` and returns the body of a successful answer; a failure becomes the
    /// relay's problem.
    async fn send_raw(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let resp = req.send().await.map_err(connect_err)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(connect_err)?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => ClientError::Problem(p),
                Err(_) => ClientError::Decode(format!("status {status}")),
            });
        }
        Ok(bytes.to_vec())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let bytes = self.send_raw(req).await?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// A `DELETE` without a body, declared `application/json` as the relay requires of
    /// every state-changing admin request (a cross-site form cannot send that type).
    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/healthz").await
    }

    /// `GET /v1/me`.
    pub async fn me(&self) -> Result<MeResponse, ClientError> {
        self.get("/v1/me").await
    }

    /// `POST /v1/enroll` (needs no client certificate).
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.post("/v1/enroll", req).await
    }

    /// `POST /v1/direct`.
    pub async fn direct(&self, with: impl AnyId) -> Result<MeRoom, ClientError> {
        self.post("/v1/direct", &DirectRequest { with: with.uuid() })
            .await
    }

    /// Registers a professional.
    pub async fn add_professional(
        &self,
        p: &NewProfessional,
    ) -> Result<ProfessionalView, ClientError> {
        let body = kizuna_contract::directory::NewProfessional::from(p);
        self.post("/v1/admin/professionals", &body).await
    }

    /// Lists professionals and devices.
    pub async fn directory(&self) -> Result<DirectoryView, ClientError> {
        self.get("/v1/admin/professionals").await
    }

    /// Removes a professional.
    pub async fn remove_professional(&self, id: impl AnyId) -> Result<(), ClientError> {
        let id = id.uuid();
        self.send(self.delete(&format!("/v1/admin/professionals/{id}")))
            .await
    }

    /// Makes a one-time enrollment code.
    pub async fn enroll_code(
        &self,
        id: impl AnyId,
        valid_hours: Option<u32>,
    ) -> Result<EnrollCodeResponse, ClientError> {
        let id = id.uuid();
        self.post(
            &format!("/v1/admin/professionals/{id}/enroll-codes"),
            &EnrollCodeRequest { valid_hours },
        )
        .await
    }

    /// Lists rooms with members.
    pub async fn rooms(&self) -> Result<Vec<RoomView>, ClientError> {
        self.get("/v1/admin/rooms").await
    }

    /// Creates a patient room.
    pub async fn create_room(&self, r: &NewRoom) -> Result<RoomView, ClientError> {
        let body = kizuna_contract::rooms::NewRoom::from(r);
        self.post("/v1/admin/rooms", &body).await
    }

    /// Invites a professional into a room.
    pub async fn invite(
        &self,
        room: impl AnyId,
        professional: impl AnyId,
        role: impl Into<Role>,
    ) -> Result<RoomView, ClientError> {
        let (room, professional) = (room.uuid(), professional.uuid());
        let role = role.into();
        self.send(
            self.http
                .put(format!(
                    "{}/v1/admin/rooms/{room}/members/{professional}",
                    self.base
                ))
                .json(&InviteRequest { role }),
        )
        .await
    }

    /// Removes a professional from a room.
    pub async fn remove_member(
        &self,
        room: impl AnyId,
        professional: impl AnyId,
    ) -> Result<(), ClientError> {
        let (room, professional) = (room.uuid(), professional.uuid());
        self.send(self.delete(&format!("/v1/admin/rooms/{room}/members/{professional}")))
            .await
    }

    /// Lists devices.
    pub async fn devices(&self) -> Result<Vec<DeviceView>, ClientError> {
        self.get("/v1/admin/devices").await
    }

    /// Revokes a device.
    pub async fn revoke(&self, id: impl AnyId, wipe: bool) -> Result<(), ClientError> {
        let id = id.uuid();
        self.post(
            &format!("/v1/admin/devices/{id}/revoke"),
            &RevokeRequest { wipe },
        )
        .await
    }

    /// `GET /v1/admin/ca`: the relay's CAs and the devices still on a retiring one.
    pub async fn ca_status(&self) -> Result<CaStatus, ClientError> {
        self.get("/v1/admin/ca").await
    }

    /// `POST /v1/admin/ca/rotate`: a new CA, and the overlap period begins.
    pub async fn ca_rotate(&self) -> Result<CaStatus, ClientError> {
        self.post("/v1/admin/ca/rotate", &serde_json::json!({}))
            .await
    }

    /// `POST /v1/admin/ca/retire-old`: the overlap ends (refused while devices remain on the
    /// old CA unless `force`).
    pub async fn ca_retire_old(&self, force: bool) -> Result<CaStatus, ClientError> {
        self.post("/v1/admin/ca/retire-old", &RetireRequest { force })
            .await
    }

    /// `POST /v1/renew`: a new certificate of the calling device for the key of `csr_pem`.
    pub async fn renew(&self, csr_pem: &str) -> Result<RenewResponse, ClientError> {
        self.post(
            "/v1/renew",
            &RenewRequest {
                csr_pem: csr_pem.to_string(),
            },
        )
        .await
    }

    /// Streams the running relay's backup into a new file at `to` (0600), checking that it
    /// arrived whole; returns its size. A failed or cut backup leaves no file behind.
    pub async fn backup_to(&self, to: &Path) -> Result<u64, ClientError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e: std::io::Error| ClientError::Decode(format!("{}: {e}", to.display()));
        let mut resp = self
            .http
            .get(format!("{}/v1/admin/backup", self.base))
            .send()
            .await
            .map_err(connect_err)?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.map_err(connect_err)?;
            return Err(match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => ClientError::Problem(p),
                Err(_) => ClientError::Decode(format!("status {status}")),
            });
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(io)?;
        let mut n = 0u64;
        let written: Result<(), ClientError> = async {
            while let Some(piece) = resp.chunk().await.map_err(connect_err)? {
                f.write_all(&piece).map_err(io)?;
                n += piece.len() as u64;
            }
            f.sync_all().map_err(io)?;
            Ok(())
        }
        .await;
        let whole = written.and_then(|()| {
            // The last frame says the backup is whole; a relay that failed midway sends none.
            let check = std::fs::File::open(to).map_err(io)?;
            let mut r = crate::recovery::backup::Reader::new(std::io::BufReader::new(check), None)
                .map_err(io)?;
            loop {
                match r.next_frame().map_err(io)? {
                    crate::recovery::backup::Frame::End(_) => return Ok(()),
                    crate::recovery::backup::Frame::Blob(_, _, size) => {
                        use std::io::Read;
                        let skipped =
                            std::io::copy(&mut r.inner().take(size), &mut std::io::sink())
                                .map_err(io)?;
                        if skipped != size {
                            return Err(ClientError::Decode("the backup was cut short".into()));
                        }
                    }
                    _ => {}
                }
            }
        });
        if let Err(e) = whole {
            let _ = std::fs::remove_file(to);
            return Err(e);
        }
        Ok(n)
    }

    /// Closes the audit log's live file as its next segment.
    pub async fn audit_rotate(&self) -> Result<kizuna_contract::audit::Rotated, ClientError> {
        self.send(
            self.http
                .post(format!("{}/v1/admin/audit/rotate", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json"),
        )
        .await
    }

    /// Checks the audit log's hash chain.
    pub async fn audit_verify(&self) -> Result<Verdict, ClientError> {
        self.get("/v1/admin/audit/verify").await
    }

    /// Audit records as JSON lines, filtered by `query` pairs (room, professional, since,
    /// until, limit).
    pub async fn audit_export(&self, query: &[(&str, String)]) -> Result<String, ClientError> {
        let mut url = format!("{}/v1/admin/audit?", self.base);
        for (k, v) in query {
            url.push_str(k);
            url.push('=');
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    url.push(char::from(b));
                } else {
                    url.push_str(&format!("%{b:02X}"));
                }
            }
            url.push('&');
        }
        let bytes = self.send_raw(self.http.get(url)).await?;
        String::from_utf8(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// The admin routes added with the console (in `admin::routes`).
impl Client {
    async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Edits a professional.
    pub async fn update_professional(
        &self,
        id: impl AnyId,
        p: &NewProfessional,
    ) -> Result<ProfessionalView, ClientError> {
        let id = id.uuid();
        let body = kizuna_contract::directory::NewProfessional::from(p);
        self.put(&format!("/v1/admin/professionals/{id}/profile"), &body)
            .await
    }

    /// Archives (`true`) or restores a patient room.
    pub async fn set_archived(
        &self,
        room: impl AnyId,
        archived: bool,
    ) -> Result<RoomView, ClientError> {
        let room = room.uuid();
        self.put(
            &format!("/v1/admin/rooms/{room}/archived"),
            &ArchiveRequest { archived },
        )
        .await
    }

    /// Attaches a scanned consent form (`media_type`: PDF, JPEG or PNG) to a patient room.
    pub async fn consent_form(
        &self,
        room: impl AnyId,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<RoomView, ClientError> {
        let room = room.uuid();
        self.send(
            self.http
                .put(format!("{}/v1/admin/rooms/{room}/consent-form", self.base))
                .header("content-type", media_type)
                .body(bytes),
        )
        .await
    }

    /// A patient room's activity (counts only).
    pub async fn room_activity(&self, room: impl AnyId) -> Result<RoomActivity, ClientError> {
        let room = room.uuid();
        self.get(&format!("/v1/admin/rooms/{room}/activity")).await
    }

    /// Posts a city notice or alert.
    pub async fn post_notice(&self, n: &NewNotice) -> Result<PostedNotice, ClientError> {
        self.post("/v1/admin/notices", n).await
    }

    /// Notices and alerts with who has read them (`room`: `notices`, `alerts` or both).
    pub async fn notices(&self, room: Option<CityRoom>) -> Result<Vec<NoticeView>, ClientError> {
        match room {
            Some(r) => {
                self.get(&format!("/v1/admin/notices?room={}", r.key()))
                    .await
            }
            None => self.get("/v1/admin/notices").await,
        }
    }

    /// Imports care-plan files (name, bytes) into a patient room.
    pub async fn import_care_plan(
        &self,
        room: impl AnyId,
        files: &[(String, Vec<u8>)],
    ) -> Result<ImportSummary, ClientError> {
        let room = room.uuid();
        let req = CarePlanUploadRequest {
            files: files
                .iter()
                .map(|(name, bytes)| CarePlanUpload {
                    name: name.clone(),
                    data_base64: data_encoding::BASE64.encode(bytes),
                })
                .collect(),
        };
        self.post(&format!("/v1/admin/rooms/{room}/care-plans"), &req)
            .await
    }

    /// Sets the calling administrator's console login, password and a new TOTP secret.
    pub async fn console_credentials(
        &self,
        req: &CredentialsRequest,
    ) -> Result<ConsoleSetup, ClientError> {
        self.put("/v1/admin/console/credentials", req).await
    }
}

/// The administrator's identity files in `data` (certificate, key): the first pair present of
/// [`startup::admin_identity_paths`]. A renewal cut between its two renames
/// ([`renew_admin_identity`]) is finished first.
pub fn admin_identity(data: &Path) -> Result<(PathBuf, PathBuf), ClientError> {
    for (crt, key) in startup::admin_identity_paths(data) {
        let (crt_new, key_new) = (with_suffix(&crt, ".new"), with_suffix(&key, ".new"));
        if crt_new.exists() && !key_new.exists() {
            // The key was renamed into place, the certificate not yet.
            std::fs::rename(&crt_new, &crt)
                .map_err(|e| ClientError::Setup(format!("cannot finish {}: {e}", crt.display())))?;
        } else if crt_new.exists() && key_new.exists() {
            // A renewal stopped before its renames: the old pair is still whole and still
            // accepted by the relay.
            let _ = std::fs::remove_file(&crt_new);
            let _ = std::fs::remove_file(&key_new);
        }
        if crt.exists() && key.exists() {
            return Ok((crt, key));
        }
    }
    Err(ClientError::Setup(format!(
        "no administrator identity in {0}/admin or {0}/demo",
        data.display()
    )))
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The administrator's certificate is renewed when fewer days than this remain.
pub const ADMIN_RENEW_DAYS: i64 = 30;

/// Why the administrator's certificate in `data` is due for renewal, if it is: fewer than
/// [`ADMIN_RENEW_DAYS`] left at `now_s` (seconds since 1970), or a CA rotation is in its
/// overlap period (`ca-next.crt` exists) and the certificate is not of the new CA.
pub fn admin_renewal_due(data: &Path, now_s: i64) -> Option<&'static str> {
    let (crt, _) = admin_identity(data).ok()?;
    let pem = std::fs::read_to_string(crt).ok()?;
    let der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok()?
    };
    if let Ok(next) = std::fs::read_to_string(data.join("ca-next.crt")) {
        let next = {
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::from_pem_slice(next.as_bytes()).ok()?
        };
        if pki::name_sha256(&der, true) != pki::name_sha256(&next, false) {
            return Some("a CA rotation is under way and it is from the old CA");
        }
    }
    let left = pki::cert_not_after(&der)?.saturating_sub(now_s);
    (left < ADMIN_RENEW_DAYS * 86_400).then_some("it expires within 30 days")
}

/// Renews the administrator's certificate in `data` over mTLS with the current one: a new
/// key made here, the relay's certificate for it, both written beside the old
/// (`admin.key.new`, `admin.crt.new`, 0600) and renamed over them, key first. Returns the
/// relay's answer.
pub async fn renew_admin_identity(
    data: &Path,
    relay: Option<&str>,
) -> Result<RenewResponse, ClientError> {
    let client = Client::admin_from_data_dir(data, relay)?;
    let (crt, key) = admin_identity(data)?;
    let (new_key, csr) =
        pki::new_device_key_and_csr().map_err(|e| ClientError::Setup(e.to_string()))?;
    let resp = client.renew(&csr).await?;
    let io = |p: &Path, e: std::io::Error| ClientError::Setup(format!("{}: {e}", p.display()));
    let (crt_new, key_new) = (with_suffix(&crt, ".new"), with_suffix(&key, ".new"));
    pki::write_private(&key_new, &new_key.serialize_pem()).map_err(|e| io(&key_new, e))?;
    pki::write_private(&crt_new, &resp.certificate_pem).map_err(|e| io(&crt_new, e))?;
    std::fs::rename(&key_new, &key).map_err(|e| io(&key, e))?;
    std::fs::rename(&crt_new, &crt).map_err(|e| io(&crt, e))?;
    if let Some(dir) = crt.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(resp)
}
