//! The relay's handling of one document of a sync request, without I/O: check the device's
//! changes, merge them, number new reports, and compute what the device lacks. The server
//! wraps this with the directory (who may see what), locks, durable storage and the audit log.

use super::protocol::{DocSync, Outcome, from_wire, to_wire};
use super::validate::{Check, Refusal, Writer, check_changes};
use crate::ids::ReportId;
use crate::people::Author;
use crate::room::Room;
use crate::time::Timestamp;
use automerge::sync::{Message, State, SyncDoc};
use automerge::{Change, ChangeHash};

/// What serving one document did, for the server's storage and audit log.
#[derive(Debug)]
pub struct Served {
    /// The answer for the device.
    pub outcome: Outcome,
    /// Hashes of the device's changes that were new and stored.
    pub accepted: Vec<ChangeHash>,
    /// Hashes of the device's changes that were refused (with `Outcome::Refused`).
    pub refused: Vec<ChangeHash>,
    /// Reports that received a post number, with it.
    pub numbered: Vec<(ReportId, u64)>,
}

impl Served {
    fn just(outcome: Outcome) -> Served {
        Served {
            outcome,
            accepted: Vec::new(),
            refused: Vec::new(),
            numbered: Vec::new(),
        }
    }
}

fn raw(changes: Vec<Change>) -> Vec<Vec<u8>> {
    changes
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// Serves one document for one device. `relay` is the relay's own author identity (its actor
/// writes post numbers); `next_post_no` hands out the room's next number; `state` is the
/// Automerge sync state kept for this device and document, used only in the fallback.
///
/// Automerge 0.12 can panic on malformed input that decodes fine (fuzzing found changes that
/// panic while being applied, and changes that apply but make the next `diff` panic;
/// `tests/fuzz/regressions/`). Such a panic is caught here: the room is marked poisoned (it
/// may be half-changed; [`crate::RoomHandle`] then drops it unsaved and loads the stored one
/// again) and the device's changes are refused, so the bad change is never stored. If the
/// panic came after post numbers were handed out, those numbers are skipped (a gap, never a
/// duplicate).
pub fn serve_doc(
    room: &mut Room,
    req: &DocSync,
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    state: &mut State,
) -> Served {
    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(room, req, who, relay, now, next_post_no, state)
    }));
    match served {
        Ok(s) => s,
        Err(_) => {
            room.mark_poisoned();
            *state = State::new();
            poisoned(&from_wire(&req.known_heads))
        }
    }
}

fn serve(
    room: &mut Room,
    req: &DocSync,
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    state: &mut State,
) -> Served {
    if let Some(bytes) = &req.sync_message {
        return fallback(room, bytes, who, relay, now, next_post_no, state);
    }
    let known = from_wire(&req.known_heads);
    if known.iter().any(|h| !room.has_change(h)) {
        return start_fallback(room, state);
    }
    let mut incoming = Vec::new();
    for bytes in &req.changes {
        match untrusted(|| Change::from_bytes(bytes.clone()).ok()) {
            Some(c) => incoming.push(c),
            None => return refused(room, &known, "a change could not be decoded", Vec::new()),
        }
    }
    let hashes: Vec<ChangeHash> = incoming.iter().map(Change::hash).collect();
    let fresh: Vec<Change> = incoming
        .into_iter()
        .filter(|c| !room.has_change(&c.hash()))
        .collect();
    let mut served = match checked(room, &fresh, who) {
        Check::Missing(_) => return start_fallback(room, state),
        Check::Refuse(r) => {
            return refused(room, &known, &r.0, fresh.iter().map(Change::hash).collect());
        }
        Check::Accept { new_reports } => {
            let accepted: Vec<ChangeHash> = fresh.iter().map(Change::hash).collect();
            if !fresh.is_empty() {
                let before = room.heads();
                if room.doc_mut().apply_changes(fresh).is_err() {
                    return refused(room, &known, "the changes could not be merged", accepted);
                }
                room.note_merged(&before);
            }
            let numbered = number(room, &new_reports, relay, now, next_post_no);
            Served {
                outcome: Outcome::Unchanged,
                accepted,
                refused: Vec::new(),
                numbered,
            }
        }
    };
    let mut have: Vec<ChangeHash> = known.clone();
    have.extend(hashes);
    let missing = room.changes_after(&have);
    let heads = room.heads();
    if missing.is_empty() && served.accepted.is_empty() && heads == known {
        return served;
    }
    served.outcome = Outcome::Updated {
        accepted: u32::try_from(served.accepted.len()).unwrap_or(u32::MAX),
        changes: raw(missing),
        heads: to_wire(&heads),
    };
    served
}

/// Runs one of Automerge's decoders on bytes from the network, treating a panic as "not
/// decodable". Automerge 0.12 panics on some malformed input instead of returning an error:
/// fuzzing found a change whose actor index does not fit 32 bits, which panics inside
/// `Change::from_bytes` (`tests/fuzz/regressions/`). Only for decoders that read their input
/// and touch no shared state, so nothing is left half-done after a panic.
fn untrusted<T>(decode: impl FnOnce() -> Option<T>) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .ok()
        .flatten()
}

/// Whether an element of a sync message holds a whole document chunk (rather than change
/// chunks). Automerge inflates a document chunk's columns without bounds: fuzzing found a
/// 1.6 KB document whose load asks for 2 GiB (`tests/fuzz/known/`), so the relay takes
/// changes only. Its own sync messages carry no capability flags ([`without_flags`]), so
/// Automerge on a phone never chooses to send it a whole document.
fn has_document_chunk(bytes: &[u8]) -> bool {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut at = 0usize;
    while bytes.len() >= at + 9 && bytes[at..at + 4] == MAGIC {
        // 0: document, 1: change, 2: compressed change; anything else Automerge refuses.
        if bytes[at + 8] == 0 {
            return true;
        }
        let mut len: u64 = 0;
        let mut p = at + 9;
        let mut shift = 0u32;
        loop {
            let Some(&b) = bytes.get(p) else {
                return false;
            };
            p += 1;
            if shift < 64 {
                len |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        match usize::try_from(len).ok().and_then(|l| p.checked_add(l)) {
            Some(end) => at = end,
            None => return false,
        }
    }
    false
}

/// Encodes one of the relay's sync messages without Automerge's capability flags, so the
/// phone's Automerge treats the relay as a V1 peer and sends changes, never a whole document
/// (which the relay refuses, see [`has_document_chunk`]).
fn without_flags(mut m: Message) -> Vec<u8> {
    m.flags = None;
    m.encode()
}

/// [`check_changes`], with a panic inside Automerge while expanding a malformed change taken
/// as an undecodable change (the check only reads the room).
fn checked(room: &Room, changes: &[Change], who: &Writer) -> Check {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_changes(room, changes, who)
    }))
    .unwrap_or_else(|_| Check::Refuse(Refusal("a change could not be decoded".into())))
}

/// The answer when serving panicked: the device's changes are refused, and nothing is read
/// from the room (it is poisoned); the device keeps the heads it named.
fn poisoned(known: &[ChangeHash]) -> Served {
    Served {
        outcome: Outcome::Refused {
            reason: "the changes could not be merged".to_string(),
            changes: Vec::new(),
            heads: to_wire(known),
        },
        accepted: Vec::new(),
        refused: Vec::new(),
        numbered: Vec::new(),
    }
}

/// Gives each new report the room's next post number and the relay's received time, in one
/// relay change per report.
fn number(
    room: &mut Room,
    reports: &[ReportId],
    relay: &Author,
    now: Timestamp,
    next: &mut dyn FnMut() -> u64,
) -> Vec<(ReportId, u64)> {
    let mut out = Vec::new();
    for rid in reports {
        let n = next();
        if room.assign_post_number(relay, now, *rid, n, now).is_ok() {
            out.push((*rid, n));
        }
    }
    out
}

fn refused(
    room: &mut Room,
    known: &[ChangeHash],
    reason: &str,
    refused: Vec<ChangeHash>,
) -> Served {
    let changes = raw(room.changes_after(known));
    let heads = to_wire(&room.heads());
    Served {
        outcome: Outcome::Refused {
            reason: reason.to_string(),
            changes,
            heads,
        },
        accepted: Vec::new(),
        refused,
        numbered: Vec::new(),
    }
}

fn start_fallback(room: &mut Room, state: &mut State) -> Served {
    *state = State::new();
    let message = room.doc_mut().sync().generate_sync_message(state);
    match message {
        Some(m) => Served::just(Outcome::SyncMessage {
            message: without_flags(m),
        }),
        None => Served::just(Outcome::Updated {
            accepted: 0,
            changes: Vec::new(),
            heads: to_wire(&room.heads()),
        }),
    }
}

/// One round of Automerge's sync protocol. The device's changes inside the message are
/// checked like any others: they are first merged into a copy, the new changes read back and
/// validated, and only then merged into the room.
fn fallback(
    room: &mut Room,
    bytes: &[u8],
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    state: &mut State,
) -> Served {
    let Some(message) = untrusted(|| Message::decode(bytes).ok()) else {
        return refused(
            room,
            &[],
            "the sync message could not be decoded",
            Vec::new(),
        );
    };
    if message.changes.iter().any(has_document_chunk) {
        return refused(
            room,
            &[],
            "a sync message may carry changes, not whole documents",
            Vec::new(),
        );
    }
    let before = room.heads();
    let mut accepted = Vec::new();
    let mut numbered = Vec::new();
    if !message.changes.is_empty() {
        let mut copy = room.doc_mut().fork();
        let mut copy_state = state.clone();
        let received = untrusted(|| {
            copy.sync()
                .receive_sync_message(&mut copy_state, message.clone())
                .ok()
        });
        if received.is_none() {
            return refused(
                room,
                &before,
                "the sync message could not be merged",
                Vec::new(),
            );
        }
        let new: Vec<Change> = copy.get_changes(&before);
        match checked(room, &new, who) {
            Check::Accept { new_reports } => {
                accepted = new.iter().map(Change::hash).collect();
                if room
                    .doc_mut()
                    .sync()
                    .receive_sync_message(state, message)
                    .is_err()
                {
                    return refused(
                        room,
                        &before,
                        "the sync message could not be merged",
                        Vec::new(),
                    );
                }
                room.note_merged(&before);
                numbered = number(room, &new_reports, relay, now, next_post_no);
            }
            Check::Refuse(r) => {
                return refused(room, &before, &r.0, new.iter().map(Change::hash).collect());
            }
            Check::Missing(_) => {
                // The device will send the missing history in the next round; take nothing yet.
            }
        }
    } else if room
        .doc_mut()
        .sync()
        .receive_sync_message(state, message)
        .is_err()
    {
        return refused(
            room,
            &before,
            "the sync message could not be merged",
            Vec::new(),
        );
    }
    let reply = room.doc_mut().sync().generate_sync_message(state);
    let outcome = match reply {
        Some(m) => Outcome::SyncMessage {
            message: without_flags(m),
        },
        None => Outcome::Updated {
            accepted: u32::try_from(accepted.len()).unwrap_or(u32::MAX),
            changes: Vec::new(),
            heads: to_wire(&room.heads()),
        },
    };
    Served {
        outcome,
        accepted,
        refused: Vec::new(),
        numbered,
    }
}
