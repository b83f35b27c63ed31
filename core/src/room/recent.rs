//! The newest changes of a room, kept as Automerge produced them, so "what does a device lack"
//! is answered without rebuilding changes from the document.
//!
//! Automerge 0.12 keeps operations, not changes: `get_changes` re-encodes every change it
//! returns from the document's columns, even for one receipt. The relay asked it once per
//! document per sync and twice more per write (to note what a merge touched, and to persist),
//! a large share of its CPU under W3 (figures: docs/benchmarks.md). Devices sync often and
//! lag only a little, so the last few hundred changes answer nearly every question; anything
//! older falls back to the document.
//!
//! The kept changes follow a state of the document called the base: they are every change
//! made after it, in an order where dependencies come first. A device's `have` can be answered
//! from here when it covers the base (every base head is in `have` or is a dependency of a
//! kept change `have` reaches); then the device lacks exactly the kept changes `have` does not
//! reach.

use automerge::{Change, ChangeHash};
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Changes kept at most. A device syncing every few seconds lags a few changes per room; one
/// a whole day behind is answered from the document.
pub const MAX_CHANGES: usize = 128;
/// Bytes of kept changes at most (their raw encoding): with the relay's 2,048 loaded rooms,
/// at most 128 MiB in all.
pub const MAX_BYTES: usize = 64 * 1024;

/// Hashes a change hash by its first bytes. A change hash is SHA-256, already evenly spread,
/// so running SipHash over it again (the standard set's default) only costs time: the walk in
/// [`Recent::missing`] hashes a few hundred of them per question.
#[derive(Default)]
struct HashPrefix(u64);

impl Hasher for HashPrefix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(8) ^ u64::from_le_bytes(first);
    }
}

type HashSetOfChanges = HashSet<ChangeHash, BuildHasherDefault<HashPrefix>>;

/// A room's newest changes after a base state; see the module documentation.
#[derive(Clone, Debug)]
pub struct Recent {
    /// Heads of the base state.
    base: Vec<ChangeHash>,
    /// Heads after the last kept change: the document's heads while this is current.
    heads: Vec<ChangeHash>,
    /// Dependencies first.
    changes: VecDeque<Change>,
    /// The heads after each kept change (sorted), so a device that is exactly at one of
    /// those states, the usual case, is answered without walking the dependencies.
    after: VecDeque<Vec<ChangeHash>>,
    bytes: usize,
}

/// Heads after adding `change` to a state with `heads` (its dependencies are in that state).
fn advance(heads: &mut Vec<ChangeHash>, change: &Change) {
    heads.retain(|h| !change.deps().contains(h));
    heads.push(change.hash());
    heads.sort();
}

/// `batch` reordered so that every change comes after those of its dependencies that are in
/// the batch (Kahn's order, otherwise stable).
fn dependencies_first(batch: Vec<Change>) -> Vec<Change> {
    let mut pending: VecDeque<Change> = batch.into();
    let mut placed: HashSet<ChangeHash> = HashSet::new();
    let waiting_on: HashSet<ChangeHash> = pending.iter().map(Change::hash).collect();
    let mut out = Vec::with_capacity(pending.len());
    let mut stalled = 0;
    while let Some(c) = pending.pop_front() {
        let ready = c
            .deps()
            .iter()
            .all(|d| !waiting_on.contains(d) || placed.contains(d));
        if ready || stalled > pending.len() {
            // A cycle cannot happen between hashed changes; the bound only guards the loop.
            placed.insert(c.hash());
            out.push(c);
            stalled = 0;
        } else {
            pending.push_back(c);
            stalled += 1;
        }
    }
    out
}

/// Changes as one chunk of their raw bytes, as Automerge's `save_after` writes them and
/// `load_incremental` reads them.
pub fn chunk_of(changes: &[Change]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(changes.iter().map(|c| c.raw_bytes().len()).sum());
    for c in changes {
        bytes.extend_from_slice(c.raw_bytes());
    }
    bytes
}

impl Recent {
    /// Nothing kept yet; the document is at `heads`.
    pub fn new(mut heads: Vec<ChangeHash>) -> Recent {
        heads.sort();
        Recent {
            base: heads.clone(),
            heads,
            changes: VecDeque::new(),
            after: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Heads after the last kept change.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// How many changes are kept.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Keeps `batch`: the changes made since [`Recent::heads`] (Automerge's `get_changes` of
    /// them), then forgets the oldest beyond the limits.
    pub fn push(&mut self, batch: Vec<Change>) {
        for c in dependencies_first(batch) {
            advance(&mut self.heads, &c);
            self.bytes += c.raw_bytes().len();
            self.changes.push_back(c);
            self.after.push_back(self.heads.clone());
        }
        while self.changes.len() > MAX_CHANGES || self.bytes > MAX_BYTES {
            let Some(oldest) = self.changes.pop_front() else {
                break;
            };
            self.after.pop_front();
            self.bytes -= oldest.raw_bytes().len();
            advance(&mut self.base, &oldest);
        }
    }

    /// The kept changes not reachable from `have`, dependencies first; `None` when `have`
    /// does not cover the base, so the answer needs older changes than are kept. `have` must
    /// name only changes of the document.
    pub fn missing(&self, have: &[ChangeHash]) -> Option<Vec<Change>> {
        let mut sorted = have.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted == self.base {
            return Some(self.changes.iter().cloned().collect());
        }
        if let Some(i) = self.after.iter().rposition(|heads| *heads == sorted) {
            return Some(self.changes.iter().skip(i + 1).cloned().collect());
        }
        // Walk from the newest: a change is known if `have` names it or a known change
        // depends on it.
        let mut reached: HashSetOfChanges = have.iter().copied().collect();
        let mut missing = Vec::new();
        for c in self.changes.iter().rev() {
            if reached.remove(&c.hash()) {
                reached.extend(c.deps().iter().copied());
            } else {
                missing.push(c);
            }
        }
        // What is left was reached but is not kept: base heads, or older changes.
        if !self.base.iter().all(|h| reached.contains(h)) {
            return None;
        }
        Some(missing.into_iter().rev().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};

    fn edit(doc: &mut AutoCommit, key: &str) {
        doc.put(ROOT, key, 1).unwrap();
        doc.commit();
    }

    fn hashes(changes: &[Change]) -> HashSet<ChangeHash> {
        changes.iter().map(Change::hash).collect()
    }

    /// Two actors writing concurrently and merging; returns the document and every state's
    /// heads along the way.
    fn history(steps: usize) -> (AutoCommit, Vec<Vec<ChangeHash>>) {
        let mut a = AutoCommit::new().with_actor(ActorId::from(&[1u8; 16][..]));
        let mut b = a.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        let mut states = vec![a.get_heads()];
        for i in 0..steps {
            edit(&mut a, &format!("a{i}"));
            edit(&mut b, &format!("b{i}"));
            if i % 3 == 0 {
                a.merge(&mut b).unwrap();
            }
            states.push(a.get_heads());
        }
        a.merge(&mut b).unwrap();
        states.push(a.get_heads());
        (a, states)
    }

    #[test]
    fn answers_like_automerge_for_every_state_it_covers() {
        let (mut doc, states) = history(40);
        let start = states[5].clone();
        let mut recent = Recent::new(start.clone());
        recent.push(doc.get_changes(&start));
        assert_eq!(recent.heads(), doc.get_heads().as_slice());
        for (i, have) in states.iter().enumerate() {
            let kept = recent.missing(have);
            if i < 5 {
                assert!(kept.is_none(), "state {i} is older than the base");
                continue;
            }
            let kept = kept.unwrap();
            assert_eq!(hashes(&kept), hashes(&doc.get_changes(have)), "state {i}");
            // Dependencies first, so a device can apply them in order.
            let sent = hashes(&kept);
            let mut placed = HashSet::new();
            for c in &kept {
                assert!(
                    c.deps()
                        .iter()
                        .all(|d| !sent.contains(d) || placed.contains(d))
                );
                placed.insert(c.hash());
            }
        }
    }

    #[test]
    fn a_have_that_is_no_single_state_is_answered_by_the_walk() {
        // As when a device sends its new change: its old heads plus that change.
        let (mut doc, states) = history(30);
        let mut recent = Recent::new(states[3].clone());
        recent.push(doc.get_changes(&states[3]));
        for have in &states[3..] {
            for extra in doc.get_changes(have).iter().take(3) {
                let mut mixed = have.clone();
                mixed.push(extra.hash());
                assert_eq!(
                    hashes(&recent.missing(&mixed).unwrap()),
                    hashes(&doc.get_changes(&mixed))
                );
            }
        }
    }

    #[test]
    fn a_have_with_only_one_of_two_base_heads_is_not_answered() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(&[1u8; 16][..]));
        let mut b = a.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        edit(&mut a, "a");
        edit(&mut b, "b");
        let a_only = a.get_heads();
        a.merge(&mut b).unwrap();
        let base = a.get_heads();
        assert_eq!(base.len(), 2);
        let mut recent = Recent::new(base.clone());
        edit(&mut a, "after");
        recent.push(a.get_changes(&base));
        // A device holding only a's change lacks b's, which is not kept.
        assert!(recent.missing(&a_only).is_none());
        assert_eq!(recent.missing(&base).unwrap().len(), 1);
        assert!(recent.missing(&a.get_heads()).unwrap().is_empty());
    }

    #[test]
    fn forgetting_the_oldest_moves_the_base_and_keeps_answers_right() {
        let (mut doc, states) = history(MAX_CHANGES);
        let mut recent = Recent::new(states[0].clone());
        recent.push(doc.get_changes(&states[0]));
        assert_eq!(recent.len(), MAX_CHANGES);
        assert_eq!(recent.heads(), doc.get_heads().as_slice());
        assert!(recent.missing(&states[0]).is_none());
        let late = &states[states.len() - 10];
        assert_eq!(
            hashes(&recent.missing(late).unwrap()),
            hashes(&doc.get_changes(late))
        );
        // The base moved to exactly the state before the oldest kept change.
        let kept: Vec<ChangeHash> = recent.changes.iter().map(Change::hash).collect();
        let mut before_kept = recent.base.clone();
        before_kept.sort();
        let older = doc.get_changes(&before_kept);
        assert_eq!(hashes(&older), kept.into_iter().collect());
    }

    #[test]
    fn a_batch_out_of_order_is_kept_dependencies_first() {
        let mut doc = AutoCommit::new();
        let start = doc.get_heads();
        for k in ["x", "y", "z"] {
            edit(&mut doc, k);
        }
        let mut batch = doc.get_changes(&start);
        batch.reverse();
        let mut recent = Recent::new(start.clone());
        recent.push(batch);
        assert_eq!(recent.heads(), doc.get_heads().as_slice());
        let order: Vec<ChangeHash> = recent
            .missing(&start)
            .unwrap()
            .iter()
            .map(Change::hash)
            .collect();
        let want: Vec<ChangeHash> = doc.get_changes(&start).iter().map(Change::hash).collect();
        assert_eq!(order, want);
    }
}
