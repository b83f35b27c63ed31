//! Attachments (photos, videos, audio, documents) as content-addressed blobs, kept encrypted
//! beside the rooms: SHA-256 names them, 256 KiB sealed chunks hold them, and every read and
//! write is a stream, so a 200 MB video never sits whole in memory.
//!
//! The same store serves the phone (files the nurse attached, an upload queue that survives
//! restarts, a download cache) and the relay (resumable uploads checked against their hash
//! before they become visible). Reports reference blobs by hash only (`AttachmentRef`).

mod housekeeping;
mod queue;
pub mod thumbnail;
mod upload;
mod writer;

pub use queue::attach_file;
pub use writer::BlobWriter;

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
/// of sealed fixed-size records (faster for large videos than the key-value store, and
/// what the relay uses).
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
