//! Who is calling: `GET /v1/me` (the professional, the device and the rooms it may sync, with
//! the names phones show) and `POST /v1/direct` (open a direct conversation). The phone reads
//! room names from here, so these types are what keeps a renamed field from silently emptying
//! room names on phones.

use crate::people::{Millis, Organisation, Profession, Role, RoomKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The professional in `GET /v1/me`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeProfessional {
    /// Personal id.
    pub id: Uuid,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeDevice {
    /// Device id.
    pub id: Uuid,
    /// Label given at enrollment.
    pub label: String,
    /// When it was enrolled (ms since 1970).
    pub enrolled_at: Millis,
}

/// A room the device may sync (also the answer of `POST /v1/direct`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeRoom {
    /// Room id.
    pub id: Uuid,
    /// Kind.
    pub kind: RoomKind,
    /// Name shown (for a direct conversation, the other person's name).
    pub display_name: String,
    /// This professional's role there.
    pub role: Role,
}

/// `GET /v1/me`: who is calling, from which device, and which rooms it may sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    /// Who is calling.
    pub professional: MeProfessional,
    /// From which device.
    pub device: MeDevice,
    /// The rooms this device may sync (archived rooms are left out).
    pub rooms: Vec<MeRoom>,
}

/// `POST /v1/direct`: open (or find) the direct conversation with another professional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// The other professional.
    pub with: Uuid,
}
