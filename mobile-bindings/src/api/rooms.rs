//! The device's identity and the room list as Swift and Kotlin see them, converted from the
//! client session's.

use super::types::{Identity, RoomInfo, RoomKind};

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
