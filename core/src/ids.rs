//! Identifiers. Every id is a random UUID minted where the thing is born (a report on the
//! phone, a device at enrollment, a room at the relay), so ids never collide offline and
//! never carry patient data into keys, file names or logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id's 16 bytes, used in store keys and Automerge actor ids.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::error::InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| crate::error::InvalidId(stringify!($name)))
            }
        }
    };
}

uuid_id!(
    /// A patient room, notice room or direct conversation; one Automerge document each.
    RoomId
);
uuid_id!(
    /// A professional registered by the city (the person, across all their devices).
    ProfessionalId
);
uuid_id!(
    /// One phone or tablet; also the Automerge actor id of every change it writes.
    DeviceId
);
uuid_id!(
    /// A care report, created on the device so it is stable before the relay numbers it.
    ReportId
);
uuid_id!(
    /// A reply comment on a report.
    CommentId
);
uuid_id!(
    /// One entry of a collection in the profile (a medication, a diagnosis, a family member…).
    EntryId
);
uuid_id!(
    /// A notice posted by the city in a notice or alert room.
    NoticeId
);
uuid_id!(
    /// A personal message in a direct conversation.
    MessageId
);

/// SHA-256 of an attachment's bytes. Attachments live outside the document and are
/// referenced by this hash, so a photo is stored once and its integrity can be checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes `bytes` with SHA-256.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        ContentHash(out)
    }

    /// Lower-case hex, the form used on the wire and in documents.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for ContentHash {
    type Err = crate::error::InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::error::InvalidId("ContentHash");
        if s.len() != 64 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(ContentHash(out))
    }
}

impl TryFrom<String> for ContentHash {
    type Error = crate::error::InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ContentHash> for String {
    fn from(h: ContentHash) -> String {
        h.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_round_trips_through_hex() {
        let h = ContentHash::of(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_hex().parse::<ContentHash>().ok(), Some(h));
        assert!("zz".parse::<ContentHash>().is_err());
    }

    #[test]
    fn ids_parse_and_reject_garbage() {
        let id = RoomId::new();
        assert_eq!(id.to_string().parse::<RoomId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<RoomId>().is_err());
    }
}
