//! What an author writes — a report draft with its vital signs, wound assessments and
//! attachments — converted to and from the core's report content, checking every field on
//! the way in.

use super::error::{KizunaError, invalid, parse_hash, parse_id};
use super::types::{Attachment, AttachmentKind, ReportDraft, Vitals, Wound};
use kizuna_core::model::{
    self, AttachmentKind as CoreKind, AttachmentRef, Importance, ReportBody, ReportContent,
    ShareScope, VitalSigns,
};
use kizuna_core::{ContentHash, ProfessionalId, Timestamp};

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
