//! The first change of every room, made identically everywhere.
//!
//! Automerge merges two *different* objects created at the same key as a conflict in which one
//! silently hides the other. If each device created the room's top-level maps itself, the first
//! sync would hide one device's reports. So the skeleton is written by a change whose every
//! byte is fixed by the room id and kind: a fixed actor (derived from the room id), time 0 and
//! no message. Every device and the relay produce the same change with the same hash, and
//! Automerge keeps one copy.

use crate::ids::{ProfessionalId, RoomId};
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
    genesis_with_scope(room, kind, None)
}

/// Who a restricted document is for: the patient room it belongs to and its audience.
///
/// Reports shared with only some members live in a document of their own, so the relay can
/// withhold the whole document — not just hide a field — from everyone outside the audience.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// The patient room.
    pub parent: RoomId,
    /// The members who may see it, sorted, without duplicates.
    pub audience: Vec<ProfessionalId>,
}

impl Scope {
    /// A scope with its audience put in canonical order.
    pub fn new(parent: RoomId, mut audience: Vec<ProfessionalId>) -> Scope {
        audience.sort();
        audience.dedup();
        Scope { parent, audience }
    }

    /// The document id of this scope: the same on every device, so two nurses posting to the
    /// same audience offline write into the same document.
    pub fn doc_id(&self) -> RoomId {
        let mut input = b"kizuna-scope".to_vec();
        input.extend_from_slice(self.parent.as_bytes());
        for p in &self.audience {
            input.extend_from_slice(p.as_bytes());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest.as_ref()[..16]);
        RoomId(uuid::Uuid::from_bytes(id))
    }
}

/// Builds a document holding only the genesis change; with a scope, the restricted document
/// of that audience (its id must be `scope.doc_id()`).
pub fn genesis_with_scope(room: RoomId, kind: RoomKind, scope: Option<&Scope>) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(genesis_actor(room));
    // The sequence of operations below is part of the document format: changing it changes
    // the genesis hash, so it may only change together with `FORMAT`.
    let build = |doc: &mut AutoCommit| -> Result<(), automerge::AutomergeError> {
        let meta = doc.put_object(ROOT, "kizuna", ObjType::Map)?;
        doc.put(&meta, "format", ScalarValue::Uint(super::FORMAT))?;
        doc.put(&meta, "room", room.to_string())?;
        doc.put(&meta, "kind", kind.key())?;
        if let Some(scope) = scope {
            doc.put(&meta, "parent", scope.parent.to_string())?;
            let audience = doc.put_object(&meta, "audience", ObjType::List)?;
            for (i, p) in scope.audience.iter().enumerate() {
                doc.insert(&audience, i, p.to_string())?;
            }
        }
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
        for section in [
            "profile_log",
            "reports",
            "notices",
            "messages",
            "care_plans",
        ] {
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

    #[test]
    fn scope_ids_ignore_audience_order() {
        let (p, q) = (ProfessionalId::new(), ProfessionalId::new());
        let room = RoomId::new();
        let a = Scope::new(room, vec![p, q, p]);
        let b = Scope::new(room, vec![q, p]);
        assert_eq!(a, b);
        assert_eq!(a.doc_id(), b.doc_id());
        assert_ne!(a.doc_id(), Scope::new(room, vec![p]).doc_id());
        let mut x = genesis_with_scope(a.doc_id(), RoomKind::Patient, Some(&a));
        let mut y = genesis_with_scope(b.doc_id(), RoomKind::Patient, Some(&b));
        assert_eq!(x.get_heads(), y.get_heads());
    }
}
