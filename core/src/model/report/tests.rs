//! Report content checks: which values are refused, and how each error names its field.

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
