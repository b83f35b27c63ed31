//! People and content shared by the tests.

use kizuna_core::model::{ReportBody, ReportContent, VitalSigns};
use kizuna_core::{Author, DeviceId, Profession, ProfessionalId, Timestamp};

/// A professional on one device.
pub fn author(name: &str, profession: Profession) -> Author {
    Author {
        professional: ProfessionalId::new(),
        device: DeviceId::new(),
        display_name: name.to_string(),
        profession,
        organisation: "みどり訪問看護ステーション".to_string(),
    }
}

/// The same professional on a second device.
pub fn second_device(a: &Author) -> Author {
    Author {
        device: DeviceId::new(),
        ..a.clone()
    }
}

/// A SOAP report with vitals, mentioning `marker` so tests can look for it.
pub fn soap(at: i64, marker: &str) -> ReportContent {
    let mut r = ReportContent::free_text(Timestamp(at), "x");
    r.body = ReportBody::Soap {
        problem: "仙骨部褥瘡".into(),
        s: format!("「夜はよく眠れた」と本人。{marker}"),
        o: "仙骨部に2×3cmの発赤あり。滲出液少量。".into(),
        a: "褥瘡は改善傾向。".into(),
        p: "体位変換を2時間毎に継続。".into(),
    };
    r.vitals.push(VitalSigns {
        measured_at: Timestamp(at),
        temperature_c: Some(36.8),
        systolic_mmhg: Some(132),
        diastolic_mmhg: Some(78),
        pulse_per_min: Some(72),
        spo2_pct: Some(97),
        ..Default::default()
    });
    r
}
