//! Care reports (ケアレポート): what the author writes, and what everyone reads back with the
//! relay's post number, comments, read receipts, edit history and withdrawal.

use crate::ValidationError;
use crate::fields::{CheckFields, check_each, check_opt_text, check_text};
use crate::ids::{CommentId, ContentHash, DeviceId, ProfessionalId, ReportId};
use crate::people::Profession;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod observations;

pub use observations::{IntakeOutput, JCS_LEVELS, VitalSigns, WoundAssessment};

/// Longest SOAP field or free-text body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Longest reply comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4_000;

/// Importance ☆ to ☆☆☆ (重要度).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Importance(u8);

impl Importance {
    /// ☆
    pub const LOW: Importance = Importance(1);
    /// ☆☆
    pub const MEDIUM: Importance = Importance(2);
    /// ☆☆☆
    pub const HIGH: Importance = Importance(3);

    /// 1, 2 or 3.
    pub fn stars(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Importance {
    type Error = ValidationError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        if (1..=3).contains(&v) {
            Ok(Importance(v))
        } else {
            Err(ValidationError::new("importance", "must be 1, 2 or 3"))
        }
    }
}

impl From<Importance> for u8 {
    fn from(i: Importance) -> u8 {
        i.0
    }
}

/// Who may see a report (共有者).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShareScope {
    /// Every member of the room.
    All,
    /// Only these members (the author is always included).
    Members {
        /// The audience.
        members: Vec<ProfessionalId>,
    },
}

/// The body: free text, or SOAP with the problem (問題点).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportBody {
    /// Free text.
    Free {
        /// The text.
        text: String,
    },
    /// Problem, Subjective, Objective, Assessment, Plan.
    Soap {
        /// 問題点
        problem: String,
        /// S: what the patient or family says.
        s: String,
        /// O: what was observed and measured.
        o: String,
        /// A: the professional's assessment.
        a: String,
        /// P: the plan.
        p: String,
    },
}

impl ReportBody {
    /// All the text of the body, for snippets and search.
    pub fn text(&self) -> String {
        match self {
            ReportBody::Free { text } => text.clone(),
            ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => {
                let mut out = String::new();
                for (label, v) in [("#", problem), ("S", s), ("O", o), ("A", a), ("P", p)] {
                    if !v.is_empty() {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(label);
                        out.push_str(": ");
                        out.push_str(v);
                    }
                }
                out
            }
        }
    }
}

impl CheckFields for ReportBody {
    fn check(&self) -> Result<(), ValidationError> {
        match self {
            ReportBody::Free { text } => check_text("body.text", text, 1, MAX_BODY_CHARS),
            ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => {
                for (name, v) in [("problem", problem), ("s", s), ("o", o), ("a", a), ("p", p)] {
                    check_text(&format!("body.{name}"), v, 0, MAX_BODY_CHARS)?;
                }
                if [problem, s, o, a, p].iter().all(|v| v.trim().is_empty()) {
                    return Err(ValidationError::new(
                        "body",
                        "at least one SOAP field is required",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// What kind of file an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A still image.
    Photo,
    /// A video clip.
    Video,
    /// A voice or sound recording.
    Audio,
    /// A PDF or other document.
    Document,
}

/// A file attached to a report. The bytes live outside the document, addressed by hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// SHA-256 of the file.
    pub hash: ContentHash,
    /// Photo, video, audio or document.
    pub kind: AttachmentKind,
    /// MIME type, e.g. `image/jpeg`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Caption shown under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// When it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<Timestamp>,
    /// A small preview image, itself a blob, for photos and videos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<ContentHash>,
}

impl CheckFields for AttachmentRef {
    fn check(&self) -> Result<(), ValidationError> {
        check_text("media_type", &self.media_type, 3, 100)?;
        if !self.media_type.contains('/') {
            return Err(ValidationError::new(
                "media_type",
                "must look like type/subtype",
            ));
        }
        check_opt_text("caption", &self.caption, 500)?;
        Ok(())
    }
}

/// Everything the author of a report controls; the rest is added by others or the relay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportContent {
    /// When the visit or care happened (実施日時).
    pub care_time: Timestamp,
    /// ☆ to ☆☆☆.
    pub importance: Importance,
    /// Who may see it.
    pub scope: ShareScope,
    /// Members who should be alerted (特に読んでほしい人).
    #[serde(default)]
    pub must_read: Vec<ProfessionalId>,
    /// Free text or SOAP.
    pub body: ReportBody,
    /// Vital signs, in order of measurement.
    #[serde(default)]
    pub vitals: Vec<VitalSigns>,
    /// Intake and output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeOutput>,
    /// Pressure-ulcer assessments.
    #[serde(default)]
    pub wounds: Vec<WoundAssessment>,
    /// Photos, videos, audio and documents.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

impl ReportContent {
    /// A free-text report of normal importance shared with everyone: the common case.
    pub fn free_text(care_time: Timestamp, text: impl Into<String>) -> Self {
        ReportContent {
            care_time,
            importance: Importance::LOW,
            scope: ShareScope::All,
            must_read: Vec::new(),
            body: ReportBody::Free { text: text.into() },
            vitals: Vec::new(),
            intake: None,
            wounds: Vec::new(),
            attachments: Vec::new(),
        }
    }
}

impl CheckFields for ReportContent {
    fn check(&self) -> Result<(), ValidationError> {
        self.body.check()?;
        check_each("vitals", &self.vitals, 50)?;
        if let Some(io) = &self.intake {
            io.check().map_err(|e| e.within("intake"))?;
        }
        check_each("wounds", &self.wounds, 20)?;
        check_each("attachments", &self.attachments, 100)?;
        if self.must_read.len() > 200 {
            return Err(ValidationError::new(
                "must_read",
                "has more than 200 entries",
            ));
        }
        if let ShareScope::Members { members } = &self.scope {
            if members.is_empty() {
                return Err(ValidationError::new("scope.members", "names nobody"));
            }
            if members.len() > 200 {
                return Err(ValidationError::new(
                    "scope.members",
                    "has more than 200 entries",
                ));
            }
        }
        for (i, w) in self.wounds.iter().enumerate() {
            for photo in &w.photos {
                if !self.attachments.iter().any(|a| a.hash == *photo) {
                    return Err(ValidationError::new(
                        format!("wounds[{i}].photos"),
                        "refers to a photo that is not attached",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How an author appears beside their posts, as recorded in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorInfo {
    /// The professional.
    pub professional: ProfessionalId,
    /// The device it was written on.
    pub device: DeviceId,
    /// Display name.
    pub name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation's name.
    pub organisation: String,
}

impl From<&crate::people::Author> for AuthorInfo {
    fn from(a: &crate::people::Author) -> Self {
        AuthorInfo {
            professional: a.professional,
            device: a.device,
            name: a.display_name.clone(),
            profession: a.profession,
            organisation: a.organisation.clone(),
        }
    }
}

/// A reply comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Stable id.
    pub id: CommentId,
    /// Who wrote it.
    pub author: AuthorInfo,
    /// When it was written.
    pub at: Timestamp,
    /// The text.
    pub text: String,
}

/// One edit by the author: when, from which device, which fields, and their previous values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportEdit {
    /// When the edit was made.
    pub at: Timestamp,
    /// The device it was made on.
    pub device: DeviceId,
    /// Names of the fields that changed.
    pub fields: Vec<String>,
    /// The previous values of those fields, as JSON.
    pub previous: String,
}

/// A withdrawn report stays in the room, marked, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// When.
    pub at: Timestamp,
    /// From which device.
    pub device: DeviceId,
    /// Why (entered in error, wrong patient…).
    pub reason: String,
}

/// A care report as read back from the room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Stable id created on the device.
    pub id: ReportId,
    /// Post number (投稿 No.) given by the relay; `None` until it has been synced.
    pub post_no: Option<u64>,
    /// Who wrote it.
    pub author: AuthorInfo,
    /// When it was written on the device (投稿日時).
    pub post_time: Timestamp,
    /// When the relay first accepted it.
    pub received_at: Option<Timestamp>,
    /// The author's content, as last edited.
    pub content: ReportContent,
    /// Reply comments, oldest first.
    pub comments: Vec<Comment>,
    /// First read time per professional.
    pub receipts: BTreeMap<ProfessionalId, Timestamp>,
    /// The author's edits, oldest first.
    pub edits: Vec<ReportEdit>,
    /// Set when the author withdrew it.
    pub withdrawn: Option<Withdrawal>,
}

/// What the report list shows: enough to draw a row without loading the full report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// Report id.
    pub id: ReportId,
    /// Post number once the relay has given one.
    pub post_no: Option<u64>,
    /// Author's display name.
    pub author_name: String,
    /// Author's profession.
    pub author_profession: Profession,
    /// Author's professional id (for "mine" and must-read logic).
    pub author: ProfessionalId,
    /// 実施日時.
    pub care_time: Timestamp,
    /// 投稿日時.
    pub post_time: Timestamp,
    /// ☆ count.
    pub importance: u8,
    /// The first characters of the body.
    pub snippet: String,
    /// How many members have read it.
    pub read_count: u32,
    /// Who has read it (so "read by me" needs no full load).
    pub readers: Vec<ProfessionalId>,
    /// How many replies.
    pub comment_count: u32,
    /// Members asked to read it.
    pub must_read: Vec<ProfessionalId>,
    /// Has photos or other attachments.
    pub attachment_count: u32,
    /// Shared with a subset only.
    pub restricted: bool,
    /// Withdrawn by the author.
    pub withdrawn: bool,
}

/// Characters of body text kept in a summary.
pub const SNIPPET_CHARS: usize = 80;

impl Report {
    /// The list row for this report.
    pub fn summary(&self) -> ReportSummary {
        ReportSummary {
            id: self.id,
            post_no: self.post_no,
            author_name: self.author.name.clone(),
            author_profession: self.author.profession,
            author: self.author.professional,
            care_time: self.content.care_time,
            post_time: self.post_time,
            importance: self.content.importance.stars(),
            snippet: self
                .content
                .body
                .text()
                .chars()
                .take(SNIPPET_CHARS)
                .collect(),
            read_count: u32::try_from(self.receipts.len()).unwrap_or(u32::MAX),
            readers: self.receipts.keys().copied().collect(),
            comment_count: u32::try_from(self.comments.len()).unwrap_or(u32::MAX),
            must_read: self.content.must_read.clone(),
            attachment_count: u32::try_from(self.content.attachments.len()).unwrap_or(u32::MAX),
            restricted: matches!(self.content.scope, ShareScope::Members { .. }),
            withdrawn: self.withdrawn.is_some(),
        }
    }
}

/// Checks a reply comment's text.
pub fn check_comment(text: &str) -> Result<(), ValidationError> {
    check_text("comment.text", text, 1, MAX_COMMENT_CHARS)
}

#[cfg(test)]
mod tests;
