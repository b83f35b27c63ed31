//! Care reports (ケアレポート): what the author writes, and what everyone reads back with the
//! relay's post number, comments, read receipts, edit history and withdrawal.

use crate::ValidationError;
use crate::ids::{CommentId, ContentHash, DeviceId, ProfessionalId, ReportId};
use crate::model::design_r::{DesignR, Size};
use crate::people::Profession;
use crate::time::Timestamp;
use crate::validate::{Check, check_each, check_opt_text, check_range, check_text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest SOAP field or free-text body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Longest reply comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4_000;

/// Importance ☆ to ☆☆☆ (重要度).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Importance(u8);

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
    type Error = ValidationError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        if (1..=3).contains(&v) {
            Ok(Importance(v))
        } else {
            Err(ValidationError::new("importance", "must be 1, 2 or 3"))
        }
    }
}

impl From<Importance> for u8 {
    fn from(i: Importance) -> u8 {
        i.0
    }
}

/// Who may see a report (共有者).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShareScope {
    /// Every member of the room.
    All,
    /// Only these members (the author is always included).
    Members {
        /// The audience.
        members: Vec<ProfessionalId>,
    },
}

/// The body: free text, or SOAP with the problem (問題点).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportBody {
    /// Free text.
    Free {
        /// The text.
        text: String,
    },
    /// Problem, Subjective, Objective, Assessment, Plan.
    Soap {
        /// 問題点
        problem: String,
        /// S: what the patient or family says.
        s: String,
        /// O: what was observed and measured.
        o: String,
        /// A: the professional's assessment.
        a: String,
        /// P: the plan.
        p: String,
    },
}

impl ReportBody {
    /// All the text of the body, for snippets and search.
    pub fn text(&self) -> String {
        match self {
            ReportBody::Free { text } => text.clone(),
            ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => {
                let mut out = String::new();
                for (label, v) in [("#", problem), ("S", s), ("O", o), ("A", a), ("P", p)] {
                    if !v.is_empty() {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(label);
                        out.push_str(": ");
                        out.push_str(v);
                    }
                }
                out
            }
        }
    }
}

impl Check for ReportBody {
    fn check(&self) -> Result<(), ValidationError> {
        match self {
            ReportBody::Free { text } => check_text("body.text", text, 1, MAX_BODY_CHARS),
            ReportBody::Soap {
                problem,
                s,
                o,
                a,
                p,
            } => {
                for (name, v) in [("problem", problem), ("s", s), ("o", o), ("a", a), ("p", p)] {
                    check_text(&format!("body.{name}"), v, 0, MAX_BODY_CHARS)?;
                }
                if [problem, s, o, a, p].iter().all(|v| v.trim().is_empty()) {
                    return Err(ValidationError::new(
                        "body",
                        "at least one SOAP field is required",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Japan Coma Scale levels (0, I-1…3, II-10…30, III-100…300).
pub const JCS_LEVELS: [u16; 10] = [0, 1, 2, 3, 10, 20, 30, 100, 200, 300];

/// One set of vital signs measured at one time; every sign is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VitalSigns {
    /// When they were measured.
    pub measured_at: Timestamp,
    /// Body temperature, °C, one decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// Systolic blood pressure, mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure, mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic_mmhg: Option<u16>,
    /// Pulse, beats per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse_per_min: Option<u16>,
    /// Oxygen saturation, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spo2_pct: Option<u8>,
    /// Respiration, breaths per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respiration_per_min: Option<u16>,
    /// Blood glucose, mg/dL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glucose_mg_dl: Option<u16>,
    /// Body weight, kg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// Pain, 0–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pain: Option<u8>,
    /// Consciousness on the Japan Coma Scale (one of `JCS_LEVELS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consciousness_jcs: Option<u16>,
}

impl Check for VitalSigns {
    fn check(&self) -> Result<(), ValidationError> {
        if let Some(t) = self.temperature_c {
            check_range("temperature_c", t, 30.0, 45.0)?;
            if ((t * 10.0).round() - t * 10.0).abs() > 1e-6 {
                return Err(ValidationError::new(
                    "temperature_c",
                    "has more than one decimal",
                ));
            }
        }
        if let Some(v) = self.systolic_mmhg {
            check_range("systolic_mmhg", v, 40, 300)?;
        }
        if let Some(v) = self.diastolic_mmhg {
            check_range("diastolic_mmhg", v, 20, 200)?;
        }
        if let (Some(s), Some(d)) = (self.systolic_mmhg, self.diastolic_mmhg) {
            if d >= s {
                return Err(ValidationError::new(
                    "diastolic_mmhg",
                    "must be lower than systolic",
                ));
            }
        }
        if let Some(v) = self.pulse_per_min {
            check_range("pulse_per_min", v, 20, 250)?;
        }
        if let Some(v) = self.spo2_pct {
            check_range("spo2_pct", v, 50, 100)?;
        }
        if let Some(v) = self.respiration_per_min {
            check_range("respiration_per_min", v, 4, 80)?;
        }
        if let Some(v) = self.glucose_mg_dl {
            check_range("glucose_mg_dl", v, 10, 1000)?;
        }
        if let Some(v) = self.weight_kg {
            check_range("weight_kg", v, 1.0, 300.0)?;
        }
        if let Some(v) = self.pain {
            check_range("pain", v, 0, 10)?;
        }
        if let Some(v) = self.consciousness_jcs {
            if !JCS_LEVELS.contains(&v) {
                return Err(ValidationError::new(
                    "consciousness_jcs",
                    "is not a Japan Coma Scale level",
                ));
            }
        }
        Ok(())
    }
}

/// Intake and output (水分出納, meals, excretion) over the visit period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeOutput {
    /// Fluid in, mL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fluid_in_ml: Option<u32>,
    /// Fluid out, mL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fluid_out_ml: Option<u32>,
    /// Staple food eaten (主食), %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meal_staple_pct: Option<u8>,
    /// Side dishes eaten (副食), %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meal_side_pct: Option<u8>,
    /// Urinations counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urine_count: Option<u8>,
    /// Bowel movements counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stool_count: Option<u8>,
    /// Stool form on the Bristol scale, 1–7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stool_form_bristol: Option<u8>,
}

impl Check for IntakeOutput {
    fn check(&self) -> Result<(), ValidationError> {
        if let Some(v) = self.fluid_in_ml {
            check_range("fluid_in_ml", v, 0, 20_000)?;
        }
        if let Some(v) = self.fluid_out_ml {
            check_range("fluid_out_ml", v, 0, 20_000)?;
        }
        if let Some(v) = self.meal_staple_pct {
            check_range("meal_staple_pct", v, 0, 100)?;
        }
        if let Some(v) = self.meal_side_pct {
            check_range("meal_side_pct", v, 0, 100)?;
        }
        if let Some(v) = self.urine_count {
            check_range("urine_count", v, 0, 50)?;
        }
        if let Some(v) = self.stool_count {
            check_range("stool_count", v, 0, 20)?;
        }
        if let Some(v) = self.stool_form_bristol {
            check_range("stool_form_bristol", v, 1, 7)?;
        }
        Ok(())
    }
}

/// A pressure-ulcer assessment at one body site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WoundAssessment {
    /// Body site (仙骨部, 右踵部…).
    pub site: String,
    /// The DESIGN-R 2020 score.
    pub design_r: DesignR,
    /// Longest diameter, cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_cm: Option<f64>,
    /// Diameter perpendicular to it, cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_cm: Option<f64>,
    /// Photos of this wound among the report's attachments.
    #[serde(default)]
    pub photos: Vec<ContentHash>,
}

impl Check for WoundAssessment {
    fn check(&self) -> Result<(), ValidationError> {
        check_text("site", &self.site, 1, 100)?;
        match (self.length_cm, self.width_cm) {
            (Some(l), Some(w)) => {
                check_range("length_cm", l, 0.0, 100.0)?;
                check_range("width_cm", w, 0.0, 100.0)?;
                if Size::from_measurement(l, w) != self.design_r.size {
                    return Err(ValidationError::new(
                        "design_r.size",
                        "does not match the measured length × width",
                    ));
                }
            }
            (None, None) => {}
            _ => {
                return Err(ValidationError::new(
                    "width_cm",
                    "length and width go together",
                ));
            }
        }
        if self.photos.len() > 50 {
            return Err(ValidationError::new("photos", "has more than 50 entries"));
        }
        Ok(())
    }
}

/// What kind of file an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A still image.
    Photo,
    /// A video clip.
    Video,
    /// A voice or sound recording.
    Audio,
    /// A PDF or other document.
    Document,
}

/// A file attached to a report. The bytes live outside the document, addressed by hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// SHA-256 of the file.
    pub hash: ContentHash,
    /// Photo, video, audio or document.
    pub kind: AttachmentKind,
    /// MIME type, e.g. `image/jpeg`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Caption shown under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// When it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<Timestamp>,
    /// A small preview image, itself a blob, for photos and videos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<ContentHash>,
}

impl Check for AttachmentRef {
    fn check(&self) -> Result<(), ValidationError> {
        check_text("media_type", &self.media_type, 3, 100)?;
        if !self.media_type.contains('/') {
            return Err(ValidationError::new(
                "media_type",
                "must look like type/subtype",
            ));
        }
        check_opt_text("caption", &self.caption, 500)?;
        Ok(())
    }
}

/// Everything the author of a report controls; the rest is added by others or the relay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportContent {
    /// When the visit or care happened (実施日時).
    pub care_time: Timestamp,
    /// ☆ to ☆☆☆.
    pub importance: Importance,
    /// Who may see it.
    pub scope: ShareScope,
    /// Members who should be alerted (特に読んでほしい人).
    #[serde(default)]
    pub must_read: Vec<ProfessionalId>,
    /// Free text or SOAP.
    pub body: ReportBody,
    /// Vital signs, in order of measurement.
    #[serde(default)]
    pub vitals: Vec<VitalSigns>,
    /// Intake and output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<IntakeOutput>,
    /// Pressure-ulcer assessments.
    #[serde(default)]
    pub wounds: Vec<WoundAssessment>,
    /// Photos, videos, audio and documents.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

impl ReportContent {
    /// A free-text report of normal importance shared with everyone: the common case.
    pub fn free_text(care_time: Timestamp, text: impl Into<String>) -> Self {
        ReportContent {
            care_time,
            importance: Importance::LOW,
            scope: ShareScope::All,
            must_read: Vec::new(),
            body: ReportBody::Free { text: text.into() },
            vitals: Vec::new(),
            intake: None,
            wounds: Vec::new(),
            attachments: Vec::new(),
        }
    }
}

impl Check for ReportContent {
    fn check(&self) -> Result<(), ValidationError> {
        self.body.check()?;
        check_each("vitals", &self.vitals, 50)?;
        if let Some(io) = &self.intake {
            io.check().map_err(|e| e.within("intake"))?;
        }
        check_each("wounds", &self.wounds, 20)?;
        check_each("attachments", &self.attachments, 100)?;
        if self.must_read.len() > 200 {
            return Err(ValidationError::new(
                "must_read",
                "has more than 200 entries",
            ));
        }
        if let ShareScope::Members { members } = &self.scope {
            if members.is_empty() {
                return Err(ValidationError::new("scope.members", "names nobody"));
            }
            if members.len() > 200 {
                return Err(ValidationError::new(
                    "scope.members",
                    "has more than 200 entries",
                ));
            }
        }
        for (i, w) in self.wounds.iter().enumerate() {
            for photo in &w.photos {
                if !self.attachments.iter().any(|a| a.hash == *photo) {
                    return Err(ValidationError::new(
                        format!("wounds[{i}].photos"),
                        "refers to a photo that is not attached",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How an author appears beside their posts, as recorded in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorInfo {
    /// The professional.
    pub professional: ProfessionalId,
    /// The device it was written on.
    pub device: DeviceId,
    /// Display name.
    pub name: String,
    /// Profession.
    pub profession: Profession,
    /// Organisation's name.
    pub organisation: String,
}

impl From<&crate::people::Author> for AuthorInfo {
    fn from(a: &crate::people::Author) -> Self {
        AuthorInfo {
            professional: a.professional,
            device: a.device,
            name: a.display_name.clone(),
            profession: a.profession,
            organisation: a.organisation.clone(),
        }
    }
}

/// A reply comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Stable id.
    pub id: CommentId,
    /// Who wrote it.
    pub author: AuthorInfo,
    /// When it was written.
    pub at: Timestamp,
    /// The text.
    pub text: String,
}

/// One edit by the author: when, from which device, which fields, and their previous values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportEdit {
    /// When the edit was made.
    pub at: Timestamp,
    /// The device it was made on.
    pub device: DeviceId,
    /// Names of the fields that changed.
    pub fields: Vec<String>,
    /// The previous values of those fields, as JSON.
    pub previous: String,
}

/// A withdrawn report stays in the room, marked, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// When.
    pub at: Timestamp,
    /// From which device.
    pub device: DeviceId,
    /// Why (entered in error, wrong patient…).
    pub reason: String,
}

/// A care report as read back from the room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Stable id created on the device.
    pub id: ReportId,
    /// Post number (投稿 No.) given by the relay; `None` until it has been synced.
    pub post_no: Option<u64>,
    /// Who wrote it.
    pub author: AuthorInfo,
    /// When it was written on the device (投稿日時).
    pub post_time: Timestamp,
    /// When the relay first accepted it.
    pub received_at: Option<Timestamp>,
    /// The author's content, as last edited.
    pub content: ReportContent,
    /// Reply comments, oldest first.
    pub comments: Vec<Comment>,
    /// First read time per professional.
    pub receipts: BTreeMap<ProfessionalId, Timestamp>,
    /// The author's edits, oldest first.
    pub edits: Vec<ReportEdit>,
    /// Set when the author withdrew it.
    pub withdrawn: Option<Withdrawal>,
}

/// What the report list shows: enough to draw a row without loading the full report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// Report id.
    pub id: ReportId,
    /// Post number once the relay has given one.
    pub post_no: Option<u64>,
    /// Author's display name.
    pub author_name: String,
    /// Author's profession.
    pub author_profession: Profession,
    /// Author's professional id (for "mine" and must-read logic).
    pub author: ProfessionalId,
    /// 実施日時.
    pub care_time: Timestamp,
    /// 投稿日時.
    pub post_time: Timestamp,
    /// ☆ count.
    pub importance: u8,
    /// The first characters of the body.
    pub snippet: String,
    /// How many members have read it.
    pub read_count: u32,
    /// Who has read it (so "read by me" needs no full load).
    pub readers: Vec<ProfessionalId>,
    /// How many replies.
    pub comment_count: u32,
    /// Members asked to read it.
    pub must_read: Vec<ProfessionalId>,
    /// Has photos or other attachments.
    pub attachment_count: u32,
    /// Shared with a subset only.
    pub restricted: bool,
    /// Withdrawn by the author.
    pub withdrawn: bool,
}

/// Characters of body text kept in a summary.
pub const SNIPPET_CHARS: usize = 80;

impl Report {
    /// The list row for this report.
    pub fn summary(&self) -> ReportSummary {
        ReportSummary {
            id: self.id,
            post_no: self.post_no,
            author_name: self.author.name.clone(),
            author_profession: self.author.profession,
            author: self.author.professional,
            care_time: self.content.care_time,
            post_time: self.post_time,
            importance: self.content.importance.stars(),
            snippet: self
                .content
                .body
                .text()
                .chars()
                .take(SNIPPET_CHARS)
                .collect(),
            read_count: u32::try_from(self.receipts.len()).unwrap_or(u32::MAX),
            readers: self.receipts.keys().copied().collect(),
            comment_count: u32::try_from(self.comments.len()).unwrap_or(u32::MAX),
            must_read: self.content.must_read.clone(),
            attachment_count: u32::try_from(self.content.attachments.len()).unwrap_or(u32::MAX),
            restricted: matches!(self.content.scope, ShareScope::Members { .. }),
            withdrawn: self.withdrawn.is_some(),
        }
    }
}

/// Checks a reply comment's text.
pub fn check_comment(text: &str) -> Result<(), ValidationError> {
    check_text("comment.text", text, 1, MAX_COMMENT_CHARS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vitals() -> VitalSigns {
        VitalSigns {
            measured_at: Timestamp(0),
            ..Default::default()
        }
    }

    #[test]
    fn vital_sign_errors_name_the_field() {
        let v = VitalSigns {
            temperature_c: Some(52.0),
            ..vitals()
        };
        assert_eq!(v.check().unwrap_err().field, "temperature_c");
        let v = VitalSigns {
            temperature_c: Some(36.55),
            ..vitals()
        };
        assert_eq!(v.check().unwrap_err().problem, "has more than one decimal");
        let v = VitalSigns {
            systolic_mmhg: Some(80),
            diastolic_mmhg: Some(90),
            ..vitals()
        };
        assert_eq!(v.check().unwrap_err().field, "diastolic_mmhg");
        let v = VitalSigns {
            consciousness_jcs: Some(15),
            ..vitals()
        };
        assert!(v.check().is_err());
        let ok = VitalSigns {
            temperature_c: Some(36.8),
            systolic_mmhg: Some(128),
            diastolic_mmhg: Some(76),
            spo2_pct: Some(97),
            consciousness_jcs: Some(10),
            ..vitals()
        };
        assert!(ok.check().is_ok());
    }

    #[test]
    fn report_errors_carry_the_full_path() {
        let mut r = ReportContent::free_text(Timestamp(0), "訪問しました");
        r.vitals.push(VitalSigns {
            spo2_pct: Some(120),
            ..vitals()
        });
        assert_eq!(r.check().unwrap_err().field, "vitals[0].spo2_pct");
        r.vitals.clear();
        r.intake = Some(IntakeOutput {
            stool_form_bristol: Some(9),
            ..Default::default()
        });
        assert_eq!(r.check().unwrap_err().field, "intake.stool_form_bristol");
    }

    #[test]
    fn empty_bodies_are_refused() {
        let r = ReportContent::free_text(Timestamp(0), "");
        assert_eq!(r.check().unwrap_err().field, "body.text");
        let mut r = ReportContent::free_text(Timestamp(0), "x");
        r.body = ReportBody::Soap {
            problem: String::new(),
            s: " ".into(),
            o: String::new(),
            a: String::new(),
            p: String::new(),
        };
        assert_eq!(r.check().unwrap_err().field, "body");
    }

    #[test]
    fn wound_size_must_match_measurement() {
        let w = WoundAssessment {
            site: "仙骨部".into(),
            design_r: "D3-e1s6i0g3n3p0".parse().unwrap(),
            length_cm: Some(3.0),
            width_cm: Some(2.0),
            photos: vec![],
        };
        assert!(w.check().is_ok());
        let w = WoundAssessment {
            length_cm: Some(10.0),
            ..w
        };
        assert_eq!(w.check().unwrap_err().field, "design_r.size");
    }

    #[test]
    fn importance_only_one_to_three() {
        assert!(Importance::try_from(0).is_err());
        assert!(Importance::try_from(4).is_err());
        assert_eq!(Importance::try_from(3).unwrap(), Importance::HIGH);
    }
}
