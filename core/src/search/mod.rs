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

use crate::error::{CoreError, Result, StoreError};
use crate::ids::{ProfessionalId, ReportId, RoomId};
use crate::people::{Profession, RoomKind};
use crate::store::{RoomMeta, RoomStore, Space, Write, key};
use crate::sync::device::SyncReport;
use crate::time::Timestamp;
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

/// What to look for. Build with [`SearchQuery::new`] and set the filters you need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Keywords separated by spaces; every one must match (in any field). Empty: filters only.
    pub text: String,
    /// Care time (実施日時; for profiles, the last edit) at or after this.
    pub from: Option<Timestamp>,
    /// Care time before this.
    pub to: Option<Timestamp>,
    /// Only these patient rooms (empty: all).
    pub rooms: Vec<RoomId>,
    /// Only reports by these professionals (empty: all).
    pub authors: Vec<ProfessionalId>,
    /// Only reports by these professions (empty: all).
    pub professions: Vec<Profession>,
    /// Only reports of at least this many stars.
    pub min_importance: Option<u8>,
    /// Only reports that ask this professional to read them (特に読んでほしい人).
    pub must_read: Option<ProfessionalId>,
    /// Whose eyes: documents restricted to an audience without this professional are left
    /// out. `None` trusts the store to hold only what its owner may see (a phone's does).
    pub viewer: Option<ProfessionalId>,
    /// Leave out patient profiles.
    pub reports_only: bool,
    /// Leave out withdrawn reports.
    pub hide_withdrawn: bool,
    /// Results to skip (for the next page).
    pub offset: usize,
    /// Results to return (0: [`DEFAULT_LIMIT`]).
    pub limit: usize,
}

impl SearchQuery {
    /// A keyword query with no filters.
    pub fn new(text: impl Into<String>) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            from: None,
            to: None,
            rooms: Vec::new(),
            authors: Vec::new(),
            professions: Vec::new(),
            min_importance: None,
            must_read: None,
            viewer: None,
            reports_only: false,
            hide_withdrawn: false,
            offset: 0,
            limit: DEFAULT_LIMIT,
        }
    }

    fn report_filters(&self) -> bool {
        !self.authors.is_empty()
            || !self.professions.is_empty()
            || self.min_importance.is_some()
            || self.must_read.is_some()
    }

    fn admits(&self, m: &EntryMeta) -> bool {
        if !m.live {
            return false;
        }
        let is_report = matches!(m.key, EntryKey::Report(_));
        if !is_report && (self.reports_only || self.report_filters()) {
            return false;
        }
        if self.from.is_some_and(|f| m.care_time < f) || self.to.is_some_and(|t| m.care_time >= t) {
            return false;
        }
        if !self.authors.is_empty() && !m.author.is_some_and(|a| self.authors.contains(&a)) {
            return false;
        }
        if !self.professions.is_empty()
            && !m.profession.is_some_and(|p| self.professions.contains(&p))
        {
            return false;
        }
        if self.min_importance.is_some_and(|i| m.importance < i) {
            return false;
        }
        if self.must_read.is_some_and(|p| !m.must_read.contains(&p)) {
            return false;
        }
        !(self.hide_withdrawn && m.withdrawn)
    }
}

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// A care report (its text, a reply, a caption or a wound site matched).
    Report,
    /// The patient profile.
    Profile,
}

/// One result, with enough to draw a row and open the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Report or profile.
    pub kind: HitKind,
    /// The patient room.
    pub room: RoomId,
    /// The document it is in (the room, or a restricted document of it).
    pub doc: RoomId,
    /// The report, for report hits.
    pub report: Option<ReportId>,
    /// Care time (実施日時); for a profile, its last edit.
    pub care_time: Timestamp,
    /// Post time (投稿日時).
    pub post_time: Timestamp,
    /// Post number, once the relay gave one.
    pub post_no: Option<u64>,
    /// The author, for reports.
    pub author: Option<ProfessionalId>,
    /// The author's display name.
    pub author_name: String,
    /// The author's profession.
    pub profession: Option<Profession>,
    /// ☆ count (0 for profiles).
    pub importance: u8,
    /// Shared with a subset of members only.
    pub restricted: bool,
    /// Withdrawn by its author.
    pub withdrawn: bool,
    /// Where the match is: `problem`, `s`, `o`, `a`, `p`, `text`, `comment`, `caption`,
    /// `wound`, or `profile.<section>.<field>`.
    pub field: String,
    /// Up to 80 characters of the original text around the match.
    pub snippet: String,
    /// The match within the snippet, as a character range (none for filter-only queries).
    pub highlight: Option<(u32, u32)>,
}

/// A page of results.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// Entries that passed the index and the filters: an upper bound of all matches.
    pub candidates: usize,
    /// Whether more results follow this page.
    pub more: bool,
}

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

    /// Runs a query. See [`SearchQuery`] for the filters.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults> {
        let terms: Vec<Vec<Vec<char>>> = q
            .text
            .split_whitespace()
            .map(normalize::alternatives)
            .filter(|alts| alts.iter().any(|a| !a.is_empty()))
            .collect();
        let docs = read(&self.docs);
        // (care time, post time, doc, slot), newest first after sorting.
        let mut cands: Vec<(Timestamp, Timestamp, RoomId, u32)> = Vec::new();
        for (id, index) in docs.iter() {
            let st = &index.state;
            if !q.rooms.is_empty() && !q.rooms.contains(&st.room) {
                continue;
            }
            if let (Some(viewer), Some(audience)) = (q.viewer, &st.audience) {
                if !audience.contains(&viewer) {
                    continue;
                }
            }
            let slots: Vec<u32> = if terms.is_empty() {
                (0..u32::try_from(st.entries.len()).unwrap_or(u32::MAX)).collect()
            } else {
                let mut acc: Option<Vec<u32>> = None;
                for term in &terms {
                    let mut set = Vec::new();
                    for alt in term {
                        set.extend(index.slots_for(alt));
                    }
                    if term.len() > 1 {
                        normalise(&mut set);
                    }
                    match acc.as_mut() {
                        None => acc = Some(set),
                        Some(a) => intersect(a, &set),
                    }
                    if acc.as_ref().is_some_and(Vec::is_empty) {
                        break;
                    }
                }
                acc.unwrap_or_default()
            };
            for slot in slots {
                if let Some(m) = st.entries.get(slot as usize) {
                    if q.admits(m) {
                        cands.push((m.care_time, m.post_time, *id, slot));
                    }
                }
            }
        }
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let mut out = SearchResults {
            candidates: cands.len(),
            ..Default::default()
        };
        let vault = self.store.vault();
        let mut matched = 0usize;
        for (_, _, doc, slot) in cands {
            let Some(index) = docs.get(&doc) else {
                continue;
            };
            let Some(meta) = index.state.entries.get(slot as usize) else {
                continue;
            };
            let Some(bytes) = vault.get(&text_key(doc, slot))? else {
                continue;
            };
            let fields: Vec<(String, String)> = decode(&bytes)?;
            let Some((field, snippet, highlight)) = verify(&fields, &terms) else {
                continue;
            };
            matched += 1;
            if matched <= q.offset {
                continue;
            }
            if out.hits.len() == limit {
                out.more = true;
                break;
            }
            out.hits.push(SearchHit {
                kind: match meta.key {
                    EntryKey::Report(_) => HitKind::Report,
                    EntryKey::Profile => HitKind::Profile,
                },
                room: index.state.room,
                doc,
                report: match meta.key {
                    EntryKey::Report(r) => Some(r),
                    EntryKey::Profile => None,
                },
                care_time: meta.care_time,
                post_time: meta.post_time,
                post_no: meta.post_no,
                author: meta.author,
                author_name: meta.author_name.clone(),
                profession: meta.profession,
                importance: meta.importance,
                restricted: index.state.audience.is_some(),
                withdrawn: meta.withdrawn,
                field,
                snippet,
                highlight,
            });
        }
        Ok(out)
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

/// Field label, snippet text, highlighted character range.
type Snippet = (String, String, Option<(u32, u32)>);

/// Checks that every term (one of its alternatives) occurs in the folded fields, and makes
/// the snippet around the first term's first occurrence. With no terms, the snippet is the
/// start of the first field.
fn verify(fields: &[(String, String)], terms: &[Vec<Vec<char>>]) -> Option<Snippet> {
    if terms.is_empty() {
        let (label, text) = fields.first()?;
        return Some((
            label.clone(),
            text.chars().take(SNIPPET_CHARS).collect(),
            None,
        ));
    }
    let folded: Vec<normalize::Folded> = fields.iter().map(|(_, t)| normalize::fold(t)).collect();
    let mut first: Option<(usize, usize, usize)> = None;
    for term in terms {
        let mut found = None;
        'fields: for (fi, f) in folded.iter().enumerate() {
            for alt in term.iter().filter(|a| !a.is_empty()) {
                if let Some(pos) = find(&f.chars, alt) {
                    found = Some((fi, pos, alt.len()));
                    break 'fields;
                }
            }
        }
        let found = found?;
        first.get_or_insert(found);
    }
    let (fi, pos, len) = first?;
    let (label, text) = &fields[fi];
    let spans = &folded[fi].spans;
    let start_byte = spans.get(pos)?.0;
    let end_byte = spans.get(pos + len - 1)?.1;
    let start_char = text[..start_byte].chars().count();
    let match_chars = text[start_byte..end_byte].chars().count();
    let from = start_char.saturating_sub(SNIPPET_BEFORE);
    let snippet: String = text.chars().skip(from).take(SNIPPET_CHARS).collect();
    let hl_start = u32::try_from(start_char - from).unwrap_or(0);
    let hl_end = u32::try_from((start_char - from + match_chars).min(SNIPPET_CHARS)).unwrap_or(0);
    Some((label.clone(), snippet, Some((hl_start, hl_end))))
}

fn find(hay: &[char], needle: &[char]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
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
