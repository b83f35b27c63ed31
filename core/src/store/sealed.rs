//! AES-256-GCM sealing of single values (ring). Each value gets a fresh random nonce, and the
//! value's key is the associated data, so a record moved to another key fails to open.

use crate::error::StoreError;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes added to every sealed value: the nonce and the tag.
pub const OVERHEAD: usize = NONCE_LEN + 16;

/// Seals and opens values with one 256-bit key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer for a 32-byte key (from Keychain/Keystore on phones, a key file on the relay).
    pub fn new(key: &[u8]) -> Result<Self, StoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| StoreError::Crypto("the store key must be 32 bytes"))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plain`, bound to `aad`. Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("no randomness for a nonce"))?;
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let mut body = out.split_off(NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| StoreError::Crypto("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts what `seal` produced for the same `aad`; `Tampered` if anything differs.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < OVERHEAD {
            return Err(StoreError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StoreError::Tampered)?;
        let mut body = body.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| StoreError::Tampered)?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_changes() {
        let s = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = s.seal(b"k1", "褥瘡".as_bytes()).unwrap();
        assert_eq!(s.open(b"k1", &sealed).unwrap(), "褥瘡".as_bytes());
        assert!(matches!(s.open(b"k2", &sealed), Err(StoreError::Tampered)));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(s.open(b"k1", &flipped), Err(StoreError::Tampered)));
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert!(other.open(b"k1", &sealed).is_err());
        assert_ne!(
            s.seal(b"k1", b"x").unwrap(),
            s.seal(b"k1", b"x").unwrap(),
            "nonces must differ"
        );
    }

    #[test]
    fn refuses_short_keys() {
        assert!(Sealer::new(&[0u8; 16]).is_err());
    }
}
