//! The device's side of sync: what to send for every document in the store, and what to do
//! with each answer. Transport-free: the caller posts the encoded request and hands back the
//! decoded response (the mobile bindings bring the HTTPS transport).

use super::protocol::{
    DocSync, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse, from_wire, to_wire,
};
use crate::error::{CoreError, Result};
use crate::ids::RoomId;
use crate::room::Room;
use crate::store::RoomStore;
use automerge::sync::{Message, State, SyncDoc};
use automerge::{ChangeHash, ReadDoc};
use serde::{Deserialize, Serialize};

/// What one exchange did, for the app's sync indicator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Documents that received or sent changes.
    pub updated: Vec<RoomId>,
    /// Documents new to this device.
    pub added: Vec<RoomId>,
    /// Documents this device may no longer see; their local copy was deleted.
    pub removed: Vec<RoomId>,
    /// Documents whose changes the relay refused, with the rule broken.
    pub refused: Vec<(RoomId, String)>,
    /// Whether another exchange is needed right away (fallback protocol in progress).
    pub again: bool,
    /// Documents synced through the fallback: the relay lacked something this device had
    /// seen it hold (it was restored from a backup, or refused a change), so attachments
    /// it acknowledged may be missing there too.
    #[serde(default)]
    pub fell_back: Vec<RoomId>,
}

/// How a document stands with the relay, for "pending" badges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocStatus {
    /// The document.
    pub doc: RoomId,
    /// The patient room it belongs to (itself unless restricted).
    pub room: RoomId,
    /// Local changes the relay has not acknowledged.
    pub pending: u32,
    /// The relay's reason for refusing this document's changes, if it did.
    pub refusal: Option<String>,
}

/// Where every document stands.
pub fn status(store: &RoomStore) -> Result<Vec<DocStatus>> {
    Ok(store
        .rooms()?
        .into_iter()
        .map(|m| DocStatus {
            doc: m.id,
            room: m.scope.as_ref().map_or(m.id, |s| s.parent),
            pending: m.pending(),
            refusal: m.refusal().map(str::to_string),
        })
        .collect())
}

/// Builds the request for every document in the store. Documents with nothing to send cost
/// only their id and the relay heads they know; only those with local changes are loaded.
pub fn build_request(store: &RoomStore, discover: bool) -> Result<SyncRequest> {
    let mut docs = Vec::new();
    for meta in store.rooms()? {
        let mut doc = DocSync {
            doc: meta.id,
            known_heads: to_wire(&meta.relay_heads()),
            changes: Vec::new(),
            create: if meta.relay_has() {
                None
            } else {
                meta.scope.clone()
            },
            sync_message: meta.outgoing().map(<[u8]>::to_vec),
        };
        if doc.sync_message.is_none() && meta.saved_heads() != meta.relay_heads() {
            let relay = meta.relay_heads();
            let handle = store.open_room(meta.id)?;
            doc.changes = handle.read(|room| {
                Ok(room
                    .doc_mut()
                    .get_changes(&relay)
                    .into_iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect())
            })?;
        }
        docs.push(doc);
    }
    Ok(SyncRequest {
        version: PROTOCOL_VERSION,
        docs,
        discover,
    })
}

fn concat(changes: &[Vec<u8>]) -> Vec<u8> {
    changes.iter().flat_map(|c| c.iter().copied()).collect()
}

/// Applies the relay's answer: merges what arrived, records the relay's heads, adds new
/// documents, deletes withdrawn ones, and carries the fallback protocol forward.
pub fn apply_response(store: &RoomStore, resp: &SyncResponse) -> Result<SyncReport> {
    let mut report = SyncReport {
        again: resp.more,
        ..SyncReport::default()
    };
    let mut gone_restricted = Vec::new();
    for result in &resp.docs {
        let id = result.doc;
        match &result.outcome {
            Outcome::Unchanged => {
                if let Ok(h) = store.open_room(id) {
                    h.update_sync(|m| {
                        let relay = h.meta().relay_heads();
                        m.set_relay_heads(&relay);
                    })?;
                }
            }
            Outcome::Updated { changes, heads, .. } => {
                let h = store.open_room(id)?;
                if !changes.is_empty() {
                    h.apply_remote(&concat(changes))?;
                }
                let heads = from_wire(heads);
                settle(&h, &heads, None)?;
                report.updated.push(id);
            }
            Outcome::Refused {
                reason,
                changes,
                heads,
            } => {
                let h = store.open_room(id)?;
                if !changes.is_empty() {
                    h.apply_remote(&concat(changes))?;
                }
                settle(&h, &from_wire(heads), Some(reason.clone()))?;
                report.refused.push((id, reason.clone()));
            }
            Outcome::New { info, bytes, heads } => {
                let heads = from_wire(heads);
                match store.open_room(id) {
                    Ok(h) => {
                        h.apply_remote(bytes)?;
                        settle(&h, &heads, None)?;
                    }
                    Err(CoreError::NotFound(_)) => {
                        let room = Room::load(id, bytes)?;
                        if room.kind() != info.kind || room.scope() != info.scope.as_ref() {
                            return Err(CoreError::Malformed(
                                "the relay described a document differently",
                            ));
                        }
                        store.add_synced_room(room, heads)?;
                    }
                    Err(e) => return Err(e),
                }
                report.added.push(id);
            }
            Outcome::Gone => match store.open_room(id).ok().and_then(|h| h.meta().scope) {
                // Decided once the whole answer is read: whether its room is gone too.
                Some(scope) => gone_restricted.push((id, scope.parent)),
                None => {
                    store.remove_room(id)?;
                    report.removed.push(id);
                }
            },
            Outcome::SyncMessage { message } => {
                report.fell_back.push(id);
                let h = store.open_room(id)?;
                let meta = h.meta();
                let mut state = match meta.sync_state() {
                    Some(b) => State::decode(b).unwrap_or_else(|_| State::new()),
                    None => State::new(),
                };
                let msg =
                    Message::decode(message).map_err(|_| CoreError::Malformed("sync message"))?;
                let before = h.read(|room| Ok(room.heads()))?;
                let reply = h.write(|room| {
                    room.doc_mut()
                        .sync()
                        .receive_sync_message(&mut state, msg)?;
                    room.note_merged(&before);
                    Ok(room.doc_mut().sync().generate_sync_message(&mut state))
                })?;
                let outgoing = reply.map(Message::encode);
                report.again |= outgoing.is_some();
                h.update_sync(|m| m.set_fallback(Some(state.encode()), outgoing))?;
                report.updated.push(id);
            }
        }
    }
    // A restricted document is never gone on its own while its room is served (its
    // audience includes this member): the relay lacks it, restored from an older backup.
    // Keep it and name its scope again, rather than delete acknowledged reports.
    for (id, parent) in gone_restricted {
        let room_kept = !report.removed.contains(&parent) && store.open_room(parent).is_ok();
        if room_kept {
            store.open_room(id)?.update_sync(|m| m.set_relay_lacks())?;
            report.again = true;
        } else {
            store.remove_room(id)?;
            report.removed.push(id);
        }
    }
    Ok(report)
}

/// Records the relay's heads once every one of them is here; if some are missing (a fallback
/// round ended early), the old heads stay and the next request sorts it out.
fn settle(
    h: &crate::store::RoomHandle,
    heads: &[ChangeHash],
    refusal: Option<String>,
) -> Result<()> {
    let have_all = h.read(|room| {
        Ok(heads
            .iter()
            .all(|x| ReadDoc::get_change_by_hash(room.doc(), x).is_some()))
    })?;
    h.update_sync(|m| {
        if have_all {
            m.set_relay_heads(heads);
        }
        m.set_fallback(None, None);
        m.set_refusal(refusal);
    })
}
