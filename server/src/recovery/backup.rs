//! The backup file `kizuna admin backup` writes and `kizuna admin restore` reads, taken from
//! the running relay (`GET /v1/admin/backup`).
//!
//! One file: `KIZUNA-BACKUP/2` and a newline, then frames of (kind: 1 byte, name: u32
//! length + bytes, data: u64 length + bytes, big-endian), ending with an `E` frame that
//! counts what came before (a file without it was cut short and is refused whole). Frames:
//! `M` the manifest (JSON, first), `F` a file of the data directory (the CA, the
//! administrator's identity, every file of the audit log up to its last complete record),
//! `D` a directory record, `R` a room document (a whole Automerge save), `B` a finished
//! attachment.
//!
//! Sealed with the store key: the data of every `F`, `D` and `R` frame is sealed
//! (AES-256-GCM, `kizuna_core::store::Sealer`) and bound to the frame's position, kind and
//! name; a `B` frame's bytes are sealed in pieces of [`BLOB_PIECE`], each bound the same way
//! and to its number. Names hold only ids, kinds, hashes and media types. The manifest is
//! plain and carries a value sealed with the key, so a restore with another key is refused
//! before it touches anything. `store.key` itself is **not** in the backup: without the copy
//! the operator keeps apart from the backups, a backup opens nothing. Format 1 (before)
//! held everything, the store key included, in plain; restore still reads it.
//!
//! Consistency while serving: the journal's and the ledger's positions are read first; each
//! document is saved whole under its own lock; what changed in the directory while it was
//! copied is in the journal after the recorded position, which the restore replays; what
//! changed in documents after their copy is in the ledger, and the phones bring it back.

use super::Recovery;
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_core::room::Scope;
use kizuna_core::store::Sealer;
use kizuna_core::{ContentHash, RoomId, RoomKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// The first bytes of a backup file.
pub const MAGIC: &[u8] = b"KIZUNA-BACKUP/2\n";
/// The first bytes of a backup of format 1 (everything plain, the store key inside).
pub const MAGIC_V1: &[u8] = b"KIZUNA-BACKUP/1\n";
/// Largest name of a frame.
const MAX_NAME: u32 = 64 * 1024;
/// An attachment's bytes are sealed in pieces of this size (the last one shorter).
pub const BLOB_PIECE: u64 = 4 * 1024 * 1024;
/// What the manifest's key check seals.
const KEY_CHECK: &[u8] = b"kizuna-backup/2 key check";

/// Files of the data directory a backup holds, when present. Not `store.key`: it is what
/// opens the backup, and is kept apart from it. During a CA rotation, both CAs.
pub const FILES: [&str; 10] = [
    "ca.crt",
    "ca.key",
    "ca-next.crt",
    "ca-next.key",
    "ca-next.cross.crt",
    "ca.cross.crt",
    "admin/admin.crt",
    "admin/admin.key",
    "demo/admin.crt",
    "demo/admin.key",
];

/// The first frame: when, and how far the journal and the ledger had got.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (2; 1 before the backup was sealed).
    pub format: u32,
    /// When the backup was taken.
    pub taken_at: Timestamp,
    /// Lines of the directory's journal at that moment.
    pub journal_lines: u64,
    /// Entries of the ledger of stored changes at that moment.
    pub ledger_entries: u64,
    /// Format 2: a known value sealed with the store key (hex), so a restore tells a wrong
    /// key before it opens anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
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
    /// Format 2: its plain size (the frame holds it sealed in pieces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// What a sealed frame (or a piece of a `B` frame's bytes) is bound to.
fn frame_aad(index: u64, kind: u8, name: &[u8], piece: Option<u64>) -> Vec<u8> {
    let mut a = Vec::with_capacity(32 + name.len());
    a.extend_from_slice(b"kizuna backup\0");
    a.extend_from_slice(&index.to_be_bytes());
    a.push(kind);
    a.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    a.extend_from_slice(name);
    if let Some(p) = piece {
        a.extend_from_slice(&p.to_be_bytes());
    }
    a
}

/// Bytes a `B` frame of `size` plain bytes takes in a format 2 file.
fn sealed_blob_len(size: u64) -> u64 {
    size + size.div_ceil(BLOB_PIECE) * kizuna_core::store::sealed::OVERHEAD as u64
}

fn key_check(sealer: &Sealer) -> Result<String, RelayError> {
    let sealed = sealer
        .seal(&frame_aad(0, b'M', b"key check", None), KEY_CHECK)
        .map_err(internal)?;
    Ok(sealed.iter().map(|b| format!("{b:02x}")).collect())
}

fn key_check_opens(sealer: &Sealer, hex: &str) -> bool {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.is_some_and(|b| {
        sealer
            .open(&frame_aad(0, b'M', b"key check", None), &b)
            .is_ok_and(|v| v == KEY_CHECK)
    })
}

/// The writing side: counts frames (their position is sealed into each) and seals data.
struct Out<'a> {
    out: &'a mut dyn Write,
    sealer: &'a Sealer,
    index: u64,
}

impl Out<'_> {
    fn plain(&mut self, kind: u8, name: &[u8], data: &[u8]) -> Result<(), RelayError> {
        frame(self.out, kind, name, data).map_err(io)?;
        self.index += 1;
        Ok(())
    }

    fn sealed(&mut self, kind: u8, name: &[u8], data: &[u8]) -> Result<(), RelayError> {
        let sealed = self
            .sealer
            .seal(&frame_aad(self.index, kind, name, None), data)
            .map_err(internal)?;
        self.plain(kind, name, &sealed)
    }
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
        let sealer = recovery.journal.sealer();
        let manifest = Manifest {
            format: 2,
            taken_at: Timestamp::now(),
            journal_lines: recovery.journal.lines(),
            ledger_entries: recovery.ledger.entries(),
            key_check: Some(key_check(sealer)?),
        };
        let mut counts = Counts::default();
        out.write_all(MAGIC).map_err(io)?;
        let mut out = Out {
            out,
            sealer,
            index: 0,
        };
        out.plain(
            b'M',
            b"manifest",
            &serde_json::to_vec(&manifest).map_err(internal)?,
        )?;
        for name in FILES {
            match std::fs::read(data.join(name)) {
                Ok(bytes) => {
                    out.sealed(b'F', name.as_bytes(), &bytes)?;
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
            out.sealed(b'D', collection.as_bytes(), &data)?;
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
            out.sealed(b'R', &serde_json::to_vec(&name).map_err(internal)?, &bytes)?;
            counts.documents += 1;
        }
        for (meta, docs) in self.blobs().finished_with_documents()? {
            let name = BlobName {
                hash: meta.hash.to_hex(),
                media_type: meta.media_type.clone(),
                docs,
                size: Some(meta.size),
            };
            let name = serde_json::to_vec(&name).map_err(internal)?;
            frame_head(out.out, b'B', &name, sealed_blob_len(meta.size)).map_err(io)?;
            let (mut at, mut piece_no) = (0u64, 0u64);
            while at < meta.size {
                let want = (meta.size - at).min(BLOB_PIECE);
                let mut piece = Vec::with_capacity(want as usize);
                while (piece.len() as u64) < want {
                    let more = self
                        .blobs()
                        .store()
                        .read_at(
                            &meta.hash,
                            at + piece.len() as u64,
                            (want as usize) - piece.len(),
                        )
                        .map_err(internal)?;
                    if more.is_empty() {
                        return Err(RelayError::Internal(
                            "an attachment is shorter than its record says".into(),
                        ));
                    }
                    piece.extend_from_slice(&more);
                }
                let sealed = sealer
                    .seal(&frame_aad(out.index, b'B', &name, Some(piece_no)), &piece)
                    .map_err(internal)?;
                out.out.write_all(&sealed).map_err(io)?;
                at += want;
                piece_no += 1;
            }
            out.index += 1;
            counts.blobs += 1;
        }
        // Every file of the audit log (closed segments, then the live file) up to its last
        // complete record, and the head line naming that record.
        let (files, head) = self.audit().complete_files().map_err(internal)?;
        for f in files {
            let mut bytes = vec![0u8; usize::try_from(f.len).unwrap_or(usize::MAX)];
            std::os::unix::fs::FileExt::read_exact_at(&f.file, &mut bytes, 0).map_err(io)?;
            out.sealed(b'F', format!("audit/{}", f.name).as_bytes(), &bytes)?;
            counts.files += 1;
        }
        out.sealed(b'F', b"audit/head", head.as_bytes())?;
        counts.files += 1;
        out.plain(
            b'E',
            b"end",
            &serde_json::to_vec(&counts).map_err(internal)?,
        )?;
        out.out.flush().map_err(io)?;
        // Written whole: from now on the ledger keeps what restoring this backup needs.
        recovery
            .note_backup(&super::BackupMark {
                taken_at: manifest.taken_at,
                ledger_entries: manifest.ledger_entries,
            })
            .map_err(io)?;
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
    /// An attachment; its bytes follow in the reader (`len` of them in the file), to be
    /// read by the caller before the next frame: with [`Reader::copy_blob`], or skipped.
    Blob(BlobName, ContentHash, u64),
    /// A sealed frame of this kind, read by a reader without the store key (it checks only
    /// that the file is whole).
    Sealed(u8),
    /// The end, with the counts.
    End(Counts),
}

/// Reads a backup file frame by frame.
pub struct Reader<R: Read> {
    inner: R,
    format: u32,
    sealer: Option<Arc<Sealer>>,
    index: u64,
    /// The last `B` frame: its position, its name as written, its plain size.
    blob: Option<(u64, Vec<u8>, Option<u64>)>,
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

fn sealed_bad() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a frame of the backup does not open with the store key (changed, or cut and \
         spliced)",
    )
}

impl<R: Read> Reader<R> {
    /// Checks the magic. `sealer` (the store key) opens a format 2 backup's frames; without
    /// it they are read as [`Frame::Sealed`], enough to check the file is whole.
    pub fn new(mut inner: R, sealer: Option<Arc<Sealer>>) -> std::io::Result<Self> {
        let mut magic = [0u8; MAGIC.len()];
        inner
            .read_exact(&mut magic)
            .map_err(|_| bad("the file is too short"))?;
        let format = if magic == MAGIC {
            2
        } else if magic == MAGIC_V1 {
            1
        } else {
            return Err(bad("it does not start with KIZUNA-BACKUP/2 (or /1)"));
        };
        Ok(Reader {
            inner,
            format,
            sealer,
            index: 0,
            blob: None,
        })
    }

    /// The format of the file (1: plain, 2: sealed with the store key).
    pub fn format(&self) -> u32 {
        self.format
    }

    /// The reader underneath (to skip a blob's bytes).
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

    /// Copies the plain bytes of the `B` frame just read (`len` bytes in the file) to `out`,
    /// opening each piece of a format 2 backup. Needs the store key for format 2.
    pub fn copy_blob(&mut self, len: u64, out: &mut dyn Write) -> std::io::Result<u64> {
        if self.format == 1 {
            let n = std::io::copy(&mut (&mut self.inner).take(len), out)?;
            if n != len {
                return Err(bad("it was cut short inside an attachment"));
            }
            return Ok(n);
        }
        let Some(sealer) = self.sealer.clone() else {
            return Err(bad("an attachment needs the store key to be read"));
        };
        let Some((index, name, Some(size))) = self.blob.take() else {
            return Err(bad("an attachment's size is missing"));
        };
        if sealed_blob_len(size) != len {
            return Err(bad("an attachment's length does not match its size"));
        }
        let (mut at, mut piece_no) = (0u64, 0u64);
        while at < size {
            let want = (size - at).min(BLOB_PIECE);
            let sealed = self.exact(
                want + kizuna_core::store::sealed::OVERHEAD as u64,
                "it was cut short inside an attachment",
            )?;
            let plain = sealer
                .open(&frame_aad(index, b'B', &name, Some(piece_no)), &sealed)
                .map_err(|_| sealed_bad())?;
            out.write_all(&plain)?;
            at += want;
            piece_no += 1;
        }
        Ok(size)
    }

    /// The next frame (the file ends right after `E`).
    pub fn next_frame(&mut self) -> std::io::Result<Frame> {
        let mut head = [0u8; 5];
        self.inner
            .read_exact(&mut head)
            .map_err(|_| bad("it was cut short (no end frame)"))?;
        let index = self.index;
        self.index += 1;
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
        let kind = head[0];
        // The data of a sealed frame, opened; `None` without the store key.
        let data = match kind {
            b'F' | b'D' | b'R' => {
                let raw = self.exact(small(len)?, "cut short")?;
                match (self.format, &self.sealer) {
                    (1, _) => Some(raw),
                    (_, Some(sealer)) => Some(
                        sealer
                            .open(&frame_aad(index, kind, &name, None), &raw)
                            .map_err(|_| sealed_bad())?,
                    ),
                    (_, None) => None,
                }
            }
            _ => None,
        };
        if data.is_none() && matches!(kind, b'F' | b'D' | b'R') {
            return Ok(Frame::Sealed(kind));
        }
        let data = data.unwrap_or_default();
        Ok(match kind {
            b'M' => {
                let m: Manifest = json(&self.exact(small(len)?, "cut short")?)?;
                if self.format == 2
                    && let Some(sealer) = &self.sealer
                    && !m
                        .key_check
                        .as_deref()
                        .is_some_and(|k| key_check_opens(sealer, k))
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the backup was sealed with another store key: put the store.key of \
                         the relay that took it (the copy kept apart from the backups) in the \
                         data directory",
                    ));
                }
                Frame::Manifest(m)
            }
            b'F' => {
                let path = text(name)?;
                if path
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
                {
                    return Err(bad("a file's path leaves the data directory"));
                }
                Frame::File(path, data)
            }
            b'D' => {
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
                Frame::Document(n, data)
            }
            b'B' => {
                let n: BlobName = json(&name)?;
                let hash: ContentHash = n
                    .hash
                    .parse()
                    .map_err(|_| bad("an attachment's hash is not SHA-256 hex"))?;
                self.blob = Some((index, name, n.size));
                Frame::Blob(n, hash, len)
            }
            b'E' => Frame::End(json(&self.exact(small(len)?, "cut short")?)?),
            _ => return Err(bad("a frame of an unknown kind")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(format: u32, key_check: Option<String>) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format,
            taken_at: Timestamp(1),
            journal_lines: 0,
            ledger_entries: 0,
            key_check,
        })
        .unwrap()
    }

    fn record(k: &[u8], v: &[u8]) -> Vec<u8> {
        let mut d = (k.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(k);
        d.extend_from_slice(v);
        d
    }

    /// A backup of an older relay (format 1, plain frames) still reads, without a key.
    #[test]
    fn a_format_1_backup_reads_in_plain() {
        let mut file = MAGIC_V1.to_vec();
        frame(&mut file, b'M', b"manifest", &manifest(1, None)).unwrap();
        frame(&mut file, b'D', b"meta", &record(b"k", b"v")).unwrap();
        frame(
            &mut file,
            b'E',
            b"end",
            &serde_json::to_vec(&Counts::default()).unwrap(),
        )
        .unwrap();
        let mut r = Reader::new(&file[..], None).unwrap();
        assert_eq!(r.format(), 1);
        assert!(matches!(r.next_frame().unwrap(), Frame::Manifest(m) if m.format == 1));
        match r.next_frame().unwrap() {
            Frame::Record((c, k, v)) => {
                assert_eq!((c.as_str(), &k[..], &v[..]), ("meta", &b"k"[..], &b"v"[..]))
            }
            _ => panic!("not a record"),
        }
        assert!(matches!(r.next_frame().unwrap(), Frame::End(_)));
    }

    /// Format 2: a sealed frame opens with the key at its own position only; without the
    /// key it reads as sealed; with another key the manifest is refused.
    #[test]
    fn format_2_frames_open_with_the_key_at_their_position() {
        let key = Sealer::new(&[3; 32]).unwrap();
        let data = record(b"k", "佐藤 美咲".as_bytes());
        let sealed = key.seal(&frame_aad(1, b'D', b"meta", None), &data).unwrap();
        let mut file = MAGIC.to_vec();
        frame(
            &mut file,
            b'M',
            b"manifest",
            &manifest(2, Some(key_check(&key).unwrap())),
        )
        .unwrap();
        frame(&mut file, b'D', b"meta", &sealed).unwrap();
        frame(
            &mut file,
            b'E',
            b"end",
            &serde_json::to_vec(&Counts::default()).unwrap(),
        )
        .unwrap();
        assert!(!file.windows("佐藤".len()).any(|w| w == "佐藤".as_bytes()));

        let mut r = Reader::new(&file[..], Some(Arc::new(Sealer::new(&[3; 32]).unwrap()))).unwrap();
        r.next_frame().unwrap();
        assert!(
            matches!(r.next_frame().unwrap(), Frame::Record((_, _, v)) if v == "佐藤 美咲".as_bytes())
        );

        let mut r = Reader::new(&file[..], None).unwrap();
        r.next_frame().unwrap();
        assert!(matches!(r.next_frame().unwrap(), Frame::Sealed(b'D')));
        assert!(matches!(r.next_frame().unwrap(), Frame::End(_)));

        let mut r = Reader::new(&file[..], Some(Arc::new(Sealer::new(&[4; 32]).unwrap()))).unwrap();
        let err = r.next_frame().err().unwrap();
        assert!(err.to_string().contains("another store key"), "{err}");

        // The same frame one position later (a frame inserted before it) does not open.
        let mut moved = MAGIC.to_vec();
        frame(
            &mut moved,
            b'M',
            b"manifest",
            &manifest(2, Some(key_check(&key).unwrap())),
        )
        .unwrap();
        frame(
            &mut moved,
            b'D',
            b"meta",
            &key.seal(&frame_aad(1, b'D', b"meta", None), &data).unwrap(),
        )
        .unwrap();
        frame(&mut moved, b'D', b"meta", &sealed).unwrap();
        let mut r =
            Reader::new(&moved[..], Some(Arc::new(Sealer::new(&[3; 32]).unwrap()))).unwrap();
        r.next_frame().unwrap();
        r.next_frame().unwrap();
        assert!(
            r.next_frame()
                .err()
                .unwrap()
                .to_string()
                .contains("does not open")
        );
    }
}
