//! Blobs whose bytes arrive in pieces (uploads on the relay, downloads on the phone):
//! resumable, and checked against their hash before they become visible.

use crate::error::CoreError;
use crate::ids::{ContentHash, DeviceId, RoomId};
use crate::store::Write;
use crate::time::Timestamp;

use super::{BlobError, BlobMeta, BlobStore, CHUNK, digest, encode, meta_key};

impl BlobStore {
    /// Starts (or finds, to resume) a blob whose bytes arrive in pieces; returns how many
    /// bytes are already stored.
    pub fn begin(
        &self,
        hash: ContentHash,
        size: u64,
        media_type: &str,
        uploader: Option<DeviceId>,
        doc: Option<RoomId>,
    ) -> std::result::Result<u64, BlobError> {
        if let Some(m) = self.meta(&hash)? {
            if m.size == size {
                return Ok(m.stored);
            }
            if m.complete {
                return Err(BlobError::HashMismatch);
            }
            // A different declared size for an incomplete blob: start over.
            self.delete(&hash)?;
        }
        let now = Timestamp::now();
        self.put_meta(&BlobMeta {
            hash,
            size,
            stored: 0,
            complete: false,
            media_type: media_type.chars().take(100).collect(),
            upload: None,
            uploader,
            doc,
            created: now,
            last_used: now,
        })?;
        Ok(0)
    }

    /// Appends bytes at `offset`, which must be where the stored bytes end. Durable when it
    /// returns: a cut after this loses nothing already appended.
    pub fn append(
        &self,
        hash: &ContentHash,
        offset: u64,
        bytes: &[u8],
    ) -> std::result::Result<u64, BlobError> {
        let mut meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        if offset != meta.stored {
            return Err(BlobError::WrongOffset {
                expected: meta.stored,
                got: offset,
            });
        }
        if meta.stored + bytes.len() as u64 > meta.size {
            return Err(BlobError::TooLong(meta.size));
        }
        if bytes.is_empty() {
            return Ok(meta.stored);
        }
        let mut rest = bytes;
        let mut stored = meta.stored;
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let first = stored / CHUNK as u64;
        // Top up a partial last chunk first (it is rewritten whole).
        let partial = (stored % CHUNK as u64) as usize;
        if partial != 0 {
            let mut chunk = self.get_chunk(hash, first)?;
            chunk.truncate(partial);
            let take = (CHUNK - partial).min(rest.len());
            chunk.extend_from_slice(&rest[..take]);
            pieces.push(chunk);
            rest = &rest[take..];
            stored += take as u64;
        }
        for piece in rest.chunks(CHUNK) {
            pieces.push(piece.to_vec());
            stored += piece.len() as u64;
        }
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let mut writes = self.put_chunks(hash, first, &refs)?;
        meta.stored = stored;
        writes.push(Write::Put(meta_key(hash), encode(&meta)?));
        self.vault.apply(writes)?;
        Ok(stored)
    }

    /// Checks a fully stored blob against its hash and makes it visible; a mismatch deletes
    /// it.
    pub fn finish(&self, hash: &ContentHash) -> std::result::Result<(), BlobError> {
        self.finish_checked(hash, None)
    }

    /// [`BlobStore::finish`], given the SHA-256 of every stored byte when the caller computed
    /// it while appending from offset 0 (saves reading the blob back).
    pub fn finish_checked(
        &self,
        hash: &ContentHash,
        streamed: Option<ContentHash>,
    ) -> std::result::Result<(), BlobError> {
        let mut meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        if meta.complete {
            return Ok(());
        }
        if meta.stored != meta.size {
            return Err(BlobError::WrongOffset {
                expected: meta.size,
                got: meta.stored,
            });
        }
        let actual = match streamed {
            Some(d) => d,
            None => {
                let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                for i in 0..meta.chunks() {
                    ctx.update(&self.get_chunk(hash, i)?);
                }
                digest(ctx)
            }
        };
        if actual != *hash {
            self.delete(hash)?;
            return Err(BlobError::HashMismatch);
        }
        meta.complete = true;
        self.put_meta(&meta)?;
        Ok(())
    }

    /// Makes the fully stored blob `staged` (an upload kept under a name of its own, so
    /// that nobody else's upload of the same content can touch it) the blob `hash`: checks
    /// that its bytes hash to `hash` (with `streamed`, the SHA-256 the receiver computed,
    /// when it has it), copies them under `hash` unless a complete copy is already there,
    /// and deletes `staged`. A mismatch deletes `staged` and leaves `hash` alone.
    ///
    /// The copy re-seals every chunk (each is sealed to its name), so it costs one read and
    /// one write of the blob, once per content; the caller serialises promotions.
    pub fn promote(
        &self,
        staged: &ContentHash,
        hash: &ContentHash,
        streamed: Option<ContentHash>,
    ) -> std::result::Result<(), BlobError> {
        let meta = self.meta(staged)?.ok_or(CoreError::NotFound("blob"))?;
        if meta.stored != meta.size {
            return Err(BlobError::WrongOffset {
                expected: meta.size,
                got: meta.stored,
            });
        }
        if streamed.is_some_and(|d| d != *hash) {
            self.delete(staged)?;
            return Err(BlobError::HashMismatch);
        }
        let have = self.meta(hash)?;
        if have.as_ref().is_some_and(|m| m.complete) {
            // Already stored: the staged bytes only prove that their sender has them.
            let ok = match streamed {
                Some(_) => true,
                None => {
                    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                    for i in 0..meta.chunks() {
                        ctx.update(&self.get_chunk(staged, i)?);
                    }
                    digest(ctx) == *hash
                }
            };
            self.delete(staged)?;
            return if ok {
                Ok(())
            } else {
                Err(BlobError::HashMismatch)
            };
        }
        if have.is_some() {
            // An unfinished copy (a crash during an earlier promotion): start it again.
            self.delete(hash)?;
        }
        self.begin(*hash, meta.size, &meta.media_type, None, meta.doc)?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut w = self.writer(hash, 0)?;
        let copied = (|| -> std::result::Result<u64, BlobError> {
            for i in 0..meta.chunks() {
                let chunk = self.get_chunk(staged, i)?;
                ctx.update(&chunk);
                w.write(&chunk)?;
            }
            w.commit()
        })();
        let deleted = self.delete(staged);
        if let Err(e) = copied {
            self.delete(hash)?;
            return Err(e);
        }
        deleted?;
        if digest(ctx) != *hash {
            self.delete(hash)?;
            return Err(BlobError::HashMismatch);
        }
        let mut done = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        if done.stored != done.size {
            self.delete(hash)?;
            return Err(BlobError::WrongOffset {
                expected: done.size,
                got: done.stored,
            });
        }
        done.complete = true;
        self.put_meta(&done)?;
        Ok(())
    }
}
