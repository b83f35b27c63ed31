//! Attachments (photos, videos, audio, documents) as content-addressed blobs, kept encrypted
//! beside the rooms: SHA-256 names them, 256 KiB sealed chunks hold them, and every read and
//! write is a stream, so a 200 MB video never sits whole in memory.
//!
//! The same store serves the phone (files the nurse attached, an upload queue that survives
//! restarts, a download cache) and the relay (resumable uploads checked against their hash
//! before they become visible). Reports reference blobs by hash only (`AttachmentRef`).

pub mod thumbnail;

use crate::error::{CoreError, Result, StoreError};
use crate::ids::{ContentHash, DeviceId, RoomId};
use crate::room::Room;
use crate::store::{Space, Vault, Write, key};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// Bytes per stored chunk.
pub const CHUNK: usize = 256 * 1024;
/// Chunks written per durable batch while importing a file.
const CHUNKS_PER_BATCH: usize = 16;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The bytes do not hash to the name they were sent under.
    #[error("the content does not match its hash")]
    HashMismatch,
    /// Bytes were offered at the wrong place (the upload must resume where the store is).
    #[error("expected bytes from offset {expected}, got {got}")]
    WrongOffset {
        /// Where the store is.
        expected: u64,
        /// Where the bytes claimed to start.
        got: u64,
    },
    /// More bytes than the declared size.
    #[error("more bytes than the declared size of {0}")]
    TooLong(u64),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The file changed while it was being stored.
    #[error("the file changed while it was being stored")]
    Changed,
    /// The store failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<StoreError> for BlobError {
    fn from(e: StoreError) -> Self {
        BlobError::Core(e.into())
    }
}

/// Where an upload stands on the relay (`GET /v1/blobs/{hash}/upload`, and the answer to
/// each upload request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    /// Bytes the relay holds; send from here.
    pub offset: u64,
    /// The relay holds the whole blob and has checked its hash.
    pub complete: bool,
}

/// A blob waiting to reach the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    /// The document whose report references it (the relay checks membership there).
    pub doc: RoomId,
    /// The report's importance (☆ count): more important reports go first.
    pub importance: u8,
    /// When the report was posted (older first among equals).
    pub posted: Timestamp,
}

/// What the store knows about one blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    /// The blob's name.
    pub hash: ContentHash,
    /// Its full size.
    pub size: u64,
    /// Bytes stored so far (`size` once complete).
    pub stored: u64,
    /// All bytes are here and hash to `hash`.
    pub complete: bool,
    /// MIME type, e.g. `image/jpeg`.
    pub media_type: String,
    /// On a phone: still to be uploaded (never evicted while set).
    pub upload: Option<PendingUpload>,
    /// On the relay: the device that uploads it (may read it back while it is pending).
    pub uploader: Option<DeviceId>,
    /// On the relay: the document the upload was made for.
    pub doc: Option<RoomId>,
    /// When it was created here.
    pub created: Timestamp,
    /// When it was last read (for the download cache).
    pub last_used: Timestamp,
}

impl BlobMeta {
    fn chunks(&self) -> u64 {
        self.stored.div_ceil(CHUNK as u64)
    }
}

/// The blob store over a vault (the room store's, so one key protects everything). Chunks
/// live either in the vault's backend or, with [`BlobStore::in_dir`], in one file per blob
/// of sealed fixed-size records (several times faster for large videos than the key-value
/// store, and what the relay uses).
#[derive(Clone)]
pub struct BlobStore {
    vault: Vault,
    files: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobStore(..)")
    }
}

fn meta_key(hash: &ContentHash) -> Vec<u8> {
    key(Space::Meta, &[b"blob/", &hash.0])
}

fn chunk_key(hash: &ContentHash, index: u64) -> Vec<u8> {
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    key(Space::Blob, &[&hash.0, &index.to_be_bytes()])
}

fn encode(meta: &BlobMeta) -> Result<Vec<u8>> {
    postcard::to_allocvec(meta).map_err(|_| CoreError::Malformed("blob metadata"))
}

fn io(e: std::io::Error) -> BlobError {
    // The error kind only: messages can carry the path, which can name the patient.
    BlobError::Io(format!("{:?}", e.kind()))
}

/// Streams `path` through SHA-256, returning the hash and the size.
fn hash_file(path: &Path) -> std::result::Result<(ContentHash, u64), BlobError> {
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        size += n as u64;
    }
    Ok((digest(ctx), size))
}

/// The hash a finished SHA-256 computation gives.
pub fn digest(ctx: ring::digest::Context) -> ContentHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    ContentHash(out)
}

/// Fills `buf` from `r` as far as it goes (short only at the end of the stream).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl BlobStore {
    /// A blob store sharing `vault`, chunks in the vault.
    pub fn new(vault: Vault) -> BlobStore {
        BlobStore { vault, files: None }
    }

    /// A blob store sharing `vault` for metadata, with chunk files in `dir` (created 0700).
    pub fn in_dir(vault: Vault, dir: &Path) -> Result<BlobStore> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|_| {
                CoreError::Store(StoreError::Backend(
                    "cannot create the attachment folder".into(),
                ))
            })?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(BlobStore {
            vault,
            files: Some(dir.to_path_buf()),
        })
    }

    fn file_of(&self, hash: &ContentHash) -> Option<std::path::PathBuf> {
        self.files.as_ref().map(|d| d.join(hash.to_hex()))
    }

    /// Sealed size of a full chunk record (length prefix, nonce, tag).
    fn record_len(&self) -> Result<u64> {
        let probe = self.vault.sealer().seal(b"", &[])?;
        Ok(4 + CHUNK as u64 + probe.len() as u64)
    }

    /// Chunk `index` of `hash`.
    fn get_chunk(&self, hash: &ContentHash, index: u64) -> Result<Vec<u8>> {
        let Some(path) = self.file_of(hash) else {
            return Ok(self
                .vault
                .get(&chunk_key(hash, index))?
                .ok_or(StoreError::Corrupt("blob chunk missing"))?);
        };
        use std::io::{Seek, SeekFrom};
        let missing = || CoreError::Store(StoreError::Corrupt("blob chunk missing"));
        let mut f = std::fs::File::open(path).map_err(|_| missing())?;
        f.seek(SeekFrom::Start(index * self.record_len()?))
            .map_err(|_| missing())?;
        let mut len = [0u8; 4];
        f.read_exact(&mut len).map_err(|_| missing())?;
        let len = u32::from_be_bytes(len) as usize;
        if len as u64 > self.record_len()? {
            return Err(StoreError::Corrupt("blob record too long").into());
        }
        let mut sealed = vec![0u8; len];
        f.read_exact(&mut sealed).map_err(|_| missing())?;
        Ok(self.vault.sealer().open(&chunk_key(hash, index), &sealed)?)
    }

    /// Writes chunks from `first` on (replacing anything from there), durably.
    fn put_chunks(&self, hash: &ContentHash, first: u64, chunks: &[&[u8]]) -> Result<Vec<Write>> {
        let Some(path) = self.file_of(hash) else {
            return Ok(chunks
                .iter()
                .enumerate()
                .map(|(i, c)| Write::Put(chunk_key(hash, first + i as u64), c.to_vec()))
                .collect());
        };
        use std::io::{Seek, SeekFrom, Write as _};
        let failed = |_| {
            CoreError::Store(StoreError::Backend(
                "cannot write an attachment file".into(),
            ))
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(failed)?;
        let start = first * self.record_len()?;
        f.set_len(start).map_err(failed)?;
        f.seek(SeekFrom::Start(start)).map_err(failed)?;
        let mut out = Vec::with_capacity(chunks.iter().map(|c| c.len() + 64).sum());
        for (i, c) in chunks.iter().enumerate() {
            let sealed = self
                .vault
                .sealer()
                .seal(&chunk_key(hash, first + i as u64), c)?;
            out.extend_from_slice(
                &u32::try_from(sealed.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            out.extend_from_slice(&sealed);
        }
        f.write_all(&out).map_err(failed)?;
        f.sync_data().map_err(failed)?;
        Ok(Vec::new())
    }

    /// Removes the chunks of a blob (returns the vault writes that do it, if any).
    fn drop_chunks(&self, hash: &ContentHash, count: u64) -> Vec<Write> {
        match self.file_of(hash) {
            Some(path) => {
                let _ = std::fs::remove_file(path);
                Vec::new()
            }
            None => (0..count)
                .map(|i| Write::Delete(chunk_key(hash, i)))
                .collect(),
        }
    }

    /// What the store knows about `hash`.
    pub fn meta(&self, hash: &ContentHash) -> Result<Option<BlobMeta>> {
        match self.vault.get(&meta_key(hash))? {
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|_| CoreError::Store(StoreError::Corrupt("blob metadata"))),
            None => Ok(None),
        }
    }

    fn put_meta(&self, meta: &BlobMeta) -> Result<()> {
        Ok(self
            .vault
            .apply(vec![Write::Put(meta_key(&meta.hash), encode(meta)?)])?)
    }

    /// Every blob's metadata.
    pub fn list(&self) -> Result<Vec<BlobMeta>> {
        let mut out = Vec::new();
        for (_, v) in self.vault.scan_prefix(&key(Space::Meta, &[b"blob/"]))? {
            out.push(
                postcard::from_bytes(&v)
                    .map_err(|_| CoreError::Store(StoreError::Corrupt("blob metadata")))?,
            );
        }
        Ok(out)
    }

    /// Stores a file (streamed twice: once to name it, once to store it) and returns its
    /// hash. A file already stored costs only the first pass.
    pub fn import_file(
        &self,
        path: &Path,
        media_type: &str,
    ) -> std::result::Result<ContentHash, BlobError> {
        let (hash, size) = hash_file(path)?;
        if self.meta(&hash)?.is_some_and(|m| m.complete) {
            return Ok(hash);
        }
        let mut f = std::fs::File::open(path).map_err(io)?;
        self.begin(hash, size, media_type, None, None)?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; CHUNK * CHUNKS_PER_BATCH];
        let mut offset = 0u64;
        loop {
            let n = read_full(&mut f, &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
            self.append(&hash, offset, &buf[..n])?;
            offset += n as u64;
        }
        let streamed = digest(ctx);
        if streamed != hash || offset != size {
            self.delete(&hash)?;
            return Err(BlobError::Changed);
        }
        self.finish_checked(&hash, Some(streamed))?;
        Ok(hash)
    }

    /// Stores bytes already in memory (thumbnails).
    pub fn import_bytes(
        &self,
        bytes: &[u8],
        media_type: &str,
    ) -> std::result::Result<ContentHash, BlobError> {
        let hash = ContentHash::of(bytes);
        if self.meta(&hash)?.is_some_and(|m| m.complete) {
            return Ok(hash);
        }
        self.begin(hash, bytes.len() as u64, media_type, None, None)?;
        self.append(&hash, 0, bytes)?;
        self.finish(&hash)?;
        Ok(hash)
    }

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

    /// Up to `max` bytes from `offset` (fewer at the end).
    pub fn read_at(&self, hash: &ContentHash, offset: u64, max: usize) -> Result<Vec<u8>> {
        let meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        let end = meta.stored.min(offset.saturating_add(max as u64));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK as u64;
            let chunk = self.get_chunk(hash, index)?;
            let start = (pos - index * CHUNK as u64) as usize;
            let stop = chunk.len().min(start + (end - pos) as usize);
            if start >= stop {
                break;
            }
            out.extend_from_slice(&chunk[start..stop]);
            pos += (stop - start) as u64;
        }
        Ok(out)
    }

    /// Writes a complete blob to a file (to hand to a viewer), streaming.
    pub fn export(&self, hash: &ContentHash, path: &Path) -> std::result::Result<(), BlobError> {
        use std::io::Write as _;
        let meta = self.meta(hash)?.ok_or(CoreError::NotFound("blob"))?;
        if !meta.complete {
            return Err(CoreError::NotFound("blob").into());
        }
        let mut f = std::fs::File::create(path).map_err(io)?;
        for i in 0..meta.chunks() {
            f.write_all(&self.get_chunk(hash, i)?).map_err(io)?;
        }
        f.sync_all().map_err(io)?;
        self.touch(hash)?;
        Ok(())
    }

    /// Records a read, for the download cache's least-recently-used order.
    pub fn touch(&self, hash: &ContentHash) -> Result<()> {
        if let Some(mut m) = self.meta(hash)? {
            m.last_used = Timestamp::now();
            self.put_meta(&m)?;
        }
        Ok(())
    }

    /// Deletes a blob and its chunks.
    pub fn delete(&self, hash: &ContentHash) -> Result<()> {
        let Some(meta) = self.meta(hash)? else {
            return Ok(());
        };
        let mut writes = vec![Write::Delete(meta_key(hash))];
        if self.files.is_none() {
            writes.extend(self.drop_chunks(hash, meta.chunks()));
        }
        self.vault.apply(writes)?;
        if self.files.is_some() {
            self.drop_chunks(hash, meta.chunks());
        }
        Ok(())
    }

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

    /// Bytes held by all blobs.
    pub fn stored_bytes(&self) -> Result<u64> {
        Ok(self.list()?.iter().map(|m| m.stored).sum())
    }

    /// Evicts downloaded blobs, least recently used first, until at most `limit` bytes are
    /// held. Blobs waiting for upload are never evicted. Returns the bytes freed.
    pub fn evict_to(&self, limit: u64) -> Result<u64> {
        let all = self.list()?;
        let mut total: u64 = all.iter().map(|m| m.stored).sum();
        let mut candidates: Vec<&BlobMeta> = all.iter().filter(|m| m.upload.is_none()).collect();
        candidates.sort_by_key(|m| m.last_used);
        let mut freed = 0;
        for m in candidates {
            if total <= limit {
                break;
            }
            self.delete(&m.hash)?;
            total -= m.stored;
            freed += m.stored;
        }
        Ok(freed)
    }

    /// Deletes incomplete blobs created before `before` (abandoned uploads on the relay).
    pub fn expire_incomplete(&self, before: Timestamp) -> Result<usize> {
        let mut n = 0;
        for m in self.list()? {
            if !m.complete && m.created < before {
                self.delete(&m.hash)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Bytes of incomplete uploads by `device` (for its quota on the relay).
    pub fn pending_bytes_of(&self, device: DeviceId) -> Result<u64> {
        Ok(self
            .list()?
            .iter()
            .filter(|m| !m.complete && m.uploader == Some(device))
            .map(|m| m.size)
            .sum())
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

impl BlobStore {
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

/// Appends to one blob with a single flush at the end (see [`BlobStore::writer`]).
pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    meta: BlobMeta,
    /// Bytes of an incomplete last chunk not yet written.
    pending: Vec<u8>,
    file: Option<std::fs::File>,
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

/// Every blob the visible content of `room` references: attachments and their thumbnails,
/// wound photos, and the scanned consent form.
pub fn referenced(room: &Room) -> Result<HashSet<ContentHash>> {
    let mut out = HashSet::new();
    for id in room.report_ids()? {
        let r = room.report(id)?;
        for a in &r.content.attachments {
            out.insert(a.hash);
            if let Some(t) = a.thumbnail {
                out.insert(t);
            }
        }
        for w in &r.content.wounds {
            out.extend(w.photos.iter().copied());
        }
    }
    if let Some(c) = room.consent()? {
        out.extend(c.form);
    }
    Ok(out)
}
