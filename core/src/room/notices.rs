//! Notices (city rooms) and personal messages (direct rooms).

use crate::error::{CoreError, Result};
use crate::fields::CheckFields;
use crate::ids::{MessageId, NoticeId};
use crate::model::notice::check_message;
use crate::model::{AttachmentRef, AuthorInfo, Message, Notice, NoticeContent};
use crate::people::{Author, RoomKind};
use crate::time::Timestamp;
use automerge::ReadDoc;
use serde_json::json;

use super::{Room, codec, root_map};

impl Room {
    /// Posts a notice in a notices or alerts room (administrators only, enforced by the relay).
    pub fn post_notice(
        &mut self,
        admin: &Author,
        now: Timestamp,
        content: &NoticeContent,
    ) -> Result<NoticeId> {
        content.check()?;
        if !matches!(self.kind, RoomKind::CityNotices | RoomKind::Alerts) {
            return Err(CoreError::Forbidden(
                "notices belong in the notices and alerts rooms",
            ));
        }
        let notices = root_map(&self.doc, "notices")?;
        let id = NoticeId::new();
        self.begin(admin);
        let notice = json!({
            "id": id, "author": AuthorInfo::from(admin), "posted_at": now, "content": content, "receipts": {},
        });
        codec::reconcile_key(&mut self.doc, &notices, &id.to_string(), &notice)?;
        self.commit(admin, now, "post_notice", Some(id.to_string()));
        self.touched.other = true;
        Ok(id)
    }

    /// Marks a notice read (first time only).
    pub fn mark_notice_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        id: NoticeId,
    ) -> Result<bool> {
        let notices = root_map(&self.doc, "notices")?;
        let obj = codec::map_at(&self.doc, &notices, &id.to_string())?
            .ok_or(CoreError::NotFound("notice"))?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("notice receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_notice_read", Some(id.to_string()));
            self.touched.other = true;
        }
        Ok(changed)
    }

    /// All notices, newest first.
    pub fn notices(&self) -> Result<Vec<Notice>> {
        let notices = root_map(&self.doc, "notices")?;
        let mut out = Vec::new();
        for item in self.doc.map_range(&notices, ..) {
            let obj = item.id();
            let mut v = codec::read(&self.doc, &obj)?;
            let receipts = codec::map_at(&self.doc, &obj, "receipts")?
                .ok_or(CoreError::Malformed("notice receipts missing"))?;
            v["receipts"] =
                serde_json::to_value(self.read_receipts(&receipts)?).unwrap_or_default();
            out.push(codec::from_json::<Notice>(v, "notice")?);
        }
        out.sort_by_key(|n| std::cmp::Reverse((n.posted_at, n.id)));
        Ok(out)
    }

    // Personal messages (direct rooms).

    /// Sends a personal message in a direct conversation.
    pub fn send_message(
        &mut self,
        author: &Author,
        now: Timestamp,
        text: &str,
        attachments: &[AttachmentRef],
    ) -> Result<MessageId> {
        check_message(text, attachments)?;
        if self.kind != RoomKind::Direct {
            return Err(CoreError::Forbidden(
                "personal messages belong in direct conversations",
            ));
        }
        let messages = root_map(&self.doc, "messages")?;
        let id = MessageId::new();
        self.begin(author);
        let m = json!({
            "id": id, "author": AuthorInfo::from(author), "at": now, "text": text,
            "attachments": attachments, "receipts": {},
        });
        codec::reconcile_key(&mut self.doc, &messages, &id.to_string(), &m)?;
        self.commit(author, now, "send_message", Some(id.to_string()));
        self.touched.other = true;
        Ok(id)
    }

    /// Marks a message read (first time only).
    pub fn mark_message_read(
        &mut self,
        author: &Author,
        read_at: Timestamp,
        id: MessageId,
    ) -> Result<bool> {
        let messages = root_map(&self.doc, "messages")?;
        let obj = codec::map_at(&self.doc, &messages, &id.to_string())?
            .ok_or(CoreError::NotFound("message"))?;
        let receipts = codec::map_at(&self.doc, &obj, "receipts")?
            .ok_or(CoreError::Malformed("message receipts missing"))?;
        let changed = self.set_receipt(author, read_at, &receipts)?;
        if changed {
            self.commit(author, read_at, "mark_message_read", Some(id.to_string()));
            self.touched.other = true;
        }
        Ok(changed)
    }

    /// The conversation, oldest first.
    pub fn messages(&self) -> Result<Vec<Message>> {
        let messages = root_map(&self.doc, "messages")?;
        let mut out = Vec::new();
        for item in self.doc.map_range(&messages, ..) {
            let obj = item.id();
            let mut v = codec::read(&self.doc, &obj)?;
            let receipts = codec::map_at(&self.doc, &obj, "receipts")?
                .ok_or(CoreError::Malformed("message receipts missing"))?;
            v["receipts"] =
                serde_json::to_value(self.read_receipts(&receipts)?).unwrap_or_default();
            out.push(codec::from_json::<Message>(v, "message")?);
        }
        out.sort_by_key(|m| (m.at, m.id));
        Ok(out)
    }
}
