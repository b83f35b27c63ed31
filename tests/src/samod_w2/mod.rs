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
//! but a repository loads a document from its [`Storage`](samod::storage::Storage) by id,
//! from every value stored under the key prefixes `[id, "snapshot"]` and `[id, "incremental"]`
//! (`samod_core::StorageKey::snapshot_prefix`). So each side's in-memory storage is filled
//! before its repository starts, with the saved bytes of room `i` under
//! `[id_i, "snapshot", "w2-import"]`, `id_i` being a fixed UUID made from `i`. The device then
//! opens (`Repo::find`) its 30 rooms before it connects, as an app that is running when the
//! network comes back; the relay opens nothing itself: its document actors start when the
//! device's first sync message for a room arrives, as a sync server's do.
//!
//! Where things are: this module runs the reconnect; `wire` reads the frames,
//! `counting` logs the device's bytes, `round_trips` counts round trips.

mod counting;
mod round_trips;
mod wire;

use counting::CountingDialer;
use round_trips::{room_round_trips, round_trips_of};
use wire::{WireLog, lock};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use futures::StreamExt as _;
use samod::storage::{InMemoryStorage, Storage as _, StorageKey};
use samod::{BackoffConfig, DocHandle, DocumentId, PeerId, Repo, Transport};
use tokio::net::TcpListener;

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
