//! The relay's rules over the directory: registering professionals, enrollment codes and
//! certificate issuance, rooms and memberships, revocation, and who a TLS peer is.
//!
//! Every rule is here, in plain functions the HTTP layer calls, so the demo, the HTTP API and
//! the tests all go through the same checks.

use crate::audit::AuditLog;
use crate::blobs::Blobs;
use crate::directory::{DirError, Directory, EnrollCode, Professional, Room};
use crate::directory_cache::CachedDirectory;
use crate::documents::Documents;
use crate::events::Events;
use crate::pki::{Ca, CsrError, DeviceIdentity};
use crate::wire::{
    DirectoryView, EnrollCodeResponse, EnrollResponse, MeDevice, MeProfessional, MeResponse,
    MeRoom, MemberView, NewProfessional, NewRoom, RoomView,
};
use kizuna_core::fields::{CheckFields, check_text};
use kizuna_core::{
    Author, DeviceId, Profession, ProfessionalId, Role, RoomId, RoomKind, Timestamp,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why an operation was refused. The HTTP layer turns each into a problem+json response;
/// `Internal` details are logged and never sent.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The request is well-formed but a value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The connection carried no (usable) client certificate.
    #[error("a client certificate is required")]
    Unauthenticated,
    /// The device was revoked; `wipe` tells it to erase its local data.
    #[error("this device has been revoked")]
    Revoked {
        /// Whether the device must erase its local data.
        wipe: bool,
    },
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The enrollment code is unknown, already used or expired (deliberately not saying which).
    #[error("the enrollment code is unknown, already used or expired")]
    BadCode,
    /// Too many enrollment attempts from this source.
    #[error("too many enrollment attempts; wait and try again")]
    RateLimited,
    /// The relay is at its ceiling of work in flight; the device sends again shortly.
    #[error("the relay is busy; try again shortly")]
    Busy,
    /// The CSR was refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// Storage or another internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DirError> for RelayError {
    fn from(e: DirError) -> Self {
        RelayError::Internal(e.to_string())
    }
}

impl From<kizuna_core::ValidationError> for RelayError {
    fn from(e: kizuna_core::ValidationError) -> Self {
        RelayError::Invalid(e.to_string())
    }
}

/// Settings of the relay's rules.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Enrollment attempts allowed per source address in one window.
    pub enroll_attempts: u32,
    /// The window for `enroll_attempts`.
    pub enroll_window: Duration,
    /// Default life of an enrollment code.
    pub code_ttl: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            enroll_attempts: 10,
            enroll_window: Duration::from_secs(600),
            code_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Counts attempts per source address in fixed windows. In memory: a restart forgets the
/// counts, which is acceptable because a code still has 60 random bits.
#[derive(Debug, Default)]
struct RateLimiter {
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Most addresses tracked at once; beyond this, stale entries are dropped first.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    fn allow(&self, ip: IpAddr, max: u32, window: Duration) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
            if seen.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= max
    }
}

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

const META_NOTICES: &str = "room:city_notices";
const META_AUTHOR: &str = "relay:author";

/// The relay's author identity, made once and kept in the directory: its device id is the
/// actor of every change the relay writes.
fn relay_author(dir: &dyn Directory) -> Result<Author, RelayError> {
    let ids = match dir.meta(META_AUTHOR)? {
        Some(b) if b.len() == 32 => b,
        _ => {
            let mut b = ProfessionalId::new().as_bytes().to_vec();
            b.extend_from_slice(DeviceId::new().as_bytes());
            dir.set_meta(META_AUTHOR, &b)?;
            dir.flush()?;
            b
        }
    };
    let id = |s: &[u8]| uuid::Uuid::from_slice(s).map_err(|e| RelayError::Internal(e.to_string()));
    Ok(Author {
        professional: ProfessionalId(id(&ids[..16])?),
        device: DeviceId(id(&ids[16..])?),
        display_name: "Kizuna".into(),
        profession: Profession::CityAdministrator,
        organisation: String::new(),
    })
}
const META_ALERTS: &str = "room:alerts";
/// Prefix of the last-sync time of each device (`seen:<device id>` → ms, big-endian).
const META_SEEN: &str = "seen:";

/// Where the relay keeps room documents and the audit log.
#[derive(Debug)]
pub struct Storage {
    /// The room documents (encrypted at rest).
    pub documents: Documents,
    /// The hash-chained audit log.
    pub audit: AuditLog,
    /// Attachments.
    pub blobs: Blobs,
}

/// How many syncs run at once: eight per core. A sync mostly waits on its two flushes (room
/// store, audit log), so two per core left the CPU idle (W3, 500 phones: 602 syncs/s, p50
/// 1.3 s; with eight, 880 syncs/s, p50 6 ms), while a bound still keeps a city's phones
/// from loading every room at once.
fn sync_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 8
}

/// Fallback sync states (and changes held for their history) by device and document.
pub(crate) type FallbackStates =
    Mutex<HashMap<(DeviceId, RoomId), kizuna_core::sync::relay::Fallback>>;

/// The relay: the directory, the CA, the room documents, the audit log and the rules.
pub struct Relay {
    dir: Arc<dyn Directory>,
    ca: Arc<Ca>,
    public_url: String,
    config: RelayConfig,
    limiter: RateLimiter,
    /// Serialises creation of direct rooms so two racing requests make one room.
    direct_lock: Mutex<()>,
    documents: Documents,
    audit: AuditLog,
    blobs: Blobs,
    events: Events,
    author: Author,
    fallback: FallbackStates,
    sync_slots: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay over `dir` signing with `ca`, reachable by devices at `public_url`. Creates the
    /// city notices and alerts rooms if the directory has none yet. The relay owns `dir` and
    /// caches its lookups, so nothing else may write to it.
    pub fn new(
        dir: Box<dyn Directory>,
        ca: Arc<Ca>,
        public_url: String,
        config: RelayConfig,
        storage: Storage,
    ) -> Result<Relay, RelayError> {
        let author = relay_author(dir.as_ref())?;
        let relay = Relay {
            dir: Arc::new(CachedDirectory::new(dir)),
            ca,
            public_url,
            config,
            limiter: RateLimiter::default(),
            direct_lock: Mutex::new(()),
            documents: storage.documents,
            audit: storage.audit,
            blobs: storage.blobs,
            events: Events::new(),
            author,
            fallback: Mutex::default(),
            sync_slots: tokio::sync::Semaphore::new(sync_slots()),
        };
        relay.ensure_city_room(META_NOTICES, RoomKind::CityNotices, "市からのお知らせ")?;
        relay.ensure_city_room(META_ALERTS, RoomKind::Alerts, "災害・感染症アラート")?;
        Ok(relay)
    }

    /// The directory (for the demo seeding and tests).
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.dir
    }

    /// The CA.
    pub fn ca(&self) -> &Arc<Ca> {
        &self.ca
    }

    /// The room documents.
    pub fn documents(&self) -> &Documents {
        &self.documents
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Attachments.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// The live channel.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The relay's own identity in documents (it writes post numbers, members, consent).
    pub fn relay_author(&self) -> &Author {
        &self.author
    }

    /// Syncs merged at the same time. Loading a one-year room briefly takes several times its
    /// final size, and a hundred phones connecting at once made the relay load a hundred
    /// rooms side by side (2 GB); waiting syncs hold no thread.
    pub fn sync_slots(&self) -> &tokio::sync::Semaphore {
        &self.sync_slots
    }

    pub(crate) fn fallback_states(&self) -> &FallbackStates {
        &self.fallback
    }

    /// The URL devices use to reach the relay (put into QR codes).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    fn ensure_city_room(
        &self,
        key: &str,
        kind: RoomKind,
        name: &str,
    ) -> Result<RoomId, RelayError> {
        if let Some(id) = self.dir.meta(key)? {
            let id =
                uuid::Uuid::from_slice(&id).map_err(|e| RelayError::Internal(e.to_string()))?;
            return Ok(RoomId(id));
        }
        let room = Room {
            id: RoomId::new(),
            kind,
            display_name: name.to_string(),
            consent: None,
            created_at: Timestamp::now(),
            archived_at: None,
        };
        self.dir.put_room(&room)?;
        self.dir.set_meta(key, room.id.as_bytes())?;
        tracing::info!(room = %room.id, kind = kind.key(), "city room created");
        Ok(room.id)
    }

    /// The city notices room's id.
    pub fn notices_room(&self) -> Result<RoomId, RelayError> {
        self.ensure_city_room(META_NOTICES, RoomKind::CityNotices, "市からのお知らせ")
    }

    /// The disaster and infection alerts room's id.
    pub fn alerts_room(&self) -> Result<RoomId, RelayError> {
        self.ensure_city_room(META_ALERTS, RoomKind::Alerts, "災害・感染症アラート")
    }

    fn active_professional(&self, id: ProfessionalId) -> Result<Professional, RelayError> {
        match self.dir.professional(id)? {
            Some(p) if p.is_active() => Ok(p),
            _ => Err(RelayError::NotFound("professional")),
        }
    }

    /// Registers a professional and invites them to the city rooms: every professional reads
    /// the notices, care providers also read the alerts, administrators write both.
    pub fn add_professional(&self, new: NewProfessional) -> Result<Professional, RelayError> {
        check_text("name", &new.name, 1, 100)?;
        check_text("kana", &new.kana, 1, 100)?;
        check_text("organisation.name", &new.organisation.name, 1, 100)?;
        check_office_number(&new.organisation)?;
        let p = Professional {
            id: ProfessionalId::new(),
            name: new.name,
            kana: new.kana,
            profession: new.profession,
            organisation: new.organisation,
            registered_at: Timestamp::now(),
            removed_at: None,
        };
        self.dir.put_professional(&p)?;
        let city_role = if p.is_admin() {
            Role::Writer
        } else {
            Role::Reader
        };
        self.dir
            .set_membership(self.notices_room()?, p.id, city_role)?;
        if p.is_admin() || p.profession.is_care_provider() {
            self.dir
                .set_membership(self.alerts_room()?, p.id, city_role)?;
        }
        self.dir.flush()?;
        self.membership_changed(self.notices_room()?, p.id)?;
        if p.is_admin() || p.profession.is_care_provider() {
            self.membership_changed(self.alerts_room()?, p.id)?;
        }
        tracing::info!(professional = %p.id, profession = p.profession.key(), "professional added");
        Ok(p)
    }

    /// Every professional still registered.
    pub fn professionals(&self) -> Result<Vec<Professional>, RelayError> {
        let mut v: Vec<_> = self
            .dir
            .professionals()?
            .into_iter()
            .filter(|p| p.is_active())
            .collect();
        v.sort_by(|a, b| a.kana.cmp(&b.kana));
        Ok(v)
    }

    /// Removes a professional: they leave every room, every device of theirs is revoked and
    /// told to wipe (someone who left must not keep patient data).
    pub fn remove_professional(&self, id: ProfessionalId) -> Result<(), RelayError> {
        let mut p = self.active_professional(id)?;
        if p.is_admin() {
            return Err(RelayError::Conflict(
                "administrators cannot be removed through the API".into(),
            ));
        }
        let rooms = self.dir.memberships_of(id)?;
        for (room, _) in &rooms {
            self.dir.remove_membership(*room, id)?;
        }
        for mut d in self.dir.devices()? {
            if d.professional == id && d.revoked_at.is_none() {
                d.revoked_at = Some(Timestamp::now());
                d.wipe = true;
                self.dir.put_device(&d)?;
            }
        }
        p.removed_at = Some(Timestamp::now());
        self.dir.put_professional(&p)?;
        self.dir.flush()?;
        for (room, _) in rooms {
            self.membership_changed(room, id)?;
        }
        tracing::info!(professional = %id, "professional removed");
        Ok(())
    }

    /// Changes a professional's name, kana, profession or organisation. The member lists
    /// mirrored into their rooms' documents follow. Administrators keep their profession
    /// (it is what makes them administrators), and nobody becomes one this way.
    pub fn update_professional(
        &self,
        id: ProfessionalId,
        new: NewProfessional,
    ) -> Result<Professional, RelayError> {
        let mut p = self.active_professional(id)?;
        check_text("name", &new.name, 1, 100)?;
        check_text("kana", &new.kana, 1, 100)?;
        check_text("organisation.name", &new.organisation.name, 1, 100)?;
        check_office_number(&new.organisation)?;
        if p.is_admin() != (new.profession == Profession::CityAdministrator) {
            return Err(RelayError::Invalid(
                "profession: administrators are made at first start, not by editing".into(),
            ));
        }
        let provider_before = p.profession.is_care_provider();
        p.name = new.name;
        p.kana = new.kana;
        p.profession = new.profession;
        p.organisation = new.organisation;
        self.dir.put_professional(&p)?;
        // A care provider reads the alerts room; someone who no longer provides care does
        // not (administrators always write it).
        if !p.is_admin() && provider_before != p.profession.is_care_provider() {
            let alerts = self.alerts_room()?;
            if p.profession.is_care_provider() {
                self.dir.set_membership(alerts, p.id, Role::Reader)?;
            } else {
                self.dir.remove_membership(alerts, p.id)?;
                self.membership_changed(alerts, p.id)?;
            }
        }
        self.dir.flush()?;
        for (room, _) in self.dir.memberships_of(id)? {
            self.membership_changed(room, id)?;
        }
        tracing::info!(professional = %id, profession = p.profession.key(), "professional updated");
        Ok(p)
    }

    /// Archives a patient room (the patient left care) or restores it. An archived room
    /// keeps its documents, members and audit trail on the relay, but no device syncs it:
    /// members' devices are told at once and delete their copies (they get `Gone`).
    pub fn set_archived(&self, room: RoomId, archived: bool) -> Result<RoomView, RelayError> {
        let mut r = self.dir.room(room)?.ok_or(RelayError::NotFound("room"))?;
        if r.kind != RoomKind::Patient {
            return Err(RelayError::Invalid(
                "room: only patient rooms are archived".into(),
            ));
        }
        let changed = r.archived_at.is_some() != archived;
        if changed {
            r.archived_at = archived.then(Timestamp::now);
            self.dir.put_room(&r)?;
            self.dir.flush()?;
            for (who, _) in self.dir.members_of(room)? {
                self.membership_changed(room, who)?;
            }
            tracing::info!(room = %room, archived, "room archive state changed");
        }
        self.room_view(room)
    }

    /// The rooms a professional's devices may sync now: their memberships, without
    /// archived rooms.
    pub fn sync_memberships(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<(RoomId, Role)>, RelayError> {
        let mut out = Vec::new();
        for (room, role) in self.dir.memberships_of(professional)? {
            match self.dir.room(room)? {
                Some(r) if r.archived_at.is_some() => {}
                _ => out.push((room, role)),
            }
        }
        Ok(out)
    }

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
        let fingerprint = self.ca.fingerprint();
        let qr_payload = format!(
            "kizuna://enroll?v=1&relay={}&ca=sha256:{}&code={}",
            pct(&self.public_url),
            fingerprint,
            code
        );
        tracing::info!(professional = %p.id, "enrollment code issued");
        Ok(EnrollCodeResponse {
            professional: p.id,
            code,
            expires_at,
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
        crate::pki::check_csr(csr_pem)?;
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
        let cert_pem = self
            .ca
            .issue_device_cert(csr_pem, id, &p.name, &p.organisation.name)?;
        let device = crate::directory::Device {
            id: id.device,
            professional: p.id,
            label: label.to_string(),
            enrolled_at: Timestamp::now(),
            cert_fingerprint: crate::pki::pem_fingerprint(&cert_pem).unwrap_or_default(),
            revoked_at: None,
            wipe: false,
            last_seen: None,
        };
        self.dir.put_device(&device)?;
        self.dir.flush()?;
        tracing::info!(professional = %p.id, device = %device.id, "device enrolled");
        Ok(EnrollResponse {
            professional: p.id,
            device: device.id,
            certificate_pem: cert_pem,
            ca_pem: self.ca.cert_pem().to_string(),
        })
    }

    /// Who a TLS peer is, checked against the directory on every request: the device must
    /// exist, belong to the professional its certificate names, present the very certificate
    /// issued at its enrollment (so even a stolen CA key cannot impersonate an enrolled
    /// device), not be revoked, and its professional must still be registered.
    pub fn authenticate(
        &self,
        cert: Option<crate::pki::PeerCert>,
    ) -> Result<(Professional, crate::directory::Device), RelayError> {
        let cert = cert.ok_or(RelayError::Unauthenticated)?;
        let id = cert.identity;
        let device = self
            .dir
            .device(id.device)?
            .ok_or(RelayError::Unauthenticated)?;
        if device.professional != id.professional || device.cert_fingerprint != cert.fingerprint() {
            tracing::warn!(device = %id.device, "certificate does not match the enrolled device");
            return Err(RelayError::Unauthenticated);
        }
        if device.revoked_at.is_some() {
            return Err(RelayError::Revoked { wipe: device.wipe });
        }
        let p = self
            .dir
            .professional(id.professional)?
            .ok_or(RelayError::Unauthenticated)?;
        if !p.is_active() {
            return Err(RelayError::Revoked { wipe: true });
        }
        Ok((p, device))
    }

    /// Revokes a device; with `wipe` it is also told to erase its local data.
    pub fn revoke_device(&self, id: DeviceId, wipe: bool) -> Result<(), RelayError> {
        let mut d = self.dir.device(id)?.ok_or(RelayError::NotFound("device"))?;
        if d.revoked_at.is_none() {
            d.revoked_at = Some(Timestamp::now());
        }
        d.wipe = d.wipe || wipe;
        self.dir.put_device(&d)?;
        self.dir.flush()?;
        tracing::info!(device = %id, wipe = d.wipe, "device revoked");
        Ok(())
    }

    /// Every device, newest first, with when each last synced.
    pub fn devices(&self) -> Result<Vec<crate::directory::Device>, RelayError> {
        let mut v = self.dir.devices()?;
        for d in &mut v {
            d.last_seen = self.last_seen(d.id)?;
        }
        v.sort_by_key(|d| std::cmp::Reverse(d.enrolled_at));
        Ok(v)
    }

    /// When a device last synced, if ever.
    pub fn last_seen(&self, device: DeviceId) -> Result<Option<Timestamp>, RelayError> {
        Ok(self
            .dir
            .meta(&format!("{META_SEEN}{device}"))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| Timestamp(i64::from_be_bytes(b))))
    }

    /// Records that a device synced now. Written at most once a minute per device, as its
    /// own record (never by rewriting the device, which would race with a revocation), and
    /// not flushed: losing the last minute of it in a crash costs nothing.
    pub fn note_seen(&self, device: DeviceId) -> Result<(), RelayError> {
        let now = Timestamp::now();
        if self
            .last_seen(device)?
            .is_some_and(|t| now.0.saturating_sub(t.0) < 60_000)
        {
            return Ok(());
        }
        self.dir
            .set_meta(&format!("{META_SEEN}{device}"), &now.0.to_be_bytes())?;
        Ok(())
    }

    /// Creates a patient room. Only patient rooms are created this way: the city rooms exist
    /// once, and direct conversations are opened by professionals.
    pub fn create_room(&self, new: NewRoom) -> Result<Room, RelayError> {
        if new.kind != RoomKind::Patient {
            return Err(RelayError::Invalid(
                "kind: only patient rooms are created by administrators".into(),
            ));
        }
        check_text("display_name", &new.display_name, 1, 100)?;
        let consent = new.consent.ok_or_else(|| {
            RelayError::Invalid("consent: a patient room is not opened without consent".into())
        })?;
        consent
            .check()
            .map_err(|e| RelayError::Invalid(e.within("consent").to_string()))?;
        let room = Room {
            id: RoomId::new(),
            kind: RoomKind::Patient,
            display_name: new.display_name,
            consent: Some(consent),
            created_at: Timestamp::now(),
            archived_at: None,
        };
        self.dir.put_room(&room)?;
        self.dir.flush()?;
        // The patient's name is patient data: log the id only.
        tracing::info!(room = %room.id, "patient room created");
        Ok(room)
    }

    /// A room with its members, for administrators.
    pub fn room_view(&self, id: RoomId) -> Result<RoomView, RelayError> {
        let room = self.dir.room(id)?.ok_or(RelayError::NotFound("room"))?;
        let mut members = Vec::new();
        for (pid, role) in self.dir.members_of(id)? {
            if let Some(p) = self.dir.professional(pid)? {
                members.push(MemberView {
                    professional: pid,
                    name: p.name,
                    profession: p.profession,
                    role,
                });
            }
        }
        Ok(RoomView {
            id: room.id,
            kind: room.kind,
            display_name: room.display_name,
            consent: room.consent,
            created_at: room.created_at,
            archived_at: room.archived_at,
            members,
        })
    }

    /// Every room (direct conversations excluded: they are private to their two members).
    pub fn rooms(&self) -> Result<Vec<RoomView>, RelayError> {
        let mut rooms = self.dir.rooms()?;
        rooms.retain(|r| r.kind != RoomKind::Direct);
        rooms.sort_by_key(|r| r.created_at);
        rooms.into_iter().map(|r| self.room_view(r.id)).collect()
    }

    /// Invites a professional into a room. In notice and alert rooms only administrators
    /// write; direct conversations keep their two members.
    pub fn invite(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), RelayError> {
        let r = self.dir.room(room)?.ok_or(RelayError::NotFound("room"))?;
        let p = self.active_professional(professional)?;
        if r.archived_at.is_some() {
            return Err(RelayError::Conflict(
                "room: the room is archived; restore it before inviting".into(),
            ));
        }
        match r.kind {
            RoomKind::Direct => {
                return Err(RelayError::Invalid(
                    "room: a direct conversation has exactly its two members".into(),
                ));
            }
            RoomKind::CityNotices | RoomKind::Alerts if role == Role::Writer && !p.is_admin() => {
                return Err(RelayError::Invalid(
                    "role: only administrators write in notice and alert rooms".into(),
                ));
            }
            _ => {}
        }
        self.dir.set_membership(room, professional, role)?;
        self.dir.flush()?;
        self.membership_changed(room, professional)?;
        tracing::info!(room = %room, professional = %professional, role = ?role, "member invited");
        Ok(())
    }

    /// Removes a professional from a room; their devices stop seeing it at once.
    pub fn remove_member(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<(), RelayError> {
        if !self.dir.remove_membership(room, professional)? {
            return Err(RelayError::NotFound("membership"));
        }
        self.dir.flush()?;
        self.membership_changed(room, professional)?;
        tracing::info!(room = %room, professional = %professional, "member removed");
        Ok(())
    }

    /// What `GET /v1/me` answers: the professional, the device and the rooms it may sync.
    pub fn me(
        &self,
        p: &Professional,
        d: &crate::directory::Device,
    ) -> Result<MeResponse, RelayError> {
        let mut rooms = Vec::new();
        for (rid, role) in self.dir.memberships_of(p.id)? {
            let Some(room) = self.dir.room(rid)? else {
                continue;
            };
            if room.archived_at.is_some() {
                continue;
            }
            let display_name = if room.kind == RoomKind::Direct {
                self.direct_partner_name(rid, p.id)?
                    .unwrap_or(room.display_name)
            } else {
                room.display_name
            };
            rooms.push(MeRoom {
                id: rid,
                kind: room.kind,
                display_name,
                role,
            });
        }
        rooms.sort_by_key(|r| (kind_order(r.kind), r.display_name.clone()));
        Ok(MeResponse {
            professional: MeProfessional {
                id: p.id,
                name: p.name.clone(),
                kana: p.kana.clone(),
                profession: p.profession,
                profession_ja: p.profession.label_ja().to_string(),
                organisation: p.organisation.clone(),
                administrator: p.is_admin(),
            },
            device: MeDevice {
                id: d.id,
                label: d.label.clone(),
                enrolled_at: d.enrolled_at,
            },
            rooms,
        })
    }

    fn direct_partner_name(
        &self,
        room: RoomId,
        me: ProfessionalId,
    ) -> Result<Option<String>, RelayError> {
        for (pid, _) in self.dir.members_of(room)? {
            if pid != me {
                return Ok(self.dir.professional(pid)?.map(|p| p.name));
            }
        }
        Ok(None)
    }

    /// Opens (or returns the existing) direct conversation between two professionals.
    pub fn direct_room(
        &self,
        me: &Professional,
        with: ProfessionalId,
    ) -> Result<MeRoom, RelayError> {
        if with == me.id {
            return Err(RelayError::Invalid(
                "with: a conversation needs another professional".into(),
            ));
        }
        let other = self.active_professional(with)?;
        let (a, b) = if me.id < other.id {
            (me.id, other.id)
        } else {
            (other.id, me.id)
        };
        let key = format!("direct:{a}:{b}");
        let _guard = self
            .direct_lock
            .lock()
            .map_err(|_| RelayError::Internal("direct lock poisoned".into()))?;
        let id = match self.dir.meta(&key)? {
            Some(bytes) => RoomId(
                uuid::Uuid::from_slice(&bytes).map_err(|e| RelayError::Internal(e.to_string()))?,
            ),
            None => {
                let room = Room {
                    id: RoomId::new(),
                    kind: RoomKind::Direct,
                    display_name: format!("{} ・ {}", me.name, other.name),
                    consent: None,
                    created_at: Timestamp::now(),
                    archived_at: None,
                };
                self.dir.put_room(&room)?;
                self.dir.set_meta(&key, room.id.as_bytes())?;
                tracing::info!(room = %room.id, "direct conversation opened");
                room.id
            }
        };
        // Re-adding is harmless and repairs a conversation a member was removed from.
        self.dir.set_membership(id, a, Role::Writer)?;
        self.dir.set_membership(id, b, Role::Writer)?;
        self.dir.flush()?;
        self.membership_changed(id, a)?;
        self.membership_changed(id, b)?;
        Ok(MeRoom {
            id,
            kind: RoomKind::Direct,
            display_name: other.name,
            role: Role::Writer,
        })
    }

    /// Everyone and every device, for the admin console.
    pub fn directory_view(&self) -> Result<DirectoryView, RelayError> {
        let professionals = self.professionals()?;
        let mut organisations: Vec<kizuna_core::Organisation> = Vec::new();
        for p in &professionals {
            if !organisations.contains(&p.organisation) {
                organisations.push(p.organisation.clone());
            }
        }
        organisations.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DirectoryView {
            professionals,
            devices: self.devices()?,
            organisations,
        })
    }

    /// Registered administrators (used at first start to know whether one must be made).
    pub fn administrators(&self) -> Result<Vec<Professional>, RelayError> {
        Ok(self
            .professionals()?
            .into_iter()
            .filter(|p| p.profession == Profession::CityAdministrator)
            .collect())
    }
}

fn check_office_number(org: &kizuna_core::Organisation) -> Result<(), RelayError> {
    if let Some(no) = &org.office_number
        && (no.len() != 10 || !no.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(RelayError::Invalid(
            "organisation.office_number: must be 10 digits".into(),
        ));
    }
    Ok(())
}

fn kind_order(k: RoomKind) -> u8 {
    match k {
        RoomKind::Alerts => 0,
        RoomKind::CityNotices => 1,
        RoomKind::Patient => 2,
        RoomKind::Direct => 3,
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

    #[test]
    fn limiter_counts_per_source() {
        let l = RateLimiter::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let w = Duration::from_secs(60);
        assert!(l.allow(a, 2, w));
        assert!(l.allow(a, 2, w));
        assert!(!l.allow(a, 2, w));
        assert!(l.allow(b, 2, w));
    }
}
