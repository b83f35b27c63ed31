//! The records only administrators write (the relay enforces it): the patient's consent and
//! the mirrored member list.

use crate::error::Result;
use crate::fields::CheckFields;
use crate::ids::ProfessionalId;
use crate::model::Consent;
use crate::people::Author;
use crate::time::Timestamp;
use std::collections::BTreeMap;

use super::{MemberInfo, Room, codec, root_map};

impl Room {
    /// Records the patient's consent. The relay accepts this only from administrators.
    pub fn set_consent(&mut self, admin: &Author, now: Timestamp, consent: &Consent) -> Result<()> {
        consent.check()?;
        self.begin(admin);
        let obj = root_map(&self.doc, "consent")?;
        codec::reconcile_map(&mut self.doc, &obj, &codec::to_fields(consent)?)?;
        self.commit(admin, now, "set_consent", None);
        self.touched.other = true;
        Ok(())
    }

    /// The consent record, if one was written.
    pub fn consent(&self) -> Result<Option<Consent>> {
        let obj = root_map(&self.doc, "consent")?;
        let v = codec::read(&self.doc, &obj)?;
        if v.as_object().is_none_or(|m| m.is_empty()) {
            return Ok(None);
        }
        codec::from_json(v, "consent").map(Some)
    }

    /// Mirrors the directory's member list for display (administrators only, like consent).
    pub fn set_members(
        &mut self,
        admin: &Author,
        now: Timestamp,
        members: &BTreeMap<ProfessionalId, MemberInfo>,
    ) -> Result<()> {
        self.begin(admin);
        let obj = root_map(&self.doc, "members")?;
        codec::reconcile_map(&mut self.doc, &obj, &codec::to_fields(members)?)?;
        self.commit(admin, now, "set_members", None);
        self.touched.other = true;
        Ok(())
    }

    /// The mirrored member list.
    pub fn members(&self) -> Result<BTreeMap<ProfessionalId, MemberInfo>> {
        let obj = root_map(&self.doc, "members")?;
        codec::from_json(codec::read(&self.doc, &obj)?, "members")
    }
}
