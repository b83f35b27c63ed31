//! [`HttpsTransport`], the default transport: reqwest on rustls with the device's client
//! certificate. Every call has an async form (what a load generator with hundreds of devices
//! on one runtime drives); the blocking [`Transport`] methods run it on the process runtime.

use super::wire::{decode, problem};
use super::{BlobSink, BlobSource, LiveEvents, Transport, TransportError};
use kizuna_contract::enrollment::{RenewRequest, RenewResponse};
use kizuna_contract::events::Changed;
use kizuna_contract::me::MeResponse;
use kizuna_contract::{SYNC_MEDIA_TYPE, blobs};
use kizuna_core::blobs::UploadStatus;
use kizuna_core::{ContentHash, RoomId};
use std::sync::Arc;
use std::time::Duration;

/// The default transport: HTTPS with the device's client certificate.
pub struct HttpsTransport {
    http: reqwest::Client,
    /// Attachments go over HTTP/1.1 connections of their own: when a link drops mid-upload,
    /// the relay keeps every byte that reached it (HTTP/2 discards a stream's buffered data
    /// on a connection error), and a long video does not hold up sync requests.
    blob_http: reqwest::Client,
    base: String,
    runtime: Arc<tokio::runtime::Runtime>,
    /// Set when an answer carried `kizuna-certificate: renew`: the relay is retiring the CA
    /// of this device's certificate, and the session renews it ([`Self::take_renewal_asked`]).
    renewal_asked: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsTransport")
            .field("base", &self.base)
            .finish()
    }
}

/// TLS for a device: TLS 1.3 only, trusting only the relay's CA (pinned at enrollment from the
/// QR code), presenting the device's certificate.
pub fn device_tls(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|_| "the CA certificate is not PEM".to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "the device certificate is not PEM".to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| "the device key is not PEM".to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

fn offline(e: reqwest::Error) -> TransportError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    TransportError::Offline(msg)
}

impl HttpsTransport {
    /// A transport to the relay at `base` (`https://host:port`).
    pub fn new(
        base: &str,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Self, TransportError> {
        let tls = device_tls(ca_pem, cert_pem, key_pem).map_err(|e| TransportError::Rejected {
            status: 0,
            detail: e,
        })?;
        let mut tls1 = tls.clone();
        tls1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(offline)?;
        let blob_http = reqwest::Client::builder()
            .use_preconfigured_tls(tls1)
            .https_only(true)
            .http1_only()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(offline)?;
        Ok(HttpsTransport {
            http,
            blob_http,
            base: base.trim_end_matches('/').to_string(),
            runtime: crate::runtime::get(),
            renewal_asked: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The JSON answer to `what` as the contract type `T` (see [`decode`]).
    async fn ok_json<T: serde::de::DeserializeOwned>(
        what: &str,
        resp: reqwest::Response,
    ) -> Result<T, TransportError> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(offline)?;
        decode(what, status, &bytes)
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", SYNC_MEDIA_TYPE)
            .body(body)
            .send()
            .await
            .map_err(offline)?;
        self.note_renewal_advice(&resp);
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(offline)?;
        if !(200..300).contains(&status) {
            return Err(problem(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    fn note_renewal_advice(&self, resp: &reqwest::Response) {
        use kizuna_contract::enrollment::{CERTIFICATE_HEADER, RENEW_NOW};
        if resp
            .headers()
            .get(CERTIFICATE_HEADER)
            .is_some_and(|v| v.as_bytes() == RENEW_NOW.as_bytes())
        {
            self.renewal_asked
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Whether the relay asked (since the last call) that this device renew its certificate
    /// now: it is retiring the CA that issued it (docs/protocol.md, "Certificate renewal").
    pub fn take_renewal_asked(&self) -> bool {
        self.renewal_asked
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

impl HttpsTransport {
    /// `GET /v1/me`: who this device is and which rooms it may sync, with the names the
    /// app shows, as the relay's own type (a missing field is an error naming it).
    pub fn me(&self) -> Result<MeResponse, TransportError> {
        let url = format!("{}/v1/me", self.base);
        self.runtime.block_on(async {
            let resp = self.http.get(url).send().await.map_err(offline)?;
            Self::ok_json("GET /v1/me", resp).await
        })
    }
}

impl HttpsTransport {
    /// `POST /v1/renew`: a new certificate of this device for the key of `csr_pem` (made on
    /// the device), asked with the current certificate.
    pub fn renew(&self, csr_pem: &str) -> Result<RenewResponse, TransportError> {
        let url = format!("{}/v1/renew", self.base);
        let body = serde_json::to_vec(&RenewRequest {
            csr_pem: csr_pem.to_string(),
        })
        .map_err(|e| TransportError::Rejected {
            status: 0,
            detail: e.to_string(),
        })?;
        self.runtime.block_on(async {
            let resp = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(offline)?;
            Self::ok_json("POST /v1/renew", resp).await
        })
    }
}

impl HttpsTransport {
    /// [`Transport::exchange`] for callers already inside an async runtime (the W3 load
    /// generator drives hundreds of devices on one): sends an encoded `SyncRequest`, returns
    /// the encoded `SyncResponse`.
    pub async fn exchange_async(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.post("/v1/sync", request).await
    }
}

impl Transport for HttpsTransport {
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.runtime.block_on(self.exchange_async(request))
    }

    fn upload_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError> {
        self.blob_status(hash, doc, size, media_type)
    }

    fn upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        self.blob_upload(hash, doc, offset, size, source)
    }

    fn download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError> {
        self.blob_download(hash, doc, offset, sink)
    }

    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError> {
        let url = format!(
            "{}/v1/events?cursor={cursor}&timeout={}",
            self.base,
            timeout.as_secs()
        );
        self.runtime.block_on(async {
            let resp = self
                .http
                .get(url)
                .timeout(timeout + Duration::from_secs(10))
                .send()
                .await
                .map_err(offline)?;
            Self::ok_json::<Changed>("GET /v1/events", resp)
                .await
                .map(LiveEvents::from)
        })
    }
}

/// Bytes per piece read from the store while streaming an upload.
const UPLOAD_PIECE: usize = 1024 * 1024;

fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl HttpsTransport {
    fn blob_url(&self, hash: &ContentHash, tail: &str, query: &str) -> String {
        format!("{}/v1/blobs/{}{tail}?{query}", self.base, hash.to_hex())
    }

    fn blob_status(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        size: u64,
        media_type: &str,
    ) -> Result<UploadStatus, TransportError> {
        let url = self.blob_url(
            hash,
            "/upload",
            &format!("doc={doc}&size={size}&type={}", encode_query(media_type)),
        );
        self.runtime.block_on(async {
            let resp = self.blob_http.get(url).send().await.map_err(offline)?;
            Self::ok_json::<blobs::UploadStatus>("the upload status", resp)
                .await
                .map(UploadStatus::from)
        })
    }

    fn blob_upload(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        size: u64,
        source: Arc<dyn BlobSource>,
    ) -> Result<UploadStatus, TransportError> {
        let url = self.blob_url(hash, "", &format!("doc={doc}&offset={offset}"));
        let stream = upload_body(offset, size, source);
        self.runtime.block_on(async {
            let resp = self
                .blob_http
                .put(url)
                .header("content-type", "application/octet-stream")
                .header("content-length", size - offset)
                .timeout(Duration::from_secs(24 * 3600))
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(offline)?;
            Self::ok_json::<blobs::UploadStatus>("an upload", resp)
                .await
                .map(UploadStatus::from)
        })
    }

    fn blob_download(
        &self,
        hash: &ContentHash,
        doc: RoomId,
        offset: u64,
        sink: &mut dyn BlobSink,
    ) -> Result<(), TransportError> {
        let url = self.blob_url(hash, "", &format!("doc={doc}"));
        self.runtime.block_on(async {
            let mut req = self
                .blob_http
                .get(url)
                .timeout(Duration::from_secs(24 * 3600));
            if offset > 0 {
                req = req.header("range", format!("bytes={offset}-"));
            }
            let mut resp = req.send().await.map_err(offline)?;
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                let bytes = resp.bytes().await.map_err(offline)?;
                return Err(problem(status, &bytes));
            }
            let range_total = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|cr| cr.rsplit_once('/'))
                .and_then(|(_, t)| t.parse::<u64>().ok());
            let total = match range_total {
                Some(t) => t,
                None if offset == 0 => resp.content_length().unwrap_or(0),
                None => {
                    return Err(TransportError::Rejected {
                        status,
                        detail: "the relay ignored the range".into(),
                    });
                }
            };
            let local = |e: String| TransportError::Rejected {
                status: 0,
                detail: e,
            };
            sink.size(total).map_err(local)?;
            while let Some(chunk) = resp.chunk().await.map_err(offline)? {
                sink.write(&chunk).map_err(local)?;
            }
            Ok(())
        })
    }
}

/// The upload body: a blocking thread reads pieces from the store ahead of the network (up
/// to four in flight), so decrypting the store and sending overlap.
fn upload_body(
    offset: u64,
    size: u64,
    source: Arc<dyn BlobSource>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    std::thread::spawn(move || {
        let mut pos = offset;
        while pos < size {
            let want =
                usize::try_from((size - pos).min(UPLOAD_PIECE as u64)).unwrap_or(UPLOAD_PIECE);
            let piece = match source.read(pos, want) {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(
                        "the attachment could not be read",
                    )));
                    return;
                }
            };
            pos += piece.len() as u64;
            if tx.blocking_send(Ok(piece)).is_err() {
                // The request ended (cut or refused): stop reading.
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
