//! The attachment routes and their pipeline: `GET /v1/blobs/{hash}/upload` (how much the
//! relay holds), `PUT /v1/blobs/{hash}` (receive while a blocking writer appends, kept even
//! when the connection is cut) and `GET /v1/blobs/{hash}` (streamed, with `Range`).

use super::access::BlobClaim;
use super::store::{denied, staged_name};
use crate::audit::Entry;
use crate::error::RelayError;
use crate::http::extract::parse_id;
use crate::http::problem::{Problem, ProblemKind};
use crate::identity::Authed;
use crate::state::{AppState, Relay};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kizuna_contract::blobs::{BlobQuery, UploadStatus};
use kizuna_core::{DeviceId, ProfessionalId, RoomId};

/// The attachment routes, merged into [`crate::router`] (no body limit: uploads stream).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/blobs/{hash}/upload", get(blob_upload_status))
        .route(
            "/v1/blobs/{hash}",
            get(blob_download)
                .put(blob_upload)
                .layer(DefaultBodyLimit::disable()),
        )
}

pub(crate) fn parse_hash(s: &str) -> Result<kizuna_core::ContentHash, Problem> {
    s.parse().map_err(|_| {
        Problem::new(
            ProblemKind::Invalid,
            Some("the blob name is not a SHA-256 hex hash".into()),
        )
    })
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, Problem> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| RelayError::Internal("a storage task failed".into()))??)
}

/// `GET /v1/blobs/{hash}/upload?doc=&size=&type=`: how many bytes the relay holds (starting
/// the upload if new).
async fn blob_upload_status(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
) -> Result<Json<UploadStatus>, Problem> {
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    let size = q
        .size
        .ok_or_else(|| Problem::new(ProblemKind::Invalid, Some("size: required".into())))?;
    let media = q
        .media_type
        .unwrap_or_else(|| "application/octet-stream".into());
    // An upload cut a moment ago may still be storing its last bytes: answer once it is done,
    // so the device resumes from the true end.
    let r = relay.clone();
    drop(claim_blob(&r, staged_name(&hash, auth.device.id, doc)).await?);
    let status = blocking(move || {
        relay.begin_upload(
            auth.professional.id,
            auth.device.id,
            doc,
            hash,
            size,
            &media,
        )
    })
    .await?;
    Ok(Json(status.into()))
}

/// Waits (up to 10 s) until no other request is writing the unfinished upload `staged`
/// (one device's own, see `blobs::staged_name`), then holds it.
async fn claim_blob(
    relay: &Relay,
    hash: kizuna_core::ContentHash,
) -> Result<BlobClaim<'_>, Problem> {
    for _ in 0..500 {
        if let Some(c) = relay.claim_blob(hash) {
            return Ok(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(RelayError::Conflict("another upload of this attachment is in progress".into()).into())
}

/// Bytes buffered before each durable append.
const APPEND_BYTES: usize = 4 * 1024 * 1024;

/// `PUT /v1/blobs/{hash}?doc=&offset=`: the bytes from `offset` on. Everything received is
/// kept even if the connection is cut; bytes the relay already holds (an `offset` behind its
/// own) are skipped; the last byte triggers the hash check.
async fn blob_upload(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
    body: axum::body::Body,
) -> Result<Json<UploadStatus>, Problem> {
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    // Below the free-space reserve nothing more is stored (see `watch`).
    relay.ensure_writable()?;
    let offset = q.offset.unwrap_or(0);
    let device = auth.device.id;
    let pro = auth.professional.id;
    // The receiving runs in its own task: when a cut connection makes hyper drop this
    // handler, the bytes that already arrived are still appended.
    let task = tokio::spawn(receive_upload(relay, pro, device, doc, hash, offset, body));
    task.await
        .map_err(|_| RelayError::Internal("the upload task failed".into()))?
}

async fn receive_upload(
    relay: AppState,
    pro: ProfessionalId,
    device: DeviceId,
    doc: RoomId,
    hash: kizuna_core::ContentHash,
    offset: u64,
    body: axum::body::Body,
) -> Result<Json<UploadStatus>, Problem> {
    use futures::StreamExt;
    let r = relay.clone();
    let claim = claim_blob(&r, staged_name(&hash, device, doc)).await?;
    // Resume where this device's upload is, whatever the device believed. Bytes before
    // that are skipped, not refused: the device asked where to resume while an earlier,
    // cut request of its own was still on its way to the relay (unread, so not counted),
    // and that request or this one arrived second. Both carry the same bytes of the same
    // hash; whichever comes second adds only what the relay does not hold yet, so no byte
    // that reached the relay is thrown away. A gap (bytes missing before `offset`) is
    // refused. With none begun (or already finished), say where things stand.
    let (from, mut skip) = match r.upload_offset(device, doc, &hash) {
        Ok(Some(stored)) if stored < offset => {
            return Err(RelayError::Conflict(format!(
                "the relay holds {stored} bytes; resume from there"
            ))
            .into());
        }
        Ok(Some(stored)) => (stored, stored - offset),
        Ok(None) => {
            drop(claim);
            let rr = relay.clone();
            let status = blocking(move || rr.finish_upload(pro, device, doc, &hash, None)).await?;
            return Ok(Json(status.into()));
        }
        Err(e) => return Err(e.into()),
    };
    // Network and disk overlap: this task receives while a blocking writer appends the
    // previous piece (two pieces in flight at most). The writer also hashes when the whole
    // blob comes in this request, so finishing does not read it back.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let writer_relay = relay.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut running = (from == 0).then(|| ring::digest::Context::new(&ring::digest::SHA256));
        let mut w = writer_relay.upload_writer(device, doc, &hash, from)?;
        let mut failed = None;
        while let Some(piece) = rx.blocking_recv() {
            if let Some(ctx) = running.as_mut() {
                ctx.update(&piece);
            }
            if let Err(e) = w.write(&piece) {
                failed = Some(e);
                break;
            }
            writer_relay
                .metrics()
                .blob_bytes_received(piece.len() as u64);
        }
        // Whatever arrived is kept (flushed once), even when the connection was cut.
        let at = w
            .commit()
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        if let Some(e) = failed {
            return Err(RelayError::Invalid(e.to_string()));
        }
        Ok::<_, RelayError>((at, running.map(kizuna_core::blobs::digest)))
    });
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(APPEND_BYTES);
    let mut cut = false;
    loop {
        let done = match stream.next().await {
            Some(Ok(bytes)) => {
                let held = usize::try_from(skip).unwrap_or(usize::MAX).min(bytes.len());
                skip -= held as u64;
                if held > 0 {
                    r.blobs()
                        .duplicate
                        .fetch_add(held as u64, std::sync::atomic::Ordering::Relaxed);
                }
                buf.extend_from_slice(&bytes[held..]);
                false
            }
            Some(Err(_)) => {
                cut = true;
                true
            }
            None => true,
        };
        if (buf.len() >= APPEND_BYTES || (done && !buf.is_empty()))
            && tx.send(std::mem::take(&mut buf)).await.is_err()
        {
            // The writer stopped on an error; it is reported below.
            break;
        }
        if done {
            break;
        }
    }
    drop(tx);
    let (offset, streamed) = writer
        .await
        .map_err(|_| RelayError::Internal("the upload writer failed".into()))??;
    drop(claim);
    if cut {
        return Err(Problem::new(
            ProblemKind::UploadCut,
            Some(format!("the relay holds {offset} bytes; resume from there")),
        ));
    }
    let rr = relay.clone();
    let status = blocking(move || rr.finish_upload(pro, device, doc, &hash, streamed)).await?;
    Ok(Json(status.into()))
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`.
pub(crate) fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && end < size).then_some((start, end))
}

/// `GET /v1/blobs/{hash}?doc=`: the blob, or the `Range` asked for, streamed from the store.
async fn blob_download(
    State(relay): State<AppState>,
    auth: Authed,
    Path(hash): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlobQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, Problem> {
    use axum::http::header;
    let hash = parse_hash(&hash)?;
    let doc: RoomId = parse_id(&q.doc, "doc")?;
    let (pro, device) = (auth.professional.id, auth.device.id);
    let r = relay.clone();
    let meta = blocking(move || {
        if !r.may_read_blob(pro, device, doc, &hash)? {
            return Err(denied());
        }
        r.audit()
            .record(Entry {
                professional: Some(pro),
                device: Some(device),
                action: "blob.read",
                room: Some(doc),
                subject: Some(hash.to_hex()),
                ..Entry::default()
            })
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        r.blobs()
            .store()
            .meta(&hash)
            .map_err(|e| RelayError::Internal(e.to_string()))?
            .ok_or_else(denied)
    })
    .await?;
    let size = meta.stored;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|h| parse_range(h, size));
    let (start, end, status) = match range {
        None => (0, size.saturating_sub(1), StatusCode::OK),
        Some(Some((a, b))) => (a, b, StatusCode::PARTIAL_CONTENT),
        Some(None) => {
            let mut p = Problem::new(
                ProblemKind::Range,
                Some(format!("the attachment has {size} bytes")),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                p.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(p);
        }
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let stream = futures::stream::unfold((start, len), move |(pos, left)| {
        let relay = relay.clone();
        async move {
            if left == 0 {
                return None;
            }
            let want = usize::try_from(left.min(4 * kizuna_core::blobs::CHUNK as u64)).unwrap_or(0);
            let read = tokio::task::spawn_blocking(move || {
                relay.blobs().store().read_at(&hash, pos, want)
            })
            .await;
            match read {
                Ok(Ok(bytes)) if !bytes.is_empty() => {
                    let n = bytes.len() as u64;
                    Some((
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes)),
                        (pos + n, left - n),
                    ))
                }
                _ => Some((
                    Err(std::io::Error::other("the attachment could not be read")),
                    (pos, 0),
                )),
            }
        }
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}
