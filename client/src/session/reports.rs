//! Reading and writing a room's reports, comments, read receipts and patient profile. Writes
//! work offline (they reach the relay at the next sync); new photos join the upload queue
//! before the report that references them is saved.

use super::lifecycle::Session;
use crate::error::ClientError;
use kizuna_core::model::{self, Report, ReportContent, ReportSummary};
use kizuna_core::room::MemberInfo;
use kizuna_core::{CommentId, ContentHash, ProfessionalId, ReportId, RoomId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// One report as the app shows it whole.
#[derive(Clone, Debug)]
pub struct ReportView {
    /// The report with its content, comments, receipts and edits.
    pub report: Report,
    /// Its row (numbers, author, counts).
    pub summary: ReportSummary,
    /// The room's members, for the names of readers.
    pub members: BTreeMap<ProfessionalId, MemberInfo>,
    /// Its attachments whose whole file is on this device.
    pub available: BTreeSet<ContentHash>,
}

impl Session {
    /// A room's reports, newest first (restricted ones this professional may see included).
    pub fn reports(&self, room: RoomId) -> Result<Vec<ReportSummary>, ClientError> {
        let open = self.shared.opened()?;
        let mut rows = Vec::new();
        for h in open.docs_of(room)? {
            rows.extend(h.summaries()?);
        }
        kizuna_core::room::sort_newest_first(&mut rows);
        Ok(rows)
    }

    /// One report with its content, comments and read receipts.
    pub fn report(&self, room: RoomId, id: ReportId) -> Result<ReportView, ClientError> {
        let open = self.shared.opened()?;
        let doc = open.doc_of_report(room, id)?;
        let blobs = self
            .shared
            .enrolled()
            .ok()
            .map(|(_, e)| e.client.blobs().clone());
        let (report, summary, members) = doc.read(|r| {
            Ok((
                r.report(id)?,
                r.report_summary(id)?,
                r.members().unwrap_or_default(),
            ))
        })?;
        let available = report
            .content
            .attachments
            .iter()
            .map(|a| a.hash)
            .filter(|h| {
                blobs
                    .as_ref()
                    .and_then(|b| b.meta(h).ok().flatten())
                    .is_some_and(|m| m.complete)
            })
            .collect();
        Ok(ReportView {
            report,
            summary,
            members,
            available,
        })
    }

    /// Posts a report (works offline; it reaches the relay at the next sync).
    pub fn post_report(
        &self,
        room: RoomId,
        content: &ReportContent,
    ) -> Result<ReportId, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open
            .store
            .doc_for_report(room, e.author.professional, &content.scope)?;
        let now = Timestamp::now();
        // Photos join the upload queue before the report is saved: if the app dies between
        // the two, the queue holds an entry no report references (dropped at the next upload),
        // never a saved report whose photos would stay on this phone.
        e.client.blobs().queue_report(doc.id(), content, now)?;
        let id = doc.write(|r| r.post_report(&e.author, now, content))?;
        self.shared.changed_here(room);
        Ok(id)
    }

    /// Edits one of this professional's reports through `f`, queueing new attachments.
    /// Returns the names of the changed fields.
    pub fn edit_report(
        &self,
        room: RoomId,
        id: ReportId,
        f: impl FnOnce(&mut ReportContent),
    ) -> Result<Vec<String>, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open.doc_of_report(room, id)?;
        let now = Timestamp::now();
        // As in `post_report`: new photos are queued before the edit is saved.
        let before = doc.read(|r| Ok(r.report(id)?.content))?;
        let mut content = before.clone();
        f(&mut content);
        if content != before {
            e.client.blobs().queue_report(doc.id(), &content, now)?;
        }
        let fields = doc.write(|r| r.edit_report(&e.author, now, id, |c| *c = content.clone()))?;
        if !fields.is_empty() {
            self.shared.changed_here(room);
        }
        Ok(fields)
    }

    /// Replies to a report.
    pub fn add_comment(
        &self,
        room: RoomId,
        report: ReportId,
        text: &str,
    ) -> Result<CommentId, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open.doc_of_report(room, report)?;
        let c = doc.write(|r| r.add_comment(&e.author, Timestamp::now(), report, text))?;
        self.shared.changed_here(room);
        Ok(c)
    }

    /// Records that this professional opened the report now (既読). Returns false when it was
    /// already marked.
    pub fn mark_read(&self, room: RoomId, report: ReportId) -> Result<bool, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open.doc_of_report(room, report)?;
        let changed = doc.write(|r| r.mark_read(&e.author, Timestamp::now(), report))?;
        if changed {
            self.shared.changed_here(room);
        }
        Ok(changed)
    }

    /// The patient profile of a room.
    pub fn profile(&self, room: RoomId) -> Result<model::Profile, ClientError> {
        let open = self.shared.opened()?;
        let doc = open.main_doc(room)?;
        Ok(doc.read(|r| r.profile())?)
    }

    /// Saves an edited profile. Only the fields that differ are written, so others'
    /// concurrent edits of other fields merge. Returns the changed fields (`basic.phone`…).
    pub fn edit_profile(
        &self,
        room: RoomId,
        edited: model::Profile,
    ) -> Result<Vec<String>, ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let doc = open.main_doc(room)?;
        let fields = doc.write(|r| r.edit_profile(&e.author, Timestamp::now(), |p| *p = edited))?;
        if !fields.is_empty() {
            self.shared.changed_here(room);
        }
        Ok(fields)
    }
}
