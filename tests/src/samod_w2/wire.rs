//! samod's wire as the device's end of the connection sees it: bytes and frames in each
//! direction, and what each frame is about (its document, whether it carries changes).

use std::sync::{Mutex, MutexGuard};

/// The log, even if a thread panicked holding it (its counts are still the best there are).
pub(super) fn lock(log: &Mutex<WireLog>) -> MutexGuard<'_, WireLog> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Device to relay.
    Up,
    /// Relay to device.
    Down,
}

/// One wire message, in the order the device's end saw it.
#[derive(Debug)]
pub(super) struct WireEvent {
    pub(super) direction: Direction,
    /// The `documentId` of the message, if it has one (the handshake has none).
    pub(super) document: Option<String>,
    /// Whether it is a sync message that carries changes.
    pub(super) carries_changes: bool,
}

/// Bytes and frames of one direction, with the part of a frame not yet complete.
#[derive(Default)]
pub(super) struct FrameReader {
    pub(super) bytes: u64,
    pub(super) frames: u64,
    pending: Vec<u8>,
}

impl FrameReader {
    /// Takes bytes of the stream; returns what each frame they complete is about.
    pub(super) fn feed(&mut self, data: &[u8]) -> Vec<FrameInfo> {
        self.bytes += data.len() as u64;
        self.pending.extend_from_slice(data);
        let mut complete = Vec::new();
        let mut at = 0;
        // samod's framing: tokio-util's LengthDelimitedCodec defaults, a 4-byte big-endian
        // length before each message.
        while let Some(header) = self.pending.get(at..at + 4) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let Some(frame) = self.pending.get(at + 4..at + 4 + len) else {
                break;
            };
            complete.push(frame_info(frame));
            self.frames += 1;
            at += 4 + len;
        }
        self.pending.drain(..at);
        complete
    }
}

/// What one samod wire message is about.
#[derive(Debug, Default, PartialEq)]
pub(super) struct FrameInfo {
    /// Its `documentId` field, if it has one.
    pub(super) document: Option<String>,
    /// Whether it is a `sync` or `request` message whose automerge sync message carries
    /// changes.
    pub(super) carries_changes: bool,
}

/// Reads a samod wire message: a CBOR map with `type`, `documentId` and, for sync
/// messages, `data` (an automerge sync message). Anything unreadable reads as empty.
fn frame_info(frame: &[u8]) -> FrameInfo {
    let mut decoder = minicbor::Decoder::new(frame);
    let mut info = FrameInfo::default();
    let Ok(Some(fields)) = decoder.map() else {
        return info;
    };
    let mut kind = None;
    let mut data = None;
    for _ in 0..fields {
        let Ok(key) = decoder.str() else {
            return info;
        };
        let read = match key {
            "type" => decoder.str().map(|t| kind = Some(t)),
            "data" => decoder.bytes().map(|d| data = Some(d)),
            "documentId" => match decoder.datatype() {
                Ok(minicbor::data::Type::String) => {
                    decoder.str().map(|d| info.document = Some(d.to_owned()))
                }
                Ok(minicbor::data::Type::Bytes) => decoder.bytes().map(|d| {
                    info.document = Some(d.iter().map(|x| format!("{x:02x}")).collect());
                }),
                _ => decoder.skip(),
            },
            _ => decoder.skip(),
        };
        if read.is_err() {
            return info;
        }
    }
    if let (Some("sync" | "request"), Some(data)) = (kind, data) {
        info.carries_changes = automerge::sync::Message::decode(data)
            .map(|message| !message.changes.is_empty())
            .unwrap_or(false);
    }
    info
}

/// What the device's end of the connection saw.
#[derive(Default)]
pub(super) struct WireLog {
    pub(super) up: FrameReader,
    pub(super) down: FrameReader,
    pub(super) events: Vec<WireEvent>,
    pub(super) connections: u32,
}

impl WireLog {
    pub(super) fn record(&mut self, direction: Direction, data: &[u8]) {
        let reader = match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        };
        for frame in reader.feed(data) {
            self.events.push(WireEvent {
                direction,
                document: frame.document,
                carries_changes: frame.carries_changes,
            });
        }
    }

    pub(super) fn total_bytes(&self) -> u64 {
        self.up.bytes + self.down.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_across_reads() {
        let mut reader = FrameReader::default();
        // A CBOR map {"documentId": "x1"} framed with a 4-byte length.
        let body = [
            0xa1, 0x6a, b'd', b'o', b'c', b'u', b'm', b'e', b'n', b't', b'I', b'd', 0x62, b'x',
            b'1',
        ];
        let mut wire = (body.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(&body);
        wire.extend_from_slice(&[0, 0, 0, 1, 0xa0]);
        assert!(reader.feed(&wire[..6]).is_empty());
        let frames = reader.feed(&wire[6..]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].document.as_deref(), Some("x1"));
        assert_eq!(frames[1], FrameInfo::default());
        assert_eq!(reader.frames, 2);
        assert_eq!(reader.bytes, wire.len() as u64);
        assert!(reader.pending.is_empty());
    }
}
