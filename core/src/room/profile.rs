//! The patient profile: merged field by field, with a log of who changed what.

use crate::error::{CoreError, Result};
use crate::fields::CheckFields;
use crate::model::{Profile, ProfileEdit};
use crate::people::Author;
use crate::time::Timestamp;
use std::collections::BTreeMap;

use super::{Room, codec, root_map};

impl Room {
    /// The patient profile as merged so far.
    pub fn profile(&self) -> Result<Profile> {
        let obj = root_map(&self.doc, "profile")?;
        codec::from_json(codec::read(&self.doc, &obj)?, "profile")
    }

    /// Edits the profile: `edit` changes a copy, and only the fields it changed are written,
    /// so concurrent edits of other fields merge. Returns the changed top-level sections.
    pub fn edit_profile(
        &mut self,
        author: &Author,
        now: Timestamp,
        edit: impl FnOnce(&mut Profile),
    ) -> Result<Vec<String>> {
        let before = self.profile()?;
        let mut after = before.clone();
        edit(&mut after);
        after.check()?;
        if after == before {
            return Ok(Vec::new());
        }
        self.begin(author);
        let obj = root_map(&self.doc, "profile")?;
        let old = codec::to_fields(&before)?;
        let new = codec::to_fields(&after)?;
        let mut fields = Vec::new();
        for (section, value) in &new {
            if old.get(section) != Some(value) {
                if let (Some(serde_json::Value::Object(o)), serde_json::Value::Object(n)) =
                    (old.get(section), value)
                {
                    for (k, v) in n {
                        if o.get(k) != Some(v) {
                            fields.push(format!("{section}.{k}"));
                        }
                    }
                    for k in o.keys().filter(|k| !n.contains_key(*k)) {
                        fields.push(format!("{section}.{k}"));
                    }
                } else {
                    fields.push(section.clone());
                }
            }
        }
        codec::reconcile_map(&mut self.doc, &obj, &new)?;
        let log = root_map(&self.doc, "profile_log")?;
        let entry = ProfileEdit {
            professional: author.professional,
            name: author.display_name.clone(),
            at: now,
            fields: fields.clone(),
        };
        codec::reconcile_key(
            &mut self.doc,
            &log,
            &crate::ids::EntryId::new().to_string(),
            &serde_json::to_value(&entry).map_err(|_| CoreError::Malformed("profile edit"))?,
        )?;
        self.commit(author, now, "edit_profile", None);
        self.touched.other = true;
        Ok(fields)
    }

    /// Who changed which profile fields when, oldest first.
    pub fn profile_history(&self) -> Result<Vec<ProfileEdit>> {
        let obj = root_map(&self.doc, "profile_log")?;
        let map: BTreeMap<String, ProfileEdit> =
            codec::from_json(codec::read(&self.doc, &obj)?, "profile log")?;
        let mut out: Vec<ProfileEdit> = map.into_values().collect();
        out.sort_by_key(|e| e.at);
        Ok(out)
    }
}
