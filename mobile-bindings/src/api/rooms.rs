//! The device's identity and the room list as Swift and Kotlin see them. Ids are strings
//! (UUIDs), times milliseconds since the Unix epoch.

/// Who this device belongs to, learnt at enrollment.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The professional's personal id.
    pub professional_id: String,
    /// This device's id (the administrator revokes it by this id).
    pub device_id: String,
    /// Name shown beside posts.
    pub name: String,
    /// Profession key (`nurse`, `care_manager`…).
    pub profession: String,
    /// Profession in Japanese (訪問看護師…).
    pub profession_ja: String,
    /// Organisation's name.
    pub organisation: String,
    /// The relay's address.
    pub relay_url: String,
}

/// Kind of room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum RoomKind {
    /// One patient's room.
    Patient,
    /// The city's important notices.
    CityNotices,
    /// Disaster and infection alerts.
    Alerts,
    /// Personal messages between two professionals.
    Direct,
}

impl From<kizuna_core::RoomKind> for RoomKind {
    fn from(k: kizuna_core::RoomKind) -> Self {
        match k {
            kizuna_core::RoomKind::Patient => RoomKind::Patient,
            kizuna_core::RoomKind::CityNotices => RoomKind::CityNotices,
            kizuna_core::RoomKind::Alerts => RoomKind::Alerts,
            kizuna_core::RoomKind::Direct => RoomKind::Direct,
        }
    }
}

/// One row of the room list.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RoomInfo {
    /// Room id.
    pub id: String,
    /// Kind.
    pub kind: RoomKind,
    /// Name shown (the patient's name for patient rooms), as the relay gave it.
    pub display_name: String,
    /// Reports (in every document of the room this device holds).
    pub report_count: u32,
    /// Reports by others this professional has not marked read.
    pub unread_count: u32,
    /// Of those, reports that name this professional as must-read (特に読んでほしい人).
    pub must_read_unread: u32,
    /// Local changes the relay has not acknowledged yet.
    pub pending_changes: u32,
    /// The relay's reason for refusing this room's changes, if it did.
    pub refusal: Option<String>,
    /// Care time of the newest report, if any.
    pub last_care_time_ms: Option<i64>,
}

impl From<kizuna_client::Identity> for Identity {
    fn from(i: kizuna_client::Identity) -> Self {
        Identity {
            professional_id: i.professional.to_string(),
            device_id: i.device.to_string(),
            name: i.name,
            profession: i.profession.key().to_string(),
            profession_ja: i.profession.label_ja().to_string(),
            organisation: i.organisation,
            relay_url: i.relay_url,
        }
    }
}

impl From<kizuna_client::RoomInfo> for RoomInfo {
    fn from(r: kizuna_client::RoomInfo) -> Self {
        RoomInfo {
            id: r.id.to_string(),
            kind: r.kind.into(),
            display_name: r.display_name,
            report_count: r.report_count,
            unread_count: r.unread_count,
            must_read_unread: r.must_read_unread,
            pending_changes: r.pending_changes,
            refusal: r.refusal,
            last_care_time_ms: r.last_care_time_ms,
        }
    }
}
