//! Enrollment: an administrator makes a one-time code (`POST
//! /v1/admin/professionals/{id}/enroll-codes`), the phone scans its QR code and asks for its
//! certificate with it (`POST /v1/enroll`, the one JSON route needing no client certificate).
//! Before that certificate expires the device renews it over mTLS with a new key of its own
//! (`POST /v1/renew`), keeping its device id.

use crate::people::Millis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/admin/professionals/{id}/enroll-codes`: options for a new code (the body may
/// also be empty, meaning the defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollCodeRequest {
    /// Hours until the code expires (1–168, default 24).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 168))]
    pub valid_hours: Option<u32>,
}

/// A fresh one-time enrollment code and what its QR code carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollCodeResponse {
    /// Whose device it enrolls.
    pub professional: Uuid,
    /// The code, `XXXX-XXXX-XXXX`.
    pub code: String,
    /// When it stops working (ms since 1970).
    pub expires_at: Millis,
    /// Where the device should enroll.
    pub relay_url: String,
    /// `sha256:<hex>` of the relay's CA certificate, pinned by the device.
    pub ca_fingerprint: String,
    /// The text encoded in the QR code: `kizuna://enroll?v=1&relay=…&ca=sha256:…&code=…`.
    pub qr_payload: String,
}

/// `POST /v1/enroll`: a device asks for its certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code from the QR code.
    pub code: String,
    /// PKCS#10 request in PEM, for a key generated on the device.
    pub csr_pem: String,
    /// A label for the admin's device list ("iPhone 15").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The answer to a successful enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    /// Whose device it is.
    pub professional: Uuid,
    /// The new device's id (also in the certificate).
    pub device: Uuid,
    /// The device certificate in PEM.
    pub certificate_pem: String,
    /// The relay's CA certificate in PEM.
    pub ca_pem: String,
}

/// `POST /v1/renew`: an enrolled device asks, over mTLS with its current certificate, for a
/// new certificate for a new key made on the device (device certificates expire after two
/// years; phones renew in their last 30 days).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// PKCS#10 request in PEM, for a new key generated on the device.
    pub csr_pem: String,
}

/// The answer to a renewal: the new certificate, for the same device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewResponse {
    /// The device's id, unchanged (also in the certificate).
    pub device: Uuid,
    /// The new device certificate in PEM.
    pub certificate_pem: String,
    /// When the new certificate expires (ms since 1970).
    pub expires_at: Millis,
    /// The relay's CA certificate in PEM.
    pub ca_pem: String,
}

/// The response header the relay adds to answers of a device whose certificate was issued by
/// a CA being retired (a CA rotation's overlap period): its value is [`RENEW_NOW`], and the
/// phone renews its certificate (`POST /v1/renew`) in the same sync, even far from expiry.
pub const CERTIFICATE_HEADER: &str = "kizuna-certificate";

/// The value of [`CERTIFICATE_HEADER`]: renew now.
pub const RENEW_NOW: &str = "renew";

/// One of the relay's certificate authorities, as the administrator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaView {
    /// `sha256:<hex>` of its certificate: what enrollment QR codes pin.
    pub fingerprint: String,
    /// Its subject's common name ("Kizuna relay CA", "Kizuna relay CA 2", …).
    pub name: String,
    /// When it expires (ms since 1970).
    pub expires_at: Millis,
}

/// `GET /v1/admin/ca` (and the answer to rotating or retiring): the relay's certificate
/// authorities and who is still on the one being retired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaStatus {
    /// The CA that issues every new certificate (enrollment, renewal, the server's).
    pub issuing: CaView,
    /// During a rotation's overlap: the old CA, still trusted for devices' certificates and
    /// cross-signing the issuing one for phones that trust only it. `null` outside a rotation.
    pub retiring: Option<CaView>,
    /// CAs retired earlier: their certificates are refused (`certificate-retired`).
    pub retired: Vec<CaView>,
    /// Devices (not revoked) whose current certificate the retiring CA issued: each moves to
    /// the issuing CA at its next sync. Empty outside a rotation.
    pub devices_on_retiring: Vec<crate::directory::DeviceView>,
}

/// `POST /v1/admin/ca/retire-old`: end the overlap period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetireRequest {
    /// Retire even though devices are still on the retiring CA (they must enroll again).
    #[serde(default)]
    pub force: bool,
}
