//! Who takes part, as the wire spells it: professions, organisations, roles and kinds of room.
//! These are the contract's own copies of kizuna-core's enums (same snake_case keys), so the
//! contract stays a leaf crate; the `core` feature converts between the two and the tests
//! check every spelling against core.

use serde::{Deserialize, Serialize};

/// A time: milliseconds since the Unix epoch (UTC), the relay's one time format on the wire
/// (a bare JSON integer, like kizuna-core's `Timestamp`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Millis {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::KnownFormat;
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("Milliseconds since 1970-01-01T00:00:00Z."))
            .examples([1_775_000_000_000_i64])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Millis {}

/// A profession of the home-care team, by its stable key (`nurse`, `care_manager`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// 市の介護支援課: the city's administrator (not a care provider).
    CityAdministrator,
    /// その他
    Other,
}

impl Profession {
    /// Every profession, so tests and pickers can walk them all.
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
}

/// An organisation (事業所) a professional works for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organisation {
    /// The office's name, e.g. 「みどり訪問看護ステーション」.
    pub name: String,
    /// The 10-digit office number (事業所番号), `null` where it has none.
    pub office_number: Option<String>,
}

/// What a member may do in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May post reports, comments and profile edits.
    Writer,
    /// May read and set their own read receipts only.
    Reader,
}

/// The four kinds of room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// One patient's room.
    Patient,
    /// The city's notices.
    CityNotices,
    /// Disaster and infection-outbreak alerts.
    Alerts,
    /// Personal messages between two professionals.
    Direct,
}
