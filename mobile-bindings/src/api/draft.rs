//! What an author writes — a report draft with its vital signs, wound assessments and
//! attachments — and its conversion to and from the core's report content, checking every
//! field on the way in.

use super::error::{KizunaError, invalid, parse_hash, parse_id};
use kizuna_core::model::{
    self, AttachmentKind as CoreKind, AttachmentRef, Importance, ReportBody, ReportContent,
    ShareScope, VitalSigns,
};
use kizuna_core::{ContentHash, ProfessionalId, Timestamp};

/// Kind of attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentKind {
    /// A still image.
    Photo,
    /// A video clip.
    Video,
    /// A voice recording.
    Audio,
    /// A PDF or other document.
    Document,
}

impl From<AttachmentKind> for CoreKind {
    fn from(k: AttachmentKind) -> Self {
        match k {
            AttachmentKind::Photo => CoreKind::Photo,
            AttachmentKind::Video => CoreKind::Video,
            AttachmentKind::Audio => CoreKind::Audio,
            AttachmentKind::Document => CoreKind::Document,
        }
    }
}

impl From<CoreKind> for AttachmentKind {
    fn from(k: CoreKind) -> Self {
        match k {
            CoreKind::Photo => AttachmentKind::Photo,
            CoreKind::Video => AttachmentKind::Video,
            CoreKind::Audio => AttachmentKind::Audio,
            CoreKind::Document => AttachmentKind::Document,
        }
    }
}

/// A file attached to a report; its bytes are fetched with `Device.fetch_attachment`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// SHA-256 of the file, hex.
    pub hash: String,
    /// Photo, video, audio or document.
    pub kind: AttachmentKind,
    /// MIME type.
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// Caption.
    pub caption: Option<String>,
    /// When it was captured.
    pub captured_at_ms: Option<i64>,
    /// Hash of the small JPEG preview, for photos and videos.
    pub thumbnail_hash: Option<String>,
    /// Whether the whole file is on this device.
    pub available: bool,
}

impl Attachment {
    pub(crate) fn from_core(a: &AttachmentRef, available: bool) -> Self {
        Attachment {
            hash: a.hash.to_hex(),
            kind: a.kind.into(),
            media_type: a.media_type.clone(),
            size: a.size,
            caption: a.caption.clone(),
            captured_at_ms: a.captured_at.map(|t| t.0),
            thumbnail_hash: a.thumbnail.map(|h| h.to_hex()),
            available,
        }
    }

    pub(crate) fn to_core(&self) -> Result<AttachmentRef, KizunaError> {
        Ok(AttachmentRef {
            hash: parse_hash("attachments.hash", &self.hash)?,
            kind: self.kind.into(),
            media_type: self.media_type.clone(),
            size: self.size,
            caption: self.caption.clone(),
            captured_at: self.captured_at_ms.map(Timestamp),
            thumbnail: self
                .thumbnail_hash
                .as_deref()
                .map(|h| parse_hash("attachments.thumbnail_hash", h))
                .transpose()?,
        })
    }
}

/// One set of vital signs; every sign is optional.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct Vitals {
    /// When they were measured.
    pub measured_at_ms: i64,
    /// Body temperature, °C.
    #[uniffi(default = None)]
    pub temperature_c: Option<f64>,
    /// Systolic blood pressure.
    #[uniffi(default = None)]
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure.
    #[uniffi(default = None)]
    pub diastolic_mmhg: Option<u16>,
    /// Pulse.
    #[uniffi(default = None)]
    pub pulse_per_min: Option<u16>,
    /// SpO2, %.
    #[uniffi(default = None)]
    pub spo2_pct: Option<u8>,
    /// Respiration rate.
    #[uniffi(default = None)]
    pub respiration_per_min: Option<u16>,
    /// Blood glucose.
    #[uniffi(default = None)]
    pub glucose_mg_dl: Option<u16>,
    /// Weight.
    #[uniffi(default = None)]
    pub weight_kg: Option<f64>,
    /// Pain 0–10.
    #[uniffi(default = None)]
    pub pain: Option<u8>,
    /// Japan Coma Scale.
    #[uniffi(default = None)]
    pub consciousness_jcs: Option<u16>,
}

/// A pressure-ulcer assessment (DESIGN-R 2020) at one body site.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Wound {
    /// Body site (仙骨部…).
    pub site: String,
    /// The score in chart notation, e.g. `D3-e1s6i0g3n3p0` (the total may follow, `:13`).
    pub design_r: String,
    /// The total 0–66 (filled in by the core on reading; ignored when writing).
    #[uniffi(default = 0)]
    pub total: u8,
    /// Longest diameter, cm.
    #[uniffi(default = None)]
    pub length_cm: Option<f64>,
    /// Perpendicular diameter, cm.
    #[uniffi(default = None)]
    pub width_cm: Option<f64>,
    /// Hashes of this wound's photos among the report's attachments.
    #[uniffi(default = [])]
    pub photo_hashes: Vec<String>,
}

impl Wound {
    pub(crate) fn from_core(w: &model::WoundAssessment) -> Self {
        Wound {
            site: w.site.clone(),
            design_r: w.design_r.to_string(),
            total: w.design_r.total(),
            length_cm: w.length_cm,
            width_cm: w.width_cm,
            photo_hashes: w.photos.iter().map(|h| h.to_hex()).collect(),
        }
    }

    pub(crate) fn to_core(&self) -> Result<model::WoundAssessment, KizunaError> {
        let design_r: model::DesignR =
            self.design_r
                .trim()
                .parse()
                .map_err(
                    |e: kizuna_core::ValidationError| KizunaError::InvalidInput {
                        field: e.field,
                        problem: e.problem,
                    },
                )?;
        Ok(model::WoundAssessment {
            site: self.site.clone(),
            design_r,
            length_cm: self.length_cm,
            width_cm: self.width_cm,
            photos: self
                .photo_hashes
                .iter()
                .map(|h| parse_hash("wound.photo_hashes", h))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// What an author writes: a free-text or SOAP report with its vitals, wounds and attachments.
/// For free text fill `text`; for SOAP fill any of `problem`, `s`, `o`, `a`, `p`.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ReportDraft {
    /// When the care happened (実施日時).
    pub care_time_ms: i64,
    /// ☆ 1 to 3.
    #[uniffi(default = 1)]
    pub importance: u8,
    /// Free text (leave empty for SOAP).
    #[uniffi(default = "")]
    pub text: String,
    /// 問題点.
    #[uniffi(default = "")]
    pub problem: String,
    /// S.
    #[uniffi(default = "")]
    pub s: String,
    /// O.
    #[uniffi(default = "")]
    pub o: String,
    /// A.
    #[uniffi(default = "")]
    pub a: String,
    /// P.
    #[uniffi(default = "")]
    pub p: String,
    /// Only these members see it (empty: every member).
    #[uniffi(default = [])]
    pub audience: Vec<String>,
    /// Members asked to read it (特に読んでほしい人).
    #[uniffi(default = [])]
    pub must_read: Vec<String>,
    /// Vital signs.
    #[uniffi(default = [])]
    pub vitals: Vec<Vitals>,
    /// Pressure-ulcer assessments.
    #[uniffi(default = [])]
    pub wounds: Vec<Wound>,
    /// Files from `Device.attach_file`.
    #[uniffi(default = [])]
    pub attachments: Vec<Attachment>,
}

fn ids(field: &str, v: &[String]) -> Result<Vec<ProfessionalId>, KizunaError> {
    v.iter().map(|s| parse_id(field, s)).collect()
}

impl ReportDraft {
    pub(crate) fn to_core(&self) -> Result<ReportContent, KizunaError> {
        let soap = [&self.problem, &self.s, &self.o, &self.a, &self.p]
            .iter()
            .any(|v| !v.is_empty());
        let body = if soap {
            if !self.text.is_empty() {
                return Err(invalid("text", "give free text or SOAP fields, not both"));
            }
            ReportBody::Soap {
                problem: self.problem.clone(),
                s: self.s.clone(),
                o: self.o.clone(),
                a: self.a.clone(),
                p: self.p.clone(),
            }
        } else {
            ReportBody::Free {
                text: self.text.clone(),
            }
        };
        let audience = ids("audience", &self.audience)?;
        Ok(ReportContent {
            care_time: Timestamp(self.care_time_ms),
            importance: Importance::try_from(self.importance).map_err(|e| {
                KizunaError::InvalidInput {
                    field: e.field,
                    problem: e.problem,
                }
            })?,
            scope: if audience.is_empty() {
                ShareScope::All
            } else {
                ShareScope::Members { members: audience }
            },
            must_read: ids("must_read", &self.must_read)?,
            body,
            vitals: self.vitals.iter().map(Vitals::to_core).collect(),
            intake: None,
            wounds: self
                .wounds
                .iter()
                .map(Wound::to_core)
                .collect::<Result<_, _>>()?,
            attachments: self
                .attachments
                .iter()
                .map(Attachment::to_core)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Vitals {
    pub(crate) fn to_core(&self) -> VitalSigns {
        VitalSigns {
            measured_at: Timestamp(self.measured_at_ms),
            temperature_c: self.temperature_c,
            systolic_mmhg: self.systolic_mmhg,
            diastolic_mmhg: self.diastolic_mmhg,
            pulse_per_min: self.pulse_per_min,
            spo2_pct: self.spo2_pct,
            respiration_per_min: self.respiration_per_min,
            glucose_mg_dl: self.glucose_mg_dl,
            weight_kg: self.weight_kg,
            pain: self.pain,
            consciousness_jcs: self.consciousness_jcs,
        }
    }

    pub(crate) fn from_core(v: &VitalSigns) -> Self {
        Vitals {
            measured_at_ms: v.measured_at.0,
            temperature_c: v.temperature_c,
            systolic_mmhg: v.systolic_mmhg,
            diastolic_mmhg: v.diastolic_mmhg,
            pulse_per_min: v.pulse_per_min,
            spo2_pct: v.spo2_pct,
            respiration_per_min: v.respiration_per_min,
            glucose_mg_dl: v.glucose_mg_dl,
            weight_kg: v.weight_kg,
            pain: v.pain,
            consciousness_jcs: v.consciousness_jcs,
        }
    }
}

impl ReportDraft {
    /// The draft that writes `c` again; attachments carry whether `available(hash)`.
    pub(crate) fn from_core(c: &ReportContent, available: impl Fn(&ContentHash) -> bool) -> Self {
        let (text, problem, s, o, a, p) = match &c.body {
            ReportBody::Free { text } => (text.clone(), "", "", "", "", ""),
            ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => (
                String::new(),
                problem.as_str(),
                s.as_str(),
                o.as_str(),
                a.as_str(),
                p.as_str(),
            ),
        };
        ReportDraft {
            care_time_ms: c.care_time.0,
            importance: c.importance.stars(),
            text,
            problem: problem.into(),
            s: s.into(),
            o: o.into(),
            a: a.into(),
            p: p.into(),
            audience: match &c.scope {
                ShareScope::All => Vec::new(),
                ShareScope::Members { members } => {
                    members.iter().map(ToString::to_string).collect()
                }
            },
            must_read: c.must_read.iter().map(ToString::to_string).collect(),
            vitals: c.vitals.iter().map(Vitals::from_core).collect(),
            wounds: c.wounds.iter().map(Wound::from_core).collect(),
            attachments: c
                .attachments
                .iter()
                .map(|a| Attachment::from_core(a, available(&a.hash)))
                .collect(),
        }
    }
}
