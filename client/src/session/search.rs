//! Search over the reports and profiles on this device, and importing care-plan CSV files
//! into a patient room: both work offline.

use super::lifecycle::Session;
use crate::error::{ClientError, invalid, storage};
use kizuna_core::careplan::ImportSummary;
use kizuna_core::search::{SearchQuery, SearchResults};
use kizuna_core::{RoomId, Timestamp};
use std::path::Path;

impl Session {
    /// Runs `query` on the index brought up to date with the store; `must_read_me` limits it
    /// to reports asking this device's professional to read them.
    pub fn search(
        &self,
        mut query: SearchQuery,
        must_read_me: bool,
    ) -> Result<SearchResults, ClientError> {
        let open = self.shared.opened()?;
        open.search.refresh()?;
        if must_read_me {
            query.must_read = Some(self.shared.me().ok_or(ClientError::NotEnrolled)?);
        }
        Ok(open.search.search(&query)?)
    }

    /// Imports care-plan CSV files (the standard's Shift-JIS files, as `(name, bytes)`) into
    /// a patient room, all or nothing.
    pub fn import_care_plan(
        &self,
        room: RoomId,
        files: &[(String, Vec<u8>)],
    ) -> Result<ImportSummary, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open.main_doc(room)?;
        let s = kizuna_core::careplan::import(&doc, &e.author, Timestamp::now(), files)?;
        self.shared.changed_here(room);
        Ok(s)
    }

    /// [`Session::import_care_plan`] with files read from `paths`.
    pub fn import_care_plan_files(
        &self,
        room: RoomId,
        paths: &[String],
    ) -> Result<ImportSummary, ClientError> {
        let mut files = Vec::new();
        for p in paths {
            let path = Path::new(p);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| invalid("paths", "a path has no file name"))?
                .to_string();
            let bytes = std::fs::read(path).map_err(|_| storage("cannot read a care-plan file"))?;
            files.push((name, bytes));
        }
        self.import_care_plan(room, &files)
    }
}
