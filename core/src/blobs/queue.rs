//! The phone's upload queue: attaching a file to a report, queueing what a posted report
//! references, and taking blobs off the queue once the relay holds them.

use crate::error::{CoreError, Result};
use crate::ids::{ContentHash, RoomId};
use crate::time::Timestamp;
use std::path::Path;

use super::{BlobError, BlobMeta, BlobStore, PendingUpload, thumbnail};

impl BlobStore {
    /// Puts a blob in the upload queue (a phone, after posting the report that references
    /// it).
    pub fn queue_upload(&self, hash: &ContentHash, upload: PendingUpload) -> Result<()> {
        let mut meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        meta.upload = Some(upload);
        self.put_meta(&meta)
    }

    /// Takes a blob out of the upload queue: the relay holds it.
    pub fn uploaded(&self, hash: &ContentHash) -> Result<()> {
        if let Some(mut meta) = self.meta(hash)? {
            meta.upload = None;
            self.put_meta(&meta)?;
        }
        Ok(())
    }

    /// The upload queue: most important reports first, then the oldest.
    pub fn pending_uploads(&self) -> Result<Vec<BlobMeta>> {
        let mut v: Vec<BlobMeta> = self
            .list()?
            .into_iter()
            .filter(|m| m.upload.is_some() && m.complete)
            .collect();
        v.sort_by_key(|m| {
            let u = m.upload.as_ref();
            (
                std::cmp::Reverse(u.map_or(0, |u| u.importance)),
                u.map_or(Timestamp(0), |u| u.posted),
                m.hash.0,
            )
        });
        Ok(v)
    }

    /// Queues every blob a just-posted report references (attachments, thumbnails first since
    /// they are small and show in lists), in the report's document `doc`.
    pub fn queue_report(
        &self,
        doc: RoomId,
        content: &crate::model::ReportContent,
        posted: Timestamp,
    ) -> Result<()> {
        let importance = content.importance.stars();
        for a in &content.attachments {
            let mut hashes = Vec::new();
            hashes.extend(a.thumbnail);
            hashes.push(a.hash);
            for h in hashes {
                if self.meta(&h)?.is_some() {
                    // Thumbnails go first among equals: one step more important.
                    let boost = u8::from(Some(h) == a.thumbnail);
                    self.queue_upload(
                        &h,
                        PendingUpload {
                            doc,
                            importance: importance.saturating_add(boost),
                            posted,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}
/// Stores a file for a report and describes it: the blob, and for photos a thumbnail made
/// here (for videos, from `frame`, an image the app took from the clip). Put the returned
/// reference in the report, post it, then call [`BlobStore::queue_report`].
pub fn attach_file(
    blobs: &BlobStore,
    path: &Path,
    kind: crate::model::AttachmentKind,
    media_type: &str,
    caption: Option<String>,
    captured_at: Option<Timestamp>,
    frame: Option<&Path>,
) -> std::result::Result<crate::model::AttachmentRef, BlobError> {
    use crate::model::AttachmentKind;
    let hash = blobs.import_file(path, media_type)?;
    let size = blobs.meta(&hash)?.map_or(0, |m| m.size);
    let preview = match (kind, frame) {
        (_, Some(frame)) => Some(frame),
        (AttachmentKind::Photo, None) => Some(path),
        _ => None,
    };
    // A picture this device cannot decode (HEIC on an old phone, a damaged file) is still
    // attached, only without a preview.
    let thumbnail = match preview.map(thumbnail::from_image_file) {
        Some(Ok(bytes)) => Some(blobs.import_bytes(&bytes, "image/jpeg")?),
        Some(Err(e)) => {
            tracing::debug!(error = %e, "no thumbnail for an attachment");
            None
        }
        None => None,
    };
    Ok(crate::model::AttachmentRef {
        hash,
        kind,
        media_type: media_type.to_string(),
        size,
        caption,
        captured_at,
        thumbnail,
    })
}
