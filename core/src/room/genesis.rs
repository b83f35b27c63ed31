//! The first change of every room, made identically everywhere.
//!
//! Automerge merges two *different* objects created at the same key as a conflict in which one
//! silently hides the other. If each device created the room's top-level maps itself, the first
//! sync would hide one device's reports. So the skeleton is written by a change whose every
//! byte is fixed by the room id and kind: a fixed actor (derived from the room id), time 0 and
//! no message. Every device and the relay produce the same change with the same hash, and
//! Automerge keeps one copy.

use crate::ids::RoomId;
use crate::people::RoomKind;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ScalarValue};

/// The actor of the genesis change: SHA-256("kizuna-genesis" ‖ room id), first 16 bytes.
pub fn genesis_actor(room: RoomId) -> ActorId {
    let mut input = b"kizuna-genesis".to_vec();
    input.extend_from_slice(room.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    ActorId::from(&digest.as_ref()[..16])
}

/// Builds a room document holding only the genesis change.
pub fn genesis(room: RoomId, kind: RoomKind) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(genesis_actor(room));
    // The sequence of operations below is part of the document format: changing it changes
    // the genesis hash, so it may only change together with `FORMAT`.
    let build = |doc: &mut AutoCommit| -> Result<(), automerge::AutomergeError> {
        let meta = doc.put_object(ROOT, "kizuna", ObjType::Map)?;
        doc.put(&meta, "format", ScalarValue::Uint(super::FORMAT))?;
        doc.put(&meta, "room", room.to_string())?;
        doc.put(&meta, "kind", kind.key())?;
        doc.put_object(ROOT, "consent", ObjType::Map)?;
        doc.put_object(ROOT, "members", ObjType::Map)?;
        let profile = doc.put_object(ROOT, "profile", ObjType::Map)?;
        for section in ["basic", "family", "housing", "medications"] {
            doc.put_object(&profile, section, ObjType::Map)?;
        }
        let medical = doc.put_object(&profile, "medical", ObjType::Map)?;
        doc.put_object(&medical, "diagnoses", ObjType::Map)?;
        for list in ["treatments", "allergies", "devices"] {
            doc.put_object(&medical, list, ObjType::List)?;
        }
        let care = doc.put_object(&profile, "care", ObjType::Map)?;
        doc.put_object(&care, "adl", ObjType::Map)?;
        for section in ["profile_log", "reports", "notices", "messages", "care_plans"] {
            doc.put_object(ROOT, section, ObjType::Map)?;
        }
        Ok(())
    };
    // Writing fresh maps into an empty document cannot fail; if it ever did, the room would
    // be missing sections and every typed call reports `Malformed` instead of panicking.
    let _ = build(&mut doc);
    doc.commit_with(CommitOptions::default().with_time(0));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_identical_everywhere() {
        let id = RoomId::new();
        let mut a = genesis(id, RoomKind::Patient);
        let mut b = genesis(id, RoomKind::Patient);
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(a.save(), b.save());
        let mut other = genesis(RoomId::new(), RoomKind::Patient);
        assert_ne!(a.get_heads(), other.get_heads());
    }
}
