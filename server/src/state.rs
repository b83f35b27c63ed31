//! The relay's shared state and nothing else: the stores (directory, room documents, audit
//! log, attachments), their caches, the CA, the configuration and the handles every request
//! shares. The rules live with their capability (`identity`, `sync`, `blobs`, `admin`), each
//! in its own `impl Relay` block, so this file says what the relay holds, not what it allows.

use crate::audit::AuditLog;
use crate::blobs::store::Blobs;
use crate::error::RelayError;
use crate::identity::authorities::Authorities;
use crate::identity::clock::Clock;
use crate::identity::directory::Directory;
use crate::identity::directory_cache::CachedDirectory;
use crate::identity::pki::Ca;
use crate::identity::rate_limit::RateLimiter;
use crate::sync::documents::Documents;
use crate::sync::events::Events;
use crate::watch::metrics::Metrics;
use kizuna_core::{Author, DeviceId, Profession, ProfessionalId, RoomId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The shared state of every handler.
pub type AppState = Arc<Relay>;

/// Settings of the relay's rules.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Enrollment attempts allowed per source address in one window.
    pub enroll_attempts: u32,
    /// The window for `enroll_attempts`.
    pub enroll_window: Duration,
    /// Default life of an enrollment code.
    pub code_ttl: Duration,
    /// Free space (bytes) the relay keeps on its data directory's filesystem: below it acts
    /// and writing syncs are refused with `storage-full` and `/readyz` fails.
    pub min_free_bytes: u64,
    /// The audit log's live file is closed as a segment when it holds this many bytes
    /// (`--audit-rotate-mb`; 0: never), so no one file grows without end.
    pub audit_rotate_bytes: u64,
    /// The time certificates are issued and renewed by: the system clock, unless a test
    /// moves it (never settable from the network).
    pub clock: Arc<Clock>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            enroll_attempts: 10,
            enroll_window: Duration::from_secs(600),
            code_ttl: Duration::from_secs(24 * 3600),
            min_free_bytes: crate::watch::disk::DEFAULT_MIN_FREE_BYTES,
            audit_rotate_bytes: crate::audit::DEFAULT_ROTATE_BYTES,
            clock: Arc::new(Clock::system()),
        }
    }
}

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

/// Where the relay keeps room documents and the audit log.
#[derive(Debug)]
pub struct Storage {
    /// The room documents (encrypted at rest).
    pub documents: Documents,
    /// The hash-chained audit log.
    pub audit: AuditLog,
    /// Attachments.
    pub blobs: Blobs,
    /// The journal and ledger beside the data (absent in relays built for unit tests).
    pub recovery: Option<Arc<crate::recovery::Recovery>>,
    /// The data directory holding them all (its free space is watched).
    pub data_dir: PathBuf,
}

/// How many syncs run at once: eight per core. A sync mostly waits on its two flushes (room
/// store, audit log), so fewer left the CPU idle (figures in docs/benchmarks.md, "Figures
/// behind choices in the code"), while a bound still keeps a city's phones from loading
/// every room at once.
fn sync_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 8
}

/// Fallback sync states (and changes held for their history) by device and document.
pub(crate) type FallbackStates =
    Mutex<HashMap<(DeviceId, RoomId), kizuna_core::sync::relay::Fallback>>;

/// The relay: the directory, the CA, the room documents, the audit log and the rules.
pub struct Relay {
    pub(crate) dir: Arc<dyn Directory>,
    pub(crate) authorities: Arc<Authorities>,
    pub(crate) public_url: String,
    pub(crate) config: RelayConfig,
    pub(crate) limiter: RateLimiter,
    /// Serialises creation of direct rooms so two racing requests make one room.
    pub(crate) direct_lock: Mutex<()>,
    /// Serialises device certificate renewals, so two racing renewals of one device cannot
    /// both read the same record and leave the device holding a certificate not recorded.
    pub(crate) renew_lock: Mutex<()>,
    documents: Documents,
    audit: AuditLog,
    blobs: Blobs,
    events: Events,
    author: Author,
    fallback: FallbackStates,
    sync_slots: tokio::sync::Semaphore,
    recovery: Option<Arc<crate::recovery::Recovery>>,
    metrics: Metrics,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay over `dir` signing with the CAs of `authorities`, reachable by devices at
    /// `public_url`. The relay
    /// owns `dir` and caches its lookups, so nothing else may write to it. Holding state is
    /// all this does: the city rooms are made by [`Relay::ensure_city_rooms`], which
    /// `startup::prepare` calls next.
    pub fn new(
        dir: Box<dyn Directory>,
        authorities: Arc<Authorities>,
        public_url: String,
        config: RelayConfig,
        storage: Storage,
    ) -> Result<Relay, RelayError> {
        let author = relay_author(dir.as_ref())?;
        let metrics = Metrics::new(&storage.data_dir, config.min_free_bytes);
        let relay = Relay {
            dir: Arc::new(CachedDirectory::new(dir)),
            authorities,
            public_url,
            config,
            limiter: RateLimiter::default(),
            direct_lock: Mutex::new(()),
            renew_lock: Mutex::new(()),
            documents: storage.documents,
            audit: storage.audit,
            blobs: storage.blobs,
            events: Events::new(),
            author,
            fallback: Mutex::default(),
            sync_slots: tokio::sync::Semaphore::new(sync_slots()),
            recovery: storage.recovery,
            metrics,
        };
        Ok(relay)
    }

    /// The directory (for the demo seeding and tests).
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.dir
    }

    /// The CA issuing certificates now (the new one during a CA rotation).
    pub fn ca(&self) -> Arc<Ca> {
        self.authorities.issuing()
    }

    /// All the relay's CAs: issuing, retiring during a rotation, retired
    /// (`identity::authorities`).
    pub fn authorities(&self) -> &Arc<Authorities> {
        &self.authorities
    }

    /// The clock certificates are issued and renewed by (see `identity::clock`).
    pub fn clock(&self) -> &Arc<Clock> {
        &self.config.clock
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

    /// The journal and ledger beside the data, and what a restore left.
    pub fn recovery(&self) -> Option<&Arc<crate::recovery::Recovery>> {
        self.recovery.as_ref()
    }

    /// After a restore: the changes of `doc` the relay stored after the backup, which phones
    /// bring back and which go back in unchecked (see `recovery`).
    pub fn vouched(
        &self,
        doc: RoomId,
    ) -> Option<Arc<std::collections::HashSet<automerge::ChangeHash>>> {
        self.recovery.as_ref()?.vouched.as_ref()?.get(&doc).cloned()
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

    /// The relay's counters (`/metrics`) and the data directory the write gate watches.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn fallback_states(&self) -> &FallbackStates {
        &self.fallback
    }

    /// The URL devices use to reach the relay (put into QR codes).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}
