//! Serving `POST /v1/sync`: for each document a device names, decide whether it may see it
//! (member of the room, and in the audience of a restricted document), then let the core
//! check, merge and number its changes under the room's lock, persist durably, and answer
//! with what the device lacks. With `discover`, documents the device may see but did not name
//! are sent whole. Every access goes into the audit log before the answer leaves, and every
//! write (a merge, a new restricted document) before anything of it is stored.

use super::documents::Documents;
use super::events::Target;
use crate::audit::Entry;
use crate::error::RelayError;
use crate::identity::directory::{Device, Professional};
use crate::state::Relay;
use kizuna_core::room::Scope;
use kizuna_core::sync::gate::Budget;
use kizuna_core::sync::protocol::{
    DocInfo, DocResult, DocSync, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse, to_wire,
};
use kizuna_core::sync::relay::serve_doc;
use kizuna_core::sync::write_rules::{ShownAs, Writer};
use kizuna_core::{CoreError, ProfessionalId, Role, RoomId, Timestamp};
use std::collections::{HashMap, HashSet};

/// Whole documents (`New`) sent in one answer stop after this many bytes; the answer then
/// says `more` and the device asks again. Keeps every answer far below the decode limit.
pub const NEW_DOCS_BUDGET: usize = 8 * 1024 * 1024;
/// Fallback (Automerge sync protocol) states kept in memory at most; a forgotten state only
/// costs the device one more round.
pub const MAX_FALLBACK_STATES: usize = 10_000;

fn core(e: CoreError) -> RelayError {
    RelayError::Internal(e.to_string())
}

fn hex(h: &automerge::ChangeHash) -> String {
    crate::audit::hex(&h.0)
}

fn hashes(hs: &[automerge::ChangeHash]) -> Vec<String> {
    hs.iter().map(hex).collect()
}

/// Everything one request did, gathered for the audit log and the live channel.
#[derive(Default)]
struct Trail {
    audit: Vec<Entry>,
    changed: Vec<Target>,
}

impl Trail {
    /// A document the relay could not load (say, stored by an older relay with a flaw):
    /// skipped in this answer and left for the operator, never served half-read.
    fn skipped(&mut self, p: &Professional, d: &Device, doc: RoomId) {
        tracing::warn!(%doc, "a document could not be loaded and was skipped");
        self.log(
            p,
            d,
            "skipped",
            doc,
            Vec::new(),
            Some("the relay could not read this document".into()),
        );
    }

    fn log(
        &mut self,
        p: &Professional,
        d: &Device,
        action: &'static str,
        doc: RoomId,
        changes: Vec<String>,
        reason: Option<String>,
    ) {
        self.audit
            .push(Trail::entry(p, d, action, doc, changes, reason));
    }

    /// One record of what device `d` did to document `doc`.
    fn entry(
        p: &Professional,
        d: &Device,
        action: &'static str,
        doc: RoomId,
        changes: Vec<String>,
        reason: Option<String>,
    ) -> Entry {
        Entry {
            professional: Some(p.id),
            device: Some(d.id),
            action,
            room: Some(doc),
            subject: None,
            changes,
            reason,
        }
    }
}

impl Relay {
    /// Serves one sync request of device `d` of professional `p`.
    pub fn sync(
        &self,
        p: &Professional,
        d: &Device,
        req: &SyncRequest,
    ) -> Result<SyncResponse, RelayError> {
        // A sync that would write is refused before anything is merged when the disk is below
        // the relay's free-space reserve (`storage-full`); reads go on, their audit records
        // living on the reserve.
        let writes = req.docs.iter().any(|doc| {
            !doc.changes.is_empty() || doc.sync_message.is_some() || doc.create.is_some()
        });
        if writes {
            self.ensure_writable()?;
        }
        let memberships: HashMap<RoomId, Role> = self.sync_memberships(p.id)?.into_iter().collect();
        self.note_seen(d.id)?;
        let mut trail = Trail::default();
        let mut results = Vec::new();
        let mut seen = HashSet::new();
        let mut budget = Budget::default();
        let reoffer = self.recovery().is_some_and(|r| r.needs_reoffer(d.id));
        for doc in &req.docs {
            if !seen.insert(doc.doc) {
                continue;
            }
            // While recovering, a device's first sync runs the fallback for each document (a
            // head no room has makes it), so the phone offers its attachments again.
            let forced;
            let doc = if reoffer && doc.sync_message.is_none() {
                let mut f = doc.clone();
                f.known_heads.push([0u8; 32]);
                forced = f;
                &forced
            } else {
                doc
            };
            if let Some(r) = self.sync_doc(p, d, &memberships, doc, &mut trail, &mut budget)? {
                results.push(r);
            }
        }
        let mut more = false;
        if req.discover {
            let mut budget = NEW_DOCS_BUDGET;
            let mut wanted: Vec<RoomId> = memberships.keys().copied().collect();
            wanted.sort();
            let mut candidates = Vec::new();
            for room in wanted {
                candidates.push((room, None));
                for scope in self.documents().scopes_of(room) {
                    if scope.audience.contains(&p.id) {
                        candidates.push((room, Some(scope)));
                    }
                }
            }
            for (room, scope) in candidates {
                let id = scope.as_ref().map_or(room, Scope::doc_id);
                if seen.contains(&id) {
                    continue;
                }
                if budget == 0 {
                    more = true;
                    break;
                }
                match self.send_whole(p, d, room, scope.as_ref(), &mut trail) {
                    Ok(Some((r, size))) => {
                        budget = budget.saturating_sub(size);
                        results.push(r);
                    }
                    Ok(None) => {}
                    // One document the relay cannot read must not stop the member's whole
                    // sync: it is skipped, logged for the operator, and the rest go through.
                    Err(RelayError::Internal(_)) => trail.skipped(p, d, id),
                    Err(e) => return Err(e),
                }
            }
        }
        // Everything written or read above is on disk before the answer leaves (and before
        // the audit records that say so). Concurrent syncs share this flush. Every document
        // written or sent left an audit entry, so a sync answered from metadata alone (the
        // common reconnect) does not wait for other syncs' flushes.
        if !trail.audit.is_empty() {
            // The ledger of stored changes first: it must never lack a change the store has.
            if let Some(r) = self.recovery() {
                r.ledger.sync().map_err(|e| {
                    RelayError::Internal(format!("the ledger of stored changes: {e}"))
                })?;
            }
            self.documents().store().flush().map_err(core)?;
        }
        // A record that cannot be written refuses the answer, with the cause (a full disk).
        self.audit().append(trail.audit)?;
        self.events().publish(trail.changed);
        if reoffer && let Some(r) = self.recovery() {
            r.reoffered(d.id);
        }
        Ok(SyncResponse {
            version: PROTOCOL_VERSION,
            docs: results,
            more,
        })
    }

    /// The documents professional `p` may see now (for the live channel's filter).
    pub fn visible_docs(&self, p: ProfessionalId) -> Result<HashSet<RoomId>, RelayError> {
        let mut out = HashSet::new();
        for (room, _) in self.sync_memberships(p)? {
            out.insert(room);
            for s in self.documents().scopes_of(room) {
                if s.audience.contains(&p) {
                    out.insert(s.doc_id());
                }
            }
        }
        Ok(out)
    }

    fn sync_doc(
        &self,
        p: &Professional,
        d: &Device,
        memberships: &HashMap<RoomId, Role>,
        req: &DocSync,
        trail: &mut Trail,
        budget: &mut Budget,
    ) -> Result<Option<DocResult>, RelayError> {
        let docs = self.documents();
        let unreadable = |trail: &mut Trail| {
            trail.skipped(p, d, req.doc);
            Ok(Some(DocResult {
                doc: req.doc,
                outcome: Outcome::Refused {
                    reason: "the relay cannot read this document now".into(),
                    changes: Vec::new(),
                    heads: req.known_heads.clone(),
                },
            }))
        };
        let Ok(existing) = docs.get(req.doc) else {
            return unreadable(trail);
        };
        let scope = match &existing {
            Some(h) => h.meta().scope,
            None => req.create.clone().filter(|s| s.doc_id() == req.doc),
        };
        let parent = scope.as_ref().map_or(req.doc, |s| s.parent);
        let role = memberships.get(&parent).copied();
        let visible = role.is_some() && scope.as_ref().is_none_or(|s| s.audience.contains(&p.id));
        let gone = |trail: &mut Trail| {
            trail.log(p, d, "denied", req.doc, Vec::new(), None);
            Ok(Some(DocResult {
                doc: req.doc,
                outcome: Outcome::Gone,
            }))
        };
        let Some(role) = role.filter(|_| visible) else {
            return gone(trail);
        };
        // The common case of a reconnect: nothing new on either side. Answered from the
        // stored metadata without loading the document.
        if let Some(h) = &existing {
            let meta = h.meta();
            if req.changes.is_empty()
                && req.sync_message.is_none()
                && to_wire(&meta.saved_heads()) == req.known_heads
            {
                return Ok(None);
            }
        }
        let lock = docs.room_lock(parent);
        let mut state = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let handle = match existing {
            Some(h) => h,
            None => match &scope {
                Some(s) => {
                    if let Some(why) = self.scope_refusal(p, role, s)? {
                        trail.log(p, d, "refused", req.doc, Vec::new(), Some(why.clone()));
                        return Ok(Some(DocResult {
                            doc: req.doc,
                            outcome: Outcome::Refused {
                                reason: why,
                                changes: Vec::new(),
                                heads: Vec::new(),
                            },
                        }));
                    }
                    // Write-ahead like a write: the document exists only once its record does.
                    self.audit().append(vec![Trail::entry(
                        p,
                        d,
                        "created",
                        req.doc,
                        Vec::new(),
                        None,
                    )])?;
                    docs.get_or_create_scoped(s).map_err(core)?
                }
                None => match self.directory_room_doc(parent)? {
                    Some(h) => h,
                    None => return gone(trail),
                },
            },
        };
        let writer = Writer {
            professional: p.id,
            device: d.id,
            role,
            admin: p.is_admin(),
            shown_as: Some(ShownAs {
                name: p.name.clone(),
                profession: serde_json::to_value(p.profession)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                organisation: p.organisation.name.clone(),
            }),
            vouched: self.vouched(req.doc),
            numbered_elsewhere: None,
        };
        let writer = if writer.vouched.is_some() {
            // Recovering: the room's other documents share its sequence of post numbers.
            Writer {
                numbered_elsewhere: Some(std::sync::Arc::new(
                    self.numbers_elsewhere(parent, req.doc)?,
                )),
                ..writer
            }
        } else {
            writer
        };
        let key = (d.id, req.doc);
        let mut fallback = self
            .fallback_states()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default();
        let mut last = docs.last_post_no(&mut state, parent).map_err(core)?;
        let now = Timestamp::now();
        let author = self.relay_author();
        // The write's audit record goes to disk after the merge in memory and before anything
        // of it is stored (write-ahead): a record that cannot be written leaves the merge
        // undone, so no change is ever kept that the audit log does not name.
        let mut unaudited = None;
        // Not flushed here: `sync` flushes once for all its documents before answering, so
        // this room's lock is not held through the store's disk write.
        let served = handle.write_unflushed(|room| {
            let served = serve_doc(
                room,
                req,
                &writer,
                author,
                now,
                &mut || {
                    last += 1;
                    last
                },
                &mut fallback,
                budget,
            );
            if !served.accepted.is_empty() && !room.is_poisoned() {
                let record = Trail::entry(p, d, "write", req.doc, hashes(&served.accepted), None);
                if let Err(e) = self.audit().append(vec![record]) {
                    // Dropped unsaved: the handle loads the stored room again.
                    room.mark_poisoned();
                    unaudited = Some(e);
                }
            }
            Ok(served)
        });
        if let Some(e) = unaudited {
            Documents::forget_post_no(&mut state);
            tracing::warn!(doc = %req.doc, device = %d.id, "a sync was not merged: its audit record could not be written");
            return Err(e.into());
        }
        let served = match served {
            Ok(s) => s,
            Err(_) => {
                Documents::forget_post_no(&mut state);
                // Its write record may already be on disk; say that the write did not land.
                trail.log(
                    p,
                    d,
                    "write.failed",
                    req.doc,
                    Vec::new(),
                    Some(
                        "the relay could not store these changes; the device sends them again"
                            .into(),
                    ),
                );
                return unreadable(trail);
            }
        };
        if served.rolled_back || writer.vouched.is_some() {
            // Numbers handed out for a merge that was rolled back were not kept, and after a
            // restore, numbers given before it may have come back: count again from the
            // stored room, so the sequence stays dense.
            Documents::forget_post_no(&mut state);
        } else {
            Documents::set_last_post_no(&mut state, last);
        }
        drop(state);
        if served.busy {
            return Err(RelayError::Busy);
        }
        if let Some(violation) = &served.violation {
            tracing::warn!(doc = %req.doc, device = %d.id, "a merge broke an invariant and was rolled back");
            trail.log(
                p,
                d,
                "security",
                req.doc,
                served.refused.iter().map(hex).collect(),
                Some(violation.clone()),
            );
        }
        if matches!(served.outcome, Outcome::SyncMessage { .. }) {
            let mut states = self
                .fallback_states()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if states.len() >= MAX_FALLBACK_STATES {
                states.clear();
            }
            states.insert(key, fallback);
        }
        if !served.accepted.is_empty() {
            // Its "write" record is already on disk (above).
            trail.changed.push(Target::Doc(req.doc));
        }
        if !served.refused.is_empty() || matches!(served.outcome, Outcome::Refused { .. }) {
            let reason = match &served.outcome {
                Outcome::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            trail.log(
                p,
                d,
                "refused",
                req.doc,
                served.refused.iter().map(hex).collect(),
                reason,
            );
        }
        let sent = match &served.outcome {
            Outcome::Updated { changes, heads, .. } | Outcome::Refused { changes, heads, .. } => {
                (!changes.is_empty()).then(|| heads.clone())
            }
            Outcome::SyncMessage { .. } => Some(Vec::new()),
            _ => None,
        };
        if let Some(heads) = sent {
            let heads = heads
                .iter()
                .map(|h| hex(&automerge::ChangeHash(*h)))
                .collect();
            trail.log(p, d, "read", req.doc, heads, None);
        }
        Ok(Some(DocResult {
            doc: req.doc,
            outcome: served.outcome,
        }))
    }

    /// The post numbers held by patient room `parent`'s documents other than `doc` (its main
    /// one and its restricted ones), read under the room's lock.
    fn numbers_elsewhere(&self, parent: RoomId, doc: RoomId) -> Result<HashSet<u64>, RelayError> {
        let docs = self.documents();
        let mut ids = vec![parent];
        ids.extend(docs.scopes_of(parent).iter().map(Scope::doc_id));
        let mut out = HashSet::new();
        for id in ids.into_iter().filter(|id| *id != doc) {
            if let Some(h) = docs.get(id).map_err(core)? {
                let numbers = h.read(|r| Ok(r.post_numbers())).map_err(core)?;
                out.extend(numbers.into_iter().map(|(_, no, _)| no));
            }
        }
        Ok(out)
    }

    /// Why `p` may not create a restricted document for `scope`, if not.
    fn scope_refusal(
        &self,
        p: &Professional,
        role: Role,
        scope: &Scope,
    ) -> Result<Option<String>, RelayError> {
        if role != Role::Writer {
            return Ok(Some("readers cannot post restricted reports".into()));
        }
        // The audience is part of the document's identity: only its one canonical form
        // (sorted, no repeats) names a document every device and the relay agree on.
        if !scope.audience.windows(2).all(|w| w[0] < w[1]) {
            return Ok(Some(
                "the audience of a restricted document must be sorted and without repeats".into(),
            ));
        }
        if !scope.audience.contains(&p.id) {
            return Ok(Some(
                "the author must be in the audience of a restricted document".into(),
            ));
        }
        let members: HashSet<ProfessionalId> = self
            .directory()
            .members_of(scope.parent)?
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        if scope.audience.iter().any(|m| !members.contains(m)) {
            return Ok(Some(
                "a restricted report may only be shared with members of the room".into(),
            ));
        }
        Ok(None)
    }

    /// A whole document for a device that did not have it.
    fn send_whole(
        &self,
        p: &Professional,
        d: &Device,
        room: RoomId,
        scope: Option<&Scope>,
        trail: &mut Trail,
    ) -> Result<Option<(DocResult, usize)>, RelayError> {
        let lock = self.documents().room_lock(room);
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let handle = match scope {
            Some(s) => self.documents().get(s.doc_id()).map_err(core)?,
            None => self.directory_room_doc(room)?,
        };
        drop(guard);
        let Some(handle) = handle else {
            return Ok(None);
        };
        let kind = handle.kind();
        let (bytes, heads) = handle.read(|r| Ok((r.save(), r.heads()))).map_err(core)?;
        let heads_hex = heads.iter().map(hex).collect();
        trail.log(p, d, "read", handle.id(), heads_hex, None);
        let size = bytes.len();
        Ok(Some((
            DocResult {
                doc: handle.id(),
                outcome: Outcome::New {
                    info: DocInfo {
                        kind,
                        scope: scope.cloned(),
                    },
                    bytes,
                    heads: to_wire(&heads),
                },
            },
            size,
        )))
    }
}
