//! An in-memory cache in front of the directory's storage.
//!
//! Every sync looks up its device, its professional, the professional's memberships and each
//! of those rooms (to skip archived ones). In sled that was a prefix scan and a dozen decoded
//! records per sync, 8 % of the relay's CPU under W3. The directory changes rarely (an
//! administrator's act), so its records are kept here after the first read and dropped when
//! written, through this same wrapper.
//!
//! A read that misses the cache may race a write: it reads the old record from storage while
//! the write lands and invalidates. A generation counter, bumped after every write, stops such
//! a read from putting the old record back into the cache: it stores its result only if no
//! write finished while it read. A revocation or a removed membership therefore takes effect
//! on the very next lookup, as without the cache.

use crate::identity::directory::Device;
use crate::identity::directory::{DirError, Directory, EnrollCode, Professional, Room};
use kizuna_core::{DeviceId, ProfessionalId, Role, RoomId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Entries kept per kind of record at most; past it that kind is emptied and refilled on use.
/// A city's directory (thousands of professionals and devices, tens of thousands of rooms)
/// fits well within it.
pub const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
struct Cached {
    /// Bumped after every write; see the module documentation.
    generation: u64,
    professionals: HashMap<ProfessionalId, Option<Professional>>,
    devices: HashMap<DeviceId, Option<Device>>,
    rooms: HashMap<RoomId, Option<Room>>,
    memberships: HashMap<ProfessionalId, Vec<(RoomId, Role)>>,
    meta: HashMap<String, Option<Vec<u8>>>,
}

fn remember<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

/// A [`Directory`] that answers repeated lookups from memory and passes everything else, and
/// every write, to the storage it wraps. All access to that storage must go through it.
pub struct CachedDirectory {
    inner: Box<dyn Directory>,
    cached: Mutex<Cached>,
}

impl std::fmt::Debug for CachedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedDirectory(..)")
    }
}

impl CachedDirectory {
    /// Caches lookups of `inner`.
    pub fn new(inner: Box<dyn Directory>) -> CachedDirectory {
        CachedDirectory {
            inner,
            cached: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A lookup through the cache: `pick` finds the map, `load` reads storage on a miss.
    fn read<K: Eq + Hash + Clone, V: Clone>(
        &self,
        key: &K,
        pick: fn(&mut Cached) -> &mut HashMap<K, V>,
        load: impl FnOnce() -> Result<V, DirError>,
    ) -> Result<V, DirError> {
        let generation = {
            let mut c = self.lock();
            if let Some(v) = pick(&mut c).get(key) {
                return Ok(v.clone());
            }
            c.generation
        };
        let value = load()?;
        let mut c = self.lock();
        if c.generation == generation {
            remember(pick(&mut c), key.clone(), value.clone());
        }
        Ok(value)
    }

    /// A write through to storage; `forget` then drops what it made stale, even if the write
    /// failed part-way.
    fn write<T>(
        &self,
        write: impl FnOnce() -> Result<T, DirError>,
        forget: impl FnOnce(&mut Cached),
    ) -> Result<T, DirError> {
        let result = write();
        let mut c = self.lock();
        c.generation += 1;
        forget(&mut c);
        result
    }
}

impl Directory for CachedDirectory {
    fn put_professional(&self, p: &Professional) -> Result<(), DirError> {
        self.write(
            || self.inner.put_professional(p),
            |c| {
                c.professionals.remove(&p.id);
            },
        )
    }
    fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError> {
        self.read(
            &id,
            |c| &mut c.professionals,
            || self.inner.professional(id),
        )
    }
    fn professionals(&self) -> Result<Vec<Professional>, DirError> {
        self.inner.professionals()
    }
    fn put_device(&self, d: &Device) -> Result<(), DirError> {
        self.write(
            || self.inner.put_device(d),
            |c| {
                c.devices.remove(&d.id);
            },
        )
    }
    fn device(&self, id: DeviceId) -> Result<Option<Device>, DirError> {
        self.read(&id, |c| &mut c.devices, || self.inner.device(id))
    }
    fn devices(&self) -> Result<Vec<Device>, DirError> {
        self.inner.devices()
    }
    fn put_room(&self, r: &Room) -> Result<(), DirError> {
        self.write(
            || self.inner.put_room(r),
            |c| {
                c.rooms.remove(&r.id);
            },
        )
    }
    fn room(&self, id: RoomId) -> Result<Option<Room>, DirError> {
        self.read(&id, |c| &mut c.rooms, || self.inner.room(id))
    }
    fn rooms(&self) -> Result<Vec<Room>, DirError> {
        self.inner.rooms()
    }
    fn set_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), DirError> {
        self.write(
            || self.inner.set_membership(room, professional, role),
            |c| {
                c.memberships.remove(&professional);
            },
        )
    }
    fn remove_membership(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<bool, DirError> {
        self.write(
            || self.inner.remove_membership(room, professional),
            |c| {
                c.memberships.remove(&professional);
            },
        )
    }
    fn memberships_of(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<(RoomId, Role)>, DirError> {
        self.read(
            &professional,
            |c| &mut c.memberships,
            || self.inner.memberships_of(professional),
        )
    }
    fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError> {
        self.inner.members_of(room)
    }
    fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError> {
        self.inner.put_enroll_code(hash, code)
    }
    fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError> {
        self.inner.take_enroll_code(hash)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError> {
        self.read(&key.to_string(), |c| &mut c.meta, || self.inner.meta(key))
    }
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError> {
        self.write(
            || self.inner.set_meta(key, value),
            |c| {
                c.meta.remove(key);
            },
        )
    }
    fn flush(&self) -> Result<(), DirError> {
        self.inner.flush()
    }
    fn export_records(&self) -> Result<Vec<crate::identity::directory::RawRecord>, DirError> {
        self.inner.export_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::directory::SledDirectory;
    use crate::identity::directory::conformance;
    use std::sync::mpsc::{Receiver, Sender, channel};

    fn sled(tmp: &tempfile::TempDir, name: &str) -> SledDirectory {
        SledDirectory::open(&tmp.path().join(name), &[7; 32]).unwrap()
    }

    #[test]
    fn the_cached_directory_passes_the_conformance_suite() {
        let tmp = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        conformance::run_all(&|| {
            n.set(n.get() + 1);
            Box::new(CachedDirectory::new(Box::new(sled(
                &tmp,
                &n.get().to_string(),
            ))))
        });
    }

    #[test]
    fn writes_are_seen_by_the_next_lookup_after_a_cached_read() {
        let tmp = tempfile::tempdir().unwrap();
        let d = CachedDirectory::new(Box::new(sled(&tmp, "dir")));
        let p = ProfessionalId::new();
        let (a, b) = (RoomId::new(), RoomId::new());
        d.set_membership(a, p, Role::Writer).unwrap();
        assert_eq!(d.memberships_of(p).unwrap(), vec![(a, Role::Writer)]);
        // Cached now: a new membership must show, a removed one must go.
        d.set_membership(b, p, Role::Reader).unwrap();
        let both: HashMap<RoomId, Role> = d.memberships_of(p).unwrap().into_iter().collect();
        assert_eq!(both, HashMap::from([(a, Role::Writer), (b, Role::Reader)]));
        assert!(d.remove_membership(a, p).unwrap());
        assert_eq!(d.memberships_of(p).unwrap(), vec![(b, Role::Reader)]);

        assert_eq!(d.meta("k").unwrap(), None);
        d.set_meta("k", b"v").unwrap();
        assert_eq!(d.meta("k").unwrap(), Some(b"v".to_vec()));
    }

    /// Storage whose first membership lookup, once it has read, waits until the test lets it
    /// return: the test writes through the cache in between.
    struct Paused {
        sled: SledDirectory,
        gate: Mutex<Option<(Sender<()>, Receiver<()>)>>,
    }

    impl Directory for Paused {
        fn memberships_of(&self, p: ProfessionalId) -> Result<Vec<(RoomId, Role)>, DirError> {
            let read = self.sled.memberships_of(p);
            if let Some((has_read, resume)) = self.gate.lock().unwrap().take() {
                has_read.send(()).unwrap();
                resume.recv().unwrap();
            }
            read
        }
        fn put_professional(&self, p: &Professional) -> Result<(), DirError> {
            self.sled.put_professional(p)
        }
        fn professional(&self, id: ProfessionalId) -> Result<Option<Professional>, DirError> {
            self.sled.professional(id)
        }
        fn professionals(&self) -> Result<Vec<Professional>, DirError> {
            self.sled.professionals()
        }
        fn put_device(&self, d: &Device) -> Result<(), DirError> {
            self.sled.put_device(d)
        }
        fn device(&self, id: DeviceId) -> Result<Option<Device>, DirError> {
            self.sled.device(id)
        }
        fn devices(&self) -> Result<Vec<Device>, DirError> {
            self.sled.devices()
        }
        fn put_room(&self, r: &Room) -> Result<(), DirError> {
            self.sled.put_room(r)
        }
        fn room(&self, id: RoomId) -> Result<Option<Room>, DirError> {
            self.sled.room(id)
        }
        fn rooms(&self) -> Result<Vec<Room>, DirError> {
            self.sled.rooms()
        }
        fn set_membership(&self, r: RoomId, p: ProfessionalId, role: Role) -> Result<(), DirError> {
            self.sled.set_membership(r, p, role)
        }
        fn remove_membership(&self, r: RoomId, p: ProfessionalId) -> Result<bool, DirError> {
            self.sled.remove_membership(r, p)
        }
        fn members_of(&self, room: RoomId) -> Result<Vec<(ProfessionalId, Role)>, DirError> {
            self.sled.members_of(room)
        }
        fn put_enroll_code(&self, hash: [u8; 32], code: &EnrollCode) -> Result<(), DirError> {
            self.sled.put_enroll_code(hash, code)
        }
        fn take_enroll_code(&self, hash: [u8; 32]) -> Result<Option<EnrollCode>, DirError> {
            self.sled.take_enroll_code(hash)
        }
        fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, DirError> {
            self.sled.meta(key)
        }
        fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), DirError> {
            self.sled.set_meta(key, value)
        }
        fn flush(&self) -> Result<(), DirError> {
            self.sled.flush()
        }
        fn export_records(&self) -> Result<Vec<crate::identity::directory::RawRecord>, DirError> {
            self.sled.export_records()
        }
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_put_the_old_record_back() {
        let tmp = tempfile::tempdir().unwrap();
        let (has_read_tx, has_read) = channel();
        let (resume, resume_rx) = channel();
        let d = std::sync::Arc::new(CachedDirectory::new(Box::new(Paused {
            sled: sled(&tmp, "dir"),
            gate: Mutex::new(Some((has_read_tx, resume_rx))),
        })));
        let p = ProfessionalId::new();
        let room = RoomId::new();
        let reader = {
            let d = d.clone();
            std::thread::spawn(move || d.memberships_of(p).unwrap())
        };
        // The reader has read "no memberships" from storage; the admin adds one meanwhile.
        has_read.recv().unwrap();
        d.set_membership(room, p, Role::Writer).unwrap();
        resume.send(()).unwrap();
        assert_eq!(reader.join().unwrap(), Vec::new());
        assert_eq!(d.memberships_of(p).unwrap(), vec![(room, Role::Writer)]);
    }
}
