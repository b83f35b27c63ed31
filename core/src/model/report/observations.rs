//! The structured observations a report may carry: vital signs, intake and output, and a
//! wound assessment (DESIGN-R), each with its own range checks.

use crate::ValidationError;
use crate::fields::{CheckFields, check_range, check_text};
use crate::ids::ContentHash;
use crate::model::design_r::{DesignR, Size};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

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

impl CheckFields for VitalSigns {
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
        if let (Some(s), Some(d)) = (self.systolic_mmhg, self.diastolic_mmhg)
            && d >= s
        {
            return Err(ValidationError::new(
                "diastolic_mmhg",
                "must be lower than systolic",
            ));
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
        if let Some(v) = self.consciousness_jcs
            && !JCS_LEVELS.contains(&v)
        {
            return Err(ValidationError::new(
                "consciousness_jcs",
                "is not a Japan Coma Scale level",
            ));
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

impl CheckFields for IntakeOutput {
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

impl CheckFields for WoundAssessment {
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
