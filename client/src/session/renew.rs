//! Renewing the device certificate during sync. A device certificate is valid for two years;
//! when fewer than [`RENEW_WITHIN_DAYS`] remain, the next sync first makes a new key pair on
//! the device and asks the relay for a certificate of the same device for it (`POST
//! /v1/renew`, over mTLS with the current certificate). The new certificate and key are
//! sealed in the device store before anything uses them; a failed renewal is logged and the
//! sync goes on with the current certificate (it is tried again at the next sync).
//!
//! During a CA rotation the relay answers a device whose certificate the retiring CA issued
//! with `kizuna-certificate: renew`; the sync then renews at once, whatever the expiry, and
//! the renewal's answer brings the new CA, which the phone adds to the CAs it trusts.

use super::open::{Enrolment, Open, https_of, make_enrolment};
use super::record;
use super::shared::{Shared, write};
use crate::enroll::{cert_not_after_ms, new_key_and_csr};
use crate::error::ClientError;
use kizuna_core::Timestamp;
use std::sync::Arc;

/// A sync renews the device certificate when it expires within this many days: a month
/// of daily syncs to get it done before the relay refuses the old one.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// Whether a certificate expiring at `not_after_ms` is due for renewal at `now_ms`.
pub(crate) fn renewal_due(not_after_ms: i64, now_ms: i64) -> bool {
    not_after_ms.saturating_sub(now_ms) < RENEW_WITHIN_DAYS * 86_400_000
}

impl Shared {
    /// Renews the certificate if due; the enrolment to sync with (the renewed one, or `e`
    /// unchanged when not due or when renewal failed).
    pub(crate) fn renew_if_due(self: &Arc<Self>, open: &Open, e: Arc<Enrolment>) -> Arc<Enrolment> {
        let Some(not_after) = cert_not_after_ms(&e.record.enrolled.cert_pem) else {
            tracing::warn!("device certificate unreadable; not renewed");
            return e;
        };
        if !renewal_due(not_after, Timestamp::now().0) {
            return e;
        }
        match self.renew(open, &e) {
            Ok(next) => next,
            Err(err) => {
                tracing::warn!(error = %err, "device certificate not renewed; syncing with the current one");
                e
            }
        }
    }

    /// Renews the certificate at once if the relay asked for it during the sync just made
    /// (a CA rotation: `kizuna-certificate: renew`), however far its expiry; the enrolment
    /// to go on with. A failure is logged: the relay asks again at the next sync.
    pub(crate) fn renew_if_asked(
        self: &Arc<Self>,
        open: &Open,
        e: Arc<Enrolment>,
    ) -> Arc<Enrolment> {
        if !e.https.take_renewal_asked() {
            return e;
        }
        match self.renew(open, &e) {
            Ok(next) => {
                tracing::info!("device certificate renewed onto the relay's new CA");
                next
            }
            Err(err) => {
                tracing::warn!(error = %err, "device certificate not renewed although the relay asked; it asks again at the next sync");
                e
            }
        }
    }

    fn renew(self: &Arc<Self>, open: &Open, e: &Enrolment) -> Result<Arc<Enrolment>, ClientError> {
        let (key, csr) = new_key_and_csr()?;
        let resp = e.https.renew(&csr)?;
        if resp.device.to_string() != e.record.enrolled.device {
            return Err(ClientError::Rejected {
                status: 200,
                detail: "the renewed certificate is for another device".into(),
            });
        }
        let mut record = e.record.clone();
        record.enrolled.cert_pem = resp.certificate_pem;
        record.enrolled.key_pem = key.serialize_pem();
        // The answer names the CA that issued the new certificate, which also issues the
        // relay's server certificate: from now on the phone trusts that CA only. During a CA
        // rotation (docs/operations.md) this is the new CA, and the old one, maybe rotated
        // away because its key leaked, is trusted no more. The answer came over TLS to the
        // relay this phone already trusted.
        let ca = resp.ca_pem.trim();
        if !ca.is_empty() {
            record.enrolled.ca_pem = format!("{ca}\n");
        }
        // Builds the TLS configuration: a certificate that does not match the key fails here,
        // before anything is stored.
        let https = https_of(&record.enrolled)?;
        record::save(&open.store, &record)?;
        let next = Arc::new(make_enrolment(
            &open.store,
            record,
            https,
            self.progress_fn(),
        )?);
        *write(&open.enrolment) = Some(next.clone());
        tracing::info!(expires_at = resp.expires_at.0, "device certificate renewed");
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_only_in_the_last_thirty_days() {
        let day = 86_400_000;
        assert!(!renewal_due(100 * day, 0));
        assert!(!renewal_due(30 * day, 0));
        assert!(renewal_due(30 * day - 1, 0));
        assert!(renewal_due(0, 5 * day));
    }
}
