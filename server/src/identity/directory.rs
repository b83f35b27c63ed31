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
    /// Every stored record as (collection, key, value), for a backup (see `recovery`).
    fn export_records(&self) -> Result<Vec<RawRecord>, DirError>;
}

/// One stored record of the directory as a backup holds it: collection, key, value.
pub type RawRecord = (String, Vec<u8>, Vec<u8>);

/// The embedded sled directory, one tree per kind of record.
#[derive(Clone, Debug)]
pub struct SledDirectory {
    db: sled::Db,
    professionals: sled::Tree,
    devices: sled::Tree,
    rooms: sled::Tree,
    members: sled::Tree,
    member_index: sled::Tree,
    codes: sled::Tree,
    meta: sled::Tree,
}

impl SledDirectory {
    /// Opens (or creates) the directory at `path`. sled allows one process per store, which
    /// is why the admin CLI talks to the running relay instead of opening this.
    pub fn open(path: &Path) -> Result<Self, DirError> {
        // Professionals, devices and memberships of a city fit in a few MB; sled's default
        // cache (1 GiB) only made the relay's memory grow with use. 8 MiB keeps a sync's
        // lookups (device, memberships) cached (W3 in docs/benchmarks.md).
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(8 * 1024 * 1024)
            .open()?;
        Ok(SledDirectory {
            professionals: db.open_tree("professionals")?,
            devices: db.open_tree("devices")?,
            rooms: db.open_tree("rooms")?,
            members: db.open_tree("members")?,
            member_index: db.open_tree("member_index")?,
            codes: db.open_tree("enroll_codes")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }
}

fn pair(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(a);
    k[16..].copy_from_slice(b);
    k
}

fn get<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, DirError> {
    match tree.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}

fn all<T: serde::de::DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<T>, DirError> {
    tree.iter()
        .values()
        .map(|v| Ok(serde_json::from_slice(&v?)?))
        .collect()
}

fn put<T: Serialize>(tree: &sled::Tree, key: &[u8], value: &T) -> Result<(), DirError> {
    tree.insert(key, serde_json::to_vec(value)?)?;
    Ok(())
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
        put(&self.professionals, p.id.as_bytes(), p)
    }
    fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError> {
        get(&self.professionals, id.as_bytes())
    }
    fn professionals(&self) -> Result<Vec<Professional>, DirError> {
        all(&self.professionals)
    }
    fn put_device(&self, d: &Device) -> Result<(), DirError> {
        put(&self.devices, d.id.as_bytes(), d)
    }
    fn device(&self, id: DeviceId) -> Result<Option<Device>, DirError> {
        get(&self.devices, id.as_bytes())
    }
    fn devices(&self) -> Result<Vec<Device>, DirError> {
        all(&self.devices)
    }
    fn put_room(&self, r: &Room) -> Result<(), DirError> {
        put(&self.rooms, r.id.as_bytes(), r)
    }
    fn room(&self, id: RoomId) -> Result<Option<Room>, DirError> {
        get(&self.rooms, id.as_bytes())
    }
    fn rooms(&self) -> Result<Vec<Room>, DirError> {
        all(&self.rooms)
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
        (&self.members, &self.member_index)
            .transaction(|(m, i)| {
                m.insert(&by_room[..], &r[..])?;
                i.insert(&by_prof[..], &r[..])?;
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
        (&self.members, &self.member_index)
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
        self.member_index
            .scan_prefix(professional.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((RoomId(id_from(&k[16..])?), byte_role(&v)))
            })
            .collect()
    }
    fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError> {
        self.members
            .scan_prefix(room.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((ProfessionalId(id_from(&k[16..])?), byte_role(&v)))
            })
            .collect()
    }
    fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError> {
        put(&self.codes, &hash, code)
    }
    fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError> {
        match self.codes.remove(hash)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError> {
        self.meta.insert(key.as_bytes(), value)?;
        Ok(())
    }
    fn flush(&self) -> Result<(), DirError> {
        self.db.flush()?;
        Ok(())
    }
    fn export_records(&self) -> Result<Vec<RawRecord>, DirError> {
        let mut out = Vec::new();
        for (name, tree) in self.named_trees() {
            for kv in tree.iter() {
                let (k, v) = kv?;
                out.push((name.to_string(), k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }
}

impl SledDirectory {
    fn named_trees(&self) -> [(&'static str, &sled::Tree); 7] {
        [
            ("professionals", &self.professionals),
            ("devices", &self.devices),
            ("rooms", &self.rooms),
            ("members", &self.members),
            ("member_index", &self.member_index),
            ("enroll_codes", &self.codes),
            ("meta", &self.meta),
        ]
    }

    /// Puts records from [`Directory::export_records`] back (a restore into an empty store).
    pub fn import_records(&self, records: &[RawRecord]) -> Result<(), DirError> {
        let trees = self.named_trees();
        for (name, k, v) in records {
            let Some((_, tree)) = trees.iter().find(|(n, _)| n == name) else {
                return Err(DirError::Decode(format!(
                    "a backup holds an unknown directory collection {name:?}"
                )));
            };
            tree.insert(k.as_slice(), v.as_slice())?;
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

    #[test]
    fn sled_directory_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::run_all(&|| {
            n.set(n.get() + 1);
            Box::new(SledDirectory::open(&dir.path().join(n.get().to_string())).unwrap())
        });
    }

    #[test]
    fn sled_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dir");
        let id = ProfessionalId::new();
        {
            let d = SledDirectory::open(&path).unwrap();
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
        let d = SledDirectory::open(&path).unwrap();
        assert_eq!(d.professional(id).unwrap().unwrap().name, "佐藤 美咲");
        assert_eq!(d.memberships_of(id).unwrap().len(), 1);
    }
}
