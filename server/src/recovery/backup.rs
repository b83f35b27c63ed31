//! The backup file `kizuna admin backup` writes and `kizuna admin restore` reads, taken from
//! the running relay (`GET /v1/admin/backup`).
//!
//! One file: `KIZUNA-BACKUP/1` and a newline, then frames of (kind: 1 byte, name: u32
//! length + bytes, data: u64 length + bytes, big-endian), ending with an `E` frame that
//! counts what came before (a file without it was cut short and is refused whole). Frames:
//! `M` the manifest (JSON, first), `F` a file of the data directory (the CA, the store key,
//! the administrator's identity, the audit log up to its last complete record), `D` a
//! directory record, `R` a room document (a whole Automerge save, still holding patient
//! data), `B` a finished attachment (its plain bytes). The file holds the CA key, the store
//! key and patient data in the clear: encrypt it (`age`, `gpg`) before it leaves the host.
//!
//! Consistency while serving: the journal's and the ledger's positions are read first; each
//! document is saved whole under its own lock; what changed in the directory while it was
//! copied is in the journal after the recorded position, which the restore replays; what
//! changed in documents after their copy is in the ledger, and the phones bring it back.

use super::Recovery;
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_core::room::Scope;
use kizuna_core::{ContentHash, RoomId, RoomKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

/// The first bytes of a backup file.
pub const MAGIC: &[u8] = b"KIZUNA-BACKUP/1\n";
/// Largest name of a frame.
const MAX_NAME: u32 = 64 * 1024;

/// Files of the data directory a backup holds, when present.
pub const FILES: [&str; 11] = [
    "ca.crt",
    "ca.key",
    "ca-next.crt",
    "ca-next.key",
    "ca-next.cross.crt",
    "ca.cross.crt",
    "store.key",
    "admin/admin.crt",
    "admin/admin.key",
    "demo/admin.crt",
    "demo/admin.key",
];

/// The first frame: when, and how far the journal and the ledger had got.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// When the backup was taken.
    pub taken_at: Timestamp,
    /// Lines of the directory's journal at that moment.
    pub journal_lines: u64,
    /// Entries of the ledger of stored changes at that moment.
    pub ledger_entries: u64,
}

/// The last frame: what the backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Files of the data directory.
    pub files: u64,
    /// Directory records.
    pub records: u64,
    /// Room documents.
    pub documents: u64,
    /// Finished attachments.
    pub blobs: u64,
}

/// What names a document in an `R` frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentName {
    /// The document.
    pub id: RoomId,
    /// Its kind.
    pub kind: RoomKind,
    /// For a restricted document, its audience.
    pub scope: Option<Scope>,
}

/// What names an attachment in a `B` frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlobName {
    /// SHA-256 of the bytes, hex.
    pub hash: String,
    /// Its media type.
    pub media_type: String,
    /// The documents it was uploaded for.
    pub docs: Vec<RoomId>,
}

fn frame_head(out: &mut dyn Write, kind: u8, name: &[u8], len: u64) -> std::io::Result<()> {
    out.write_all(&[kind])?;
    out.write_all(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes())?;
    out.write_all(name)?;
    out.write_all(&len.to_be_bytes())
}

fn frame(out: &mut dyn Write, kind: u8, name: &[u8], data: &[u8]) -> std::io::Result<()> {
    frame_head(out, kind, name, data.len() as u64)?;
    out.write_all(data)
}

fn io(e: std::io::Error) -> RelayError {
    RelayError::Internal(format!("writing the backup: {e}"))
}

fn internal(e: impl std::fmt::Display) -> RelayError {
    RelayError::Internal(e.to_string())
}

impl Relay {
    /// Writes a backup of this running relay, whose data directory is `data`, to `out`.
    pub fn write_backup(
        &self,
        data: &Path,
        recovery: &Recovery,
        out: &mut dyn Write,
    ) -> Result<Counts, RelayError> {
        let manifest = Manifest {
            format: 1,
            taken_at: Timestamp::now(),
            journal_lines: recovery.journal.lines(),
            ledger_entries: recovery.ledger.entries(),
        };
        let mut counts = Counts::default();
        out.write_all(MAGIC).map_err(io)?;
        frame(
            out,
            b'M',
            b"manifest",
            &serde_json::to_vec(&manifest).map_err(internal)?,
        )
        .map_err(io)?;
        for name in FILES {
            match std::fs::read(data.join(name)) {
                Ok(bytes) => {
                    frame(out, b'F', name.as_bytes(), &bytes).map_err(io)?;
                    counts.files += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        for (collection, k, v) in self.directory().export_records()? {
            let mut data = Vec::with_capacity(4 + k.len() + v.len());
            data.extend_from_slice(&u32::try_from(k.len()).unwrap_or(u32::MAX).to_be_bytes());
            data.extend_from_slice(&k);
            data.extend_from_slice(&v);
            frame(out, b'D', collection.as_bytes(), &data).map_err(io)?;
            counts.records += 1;
        }
        for meta in self.documents().store().rooms().map_err(internal)? {
            let Some(handle) = self.documents().get(meta.id).map_err(internal)? else {
                continue;
            };
            let bytes = handle.read(|r| Ok(r.save())).map_err(internal)?;
            let name = DocumentName {
                id: meta.id,
                kind: meta.kind,
                scope: meta.scope.clone(),
            };
            frame(
                out,
                b'R',
                &serde_json::to_vec(&name).map_err(internal)?,
                &bytes,
            )
            .map_err(io)?;
            counts.documents += 1;
        }
        for (meta, docs) in self.blobs().finished_with_documents()? {
            let name = BlobName {
                hash: meta.hash.to_hex(),
                media_type: meta.media_type.clone(),
                docs,
            };
            frame_head(
                out,
                b'B',
                &serde_json::to_vec(&name).map_err(internal)?,
                meta.size,
            )
            .map_err(io)?;
            let mut at = 0u64;
            while at < meta.size {
                let piece = self
                    .blobs()
                    .store()
                    .read_at(&meta.hash, at, 4 * 1024 * 1024)
                    .map_err(internal)?;
                if piece.is_empty() {
                    return Err(RelayError::Internal(
                        "an attachment is shorter than its record says".into(),
                    ));
                }
                out.write_all(&piece).map_err(io)?;
                at += piece.len() as u64;
            }
            counts.blobs += 1;
        }
        let (log, head) = self.audit().complete_prefix().map_err(io)?;
        frame(out, b'F', b"audit/log.jsonl", &log).map_err(io)?;
        frame(out, b'F', b"audit/head", head.as_bytes()).map_err(io)?;
        counts.files += 2;
        frame(
            out,
            b'E',
            b"end",
            &serde_json::to_vec(&counts).map_err(internal)?,
        )
        .map_err(io)?;
        out.flush().map_err(io)?;
        Ok(counts)
    }
}

/// One frame read back.
pub enum Frame {
    /// The manifest.
    Manifest(Manifest),
    /// A file of the data directory: relative path, bytes.
    File(String, Vec<u8>),
    /// A directory record.
    Record(crate::identity::directory::RawRecord),
    /// A room document.
    Document(DocumentName, Vec<u8>),
    /// An attachment; its bytes follow in the reader (`size` of them), to be read by the
    /// caller before the next frame.
    Blob(BlobName, ContentHash, u64),
    /// The end, with the counts.
    End(Counts),
}

/// Reads a backup file frame by frame.
pub struct Reader<R: Read> {
    inner: R,
}

fn json<T: serde::de::DeserializeOwned>(b: &[u8]) -> std::io::Result<T> {
    serde_json::from_slice(b).map_err(|_| bad("a frame is unreadable"))
}

fn bad(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a whole Kizuna backup: {why}"),
    )
}

impl<R: Read> Reader<R> {
    /// Checks the magic.
    pub fn new(mut inner: R) -> std::io::Result<Self> {
        let mut magic = [0u8; MAGIC.len()];
        inner
            .read_exact(&mut magic)
            .map_err(|_| bad("the file is too short"))?;
        if magic != MAGIC {
            return Err(bad("it does not start with KIZUNA-BACKUP/1"));
        }
        Ok(Reader { inner })
    }

    /// The reader underneath (to read or skip a blob's bytes).
    pub fn inner(&mut self) -> &mut R {
        &mut self.inner
    }

    fn exact(&mut self, n: u64, what: &str) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        (&mut self.inner).take(n).read_to_end(&mut v)?;
        if v.len() as u64 != n {
            return Err(bad(what));
        }
        Ok(v)
    }

    /// The next frame (the file ends right after `E`).
    pub fn next_frame(&mut self) -> std::io::Result<Frame> {
        let mut head = [0u8; 5];
        self.inner
            .read_exact(&mut head)
            .map_err(|_| bad("it was cut short (no end frame)"))?;
        let name_len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if name_len > MAX_NAME {
            return Err(bad("a frame's name is too long"));
        }
        let name = self.exact(u64::from(name_len), "it was cut short in a frame's name")?;
        let mut len = [0u8; 8];
        self.inner
            .read_exact(&mut len)
            .map_err(|_| bad("it was cut short in a frame's length"))?;
        let len = u64::from_be_bytes(len);
        let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| bad("a frame's name is not text"));
        let small = |len: u64| {
            if len > 1024 * 1024 * 1024 {
                Err(bad("a frame is larger than any the relay writes"))
            } else {
                Ok(len)
            }
        };
        Ok(match head[0] {
            b'M' => Frame::Manifest(json(&self.exact(small(len)?, "cut short")?)?),
            b'F' => {
                let path = text(name)?;
                if path
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
                {
                    return Err(bad("a file's path leaves the data directory"));
                }
                Frame::File(path, self.exact(small(len)?, "cut short")?)
            }
            b'D' => {
                let data = self.exact(small(len)?, "cut short")?;
                let k_len = data
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .ok_or_else(|| bad("a directory record is short"))?;
                let k = data
                    .get(4..4 + k_len)
                    .ok_or_else(|| bad("a directory record is short"))?
                    .to_vec();
                let v = data[4 + k_len..].to_vec();
                Frame::Record((text(name)?, k, v))
            }
            b'R' => {
                let n: DocumentName = json(&name)?;
                Frame::Document(n, self.exact(small(len)?, "cut short")?)
            }
            b'B' => {
                let n: BlobName = json(&name)?;
                let hash: ContentHash = n
                    .hash
                    .parse()
                    .map_err(|_| bad("an attachment's hash is not SHA-256 hex"))?;
                Frame::Blob(n, hash, len)
            }
            b'E' => Frame::End(json(&self.exact(small(len)?, "cut short")?)?),
            _ => return Err(bad("a frame of an unknown kind")),
        })
    }
}
