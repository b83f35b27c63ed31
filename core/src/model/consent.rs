//! The consent record without which a patient room is not opened (leaflet step 3).

use crate::fields::{CheckFields, check_text};
use crate::ids::{ContentHash, ProfessionalId};
use crate::time::Date;
use serde::{Deserialize, Serialize};

/// Who consented to sharing, when, and who obtained the consent. Written by administrators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// Name of the person who consented (the patient or a family member).
    pub given_by: String,
    /// Relation to the patient (本人 for the patient themself, 長女, 妻…).
    pub relation: String,
    /// The date consent was given.
    pub date: Date,
    /// The professional or city officer who obtained it, by name.
    pub obtained_by: String,
    /// Their id where they are registered.
    pub obtained_by_id: Option<ProfessionalId>,
    /// Scan of the signed form, stored as an attachment blob.
    pub form: Option<ContentHash>,
}

impl CheckFields for Consent {
    fn check(&self) -> Result<(), crate::ValidationError> {
        check_text("given_by", &self.given_by, 1, 100)?;
        check_text("relation", &self.relation, 1, 50)?;
        check_text("obtained_by", &self.obtained_by, 1, 100)?;
        Ok(())
    }
}
