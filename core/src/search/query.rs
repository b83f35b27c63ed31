//! Asking the index: the query and its filters, running it over every document, and the
//! page of hits, each checked against the folded text and given its snippet.

use crate::error::Result;
use crate::ids::{ProfessionalId, ReportId, RoomId};
use crate::people::Profession;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::extract::{EntryKey, EntryMeta};
use super::normalize;
use super::postings::{intersect, normalise};
use super::{DEFAULT_LIMIT, SNIPPET_BEFORE, SNIPPET_CHARS, SearchIndex, decode, read, text_key};

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

impl SearchIndex {
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
            if let (Some(viewer), Some(audience)) = (q.viewer, &st.audience)
                && !audience.contains(&viewer)
            {
                continue;
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
                if let Some(m) = st.entries.get(slot as usize)
                    && q.admits(m)
                {
                    cands.push((m.care_time, m.post_time, *id, slot));
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
