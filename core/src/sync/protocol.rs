//! The sync wire format, version 1: postcard-encoded structs (compact binary, no schema
//! negotiation), checked against size limits before anything else looks at them.
//! `docs/protocol.md` describes it for implementers in other languages.

use crate::ids::RoomId;
use crate::people::RoomKind;
use crate::room::Scope;
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

/// The protocol version this code speaks. A request with another version gets a clear error.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest encoded request or response the core will decode.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// Most documents in one request.
pub const MAX_DOCS: usize = 5_000;
/// Most changes for one document in one request.
pub const MAX_CHANGES_PER_DOC: usize = 50_000;
/// Most heads a document may name (heads are concurrent branches; a handful is normal).
pub const MAX_HEADS: usize = 256;

/// A change hash on the wire.
pub type Hash = [u8; 32];

/// Converts heads for the wire.
pub fn to_wire(heads: &[ChangeHash]) -> Vec<Hash> {
    heads.iter().map(|h| h.0).collect()
}

/// Converts heads from the wire.
pub fn from_wire(heads: &[Hash]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// What a device sends: its view of each document it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// `PROTOCOL_VERSION`.
    pub version: u16,
    /// One entry per document the device holds (or creates).
    pub docs: Vec<DocSync>,
    /// Also send documents this device may see but did not list (new rooms, new
    /// restricted documents of its audience).
    pub discover: bool,
}

/// One document in a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSync {
    /// The document.
    pub doc: RoomId,
    /// The relay's heads as the device last saw them (everything up to them is on both sides).
    pub known_heads: Vec<Hash>,
    /// Changes made on the device since then, each a raw Automerge change.
    pub changes: Vec<Vec<u8>>,
    /// Set when the device created a restricted document the relay may not have yet.
    pub create: Option<Scope>,
    /// An Automerge sync message, when the two sides are in the fallback protocol.
    pub sync_message: Option<Vec<u8>>,
}

/// What the relay answers: one result per document that has news.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// `PROTOCOL_VERSION`.
    pub version: u16,
    /// Results; documents the device listed that are unchanged may be left out.
    pub docs: Vec<DocResult>,
    /// The relay held back some documents to keep this answer small: ask again at once.
    pub more: bool,
}

/// The relay's answer for one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocResult {
    /// The document.
    pub doc: RoomId,
    /// What happened.
    pub outcome: Outcome,
}

/// Facts about a document the device did not have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocInfo {
    /// Its kind.
    pub kind: RoomKind,
    /// For a restricted document, its room and audience.
    pub scope: Option<Scope>,
}

/// Outcomes, in the order a device handles them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The relay holds exactly the known heads and took nothing new.
    Unchanged,
    /// The device's changes (if any) were accepted and stored durably; here is what the
    /// device lacks, and the relay's heads after it.
    Updated {
        /// How many of the device's changes were new to the relay.
        accepted: u32,
        /// Changes the device lacks (raw Automerge changes).
        changes: Vec<Vec<u8>>,
        /// The relay's heads.
        heads: Vec<Hash>,
    },
    /// A document new to the device: its whole saved form.
    New {
        /// What it is.
        info: DocInfo,
        /// `save()` of the relay's document.
        bytes: Vec<u8>,
        /// The relay's heads.
        heads: Vec<Hash>,
    },
    /// The device's changes broke a write rule: none of them was stored or forwarded. The
    /// relay's own new changes still come back so the device stays current.
    Refused {
        /// The rule broken (no document content).
        reason: String,
        /// Changes the device lacks.
        changes: Vec<Vec<u8>>,
        /// The relay's heads.
        heads: Vec<Hash>,
    },
    /// The device may not (or may no longer) see this document: it should delete its copy.
    Gone,
    /// The relay does not know the heads or dependencies the device named: continue with
    /// Automerge's sync protocol, sending the reply in `DocSync::sync_message`.
    SyncMessage {
        /// The relay's sync message.
        message: Vec<u8>,
    },
}

/// Why bytes are not a valid message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Larger than `MAX_MESSAGE_BYTES`.
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// Not a postcard encoding of the expected type.
    #[error("message is not a valid sync message")]
    Malformed,
    /// Another protocol version.
    #[error("protocol version {0} is not supported (this side speaks {PROTOCOL_VERSION})")]
    Version(u16),
    /// A count over its limit.
    #[error("{0} over the limit")]
    Limit(&'static str),
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge);
    }
    // Bytes after a complete message are refused, not ignored: a message means one thing.
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(ProtocolError::Malformed),
    }
}

impl SyncRequest {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes and checks version and limits; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let req: SyncRequest = decode(bytes)?;
        if req.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version(req.version));
        }
        if req.docs.len() > MAX_DOCS {
            return Err(ProtocolError::Limit("documents"));
        }
        for d in &req.docs {
            if d.known_heads.len() > MAX_HEADS {
                return Err(ProtocolError::Limit("heads"));
            }
            if d.changes.len() > MAX_CHANGES_PER_DOC {
                return Err(ProtocolError::Limit("changes"));
            }
            if d.create.as_ref().is_some_and(|s| s.audience.len() > 500) {
                return Err(ProtocolError::Limit("audience"));
            }
        }
        Ok(req)
    }
}

impl SyncResponse {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes and checks the version; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let resp: SyncResponse = decode(bytes)?;
        if resp.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version(resp.version));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            docs: vec![DocSync {
                doc: RoomId::new(),
                known_heads: vec![[1; 32]],
                changes: vec![vec![1, 2, 3]],
                create: None,
                sync_message: None,
            }],
            discover: true,
        };
        assert_eq!(SyncRequest::decode(&req.encode()).unwrap(), req);
        assert_eq!(
            SyncRequest::decode(b"\xff\xff\xff"),
            Err(ProtocolError::Malformed)
        );
        let mut old = req.clone();
        old.version = 9;
        assert_eq!(
            SyncRequest::decode(&old.encode()),
            Err(ProtocolError::Version(9))
        );
        let mut trailing = req.encode();
        trailing.push(0);
        assert_eq!(
            SyncRequest::decode(&trailing),
            Err(ProtocolError::Malformed),
            "bytes after a whole message are refused"
        );
        for cut in 0..req.encode().len() {
            let _ = SyncRequest::decode(&req.encode()[..cut]);
        }
    }
}
