//! The encrypted view of a backend: every value sealed, a check record that tells a wrong key
//! apart from a damaged store.

use super::sealed::Sealer;
use super::{Backend, Pair, Space, Write, key};
use crate::error::StoreError;
use std::sync::Arc;

const CHECK_KEY: &[u8] = b"key-check";
const CHECK_VALUE: &[u8] = b"kizuna-store-v1";

/// A backend whose values are all AES-256-GCM sealed under one key.
#[derive(Clone)]
pub struct Vault {
    backend: Arc<dyn Backend>,
    sealer: Arc<Sealer>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// Opens the vault over `backend` with `key`. A new store records a check value; an
    /// existing one must open it, else `WrongKey`.
    pub fn open(backend: Arc<dyn Backend>, store_key: &[u8]) -> Result<Self, StoreError> {
        let sealer = Arc::new(Sealer::new(store_key)?);
        let vault = Vault { backend, sealer };
        let check = key(Space::Meta, &[CHECK_KEY]);
        match vault.backend.get(&check)? {
            Some(sealed) => match vault.sealer.open(&check, &sealed) {
                Ok(v) if v == CHECK_VALUE => {}
                Ok(_) => return Err(StoreError::Corrupt("key check record")),
                Err(_) => return Err(StoreError::WrongKey),
            },
            None => {
                let sealed = vault.sealer.seal(&check, CHECK_VALUE)?;
                vault.backend.apply(vec![Write::Put(check, sealed)])?;
            }
        }
        Ok(vault)
    }

    /// The sealer, for records kept outside the backend (attachment files) under the same key.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The plaintext at `key`.
    pub fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.backend.get(k)? {
            Some(sealed) => Ok(Some(self.sealer.open(k, &sealed)?)),
            None => Ok(None),
        }
    }

    /// All plaintext pairs under `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        self.backend
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, v)| {
                let plain = self.sealer.open(&k, &v)?;
                Ok((k, plain))
            })
            .collect()
    }

    /// Only the keys under `prefix` (nothing is decrypted).
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .backend
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// The last key under `prefix` (nothing is decrypted).
    pub fn last_key_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.backend.last_with_prefix(prefix)?.map(|(k, _)| k))
    }

    /// Seals the puts and applies the batch atomically and durably.
    pub fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let sealed = self.seal_all(writes)?;
        self.backend.apply(sealed)
    }

    /// Seals the puts and applies the batch atomically; durable after [`Vault::flush`].
    pub fn apply_unflushed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let sealed = self.seal_all(writes)?;
        self.backend.apply_unflushed(sealed)
    }

    /// Makes every batch applied so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.backend.flush()
    }

    fn seal_all(&self, writes: Vec<Write>) -> Result<Vec<Write>, StoreError> {
        writes
            .into_iter()
            .map(|w| match w {
                Write::Put(k, v) => {
                    let s = self.sealer.seal(&k, &v)?;
                    Ok(Write::Put(k, s))
                }
                d @ Write::Delete(_) => Ok(d),
            })
            .collect::<Result<Vec<_>, StoreError>>()
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.backend.size_on_disk()
    }
}
