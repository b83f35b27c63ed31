//! The `Device` object: one per app process, over the encrypted store in the app's data
//! folder. Everything a nurse's app does goes through it; it is thread-safe and every method
//! blocks (call from a background thread or coroutine, never the UI thread).

use super::enroll::{self, Enrolled};
use super::error::{KizunaError, invalid, parse_id};
use super::listen::{DeviceListener, Event, Hub, Subscription};
use super::types::*;
use crate::sync_client::SyncClient;
use crate::transport::{
    BlobSink, BlobSource, HttpsTransport, LiveEvents, Transport, TransportError,
};
use kizuna_core::blobs::UploadStatus;
use kizuna_core::model::{self, ReportContent};
use kizuna_core::search::{SearchIndex, SearchQuery};
use kizuna_core::store::{Space, Write, key};
use kizuna_core::sync::device::SyncReport;
use kizuna_core::{
    Author, ContentHash, Profession, ProfessionalId, ReportId, RoomHandle, RoomId, RoomStore,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Supplies the 32-byte key of the device store, kept by the app in the Keychain (iOS) or
/// the Android Keystore. Called when the device opens.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// The store key: 32 random bytes made once per installation and kept by the platform.
    fn store_key(&self) -> Result<Vec<u8>, KizunaError>;
}

/// Downloaded attachments kept on the device before the least recently used are dropped.
const DEFAULT_CACHE_LIMIT: u64 = 512 * 1024 * 1024;
/// Longest wait of the live channel before asking again.
const LIVE_WAIT: Duration = Duration::from_secs(15);

/// What the device keeps about itself, sealed in its store.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    enrolled: Enrolled,
    name: String,
    profession: Profession,
    organisation: String,
    /// Room names and kinds as `/v1/me` last gave them.
    #[serde(default)]
    rooms: BTreeMap<RoomId, String>,
    #[serde(default)]
    last_synced: Option<i64>,
}

fn record_key() -> Vec<u8> {
    key(Space::Meta, &[b"device/identity"])
}

struct Enrolment {
    record: Record,
    author: Author,
    https: Arc<HttpsTransport>,
    client: SyncClient,
}

struct Open {
    store: RoomStore,
    search: SearchIndex,
    enrolment: RwLock<Option<Arc<Enrolment>>>,
}

#[derive(Clone, Debug)]
struct Status {
    phase: SyncPhase,
    upload: Option<UploadProgress>,
}

struct Inner {
    dir: PathBuf,
    open: RwLock<Option<Arc<Open>>>,
    status: Mutex<Status>,
    hub: Arc<Hub>,
    sync_lock: Mutex<()>,
    live: AtomicBool,
    nudge_pending: AtomicBool,
    cache_limit: std::sync::atomic::AtomicU64,
}

/// This phone: its encrypted store, its identity and its connection to the relay.
#[derive(uniffi::Object)]
pub struct Device {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

fn storage(detail: impl std::fmt::Display) -> KizunaError {
    KizunaError::Storage {
        detail: detail.to_string(),
    }
}

/// Told the hash, bytes sent and size as an upload advances.
type ProgressFn = Arc<dyn Fn(&ContentHash, u64, u64) + Send + Sync>;

/// Reports upload progress from the bytes read for the network (at most a few MiB ahead).
struct Observed {
    inner: Arc<HttpsTransport>,
    on_progress: ProgressFn,
}

struct CountingSource {
    inner: Arc<dyn BlobSource>,
    hash: ContentHash,
    size: u64,
    on_progress: ProgressFn,
}

impl BlobSource for CountingSource {
    fn read(&self, offset: u64, max: usize) -> Result<Vec<u8>, String> {
        let bytes = self.inner.read(offset, max)?;
        (self.on_progress)(&self.hash, offset + bytes.len() as u64, self.size);
        Ok(bytes)
    }
}

impl Transport for Observed {
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.inner.exchange(request)
    }
    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError> {
        self.inner.wait_for_changes(cursor, timeout)
    }
    fn upload_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError> {
        self.inner.upload_status(hash, doc, size, media_type)
    }
    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        let source = Arc::new(CountingSource {
            inner: source,
            hash: *hash,
            size,
            on_progress: self.on_progress.clone(),
        });
        self.inner.upload(hash, doc, offset, size, source)
    }
    fn download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError> {
        self.inner.download(hash, doc, offset, sink)
    }
}

impl Inner {
    fn opened(&self) -> Result<Arc<Open>, KizunaError> {
        read(&self.open).clone().ok_or(KizunaError::NotEnrolled)
    }

    fn enrolled(&self) -> Result<(Arc<Open>, Arc<Enrolment>), KizunaError> {
        let open = self.opened()?;
        let e = read(&open.enrolment)
            .clone()
            .ok_or(KizunaError::NotEnrolled)?;
        Ok((open, e))
    }

    fn me(&self) -> Option<ProfessionalId> {
        self.enrolled().ok().map(|(_, e)| e.author.professional)
    }

    fn set_phase(&self, phase: SyncPhase) {
        {
            let mut s = lock(&self.status);
            if s.phase == phase {
                return;
            }
            s.phase = phase;
        }
        self.publish_sync();
    }

    fn sync_state(&self) -> SyncState {
        let status = lock(&self.status).clone();
        let (pending_changes, pending_uploads, last) = match self.enrolled() {
            Ok((open, e)) => {
                let pending = kizuna_core::sync::device::status(&open.store)
                    .map(|v| v.iter().map(|d| d.pending).sum())
                    .unwrap_or(0);
                let uploads = e
                    .client
                    .blobs()
                    .pending_uploads()
                    .map(|v| v.len() as u32)
                    .unwrap_or(0);
                (pending, uploads, e.record.last_synced)
            }
            Err(_) => (0, 0, None),
        };
        let phase = match (&status.phase, self.enrolled().is_ok()) {
            (SyncPhase::Revoked { wipe }, _) => SyncPhase::Revoked { wipe: *wipe },
            (_, false) => SyncPhase::NotEnrolled,
            (p, true) => p.clone(),
        };
        SyncState {
            phase,
            last_synced_ms: last,
            pending_changes,
            pending_uploads,
            upload: status.upload,
        }
    }

    fn publish_sync(&self) {
        if self.hub.is_empty() {
            return;
        }
        self.hub.send_sync(&self.sync_state());
    }

    fn publish_rooms(&self, changed: Vec<String>) {
        if self.hub.is_empty() {
            return;
        }
        match self.rooms() {
            Ok(rooms) => self.hub.send_rooms(&rooms, &changed),
            Err(e) => tracing::warn!(error = %e, "room list unavailable for listeners"),
        }
    }

    fn rooms(&self) -> Result<Vec<RoomInfo>, KizunaError> {
        let open = self.opened()?;
        let enrolment = read(&open.enrolment).clone();
        let me = enrolment.as_ref().map(|e| e.author.professional);
        let names = enrolment
            .as_ref()
            .map(|e| e.record.rooms.clone())
            .unwrap_or_default();
        let metas = open.store.rooms()?;
        let mut out = Vec::new();
        for m in metas.iter().filter(|m| m.scope.is_none()) {
            let docs = metas
                .iter()
                .filter(|d| d.id == m.id || d.scope.as_ref().is_some_and(|s| s.parent == m.id));
            let mut info = RoomInfo {
                id: m.id.to_string(),
                kind: m.kind.into(),
                display_name: names.get(&m.id).cloned().unwrap_or_default(),
                report_count: 0,
                unread_count: 0,
                must_read_unread: 0,
                pending_changes: 0,
                refusal: None,
                last_care_time_ms: None,
            };
            for d in docs {
                info.pending_changes += d.pending();
                if info.refusal.is_none() {
                    info.refusal = d.refusal().map(str::to_string);
                }
                for s in open.store.open_room(d.id)?.summaries()? {
                    info.report_count += 1;
                    info.last_care_time_ms = info.last_care_time_ms.max(Some(s.care_time.0));
                    let unread = !s.withdrawn
                        && me.is_some_and(|me| s.author != me && !s.readers.contains(&me));
                    if unread {
                        info.unread_count += 1;
                        if me.is_some_and(|me| s.must_read.contains(&me)) {
                            info.must_read_unread += 1;
                        }
                    }
                }
            }
            out.push(info);
        }
        out.sort_by(|a, b| {
            (a.kind != RoomKind::Patient, &a.display_name, &a.id).cmp(&(
                b.kind != RoomKind::Patient,
                &b.display_name,
                &b.id,
            ))
        });
        Ok(out)
    }

    /// The room's document and its restricted documents held here.
    fn docs_of(&self, open: &Open, room: RoomId) -> Result<Vec<RoomHandle>, KizunaError> {
        let mut out = vec![open.store.open_room(room).map_err(|e| match e {
            kizuna_core::CoreError::NotFound(_) => KizunaError::NotFound {
                what: "room".into(),
            },
            other => other.into(),
        })?];
        for d in open.store.scoped_docs(room)? {
            out.push(open.store.open_room(d)?);
        }
        Ok(out)
    }

    /// The document holding a report.
    fn doc_of_report(
        &self,
        open: &Open,
        room: RoomId,
        report: ReportId,
    ) -> Result<RoomHandle, KizunaError> {
        for h in self.docs_of(open, room)? {
            if h.summaries()?.iter().any(|s| s.id == report) {
                return Ok(h);
            }
        }
        Err(KizunaError::NotFound {
            what: "report".into(),
        })
    }

    fn save_record(&self, open: &Open, record: &Record) -> Result<(), KizunaError> {
        let bytes = serde_json::to_vec(record).map_err(storage)?;
        open.store
            .vault()
            .apply(vec![Write::Put(record_key(), bytes)])?;
        Ok(())
    }

    /// Asks the relay who this device is and which rooms it may see (names for the list).
    fn refresh_me(
        self: &Arc<Self>,
        open: &Open,
        e: &Enrolment,
    ) -> Result<Arc<Enrolment>, KizunaError> {
        let me = e.https.get_json("/v1/me")?;
        let mut record = e.record.clone();
        if let Some(p) = me.get("professional") {
            if let Some(n) = p.get("name").and_then(|v| v.as_str()) {
                record.name = n.to_string();
            }
            if let Some(pr) = p
                .get("profession")
                .and_then(|v| serde_json::from_value::<Profession>(v.clone()).ok())
            {
                record.profession = pr;
            }
            if let Some(o) = p
                .get("organisation")
                .and_then(|o| o.get("name"))
                .and_then(|v| v.as_str())
            {
                record.organisation = o.to_string();
            }
        }
        if let Some(rooms) = me.get("rooms").and_then(|r| r.as_array()) {
            record.rooms = rooms
                .iter()
                .filter_map(|r| {
                    let id: RoomId = r.get("id")?.as_str()?.parse().ok()?;
                    let name = r.get("display_name")?.as_str()?.to_string();
                    Some((id, name))
                })
                .collect();
        }
        self.save_record(open, &record)?;
        let next = Arc::new(make_enrolment(&open.store, record, e.https.clone(), self)?);
        *write(&open.enrolment) = Some(next.clone());
        Ok(next)
    }

    /// One complete sync (documents, then queued attachments), serialised with any other.
    fn sync(self: &Arc<Self>) -> Result<SyncSummary, KizunaError> {
        let _one = lock(&self.sync_lock);
        let (open, e) = self.enrolled()?;
        self.set_phase(SyncPhase::Syncing);
        let result = e.client.sync_now();
        {
            lock(&self.status).upload = None;
        }
        let report = match result {
            Ok(r) => r,
            Err(err) => {
                let err: KizunaError = err.into();
                self.after_sync_error(&err);
                return Err(err);
            }
        };
        let mut e = e;
        let names_missing = open
            .store
            .rooms()?
            .iter()
            .any(|m| m.scope.is_none() && !e.record.rooms.contains_key(&m.id));
        if names_missing || !report.added.is_empty() || !report.removed.is_empty() {
            match self.refresh_me(&open, &e) {
                Ok(next) => e = next,
                Err(err) => tracing::debug!(error = %err, "room names not refreshed"),
            }
        }
        let mut record = e.record.clone();
        record.last_synced = Some(Timestamp::now().0);
        self.save_record(&open, &record)?;
        *write(&open.enrolment) = Some(Arc::new(make_enrolment(
            &open.store,
            record,
            e.https.clone(),
            self,
        )?));
        if let Err(err) = open.search.after_sync(&report) {
            tracing::debug!(error = %err, "search index not refreshed after sync");
        }
        self.set_phase(SyncPhase::Idle);
        self.publish_sync();
        let changed = changed_rooms(&open.store, &report);
        if !changed.is_empty() {
            self.publish_rooms(changed);
        }
        let pending_uploads = e
            .client
            .blobs()
            .pending_uploads()
            .map(|v| v.len() as u32)
            .unwrap_or(0);
        Ok(SyncSummary {
            updated: report.updated.iter().map(ToString::to_string).collect(),
            added: report.added.iter().map(ToString::to_string).collect(),
            removed: report.removed.iter().map(ToString::to_string).collect(),
            refused: report.refused.iter().map(|(r, _)| r.to_string()).collect(),
            pending_uploads,
        })
    }

    fn after_sync_error(&self, err: &KizunaError) {
        match err {
            KizunaError::Offline => self.set_phase(SyncPhase::Offline),
            KizunaError::Revoked { wipe } => {
                self.live.store(false, Ordering::SeqCst);
                self.set_phase(SyncPhase::Revoked { wipe: *wipe })
            }
            _ => self.set_phase(SyncPhase::Idle),
        }
    }

    /// After a change made here: tell listeners, and push it at once when live sync runs.
    fn changed_here(self: &Arc<Self>, room: RoomId) {
        self.publish_rooms(vec![room.to_string()]);
        self.publish_sync();
        if self.live.load(Ordering::SeqCst) && !self.nudge_pending.swap(true, Ordering::SeqCst) {
            let me = self.clone();
            std::thread::spawn(move || {
                me.nudge_pending.store(false, Ordering::SeqCst);
                let _ = me.sync();
            });
        }
    }
}

/// Patient rooms (not restricted document ids) touched by a sync.
fn changed_rooms(store: &RoomStore, report: &SyncReport) -> Vec<String> {
    let metas = store.rooms().unwrap_or_default();
    let parent = |d: &RoomId| {
        metas
            .iter()
            .find(|m| m.id == *d)
            .and_then(|m| m.scope.as_ref().map(|s| s.parent))
            .unwrap_or(*d)
    };
    let mut out: Vec<String> = report
        .updated
        .iter()
        .chain(&report.added)
        .chain(&report.removed)
        .map(|d| parent(d).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn make_enrolment(
    store: &RoomStore,
    record: Record,
    https: Arc<HttpsTransport>,
    inner: &Arc<Inner>,
) -> Result<Enrolment, KizunaError> {
    let professional: ProfessionalId = parse_id("professional", &record.enrolled.professional)?;
    let device = parse_id("device", &record.enrolled.device)?;
    let author = Author {
        professional,
        device,
        display_name: record.name.clone(),
        profession: record.profession,
        organisation: record.organisation.clone(),
    };
    let weak = Arc::downgrade(inner);
    let on_progress: ProgressFn = Arc::new(move |hash: &ContentHash, sent: u64, total: u64| {
        if let Some(inner) = weak.upgrade() {
            lock(&inner.status).upload = Some(UploadProgress {
                hash: hash.to_hex(),
                sent,
                total,
            });
            inner.publish_sync();
        }
    });
    let transport = Arc::new(Observed {
        inner: https.clone(),
        on_progress,
    });
    let client = SyncClient::new(store.clone(), transport);
    Ok(Enrolment {
        record,
        author,
        https,
        client,
    })
}

fn open_store(dir: &Path, keys: &dyn KeyProvider) -> Result<Open, KizunaError> {
    let key = keys.store_key()?;
    if key.len() != 32 {
        return Err(KizunaError::KeyUnavailable {
            detail: "the store key must be 32 bytes".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|_| storage("cannot create the data folder"))?;
    let store = RoomStore::open(&dir.join("store"), &key)?;
    let search = SearchIndex::open(&store)?;
    Ok(Open {
        store,
        search,
        enrolment: RwLock::new(None),
    })
}

fn load_record(store: &RoomStore) -> Result<Option<Record>, KizunaError> {
    match store.vault().get(&record_key())? {
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).map_err(|_| storage("the device record is corrupt"))?,
        )),
        None => Ok(None),
    }
}

fn https_of(e: &Enrolled) -> Result<Arc<HttpsTransport>, KizunaError> {
    Ok(Arc::new(HttpsTransport::new(
        &e.relay,
        &e.ca_pem,
        &e.cert_pem,
        &e.key_pem,
    )?))
}

fn parse_room(room_id: &str) -> Result<RoomId, KizunaError> {
    parse_id("room_id", room_id)
}

fn parse_report(report_id: &str) -> Result<ReportId, KizunaError> {
    parse_id("report_id", report_id)
}

/// Keeps the device syncing while it is alive: started by `Device.start_live_sync`, stopped
/// when closed or dropped.
#[derive(uniffi::Object)]
pub struct LiveSync {
    stop: Arc<AtomicBool>,
    inner: Arc<Inner>,
}

#[uniffi::export]
impl LiveSync {
    /// Stops syncing in the background (the current long poll ends within 15 s).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.inner.live.store(false, Ordering::SeqCst);
    }
}

impl Drop for LiveSync {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Device {
    /// Edits one of this professional's reports through `f`, queueing new attachments.
    fn edit(
        &self,
        room_id: &str,
        report_id: &str,
        f: impl FnOnce(&mut ReportContent),
    ) -> Result<Vec<String>, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(room_id)?;
        let id = parse_report(report_id)?;
        let doc = self.inner.doc_of_report(&open, room, id)?;
        let now = Timestamp::now();
        // As in `post_report`: new photos are queued before the edit is saved.
        let before = doc.read(|r| Ok(r.report(id)?.content))?;
        let mut content = before.clone();
        f(&mut content);
        if content != before {
            e.client.blobs().queue_report(doc.id(), &content, now)?;
        }
        let fields = doc.write(|r| r.edit_report(&e.author, now, id, |c| *c = content.clone()))?;
        if !fields.is_empty() {
            self.inner.changed_here(room);
        }
        Ok(fields)
    }
}

fn live_loop(inner: Arc<Inner>, stop: Arc<AtomicBool>) {
    let mut cursor = 0u64;
    let mut backoff = Duration::from_secs(1);
    let mut need_sync = true;
    while !stop.load(Ordering::SeqCst) {
        let Ok((_, e)) = inner.enrolled() else {
            return;
        };
        let https = e.https.clone();
        drop(e);
        if cursor == 0 {
            match https.wait_for_changes(0, LIVE_WAIT) {
                Ok(ev) => cursor = ev.cursor.max(1),
                Err(err) => {
                    let err: KizunaError = err.into();
                    inner.after_sync_error(&err);
                    if matches!(err, KizunaError::Revoked { .. }) {
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if need_sync {
            match inner.sync() {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(KizunaError::Revoked { .. }) => return,
                Err(_) => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match https.wait_for_changes(cursor, LIVE_WAIT) {
            Ok(ev) => {
                cursor = ev.cursor.max(1);
                need_sync = ev.resync || !ev.docs.is_empty();
            }
            Err(err) => {
                let err: KizunaError = err.into();
                inner.after_sync_error(&err);
                if matches!(err, KizunaError::Revoked { .. }) {
                    return;
                }
                need_sync = true;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

#[uniffi::export]
impl Device {
    /// Opens (or creates) the device store in `data_dir`, an app-private folder, with the key
    /// from `keys`. An enrolled device is ready to sync at once.
    #[uniffi::constructor]
    pub fn new(data_dir: String, keys: Arc<dyn KeyProvider>) -> Result<Arc<Self>, KizunaError> {
        let dir = PathBuf::from(data_dir);
        let open = Arc::new(open_store(&dir, keys.as_ref())?);
        let inner = Arc::new(Inner {
            dir,
            open: RwLock::new(Some(open.clone())),
            status: Mutex::new(Status {
                phase: SyncPhase::Idle,
                upload: None,
            }),
            hub: Arc::new(Hub::default()),
            sync_lock: Mutex::new(()),
            live: AtomicBool::new(false),
            nudge_pending: AtomicBool::new(false),
            cache_limit: std::sync::atomic::AtomicU64::new(DEFAULT_CACHE_LIMIT),
        });
        if let Some(record) = load_record(&open.store)? {
            let https = https_of(&record.enrolled)?;
            let e = make_enrolment(&open.store, record, https, &inner)?;
            *write(&open.enrolment) = Some(Arc::new(e));
        }
        Ok(Arc::new(Device { inner }))
    }

    /// Whether the device has an identity (enrolled and not wiped).
    pub fn is_enrolled(&self) -> bool {
        self.inner.enrolled().is_ok()
    }

    /// Enrolls from the text of the scanned QR code: makes the key pair here, sends its
    /// certificate request with the one-time code, keeps the certificate, and learns the
    /// professional's name and rooms. `label` names the device in the administrator's list.
    pub fn enroll(
        &self,
        qr_payload: String,
        label: Option<String>,
    ) -> Result<Identity, KizunaError> {
        let open = self.inner.opened()?;
        if read(&open.enrolment).is_some() {
            return Err(KizunaError::Forbidden {
                reason: "this device is already enrolled; wipe it first".into(),
            });
        }
        let payload = enroll::parse_payload(&qr_payload)?;
        let enrolled = enroll::enroll(&payload, label.as_deref())?;
        let https = https_of(&enrolled)?;
        let record = Record {
            enrolled,
            name: String::new(),
            profession: Profession::Other,
            organisation: String::new(),
            rooms: BTreeMap::new(),
            last_synced: None,
        };
        self.inner.save_record(&open, &record)?;
        let e = make_enrolment(&open.store, record, https, &self.inner)?;
        // Names come from the relay; enrollment stands even if this question fails (offline):
        // they are asked again after the next sync.
        if let Err(err) = self.inner.refresh_me(&open, &e) {
            tracing::debug!(error = %err, "profile not fetched after enrollment");
            *write(&open.enrolment) = Some(Arc::new(e));
        }
        self.inner.set_phase(SyncPhase::Idle);
        self.inner.publish_sync();
        self.identity().ok_or(KizunaError::NotEnrolled)
    }

    /// Who this device belongs to, once enrolled.
    pub fn identity(&self) -> Option<Identity> {
        let (_, e) = self.inner.enrolled().ok()?;
        Some(Identity {
            professional_id: e.author.professional.to_string(),
            device_id: e.author.device.to_string(),
            name: e.record.name.clone(),
            profession: e.record.profession.key().to_string(),
            profession_ja: e.record.profession.label_ja().to_string(),
            organisation: e.record.organisation.clone(),
            relay_url: e.record.enrolled.relay.clone(),
        })
    }

    /// Rooms on this device with unread counts and pending changes (patient rooms first).
    pub fn rooms(&self) -> Result<Vec<RoomInfo>, KizunaError> {
        self.inner.rooms()
    }

    /// A room's reports, newest first (restricted ones this professional may see included).
    pub fn reports(&self, room_id: String) -> Result<Vec<ReportRow>, KizunaError> {
        let open = self.inner.opened()?;
        let me = self.inner.me();
        let mut rows = Vec::new();
        for h in self.inner.docs_of(&open, parse_room(&room_id)?)? {
            rows.extend(h.summaries()?);
        }
        kizuna_core::room::sort_newest_first(&mut rows);
        Ok(rows.iter().map(|s| ReportRow::from_core(s, me)).collect())
    }

    /// One report with its content, comments and read receipts.
    pub fn report(&self, room_id: String, report_id: String) -> Result<ReportDetail, KizunaError> {
        let open = self.inner.opened()?;
        let me = self.inner.me();
        let room = parse_room(&room_id)?;
        let id = parse_report(&report_id)?;
        let doc = self.inner.doc_of_report(&open, room, id)?;
        let blobs = self
            .inner
            .enrolled()
            .ok()
            .map(|(_, e)| e.client.blobs().clone());
        let (report, summary, members) = doc.read(|r| {
            Ok((
                r.report(id)?,
                r.report_summary(id)?,
                r.members().unwrap_or_default(),
            ))
        })?;
        let available = |h: &ContentHash| {
            blobs
                .as_ref()
                .and_then(|b| b.meta(h).ok().flatten())
                .is_some_and(|m| m.complete)
        };
        let c = &report.content;
        let (text, problem, s, o, a, p) = match &c.body {
            model::ReportBody::Free { text } => (text.clone(), "", "", "", "", ""),
            model::ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => (
                String::new(),
                problem.as_str(),
                s.as_str(),
                o.as_str(),
                a.as_str(),
                p.as_str(),
            ),
        };
        let content = ReportDraft {
            care_time_ms: c.care_time.0,
            importance: c.importance.stars(),
            text,
            problem: problem.into(),
            s: s.into(),
            o: o.into(),
            a: a.into(),
            p: p.into(),
            audience: match &c.scope {
                model::ShareScope::All => Vec::new(),
                model::ShareScope::Members { members } => {
                    members.iter().map(ToString::to_string).collect()
                }
            },
            must_read: c.must_read.iter().map(ToString::to_string).collect(),
            vitals: c.vitals.iter().map(Vitals::from_core).collect(),
            wounds: c.wounds.iter().map(Wound::from_core).collect(),
            attachments: c
                .attachments
                .iter()
                .map(|a| Attachment::from_core(a, available(&a.hash)))
                .collect(),
        };
        Ok(ReportDetail {
            row: ReportRow::from_core(&summary, me),
            content,
            author_organisation: report.author.organisation.clone(),
            received_at_ms: report.received_at.map(|t| t.0),
            comments: report
                .comments
                .iter()
                .map(|c| Comment {
                    id: c.id.to_string(),
                    author_name: c.author.name.clone(),
                    author_id: c.author.professional.to_string(),
                    at_ms: c.at.0,
                    text: c.text.clone(),
                })
                .collect(),
            receipts: report
                .receipts
                .iter()
                .map(|(who, at)| Receipt {
                    professional_id: who.to_string(),
                    name: members.get(who).map(|m| m.name.clone()),
                    read_at_ms: at.0,
                })
                .collect(),
            edit_count: report.edits.len() as u32,
            withdrawn_reason: report.withdrawn.as_ref().map(|w| w.reason.clone()),
        })
    }

    /// Stores a photo, video, audio or document from a file the app wrote (the camera's
    /// output) in the encrypted store, with a thumbnail for photos (for videos, from
    /// `video_frame_path`, a still the app took from the clip). Put the result in a draft's
    /// `attachments`; it is uploaded after the report is synced. The app may delete its file
    /// afterwards.
    pub fn attach_file(
        &self,
        path: String,
        kind: AttachmentKind,
        media_type: String,
        caption: Option<String>,
        video_frame_path: Option<String>,
    ) -> Result<Attachment, KizunaError> {
        let (_, e) = self.inner.enrolled()?;
        let a = kizuna_core::blobs::attach_file(
            e.client.blobs(),
            Path::new(&path),
            kind.into(),
            &media_type,
            caption,
            Some(Timestamp::now()),
            video_frame_path.as_deref().map(Path::new),
        )?;
        Ok(Attachment::from_core(&a, true))
    }

    /// Posts a report (works offline; it reaches the relay at the next sync). Returns its id.
    pub fn post_report(&self, room_id: String, draft: ReportDraft) -> Result<String, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let content = draft.to_core()?;
        let doc = open
            .store
            .doc_for_report(room, e.author.professional, &content.scope)?;
        let now = Timestamp::now();
        // Photos join the upload queue before the report is saved: if the app dies between
        // the two, the queue holds an entry no report references (dropped at the next upload),
        // never a saved report whose photos would stay on this phone.
        e.client.blobs().queue_report(doc.id(), &content, now)?;
        let id = doc.write(|r| r.post_report(&e.author, now, &content))?;
        self.inner.changed_here(room);
        Ok(id.to_string())
    }

    /// Replaces the content of one of this professional's reports with `draft` (its audience
    /// cannot change, and intake/output, which a draft does not carry, is kept). Returns the
    /// names of the changed fields.
    pub fn edit_report(
        &self,
        room_id: String,
        report_id: String,
        draft: ReportDraft,
    ) -> Result<Vec<String>, KizunaError> {
        let content = draft.to_core()?;
        self.edit(&room_id, &report_id, move |c| {
            // What a draft cannot express stays as it is: intake/output written by another
            // client, and the share scope (a report stays in the document it was posted to).
            let intake = c.intake.take();
            let scope = c.scope.clone();
            *c = content;
            c.intake = intake;
            c.scope = scope;
        })
    }

    /// Adds a pressure-ulcer assessment (DESIGN-R 2020) to one of this professional's
    /// reports; its photos must be among the report's attachments.
    pub fn add_wound_assessment(
        &self,
        room_id: String,
        report_id: String,
        wound: Wound,
    ) -> Result<(), KizunaError> {
        let w = wound.to_core()?;
        self.edit(&room_id, &report_id, move |c| c.wounds.push(w))?;
        Ok(())
    }

    /// Replies to a report. Returns the comment's id.
    pub fn add_comment(
        &self,
        room_id: String,
        report_id: String,
        text: String,
    ) -> Result<String, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let id = parse_report(&report_id)?;
        let doc = self.inner.doc_of_report(&open, room, id)?;
        let c = doc.write(|r| r.add_comment(&e.author, Timestamp::now(), id, &text))?;
        self.inner.changed_here(room);
        Ok(c.to_string())
    }

    /// Records that this professional opened the report now (既読). Returns false when it was
    /// already marked.
    pub fn mark_read(&self, room_id: String, report_id: String) -> Result<bool, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let id = parse_report(&report_id)?;
        let doc = self.inner.doc_of_report(&open, room, id)?;
        let changed = doc.write(|r| r.mark_read(&e.author, Timestamp::now(), id))?;
        if changed {
            self.inner.changed_here(room);
        }
        Ok(changed)
    }

    /// The patient profile as JSON (sections `basic`, `family`, `medical`, `care`, `housing`,
    /// `medications`; see docs/mobile.md).
    pub fn profile_json(&self, room_id: String) -> Result<String, KizunaError> {
        let open = self.inner.opened()?;
        let room = parse_room(&room_id)?;
        let doc = self.inner.docs_of(&open, room)?.remove(0);
        let profile = doc.read(|r| r.profile())?;
        serde_json::to_string(&profile).map_err(storage)
    }

    /// Saves an edited profile (the JSON of `profile_json` with changes). Only the fields that
    /// differ are written, so others' concurrent edits of other fields merge. Returns the
    /// changed fields (`basic.phone`…).
    pub fn edit_profile(
        &self,
        room_id: String,
        profile_json: String,
    ) -> Result<Vec<String>, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let edited: model::Profile =
            serde_json::from_str(&profile_json).map_err(|err| KizunaError::InvalidInput {
                field: "profile_json".into(),
                problem: format!(
                    "does not have the profile's shape (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            })?;
        let doc = self.inner.docs_of(&open, room)?.remove(0);
        let fields = doc.write(|r| r.edit_profile(&e.author, Timestamp::now(), |p| *p = edited))?;
        if !fields.is_empty() {
            self.inner.changed_here(room);
        }
        Ok(fields)
    }

    /// Syncs now: sends and receives room changes, then uploads queued attachments. Fails
    /// with `Offline` (nothing lost; try later) or `Revoked`.
    pub fn sync_now(&self) -> Result<SyncSummary, KizunaError> {
        self.inner.sync()
    }

    /// Keeps the device in sync while the returned object lives: syncs, then waits on the
    /// relay's live channel and syncs whenever a room changes there or here; backs off while
    /// offline; stops on revocation (the listener hears it).
    pub fn start_live_sync(&self) -> Arc<LiveSync> {
        let stop = Arc::new(AtomicBool::new(false));
        self.inner.live.store(true, Ordering::SeqCst);
        let inner = self.inner.clone();
        let s = stop.clone();
        std::thread::Builder::new()
            .name("kizuna-live".into())
            .spawn(move || live_loop(inner, s))
            .map_err(|e| tracing::warn!(error = %e, "live sync did not start"))
            .ok();
        Arc::new(LiveSync {
            stop,
            inner: self.inner.clone(),
        })
    }

    /// The sync indicator's state now.
    pub fn sync_state(&self) -> SyncState {
        self.inner.sync_state()
    }

    /// Attachments waiting for upload, most important first, with the bytes the relay holds
    /// as far as this device knows.
    pub fn pending_uploads(&self) -> Result<Vec<UploadProgress>, KizunaError> {
        let (_, e) = self.inner.enrolled()?;
        Ok(e.client
            .blobs()
            .pending_uploads()?
            .iter()
            .map(|m| UploadProgress {
                hash: m.hash.to_hex(),
                sent: 0,
                total: m.size,
            })
            .collect())
    }

    /// Makes an attachment of a report in `room_id` available as a plain file at `dest_path`
    /// (an app-private cache path): downloaded from the relay unless already here (resuming
    /// a partial download), checked against its hash, then decrypted to the file.
    pub fn fetch_attachment(
        &self,
        room_id: String,
        hash: String,
        dest_path: String,
    ) -> Result<(), KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let h = parse_hash("hash", &hash)?;
        let mut found = None;
        for doc in self.inner.docs_of(&open, room)? {
            let media = doc.read(|r| {
                for id in r.report_ids()? {
                    for a in r.report(id)?.content.attachments {
                        if a.hash == h {
                            return Ok(Some(a.media_type));
                        }
                        if a.thumbnail == Some(h) {
                            return Ok(Some("image/jpeg".to_string()));
                        }
                    }
                }
                Ok(None)
            })?;
            if let Some(m) = media {
                found = Some((doc.id(), m));
                break;
            }
        }
        let (doc, media_type) = found.ok_or(KizunaError::NotFound {
            what: "attachment".into(),
        })?;
        let limit = self.inner.cache_limit.load(Ordering::Relaxed);
        e.client
            .fetch_attachment(&h, doc, &media_type, limit, &|_, _, _| {})?;
        e.client.blobs().export(&h, Path::new(&dest_path))?;
        Ok(())
    }

    /// Bytes of downloaded attachments kept before the least recently used are dropped
    /// (attachments waiting for upload are never dropped).
    pub fn set_attachment_cache_limit(&self, bytes: u64) {
        self.inner.cache_limit.store(bytes, Ordering::Relaxed);
    }

    /// Searches reports and profiles on this device (works offline).
    pub fn search(&self, filter: SearchFilter) -> Result<SearchPage, KizunaError> {
        let open = self.inner.opened()?;
        open.search.refresh()?;
        let mut q = SearchQuery::new(filter.text.clone());
        q.from = filter.from_ms.map(Timestamp);
        q.to = filter.to_ms.map(Timestamp);
        q.rooms = filter
            .rooms
            .iter()
            .map(|r| parse_id("rooms", r))
            .collect::<Result<_, _>>()?;
        q.authors = filter
            .authors
            .iter()
            .map(|r| parse_id("authors", r))
            .collect::<Result<_, _>>()?;
        q.min_importance = filter.min_importance;
        if filter.must_read_me {
            q.must_read = Some(self.inner.me().ok_or(KizunaError::NotEnrolled)?);
        }
        q.reports_only = filter.reports_only;
        q.hide_withdrawn = filter.hide_withdrawn;
        q.offset = filter.offset as usize;
        q.limit = filter.limit as usize;
        let r = open.search.search(&q)?;
        Ok(SearchPage {
            hits: r
                .hits
                .into_iter()
                .map(|h| SearchHit {
                    room_id: h.room.to_string(),
                    report_id: h.report.map(|r| r.to_string()),
                    care_time_ms: h.care_time.0,
                    post_no: h.post_no,
                    author_name: h.author_name,
                    field: h.field,
                    snippet: h.snippet,
                    highlight_start: h.highlight.map(|x| x.0),
                    highlight_end: h.highlight.map(|x| x.1),
                })
                .collect(),
            more: r.more,
        })
    }

    /// Imports care-plan CSV files (the standard's Shift-JIS files, as picked by the user)
    /// into a patient room, all or nothing.
    pub fn import_care_plan(
        &self,
        room_id: String,
        files: Vec<CarePlanFileInput>,
    ) -> Result<CarePlanImported, KizunaError> {
        let (open, e) = self.inner.enrolled()?;
        let room = parse_room(&room_id)?;
        let doc = self.inner.docs_of(&open, room)?.remove(0);
        let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
        let s = kizuna_core::careplan::import(&doc, &e.author, Timestamp::now(), &files)?;
        self.inner.changed_here(room);
        Ok(CarePlanImported {
            id: s.id.to_string(),
            files: s.files.iter().map(|f| f.0.clone()).collect(),
            rows: s.files.iter().map(|f| f.2 as u32).collect(),
        })
    }

    /// `import_care_plan` with files read from paths.
    pub fn import_care_plan_files(
        &self,
        room_id: String,
        paths: Vec<String>,
    ) -> Result<CarePlanImported, KizunaError> {
        let mut files = Vec::new();
        for p in paths {
            let path = Path::new(&p);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| invalid("paths", "a path has no file name"))?
                .to_string();
            let bytes = std::fs::read(path).map_err(|_| storage("cannot read a care-plan file"))?;
            files.push(CarePlanFileInput { name, bytes });
        }
        self.import_care_plan(room_id, files)
    }

    /// Follows rooms and sync: the listener gets the current room list and sync state at
    /// once, then every change, until the returned subscription is closed or dropped.
    pub fn subscribe(&self, listener: Arc<dyn DeviceListener>) -> Arc<Subscription> {
        let rooms = self.inner.rooms().unwrap_or_default();
        let ids = rooms.iter().map(|r| r.id.clone()).collect();
        let first = vec![
            Event::Rooms(rooms, ids),
            Event::Sync(self.inner.sync_state()),
        ];
        self.inner.hub.add(listener, first)
    }

    /// Erases everything this device holds (rooms, attachments, identity, search index) —
    /// what the app must do when told `Revoked { wipe: true }`, or when the user signs out.
    /// The device can enroll again afterwards with a new code (after `Device(…)` anew).
    pub fn wipe(&self) -> Result<(), KizunaError> {
        self.inner.live.store(false, Ordering::SeqCst);
        let _one = lock(&self.inner.sync_lock);
        let open = write(&self.inner.open).take();
        if let Some(open) = open {
            // Wait for calls in flight to let go of the store.
            let mut open = open;
            for _ in 0..200 {
                match Arc::try_unwrap(open) {
                    Ok(o) => {
                        drop(o);
                        break;
                    }
                    Err(back) => {
                        open = back;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        let dir = &self.inner.dir;
        if dir.exists() {
            for entry in std::fs::read_dir(dir).map_err(storage)? {
                let p = entry.map_err(storage)?.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(|_| storage("could not erase the local data"))?;
            }
        }
        lock(&self.inner.status).upload = None;
        self.inner.set_phase(SyncPhase::NotEnrolled);
        self.inner.publish_sync();
        self.inner.publish_rooms(Vec::new());
        Ok(())
    }
}

/// Starts logging to standard error (`level`: `error`, `warn`, `info`, `debug`, `trace`, or
/// a tracing filter). Logs carry ids, never patient data. Calling it again does nothing.
#[uniffi::export]
pub fn init_logging(level: String) {
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The version of the bindings, for the app's about screen and bug reports.
#[uniffi::export]
pub fn kizuna_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
