//! A room's report list and one report whole, as Swift and Kotlin show them.

use super::draft::ReportDraft;
use kizuna_core::ProfessionalId;
use kizuna_core::model;

/// A row of a room's report list.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReportRow {
    /// Report id.
    pub id: String,
    /// 投稿 No., once the relay has numbered it.
    pub post_no: Option<u64>,
    /// Author's name.
    pub author_name: String,
    /// Author's profession in Japanese.
    pub author_profession_ja: String,
    /// Author's id.
    pub author_id: String,
    /// 実施日時.
    pub care_time_ms: i64,
    /// 投稿日時.
    pub post_time_ms: i64,
    /// ☆ count.
    pub importance: u8,
    /// The start of the text.
    pub snippet: String,
    /// How many have read it.
    pub read_count: u32,
    /// Whether this professional has read it (always true for their own reports).
    pub read_by_me: bool,
    /// Replies.
    pub comment_count: u32,
    /// Attachments.
    pub attachment_count: u32,
    /// Shared with some members only.
    pub restricted: bool,
    /// Withdrawn by its author.
    pub withdrawn: bool,
    /// Names this professional as must-read.
    pub must_read_me: bool,
}

impl ReportRow {
    pub(crate) fn from_core(s: &model::ReportSummary, me: Option<ProfessionalId>) -> Self {
        ReportRow {
            id: s.id.to_string(),
            post_no: s.post_no,
            author_name: s.author_name.clone(),
            author_profession_ja: s.author_profession.label_ja().to_string(),
            author_id: s.author.to_string(),
            care_time_ms: s.care_time.0,
            post_time_ms: s.post_time.0,
            importance: s.importance,
            snippet: s.snippet.clone(),
            read_count: s.read_count,
            read_by_me: me.is_some_and(|m| m == s.author || s.readers.contains(&m)),
            comment_count: s.comment_count,
            attachment_count: s.attachment_count,
            restricted: s.restricted,
            withdrawn: s.withdrawn,
            must_read_me: me.is_some_and(|m| s.must_read.contains(&m)),
        }
    }
}

/// A reply comment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Comment {
    /// Comment id.
    pub id: String,
    /// Author's name.
    pub author_name: String,
    /// Author's id.
    pub author_id: String,
    /// When.
    pub at_ms: i64,
    /// The text.
    pub text: String,
}

/// A read receipt (既読).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Receipt {
    /// Who read it.
    pub professional_id: String,
    /// Their name, when they are a member of the room.
    pub name: Option<String>,
    /// When they opened it.
    pub read_at_ms: i64,
}

/// A whole report.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ReportDetail {
    /// The row (numbers, author, counts).
    pub row: ReportRow,
    /// What the author wrote (attachments carry `available`).
    pub content: ReportDraft,
    /// The author's organisation.
    pub author_organisation: String,
    /// When the relay received it.
    pub received_at_ms: Option<i64>,
    /// Replies, oldest first.
    pub comments: Vec<Comment>,
    /// Who read it, when.
    pub receipts: Vec<Receipt>,
    /// How many times its author edited it.
    pub edit_count: u32,
    /// The reason it was withdrawn, if it was.
    pub withdrawn_reason: Option<String>,
}

impl ReportDetail {
    /// The whole report as the session read it, seen by professional `me`.
    pub(crate) fn from_view(v: &kizuna_client::ReportView, me: Option<ProfessionalId>) -> Self {
        let report = &v.report;
        ReportDetail {
            row: ReportRow::from_core(&v.summary, me),
            content: ReportDraft::from_core(&report.content, |h| v.available.contains(h)),
            author_organisation: report.author.organisation.clone(),
            received_at_ms: report.received_at.map(|t| t.0),
            comments: report
                .comments
                .iter()
                .map(|c| Comment {
                    id: c.id.to_string(),
                    author_name: c.author.name.clone(),
                    author_id: c.author.professional.to_string(),
                    at_ms: c.at.0,
                    text: c.text.clone(),
                })
                .collect(),
            receipts: report
                .receipts
                .iter()
                .map(|(who, at)| Receipt {
                    professional_id: who.to_string(),
                    name: v.members.get(who).map(|m| m.name.clone()),
                    read_at_ms: at.0,
                })
                .collect(),
            edit_count: report.edits.len() as u32,
            withdrawn_reason: report.withdrawn.as_ref().map(|w| w.reason.clone()),
        }
    }
}
