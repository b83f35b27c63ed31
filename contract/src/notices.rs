//! City notices and disaster/infection alerts, which administrators post and whose readers
//! they follow (`/v1/admin/notices`).

use crate::people::{Millis, Profession};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Which city room a notice goes to (also the `room` query of `GET /v1/admin/notices`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CityRoom {
    /// 市からのお知らせ: every professional reads it.
    Notices,
    /// 災害・感染症アラート: care providers read it.
    Alerts,
}

impl CityRoom {
    /// The key used in URLs and JSON, so the CLI builds the query from the same spelling.
    pub fn key(self) -> &'static str {
        match self {
            CityRoom::Notices => "notices",
            CityRoom::Alerts => "alerts",
        }
    }

    /// Parses [`CityRoom::key`] (the query parameter is read as text).
    pub fn from_key(s: &str) -> Option<CityRoom> {
        match s {
            "notices" => Some(CityRoom::Notices),
            "alerts" => Some(CityRoom::Alerts),
            _ => None,
        }
    }
}

/// Importance ☆ to ☆☆☆: 1, 2 or 3; anything else is refused when the body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Importance(u8);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Importance {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(3))
            .description(Some("Importance ☆ to ☆☆☆: 1, 2 or 3."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Importance {}

impl Importance {
    /// ☆
    pub const LOW: Importance = Importance(1);
    /// ☆☆
    pub const MEDIUM: Importance = Importance(2);
    /// ☆☆☆
    pub const HIGH: Importance = Importance(3);

    /// 1, 2 or 3.
    pub fn stars(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Importance {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        if (1..=3).contains(&v) {
            Ok(Importance(v))
        } else {
            Err("importance: must be 1, 2 or 3".into())
        }
    }
}

impl From<Importance> for u8 {
    fn from(i: Importance) -> u8 {
        i.0
    }
}

/// `POST /v1/admin/notices`: post a notice or alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    /// `notices` or `alerts`.
    pub room: CityRoom,
    /// Headline.
    pub title: String,
    /// Text.
    pub body: String,
    /// 1–3.
    pub importance: Importance,
    /// After this it shows as expired (ms since 1970).
    #[serde(default)]
    pub expires_at: Option<Millis>,
}

/// The answer to a posted notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostedNotice {
    /// The notice id.
    pub id: Uuid,
    /// The room it went to.
    pub room: Uuid,
}

/// How an author appears beside their posts, as recorded in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorInfo {
    /// The professional.
    pub professional: Uuid,
    /// The device it was written on.
    pub device: Uuid,
    /// Display name.
    pub name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation's name.
    pub organisation: String,
}

/// What an administrator wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeContent {
    /// Headline.
    pub title: String,
    /// Full text.
    pub body: String,
    /// ☆ to ☆☆☆.
    pub importance: Importance,
    /// After this the notice is shown as expired (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// A notice as read back from its room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    /// Id.
    pub id: Uuid,
    /// The administrator who posted it.
    pub author: AuthorInfo,
    /// When it was posted.
    pub posted_at: Millis,
    /// The content.
    pub content: NoticeContent,
    /// First read time per professional id.
    pub receipts: BTreeMap<Uuid, Millis>,
}

/// One reader of a notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReaderView {
    /// The professional.
    pub professional: Uuid,
    /// Their name (removed professionals keep their id only).
    pub name: String,
    /// When they first read it.
    pub read_at: Millis,
}

/// `GET /v1/admin/notices`: a notice with who should and who did read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeView {
    /// The notice (content and first-read times).
    pub notice: Notice,
    /// Which room it is in.
    pub room: CityRoom,
    /// How many members the room has besides administrators (who should read it).
    pub audience: u64,
    /// Members who have read it, by name, earliest first.
    pub read_by: Vec<ReaderView>,
    /// Whether its expiry has passed.
    pub expired: bool,
}
