//! The relay's directory: who is registered, which devices they hold, which rooms exist and
//! who may see each. It is the authority on membership (docs/domain.md).
//!
//! Storage sits behind the [`Directory`] trait so a server-grade backend (PostgreSQL for a
//! multi-node relay) can replace the embedded sled one later; the rules live in the
//! `impl Relay` blocks of `identity` (enrollment, professionals, rooms), not in the backend.

use kizuna_core::model::Consent;
use kizuna_core::{
    DeviceId, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A storage failure. Details go to the log; clients only ever see "internal error".
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The embedded database failed.
    #[error("directory storage error: {0}")]
    Storage(String),
    /// A stored record could not be decoded (written by an incompatible version?).
    #[error("directory record could not be decoded: {0}")]
    Decode(String),
    /// The store key does not open the directory: it was sealed with another `store.key`.
    #[error(
        "the store key does not open the directory: it was sealed with another store.key \
         (put back the store.key this data directory was made with)"
    )]
    WrongKey,
    /// A sealed record does not open under its own key: changed on disk, or moved from
    /// another record.
    #[error("a sealed directory record in {0} does not open (changed on disk?)")]
    Tampered(&'static str),
}

impl From<sled::Error> for DirError {
    fn from(e: sled::Error) -> Self {
        DirError::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for DirError {
    /// Keeps only the category and position: serde's message can quote the stored value,
    /// which may be a patient's name, and this error ends up in the log.
    fn from(e: serde_json::Error) -> Self {
        DirError::Decode(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}

/// A registered professional (or the city's administrator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Professional {
    /// The personal id issued at registration.
    pub id: ProfessionalId,
    /// Full name, e.g. 佐藤 美咲.
    pub name: String,
    /// Name in kana, e.g. さとう みさき.
    pub kana: String,
    /// What they do; administrators are `CityAdministrator`.
    pub profession: Profession,
    /// Where they work.
    pub organisation: Organisation,
    /// When the city registered them.
    pub registered_at: Timestamp,
    /// Set when removed; a removed professional's devices are revoked and they see no room.
    pub removed_at: Option<Timestamp>,
}

impl Professional {
    /// Administrators manage the directory and write the notice and alert rooms.
    pub fn is_admin(&self) -> bool {
        self.profession == Profession::CityAdministrator
    }
    /// Still registered.
    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// One enrolled phone or tablet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The device id, also in its certificate.
    pub id: DeviceId,
    /// Whose device it is.
    pub professional: ProfessionalId,
    /// A label the device gave at enrollment (e.g. "iPhone"), for the admin's list.
    pub label: String,
    /// When the certificate was issued.
    pub enrolled_at: Timestamp,
    /// SHA-256 of the certificate issued at enrollment. A renewal does not rewrite this
    /// record (it would race with a revocation): the renewed certificate is kept as its own
    /// record (`identity::renewal`) and filled in here when devices are listed.
    pub cert_fingerprint: String,
    /// When that certificate expires; `None` for devices enrolled before this was kept (their
    /// certificate expires [`DEVICE_CERT_DAYS`](crate::identity::pki::DEVICE_CERT_DAYS) after
    /// `enrolled_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<Timestamp>,
    /// Set when revoked; the device is refused from its next request on.
    pub revoked_at: Option<Timestamp>,
    /// The device should erase its local data when it next reaches the relay.
    pub wipe: bool,
    /// When the device last synced. Not stored with the device (a sync must never rewrite
    /// the record a revocation writes): kept as its own small record and filled in when
    /// devices are listed (`Relay::devices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

/// A room's metadata. The content (reports, profile) is an Automerge document elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// The room id.
    pub id: RoomId,
    /// Patient room, notices, alerts or direct conversation.
    pub kind: RoomKind,
    /// What members see as the room's name. For a patient room this is the patient's name:
    /// patient data, never logged.
    pub display_name: String,
    /// The consent record; required for patient rooms.
    pub consent: Option<Consent>,
    /// When the room was created.
    pub created_at: Timestamp,
    /// Set when an administrator archived the room (the patient left care): its documents
    /// stay on the relay with their audit trail, but no device syncs it any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
}

/// A one-time enrollment code, stored by the SHA-256 of the code so a copy of the store does
/// not leak live codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrollCode {
    /// Who the device being enrolled will belong to.
    pub professional: ProfessionalId,
    /// When the code was made.
    pub created_at: Timestamp,
    /// After this the code is refused.
    pub expires_at: Timestamp,
}

/// Storage of the directory. Implementations only store; the rules are `Relay` methods in
/// `identity`.
pub trait Directory: Send + Sync + 'static {
    /// Inserts or replaces a professional.
    fn put_professional(&self, p: &Professional) -> Result<(), DirError>;
    /// One professional, removed ones included.
    fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError>;
    /// Every professional, removed ones included.
    fn professionals(&self) -> Result<Vec<Professional>, DirError>;
    /// Inserts or replaces a device.
    fn put_device(&self, d: &Device) -> Result<(), DirError>;
    /// One device.
    fn device(&self, id: DeviceId) -> Result<Option<Device>, DirError>;
    /// Every device.
    fn devices(&self) -> Result<Vec<Device>, DirError>;
    /// Inserts or replaces a room.
    fn put_room(&self, r: &Room) -> Result<(), DirError>;
    /// One room.
    fn room(&self, id: RoomId) -> Result<Option<Room>, DirError>;
    /// Every room.
    fn rooms(&self) -> Result<Vec<Room>, DirError>;
    /// Makes `professional` a member of `room` with `role` (replacing an older role).
    fn set_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), DirError>;
    /// Removes a membership; `true` if there was one.
    fn remove_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<bool, DirError>;
    /// The rooms a professional is a member of, with the role.
    fn memberships_of(&self, professional: ProfessionalId)
    -> Result<Vec<(RoomId, Role)>, DirError>;
    /// The members of a room, with their roles.
    fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError>;
    /// Stores an enrollment code under the hash of its text.
    fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError>;
    /// Removes and returns a code atomically, so two racing enrollments cannot both use it.
    fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError>;
    /// Small named values (ids of the city rooms, direct-conversation index, markers).
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError>;
    /// Sets a named value.
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError>;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<(), DirError>;
    /// Every stored record as (collection, key, plain value), for a backup (see `recovery`,
    /// which seals the backup itself).
    fn export_records(&self) -> Result<Vec<RawRecord>, DirError>;
}

/// One stored record of the directory as a backup holds it: collection, key, value.
pub type RawRecord = (String, Vec<u8>, Vec<u8>);

/// The collections of the directory, by the names backups and the journal use.
pub const COLLECTIONS: [&str; 7] = [
    "professionals",
    "devices",
    "rooms",
    "members",
    "member_index",
    "enroll_codes",
    "meta",
];

/// The directory's storage format: 2 seals every value with the store key (1, before it,
/// kept plain JSON in trees named like the collections). Recorded, sealed, in the meta tree
/// under [`FORMAT_KEY`]; it doubles as the check that the store key is the right one.
pub const FORMAT: &[u8] = b"kizuna-directory/2";
/// Where [`FORMAT`] is kept in the sealed meta tree (never a blinded key: those are 32 bytes).
const FORMAT_KEY: &[u8] = b"format";
/// The sealed trees are named `sealed/<collection>`, apart from the plain ones of format 1,
/// so a migration that stops halfway leaves the plain trees whole to start again from.
const SEALED_PREFIX: &str = "sealed/";

/// The embedded sled directory, one tree per collection, every value sealed (AES-256-GCM,
/// the store key) and bound to its collection and key, so a value moved to another record
/// does not open.
///
/// Keys stay plain where they are only ids (professional, device and room ids, the pairs of
/// ids of memberships, the SHA-256 of an enrollment code). Named values (`meta`) have names
/// that can carry more than ids (an administrator's console login): each is stored under a
/// keyed hash of its name (HMAC-SHA-256 with a key derived from the store key), and the name
/// itself is sealed in the value, so a backup can still list them.
#[derive(Clone)]
pub struct SledDirectory {
    db: sled::Db,
    trees: [sled::Tree; 7],
    sealer: std::sync::Arc<kizuna_core::store::Sealer>,
    blind: ring::hmac::Key,
}

impl std::fmt::Debug for SledDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SledDirectory(..)")
    }
}

const PROFESSIONALS: usize = 0;
const DEVICES: usize = 1;
const ROOMS: usize = 2;
const MEMBERS: usize = 3;
const MEMBER_INDEX: usize = 4;
const CODES: usize = 5;
const META: usize = 6;

impl SledDirectory {
    /// Opens (or creates) the directory at `path`, sealed with `store_key` (32 bytes, the
    /// relay's `store.key`). sled allows one process per store, which is why the admin CLI
    /// talks to the running relay instead of opening this.
    ///
    /// A directory written by an older relay (format 1, plain values) is migrated here, in
    /// one go: every record is sealed into new trees, the format is recorded, then the plain
    /// trees are dropped. A crash before the format is recorded leaves the plain trees whole
    /// and the next open starts again; a crash after leaves only plain trees to drop. A
    /// directory sealed with another key is refused with [`DirError::WrongKey`].
    pub fn open(path: &Path, store_key: &[u8]) -> Result<Self, DirError> {
        // Professionals, devices and memberships of a city fit in a few MB; sled's default
        // cache (1 GiB) only made the relay's memory grow with use. 8 MiB keeps a sync's
        // lookups (device, memberships) cached (W3 in docs/benchmarks.md).
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(8 * 1024 * 1024)
            .open()?;
        let sealer = kizuna_core::store::Sealer::new(store_key)
            .map_err(|e| DirError::Storage(e.to_string()))?;
        // A key of its own for the names' hashes, derived from the store key.
        let blind_key = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, store_key),
            b"kizuna directory: names of named values",
        );
        let open_tree = |name: &str| db.open_tree(format!("{SEALED_PREFIX}{name}"));
        let trees = [
            open_tree(COLLECTIONS[0])?,
            open_tree(COLLECTIONS[1])?,
            open_tree(COLLECTIONS[2])?,
            open_tree(COLLECTIONS[3])?,
            open_tree(COLLECTIONS[4])?,
            open_tree(COLLECTIONS[5])?,
            open_tree(COLLECTIONS[6])?,
        ];
        let dir = SledDirectory {
            db,
            trees,
            sealer: std::sync::Arc::new(sealer),
            blind: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, blind_key.as_ref()),
        };
        dir.migrate()?;
        Ok(dir)
    }

    /// Fails if another process (a running relay) holds the directory at `path`; opens
    /// nothing else and needs no key.
    pub fn check_not_in_use(path: &Path) -> Result<(), DirError> {
        drop(sled::Config::new().path(path).open()?);
        Ok(())
    }

    /// The format check and, for a format 1 directory, its migration (see [`Self::open`]).
    fn migrate(&self) -> Result<(), DirError> {
        let meta = &self.trees[META];
        let format_aad = aad(META, FORMAT_KEY);
        if let Some(sealed) = meta.get(FORMAT_KEY)? {
            match self.sealer.open(&format_aad, &sealed) {
                Ok(v) if v == FORMAT => {}
                Ok(_) => {
                    return Err(DirError::Decode(
                        "the directory was written by a newer relay (unknown format)".into(),
                    ));
                }
                Err(_) => return Err(DirError::WrongKey),
            }
            // A migration that recorded the format but stopped before dropping the plain
            // trees.
            return self.drop_plain_trees();
        }
        // Not migrated (or a migration stopped halfway): start again from the plain trees.
        for t in &self.trees {
            t.clear()?;
        }
        let names = self.db.tree_names();
        let mut plain: Vec<RawRecord> = Vec::new();
        for name in COLLECTIONS {
            if !names.iter().any(|n| n.as_ref() == name.as_bytes()) {
                continue;
            }
            for kv in self.db.open_tree(name)?.iter() {
                let (k, v) = kv?;
                plain.push((name.to_string(), k.to_vec(), v.to_vec()));
            }
        }
        let migrated = plain.len();
        self.import_records(&plain)?;
        drop(plain);
        let sealed = self.sealer.seal(&format_aad, FORMAT).map_err(sealing)?;
        meta.insert(FORMAT_KEY, sealed)?;
        self.db.flush()?;
        if migrated > 0 {
            tracing::info!(
                records = migrated,
                "directory migrated to format 2: every record sealed with the store key"
            );
        }
        self.drop_plain_trees()
    }

    fn drop_plain_trees(&self) -> Result<(), DirError> {
        let names = self.db.tree_names();
        let mut dropped = false;
        for name in COLLECTIONS {
            if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
                self.db.drop_tree(name)?;
                dropped = true;
            }
        }
        if dropped {
            self.db.flush()?;
        }
        Ok(())
    }

    /// The key a named value is stored under: a keyed hash of its name.
    fn meta_key(&self, name: &str) -> Vec<u8> {
        ring::hmac::sign(&self.blind, name.as_bytes())
            .as_ref()
            .to_vec()
    }

    fn seal(&self, tree: usize, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, DirError> {
        self.sealer.seal(&aad(tree, key), plain).map_err(sealing)
    }

    fn open_value(&self, tree: usize, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, DirError> {
        self.sealer
            .open(&aad(tree, key), sealed)
            .map_err(|_| DirError::Tampered(COLLECTIONS[tree]))
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        tree: usize,
        key: &[u8],
    ) -> Result<Option<T>, DirError> {
        match self.trees[tree].get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(
                &self.open_value(tree, key, &v)?,
            )?)),
            None => Ok(None),
        }
    }

    fn all<T: serde::de::DeserializeOwned>(&self, tree: usize) -> Result<Vec<T>, DirError> {
        self.trees[tree]
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok(serde_json::from_slice(&self.open_value(tree, &k, &v)?)?)
            })
            .collect()
    }

    fn put<T: Serialize>(&self, tree: usize, key: &[u8], value: &T) -> Result<(), DirError> {
        let sealed = self.seal(tree, key, &serde_json::to_vec(value)?)?;
        self.trees[tree].insert(key, sealed)?;
        Ok(())
    }

    fn roles(&self, tree: usize, prefix: &[u8]) -> Result<Vec<(uuid::Uuid, Role)>, DirError> {
        self.trees[tree]
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let other = id_from(k.get(16..).unwrap_or_default())?;
                Ok((other, byte_role(&self.open_value(tree, &k, &v)?)))
            })
            .collect()
    }
}

/// What a sealed value is bound to: its collection and its key.
fn aad(tree: usize, key: &[u8]) -> Vec<u8> {
    let name = COLLECTIONS[tree].as_bytes();
    let mut a = Vec::with_capacity(name.len() + 1 + key.len());
    a.extend_from_slice(name);
    a.push(0);
    a.extend_from_slice(key);
    a
}

fn sealing(e: kizuna_core::StoreError) -> DirError {
    DirError::Storage(format!("sealing a directory record: {e}"))
}

/// A named value's plaintext: its name's length (2 bytes), its name, the value.
fn meta_plain(name: &str, value: &[u8]) -> Result<Vec<u8>, DirError> {
    let len = u16::try_from(name.len())
        .map_err(|_| DirError::Decode("a named value's name is too long".into()))?;
    let mut p = Vec::with_capacity(2 + name.len() + value.len());
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(name.as_bytes());
    p.extend_from_slice(value);
    Ok(p)
}

fn meta_split(plain: &[u8]) -> Result<(String, Vec<u8>), DirError> {
    let bad = || DirError::Decode("a named value's record is malformed".into());
    let len = plain.get(..2).ok_or_else(bad)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let name = plain.get(2..2 + len).ok_or_else(bad)?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| bad())?;
    Ok((name, plain[2 + len..].to_vec()))
}

fn pair(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(a);
    k[16..].copy_from_slice(b);
    k
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Writer => b'w',
        Role::Reader => b'r',
    }
}

fn byte_role(b: &[u8]) -> Role {
    if b.first() == Some(&b'w') {
        Role::Writer
    } else {
        Role::Reader
    }
}

fn id_from(bytes: &[u8]) -> Result<uuid::Uuid, DirError> {
    uuid::Uuid::from_slice(bytes).map_err(|e| DirError::Decode(e.to_string()))
}

impl Directory for SledDirectory {
    fn put_professional(&self, p: &Professional) -> Result<(), DirError> {
        self.put(PROFESSIONALS, p.id.as_bytes(), p)
    }
    fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError> {
        self.get(PROFESSIONALS, id.as_bytes())
    }
    fn professionals(&self) -> Result<Vec<Professional>, DirError> {
        self.all(PROFESSIONALS)
    }
    fn put_device(&self, d: &Device) -> Result<(), DirError> {
        self.put(DEVICES, d.id.as_bytes(), d)
    }
    fn device(&self, id: DeviceId) -> Result<Option<Device>, DirError> {
        self.get(DEVICES, id.as_bytes())
    }
    fn devices(&self) -> Result<Vec<Device>, DirError> {
        self.all(DEVICES)
    }
    fn put_room(&self, r: &Room) -> Result<(), DirError> {
        self.put(ROOMS, r.id.as_bytes(), r)
    }
    fn room(&self, id: RoomId) -> Result<Option<Room>, DirError> {
        self.get(ROOMS, id.as_bytes())
    }
    fn rooms(&self) -> Result<Vec<Room>, DirError> {
        self.all(ROOMS)
    }
    fn set_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), DirError> {
        use sled::Transactional;
        let by_room = pair(room.as_bytes(), professional.as_bytes());
        let by_prof = pair(professional.as_bytes(), room.as_bytes());
        let r = [role_byte(role)];
        let (rv, iv) = (
            self.seal(MEMBERS, &by_room, &r)?,
            self.seal(MEMBER_INDEX, &by_prof, &r)?,
        );
        (&self.trees[MEMBERS], &self.trees[MEMBER_INDEX])
            .transaction(|(m, i)| {
                m.insert(&by_room[..], rv.as_slice())?;
                i.insert(&by_prof[..], iv.as_slice())?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| {
                DirError::Storage(format!("{e:?}"))
            })
    }
    fn remove_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<bool, DirError> {
        use sled::Transactional;
        let by_room = pair(room.as_bytes(), professional.as_bytes());
        let by_prof = pair(professional.as_bytes(), room.as_bytes());
        (&self.trees[MEMBERS], &self.trees[MEMBER_INDEX])
            .transaction(|(m, i)| {
                let was = m.remove(&by_room[..])?;
                i.remove(&by_prof[..])?;
                Ok(was.is_some())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| {
                DirError::Storage(format!("{e:?}"))
            })
    }
    fn memberships_of(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<(RoomId, Role)>, DirError> {
        Ok(self
            .roles(MEMBER_INDEX, professional.as_bytes())?
            .into_iter()
            .map(|(id, role)| (RoomId(id), role))
            .collect())
    }
    fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError> {
        Ok(self
            .roles(MEMBERS, room.as_bytes())?
            .into_iter()
            .map(|(id, role)| (ProfessionalId(id), role))
            .collect())
    }
    fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError> {
        self.put(CODES, &hash, code)
    }
    fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError> {
        match self.trees[CODES].remove(hash)? {
            Some(v) => Ok(Some(serde_json::from_slice(
                &self.open_value(CODES, &hash, &v)?,
            )?)),
            None => Ok(None),
        }
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError> {
        let k = self.meta_key(key);
        match self.trees[META].get(&k)? {
            Some(v) => {
                let (name, value) = meta_split(&self.open_value(META, &k, &v)?)?;
                if name != key {
                    return Err(DirError::Tampered(COLLECTIONS[META]));
                }
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError> {
        let k = self.meta_key(key);
        let sealed = self.seal(META, &k, &meta_plain(key, value)?)?;
        self.trees[META].insert(k, sealed)?;
        Ok(())
    }
    fn flush(&self) -> Result<(), DirError> {
        self.db.flush()?;
        Ok(())
    }
    fn export_records(&self) -> Result<Vec<RawRecord>, DirError> {
        let mut out = Vec::new();
        for (t, name) in COLLECTIONS.iter().enumerate() {
            for kv in self.trees[t].iter() {
                let (k, v) = kv?;
                if t == META && k.as_ref() == FORMAT_KEY {
                    continue;
                }
                let plain = self.open_value(t, &k, &v)?;
                if t == META {
                    let (key, value) = meta_split(&plain)?;
                    out.push((name.to_string(), key.into_bytes(), value));
                } else {
                    out.push((name.to_string(), k.to_vec(), plain));
                }
            }
        }
        Ok(out)
    }
}

impl SledDirectory {
    /// Puts records from [`Directory::export_records`] back, sealing each (a restore into
    /// an empty store, and the migration of a format 1 directory).
    pub fn import_records(&self, records: &[RawRecord]) -> Result<(), DirError> {
        for (name, k, v) in records {
            let Some(t) = COLLECTIONS.iter().position(|c| c == name) else {
                return Err(DirError::Decode(format!(
                    "a backup holds an unknown directory collection {name:?}"
                )));
            };
            if t == META {
                let key = std::str::from_utf8(k)
                    .map_err(|_| DirError::Decode("a named value's name is not text".into()))?;
                self.set_meta(key, v)?;
            } else {
                let sealed = self.seal(t, k, v)?;
                self.trees[t].insert(k.as_slice(), sealed)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }
}

/// The behaviour every [`Directory`] backend must have. Each check takes a fresh, empty
/// directory; the sled backend runs them below, and a future backend runs the same ones.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    fn professional(id: ProfessionalId) -> Professional {
        Professional {
            id,
            name: "佐藤 美咲".into(),
            kana: "さとう みさき".into(),
            profession: Profession::Nurse,
            organisation: Organisation {
                name: "みどり".into(),
                office_number: None,
            },
            registered_at: Timestamp(1),
            removed_at: None,
        }
    }

    /// Memberships are visible from the room and from the professional, and stay in step.
    pub fn memberships_are_indexed_both_ways(d: &dyn Directory) {
        let (r1, r2) = (RoomId::new(), RoomId::new());
        let (a, b) = (ProfessionalId::new(), ProfessionalId::new());
        d.set_membership(r1, a, Role::Writer).unwrap();
        d.set_membership(r1, b, Role::Reader).unwrap();
        d.set_membership(r2, a, Role::Reader).unwrap();
        let mut of_a = d.memberships_of(a).unwrap();
        of_a.sort_by_key(|x| x.0);
        let mut want = vec![(r1, Role::Writer), (r2, Role::Reader)];
        want.sort_by_key(|x| x.0);
        assert_eq!(of_a, want);
        assert_eq!(d.members_of(r1).unwrap().len(), 2);
        // Changing a role replaces it.
        d.set_membership(r1, b, Role::Writer).unwrap();
        assert!(
            d.members_of(r1)
                .unwrap()
                .iter()
                .all(|(_, r)| *r == Role::Writer)
        );
        assert!(d.remove_membership(r1, a).unwrap());
        assert!(!d.remove_membership(r1, a).unwrap());
        assert_eq!(d.memberships_of(a).unwrap(), vec![(r2, Role::Reader)]);
        assert_eq!(d.members_of(r1).unwrap(), vec![(b, Role::Writer)]);
    }

    /// An enrollment code can be taken once.
    pub fn enroll_codes_are_taken_once(d: &dyn Directory) {
        let code = EnrollCode {
            professional: ProfessionalId::new(),
            created_at: Timestamp(1),
            expires_at: Timestamp(2),
        };
        d.put_enroll_code([7; 32], &code).unwrap();
        assert_eq!(d.take_enroll_code([8; 32]).unwrap(), None);
        assert_eq!(d.take_enroll_code([7; 32]).unwrap(), Some(code));
        assert_eq!(d.take_enroll_code([7; 32]).unwrap(), None);
    }

    /// Records are replaced by id, listed, and missing ones are `None`.
    pub fn records_round_trip(d: &dyn Directory) {
        let id = ProfessionalId::new();
        assert_eq!(d.professional(id).unwrap(), None);
        let mut p = professional(id);
        d.put_professional(&p).unwrap();
        p.removed_at = Some(Timestamp(5));
        d.put_professional(&p).unwrap();
        assert_eq!(d.professionals().unwrap(), vec![p]);
        let dev = Device {
            id: DeviceId::new(),
            professional: id,
            label: "phone".into(),
            enrolled_at: Timestamp(3),
            cert_fingerprint: "ab".into(),
            cert_not_after: Some(Timestamp(9)),
            revoked_at: None,
            wipe: false,
            last_seen: None,
        };
        d.put_device(&dev).unwrap();
        assert_eq!(d.device(dev.id).unwrap(), Some(dev.clone()));
        assert_eq!(d.devices().unwrap(), vec![dev]);
        let room = Room {
            id: RoomId::new(),
            kind: RoomKind::Patient,
            display_name: "小林 トメ".into(),
            consent: None,
            created_at: Timestamp(4),
            archived_at: None,
        };
        d.put_room(&room).unwrap();
        assert_eq!(d.room(room.id).unwrap(), Some(room.clone()));
        assert_eq!(d.rooms().unwrap(), vec![room]);
        assert_eq!(d.meta("k").unwrap(), None);
        d.set_meta("k", b"v").unwrap();
        assert_eq!(d.meta("k").unwrap().as_deref(), Some(&b"v"[..]));
        d.flush().unwrap();
    }

    /// Every check, each on a fresh directory from `open`.
    pub fn run_all(open: &dyn Fn() -> Box<dyn Directory>) {
        memberships_are_indexed_both_ways(open().as_ref());
        enroll_codes_are_taken_once(open().as_ref());
        records_round_trip(open().as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn sled_directory_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::run_all(&|| {
            n.set(n.get() + 1);
            Box::new(SledDirectory::open(&dir.path().join(n.get().to_string()), &KEY).unwrap())
        });
    }

    #[test]
    fn sled_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dir");
        let id = ProfessionalId::new();
        {
            let d = SledDirectory::open(&path, &KEY).unwrap();
            d.put_professional(&Professional {
                id,
                name: "佐藤 美咲".into(),
                kana: "さとう みさき".into(),
                profession: Profession::Nurse,
                organisation: Organisation {
                    name: "みどり".into(),
                    office_number: None,
                },
                registered_at: Timestamp(1),
                removed_at: None,
            })
            .unwrap();
            d.set_membership(RoomId::new(), id, Role::Reader).unwrap();
            d.flush().unwrap();
        }
        let d = SledDirectory::open(&path, &KEY).unwrap();
        assert_eq!(d.professional(id).unwrap().unwrap().name, "佐藤 美咲");
        assert_eq!(d.memberships_of(id).unwrap().len(), 1);
    }

    fn nurse(id: ProfessionalId) -> Professional {
        Professional {
            id,
            name: "佐藤 美咲".into(),
            kana: "さとう みさき".into(),
            profession: Profession::Nurse,
            organisation: Organisation {
                name: "みどり訪問看護".into(),
                office_number: None,
            },
            registered_at: Timestamp(1),
            removed_at: None,
        }
    }

    fn patient_room() -> Room {
        Room {
            id: RoomId::new(),
            kind: RoomKind::Patient,
            display_name: "小林 トメ".into(),
            consent: Some(Consent {
                given_by: "長女 小林 花子".into(),
                relation: "長女".into(),
                date: kizuna_core::Date::new(2026, 4, 1).unwrap(),
                obtained_by: "市 介護支援課".into(),
                obtained_by_id: None,
                form: None,
            }),
            created_at: Timestamp(4),
            archived_at: None,
        }
    }

    const SECRETS: [&str; 6] = [
        "佐藤 美咲",
        "さとう みさき",
        "みどり訪問看護",
        "小林 トメ",
        "長女 小林 花子",
        "console:login:sato",
    ];

    /// The files under `dir` that hold any of `needles` as raw bytes.
    fn plaintext_in(dir: &Path, needles: &[&str]) -> Vec<String> {
        let mut hits = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                for n in needles {
                    if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                        hits.push(format!("{} in {}", n, p.display()));
                    }
                }
            }
        }
        hits
    }

    /// Writes a directory the way the relay did before values were sealed (format 1): plain
    /// JSON in trees named like the collections, role bytes, named values under their name.
    fn write_format_1(path: &Path, p: &Professional, room: &Room) -> RoomId {
        let db = sled::open(path).unwrap();
        let t = |n: &str| db.open_tree(n).unwrap();
        t("professionals")
            .insert(p.id.as_bytes(), serde_json::to_vec(p).unwrap())
            .unwrap();
        t("rooms")
            .insert(room.id.as_bytes(), serde_json::to_vec(room).unwrap())
            .unwrap();
        t("members")
            .insert(&pair(room.id.as_bytes(), p.id.as_bytes())[..], &b"w"[..])
            .unwrap();
        t("member_index")
            .insert(&pair(p.id.as_bytes(), room.id.as_bytes())[..], &b"w"[..])
            .unwrap();
        let code = EnrollCode {
            professional: p.id,
            created_at: Timestamp(1),
            expires_at: Timestamp(2),
        };
        t("enroll_codes")
            .insert([3u8; 32], serde_json::to_vec(&code).unwrap())
            .unwrap();
        t("devices");
        let notices = RoomId::new();
        t("meta")
            .insert("room:city_notices", &notices.as_bytes()[..])
            .unwrap();
        t("meta")
            .insert("console:login:sato", &p.id.as_bytes()[..])
            .unwrap();
        db.flush().unwrap();
        notices
    }

    fn assert_migrated(d: &SledDirectory, p: &Professional, room: &Room, notices: RoomId) {
        assert_eq!(d.professional(p.id).unwrap().as_ref(), Some(p));
        assert_eq!(d.professionals().unwrap().len(), 1, "nothing doubled");
        assert_eq!(d.room(room.id).unwrap().as_ref(), Some(room));
        assert_eq!(d.members_of(room.id).unwrap(), vec![(p.id, Role::Writer)]);
        assert_eq!(
            d.memberships_of(p.id).unwrap(),
            vec![(room.id, Role::Writer)]
        );
        assert_eq!(
            d.meta("room:city_notices").unwrap(),
            Some(notices.as_bytes().to_vec())
        );
        assert_eq!(
            d.meta("console:login:sato").unwrap(),
            Some(p.id.as_bytes().to_vec())
        );
        assert!(d.take_enroll_code([3; 32]).unwrap().is_some());
        let names = d.db.tree_names();
        for c in COLLECTIONS {
            assert!(
                !names.iter().any(|n| n.as_ref() == c.as_bytes()),
                "the plain tree {c} is gone"
            );
        }
    }

    /// A fresh directory never writes a name, kana, organisation, room name, consent or
    /// console login to disk in the clear; it opens again with its key only.
    #[test]
    fn a_fresh_directory_holds_no_plaintext_and_refuses_another_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dir");
        let p = nurse(ProfessionalId::new());
        let room = patient_room();
        {
            let d = SledDirectory::open(&path, &KEY).unwrap();
            // Enough writes that sled's log holds many pages, not one buffered write.
            for _ in 0..200 {
                d.put_professional(&p).unwrap();
                d.put_room(&room).unwrap();
            }
            d.set_membership(room.id, p.id, Role::Writer).unwrap();
            d.set_meta("console:login:sato", p.id.as_bytes()).unwrap();
            d.set_meta("console:cred:x", "佐藤 美咲".as_bytes())
                .unwrap();
            d.flush().unwrap();
            assert_eq!(plaintext_in(&path, &SECRETS), Vec::<String>::new());
        }
        assert_eq!(plaintext_in(&path, &SECRETS), Vec::<String>::new());
        let err = SledDirectory::open(&path, &[8; 32]).unwrap_err();
        assert!(matches!(err, DirError::WrongKey), "{err}");
        assert!(err.to_string().contains("store.key"), "{err}");
        let d = SledDirectory::open(&path, &KEY).unwrap();
        assert_eq!(d.professional(p.id).unwrap(), Some(p.clone()));
        assert_eq!(d.members_of(room.id).unwrap(), vec![(p.id, Role::Writer)]);
        assert_eq!(
            d.meta("console:login:sato").unwrap(),
            Some(p.id.as_bytes().to_vec())
        );
        // A backup's export gives back the names of named values.
        let exported = d.export_records().unwrap();
        assert!(
            exported
                .iter()
                .any(|(c, k, _)| c == "meta" && k == b"console:login:sato")
        );
        assert_eq!(exported.len(), 6);
    }

    /// A sealed value copied onto another record's key does not open.
    #[test]
    fn a_value_moved_to_another_record_does_not_open() {
        let tmp = tempfile::tempdir().unwrap();
        let d = SledDirectory::open(&tmp.path().join("dir"), &KEY).unwrap();
        let (a, b) = (nurse(ProfessionalId::new()), ProfessionalId::new());
        d.put_professional(&a).unwrap();
        let sealed = d.trees[PROFESSIONALS]
            .get(a.id.as_bytes())
            .unwrap()
            .unwrap();
        d.trees[PROFESSIONALS]
            .insert(b.as_bytes(), sealed.clone())
            .unwrap();
        assert!(matches!(d.professional(b), Err(DirError::Tampered(_))));
        // Nor in another collection under the same key.
        d.trees[DEVICES].insert(a.id.as_bytes(), sealed).unwrap();
        assert!(d.device(DeviceId(a.id.0)).is_err());
        assert_eq!(d.professional(a.id).unwrap(), Some(a));
    }

    /// A directory written by the previous version (plain JSON values) is migrated at open:
    /// every record reads back, the plain trees are gone, the format is recorded, and a
    /// wrong key is refused afterwards.
    #[test]
    fn a_plain_directory_of_the_previous_version_is_migrated_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dir");
        let p = nurse(ProfessionalId::new());
        let room = patient_room();
        let notices = write_format_1(&path, &p, &room);
        assert!(
            !plaintext_in(&path, &SECRETS).is_empty(),
            "the old format is plain, and the scan sees it"
        );
        {
            let d = SledDirectory::open(&path, &KEY).unwrap();
            assert_migrated(&d, &p, &room, notices);
            assert!(d.trees[META].get(FORMAT_KEY).unwrap().is_some());
        }
        assert!(matches!(
            SledDirectory::open(&path, &[8; 32]),
            Err(DirError::WrongKey)
        ));
        let d = SledDirectory::open(&path, &KEY).unwrap();
        assert_eq!(d.professional(p.id).unwrap(), Some(p));
    }

    /// A migration that stopped before it recorded the format (sealed trees half filled)
    /// starts again from the plain trees; one that stopped after (plain trees still there)
    /// only drops them.
    #[test]
    fn a_migration_stopped_halfway_is_finished_at_the_next_open() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dir");
        let p = nurse(ProfessionalId::new());
        let room = patient_room();
        let notices = write_format_1(&path, &p, &room);
        {
            // Stopped before the format was recorded: part of the sealed copy is there,
            // including a record the plain trees do not have.
            let db = sled::open(&path).unwrap();
            let sealer = kizuna_core::store::Sealer::new(&KEY).unwrap();
            let k = p.id.as_bytes();
            let v = sealer
                .seal(&aad(PROFESSIONALS, k), &serde_json::to_vec(&p).unwrap())
                .unwrap();
            db.open_tree("sealed/professionals")
                .unwrap()
                .insert(k, v)
                .unwrap();
            db.open_tree("sealed/rooms")
                .unwrap()
                .insert([1u8; 16], &b"half"[..])
                .unwrap();
            db.flush().unwrap();
        }
        {
            let d = SledDirectory::open(&path, &KEY).unwrap();
            assert_migrated(&d, &p, &room, notices);
            assert_eq!(
                d.rooms().unwrap().len(),
                1,
                "the half-written record is gone"
            );
        }
        {
            // Stopped after the format was recorded: a plain tree is still there.
            let db = sled::open(&path).unwrap();
            db.open_tree("professionals")
                .unwrap()
                .insert([2u8; 16], &b"{}"[..])
                .unwrap();
            db.flush().unwrap();
        }
        let d = SledDirectory::open(&path, &KEY).unwrap();
        assert!(
            !d.db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"professionals")
        );
        assert_eq!(d.professionals().unwrap(), vec![p]);
    }
}
