//! What the device keeps about itself — its enrolment and what `/v1/me` last said — sealed
//! in its own encrypted store, so a restarted app is ready to sync without asking anyone.

use crate::enroll::Enrolled;
use crate::error::{ClientError, storage};
use kizuna_core::store::{Space, Write, key};
use kizuna_core::{Profession, RoomId, RoomStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The device's record of itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) enrolled: Enrolled,
    pub(crate) name: String,
    pub(crate) profession: Profession,
    pub(crate) organisation: String,
    /// Room names and kinds as `/v1/me` last gave them.
    #[serde(default)]
    pub(crate) rooms: BTreeMap<RoomId, String>,
    #[serde(default)]
    pub(crate) last_synced: Option<i64>,
}

impl Record {
    /// The record of a device just enrolled, before the relay told its names.
    pub(crate) fn new(enrolled: Enrolled) -> Record {
        Record {
            enrolled,
            name: String::new(),
            profession: Profession::Other,
            organisation: String::new(),
            rooms: BTreeMap::new(),
            last_synced: None,
        }
    }

    /// Takes in the answer of `/v1/me`: the professional's name, profession, organisation
    /// and the names of the rooms this device may see. Fields it lacks stay as they were.
    pub(crate) fn learn_me(&mut self, me: &serde_json::Value) {
        if let Some(p) = me.get("professional") {
            if let Some(n) = p.get("name").and_then(|v| v.as_str()) {
                self.name = n.to_string();
            }
            if let Some(pr) = p
                .get("profession")
                .and_then(|v| serde_json::from_value::<Profession>(v.clone()).ok())
            {
                self.profession = pr;
            }
            if let Some(o) = p
                .get("organisation")
                .and_then(|o| o.get("name"))
                .and_then(|v| v.as_str())
            {
                self.organisation = o.to_string();
            }
        }
        if let Some(rooms) = me.get("rooms").and_then(|r| r.as_array()) {
            self.rooms = rooms
                .iter()
                .filter_map(|r| {
                    let id: RoomId = r.get("id")?.as_str()?.parse().ok()?;
                    let name = r.get("display_name")?.as_str()?.to_string();
                    Some((id, name))
                })
                .collect();
        }
    }
}

fn record_key() -> Vec<u8> {
    key(Space::Meta, &[b"device/identity"])
}

/// Seals the record in the store.
pub(crate) fn save(store: &RoomStore, record: &Record) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec(record).map_err(storage)?;
    store.vault().apply(vec![Write::Put(record_key(), bytes)])?;
    Ok(())
}

/// The record, if the device enrolled.
pub(crate) fn load(store: &RoomStore) -> Result<Option<Record>, ClientError> {
    match store.vault().get(&record_key())? {
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).map_err(|_| storage("the device record is corrupt"))?,
        )),
        None => Ok(None),
    }
}
