//! The relay's handling of one document of a sync request, without I/O: check the device's
//! changes, merge them, number new reports, and compute what the device lacks. The server
//! wraps this with the directory (who may see what), locks, durable storage and the audit log.

use super::gate::{self, Budget, DecodeError, Verdict};
use super::invariants;
use super::protocol::{DocSync, Outcome, from_wire, to_wire};
use super::write_rules::{Refusal, Writer};
use crate::ids::ReportId;
use crate::people::Author;
use crate::room::Room;
use crate::time::Timestamp;
use automerge::sync::{Message, State};
use automerge::{Change, ChangeHash};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most changes the relay holds for one device's fallback while their history is on its way.
pub const MAX_HELD_CHANGES: usize = 2_000;
/// Most bytes of changes held for one device's fallback for one document.
pub const MAX_HELD_BYTES: usize = 1024 * 1024;
/// Most bytes of changes held across all fallbacks: past it, nothing more is held (the
/// device's fallback then needs one more round for those changes).
pub const MAX_HELD_BYTES_TOTAL: usize = 256 * 1024 * 1024;

static HELD_BYTES: AtomicUsize = AtomicUsize::new(0);

/// What the relay keeps between the rounds of one device's fallback (Automerge's sync
/// protocol) for one document: Automerge's sync state, and the changes the device sent whose
/// dependencies have not arrived yet. Those wait here — in memory, never in the room — and go
/// through the gate together with their history once it arrives.
#[derive(Debug, Default)]
pub struct Fallback {
    /// Automerge's sync state for this device and document.
    pub state: State,
    held: Vec<Change>,
    held_bytes: usize,
}

impl Fallback {
    /// Takes the held changes out (their bytes no longer count against the relay's total).
    fn take_held(&mut self) -> Vec<Change> {
        HELD_BYTES.fetch_sub(std::mem::take(&mut self.held_bytes), Ordering::AcqRel);
        std::mem::take(&mut self.held)
    }

    /// Holds `changes` if they fit the limits for one fallback and for the relay; says whether
    /// they were held.
    fn hold(&mut self, changes: Vec<Change>) -> bool {
        self.take_held();
        let bytes: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        if changes.len() > MAX_HELD_CHANGES || bytes > MAX_HELD_BYTES {
            return false;
        }
        let mut now = HELD_BYTES.load(Ordering::Relaxed);
        loop {
            let Some(next) = now
                .checked_add(bytes)
                .filter(|n| *n <= MAX_HELD_BYTES_TOTAL)
            else {
                return false;
            };
            match HELD_BYTES.compare_exchange_weak(now, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        self.held = changes;
        self.held_bytes = bytes;
        true
    }
}

impl Drop for Fallback {
    fn drop(&mut self) {
        self.take_held();
    }
}

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
    /// The relay is at its ceiling of work in flight: answer the whole request "busy".
    pub busy: bool,
    /// The merge was rolled back: the room is poisoned (reload it) and any post numbers
    /// handed out were not kept.
    pub rolled_back: bool,
    /// A broken invariant after a merge: a hole in the write rules, for the audit log.
    pub violation: Option<String>,
}

impl Served {
    fn just(outcome: Outcome) -> Served {
        Served {
            outcome,
            accepted: Vec::new(),
            refused: Vec::new(),
            numbered: Vec::new(),
            busy: false,
            rolled_back: false,
            violation: None,
        }
    }

    fn busy() -> Served {
        Served {
            busy: true,
            ..Served::just(Outcome::Unchanged)
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
/// writes post numbers); `next_post_no` hands out the room's next number; `fallback` is what
/// is kept for this device and document between rounds of the fallback; `budget` is what the
/// request may still spend on decoding changes.
///
/// Every change the device sends, however it arrives, goes through [`gate`]; after the merge
/// the room's invariants are checked ([`invariants`]) and a violation rolls the merge back.
///
/// Automerge 0.12 can panic on malformed input that decodes fine (fuzzing found changes that
/// panic while being applied, and changes that apply but make the next `diff` panic;
/// `tests/fuzz/regressions/`). Such a panic is caught here: the room is marked poisoned (it
/// may be half-changed; [`crate::RoomHandle`] then drops it unsaved and loads the stored one
/// again) and the device's changes are refused, so the bad change is never stored.
#[allow(clippy::too_many_arguments)]
pub fn serve_doc(
    room: &mut Room,
    req: &DocSync,
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    fallback: &mut Fallback,
    budget: &mut Budget,
) -> Served {
    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(room, req, who, relay, now, next_post_no, fallback, budget)
    }));
    match served {
        Ok(s) => s,
        Err(_) => {
            room.mark_poisoned();
            *fallback = Fallback::default();
            rolled_back(
                &from_wire(&req.known_heads),
                "the changes could not be merged",
                None,
            )
        }
    }
}

/// The answer when the room was poisoned: the device's changes are refused, and nothing is
/// read from the room; the device keeps the heads it named.
fn rolled_back(known: &[ChangeHash], reason: &str, violation: Option<String>) -> Served {
    Served {
        rolled_back: true,
        violation,
        ..Served::just(Outcome::Refused {
            reason: reason.to_string(),
            changes: Vec::new(),
            heads: to_wire(known),
        })
    }
}

/// What became of a batch at the gate.
enum Admitted {
    Merged {
        accepted: Vec<ChangeHash>,
        numbered: Vec<(ReportId, u64)>,
    },
    Missing(Vec<Change>),
    Refused(Refusal, Vec<ChangeHash>),
    RolledBack(&'static str, Option<String>),
}

/// The one path from a device's decoded changes into the room: the gate, the merge, post
/// numbers, and the invariants, with the merge rolled back if they break.
/// `hold` says whether the caller keeps a batch whose history is missing (the fallback
/// does; the common path starts the fallback instead and needs no copy).
#[allow(clippy::too_many_arguments)]
fn admit(
    room: &mut Room,
    changes: Vec<Change>,
    hold: bool,
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
) -> Admitted {
    let hashes: Vec<ChangeHash> = changes
        .iter()
        .map(Change::hash)
        .filter(|h| !room.has_change(h))
        .collect();
    // After a restore: what the relay itself stored before goes back in first, unchecked
    // (it was checked then), and the numbers it gave then are kept or, if given twice, given
    // anew; the rest is vetted against the room with those back in.
    let mut recovered = 0usize;
    let changes = match &who.vouched {
        Some(vouched) => {
            let (back, rest) = gate::recover(room, changes, vouched);
            if let Some(back) = back {
                recovered = back.hashes().len();
                if room.merge_vetted(back).is_err() {
                    return Admitted::RolledBack("the changes could not be merged", None);
                }
            }
            rest
        }
        None => changes,
    };
    // Reading every report's number costs a walk over the room: only after a restore.
    let floor = if recovered > 0 {
        room.highest_post_no()
    } else {
        0
    };
    let mut next = || loop {
        // Numbers the recovered changes brought back are taken: skip past them.
        let n = next_post_no();
        if recovered == 0 || n > floor {
            break n;
        }
    };
    let renumbered = if recovered > 0 {
        let elsewhere = who
            .numbered_elsewhere
            .as_deref()
            .cloned()
            .unwrap_or_default();
        let mut again = renumber_twice_given(room, &elsewhere, relay, now, &mut next);
        again.extend(number_unnumbered(room, relay, now, &mut next));
        again
    } else {
        Vec::new()
    };
    let kept = if hold { changes.clone() } else { Vec::new() };
    let vetted = match gate::vet(room, changes, who) {
        Verdict::Accept(v) => v,
        // What was recovered stays merged (and is stored with the answer); the device's
        // other changes are refused or wait for their history as usual.
        Verdict::Refuse(r) => return Admitted::Refused(r, hashes),
        Verdict::Missing => return Admitted::Missing(kept),
    };
    if vetted.is_empty() {
        return Admitted::Merged {
            accepted: Vec::new(),
            numbered: renumbered,
        };
    }
    let accepted = vetted.hashes();
    let new_reports = vetted.new_reports().to_vec();
    let touched = vetted.touched().clone();
    let before = invariants::snapshot(room, &touched);
    if room.merge_vetted(vetted).is_err() {
        return Admitted::RolledBack("the changes could not be merged", None);
    }
    let mut numbered = number(room, &new_reports, relay, now, &mut next);
    if let Err(v) = invariants::check(room, &before, &touched, &numbered) {
        room.mark_poisoned();
        return Admitted::RolledBack(v.0, Some(v.0.to_string()));
    }
    numbered.extend(renumbered);
    Admitted::Merged { accepted, numbered }
}

#[allow(clippy::too_many_arguments)]
fn serve(
    room: &mut Room,
    req: &DocSync,
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    fallback: &mut Fallback,
    budget: &mut Budget,
) -> Served {
    if let Some(bytes) = &req.sync_message {
        return serve_fallback(room, bytes, who, relay, now, next_post_no, fallback, budget);
    }
    let known = from_wire(&req.known_heads);
    if known.iter().any(|h| !room.has_change(h)) {
        return start_fallback(room, fallback);
    }
    let mut decoded = match gate::decode(req.changes.iter().map(Vec::as_slice), budget) {
        Ok(d) => d,
        Err(DecodeError::Busy) => return Served::busy(),
        Err(DecodeError::Refused(r)) => return refused(room, &known, &r.0, Vec::new()),
    };
    let hashes: Vec<ChangeHash> = decoded.changes.iter().map(Change::hash).collect();
    // `decoded` keeps its share of the relay's allowance until this document is served.
    let changes = std::mem::take(&mut decoded.changes);
    let mut served = match admit(room, changes, false, who, relay, now, next_post_no) {
        Admitted::Merged { accepted, numbered } => Served {
            accepted,
            numbered,
            ..Served::just(Outcome::Unchanged)
        },
        Admitted::Missing(_) => return start_fallback(room, fallback),
        Admitted::Refused(r, hashes) => return refused(room, &known, &r.0, hashes),
        Admitted::RolledBack(reason, violation) => {
            let mut s = rolled_back(&known, reason, violation);
            s.refused = hashes;
            return s;
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
/// decodable". Automerge 0.12 panics on some malformed input instead of returning an error
/// (`tests/fuzz/regressions/`). Only for decoders that read their input and touch no shared
/// state, so nothing is left half-done after a panic.
fn untrusted<T>(decode: impl FnOnce() -> Option<T>) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .ok()
        .flatten()
}

/// Encodes one of the relay's sync messages without Automerge's capability flags, so the
/// phone's Automerge treats the relay as a V1 peer and sends changes, never a whole document
/// (which the gate refuses).
fn without_flags(mut m: Message) -> Vec<u8> {
    m.flags = None;
    m.encode()
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

/// After changes given post numbers before a restore came back: every report that shares
/// its number with another in this document keeps it only if it was received first, and one
/// whose number another document of the patient room holds (`elsewhere`: the main document
/// and the restricted ones share one sequence) never keeps it; the others get the room's next
/// numbers, so the sequence stays unique and dense.
fn renumber_twice_given(
    room: &mut Room,
    elsewhere: &HashSet<u64>,
    relay: &Author,
    now: Timestamp,
    next: &mut dyn FnMut() -> u64,
) -> Vec<(ReportId, u64)> {
    let mut by_no: std::collections::BTreeMap<u64, Vec<(i64, ReportId)>> = Default::default();
    for (id, no, at) in room.post_numbers() {
        by_no.entry(no).or_default().push((at, id));
    }
    let mut again = Vec::new();
    for (no, mut holders) in by_no {
        holders.sort();
        // Within the document the first received keeps it; a number another document of
        // the room holds stays there (that document is not being written).
        let keep = usize::from(!elsewhere.contains(&no));
        again.extend(holders.into_iter().skip(keep).map(|(_, id)| id));
    }
    number(room, &again, relay, now, next)
}

/// After a restore: a report can come back without its number. The relay stored the report
/// and the change numbering it, then was killed before its answer left (or the answer was
/// lost), and the backup predates both: the phone that brings the report back never had the
/// number, and no one else did. Every report of this document without a number gets the
/// room's next one, so the sequence stays dense.
fn number_unnumbered(
    room: &mut Room,
    relay: &Author,
    now: Timestamp,
    next: &mut dyn FnMut() -> u64,
) -> Vec<(ReportId, u64)> {
    let numbered: HashSet<ReportId> = room.post_numbers().into_iter().map(|(id, ..)| id).collect();
    let mut missing: Vec<ReportId> = room
        .report_ids()
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !numbered.contains(id))
        .collect();
    missing.sort();
    number(room, &missing, relay, now, next)
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
        refused,
        ..Served::just(Outcome::Refused {
            reason: reason.to_string(),
            changes,
            heads,
        })
    }
}

fn start_fallback(room: &mut Room, fallback: &mut Fallback) -> Served {
    *fallback = Fallback::default();
    match room.sync_message(&mut fallback.state) {
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

/// The dependencies of held changes that are neither in the room nor held: what the relay
/// asks the device for (Automerge would ask for them from its own queue).
fn wanted(room: &Room, held: &[Change]) -> Vec<ChangeHash> {
    let have: HashSet<ChangeHash> = held.iter().map(Change::hash).collect();
    let mut out: Vec<ChangeHash> = held
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .filter(|d| !have.contains(d) && !room.has_change(d))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One round of Automerge's sync protocol. The changes inside the device's message go through
/// the gate like any others (together with those held from earlier rounds); Automerge itself
/// only sees the message's bookkeeping, never its changes.
#[allow(clippy::too_many_arguments)]
fn serve_fallback(
    room: &mut Room,
    bytes: &[u8],
    who: &Writer,
    relay: &Author,
    now: Timestamp,
    next_post_no: &mut dyn FnMut() -> u64,
    fallback: &mut Fallback,
    budget: &mut Budget,
) -> Served {
    let Some(message) = untrusted(|| Message::decode(bytes).ok()) else {
        return refused(
            room,
            &[],
            "the sync message could not be decoded",
            Vec::new(),
        );
    };
    let before = room.heads();
    let mut chunks = Vec::new();
    for element in message.changes.iter() {
        match gate::split_chunks(element) {
            Ok(c) => chunks.extend(c),
            Err(r) => return refused(room, &before, &r.0, Vec::new()),
        }
    }
    let mut decoded = match gate::decode(chunks, budget) {
        Ok(d) => d,
        Err(DecodeError::Busy) => return Served::busy(),
        Err(DecodeError::Refused(r)) => {
            fallback.take_held();
            return refused(room, &before, &r.0, Vec::new());
        }
    };
    let mut accepted = Vec::new();
    let mut numbered = Vec::new();
    if !decoded.changes.is_empty() || !fallback.held.is_empty() {
        let mut batch = fallback.take_held();
        batch.append(&mut decoded.changes);
        match admit(room, batch, true, who, relay, now, next_post_no) {
            Admitted::Merged {
                accepted: a,
                numbered: n,
            } => {
                accepted = a;
                numbered = n;
            }
            Admitted::Missing(batch) => {
                if !fallback.hold(batch) {
                    return refused(
                        room,
                        &before,
                        "too many changes wait for history the relay does not have",
                        Vec::new(),
                    );
                }
            }
            Admitted::Refused(r, hashes) => return refused(room, &before, &r.0, hashes),
            Admitted::RolledBack(reason, violation) => {
                *fallback = Fallback::default();
                return rolled_back(&before, reason, violation);
            }
        }
    }
    if room
        .receive_sync_bookkeeping(&mut fallback.state, message)
        .is_err()
    {
        return refused(
            room,
            &before,
            "the sync message could not be merged",
            Vec::new(),
        );
    }
    // Automerge remembers what it sent as received. Over HTTP an answer can be lost — a cut
    // link, a request sent twice, a phone killed before it applied the answer — and the
    // relay keeps this state across requests, so that memory would withhold those changes
    // for as long as the relay runs, even when the device asks for them by hash. What the
    // device lacks is what its message says (its heads, bloom filter and `need`).
    fallback.state.sent_hashes.clear();
    let need = wanted(room, &fallback.held);
    let reply = match room.sync_message(&mut fallback.state) {
        Some(mut m) => {
            // Automerge encodes hash lists sorted (and asserts it).
            m.need.extend(need);
            m.need.sort();
            m.need.dedup();
            Some(m)
        }
        None if !need.is_empty() => Some(Message {
            heads: room.heads(),
            need,
            have: Vec::new(),
            changes: automerge::sync::ChunkList::empty(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        }),
        None => None,
    };
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
        accepted,
        numbered,
        ..Served::just(outcome)
    }
}
