//! A room's report list and one report whole, as Swift and Kotlin show them, converted from
//! the core's summaries and the session's report view.

use super::types::{Comment, Receipt, ReportDetail, ReportDraft, ReportRow};
use kizuna_core::ProfessionalId;
use kizuna_core::model;

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
