//! Search on the device, fully offline, across every document this device holds: keywords
//! over report bodies (SOAP or free text), replies, attachment captions, wound sites and the
//! patient profile, with date, room, author, profession, importance and "must read me"
//! filters; results newest first, each with the matching snippet.
//!
//! **What is indexed.** One entry per report and one per patient profile, in every patient
//! document of the store — the rooms' main documents and the restricted documents this
//! device holds. A device only ever receives the restricted documents it may see, and
//! [`SearchQuery::viewer`] additionally drops documents whose audience does not include the
//! viewer (for stores that hold more, such as the relay's).
//!
//! **How.** Text is folded ([`normalize`]: NFKC, width, hiragana → katakana, small kana,
//! variant kanji, no spaces) and cut into character bigrams; each document keeps posting
//! lists (bigram → entries, varint gaps). A query term of two or more characters intersects
//! the lists of its bigrams; a one-character term takes every bigram starting with it (the
//! last character of each field is paired with an end marker, so none is missed). The
//! candidates are sorted newest first and checked against the folded text, which gives the
//! snippet; only as many are checked as the page needs.
//!
//! **At rest.** Everything goes through the store's [`Vault`](crate::store::Vault) (AES-256-GCM)
//! in [`Space::Search`]; keys hold document ids and slot numbers only:
//!
//! | key | value (sealed) |
//! |---|---|
//! | `5 m` ‖ doc | [`DocState`]: indexed heads, entry attributes, base length |
//! | `5 p` ‖ doc | base postings |
//! | `5 q` ‖ doc | delta postings (entries indexed since the base was built) |
//! | `5 t` ‖ doc ‖ slot | the entry's text fields |
//!
//! **Staying current.** [`SearchIndex::refresh`] compares each document's saved heads with
//! the heads it indexed and re-indexes only what the new changes touched (read from their
//! change notes, or a diff). A changed report gets a new slot in the delta; a read receipt
//! (text unchanged) only updates attributes. The delta is folded into the base when it
//! grows. Call [`SearchIndex::refresh`] (or [`SearchIndex::after_sync`] with the sync
//! report) after sync and after local writes; [`SearchIndex::rebuild`] starts over.

pub mod extract;
pub mod normalize;
pub mod postings;
mod query;

pub use query::{HitKind, SearchHit, SearchQuery, SearchResults};

use crate::error::{CoreError, Result, StoreError};
use crate::ids::{ProfessionalId, RoomId};
use crate::people::RoomKind;
use crate::store::{RoomMeta, RoomStore, Space, Write, key};
use crate::sync::device::SyncReport;
use automerge::ChangeHash;
use extract::{Changed, Entry, EntryKey, EntryMeta};
use postings::{Postings, intersect, normalise};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};

/// Layout version of the index records; a mismatch rebuilds the document's index.
const VERSION: u32 = 1;
/// Fold the delta into the base once it holds this many entries (and an eighth of the base).
const MERGE_AFTER: usize = 256;
/// Results per page when the query does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Characters of context shown before a match in a snippet.
const SNIPPET_BEFORE: usize = 20;
/// Characters of a snippet in all.
const SNIPPET_CHARS: usize = 80;

/// What a refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshReport {
    /// Documents re-indexed (wholly or in part).
    pub docs: usize,
    /// Entries (re)tokenised.
    pub entries: usize,
    /// Entries whose attributes changed but not their text.
    pub attributes_only: usize,
    /// Documents dropped from the index (no longer in the store).
    pub removed: usize,
}

/// The persisted state of one document's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocState {
    version: u32,
    doc: RoomId,
    room: RoomId,
    audience: Option<Vec<ProfessionalId>>,
    heads: Vec<[u8; 32]>,
    entries: Vec<EntryMeta>,
    base_len: u32,
}

struct DocIndex {
    state: DocState,
    base: Postings,
    delta: BTreeMap<u64, Vec<u32>>,
    by_key: HashMap<EntryKey, u32>,
}

impl DocIndex {
    fn new(state: DocState, base: Postings, delta: BTreeMap<u64, Vec<u32>>) -> DocIndex {
        let by_key = state
            .entries
            .iter()
            .enumerate()
            .filter(|(_, m)| m.live)
            .map(|(i, m)| (m.key, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        DocIndex {
            state,
            base,
            delta,
            by_key,
        }
    }

    /// Slots of the entries containing every bigram of `alt` (sorted).
    fn slots_for(&self, alt: &[char]) -> Vec<u32> {
        let mut out = Vec::new();
        if alt.is_empty() {
            return out;
        }
        if alt.len() == 1 {
            let range = normalize::bigrams_starting(alt[0]);
            self.base.get_range(range.clone(), &mut out);
            for (_, slots) in self.delta.range(range) {
                out.extend_from_slice(slots);
            }
            normalise(&mut out);
            return out;
        }
        let mut keys: Vec<u64> = alt
            .windows(2)
            .map(|w| normalize::bigram(w[0], w[1] as u32))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut acc: Option<Vec<u32>> = None;
        let mut list = Vec::new();
        for k in keys {
            list.clear();
            self.base.get(k, &mut list);
            if let Some(d) = self.delta.get(&k) {
                list.extend_from_slice(d);
            }
            match acc.as_mut() {
                None => acc = Some(list.clone()),
                Some(a) => intersect(a, &list),
            }
            if acc.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        acc.unwrap_or_default()
    }

    fn add_postings(&mut self, slot: u32, fields: &[(String, String)]) {
        for k in entry_bigrams(fields) {
            self.delta.entry(k).or_default().push(slot);
        }
    }
}

fn entry_bigrams(fields: &[(String, String)]) -> Vec<u64> {
    let mut keys = Vec::new();
    for (_, text) in fields {
        normalize::bigrams(&normalize::fold(text).chars, &mut keys);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v)
        .map_err(|_| CoreError::Store(StoreError::Corrupt("search record could not be encoded")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|_| CoreError::Store(StoreError::Corrupt("search record")))
}

fn state_key(doc: RoomId) -> Vec<u8> {
    key(Space::Search, &[b"m", doc.as_bytes()])
}
fn base_key(doc: RoomId) -> Vec<u8> {
    key(Space::Search, &[b"p", doc.as_bytes()])
}
fn delta_key(doc: RoomId) -> Vec<u8> {
    key(Space::Search, &[b"q", doc.as_bytes()])
}
fn text_key(doc: RoomId, slot: u32) -> Vec<u8> {
    key(Space::Search, &[b"t", doc.as_bytes(), &slot.to_be_bytes()])
}

/// The device's search index over a [`RoomStore`], kept in the same encrypted store.
pub struct SearchIndex {
    store: RoomStore,
    docs: RwLock<BTreeMap<RoomId, DocIndex>>,
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex(..)")
    }
}

impl SearchIndex {
    /// Opens the index kept in `store` (empty if there is none yet). Call
    /// [`SearchIndex::refresh`] to bring it up to date with the rooms.
    pub fn open(store: &RoomStore) -> Result<SearchIndex> {
        let vault = store.vault();
        let mut docs = BTreeMap::new();
        for (_, v) in vault.scan_prefix(&key(Space::Search, &[b"m"]))? {
            let Ok(state) = decode::<DocState>(&v) else {
                continue;
            };
            if state.version != VERSION {
                continue;
            }
            let doc = state.doc;
            let base = match vault.get(&base_key(doc))? {
                Some(b) => decode(&b)?,
                None => Postings::default(),
            };
            let delta = match vault.get(&delta_key(doc))? {
                Some(b) => decode(&b)?,
                None => BTreeMap::new(),
            };
            docs.insert(doc, DocIndex::new(state, base, delta));
        }
        Ok(SearchIndex {
            store: store.clone(),
            docs: RwLock::new(docs),
            refreshing: Mutex::new(()),
        })
    }

    /// Opens the index and brings it up to date.
    pub fn open_current(store: &RoomStore) -> Result<SearchIndex> {
        let index = Self::open(store)?;
        index.refresh()?;
        Ok(index)
    }

    /// Re-indexes what changed in every document since it was last indexed, and drops the
    /// documents no longer in the store. Cheap when nothing changed (room metadata only).
    pub fn refresh(&self) -> Result<RefreshReport> {
        let _guard = lock(&self.refreshing);
        let metas = self.store.rooms()?;
        let mut report = RefreshReport::default();
        let held: Vec<RoomId> = read(&self.docs).keys().copied().collect();
        for doc in held {
            if !metas.iter().any(|m| m.id == doc) {
                self.forget_locked(doc)?;
                report.removed += 1;
            }
        }
        for meta in &metas {
            self.refresh_meta(meta, &mut report)?;
        }
        Ok(report)
    }

    /// Re-indexes the given documents only (after a local write to them).
    pub fn refresh_docs(&self, docs: &[RoomId]) -> Result<RefreshReport> {
        let _guard = lock(&self.refreshing);
        let mut report = RefreshReport::default();
        for meta in self.store.rooms()? {
            if docs.contains(&meta.id) {
                self.refresh_meta(&meta, &mut report)?;
            }
        }
        for doc in docs {
            if self.store.open_room(*doc).is_err() && read(&self.docs).contains_key(doc) {
                self.forget_locked(*doc)?;
                report.removed += 1;
            }
        }
        Ok(report)
    }

    /// The hook for sync: re-indexes the documents the exchange updated or added and drops
    /// the removed ones.
    pub fn after_sync(&self, sync: &SyncReport) -> Result<RefreshReport> {
        let mut docs: Vec<RoomId> = sync.updated.clone();
        docs.extend(&sync.added);
        docs.extend(&sync.removed);
        docs.extend(sync.refused.iter().map(|(d, _)| *d));
        docs.sort();
        docs.dedup();
        self.refresh_docs(&docs)
    }

    /// Drops the whole index and builds it again from the rooms.
    pub fn rebuild(&self) -> Result<RefreshReport> {
        {
            let _guard = lock(&self.refreshing);
            let vault = self.store.vault();
            let writes: Vec<Write> = vault
                .keys_with_prefix(&key(Space::Search, &[]))?
                .into_iter()
                .map(Write::Delete)
                .collect();
            vault.apply(writes)?;
            write(&self.docs).clear();
        }
        self.refresh()
    }

    /// Drops one document from the index (the app wiped it, or it left the store).
    pub fn forget(&self, doc: RoomId) -> Result<()> {
        let _guard = lock(&self.refreshing);
        self.forget_locked(doc)
    }

    fn forget_locked(&self, doc: RoomId) -> Result<()> {
        let vault = self.store.vault();
        let mut writes = vec![
            Write::Delete(state_key(doc)),
            Write::Delete(base_key(doc)),
            Write::Delete(delta_key(doc)),
        ];
        for k in vault.keys_with_prefix(&key(Space::Search, &[b"t", doc.as_bytes()]))? {
            writes.push(Write::Delete(k));
        }
        vault.apply(writes)?;
        write(&self.docs).remove(&doc);
        Ok(())
    }

    fn refresh_meta(&self, meta: &RoomMeta, report: &mut RefreshReport) -> Result<()> {
        if meta.kind != RoomKind::Patient {
            return Ok(());
        }
        let saved: Vec<[u8; 32]> = meta.saved_heads().iter().map(|h| h.0).collect();
        let known = read(&self.docs)
            .get(&meta.id)
            .map(|d| d.state.heads.clone());
        if known.as_ref() == Some(&saved) {
            return Ok(());
        }
        let handle = self.store.open_room(meta.id)?;
        let was_loaded = handle.is_loaded();
        let (heads, changed, entries) = handle.read(|room| {
            let changed = match &known {
                None => Changed::All,
                Some(h) => {
                    let h: Vec<ChangeHash> = h.iter().map(|x| ChangeHash(*x)).collect();
                    extract::changed_since(room, &h)
                }
            };
            let entries = extract::entries(room, &changed)?;
            Ok((room.heads(), changed, entries))
        })?;
        if !was_loaded {
            handle.unload()?;
        }
        let heads: Vec<[u8; 32]> = heads.iter().map(|h| h.0).collect();
        report.docs += 1;
        let mut docs = write(&self.docs);
        let fresh = matches!(changed, Changed::All) || !docs.contains_key(&meta.id);
        if fresh {
            // One batch: the old records go, the new ones come (later writes to the same key
            // win within a batch).
            let mut writes: Vec<Write> = self
                .store
                .vault()
                .keys_with_prefix(&key(Space::Search, &[b"t", meta.id.as_bytes()]))?
                .into_iter()
                .map(Write::Delete)
                .collect();
            let (index, built) = build_doc(meta, heads, entries, report)?;
            writes.extend(built);
            self.store.vault().apply(writes)?;
            docs.insert(meta.id, index);
            return Ok(());
        }
        let Some(index) = docs.get_mut(&meta.id) else {
            return Ok(());
        };
        let mut writes = Vec::new();
        for entry in entries {
            update_entry(index, entry, &mut writes, report);
        }
        index.state.heads = heads;
        let delta_len = index.state.entries.len() - index.state.base_len as usize;
        if delta_len >= MERGE_AFTER && delta_len * 8 >= index.state.base_len as usize {
            Self::merge(index, &mut writes)?;
        } else {
            writes.push(Write::Put(delta_key(meta.id), encode(&index.delta)?));
        }
        writes.push(Write::Put(state_key(meta.id), encode(&index.state)?));
        self.store.vault().apply(writes)?;
        Ok(())
    }

    /// Folds the delta into the base, leaving out dead slots (slots stay as they are, so no
    /// text record moves).
    fn merge(index: &mut DocIndex, writes: &mut Vec<Write>) -> Result<()> {
        let doc = index.state.doc;
        let live = |s: &u32| index.state.entries.get(*s as usize).is_some_and(|m| m.live);
        let mut lists: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (k, mut slots) in index.base.lists() {
            slots.retain(live);
            if !slots.is_empty() {
                lists.insert(k, slots);
            }
        }
        for (k, slots) in &index.delta {
            let list = lists.entry(*k).or_default();
            list.extend(slots.iter().copied().filter(live));
            if list.is_empty() {
                lists.remove(k);
            }
        }
        index.base = Postings::build(&lists);
        index.delta.clear();
        index.state.base_len = u32::try_from(index.state.entries.len()).unwrap_or(u32::MAX);
        writes.push(Write::Put(base_key(doc), encode(&index.base)?));
        writes.push(Write::Delete(delta_key(doc)));
        Ok(())
    }

    /// Documents indexed, entries live, and bytes of the in-memory postings.
    pub fn stats(&self) -> IndexStats {
        let docs = read(&self.docs);
        IndexStats {
            docs: docs.len(),
            entries: docs
                .values()
                .map(|d| d.state.entries.iter().filter(|m| m.live).count())
                .sum(),
            memory_bytes: docs
                .values()
                .map(|d| {
                    d.base.heap_bytes()
                        + d.delta.values().map(|v| 8 + v.len() * 4).sum::<usize>()
                        + d.state.entries.len() * std::mem::size_of::<EntryMeta>()
                })
                .sum(),
        }
    }

    /// Bytes the index occupies in the store (sealed values, nonces and tags included, keys
    /// too); reads every index record.
    pub fn stored_bytes(&self) -> Result<u64> {
        let overhead = crate::store::sealed::OVERHEAD as u64;
        Ok(self
            .store
            .vault()
            .scan_prefix(&key(Space::Search, &[]))?
            .iter()
            .map(|(k, v)| k.len() as u64 + v.len() as u64 + overhead)
            .sum())
    }
}

/// Size figures of the index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Documents indexed.
    pub docs: usize,
    /// Live entries (reports and profiles).
    pub entries: usize,
    /// Approximate bytes held in memory for postings and entry attributes.
    pub memory_bytes: usize,
}

fn build_doc(
    meta: &RoomMeta,
    heads: Vec<[u8; 32]>,
    entries: Vec<Entry>,
    report: &mut RefreshReport,
) -> Result<(DocIndex, Vec<Write>)> {
    let doc = meta.id;
    let mut writes = Vec::with_capacity(entries.len() + 3);
    let mut lists: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let mut metas = Vec::with_capacity(entries.len());
    for entry in entries.into_iter().filter(|e| e.meta.live) {
        let slot = u32::try_from(metas.len()).unwrap_or(u32::MAX);
        for k in entry_bigrams(&entry.fields) {
            lists.entry(k).or_default().push(slot);
        }
        writes.push(Write::Put(text_key(doc, slot), encode(&entry.fields)?));
        metas.push(entry.meta);
        report.entries += 1;
    }
    let base = Postings::build(&lists);
    let state = DocState {
        version: VERSION,
        doc,
        room: meta.scope.as_ref().map_or(doc, |s| s.parent),
        audience: meta.scope.as_ref().map(|s| s.audience.clone()),
        heads,
        base_len: u32::try_from(metas.len()).unwrap_or(u32::MAX),
        entries: metas,
    };
    writes.push(Write::Put(base_key(doc), encode(&base)?));
    writes.push(Write::Delete(delta_key(doc)));
    writes.push(Write::Put(state_key(doc), encode(&state)?));
    Ok((DocIndex::new(state, base, BTreeMap::new()), writes))
}

fn update_entry(
    index: &mut DocIndex,
    entry: Entry,
    writes: &mut Vec<Write>,
    r: &mut RefreshReport,
) {
    let doc = index.state.doc;
    let old = index.by_key.get(&entry.meta.key).copied();
    if let Some(slot) = old {
        if let Some(m) = index.state.entries.get_mut(slot as usize) {
            if m.hash == entry.meta.hash && entry.meta.live {
                *m = entry.meta;
                r.attributes_only += 1;
                return;
            }
            m.live = false;
        }
        index.by_key.remove(&entry.meta.key);
        writes.push(Write::Delete(text_key(doc, slot)));
    }
    if !entry.meta.live {
        return;
    }
    let slot = u32::try_from(index.state.entries.len()).unwrap_or(u32::MAX);
    index.add_postings(slot, &entry.fields);
    match encode(&entry.fields) {
        Ok(bytes) => writes.push(Write::Put(text_key(doc, slot), bytes)),
        Err(e) => tracing::warn!(error = %e, "entry text not stored"),
    }
    index.by_key.insert(entry.meta.key, slot);
    index.state.entries.push(entry.meta);
    r.entries += 1;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
