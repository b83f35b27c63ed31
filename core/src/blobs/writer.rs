//! The streaming writer: appends to one blob chunk by chunk with a single flush at the end.

use crate::error::CoreError;
use crate::ids::ContentHash;
use std::path::Path;

use super::{BlobError, BlobMeta, BlobStore, CHUNK, chunk_key, io};

/// Appends to one blob with a single flush at the end (see [`BlobStore::writer`]).
pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    meta: BlobMeta,
    /// Bytes of an incomplete last chunk not yet written.
    pending: Vec<u8>,
    file: Option<std::fs::File>,
}

impl BlobStore {
    /// Starts a batch of appends at `offset` that become durable (and counted as stored)
    /// only at [`BlobWriter::commit`]: one flush for a whole transfer instead of one per
    /// piece. Bytes written before a crash and not committed are simply sent again.
    pub fn writer(
        &self,
        hash: &ContentHash,
        offset: u64,
    ) -> std::result::Result<BlobWriter<'_>, BlobError> {
        let meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        if offset != meta.stored {
            return Err(BlobError::WrongOffset {
                expected: meta.stored,
                got: offset,
            });
        }
        Ok(BlobWriter {
            store: self,
            meta,
            pending: Vec::new(),
            file: None,
        })
    }
}

impl BlobWriter<'_> {
    /// Bytes written so far (stored once committed).
    pub fn offset(&self) -> u64 {
        self.meta.stored + self.pending.len() as u64
    }

    /// Adds bytes; full chunks go to the file at once (not flushed).
    pub fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), BlobError> {
        if self.offset() + bytes.len() as u64 > self.meta.size {
            return Err(BlobError::TooLong(self.meta.size));
        }
        let Some(path) = self.store.file_of(&self.meta.hash) else {
            // Chunks in the vault: every append is its own durable batch.
            let at = self.meta.stored;
            self.meta.stored = self.store.append(&self.meta.hash, at, bytes)?;
            return Ok(());
        };
        self.pending.extend_from_slice(bytes);
        let first = self.meta.stored / CHUNK as u64;
        let partial = (self.meta.stored % CHUNK as u64) as usize;
        if partial + self.pending.len() < CHUNK {
            return Ok(());
        }
        // Complete chunks, starting with the partial last one if there is one.
        let mut head = Vec::new();
        if partial != 0 {
            let mut c = self.store.get_chunk(&self.meta.hash, first)?;
            c.truncate(partial);
            head = c;
        }
        head.extend_from_slice(&self.pending);
        let full = head.len() / CHUNK * CHUNK;
        let refs: Vec<&[u8]> = head[..full].chunks(CHUNK).collect();
        self.write_records(&path, first, &refs)?;
        self.meta.stored = first * CHUNK as u64 + full as u64;
        self.pending = head[full..].to_vec();
        Ok(())
    }

    fn write_records(
        &mut self,
        path: &Path,
        first: u64,
        chunks: &[&[u8]],
    ) -> std::result::Result<(), BlobError> {
        use std::io::{Seek, SeekFrom, Write as _};
        let record = self.store.record_len()?;
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(io)?;
            self.file = Some(f);
        }
        let Some(f) = self.file.as_mut() else {
            return Err(BlobError::Io("the attachment file is not open".into()));
        };
        let start = first * record;
        f.set_len(start).map_err(io)?;
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut out = Vec::with_capacity(chunks.len() * record as usize);
        for (i, c) in chunks.iter().enumerate() {
            let sealed = self
                .store
                .vault
                .sealer()
                .seal(&chunk_key(&self.meta.hash, first + i as u64), c)
                .map_err(CoreError::from)?;
            out.extend_from_slice(
                &u32::try_from(sealed.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            out.extend_from_slice(&sealed);
        }
        f.write_all(&out).map_err(io)?;
        Ok(())
    }

    /// Writes what is left, flushes the file, then records the new size durably. Returns the
    /// bytes stored.
    pub fn commit(mut self) -> std::result::Result<u64, BlobError> {
        if self.store.file_of(&self.meta.hash).is_none() {
            return Ok(self.meta.stored);
        }
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let at = self.meta.stored;
            if let Some(f) = self.file.as_ref() {
                f.sync_data().map_err(io)?;
            }
            self.file = None;
            // The incomplete last chunk goes through the ordinary append (it also persists
            // the metadata of everything before it).
            let mut meta = self
                .store
                .meta(&self.meta.hash)?
                .ok_or(CoreError::NotFound("blob"))?;
            meta.stored = at;
            self.store.put_meta(&meta)?;
            return self.store.append(&self.meta.hash, at, &pending);
        }
        if let Some(f) = self.file.as_ref() {
            f.sync_data().map_err(io)?;
        }
        let mut meta = self
            .store
            .meta(&self.meta.hash)?
            .ok_or(CoreError::NotFound("blob"))?;
        meta.stored = self.meta.stored;
        self.store.put_meta(&meta)?;
        Ok(meta.stored)
    }
}
