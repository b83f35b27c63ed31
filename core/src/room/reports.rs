//! Care reports: posting, editing, withdrawing, comments, read receipts and post numbers.

use crate::error::{CoreError, Result};
use crate::fields::{CheckFields, check_text};
use crate::ids::{CommentId, ReportId};
use crate::model::report::check_comment;
use crate::model::{
    AuthorInfo, Comment, Report, ReportContent, ReportEdit, ReportSummary, ShareScope, Withdrawal,
};
use crate::people::{Author, RoomKind};
use crate::time::Timestamp;
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use super::{Room, Scope, codec, root_map, sort_newest_first};

impl Room {
    /// Posts a new care report written on this device. The relay adds the post number and
    /// received time when it first accepts it.
    pub fn post_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        content: &ReportContent,
    ) -> Result<ReportId> {
        let id = ReportId::new();
        self.post_report_with_id(author, now, id, content)?;
        Ok(id)
    }

    /// Posts a report under an id chosen by the caller (apps that need the id before posting).
    pub fn post_report_with_id(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        content: &ReportContent,
    ) -> Result<()> {
        content.check()?;
        if self.kind != RoomKind::Patient {
            return Err(CoreError::Forbidden("care reports belong in patient rooms"));
        }
        self.check_scope(author, content)?;
        let reports = root_map(&self.doc, "reports")?;
        if codec::map_at(&self.doc, &reports, &id.to_string())?.is_some() {
            return Err(CoreError::Forbidden("a report with this id already exists"));
        }
        self.begin(author);
        let obj = self
            .doc
            .put_object(&reports, id.to_string(), ObjType::Map)?;
        let record = json!({
            "id": id,
            "author": AuthorInfo::from(author),
            "post_time": now,
            "content": content,
            "comments": {},
            "receipts": {},
            "edits": {},
        });
        if let serde_json::Value::Object(fields) = record {
            codec::reconcile_map(&mut self.doc, &obj, &fields)?;
        }
        self.commit(author, now, "post_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(())
    }

    /// A report must be written into the document of exactly its audience: restricted reports
    /// never enter the room's main document, whose bytes every member receives.
    fn check_scope(&self, author: &Author, content: &ReportContent) -> Result<()> {
        match (&content.scope, &self.scope) {
            (ShareScope::All, None) => Ok(()),
            (ShareScope::Members { members }, Some(scope)) => {
                let mut wanted = members.clone();
                wanted.push(author.professional);
                if Scope::new(scope.parent, wanted).audience == scope.audience {
                    Ok(())
                } else {
                    Err(CoreError::Forbidden(
                        "the report's audience differs from this document's",
                    ))
                }
            }
            (ShareScope::Members { .. }, None) => Err(CoreError::Forbidden(
                "restricted reports belong in their audience's document",
            )),
            (ShareScope::All, Some(_)) => Err(CoreError::Forbidden(
                "a report for everyone belongs in the room's main document",
            )),
        }
    }

    /// Edits a report's content. Only its author may; the previous values of the changed fields
    /// are kept in the report's edit history.
    pub fn edit_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        edit: impl FnOnce(&mut ReportContent),
    ) -> Result<Vec<String>> {
        let report = self.report(id)?;
        if report.author.professional != author.professional {
            return Err(CoreError::Forbidden("only the author edits a report"));
        }
        if report.withdrawn.is_some() {
            return Err(CoreError::Forbidden("a withdrawn report cannot be edited"));
        }
        let mut content = report.content.clone();
        edit(&mut content);
        content.check()?;
        if content.scope != report.content.scope {
            return Err(CoreError::Forbidden(
                "the audience of a report cannot change; withdraw it and post again",
            ));
        }
        let old = codec::to_fields(&report.content)?;
        let new = codec::to_fields(&content)?;
        let fields: Vec<String> = new
            .keys()
            .chain(old.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if fields.is_empty() {
            return Ok(fields);
        }
        let previous: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    old.get(f).cloned().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        self.begin(author);
        let obj = self.report_obj(id)?;
        let content_obj = codec::map_at(&self.doc, &obj, "content")?
            .ok_or(CoreError::Malformed("report content missing"))?;
        codec::reconcile_map(&mut self.doc, &content_obj, &new)?;
        let edits = codec::map_at(&self.doc, &obj, "edits")?
            .ok_or(CoreError::Malformed("report edits missing"))?;
        let entry = ReportEdit {
            at: now,
            device: author.device,
            fields: fields.clone(),
            previous: serde_json::Value::Object(previous).to_string(),
        };
        let entry =
            serde_json::to_value(&entry).map_err(|_| CoreError::Malformed("report edit"))?;
        codec::reconcile_key(
            &mut self.doc,
            &edits,
            &crate::ids::EntryId::new().to_string(),
            &entry,
        )?;
        self.commit(author, now, "edit_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(fields)
    }

    /// Withdraws a report: it stays in the room and its history, shown as withdrawn.
    pub fn withdraw_report(
        &mut self,
        author: &Author,
        now: Timestamp,
        id: ReportId,
        reason: &str,
    ) -> Result<()> {
        check_text("reason", reason, 1, 500)?;
        let report = self.report(id)?;
        if report.author.professional != author.professional {
            return Err(CoreError::Forbidden("only the author withdraws a report"));
        }
        if report.withdrawn.is_some() {
            return Ok(());
        }
        self.begin(author);
        let obj = self.report_obj(id)?;
        let w = Withdrawal {
            at: now,
            device: author.device,
            reason: reason.to_string(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &obj,
            "withdrawn",
            &serde_json::to_value(&w).map_err(|_| CoreError::Malformed("withdrawal"))?,
        )?;
        self.commit(author, now, "withdraw_report", Some(id.to_string()));
        self.touched.reports.insert(id);
        Ok(())
    }

    /// Adds a reply comment to a report.
    pub fn add_comment(
        &mut self,
        author: &Author,
        now: Timestamp,
        report: ReportId,
        text: &str,
    ) -> Result<CommentId> {
        let id = CommentId::new();
        self.add_comment_with_id(author, now, report, id, text)?;
        Ok(id)
    }

    /// Adds a comment under an id chosen by the caller, so a retried call cannot post twice.
    pub fn add_comment_with_id(
        &mut self,
        author: &Author,
        now: Timestamp,
        report: ReportId,
        id: CommentId,
        text: &str,
    ) -> Result<()> {
        check_comment(text)?;
        let obj = self.report_obj(report)?;
        let comments = codec::map_at(&self.doc, &obj, "comments")?
            .ok_or(CoreError::Malformed("report comments missing"))?;
        if codec::map_at(&self.doc, &comments, &id.to_string())?.is_some() {
            return Ok(());
        }
        self.begin(author);
        let c = Comment {
            id,
            author: AuthorInfo::from(author),
            at: now,
            text: text.to_string(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &comments,
            &id.to_string(),
            &serde_json::to_value(&c).map_err(|_| CoreError::Malformed("comment"))?,
        )?;
        self.commit(author, now, "comment", Some(report.to_string()));
        self.touched.reports.insert(report);
        Ok(())
    }

    /// Records that `author` opened the report at `read_at` (the real time, even offline).
    /// Only the first read counts; later calls change nothing.
    pub fn mark_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        report: ReportId,
    ) -> Result<bool> {
        let obj = self.report_obj(report)?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("report receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_read", Some(report.to_string()));
            self.touched.reports.insert(report);
        }
        Ok(changed)
    }

    /// Sets the relay's post number and received time. Only the relay's changes may do this.
    pub fn assign_post_number(
        &mut self,
        relay: &Author,
        now: Timestamp,
        report: ReportId,
        post_no: u64,
        received_at: Timestamp,
    ) -> Result<()> {
        let obj = self.report_obj(report)?;
        self.begin(relay);
        codec::reconcile_key(
            &mut self.doc,
            &obj,
            "relay",
            &json!({"post_no": post_no, "received_at": received_at}),
        )?;
        self.commit(relay, now, "assign_post_number", Some(report.to_string()));
        self.touched.reports.insert(report);
        Ok(())
    }

    /// Ids of all reports in the room, in no particular order.
    pub fn report_ids(&self) -> Result<Vec<ReportId>> {
        let reports = root_map(&self.doc, "reports")?;
        Ok(self
            .doc
            .keys(&reports)
            .filter_map(|k| k.parse().ok())
            .collect())
    }

    /// Every report's post number and received time (milliseconds), read from the numbers
    /// alone; reports not numbered yet are left out. A relay restored from a backup takes
    /// back numbers it gave after the backup and must find the ones it gave twice.
    pub fn post_numbers(&self) -> Vec<(ReportId, u64, i64)> {
        let Ok(reports) = root_map(&self.doc, "reports") else {
            return Vec::new();
        };
        self.doc
            .keys(&reports)
            .filter_map(|k| {
                let id: ReportId = k.parse().ok()?;
                let no = self
                    .read_path(&["reports", &k, "relay", "post_no"])?
                    .as_u64()?;
                let at = self
                    .read_path(&["reports", &k, "relay", "received_at"])
                    .and_then(|v| v.as_i64())
                    .unwrap_or(i64::MAX);
                Some((id, no, at))
            })
            .collect()
    }

    /// The highest post number the relay gave in this document, read from the numbers alone
    /// (so a report that cannot be read whole does not hide it).
    pub fn highest_post_no(&self) -> u64 {
        let Ok(reports) = root_map(&self.doc, "reports") else {
            return 0;
        };
        self.doc
            .keys(&reports)
            .filter_map(|k| self.read_path(&["reports", &k, "relay", "post_no"]))
            .filter_map(|v| v.as_u64())
            .max()
            .unwrap_or(0)
    }

    /// One report with its comments, receipts, edits and withdrawal.
    pub fn report(&self, id: ReportId) -> Result<Report> {
        let obj = self.report_obj(id)?;
        let doc = &self.doc;
        let field = |k: &'static str| -> Result<serde_json::Value> {
            codec::read_key(doc, &obj, k)?.ok_or(CoreError::Malformed("report field missing"))
        };
        let author: AuthorInfo = codec::from_json(field("author")?, "report author")?;
        let post_time: Timestamp = codec::from_json(field("post_time")?, "report time")?;
        let content: ReportContent = codec::from_json(field("content")?, "report content")?;
        let comments: BTreeMap<String, Comment> = codec::from_json(field("comments")?, "comments")?;
        let mut comments: Vec<Comment> = comments.into_values().collect();
        comments.sort_by_key(|c| (c.at, c.id));
        let edits: BTreeMap<String, ReportEdit> = codec::from_json(field("edits")?, "edits")?;
        let mut edits: Vec<ReportEdit> = edits.into_values().collect();
        edits.sort_by_key(|e| e.at);
        let withdrawn = match codec::read_key(doc, &obj, "withdrawn")? {
            Some(v) => Some(codec::from_json(v, "withdrawal")?),
            None => None,
        };
        let (post_no, received_at) = match codec::read_key(doc, &obj, "relay")? {
            Some(v) => (
                v["post_no"].as_u64(),
                v["received_at"].as_i64().map(Timestamp),
            ),
            None => (None, None),
        };
        let receipts_obj = codec::map_at(doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("report receipts missing"))?;
        let receipts = self.read_receipts(&receipts_obj)?;
        Ok(Report {
            id,
            post_no,
            author,
            post_time,
            received_at,
            content,
            comments,
            receipts,
            edits,
            withdrawn,
        })
    }

    /// The list row of one report.
    pub fn report_summary(&self, id: ReportId) -> Result<ReportSummary> {
        Ok(self.report(id)?.summary())
    }

    /// Every report's list row, newest post first (ties by id, so the order is stable).
    pub fn list_reports(&self) -> Result<Vec<ReportSummary>> {
        let mut out = Vec::new();
        for id in self.report_ids()? {
            out.push(self.report_summary(id)?);
        }
        sort_newest_first(&mut out);
        Ok(out)
    }
}
