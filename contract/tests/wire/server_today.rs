//! Verbatim copies (docs dropped) of the relay's body types as of commit 17220e7
//! (`server/src/wire.rs`, `admin_api.rs`, `admin_docs.rs`, `console/auth.rs`, `events.rs`,
//! `audit.rs`, `directory.rs`), with their core field types: what the wire is today. The
//! compatibility tests serialise these and the contract's types and compare the bytes. Once
//! the relay uses the contract, this file is history and can go.

use kizuna_core::careplan::ImportSummary;
use kizuna_core::model::{Consent, Importance, Notice};
use kizuna_core::{
    DeviceId, EntryId, NoticeId, Organisation, Profession, ProfessionalId, Role, RoomId, RoomKind,
    Timestamp,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProfessional {
    pub name: String,
    pub kana: String,
    pub profession: Profession,
    pub organisation: Organisation,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollCodeRequest {
    #[serde(default)]
    pub valid_hours: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollCodeResponse {
    pub professional: ProfessionalId,
    pub code: String,
    pub expires_at: Timestamp,
    pub relay_url: String,
    pub ca_fingerprint: String,
    pub qr_payload: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub code: String,
    pub csr_pem: String,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub professional: ProfessionalId,
    pub device: DeviceId,
    pub certificate_pem: String,
    pub ca_pem: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    pub kind: RoomKind,
    pub display_name: String,
    pub consent: Option<Consent>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub role: Role,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default)]
    pub wipe: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    pub with: ProfessionalId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberView {
    pub professional: ProfessionalId,
    pub name: String,
    pub profession: Profession,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomView {
    pub id: RoomId,
    pub kind: RoomKind,
    pub display_name: String,
    pub consent: Option<Consent>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    pub members: Vec<MemberView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeProfessional {
    pub id: ProfessionalId,
    pub name: String,
    pub kana: String,
    pub profession: Profession,
    pub profession_ja: String,
    pub organisation: Organisation,
    pub administrator: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeDevice {
    pub id: DeviceId,
    pub label: String,
    pub enrolled_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeRoom {
    pub id: RoomId,
    pub kind: RoomKind,
    pub display_name: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeResponse {
    pub professional: MeProfessional,
    pub device: MeDevice,
    pub rooms: Vec<MeRoom>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Professional {
    pub id: ProfessionalId,
    pub name: String,
    pub kana: String,
    pub profession: Profession,
    pub organisation: Organisation,
    pub registered_at: Timestamp,
    pub removed_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub professional: ProfessionalId,
    pub label: String,
    pub enrolled_at: Timestamp,
    pub cert_fingerprint: String,
    pub revoked_at: Option<Timestamp>,
    pub wipe: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryView {
    pub professionals: Vec<Professional>,
    pub devices: Vec<Device>,
    pub organisations: Vec<Organisation>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    pub archived: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CityRoom {
    Notices,
    Alerts,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    pub room: CityRoom,
    pub title: String,
    pub body: String,
    pub importance: Importance,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostedNotice {
    pub id: NoticeId,
    pub room: RoomId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoticeView {
    pub notice: Notice,
    pub room: CityRoom,
    pub audience: usize,
    pub read_by: Vec<ReaderView>,
    pub expired: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReaderView {
    pub professional: ProfessionalId,
    pub name: String,
    pub read_at: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomActivity {
    pub reports: u64,
    pub reports_this_week: u64,
    pub unread_must_reads: u64,
    pub last_post: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanUpload {
    pub name: String,
    pub data_base64: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanUploadRequest {
    pub files: Vec<CarePlanUpload>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CarePlanImportView {
    pub id: EntryId,
    pub imported_at: Timestamp,
    pub imported_by: String,
    pub files: Vec<(String, usize)>,
}

/// `ImportSummary` is core's own type; re-exported here so the tests name one module.
pub type ImportSummaryToday = ImportSummary;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    pub login: String,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConsoleSetup {
    pub professional: ProfessionalId,
    pub login: String,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub cursor: u64,
    pub docs: Vec<RoomId>,
    #[serde(default)]
    pub resync: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: Timestamp,
    pub professional: Option<ProfessionalId>,
    pub device: Option<DeviceId>,
    pub action: String,
    pub room: Option<RoomId>,
    pub subject: Option<String>,
    pub changes: Vec<String>,
    pub reason: Option<String>,
    pub prev: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub intact: bool,
    pub records: u64,
    pub first_broken: Option<u64>,
    pub problem: Option<String>,
}
