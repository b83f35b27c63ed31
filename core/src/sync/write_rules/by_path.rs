//! The rule for each place a change writes to, chosen by the path's first keys: the fixed
//! sections, reports (and their comments, receipts, edits), the profile log, notices and
//! messages. Each returns a [`Refusal`] saying which rule the operation broke.

use super::{
    Batch, COMMENT_ONCE, FIXED, REPORT_CONTAINERS, REPORT_FIELDS, REPORT_ONCE, Refusal,
    canonical_uuid, refuse,
};
use crate::ids::ReportId;
use automerge::ScalarValue;
use automerge::legacy::OpType;

impl Batch<'_> {
    /// Checks one operation `action` at path `p` (keys from the document root).
    pub(super) fn rule(&mut self, p: &[String], action: &OpType) -> Result<(), Refusal> {
        if matches!(
            action,
            OpType::Increment(_) | OpType::MarkBegin(_) | OpType::MarkEnd(_)
        ) {
            return refuse("unsupported operation");
        }
        let is_delete = matches!(action, OpType::Delete);
        let s: Vec<&str> = p.iter().map(String::as_str).collect();
        if s.len() <= 1 {
            return refuse("the top-level sections of a room are fixed");
        }
        if FIXED.contains(&s.as_slice()) {
            return refuse("the sections of a room are fixed");
        }
        match s[0] {
            "kizuna" => refuse("the room's identity is fixed"),
            "consent" | "members" => {
                self.admin()?;
                self.touched.sections.insert(s[0].to_string());
                Ok(())
            }
            "profile_log" => self.log_rule(&s, action, is_delete),
            "profile" | "care_plans" => {
                self.writer()?;
                self.touched.sections.insert(s[0].to_string());
                Ok(())
            }
            "reports" => self.report_rule(&s, action, is_delete),
            "notices" => self.post_rule(&s, action, is_delete, true),
            "messages" => self.post_rule(&s, action, is_delete, false),
            _ => refuse("unknown section"),
        }
    }

    fn report_rule(&mut self, s: &[&str], action: &OpType, is_delete: bool) -> Result<(), Refusal> {
        let rid = s[1];
        if !canonical_uuid(rid) {
            return refuse("a report id must be a uuid in canonical form");
        }
        self.touched.reports.insert(rid.to_string());
        if s.len() == 2 {
            self.writer()?;
            let Ok(id) = rid.parse::<ReportId>() else {
                return refuse("a report id must be a uuid in canonical form");
            };
            if !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("reports are never deleted or replaced");
            }
            if self.exists(&["reports", rid]) || !self.new_report_set.insert(rid.to_string()) {
                return refuse("a report with this id already exists");
            }
            self.new_reports.push(id);
            return Ok(());
        }
        let is_new = self.new_report_set.contains(rid);
        if !is_new && !self.exists(&["reports", rid]) {
            return refuse("the report does not exist");
        }
        let field = s[2];
        match field {
            "relay" => refuse("post numbers and received times are set by the relay only"),
            "receipts" if s.len() >= 4 => {
                if s.len() > 4 {
                    return refuse("a read receipt is a time and is never removed");
                }
                self.own_receipt(s[3], action)
            }
            "comments" if s.len() >= 4 => self.comment_rule(s, action, is_delete),
            _ if is_new => {
                self.writer()?;
                if !REPORT_FIELDS.contains(&field) {
                    return refuse("a report has no such field");
                }
                if s.len() == 3 && is_delete {
                    return refuse("this part of a report is written once, when it is posted");
                }
                self.new_field("reports", rid, &s[2..], action)
            }
            _ => {
                self.writer()?;
                if REPORT_ONCE.contains(&field)
                    || (s.len() == 3 && REPORT_CONTAINERS.contains(&field))
                {
                    return refuse("this part of a report is written once, when it is posted");
                }
                match self.owner(&["reports", rid, "author", "professional"]) {
                    Some(owner) if owner == self.me => {}
                    _ => return refuse("only the author changes a report"),
                }
                // The record of an edit is the report's history: added, never rewritten.
                if field == "edits" && self.exists(&["reports", rid, "edits", s[3]]) {
                    return refuse("the record of an edit is written once");
                }
                if !REPORT_FIELDS.contains(&field) {
                    return refuse("a report has no such field");
                }
                Ok(())
            }
        }
    }

    /// The profile's history (`profile_log/<id>`): entries are added by writers, naming
    /// themselves, and never changed or removed afterwards.
    fn log_rule(&mut self, s: &[&str], action: &OpType, is_delete: bool) -> Result<(), Refusal> {
        self.writer()?;
        self.touched.sections.insert("profile_log".to_string());
        let id = s[1];
        if !canonical_uuid(id) {
            return refuse("a history entry id must be a uuid in canonical form");
        }
        let key = ("profile_log".to_string(), id.to_string());
        if s.len() == 2 {
            if is_delete || !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("the profile's history is never deleted or replaced");
            }
            if self.exists(&["profile_log", id]) || !self.new_entities.insert(key) {
                return refuse("a history entry with this id already exists");
            }
            return Ok(());
        }
        if !self.new_entities.contains(&key) {
            return refuse("the profile's history is written once");
        }
        match (&s[2..], action) {
            (["professional"], OpType::Put(ScalarValue::Str(v))) => {
                if v.as_str() != self.me {
                    return refuse("a change claims another person's or device's identity");
                }
                self.claimed
                    .insert(("profile_log".into(), id.into(), "professional".into()));
                Ok(())
            }
            (["professional"], _) => refuse("an author field must be text"),
            (["name"], action) => match (&self.who.shown_as, action) {
                (None, _) => Ok(()),
                (Some(shown), OpType::Put(ScalarValue::Str(v))) if v.as_str() == shown.name => {
                    Ok(())
                }
                _ => refuse("a change claims another person's or device's identity"),
            },
            _ => Ok(()),
        }
    }

    fn comment_rule(
        &mut self,
        s: &[&str],
        action: &OpType,
        is_delete: bool,
    ) -> Result<(), Refusal> {
        self.writer()?;
        let (rid, cid) = (s[1], s[3]);
        if !canonical_uuid(cid) {
            return refuse("a comment id must be a uuid in canonical form");
        }
        self.touched
            .comments
            .insert((rid.to_string(), cid.to_string()));
        let section = format!("comments/{rid}");
        let key = (section.clone(), cid.to_string());
        if s.len() == 4 {
            if is_delete || !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("comments are never deleted or replaced");
            }
            if self.exists(&["reports", rid, "comments", cid]) || !self.new_entities.insert(key) {
                return refuse("a comment with this id already exists");
            }
            return Ok(());
        }
        if self.new_entities.contains(&key) {
            if s.len() == 5 && is_delete {
                return refuse("this part of a comment is written once");
            }
            return self.new_field(&section, cid, &s[4..], action);
        }
        if !self.exists(&["reports", rid, "comments", cid]) {
            return refuse("the comment does not exist");
        }
        if COMMENT_ONCE.contains(&s[4]) {
            return refuse("this part of a comment is written once");
        }
        match self.owner(&["reports", rid, "comments", cid, "author", "professional"]) {
            Some(owner) if owner == self.me => Ok(()),
            _ => refuse("only the author of a comment changes it"),
        }
    }

    /// Notices (administrators) and personal messages (writers).
    fn post_rule(
        &mut self,
        s: &[&str],
        action: &OpType,
        is_delete: bool,
        admin_only: bool,
    ) -> Result<(), Refusal> {
        let section = s[0];
        let id = s[1];
        if !canonical_uuid(id) {
            return refuse("a post id must be a uuid in canonical form");
        }
        self.touched
            .posts
            .insert((section.to_string(), id.to_string()));
        let key = (section.to_string(), id.to_string());
        if s.len() >= 3 && s[2] == "receipts" && self.exists(&[section, id]) {
            return match s.len() {
                3 => refuse("a post's receipts are created with it"),
                4 => self.own_receipt(s[3], action),
                _ => refuse("a read receipt is a time and is never removed"),
            };
        }
        if admin_only {
            self.admin()?
        } else {
            self.writer()?
        }
        if s.len() == 2 {
            if is_delete || !matches!(action, OpType::Make(automerge::ObjType::Map)) {
                return refuse("posts are never deleted or replaced");
            }
            if self.exists(&[section, id]) || !self.new_entities.insert(key) {
                return refuse("a post with this id already exists");
            }
            return Ok(());
        }
        if self.new_entities.contains(&key) {
            if s.len() == 3 && is_delete {
                return refuse("this part of a post is written once");
            }
            return self.new_field(section, id, &s[2..], action);
        }
        if !self.exists(&[section, id]) {
            return refuse("the post does not exist");
        }
        if matches!(s[2], "id" | "author" | "posted_at" | "at" | "receipts") {
            return refuse("this part of a post is written once");
        }
        match self.owner(&[section, id, "author", "professional"]) {
            Some(owner) if owner == self.me => Ok(()),
            _ => refuse("only the author changes a post"),
        }
    }
}
