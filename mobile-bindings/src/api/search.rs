//! Search filters and results, and care-plan files, as Swift and Kotlin exchange them.

use super::error::{KizunaError, parse_id};
use kizuna_core::Timestamp;
use kizuna_core::careplan::ImportSummary;
use kizuna_core::search::{SearchQuery, SearchResults};

/// Filters of a search; leave a filter empty or `null` to not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct SearchFilter {
    /// Keywords separated by spaces (all must match). Empty: filters only.
    pub text: String,
    /// Care time at or after.
    #[uniffi(default = None)]
    pub from_ms: Option<i64>,
    /// Care time before.
    #[uniffi(default = None)]
    pub to_ms: Option<i64>,
    /// Only these rooms.
    #[uniffi(default = [])]
    pub rooms: Vec<String>,
    /// Only reports by these professionals.
    #[uniffi(default = [])]
    pub authors: Vec<String>,
    /// Only reports of at least this many stars.
    #[uniffi(default = None)]
    pub min_importance: Option<u8>,
    /// Only reports asking this device's professional to read them.
    #[uniffi(default = false)]
    pub must_read_me: bool,
    /// Leave out patient profiles.
    #[uniffi(default = false)]
    pub reports_only: bool,
    /// Leave out withdrawn reports.
    #[uniffi(default = false)]
    pub hide_withdrawn: bool,
    /// Results to skip.
    #[uniffi(default = 0)]
    pub offset: u32,
    /// Results to return (0: 50).
    #[uniffi(default = 0)]
    pub limit: u32,
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SearchHit {
    /// The patient room.
    pub room_id: String,
    /// The report, for report hits (none for profile hits).
    pub report_id: Option<String>,
    /// Care time (profile: its last edit).
    pub care_time_ms: i64,
    /// Post number.
    pub post_no: Option<u64>,
    /// Author's name.
    pub author_name: String,
    /// Where it matched (`s`, `o`, `comment`, `caption`, `profile.medical.diagnoses`…).
    pub field: String,
    /// Text around the match.
    pub snippet: String,
    /// The match within the snippet, as a character range start.
    pub highlight_start: Option<u32>,
    /// End of that range.
    pub highlight_end: Option<u32>,
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SearchPage {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// Whether more follow.
    pub more: bool,
}

/// A care-plan file as the app picked it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CarePlanFileInput {
    /// The file's name (the standard's names carry the table and the insured person).
    pub name: String,
    /// Its bytes (Shift-JIS CSV).
    pub bytes: Vec<u8>,
}

/// What a care-plan import did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CarePlanImported {
    /// Import id.
    pub id: String,
    /// Each file's name.
    pub files: Vec<String>,
    /// Rows per file, in the same order.
    pub rows: Vec<u32>,
}

impl SearchFilter {
    /// The core's query for this filter (ids checked), and whether to keep only reports
    /// asking this device's professional to read them.
    pub(crate) fn to_query(&self) -> Result<(SearchQuery, bool), KizunaError> {
        let mut q = SearchQuery::new(self.text.clone());
        q.from = self.from_ms.map(Timestamp);
        q.to = self.to_ms.map(Timestamp);
        q.rooms = self
            .rooms
            .iter()
            .map(|r| parse_id("rooms", r))
            .collect::<Result<_, _>>()?;
        q.authors = self
            .authors
            .iter()
            .map(|r| parse_id("authors", r))
            .collect::<Result<_, _>>()?;
        q.min_importance = self.min_importance;
        q.reports_only = self.reports_only;
        q.hide_withdrawn = self.hide_withdrawn;
        q.offset = self.offset as usize;
        q.limit = self.limit as usize;
        Ok((q, self.must_read_me))
    }
}

impl From<SearchResults> for SearchPage {
    fn from(r: SearchResults) -> Self {
        SearchPage {
            hits: r
                .hits
                .into_iter()
                .map(|h| SearchHit {
                    room_id: h.room.to_string(),
                    report_id: h.report.map(|r| r.to_string()),
                    care_time_ms: h.care_time.0,
                    post_no: h.post_no,
                    author_name: h.author_name,
                    field: h.field,
                    snippet: h.snippet,
                    highlight_start: h.highlight.map(|x| x.0),
                    highlight_end: h.highlight.map(|x| x.1),
                })
                .collect(),
            more: r.more,
        }
    }
}

impl From<ImportSummary> for CarePlanImported {
    fn from(s: ImportSummary) -> Self {
        CarePlanImported {
            id: s.id.to_string(),
            files: s.files.iter().map(|f| f.0.clone()).collect(),
            rows: s.files.iter().map(|f| f.2 as u32).collect(),
        }
    }
}
