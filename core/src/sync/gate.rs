//! The one gate every change passes before it enters a room on the relay.
//!
//! Changes reach the relay in `DocSync.changes`, inside an Automerge sync message (the
//! fallback), and on top of a new restricted document. All of them take the same three steps:
//!
//! 1. [`decode`]: bytes → changes, bounded before anything is expanded (the inflated size of
//!    a compressed change, operations per request, operations being checked across all
//!    concurrent requests), each chunk's checksum verified, and only change chunks taken.
//! 2. [`vet`]: the changes the room lacks, put in dependency order, through the write rules
//!    ([`super::write_rules`]). A batch whose dependencies are missing is refused whole and kept
//!    nowhere: nothing waits in Automerge's queue of changes with missing dependencies, where
//!    a later merge would release it unchecked.
//! 3. [`Vetted`] is what [`Room::merge_vetted`] takes, and only [`vet`] builds one: the relay
//!    has no other way to put a device's change into a room.

use super::write_rules::{self, Refusal, Touched, Writer};
use crate::ids::ReportId;
use crate::room::Room;
use automerge::{Change, ChangeHash};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest change the relay takes, after inflating: a report at every field's limit is a few
/// hundred kilobytes.
pub const MAX_CHANGE_BYTES: usize = 4 * 1024 * 1024;
/// Most operations one request may carry, counted over all its documents. A day of offline
/// work is a few thousand; a ten-year room's whole history about two million.
pub const MAX_OPS_PER_REQUEST: usize = 250_000;
/// Most operations being checked and merged at once across all requests: the ceiling on the
/// memory that expanding devices' changes can take (a few hundred bytes per operation).
pub const MAX_OPS_IN_FLIGHT: usize = 1_000_000;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// What one request may still spend on decoding changes. Shared by all documents of the
/// request, so a thousand documents cannot each spend the per-request limit.
#[derive(Debug)]
pub struct Budget {
    ops_left: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            ops_left: MAX_OPS_PER_REQUEST,
        }
    }
}

/// Operations of one document's changes held against [`MAX_OPS_IN_FLIGHT`] until dropped.
#[derive(Debug)]
pub struct Reservation(usize);

impl Reservation {
    /// Holds `ops` operations of the relay-wide allowance, or `None` when the relay is at its
    /// ceiling (the device should try again shortly).
    fn take(ops: usize) -> Option<Reservation> {
        let mut now = IN_FLIGHT.load(Ordering::Relaxed);
        loop {
            let next = now.checked_add(ops).filter(|n| *n <= MAX_OPS_IN_FLIGHT)?;
            match IN_FLIGHT.compare_exchange_weak(now, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Reservation(ops)),
                Err(seen) => now = seen,
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// Why decoding stopped.
#[derive(Debug)]
pub enum DecodeError {
    /// The bytes break a rule of the gate (the reason names the rule, never the content).
    Refused(Refusal),
    /// The relay is at its ceiling of work in flight: nothing was looked at, try again.
    Busy,
}

impl DecodeError {
    fn refuse(why: &str) -> DecodeError {
        DecodeError::Refused(Refusal(why.to_string()))
    }
}

/// Changes decoded within the limits, with their share of the relay's allowance.
#[derive(Debug)]
pub struct Decoded {
    /// The changes, in the order sent.
    pub changes: Vec<Change>,
    _held: Reservation,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_CHANGE: u8 = 1;
const CHUNK_COMPRESSED: u8 = 2;

/// One chunk's header: where its data starts and ends.
struct ChunkHeader {
    checksum: [u8; 4],
    kind: u8,
    data: std::ops::Range<usize>,
}

fn parse_header(bytes: &[u8]) -> Option<ChunkHeader> {
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return None;
    }
    let mut len: u64 = 0;
    let mut at = 9;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(at)?;
        at += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let end = at.checked_add(usize::try_from(len).ok()?)?;
            return (end <= bytes.len()).then(|| ChunkHeader {
                checksum: [bytes[4], bytes[5], bytes[6], bytes[7]],
                kind: bytes[8],
                data: at..end,
            });
        }
    }
    None
}

fn uleb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Splits bytes holding one or more chunks (a sync message's element may hold several) into
/// the chunks. Only change chunks are taken: a whole document or a bundle is inflated by
/// Automerge without bounds and could carry anything.
pub fn split_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(h) = parse_header(rest) else {
            return Err(Refusal("a change could not be decoded".into()));
        };
        if h.kind != CHUNK_CHANGE && h.kind != CHUNK_COMPRESSED {
            return Err(Refusal(
                "a sync message may carry changes, not whole documents".into(),
            ));
        }
        let (chunk, tail) = rest.split_at(h.data.end);
        out.push(chunk);
        rest = tail;
    }
    Ok(out)
}

/// One change from the network: inflated within [`MAX_CHANGE_BYTES`], decoded (Automerge
/// panics on some malformed input; taken as undecodable), and its checksum verified.
fn decode_one(bytes: &[u8]) -> Result<Change, DecodeError> {
    let bad = || DecodeError::refuse("a change could not be decoded");
    let h = parse_header(bytes).ok_or_else(bad)?;
    if h.data.end != bytes.len() {
        return Err(bad());
    }
    let plain;
    let bytes = match h.kind {
        CHUNK_CHANGE => bytes,
        CHUNK_COMPRESSED => {
            let mut inflated = Vec::new();
            let limit = u64::try_from(MAX_CHANGE_BYTES).unwrap_or(u64::MAX) + 1;
            flate2::read::DeflateDecoder::new(&bytes[h.data.clone()])
                .take(limit)
                .read_to_end(&mut inflated)
                .map_err(|_| bad())?;
            if inflated.len() > MAX_CHANGE_BYTES {
                return Err(DecodeError::refuse("a change is too large"));
            }
            let mut chunk = Vec::with_capacity(inflated.len() + 16);
            chunk.extend_from_slice(&MAGIC);
            chunk.extend_from_slice(&h.checksum);
            chunk.push(CHUNK_CHANGE);
            uleb(inflated.len(), &mut chunk);
            chunk.extend_from_slice(&inflated);
            plain = chunk;
            &plain
        }
        _ => return Err(bad()),
    };
    if bytes.len() > MAX_CHANGE_BYTES + 16 {
        return Err(DecodeError::refuse("a change is too large"));
    }
    let change = std::panic::catch_unwind(|| Change::from_bytes(bytes.to_vec()).ok())
        .ok()
        .flatten()
        .ok_or_else(bad)?;
    // The checksum is the first four bytes of the change's hash; Automerge does not compare
    // them, so a change damaged on the way would be stored under a hash no one else computes.
    if change.hash().0[..4] != h.checksum {
        return Err(DecodeError::refuse("a change's checksum does not match"));
    }
    Ok(change)
}

/// Decodes a document's changes within the request's budget and the relay's ceiling. Each
/// change is counted (Automerge counts operations without expanding them) before any is
/// expanded; the count is charged to the request even when the change is then refused.
pub fn decode<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    budget: &mut Budget,
) -> Result<Decoded, DecodeError> {
    let mut changes = Vec::new();
    let mut ops = 0usize;
    for bytes in chunks {
        if budget.ops_left == 0 {
            return Err(DecodeError::refuse("too many operations in one request"));
        }
        let change = decode_one(bytes)?;
        let n = change.len();
        if n > budget.ops_left {
            budget.ops_left = 0;
            return Err(DecodeError::refuse("too many operations in one request"));
        }
        budget.ops_left -= n;
        ops += n;
        changes.push(change);
    }
    let held = Reservation::take(ops).ok_or(DecodeError::Busy)?;
    Ok(Decoded {
        changes,
        _held: held,
    })
}

/// Changes that passed the write rules for one room and one writer, in dependency order.
/// Built only by [`vet`]; merged only by [`Room::merge_vetted`].
#[derive(Debug)]
pub struct Vetted {
    changes: Vec<Change>,
    new_reports: Vec<ReportId>,
    touched: Touched,
}

impl Vetted {
    /// Hashes of the changes, for the audit log.
    pub fn hashes(&self) -> Vec<ChangeHash> {
        self.changes.iter().map(Change::hash).collect()
    }

    /// Whether there is nothing to merge.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Reports the batch creates, which need post numbers.
    pub fn new_reports(&self) -> &[ReportId] {
        &self.new_reports
    }

    /// The records the batch writes in, for the checks after the merge.
    pub fn touched(&self) -> &Touched {
        &self.touched
    }

    /// Hands the changes to the room (see [`Room::merge_vetted`]).
    pub(crate) fn into_changes(self) -> Vec<Change> {
        self.changes
    }
}

/// What the gate says of a batch.
#[derive(Debug)]
pub enum Verdict {
    /// Every change may be merged.
    Accept(Vetted),
    /// A rule was broken; nothing may be merged.
    Refuse(Refusal),
    /// The batch builds on changes the relay does not have; nothing is kept.
    Missing,
}

/// Takes out of `changes` those this relay stored before it was restored from a backup
/// (`vouched`, from its ledger) whose history is in the room or among them, in dependency
/// order, ready to merge: they were checked by the write rules when first sent and
/// acknowledged, so they are not checked again — they may be a teammate's or the relay's own
/// (post numbers), which no device could send otherwise. The rest goes to [`vet`] as usual.
/// Only the relay's own ledger vouches: a device cannot make a change vouched.
pub fn recover(
    room: &Room,
    changes: Vec<Change>,
    vouched: &std::collections::HashSet<ChangeHash>,
) -> (Option<Vetted>, Vec<Change>) {
    let mut rest = Vec::new();
    let mut candidates: Vec<Change> = Vec::new();
    let mut index: HashMap<ChangeHash, usize> = HashMap::new();
    for c in changes {
        let h = c.hash();
        if room.has_change(&h) || index.contains_key(&h) {
            continue;
        }
        if vouched.contains(&h) {
            index.insert(h, candidates.len());
            candidates.push(c);
        } else {
            rest.push(c);
        }
    }
    if candidates.is_empty() {
        return (None, rest);
    }
    // A candidate whose history is neither in the room nor among them (nor in turn
    // recoverable) stays behind with everything built on it.
    let order = dependency_order(room, &candidates, &index);
    let mut slots: Vec<Option<Change>> = candidates.into_iter().map(Some).collect();
    let picked: Vec<Change> = order.iter().filter_map(|&i| slots[i].take()).collect();
    rest.extend(slots.into_iter().flatten());
    if picked.is_empty() {
        return (None, rest);
    }
    (
        Some(Vetted {
            changes: picked,
            new_reports: Vec::new(),
            touched: Touched::default(),
        }),
        rest,
    )
}

/// Positions in `batch` (whose hashes `index` maps to positions) in dependency order (Kahn's):
/// each change after those of the batch it builds on. A change whose history is neither in the
/// room nor in the batch is left out with everything built on it, and so is a cycle.
fn dependency_order(
    room: &Room,
    batch: &[Change],
    index: &HashMap<ChangeHash, usize>,
) -> Vec<usize> {
    let mut waiting = vec![0usize; batch.len()];
    let mut blocked = vec![false; batch.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); batch.len()];
    for (i, c) in batch.iter().enumerate() {
        for d in c.deps() {
            match index.get(d) {
                Some(&p) => {
                    waiting[i] += 1;
                    children[p].push(i);
                }
                None if room.has_change(d) => {}
                None => blocked[i] = true,
            }
        }
    }
    let mut ready: Vec<usize> = (0..batch.len())
        .filter(|&i| waiting[i] == 0 && !blocked[i])
        .collect();
    let mut order = Vec::with_capacity(batch.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 && !blocked[c] {
                ready.push(c);
            }
        }
    }
    order
}

/// Puts the changes the room lacks in dependency order. Fails with the rule a change breaks,
/// or with `None` when some dependency is neither in the room nor in the batch.
fn in_order(room: &Room, changes: Vec<Change>) -> Result<Vec<Change>, Option<Refusal>> {
    let mut fresh: Vec<Change> = Vec::new();
    let mut index: HashMap<ChangeHash, usize> = HashMap::new();
    for c in changes {
        let h = c.hash();
        if room.has_change(&h) || index.contains_key(&h) {
            continue;
        }
        if c.deps().is_empty() {
            // Every room starts from its genesis, which every device has: a change that
            // builds on nothing is not a change of this room.
            return Err(Some(Refusal(
                "a change must build on the room's history".into(),
            )));
        }
        index.insert(h, fresh.len());
        fresh.push(c);
    }
    let order = dependency_order(room, &fresh, &index);
    if order.len() != fresh.len() {
        // History neither in the room nor in the batch; or a cycle of hashes, which cannot be
        // built honestly: treated alike.
        return Err(None);
    }
    let mut slots: Vec<Option<Change>> = fresh.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Checks a batch for `who` against the room as it is now.
pub fn vet(room: &Room, changes: Vec<Change>, who: &Writer) -> Verdict {
    let ordered = match in_order(room, changes) {
        Ok(o) => o,
        Err(Some(r)) => return Verdict::Refuse(r),
        Err(None) => return Verdict::Missing,
    };
    // Expanding a malformed change can panic inside Automerge; the check only reads the room.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_rules::check_changes(room, &ordered, who)
    }));
    match checked {
        Ok(Ok(accepted)) => Verdict::Accept(Vetted {
            changes: ordered,
            new_reports: accepted.new_reports,
            touched: accepted.touched,
        }),
        Ok(Err(r)) => Verdict::Refuse(r),
        Err(_) => Verdict::Refuse(Refusal("a change could not be decoded".into())),
    }
}
