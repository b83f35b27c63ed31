//! City notices and alerts (posted by administrators) and personal messages (direct rooms).

use crate::ValidationError;
use crate::fields::{CheckFields, check_each, check_text};
use crate::ids::{MessageId, NoticeId, ProfessionalId};
use crate::model::report::{AttachmentRef, AuthorInfo, Importance};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an administrator writes in the notices or alerts room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeContent {
    /// Headline.
    pub title: String,
    /// Full text.
    pub body: String,
    /// ☆ to ☆☆☆.
    pub importance: Importance,
    /// After this the notice is shown as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl CheckFields for NoticeContent {
    fn check(&self) -> Result<(), ValidationError> {
        check_text("title", &self.title, 1, 200)?;
        check_text("body", &self.body, 1, 20_000)
    }
}

/// A notice as read back, with who has read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Id.
    pub id: NoticeId,
    /// The administrator who posted it.
    pub author: AuthorInfo,
    /// When it was posted.
    pub posted_at: Timestamp,
    /// The content.
    pub content: NoticeContent,
    /// First read time per professional.
    pub receipts: BTreeMap<ProfessionalId, Timestamp>,
}

/// A personal message (個人メール) in a direct conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Sender.
    pub author: AuthorInfo,
    /// When it was written.
    pub at: Timestamp,
    /// Text.
    pub text: String,
    /// Attached files.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// First read time per professional.
    #[serde(default)]
    pub receipts: BTreeMap<ProfessionalId, Timestamp>,
}

/// Checks a personal message before it is written.
pub fn check_message(text: &str, attachments: &[AttachmentRef]) -> Result<(), ValidationError> {
    check_text("text", text, 1, 10_000)?;
    check_each("attachments", attachments, 20)
}
