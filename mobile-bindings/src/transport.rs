//! Moving sync bytes between the device and the relay. The core decides *what* to send; a
//! [`Transport`] only carries it. [`HttpsTransport`] is the default (reqwest on rustls, TLS 1.3,
//! the device's client certificate, trusting only the relay's CA); an iOS app may register a
//! native one (background `URLSession`) through the same trait.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Why a transfer failed, in the terms an app acts on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection (no signal, relay down, TLS failure): keep working offline, retry later.
    #[error("the relay cannot be reached: {0}")]
    Offline(String),
    /// The administrator revoked this device; `wipe` asks the app to erase local data.
    #[error("this device has been revoked")]
    Revoked {
        /// Erase local data now.
        wipe: bool,
    },
    /// The relay refused the request (a bug or a version mismatch; retrying will not help).
    #[error("the relay refused the request ({status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The relay's explanation.
        detail: String,
    },
}

/// Which rooms changed on the relay since a cursor (the live channel).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvents {
    /// Pass this back to wait for the next changes.
    pub cursor: u64,
    /// Documents that changed (rooms or restricted documents this device may see).
    pub docs: Vec<kizuna_core::RoomId>,
    /// The relay did not know the cursor (restarted, or the device was away long): sync
    /// every document.
    #[serde(default)]
    pub resync: bool,
}

/// Carries sync requests to the relay. Blocking: call from a background thread, never from
/// inside an async task.
pub trait Transport: Send + Sync {
    /// Sends an encoded `SyncRequest`, returns the encoded `SyncResponse`.
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError>;
    /// Waits up to `timeout` for documents to change after `cursor` (long poll).
    fn wait_for_changes(
        &self,
        cursor: u64,
        timeout: Duration,
    ) -> Result<LiveEvents, TransportError>;
}

/// The default transport: HTTPS with the device's client certificate.
pub struct HttpsTransport {
    http: reqwest::Client,
    base: String,
    runtime: Arc<tokio::runtime::Runtime>,
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

#[derive(Deserialize)]
struct Problem {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    wipe: Option<bool>,
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

fn problem(status: u16, body: &[u8]) -> TransportError {
    let p: Option<Problem> = serde_json::from_slice(body).ok();
    match p {
        Some(p) if p.kind.ends_with("device-revoked") => TransportError::Revoked {
            wipe: p.wipe.unwrap_or(false),
        },
        Some(p) => TransportError::Rejected {
            status,
            detail: p.detail.unwrap_or(p.kind),
        },
        None => TransportError::Rejected {
            status,
            detail: "no explanation".into(),
        },
    }
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
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(offline)?;
        Ok(HttpsTransport {
            http,
            base: base.trim_end_matches('/').to_string(),
            runtime: crate::runtime::get(),
        })
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-kizuna-sync")
            .body(body)
            .send()
            .await
            .map_err(offline)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(offline)?;
        if !(200..300).contains(&status) {
            return Err(problem(status, &bytes));
        }
        Ok(bytes.to_vec())
    }
}

impl Transport for HttpsTransport {
    fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.runtime.block_on(self.post("/v1/sync", request))
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
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.map_err(offline)?;
            if !(200..300).contains(&status) {
                return Err(problem(status, &bytes));
            }
            serde_json::from_slice(&bytes).map_err(|_| TransportError::Rejected {
                status,
                detail: "unreadable events".into(),
            })
        })
    }
}
