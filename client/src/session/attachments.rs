//! Attachments on the device: storing a file the app wrote, the upload queue as the app
//! shows it, and fetching an attachment (resuming, within the cache limit) to a plain file.

use super::lifecycle::Session;
use crate::error::ClientError;
use crate::status::UploadProgress;
use kizuna_core::model::{AttachmentKind, AttachmentRef};
use kizuna_core::{ContentHash, RoomId, Timestamp};
use std::path::Path;
use std::sync::atomic::Ordering;

impl Session {
    /// Stores a photo, video, audio or document from a file the app wrote in the encrypted
    /// store, with a thumbnail for photos (for videos, from `video_frame`, a still the app
    /// took from the clip). It is uploaded after the report that references it is synced.
    pub fn attach_file(
        &self,
        path: &Path,
        kind: AttachmentKind,
        media_type: &str,
        caption: Option<String>,
        video_frame: Option<&Path>,
    ) -> Result<AttachmentRef, ClientError> {
        let (_, e) = self.shared.enrolled()?;
        Ok(kizuna_core::blobs::attach_file(
            e.client.blobs(),
            path,
            kind,
            media_type,
            caption,
            Some(Timestamp::now()),
            video_frame,
        )?)
    }

    /// Attachments waiting for upload, most important first (`sent` is 0: what the relay
    /// holds is learnt when the upload resumes).
    pub fn pending_uploads(&self) -> Result<Vec<UploadProgress>, ClientError> {
        let (_, e) = self.shared.enrolled()?;
        Ok(e.client
            .blobs()
            .pending_uploads()?
            .iter()
            .map(|m| UploadProgress {
                hash: m.hash,
                sent: 0,
                total: m.size,
            })
            .collect())
    }

    /// Makes an attachment of a report in `room` available as a plain file at `dest` (an
    /// app-private cache path): downloaded from the relay unless already here (resuming a
    /// partial download), checked against its hash, then decrypted to the file.
    pub fn fetch_attachment(
        &self,
        room: RoomId,
        hash: &ContentHash,
        dest: &Path,
    ) -> Result<(), ClientError> {
        let (open, e) = self.shared.enrolled()?;
        let h = *hash;
        let mut found = None;
        for doc in open.docs_of(room)? {
            let media = doc.read(|r| {
                for id in r.report_ids()? {
                    for a in r.report(id)?.content.attachments {
                        if a.hash == h {
                            return Ok(Some(a.media_type));
                        }
                        if a.thumbnail == Some(h) {
                            return Ok(Some("image/jpeg".to_string()));
                        }
                    }
                }
                Ok(None)
            })?;
            if let Some(m) = media {
                found = Some((doc.id(), m));
                break;
            }
        }
        let (doc, media_type) = found.ok_or(ClientError::NotFound {
            what: "attachment".into(),
        })?;
        let limit = self.shared.cache_limit.load(Ordering::Relaxed);
        e.client
            .fetch_attachment(&h, doc, &media_type, limit, &|_, _, _| {})?;
        e.client.blobs().export(&h, dest)?;
        Ok(())
    }

    /// Bytes of downloaded attachments kept before the least recently used are dropped
    /// (attachments waiting for upload are never dropped).
    pub fn set_attachment_cache_limit(&self, bytes: u64) {
        self.shared.cache_limit.store(bytes, Ordering::Relaxed);
    }
}
