//! The rules of a CA rotation over the relay's state (the CAs themselves and their files are
//! [`super::authorities`]): which CA issued each device's current certificate, starting and
//! ending the overlap period, the status the administrator reads, and the
//! `kizuna-certificate: renew` header that moves phones to the new CA during their sync.

use super::authorities::{CaSet, Generation, KnownCa, RotationError};
use super::professionals::device_view;
use crate::error::RelayError;
use crate::http::extract::PeerInfo;
use crate::state::{AppState, Relay};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use kizuna_contract::enrollment::{CERTIFICATE_HEADER, CaStatus, CaView, RENEW_NOW};
use kizuna_core::{DeviceId, Timestamp};

/// Prefix of the record naming the CA (its fingerprint) that issued a device's current
/// certificate (`issuer:<device id>` → hex).
const META_ISSUER: &str = "issuer:";

fn view(ca: &KnownCa) -> CaView {
    CaView {
        fingerprint: format!("sha256:{}", ca.fingerprint),
        name: ca.name.clone(),
        expires_at: Timestamp(ca.not_after.saturating_mul(1000)).into(),
    }
}

impl From<RotationError> for RelayError {
    fn from(e: RotationError) -> Self {
        match e {
            RotationError::State(why) => RelayError::Conflict(why.into()),
            RotationError::Io(io) if crate::error::is_disk_full(&io) => RelayError::StorageFull,
            RotationError::Io(io) => RelayError::Storage(format!("CA files: {io}")),
            RotationError::Pki(p) => RelayError::Internal(format!("CA rotation: {p}")),
        }
    }
}

impl Relay {
    /// Records that the CA with `fingerprint` issued `device`'s current certificate (at
    /// enrollment and renewal). Flushed with the device's own records by the caller.
    pub(crate) fn note_issuer(
        &self,
        device: DeviceId,
        fingerprint: &str,
    ) -> Result<(), RelayError> {
        self.dir
            .set_meta(&format!("{META_ISSUER}{device}"), fingerprint.as_bytes())?;
        Ok(())
    }

    /// The fingerprint of the CA that issued `device`'s current certificate, if recorded.
    pub fn device_issuer(&self, device: DeviceId) -> Result<Option<String>, RelayError> {
        Ok(self
            .dir
            .meta(&format!("{META_ISSUER}{device}"))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn status_of(&self, set: &CaSet) -> Result<CaStatus, RelayError> {
        let mut on_retiring = Vec::new();
        if let Some(r) = &set.retiring {
            let now = self.clock().now();
            for d in self.devices()? {
                if d.revoked_at.is_none()
                    && self.device_issuer(d.id)?.as_deref() == Some(r.ca.fingerprint.as_str())
                {
                    on_retiring.push(device_view(&d, now));
                }
            }
        }
        Ok(CaStatus {
            issuing: view(&set.issuing_known),
            retiring: set.retiring.as_ref().map(|r| view(&r.ca)),
            retired: set.retired.iter().map(view).collect(),
            devices_on_retiring: on_retiring,
        })
    }

    /// `kizuna admin ca status`: the CAs, and the devices still on the retiring one.
    pub fn ca_status(&self) -> Result<CaStatus, RelayError> {
        self.status_of(&self.authorities().current())
    }

    /// Starts a CA rotation (see `identity::authorities`). Devices whose issuer was never
    /// recorded (enrolled before it was kept) are first recorded as on the current CA, which
    /// issued them. The caller audits (`admin::acts`).
    pub fn rotate_ca(&self) -> Result<CaStatus, RelayError> {
        let current = self.authorities().current();
        if current.retiring.is_some() {
            return Err(RelayError::Conflict(
                "a CA rotation is already in its overlap period: retire the old CA first \
                 (kizuna admin ca retire-old)"
                    .into(),
            ));
        }
        let old = current.issuing_known.fingerprint.clone();
        for d in self.dir.devices()? {
            if self.device_issuer(d.id)?.is_none() {
                self.note_issuer(d.id, &old)?;
            }
        }
        self.dir.flush()?;
        let set = self.authorities().rotate()?;
        self.status_of(&set)
    }

    /// Ends the overlap period: the old CA's certificates are refused from now on. Refused
    /// while devices (not revoked) are still on the old CA, unless `force`.
    pub fn retire_old_ca(&self, force: bool) -> Result<CaStatus, RelayError> {
        let status = self.ca_status()?;
        if status.retiring.is_none() {
            return Err(RelayError::Conflict(
                "no CA rotation is in progress: there is no old CA to retire".into(),
            ));
        }
        let left = status.devices_on_retiring.len();
        if left > 0 && !force {
            return Err(RelayError::Conflict(format!(
                "{left} device(s) are still on the old CA (kizuna admin ca status lists them); \
                 each moves at its next sync. Wait for them, or retire anyway with --force: \
                 they must then enroll again"
            )));
        }
        let set = self.authorities().retire_old()?;
        if left > 0 {
            tracing::warn!(devices = left, "old CA retired with devices still on it");
        }
        self.status_of(&set)
    }

    /// Whether a device presenting `cert` is asked to renew now: its certificate is from
    /// the CA being retired.
    pub fn renewal_advised(&self, issuer: &[u8; 32]) -> bool {
        self.authorities().current().generation(issuer) == Generation::Retiring
    }
}

/// Adds `kizuna-certificate: renew` to every answer to a device whose certificate the
/// retiring CA issued, so the phone renews onto the new CA in the same sync (docs/protocol.md).
pub async fn advise_renewal(State(relay): State<AppState>, req: Request, next: Next) -> Response {
    let advised = req
        .extensions()
        .get::<PeerInfo>()
        .and_then(|p| p.cert)
        .is_some_and(|c| relay.renewal_advised(&c.issuer));
    let mut resp = next.run(req).await;
    if advised {
        resp.headers_mut()
            .insert(CERTIFICATE_HEADER, HeaderValue::from_static(RENEW_NOW));
    }
    resp
}
