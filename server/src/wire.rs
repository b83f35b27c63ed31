//! Request and response bodies of the relay's HTTP API, shared by the handlers, the admin CLI
//! and the tests so they cannot disagree. Times are milliseconds since the Unix epoch.

use crate::directory::{Device, Professional};
use kizuna_core::model::Consent;
use kizuna_core::{
    DeviceId, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind, Timestamp,
};
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/professionals`: register a professional.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// `POST /v1/admin/professionals/{id}/enroll-codes`: options for a new code.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollCodeRequest {
    /// Hours until the code expires (1–168, default 24).
    #[serde(default)]
    pub valid_hours: Option<u32>,
}

/// A fresh one-time enrollment code and what the QR code carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollCodeResponse {
    /// Whose device it enrolls.
    pub professional: ProfessionalId,
    /// The code, `XXXX-XXXX-XXXX`.
    pub code: String,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Where the device should enroll.
    pub relay_url: String,
    /// `sha256:<hex>` of the relay's CA certificate, pinned by the device.
    pub ca_fingerprint: String,
    /// The text encoded in the QR code: `kizuna://enroll?v=1&relay=…&ca=sha256:…&code=…`.
    pub qr_payload: String,
}

/// `POST /v1/enroll`: a device asks for its certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code from the QR code.
    pub code: String,
    /// PKCS#10 request in PEM, for a key generated on the device.
    pub csr_pem: String,
    /// A label for the admin's device list ("iPhone 15").
    #[serde(default)]
    pub label: Option<String>,
}

/// The answer to a successful enrollment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// Whose device it is.
    pub professional: ProfessionalId,
    /// The new device's id (also in the certificate).
    pub device: DeviceId,
    /// The device certificate in PEM.
    pub certificate_pem: String,
    /// The relay's CA certificate in PEM.
    pub ca_pem: String,
}

/// `POST /v1/admin/rooms`: create a patient room.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    /// Must be `patient`.
    pub kind: RoomKind,
    /// The patient's name as members see it (patient data: never logged).
    pub display_name: String,
    /// The consent record (required).
    pub consent: Option<Consent>,
}

/// `PUT /v1/admin/rooms/{room}/members/{professional}`: the role to grant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// `writer` or `reader`.
    pub role: Role,
}

/// `POST /v1/admin/devices/{id}/revoke`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Also tell the device to erase its local data.
    #[serde(default)]
    pub wipe: bool,
}

/// `POST /v1/direct`: open a direct conversation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// The other professional.
    pub with: ProfessionalId,
}

/// A member of a room as administrators see it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// The professional.
    pub professional: ProfessionalId,
    /// Their name.
    pub name: String,
    /// Their profession.
    pub profession: Profession,
    /// Their role in the room.
    pub role: Role,
}

/// A room with consent and members, for administrators.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomView {
    /// The room id.
    pub id: RoomId,
    /// Its kind.
    pub kind: RoomKind,
    /// Its name (the patient's name for patient rooms).
    pub display_name: String,
    /// The consent record of a patient room.
    pub consent: Option<Consent>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was archived (no device syncs an archived room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// Its members.
    pub members: Vec<MemberView>,
}

/// The professional in `GET /v1/me`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeProfessional {
    /// Personal id.
    pub id: ProfessionalId,
    /// Name.
    pub name: String,
    /// Name in kana.
    pub kana: String,
    /// Profession key.
    pub profession: Profession,
    /// Profession in Japanese, for display.
    pub profession_ja: String,
    /// Organisation.
    pub organisation: Organisation,
    /// Whether this is the city's administrator.
    pub administrator: bool,
}

/// The device in `GET /v1/me`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeDevice {
    /// Device id.
    pub id: DeviceId,
    /// Label given at enrollment.
    pub label: String,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
}

/// A room the device may sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeRoom {
    /// Room id.
    pub id: RoomId,
    /// Kind.
    pub kind: RoomKind,
    /// Name shown (for a direct conversation, the other person's name).
    pub display_name: String,
    /// This professional's role there.
    pub role: Role,
}

/// `GET /v1/me`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeResponse {
    /// Who is calling.
    pub professional: MeProfessional,
    /// From which device.
    pub device: MeDevice,
    /// The rooms this device may sync.
    pub rooms: Vec<MeRoom>,
}

/// Professionals and devices, for the admin console.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryView {
    /// Registered professionals.
    pub professionals: Vec<Professional>,
    /// All devices, revoked ones included.
    pub devices: Vec<Device>,
    /// The organisations the registered professionals work for, each once.
    pub organisations: Vec<Organisation>,
}

/// An `application/problem+json` body (RFC 9457).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProblemBody {
    /// A URI naming the kind of problem (`urn:kizuna:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong with this request (never internal detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a revoked device: erase local data now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<bool>,
}
