//! Who takes part: professionals, their organisations and devices, and the roles they hold in
//! a room. Shared by the device and the relay so both describe people the same way.

use crate::ids::{DeviceId, ProfessionalId};
use serde::{Deserialize, Serialize};

/// The professions of the home-care team (docs/domain.md). Stored by the stable English key;
/// `label_ja` gives the Japanese name shown to users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profession {
    /// 訪問看護師
    Nurse,
    /// ケアマネジャー
    CareManager,
    /// 医師
    Doctor,
    /// 薬剤師
    Pharmacist,
    /// 訪問介護員 (home helper)
    Helper,
    /// 理学療法士 (PT)
    PhysicalTherapist,
    /// 作業療法士 (OT)
    OccupationalTherapist,
    /// 言語聴覚士 (ST)
    SpeechTherapist,
    /// 歯科医師
    Dentist,
    /// 歯科衛生士
    DentalHygienist,
    /// 管理栄養士
    Dietitian,
    /// ソーシャルワーカー
    SocialWorker,
    /// 市の介護支援課 (the city's administrator; not a care provider)
    CityAdministrator,
    /// その他
    Other,
}

impl Profession {
    /// Every profession, for pickers and validation.
    pub const ALL: [Profession; 14] = [
        Profession::Nurse,
        Profession::CareManager,
        Profession::Doctor,
        Profession::Pharmacist,
        Profession::Helper,
        Profession::PhysicalTherapist,
        Profession::OccupationalTherapist,
        Profession::SpeechTherapist,
        Profession::Dentist,
        Profession::DentalHygienist,
        Profession::Dietitian,
        Profession::SocialWorker,
        Profession::CityAdministrator,
        Profession::Other,
    ];

    /// The Japanese name users see.
    pub fn label_ja(self) -> &'static str {
        match self {
            Profession::Nurse => "訪問看護師",
            Profession::CareManager => "ケアマネジャー",
            Profession::Doctor => "医師",
            Profession::Pharmacist => "薬剤師",
            Profession::Helper => "訪問介護員",
            Profession::PhysicalTherapist => "理学療法士",
            Profession::OccupationalTherapist => "作業療法士",
            Profession::SpeechTherapist => "言語聴覚士",
            Profession::Dentist => "歯科医師",
            Profession::DentalHygienist => "歯科衛生士",
            Profession::Dietitian => "管理栄養士",
            Profession::SocialWorker => "ソーシャルワーカー",
            Profession::CityAdministrator => "介護支援課",
            Profession::Other => "その他",
        }
    }

    /// The stable key used on the wire and on the command line (`nurse`, `care_manager`, …).
    pub fn key(self) -> &'static str {
        match self {
            Profession::Nurse => "nurse",
            Profession::CareManager => "care_manager",
            Profession::Doctor => "doctor",
            Profession::Pharmacist => "pharmacist",
            Profession::Helper => "helper",
            Profession::PhysicalTherapist => "physical_therapist",
            Profession::OccupationalTherapist => "occupational_therapist",
            Profession::SpeechTherapist => "speech_therapist",
            Profession::Dentist => "dentist",
            Profession::DentalHygienist => "dental_hygienist",
            Profession::Dietitian => "dietitian",
            Profession::SocialWorker => "social_worker",
            Profession::CityAdministrator => "city_administrator",
            Profession::Other => "other",
        }
    }

    /// Other Japanese names of the profession people type: the care manager's legal title
    /// 介護支援専門員 beside the everyday ケアマネジャー (and its ケアマネージャー spelling).
    pub fn aliases_ja(self) -> &'static [&'static str] {
        match self {
            Profession::CareManager => &["介護支援専門員", "ケアマネージャー"],
            _ => &[],
        }
    }

    /// Care providers are also invited to the disaster and infection alerts room.
    pub fn is_care_provider(self) -> bool {
        !matches!(self, Profession::CityAdministrator)
    }
}

impl std::str::FromStr for Profession {
    type Err = crate::error::ValidationError;
    /// Accepts the stable key, the Japanese label, or another Japanese name in common use
    /// ([`Profession::aliases_ja`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Profession::ALL
            .into_iter()
            .find(|p| p.key() == s || p.label_ja() == s || p.aliases_ja().contains(&s))
            .ok_or_else(|| {
                crate::error::ValidationError::new("profession", "is not a known profession")
            })
    }
}

/// An organisation (事業所) a professional works for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// The office's name, e.g. 「みどり訪問看護ステーション」.
    pub name: String,
    /// The 10-digit office number (事業所番号) where it has one; used by the care-plan CSV.
    pub office_number: Option<String>,
}

/// The person and device behind a write. Every change in a room records this, and the relay
/// checks it against the device's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The professional writing.
    pub professional: ProfessionalId,
    /// The device the change comes from; its bytes are the Automerge actor id.
    pub device: DeviceId,
    /// The name shown beside the post.
    pub display_name: String,
    /// Shown beside the post (訪問看護師, 医師…).
    pub profession: Profession,
    /// The organisation's name shown beside the post.
    pub organisation: String,
}

/// What a member may do in a room. The relay's directory is the authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May post reports, comments and profile edits.
    Writer,
    /// May read and set their own read receipts only (notice rooms).
    Reader,
}

/// The four kinds of room (docs/domain.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// One patient's room: consent, profile and care reports.
    Patient,
    /// The city's important notices; everyone reads, administrators write.
    CityNotices,
    /// Disaster and infection-outbreak alerts; care providers read, administrators write.
    Alerts,
    /// Personal messages between two professionals.
    Direct,
}

impl RoomKind {
    /// Stable key used in documents and on the wire.
    pub fn key(self) -> &'static str {
        match self {
            RoomKind::Patient => "patient",
            RoomKind::CityNotices => "city_notices",
            RoomKind::Alerts => "alerts",
            RoomKind::Direct => "direct",
        }
    }

    /// Parses the stable key.
    pub fn from_key(s: &str) -> Option<Self> {
        [
            RoomKind::Patient,
            RoomKind::CityNotices,
            RoomKind::Alerts,
            RoomKind::Direct,
        ]
        .into_iter()
        .find(|k| k.key() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn professions_parse_by_key_label_and_legal_title() {
        for p in Profession::ALL {
            assert_eq!(p.key().parse::<Profession>().unwrap(), p);
            assert_eq!(p.label_ja().parse::<Profession>().unwrap(), p);
        }
        assert_eq!(
            "介護支援専門員".parse::<Profession>().unwrap(),
            Profession::CareManager
        );
        assert!("astronaut".parse::<Profession>().is_err());
    }
}
