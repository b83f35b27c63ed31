//! Conversions between the contract's types and kizuna-core's (feature `core`), for the relay
//! and the phone library, which hold core types. Every enum is matched exhaustively, so a
//! variant added in core is a compile error here rather than a new spelling on the wire.
//! Contract → core is fallible where core checks more than serde (dates, hashes).

use crate::careplans::{CarePlanFileKind, ImportSummary};
use crate::notices::{AuthorInfo, Importance, Notice, NoticeContent};
use crate::people::{Millis, Organisation, Profession, Role, RoomKind};
use crate::rooms::Consent;
use kizuna_core as core;

impl From<core::Timestamp> for Millis {
    fn from(t: core::Timestamp) -> Millis {
        Millis(t.0)
    }
}

impl From<Millis> for core::Timestamp {
    fn from(t: Millis) -> core::Timestamp {
        core::Timestamp(t.0)
    }
}

macro_rules! same_enum {
    ($ours:ident, $theirs:path, [$($v:ident),* $(,)?]) => {
        impl From<$theirs> for $ours {
            fn from(x: $theirs) -> $ours {
                use $theirs as T;
                match x { $(T::$v => $ours::$v,)* }
            }
        }
        impl From<$ours> for $theirs {
            fn from(x: $ours) -> $theirs {
                use $theirs as T;
                match x { $($ours::$v => T::$v,)* }
            }
        }
        /// A value read off the wire compares with core's, without converting by hand.
        impl PartialEq<$theirs> for $ours {
            fn eq(&self, other: &$theirs) -> bool {
                *self == $ours::from(*other)
            }
        }
        /// Core's value compares with one read off the wire.
        impl PartialEq<$ours> for $theirs {
            fn eq(&self, other: &$ours) -> bool {
                $ours::from(*self) == *other
            }
        }
    };
}

same_enum!(
    Profession,
    core::Profession,
    [
        Nurse,
        CareManager,
        Doctor,
        Pharmacist,
        Helper,
        PhysicalTherapist,
        OccupationalTherapist,
        SpeechTherapist,
        Dentist,
        DentalHygienist,
        Dietitian,
        SocialWorker,
        CityAdministrator,
        Other,
    ]
);
same_enum!(Role, core::Role, [Writer, Reader]);
same_enum!(
    RoomKind,
    core::RoomKind,
    [Patient, CityNotices, Alerts, Direct]
);
same_enum!(
    CarePlanFileKind,
    core::careplan::FileKind,
    [Table1, Table2, Plan, Actuals, Supplement]
);

impl From<core::Organisation> for Organisation {
    fn from(o: core::Organisation) -> Organisation {
        Organisation {
            name: o.name,
            office_number: o.office_number,
        }
    }
}

impl From<Organisation> for core::Organisation {
    fn from(o: Organisation) -> core::Organisation {
        core::Organisation {
            name: o.name,
            office_number: o.office_number,
        }
    }
}

impl From<core::model::report::Importance> for Importance {
    fn from(i: core::model::report::Importance) -> Importance {
        // Core's importance is 1–3 by construction.
        Importance::try_from(i.stars()).unwrap_or(Importance::MEDIUM)
    }
}

impl From<Importance> for core::model::report::Importance {
    fn from(i: Importance) -> core::model::report::Importance {
        core::model::report::Importance::try_from(i.stars())
            .unwrap_or(core::model::report::Importance::MEDIUM)
    }
}

impl From<core::model::Consent> for Consent {
    fn from(c: core::model::Consent) -> Consent {
        Consent {
            given_by: c.given_by,
            relation: c.relation,
            date: c.date.to_string(),
            obtained_by: c.obtained_by,
            obtained_by_id: c.obtained_by_id.map(|p| p.0),
            form: c.form.map(|h| h.to_hex()),
        }
    }
}

impl TryFrom<Consent> for core::model::Consent {
    type Error = String;
    /// Fails with a message naming the field, for an `invalid` problem.
    fn try_from(c: Consent) -> Result<core::model::Consent, String> {
        Ok(core::model::Consent {
            given_by: c.given_by,
            relation: c.relation,
            date: c
                .date
                .parse()
                .map_err(|_| "consent.date: give a date as YYYY-MM-DD".to_string())?,
            obtained_by: c.obtained_by,
            obtained_by_id: c.obtained_by_id.map(core::ProfessionalId),
            form: c
                .form
                .map(|h| h.parse::<core::ContentHash>())
                .transpose()
                .map_err(|_| "consent.form: not a SHA-256 hex hash".to_string())?,
        })
    }
}

impl From<core::model::report::AuthorInfo> for AuthorInfo {
    fn from(a: core::model::report::AuthorInfo) -> AuthorInfo {
        AuthorInfo {
            professional: a.professional.0,
            device: a.device.0,
            name: a.name,
            profession: a.profession.into(),
            organisation: a.organisation,
        }
    }
}

impl From<core::model::NoticeContent> for NoticeContent {
    fn from(c: core::model::NoticeContent) -> NoticeContent {
        NoticeContent {
            title: c.title,
            body: c.body,
            importance: c.importance.into(),
            expires_at: c.expires_at.map(Millis::from),
        }
    }
}

impl From<NoticeContent> for core::model::NoticeContent {
    fn from(c: NoticeContent) -> core::model::NoticeContent {
        core::model::NoticeContent {
            title: c.title,
            body: c.body,
            importance: c.importance.into(),
            expires_at: c.expires_at.map(core::Timestamp::from),
        }
    }
}

impl From<core::model::Notice> for Notice {
    fn from(n: core::model::Notice) -> Notice {
        Notice {
            id: n.id.0,
            author: n.author.into(),
            posted_at: n.posted_at.into(),
            content: n.content.into(),
            receipts: n
                .receipts
                .into_iter()
                .map(|(p, t)| (p.0, t.into()))
                .collect(),
        }
    }
}

impl From<core::careplan::ImportSummary> for ImportSummary {
    fn from(s: core::careplan::ImportSummary) -> ImportSummary {
        ImportSummary {
            id: s.id.0,
            files: s
                .files
                .into_iter()
                .map(|(name, kind, rows)| (name, kind.into(), rows as u64))
                .collect(),
            insured_number: s.insured_number,
        }
    }
}

impl From<core::blobs::UploadStatus> for crate::blobs::UploadStatus {
    fn from(s: core::blobs::UploadStatus) -> crate::blobs::UploadStatus {
        crate::blobs::UploadStatus {
            offset: s.offset,
            complete: s.complete,
        }
    }
}

impl From<crate::blobs::UploadStatus> for core::blobs::UploadStatus {
    fn from(s: crate::blobs::UploadStatus) -> core::blobs::UploadStatus {
        core::blobs::UploadStatus {
            offset: s.offset,
            complete: s.complete,
        }
    }
}
