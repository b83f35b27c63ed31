//! What the device keeps about itself — its enrolment and what `/v1/me` last said — sealed
//! in its own encrypted store, so a restarted app is ready to sync without asking anyone.

use crate::enroll::Enrolled;
use crate::error::{ClientError, storage};
use kizuna_contract::me::MeResponse;
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
    /// Room names as `/v1/me` last gave them.
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

    /// Takes in the answer of `/v1/me` (the relay's own type, read whole): the
    /// professional's name, profession, organisation and the names of the rooms this device
    /// may see.
    pub(crate) fn learn_me(&mut self, me: &MeResponse) {
        self.name = me.professional.name.clone();
        self.profession = me.professional.profession.into();
        self.organisation = me.professional.organisation.name.clone();
        self.rooms = me
            .rooms
            .iter()
            .map(|r| (RoomId(r.id), r.display_name.clone()))
            .collect();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transport::TransportError;
    use crate::transport::wire::decode;
    use kizuna_contract::me::{MeDevice, MeProfessional, MeRoom};
    use kizuna_contract::{Millis, Organisation, Role, RoomKind};

    fn enrolled() -> Enrolled {
        Enrolled {
            relay: "https://relay.invalid".into(),
            ca_pem: String::new(),
            cert_pem: String::new(),
            key_pem: String::new(),
            professional: String::new(),
            device: String::new(),
        }
    }

    /// What the relay answers, built from the contract's own types.
    fn me(room: RoomId) -> MeResponse {
        MeResponse {
            professional: MeProfessional {
                id: kizuna_core::ProfessionalId::new().0,
                name: "佐藤 看護師".into(),
                kana: "サトウ".into(),
                profession: kizuna_contract::Profession::Nurse,
                profession_ja: "看護師".into(),
                organisation: Organisation {
                    name: "みなと訪問看護".into(),
                    office_number: None,
                },
                administrator: false,
            },
            device: MeDevice {
                id: kizuna_core::DeviceId::new().0,
                label: "phone".into(),
                enrolled_at: Millis(1),
            },
            rooms: vec![MeRoom {
                id: room.0,
                kind: RoomKind::Patient,
                display_name: "山田 花子".into(),
                role: Role::Writer,
            }],
        }
    }

    /// The link of issue 17: the relay's `MeResponse`, on the wire and read back through the
    /// client's own path, fills the names the app shows. A renamed field in the contract is
    /// a compile error here; a wire mismatch fails this test.
    #[test]
    fn learns_names_from_the_contracts_me_response() {
        let room = RoomId::new();
        let body = serde_json::to_vec(&me(room)).unwrap();
        let read: MeResponse = decode("GET /v1/me", 200, &body).unwrap();
        let mut record = Record::new(enrolled());
        record.learn_me(&read);
        assert_eq!(record.name, "佐藤 看護師");
        assert_eq!(record.profession, Profession::Nurse);
        assert_eq!(record.organisation, "みなと訪問看護");
        assert_eq!(
            record.rooms.get(&room).map(String::as_str),
            Some("山田 花子")
        );
    }

    /// A `/v1/me` without a field is an error naming the field, not an empty room name, and
    /// it carries no patient data.
    #[test]
    fn a_missing_field_is_a_clear_error_without_patient_data() {
        let mut json = serde_json::to_value(me(RoomId::new())).unwrap();
        let room = json["rooms"][0].as_object_mut().unwrap();
        let name = room.remove("display_name").unwrap();
        room.insert("name".into(), name);
        let body = serde_json::to_vec(&json).unwrap();
        let err = decode::<MeResponse>("GET /v1/me", 200, &body).unwrap_err();
        let TransportError::Rejected { detail, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(detail.contains("GET /v1/me"), "{detail}");
        assert!(detail.contains("`display_name` is missing"), "{detail}");
        let shown = format!("{err} {err:?} {}", crate::ClientError::from(err.clone()));
        for patient_data in ["山田", "花子", "佐藤"] {
            assert!(!shown.contains(patient_data), "{shown}");
        }
    }
}
