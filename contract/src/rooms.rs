//! Patient rooms as administrators manage them: create one with its consent record, invite
//! and remove members, archive it, attach the scanned consent form, see its activity.

use crate::people::{Millis, Profession, Role, RoomKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who consented to sharing, when, and who obtained the consent (required for a patient room).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    /// Name of the person who consented (the patient or a family member).
    pub given_by: String,
    /// Relation to the patient (本人, 長女, 妻…).
    pub relation: String,
    /// The date consent was given, `YYYY-MM-DD`.
    #[cfg_attr(feature = "openapi", schema(format = Date, example = "2026-04-01"))]
    pub date: String,
    /// The professional or city officer who obtained it, by name.
    pub obtained_by: String,
    /// Their id where they are registered.
    pub obtained_by_id: Option<Uuid>,
    /// SHA-256 (lower-case hex) of the scanned signed form, stored as an attachment.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub form: Option<String>,
}

/// `POST /v1/admin/rooms`: create a patient room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    /// Must be `patient`.
    pub kind: RoomKind,
    /// The patient's name as members see it (patient data: never logged).
    pub display_name: String,
    /// The consent record (required; `null` is refused).
    pub consent: Option<Consent>,
}

/// `PUT /v1/admin/rooms/{room}/members/{professional}`: the role to grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// `writer` or `reader`.
    pub role: Role,
}

/// `PUT /v1/admin/rooms/{id}/archived`: archive or restore a patient room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// `true` to archive, `false` to restore.
    pub archived: bool,
}

/// A member of a room as administrators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberView {
    /// The professional.
    pub professional: Uuid,
    /// Their name.
    pub name: String,
    /// Their profession.
    pub profession: Profession,
    /// Their role in the room.
    pub role: Role,
}

/// A room with consent and members, for administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomView {
    /// The room id.
    pub id: Uuid,
    /// Its kind.
    pub kind: RoomKind,
    /// Its name (the patient's name for patient rooms).
    pub display_name: String,
    /// The consent record of a patient room (`null` for other rooms).
    pub consent: Option<Consent>,
    /// When it was created.
    pub created_at: Millis,
    /// When it was archived (absent unless archived; no device syncs an archived room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Millis>,
    /// Its members.
    pub members: Vec<MemberView>,
}

/// `GET /v1/admin/rooms/{id}/activity`: a patient room's activity, counts only (no clinical
/// text).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomActivity {
    /// Reports in the room (restricted documents included).
    pub reports: u64,
    /// Reports whose care time or post time lies in the last 7 days.
    pub reports_this_week: u64,
    /// Must-read requests not read yet: one per report and person.
    pub unread_must_reads: u64,
    /// When the newest report was posted (`null` when none).
    pub last_post: Option<Millis>,
}
