//! Who is asking: a request from an enrolled, non-revoked device ([`Authed`]) or from an
//! administrator's device ([`Admin`]), checked against the directory on every request by
//! [`Relay::authenticate`].

use crate::error::RelayError;
use crate::http::extract::PeerInfo;
use crate::http::peer::PeerCert;
use crate::http::problem::Problem;
use crate::identity::authorities::Generation;
use crate::identity::directory::{Device, Professional};
use crate::state::{AppState, Relay};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A request from an enrolled, non-revoked device: checked against the directory on every
/// request (not once per connection), so a revocation applies to open connections too.
#[derive(Debug)]
pub struct Authed {
    /// The professional.
    pub professional: Professional,
    /// The device.
    pub device: Device,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let cert = parts.extensions.get::<PeerInfo>().and_then(|p| p.cert);
        let (professional, device) = state.authenticate(cert)?;
        Ok(Authed {
            professional,
            device,
        })
    }
}

/// A request from an administrator's device.
#[derive(Debug)]
pub struct Admin(pub Authed);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let a = Authed::from_request_parts(parts, state).await?;
        if !a.professional.is_admin() {
            return Err(RelayError::Forbidden("this needs an administrator's device").into());
        }
        Ok(Admin(a))
    }
}

impl Relay {
    /// Who a TLS peer is, checked against the directory on every request: the device must
    /// exist, belong to the professional its certificate names, present the very certificate
    /// issued at its enrollment or last renewal (or the one it renewed with; see
    /// `identity::renewal`), so even a stolen CA key cannot impersonate an enrolled device,
    /// not be revoked, and its professional must still be registered. A certificate of a
    /// retired CA is refused first, with its own problem (`identity::authorities`).
    pub fn authenticate(
        &self,
        cert: Option<PeerCert>,
    ) -> Result<(Professional, Device), RelayError> {
        let cert = cert.ok_or(RelayError::Unauthenticated)?;
        match self.authorities().current().generation(&cert.issuer) {
            Generation::Issuing | Generation::Retiring => {}
            Generation::Retired => return Err(RelayError::CertificateRetired),
            Generation::Unknown => return Err(RelayError::Unauthenticated),
        }
        let id = cert.identity;
        let device = self
            .dir
            .device(id.device)?
            .ok_or(RelayError::Unauthenticated)?;
        if device.professional != id.professional
            || !self.accepts_cert(&device, &cert.fingerprint())?
        {
            tracing::warn!(device = %id.device, "certificate does not match the enrolled device");
            return Err(RelayError::Unauthenticated);
        }
        if device.revoked_at.is_some() {
            return Err(RelayError::Revoked { wipe: device.wipe });
        }
        let p = self
            .dir
            .professional(id.professional)?
            .ok_or(RelayError::Unauthenticated)?;
        if !p.is_active() {
            return Err(RelayError::Revoked { wipe: true });
        }
        Ok((p, device))
    }
}
