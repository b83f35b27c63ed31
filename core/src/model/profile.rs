//! The patient profile (基本情報, 家族, 医療, 介護, 住環境, 服薬). Any writer edits it; the
//! document merges it field by field, so two nurses correcting different fields offline both
//! keep their correction. Collections are keyed by id so concurrent additions never collide.

use crate::ValidationError;
use crate::fields::{CheckFields, check_opt_text, check_text};
use crate::ids::{EntryId, ProfessionalId};
use crate::time::{Date, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sex as recorded on insurance documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男性
    Male,
    /// 女性
    Female,
    /// その他・未記入
    Other,
}

/// 基本情報.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basic {
    /// 氏名
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 氏名カナ
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kana: Option<String>,
    /// 生年月日
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Date>,
    /// 性別
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// 住所
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 電話番号
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// 保険者番号 (6 or 8 digits)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<String>,
    /// 被保険者番号 (10 digits for long-term care insurance)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_number: Option<String>,
}

/// A family member or key person (家族・キーパーソン).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyMember {
    /// Name.
    pub name: String,
    /// Relation (長男, 妻…).
    pub relation: String,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Lives with the patient.
    pub lives_together: bool,
    /// Is the key person.
    pub key_person: bool,
}

/// A diagnosis (病名) and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Name of the disease.
    pub name: String,
    /// Since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Date>,
}

/// 医療.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medical {
    /// Diagnoses, keyed by entry id.
    #[serde(default)]
    pub diagnoses: BTreeMap<EntryId, Diagnosis>,
    /// Treatments (処置).
    #[serde(default)]
    pub treatments: Vec<String>,
    /// Primary doctor (主治医).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_doctor: Option<String>,
    /// Hospital or clinic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hospital: Option<String>,
    /// Allergies.
    #[serde(default)]
    pub allergies: Vec<String>,
    /// Medical devices (catheter, home oxygen, gastrostomy…).
    #[serde(default)]
    pub devices: Vec<String>,
}

/// 要介護度: the long-term-care certification level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CareLevel {
    /// 要支援1
    #[serde(rename = "要支援1")]
    Support1,
    /// 要支援2
    #[serde(rename = "要支援2")]
    Support2,
    /// 要介護1
    #[serde(rename = "要介護1")]
    Care1,
    /// 要介護2
    #[serde(rename = "要介護2")]
    Care2,
    /// 要介護3
    #[serde(rename = "要介護3")]
    Care3,
    /// 要介護4
    #[serde(rename = "要介護4")]
    Care4,
    /// 要介護5
    #[serde(rename = "要介護5")]
    Care5,
    /// 非該当
    #[serde(rename = "非該当")]
    NotApplicable,
    /// 申請中
    #[serde(rename = "申請中")]
    Applying,
}

/// 障害高齢者の日常生活自立度 (bedridden level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum BedriddenLevel {
    J1,
    J2,
    A1,
    A2,
    B1,
    B2,
    C1,
    C2,
}

/// 認知症高齢者の日常生活自立度 (dementia level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DementiaLevel {
    /// 自立
    #[serde(rename = "自立")]
    Independent,
    /// I
    #[serde(rename = "I")]
    I,
    /// IIa
    #[serde(rename = "IIa")]
    IIa,
    /// IIb
    #[serde(rename = "IIb")]
    IIb,
    /// IIIa
    #[serde(rename = "IIIa")]
    IIIa,
    /// IIIb
    #[serde(rename = "IIIb")]
    IIIb,
    /// IV
    #[serde(rename = "IV")]
    IV,
    /// M
    #[serde(rename = "M")]
    M,
}

/// Help needed for one activity of daily living.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdlLevel {
    /// 自立
    Independent,
    /// 見守り
    Supervision,
    /// 一部介助
    PartialHelp,
    /// 全介助
    FullHelp,
}

/// ADL items; each field merges on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Adl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eating: Option<AdlLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<AdlLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toileting: Option<AdlLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bathing: Option<AdlLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dressing: Option<AdlLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walking: Option<AdlLevel>,
}

/// 介護.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Care {
    /// 要介護度.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CareLevel>,
    /// Certification valid from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certified_from: Option<Date>,
    /// Certification valid until.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certified_until: Option<Date>,
    /// 障害高齢者の日常生活自立度.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedridden: Option<BedriddenLevel>,
    /// 認知症高齢者の日常生活自立度.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dementia: Option<DementiaLevel>,
    /// ADL.
    #[serde(default)]
    pub adl: Adl,
}

/// 住環境.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Housing {
    /// 戸建, 集合住宅…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Floor the patient lives on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i8>,
    /// Stairs to reach the home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stairs: Option<bool>,
    /// Lives alone (独居).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lives_alone: Option<bool>,
    /// Notes (entrance, parking, key box…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A medication (服薬).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medication {
    /// Drug name.
    pub name: String,
    /// Dose (1錠, 5mg…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<String>,
    /// Timing (朝食後…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    /// Since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Date>,
    /// Prescribed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescribed_by: Option<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Set when stopped; kept for the record rather than deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Date>,
}

/// The whole patient profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// 基本情報.
    #[serde(default)]
    pub basic: Basic,
    /// 家族・キーパーソン, keyed by entry id.
    #[serde(default)]
    pub family: BTreeMap<EntryId, FamilyMember>,
    /// 医療.
    #[serde(default)]
    pub medical: Medical,
    /// 介護.
    #[serde(default)]
    pub care: Care,
    /// 住環境.
    #[serde(default)]
    pub housing: Housing,
    /// 服薬, keyed by entry id.
    #[serde(default)]
    pub medications: BTreeMap<EntryId, Medication>,
}

/// One profile edit: who, when, which fields (values are in the document's history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEdit {
    /// Who.
    pub professional: ProfessionalId,
    /// Display name at the time.
    pub name: String,
    /// When.
    pub at: Timestamp,
    /// Paths of the changed fields, e.g. `basic.phone`, `medications`.
    pub fields: Vec<String>,
}

fn digits(field: &str, s: &Option<String>, lens: &[usize]) -> Result<(), ValidationError> {
    if let Some(s) = s
        && (!s.bytes().all(|b| b.is_ascii_digit()) || !lens.contains(&s.len()))
    {
        let l: Vec<String> = lens.iter().map(|l| l.to_string()).collect();
        return Err(ValidationError::new(
            field,
            format!("must be {} digits", l.join(" or ")),
        ));
    }
    Ok(())
}

fn phone(field: &str, s: &Option<String>) -> Result<(), ValidationError> {
    if let Some(s) = s {
        let ok = !s.is_empty()
            && s.len() <= 20
            && s.chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ');
        if !ok {
            return Err(ValidationError::new(
                field,
                "must be digits and hyphens, at most 20",
            ));
        }
    }
    Ok(())
}

impl CheckFields for Profile {
    fn check(&self) -> Result<(), ValidationError> {
        let b = &self.basic;
        check_opt_text("basic.name", &b.name, 100)?;
        check_opt_text("basic.kana", &b.kana, 100)?;
        check_opt_text("basic.address", &b.address, 300)?;
        phone("basic.phone", &b.phone)?;
        digits("basic.insurer_number", &b.insurer_number, &[6, 8])?;
        digits("basic.insured_number", &b.insured_number, &[10])?;
        if self.family.len() > 50
            || self.medications.len() > 500
            || self.medical.diagnoses.len() > 200
        {
            return Err(ValidationError::new("profile", "has too many entries"));
        }
        for (id, f) in &self.family {
            let p = format!("family[{id}]");
            check_text(&format!("{p}.name"), &f.name, 1, 100)?;
            check_text(&format!("{p}.relation"), &f.relation, 1, 50)?;
            phone(&format!("{p}.phone"), &f.phone)?;
        }
        for (id, d) in &self.medical.diagnoses {
            check_text(&format!("medical.diagnoses[{id}].name"), &d.name, 1, 200)?;
        }
        for (name, list) in [
            ("treatments", &self.medical.treatments),
            ("allergies", &self.medical.allergies),
            ("devices", &self.medical.devices),
        ] {
            if list.len() > 100 {
                return Err(ValidationError::new(
                    format!("medical.{name}"),
                    "has more than 100 entries",
                ));
            }
            for (i, v) in list.iter().enumerate() {
                check_text(&format!("medical.{name}[{i}]"), v, 1, 200)?;
            }
        }
        check_opt_text("medical.primary_doctor", &self.medical.primary_doctor, 100)?;
        check_opt_text("medical.hospital", &self.medical.hospital, 200)?;
        if let (Some(from), Some(until)) = (self.care.certified_from, self.care.certified_until)
            && until < from
        {
            return Err(ValidationError::new(
                "care.certified_until",
                "is before certified_from",
            ));
        }
        check_opt_text("housing.kind", &self.housing.kind, 50)?;
        check_opt_text("housing.notes", &self.housing.notes, 2000)?;
        if let Some(f) = self.housing.floor {
            crate::fields::check_range("housing.floor", f, -5, 100)?;
        }
        for (id, m) in &self.medications {
            let p = format!("medications[{id}]");
            check_text(&format!("{p}.name"), &m.name, 1, 200)?;
            check_opt_text(&format!("{p}.dose"), &m.dose, 100)?;
            check_opt_text(&format!("{p}.timing"), &m.timing, 100)?;
            check_opt_text(&format!("{p}.prescribed_by"), &m.prescribed_by, 100)?;
            check_opt_text(&format!("{p}.notes"), &m.notes, 1000)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_scales_serialise_in_japanese() {
        let c = Care {
            level: Some(CareLevel::Care3),
            dementia: Some(DementiaLevel::IIb),
            bedridden: Some(BedriddenLevel::B2),
            ..Default::default()
        };
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["level"], "要介護3");
        assert_eq!(j["dementia"], "IIb");
        assert_eq!(j["bedridden"], "B2");
        assert!(serde_json::from_value::<CareLevel>(serde_json::json!("要介護6")).is_err());
    }

    #[test]
    fn insured_number_must_be_ten_digits() {
        let mut p = Profile::default();
        p.basic.insured_number = Some("12345".into());
        assert_eq!(p.check().unwrap_err().field, "basic.insured_number");
        p.basic.insured_number = Some("0123456789".into());
        assert!(p.check().is_ok());
    }
}
