//! Who may upload and read an attachment, and the steps of a resumable upload (begin, append,
//! finish with the hash check, bind to the document). See the module documentation of
//! [`crate::blobs`] for the rules.

use super::store::{blob_error, denied, internal, staged_name};
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_core::blobs::{UploadStatus, referenced};
use kizuna_core::{ContentHash, DeviceId, ProfessionalId, Role, RoomId};
use std::sync::Arc;

impl Relay {
    /// The role of `p` in the room of document `doc`, if `p` may see `doc` (member of the
    /// room, and in the audience of a restricted document).
    pub fn role_in_doc(&self, p: ProfessionalId, doc: RoomId) -> Result<Option<Role>, RelayError> {
        let scope = match self.documents().get(doc).map_err(internal)? {
            Some(h) => h.meta().scope,
            None => None,
        };
        let parent = scope.as_ref().map_or(doc, |s| s.parent);
        if scope.as_ref().is_some_and(|s| !s.audience.contains(&p)) {
            return Ok(None);
        }
        // Archived rooms are out of reach like for sync.
        Ok(self
            .sync_memberships(p)?
            .into_iter()
            .find(|(r, _)| *r == parent)
            .map(|(_, role)| role))
    }

    /// Stores the scanned consent form of a patient room (already complete: the bytes are
    /// here) and records its hash in the consent, in the directory and in the room's
    /// document, so members' phones can fetch it like any attachment.
    pub fn attach_consent_form(
        &self,
        room: RoomId,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<ContentHash, RelayError> {
        let mut r = self
            .directory()
            .room(room)?
            .ok_or(RelayError::NotFound("room"))?;
        let Some(mut consent) = r.consent.clone() else {
            return Err(RelayError::Invalid(
                "room: only a patient room with a consent record takes a consent form".into(),
            ));
        };
        if bytes.is_empty() {
            return Err(RelayError::Invalid("file: the file is empty".into()));
        }
        if !matches!(media_type, "application/pdf" | "image/jpeg" | "image/png") {
            return Err(RelayError::Invalid(
                "file: send the scan as PDF, JPEG or PNG".into(),
            ));
        }
        let hash = {
            let _promoting = self.blobs().promote_lock();
            self.blobs()
                .store()
                .import_bytes(bytes, media_type)
                .map_err(blob_error)?
        };
        // The administrator uploaded these bytes for this room.
        self.blobs().bind(&hash, room)?;
        consent.form = Some(hash);
        r.consent = Some(consent.clone());
        self.directory().put_room(&r)?;
        self.directory().flush()?;
        self.consent_changed(room, &consent)?;
        Ok(hash)
    }

    /// Whether the visible content of `doc` references `hash` (cached by document heads).
    fn doc_references(&self, doc: RoomId, hash: &ContentHash) -> Result<bool, RelayError> {
        let Some(h) = self.documents().get(doc).map_err(internal)? else {
            return Ok(false);
        };
        let heads = h.meta().saved_heads();
        let blobs = self.blobs();
        if let Some((cached_heads, set)) = blobs
            .refs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&doc)
            && *cached_heads == heads
        {
            return Ok(set.contains(hash));
        }
        let set = Arc::new(h.read(|room| referenced(room)).map_err(internal)?);
        let found = set.contains(hash);
        let mut refs = blobs
            .refs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if refs.len() > 10_000 {
            refs.clear();
        }
        refs.insert(doc, (heads, set));
        Ok(found)
    }

    /// Whether the bytes of `hash` were uploaded for document `doc`, or for the room `doc`
    /// belongs to when it is a restricted document (never the other way round).
    fn uploaded_for(&self, doc: RoomId, hash: &ContentHash) -> Result<bool, RelayError> {
        let blobs = self.blobs();
        if blobs.bound(hash, doc)? {
            return Ok(true);
        }
        let parent = match self.documents().get(doc).map_err(internal)? {
            Some(h) => h.meta().scope.map(|s| s.parent),
            None => None,
        };
        match parent {
            Some(p) if p != doc => blobs.bound(hash, p),
            _ => Ok(false),
        }
    }

    /// May device `d` of `p` read blob `hash` through document `doc`? Only a complete blob
    /// whose bytes were uploaded for `doc` (or its room), referenced by `doc`'s visible
    /// content, to someone who may see `doc`.
    pub fn may_read_blob(
        &self,
        p: ProfessionalId,
        _d: DeviceId,
        doc: RoomId,
        hash: &ContentHash,
    ) -> Result<bool, RelayError> {
        let meta = self.blobs().store().meta(hash).map_err(internal)?;
        if !meta.is_some_and(|m| m.complete) {
            return Ok(false);
        }
        Ok(self.role_in_doc(p, doc)?.is_some()
            && self.doc_references(doc, hash)?
            && self.uploaded_for(doc, hash)?)
    }

    /// Where this device's upload of `hash` for `doc` stands; starts it if new. Only writers
    /// of a document whose content references the hash may upload. Complete only when the
    /// bytes were already uploaded for this document (or its room); otherwise the device
    /// sends them, even if the relay holds the same content for another room.
    pub fn begin_upload(
        &self,
        p: ProfessionalId,
        d: DeviceId,
        doc: RoomId,
        hash: ContentHash,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, RelayError> {
        if self.role_in_doc(p, doc)? != Some(Role::Writer) || !self.doc_references(doc, &hash)? {
            return Err(denied());
        }
        let blobs = self.blobs();
        if size > blobs.limits.max_size {
            return Err(RelayError::Invalid(format!(
                "size: attachments are limited to {} bytes on this relay",
                blobs.limits.max_size
            )));
        }
        if let Some(m) = blobs.store.meta(&hash).map_err(internal)?
            && m.complete
        {
            if self.uploaded_for(doc, &hash)? {
                return Ok(UploadStatus {
                    offset: m.size,
                    complete: true,
                });
            }
            if m.size != size {
                return Err(RelayError::Invalid(
                    "size: not the size of the attachment with this hash".into(),
                ));
            }
        }
        let staged = staged_name(&hash, d, doc);
        match blobs.store.meta(&staged).map_err(internal)? {
            // Every byte is here but it was never finished (the relay stopped between the
            // last byte and the check): finish now, or the device would wait for ever.
            Some(m) if m.size == size && m.stored == m.size => {
                return self.finish_upload(p, d, doc, &hash, None);
            }
            Some(m) if m.size == size => {
                return Ok(UploadStatus {
                    offset: m.stored,
                    complete: false,
                });
            }
            // This device's own unfinished upload with another size: its own to restart.
            Some(_) => blobs.store.delete(&staged).map_err(internal)?,
            None => {}
        }
        let pending = blobs.store.pending_bytes_of(d).map_err(internal)?;
        if pending + size > blobs.limits.device_quota {
            return Err(RelayError::Conflict(
                "this device has too many unfinished uploads; finish or wait for them to expire"
                    .into(),
            ));
        }
        let offset = blobs
            .store
            .begin(staged, size, media_type, Some(d), Some(doc))
            .map_err(blob_error)?;
        Ok(UploadStatus {
            offset,
            complete: false,
        })
    }

    /// How many bytes of this device's upload of `hash` for `doc` the relay holds: `None`
    /// when it has not begun one.
    pub fn upload_offset(
        &self,
        d: DeviceId,
        doc: RoomId,
        hash: &ContentHash,
    ) -> Result<Option<u64>, RelayError> {
        Ok(self
            .blobs()
            .store
            .meta(&staged_name(hash, d, doc))
            .map_err(internal)?
            .map(|m| m.stored))
    }

    /// Appends bytes to this device's upload begun with [`Relay::begin_upload`].
    pub fn append_upload(
        &self,
        d: DeviceId,
        doc: RoomId,
        hash: &ContentHash,
        offset: u64,
        bytes: &[u8],
    ) -> Result<UploadStatus, RelayError> {
        let blobs = self.blobs();
        let staged = staged_name(hash, d, doc);
        if blobs.store.meta(&staged).map_err(internal)?.is_none() {
            return Err(denied());
        }
        let stored = blobs
            .store
            .append(&staged, offset, bytes)
            .map_err(blob_error)?;
        Ok(UploadStatus {
            offset: stored,
            complete: false,
        })
    }

    /// A writer for the rest of this device's upload of `hash` for `doc` (one flush at the
    /// end).
    pub fn upload_writer(
        &self,
        d: DeviceId,
        doc: RoomId,
        hash: &ContentHash,
        offset: u64,
    ) -> Result<kizuna_core::blobs::BlobWriter<'_>, RelayError> {
        let blobs = self.blobs();
        let staged = staged_name(hash, d, doc);
        let meta = blobs
            .store
            .meta(&staged)
            .map_err(internal)?
            .ok_or_else(denied)?;
        if meta.uploader != Some(d) {
            return Err(denied());
        }
        blobs.store.writer(&staged, offset).map_err(blob_error)
    }

    /// Checks this device's fully received upload against its hash (`streamed`: the SHA-256
    /// the receiver computed when it got every byte from offset 0 in one request), makes it
    /// the blob if it is the first, and records that the bytes were uploaded for `doc`. The
    /// uploader must still be a writer of `doc`, whose content references the hash.
    pub fn finish_upload(
        &self,
        p: ProfessionalId,
        d: DeviceId,
        doc: RoomId,
        hash: &ContentHash,
        streamed: Option<ContentHash>,
    ) -> Result<UploadStatus, RelayError> {
        let blobs = self.blobs();
        let staged = staged_name(hash, d, doc);
        let Some(meta) = blobs.store.meta(&staged).map_err(internal)? else {
            // Nothing of this device's: done only if the bytes are already here for `doc`.
            if blobs
                .store
                .meta(hash)
                .map_err(internal)?
                .is_some_and(|m| m.complete)
                && self.uploaded_for(doc, hash)?
            {
                return Ok(UploadStatus {
                    offset: blobs
                        .store
                        .meta(hash)
                        .map_err(internal)?
                        .map_or(0, |m| m.size),
                    complete: true,
                });
            }
            return Err(denied());
        };
        if meta.stored < meta.size {
            return Ok(UploadStatus {
                offset: meta.stored,
                complete: false,
            });
        }
        if self.role_in_doc(p, doc)? != Some(Role::Writer) || !self.doc_references(doc, hash)? {
            return Err(denied());
        }
        {
            let _promoting = blobs.promote_lock();
            blobs
                .store
                .promote(&staged, hash, streamed)
                .map_err(blob_error)?;
            blobs.bind(hash, doc)?;
        }
        self.audit()
            .record(crate::audit::Entry {
                professional: Some(p),
                device: Some(d),
                action: "blob.upload",
                room: Some(doc),
                subject: Some(hash.to_hex()),
                ..crate::audit::Entry::default()
            })
            .map_err(internal)?;
        Ok(UploadStatus {
            offset: meta.size,
            complete: true,
        })
    }

    /// Marks an unfinished upload ([`staged_name`]) as being written by one request; `None`
    /// if another request is writing it.
    pub fn claim_blob(&self, hash: ContentHash) -> Option<BlobClaim<'_>> {
        let mut w = self
            .blobs()
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !w.insert(hash) {
            return None;
        }
        Some(BlobClaim { relay: self, hash })
    }
}

/// Exclusive right to append to one unfinished upload, released on drop.
pub struct BlobClaim<'a> {
    relay: &'a Relay,
    hash: ContentHash,
}

impl Drop for BlobClaim<'_> {
    fn drop(&mut self) {
        self.relay
            .blobs()
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.hash);
    }
}
