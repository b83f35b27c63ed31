//! Search filters and results, and care-plan imports, converted between Swift and Kotlin's
//! records and the core's query, results and import summary.

use super::error::{KizunaError, parse_id};
use super::types::{CarePlanImported, SearchFilter, SearchHit, SearchPage};
use kizuna_core::Timestamp;
use kizuna_core::careplan::ImportSummary;
use kizuna_core::search::{SearchQuery, SearchResults};

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
