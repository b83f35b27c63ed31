//! The directory as administrators see it: professionals and devices. These views replace
//! serving the relay's storage records (`directory::Professional`, `directory::Device`) as
//! bodies; their JSON is what those records serialise to, so nothing changes on the wire.

use crate::people::{Millis, Organisation, Profession};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/admin/professionals` (register) and `PUT /v1/admin/professionals/{id}/profile`
/// (edit): who the professional is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProfessional {
    /// Full name.
    pub name: String,
    /// Name in kana.
    pub kana: String,
    /// Profession key (`nurse`, `care_manager`, …).
    pub profession: Profession,
    /// Organisation (事業所).
    pub organisation: Organisation,
}

/// A registered professional (or the city's administrator), for administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfessionalView {
    /// The personal id issued at registration.
    pub id: Uuid,
    /// Full name.
    pub name: String,
    /// Name in kana.
    pub kana: String,
    /// What they do; administrators are `city_administrator`.
    pub profession: Profession,
    /// Where they work.
    pub organisation: Organisation,
    /// When the city registered them.
    pub registered_at: Millis,
    /// When they were removed (`null` while registered).
    pub removed_at: Option<Millis>,
}

/// One enrolled phone or tablet, for administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    /// The device id, also in its certificate.
    pub id: Uuid,
    /// Whose device it is.
    pub professional: Uuid,
    /// The label the device gave at enrollment.
    pub label: String,
    /// When the certificate was issued.
    pub enrolled_at: Millis,
    /// SHA-256 of the device's current certificate (the last one issued, at enrollment or
    /// renewal), to tell certificates apart in support cases.
    pub cert_fingerprint: String,
    /// When the current certificate expires (ms since 1970); the phone renews it in its last
    /// 30 days when it syncs. Always sent by this relay; absent from older relays' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<Millis>,
    /// Whole days until `cert_expires_at` by the relay's clock (negative once expired).
    /// Always sent by this relay; absent from older relays' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    /// When it was revoked (`null` while active).
    pub revoked_at: Option<Millis>,
    /// The device is to erase its local data when it next reaches the relay.
    pub wipe: bool,
    /// When it last synced; absent when never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Millis>,
}

/// `GET /v1/admin/professionals`: professionals and devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryView {
    /// Registered professionals (removed ones included).
    pub professionals: Vec<ProfessionalView>,
    /// All devices, revoked ones included.
    pub devices: Vec<DeviceView>,
    /// The organisations the registered professionals work for, each once.
    pub organisations: Vec<Organisation>,
}

/// `POST /v1/admin/devices/{id}/revoke` (the body may also be empty: no wipe).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Also tell the device to erase its local data.
    #[serde(default)]
    pub wipe: bool,
}
