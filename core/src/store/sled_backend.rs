//! The embedded default backend: one sled tree in a folder. sled allows one process per
//! folder, which suits a phone (one app) and a single relay node.

use super::{Backend, Pair, Write};
use crate::error::StoreError;
use std::path::Path;

/// sled behind the [`Backend`] trait.
pub struct SledBackend {
    db: sled::Db,
}

fn backend_err(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledBackend {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // Rooms are read whole once per load and then live in memory as documents, so sled's
        // page cache helps little. At 16 MiB (and sled holds more than its nominal size) it
        // was a good part of the relay's memory after a busy morning (W3).
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(4 * 1024 * 1024)
            .open()
            .map_err(backend_err)?;
        Ok(SledBackend { db })
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(backend_err)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(backend_err)
            })
            .collect()
    }

    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Pair>, StoreError> {
        match self.db.scan_prefix(prefix).next_back() {
            Some(r) => r
                .map(|(k, v)| Some((k.to_vec(), v.to_vec())))
                .map_err(backend_err),
            None => Ok(None),
        }
    }

    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_unflushed(writes)?;
        self.flush()
    }

    fn apply_unflushed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for w in writes {
            match w {
                Write::Put(k, v) => batch.insert(k, v),
                Write::Delete(k) => batch.remove(k),
            }
        }
        self.db.apply_batch(batch).map_err(backend_err)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // sled writes its log in order and lets concurrent flushes share one disk write.
        self.db.flush().map(drop).map_err(backend_err)
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(backend_err)
    }
}
