//! The directory mirrored into room documents: a room's document is created with its members
//! and consent, and follows every membership or consent change, after which the devices
//! concerned are woken on the live channel. The identity rules call these after changing
//! the directory.

use super::events::Target;
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_core::room::MemberInfo;
use kizuna_core::{CoreError, ProfessionalId, Room, RoomHandle, RoomId, Timestamp};
use std::collections::BTreeMap;

fn core(e: CoreError) -> RelayError {
    RelayError::Internal(e.to_string())
}

impl Relay {
    /// The document of a directory room, created with its members (and consent) on first use.
    /// Public for tools that fill a relay's store offline (the W3 benchmark's prepared rooms).
    pub fn room_document(&self, id: RoomId) -> Result<Option<RoomHandle>, RelayError> {
        self.directory_room_doc(id)
    }

    /// See [`Relay::room_document`].
    pub(crate) fn directory_room_doc(&self, id: RoomId) -> Result<Option<RoomHandle>, RelayError> {
        let Some(room) = self.directory().room(id)? else {
            return Ok(None);
        };
        let members = self.member_infos(id)?;
        let author = self.relay_author().clone();
        let h = self
            .documents()
            .get_or_create(id, room.kind, |doc: &mut Room| {
                let now = Timestamp::now();
                if let Some(c) = &room.consent {
                    doc.set_consent(&author, now, c)?;
                }
                doc.set_members(&author, now, &members)
            })
            .map_err(core)?;
        Ok(Some(h))
    }

    /// The directory's member list of a room, as mirrored into its document.
    pub(crate) fn member_infos(
        &self,
        room: RoomId,
    ) -> Result<BTreeMap<ProfessionalId, MemberInfo>, RelayError> {
        let mut out = BTreeMap::new();
        for (pid, role) in self.directory().members_of(room)? {
            if let Some(m) = self.directory().professional(pid)? {
                out.insert(
                    pid,
                    MemberInfo {
                        role,
                        name: m.name,
                        profession: m.profession,
                        organisation: m.organisation.name,
                    },
                );
            }
        }
        Ok(out)
    }

    /// After a membership change: mirrors the member list into the room's document (if the
    /// relay has it yet) and tells the professional's devices to sync.
    pub(crate) fn membership_changed(
        &self,
        room: RoomId,
        who: ProfessionalId,
    ) -> Result<(), RelayError> {
        let lock = self.documents().room_lock(room);
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = self.documents().get(room).map_err(core)? {
            let members = self.member_infos(room)?;
            let author = self.relay_author().clone();
            h.write(|doc| {
                if doc.members()? != members {
                    doc.set_members(&author, Timestamp::now(), &members)?;
                }
                Ok(())
            })
            .map_err(core)?;
        }
        drop(guard);
        let mut targets = vec![Target::Doc(room), Target::Professional(who, room)];
        for s in self.documents().scopes_of(room) {
            targets.push(Target::Professional(who, s.doc_id()));
        }
        self.events().publish(targets);
        Ok(())
    }

    /// After the consent record changed: writes it into the room's document (if the relay has
    /// it yet) and tells the members' devices.
    pub(crate) fn consent_changed(
        &self,
        room: RoomId,
        consent: &kizuna_core::model::Consent,
    ) -> Result<(), RelayError> {
        let lock = self.documents().room_lock(room);
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = self.documents().get(room).map_err(core)? {
            let author = self.relay_author().clone();
            h.write(|doc| {
                if doc.consent()?.as_ref() != Some(consent) {
                    doc.set_consent(&author, Timestamp::now(), consent)?;
                }
                Ok(())
            })
            .map_err(core)?;
        }
        drop(guard);
        self.events().publish([Target::Doc(room)]);
        Ok(())
    }
}
