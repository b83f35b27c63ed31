//! The samod half of W2 (`docs/workloads.md`): the same reconnect through
//! [samod](https://crates.io/crates/samod), the Rust automerge-repo, side by side with our own
//! sync in the same `kizuna-bench w2` run.
//!
//! [`samod_reconnect`] starts two samod repositories in this process, a "relay" and a
//! "device", each holding its own copy of the same rooms under the same samod document ids,
//! connects the device to the relay over one loopback TCP connection (samod's native
//! length-delimited framing, the transport its `TcpDialer` uses; plain TCP, no TLS), and waits
//! until every room has the same heads on both sides. samod starts every connection with fresh
//! sync state (it keeps none across connections), which is exactly what W2 compares against.
//!
//! How the documents get the same ids: samod has no "import this document under this id" call,
//! but a repository loads a document from its [`Storage`] by id, from every value stored under
//! the key prefixes `[id, "snapshot"]` and `[id, "incremental"]`
//! (`samod_core::StorageKey::snapshot_prefix`). So each side's in-memory storage is filled
//! before its repository starts, with the saved bytes of room `i` under
//! `[id_i, "snapshot", "w2-import"]`, `id_i` being a fixed UUID made from `i`. The device then
//! opens (`Repo::find`) its 30 rooms before it connects, as an app that is running when the
//! network comes back; the relay opens nothing itself: its document actors start when the
//! device's first sync message for a room arrives, as a sync server's do.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use samod::storage::{InMemoryStorage, Storage as _, StorageKey};
use samod::{BackoffConfig, DialError, Dialer, DocHandle, DocumentId, PeerId, Repo, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The longest a reconnect may take before [`samod_reconnect`] gives up.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Figures of one samod reconnect.
#[derive(Debug, Clone, PartialEq)]
pub struct SamodFigures {
    /// Bytes on the wire in both directions (`up_bytes + down_bytes`): every byte samod wrote
    /// to or read from the TCP connection, handshake and 4-byte frame headers included, from
    /// the connect until the connection has been quiet for 100 ms after convergence (so the
    /// protocol's closing acknowledgements count too). Plain TCP: there is no TLS on samod's
    /// side, and no TCP/IP header bytes are counted.
    pub doc_bytes: u64,
    /// Bytes the device sent to the relay.
    pub up_bytes: u64,
    /// Bytes the relay sent to the device.
    pub down_bytes: u64,
    /// Round trips on the critical path to convergence. Every samod wire message is decoded
    /// (its `type`, its `documentId`, and whether its automerge sync message carries
    /// changes). For each room, the directions of the messages of no room (the `join`/`peer`
    /// handshake) and of that room, in the order the device's end of the connection saw
    /// them, up to and including the room's last message that carries changes (after it,
    /// both sides hold the same heads; later acknowledgements are not waited for), are cut
    /// into runs of one direction, and the room needs `ceil(runs / 2)` round trips: a request
    /// and its answer are one, and a last one-way message counts as a whole one, since it
    /// must cross the link before that side holds the heads. The rooms sync concurrently
    /// over the one connection, so the figure is the largest count of any room. The
    /// handshake is included: it is one round trip before any sync message may be sent.
    pub round_trips: u64,
    /// The coarser count: the same `ceil(runs / 2)` over all messages of the connection, of
    /// any room, up to the last one that carries changes. With 30 rooms interleaved it
    /// counts the times the traffic turned around, not the latency a room waits for.
    pub wire_round_trips: u64,
    /// Wire messages (frames) the device sent, up to quiet.
    pub messages_up: u64,
    /// Wire messages (frames) the relay sent, up to quiet.
    pub messages_down: u64,
    /// Milliseconds from the start of the TCP connect until every room holds the merged heads
    /// on both sides (the device's rooms are open before; the relay loads each room from its
    /// in-memory storage when the room's first message arrives, inside this time).
    pub wall_ms: f64,
}

/// Runs one samod reconnect of the W2 shape and returns its figures.
///
/// `relay_docs`: the relay-side documents (saved automerge bytes, one per room, already
/// holding the other devices' new changes). `device_docs`: the device-side documents (saved
/// bytes; same rooms in the same order, same history up to yesterday plus this device's
/// offline changes).
///
/// Starts a samod "relay" repo holding `relay_docs` and a samod "device" repo holding
/// `device_docs` under the same document ids (see the module documentation), connects them
/// over one loopback TCP connection whose bytes are counted in both directions at the
/// device's end, and waits until every document has on both sides the heads of the merge of
/// its two copies (computed beforehand, outside the timing).
///
/// Runs on a tokio runtime of its own (two workers) on a thread of its own, so it may be
/// called from anywhere, an async context included (it blocks the calling thread).
pub fn samod_reconnect(
    relay_docs: Vec<Vec<u8>>,
    device_docs: Vec<Vec<u8>>,
) -> Result<SamodFigures, String> {
    let worker = std::thread::Builder::new()
        .name("samod-w2".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            let result = runtime.block_on(async {
                tokio::time::timeout(TIMEOUT, reconnect(relay_docs, device_docs))
                    .await
                    .unwrap_or_else(|_| Err(format!("samod did not converge in {TIMEOUT:?}")))
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
            result
        })
        .map_err(|e| format!("samod thread: {e}"))?;
    worker
        .join()
        .map_err(|_| "the samod thread panicked".to_string())?
}

/// The samod document id of room `index`: a fixed UUID, so runs are comparable.
pub fn room_document_id(index: usize) -> DocumentId {
    let id = uuid::Uuid::from_u128(0x6b69_7a75_6e61_4000_8000_0000_0000_0000 | index as u128);
    // A UUID is always 16 bytes, which is all a DocumentId checks.
    DocumentId::try_from(id.as_bytes().to_vec()).unwrap_or_else(|_| unreachable!())
}

/// The heads both sides must end with: those of the merge of the two copies, sorted.
fn merged_heads(relay: &[u8], device: &[u8]) -> Result<Vec<ChangeHash>, String> {
    let mut doc = Automerge::load(relay).map_err(|e| format!("relay document: {e}"))?;
    doc.load_incremental(device)
        .map_err(|e| format!("device document: {e}"))?;
    let mut heads = doc.get_heads();
    heads.sort();
    Ok(heads)
}

/// A repository whose storage holds `docs`, document `i` under [`room_document_id`]`(i)`.
async fn repo_with(peer: &str, docs: Vec<Vec<u8>>) -> Result<Repo, String> {
    let storage = InMemoryStorage::new();
    for (i, bytes) in docs.into_iter().enumerate() {
        let key = StorageKey::from_parts([
            room_document_id(i).to_string().as_str(),
            "snapshot",
            "w2-import",
        ])
        .map_err(|e| format!("storage key: {e:?}"))?;
        storage.put(key, bytes).await;
    }
    Ok(Repo::build_tokio()
        .with_storage(storage)
        .with_peer_id(PeerId::from(peer))
        .load()
        .await)
}

async fn reconnect(
    relay_docs: Vec<Vec<u8>>,
    device_docs: Vec<Vec<u8>>,
) -> Result<SamodFigures, String> {
    if relay_docs.len() != device_docs.len() {
        return Err(format!(
            "{} relay documents but {} device documents",
            relay_docs.len(),
            device_docs.len()
        ));
    }
    let rooms = relay_docs.len();
    let targets = relay_docs
        .iter()
        .zip(&device_docs)
        .map(|(r, d)| merged_heads(r, d))
        .collect::<Result<Vec<_>, _>>()?;

    let relay = repo_with("w2-relay", relay_docs).await?;
    let device = repo_with("w2-device", device_docs).await?;

    // The device's rooms are open before the network comes back.
    let mut device_handles = Vec::with_capacity(rooms);
    for i in 0..rooms {
        let handle = device
            .find(room_document_id(i))
            .await
            .map_err(|e| format!("device find: {e}"))?
            .ok_or_else(|| format!("device room {i} not in its storage"))?;
        device_handles.push(handle);
    }

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("local addr: {e}"))?;
    let url = samod::Url::parse(&format!("tcp://{addr}")).map_err(|e| format!("url: {e}"))?;
    let acceptor = relay
        .make_acceptor(url.clone())
        .map_err(|e| format!("relay acceptor: {e}"))?;
    let accept_task = {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // samod's own TcpDialer leaves Nagle on; off on both ends, so that no
                // message waits for a delayed ACK (our side's HTTP client turns it off too).
                let _ = stream.set_nodelay(true);
                if acceptor.accept(Transport::from_tokio_io(stream)).is_err() {
                    break;
                }
            }
        })
    };

    let log = Arc::new(Mutex::new(WireLog::default()));
    let start = Instant::now();
    let dialer = device
        .dial(
            BackoffConfig::default(),
            Arc::new(CountingDialer {
                addr,
                url,
                log: log.clone(),
            }),
        )
        .map_err(|e| format!("device dial: {e}"))?;

    // Wait for the device's rooms, then the relay's (opening a room on the relay after its
    // actor is running attaches to that actor and sends nothing).
    futures::future::try_join_all(
        device_handles
            .iter()
            .zip(&targets)
            .map(|(handle, target)| wait_for_heads(handle, target)),
    )
    .await?;
    futures::future::try_join_all(targets.iter().enumerate().map(|(i, target)| {
        let relay = &relay;
        async move {
            let handle = relay
                .find(room_document_id(i))
                .await
                .map_err(|e| format!("relay find: {e}"))?
                .ok_or_else(|| format!("relay room {i} not found"))?;
            wait_for_heads(&handle, target).await
        }
    }))
    .await?;
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;

    // Let the closing acknowledgements cross before the bytes are read.
    let mut last = lock(&log).total_bytes();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = lock(&log).total_bytes();
        if now == last {
            break;
        }
        last = now;
    }

    dialer.close();
    acceptor.close();
    device.stop().await;
    relay.stop().await;
    accept_task.abort();

    let log = lock(&log);
    if log.connections != 1 {
        return Err(format!(
            "samod made {} connections instead of one",
            log.connections
        ));
    }
    let events = &log.events;
    let last_changes = events
        .iter()
        .rposition(|e| e.carries_changes)
        .map_or(0, |i| i + 1);
    Ok(SamodFigures {
        doc_bytes: log.up.bytes + log.down.bytes,
        up_bytes: log.up.bytes,
        down_bytes: log.down.bytes,
        round_trips: room_round_trips(events),
        wire_round_trips: round_trips_of(events[..last_changes].iter().map(|e| e.direction)),
        messages_up: log.up.frames,
        messages_down: log.down.frames,
        wall_ms,
    })
}

/// Resolves once `handle`'s document has exactly the heads `target` (sorted).
async fn wait_for_heads(handle: &DocHandle, target: &[ChangeHash]) -> Result<(), String> {
    let mut changes = handle.changes();
    loop {
        let mut heads = handle.with_document(|doc| doc.get_heads());
        heads.sort();
        if heads == target {
            return Ok(());
        }
        if changes.next().await.is_none() {
            return Err(format!(
                "document {} closed before converging",
                handle.document_id()
            ));
        }
    }
}

/// `ceil(runs / 2)` of a sequence of directions, runs being its maximal one-direction parts.
fn round_trips_of(directions: impl Iterator<Item = Direction>) -> u64 {
    let mut runs = 0u64;
    let mut previous = None;
    for direction in directions {
        if previous != Some(direction) {
            runs += 1;
            previous = Some(direction);
        }
    }
    runs.div_ceil(2)
}

/// The largest per-room round-trip count (see [`SamodFigures::round_trips`]).
fn room_round_trips(events: &[WireEvent]) -> u64 {
    let mut rooms: Vec<&str> = events
        .iter()
        .filter_map(|e| e.document.as_deref())
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    let handshake = events
        .iter()
        .position(|e| e.document.is_some())
        .unwrap_or(events.len());
    let mut most = round_trips_of(events[..handshake].iter().map(|e| e.direction));
    for room in rooms {
        let of_room = |e: &WireEvent| e.document.as_deref() == Some(room);
        // The room holds the same heads on both sides once its last message carrying
        // changes has arrived; what follows (acknowledgements) is not waited for. A room
        // with no news on either side is converged before any of its messages.
        let end = match events.iter().rposition(|e| of_room(e) && e.carries_changes) {
            Some(last) => last + 1,
            None => events.iter().position(of_room).unwrap_or(events.len()),
        };
        let trips = round_trips_of(
            events[..end]
                .iter()
                .filter(|e| e.document.is_none() || of_room(e))
                .map(|e| e.direction),
        );
        most = most.max(trips);
    }
    most
}

fn lock(log: &Mutex<WireLog>) -> MutexGuard<'_, WireLog> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Device to relay.
    Up,
    /// Relay to device.
    Down,
}

/// One wire message, in the order the device's end saw it.
#[derive(Debug)]
struct WireEvent {
    direction: Direction,
    /// The `documentId` of the message, if it has one (the handshake has none).
    document: Option<String>,
    /// Whether it is a sync message that carries changes.
    carries_changes: bool,
}

/// Bytes and frames of one direction, with the part of a frame not yet complete.
#[derive(Default)]
struct FrameReader {
    bytes: u64,
    frames: u64,
    pending: Vec<u8>,
}

impl FrameReader {
    /// Takes bytes of the stream; returns what each frame they complete is about.
    fn feed(&mut self, data: &[u8]) -> Vec<FrameInfo> {
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
struct FrameInfo {
    /// Its `documentId` field, if it has one.
    document: Option<String>,
    /// Whether it is a `sync` or `request` message whose automerge sync message carries
    /// changes.
    carries_changes: bool,
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
struct WireLog {
    up: FrameReader,
    down: FrameReader,
    events: Vec<WireEvent>,
    connections: u32,
}

impl WireLog {
    fn record(&mut self, direction: Direction, data: &[u8]) {
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

    fn total_bytes(&self) -> u64 {
        self.up.bytes + self.down.bytes
    }
}

/// The device's TCP stream, logging every byte read and written.
struct CountingStream {
    inner: TcpStream,
    log: Arc<Mutex<WireLog>>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                lock(&self.log).record(Direction::Down, read);
            }
        }
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            lock(&self.log).record(Direction::Up, &buf[..written]);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// samod's TCP dialer, with the stream wrapped in a [`CountingStream`].
struct CountingDialer {
    addr: SocketAddr,
    url: samod::Url,
    log: Arc<Mutex<WireLog>>,
}

impl Dialer for CountingDialer {
    type Error = Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Infallible>>> {
        let addr = self.addr;
        let log = self.log.clone();
        Box::pin(async move {
            let inner = TcpStream::connect(addr)
                .await
                .map_err(DialError::transient)?;
            inner.set_nodelay(true).map_err(DialError::transient)?;
            lock(&log).connections += 1;
            Ok(Transport::from_tokio_io(CountingStream { inner, log }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(sequence: &[(Direction, Option<&str>, bool)]) -> Vec<WireEvent> {
        sequence
            .iter()
            .map(|(direction, doc, carries_changes)| WireEvent {
                direction: *direction,
                document: doc.map(str::to_owned),
                carries_changes: *carries_changes,
            })
            .collect()
    }

    #[test]
    fn round_trips_are_per_room_with_the_handshake_up_to_the_last_changes() {
        use Direction::{Down, Up};
        // join, peer, then two rooms interleaved: a: up down(changes) up(changes) down;
        // b: up down(changes) up down.
        let log = events(&[
            (Up, None, false),
            (Down, None, false),
            (Up, Some("a"), false),
            (Up, Some("b"), false),
            (Down, Some("a"), true),
            (Down, Some("b"), true),
            (Up, Some("a"), true),
            (Down, Some("a"), false),
            (Up, Some("b"), false),
            (Down, Some("b"), false),
        ]);
        // a: up down | up down up -> 5 runs -> 3 (its last ack not waited for);
        // b: up down | up down -> 4 runs -> 2.
        assert_eq!(room_round_trips(&log), 3);
        assert_eq!(round_trips_of(log[..7].iter().map(|e| e.direction)), 3);
        // The handshake alone, and a room with no news: one round trip.
        assert_eq!(room_round_trips(&log[..2]), 1);
        assert_eq!(room_round_trips(&log[..4]), 1);
    }

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
