//! Rooms and who is in them: the two city rooms (notices, alerts), patient rooms (opened with
//! consent, archived when the patient leaves care), memberships, direct conversations between
//! two professionals, and what a device may sync (`/v1/me`). These rules live with identity
//! because a room's membership is directory data: the same records that say who a
//! professional is say which rooms their devices see. The room *documents* are `sync`'s.

use crate::error::RelayError;
use crate::identity::directory::{Device, Professional, Room};
use crate::state::Relay;
use kizuna_contract::me::{MeDevice, MeProfessional, MeResponse, MeRoom};
use kizuna_contract::rooms::{MemberView, RoomView};
use kizuna_core::fields::{CheckFields, check_text};
use kizuna_core::model::Consent;
use kizuna_core::{ProfessionalId, Role, RoomId, RoomKind, Timestamp};

/// What creating a patient room takes (the rule's input; `POST /v1/admin/rooms` reads the
/// contract's `NewRoom` and converts it, checking the consent's date and form hash).
#[derive(Clone, Debug)]
pub struct NewRoom {
    /// Must be `patient`.
    pub kind: RoomKind,
    /// The patient's name as members see it (patient data: never logged).
    pub display_name: String,
    /// The consent record (required).
    pub consent: Option<Consent>,
}

impl TryFrom<kizuna_contract::rooms::NewRoom> for NewRoom {
    type Error = RelayError;
    fn try_from(r: kizuna_contract::rooms::NewRoom) -> Result<NewRoom, RelayError> {
        Ok(NewRoom {
            kind: r.kind.into(),
            display_name: r.display_name,
            consent: r
                .consent
                .map(Consent::try_from)
                .transpose()
                .map_err(RelayError::Invalid)?,
        })
    }
}

impl From<&NewRoom> for kizuna_contract::rooms::NewRoom {
    fn from(r: &NewRoom) -> kizuna_contract::rooms::NewRoom {
        kizuna_contract::rooms::NewRoom {
            kind: r.kind.into(),
            display_name: r.display_name.clone(),
            consent: r.consent.clone().map(Into::into),
        }
    }
}

const META_NOTICES: &str = "room:city_notices";
const META_ALERTS: &str = "room:alerts";

impl Relay {
    /// Makes the city notices and alerts rooms if the directory has none yet (at start-up,
    /// before the relay serves).
    pub fn ensure_city_rooms(&self) -> Result<(), RelayError> {
        self.notices_room()?;
        self.alerts_room()?;
        Ok(())
    }

    fn ensure_city_room(
        &self,
        key: &str,
        kind: RoomKind,
        name: &str,
    ) -> Result<RoomId, RelayError> {
        if let Some(id) = self.dir.meta(key)? {
            let id =
                uuid::Uuid::from_slice(&id).map_err(|e| RelayError::Internal(e.to_string()))?;
            return Ok(RoomId(id));
        }
        let room = Room {
            id: RoomId::new(),
            kind,
            display_name: name.to_string(),
            consent: None,
            created_at: Timestamp::now(),
            archived_at: None,
        };
        // The relay's own act at its first start: audited first, like an administrator's.
        self.audit().record(crate::audit::Entry {
            action: "relay.city_room.created",
            room: Some(room.id),
            subject: Some(kind.key().to_string()),
            ..crate::audit::Entry::default()
        })?;
        self.dir.put_room(&room)?;
        self.dir.set_meta(key, room.id.as_bytes())?;
        tracing::info!(room = %room.id, kind = kind.key(), "city room created");
        Ok(room.id)
    }

    /// The city notices room's id.
    pub fn notices_room(&self) -> Result<RoomId, RelayError> {
        self.ensure_city_room(META_NOTICES, RoomKind::CityNotices, "市からのお知らせ")
    }

    /// The disaster and infection alerts room's id.
    pub fn alerts_room(&self) -> Result<RoomId, RelayError> {
        self.ensure_city_room(META_ALERTS, RoomKind::Alerts, "災害・感染症アラート")
    }

    /// Creates a patient room. Only patient rooms are created this way: the city rooms exist
    /// once, and direct conversations are opened by professionals.
    pub fn create_room(&self, new: NewRoom) -> Result<Room, RelayError> {
        self.create_room_as(RoomId::new(), new)
    }

    /// [`Relay::create_room`] with the room's id chosen by the caller: the administrative act
    /// writes its audit record, naming the id, before the act.
    pub fn create_room_as(&self, id: RoomId, new: NewRoom) -> Result<Room, RelayError> {
        if new.kind != RoomKind::Patient {
            return Err(RelayError::Invalid(
                "kind: only patient rooms are created by administrators".into(),
            ));
        }
        check_text("display_name", &new.display_name, 1, 100)?;
        let consent = new.consent.ok_or_else(|| {
            RelayError::Invalid("consent: a patient room is not opened without consent".into())
        })?;
        consent
            .check()
            .map_err(|e| RelayError::Invalid(e.within("consent").to_string()))?;
        let room = Room {
            id,
            kind: RoomKind::Patient,
            display_name: new.display_name,
            consent: Some(consent),
            created_at: Timestamp::now(),
            archived_at: None,
        };
        self.dir.put_room(&room)?;
        self.dir.flush()?;
        // The patient's name is patient data: log the id only.
        tracing::info!(room = %room.id, "patient room created");
        Ok(room)
    }

    /// A room with its members, for administrators.
    pub fn room_view(&self, id: RoomId) -> Result<RoomView, RelayError> {
        let room = self.dir.room(id)?.ok_or(RelayError::NotFound("room"))?;
        let mut members = Vec::new();
        for (pid, role) in self.dir.members_of(id)? {
            if let Some(p) = self.dir.professional(pid)? {
                members.push(MemberView {
                    professional: pid.0,
                    name: p.name,
                    profession: p.profession.into(),
                    role: role.into(),
                });
            }
        }
        Ok(RoomView {
            id: room.id.0,
            kind: room.kind.into(),
            display_name: room.display_name,
            consent: room.consent.map(Into::into),
            created_at: room.created_at.into(),
            archived_at: room.archived_at.map(Into::into),
            members,
        })
    }

    /// Every room (direct conversations excluded: they are private to their two members).
    pub fn rooms(&self) -> Result<Vec<RoomView>, RelayError> {
        let mut rooms = self.dir.rooms()?;
        rooms.retain(|r| r.kind != RoomKind::Direct);
        rooms.sort_by_key(|r| r.created_at);
        rooms.into_iter().map(|r| self.room_view(r.id)).collect()
    }

    /// Invites a professional into a room. In notice and alert rooms only administrators
    /// write; direct conversations keep their two members.
    pub fn invite(
        &self,
        room: RoomId,
        professional: ProfessionalId,
        role: Role,
    ) -> Result<(), RelayError> {
        let r = self.dir.room(room)?.ok_or(RelayError::NotFound("room"))?;
        let p = self.active_professional(professional)?;
        if r.archived_at.is_some() {
            return Err(RelayError::Conflict(
                "room: the room is archived; restore it before inviting".into(),
            ));
        }
        match r.kind {
            RoomKind::Direct => {
                return Err(RelayError::Invalid(
                    "room: a direct conversation has exactly its two members".into(),
                ));
            }
            RoomKind::CityNotices | RoomKind::Alerts if role == Role::Writer && !p.is_admin() => {
                return Err(RelayError::Invalid(
                    "role: only administrators write in notice and alert rooms".into(),
                ));
            }
            _ => {}
        }
        self.dir.set_membership(room, professional, role)?;
        self.dir.flush()?;
        self.membership_changed(room, professional)?;
        tracing::info!(room = %room, professional = %professional, role = ?role, "member invited");
        Ok(())
    }

    /// Removes a professional from a room; their devices stop seeing it at once.
    pub fn remove_member(
        &self,
        room: RoomId,
        professional: ProfessionalId,
    ) -> Result<(), RelayError> {
        if !self.dir.remove_membership(room, professional)? {
            return Err(RelayError::NotFound("membership"));
        }
        self.dir.flush()?;
        self.membership_changed(room, professional)?;
        tracing::info!(room = %room, professional = %professional, "member removed");
        Ok(())
    }

    /// Archives a patient room (the patient left care) or restores it. An archived room
    /// keeps its documents, members and audit trail on the relay, but no device syncs it:
    /// members' devices are told at once and delete their copies (they get `Gone`).
    pub fn set_archived(&self, room: RoomId, archived: bool) -> Result<RoomView, RelayError> {
        let mut r = self.dir.room(room)?.ok_or(RelayError::NotFound("room"))?;
        if r.kind != RoomKind::Patient {
            return Err(RelayError::Invalid(
                "room: only patient rooms are archived".into(),
            ));
        }
        let changed = r.archived_at.is_some() != archived;
        if changed {
            r.archived_at = archived.then(Timestamp::now);
            self.dir.put_room(&r)?;
            self.dir.flush()?;
            for (who, _) in self.dir.members_of(room)? {
                self.membership_changed(room, who)?;
            }
            tracing::info!(room = %room, archived, "room archive state changed");
        }
        self.room_view(room)
    }

    /// The rooms a professional's devices may sync now: their memberships, without
    /// archived rooms.
    pub fn sync_memberships(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<(RoomId, Role)>, RelayError> {
        let mut out = Vec::new();
        for (room, role) in self.dir.memberships_of(professional)? {
            match self.dir.room(room)? {
                Some(r) if r.archived_at.is_some() => {}
                _ => out.push((room, role)),
            }
        }
        Ok(out)
    }

    /// What `GET /v1/me` answers: the professional, the device and the rooms it may sync.
    pub fn me(&self, p: &Professional, d: &Device) -> Result<MeResponse, RelayError> {
        let mut rooms = Vec::new();
        for (rid, role) in self.dir.memberships_of(p.id)? {
            let Some(room) = self.dir.room(rid)? else {
                continue;
            };
            if room.archived_at.is_some() {
                continue;
            }
            let display_name = if room.kind == RoomKind::Direct {
                self.direct_partner_name(rid, p.id)?
                    .unwrap_or(room.display_name)
            } else {
                room.display_name
            };
            rooms.push((
                kind_order(room.kind),
                MeRoom {
                    id: rid.0,
                    kind: room.kind.into(),
                    display_name,
                    role: role.into(),
                },
            ));
        }
        rooms.sort_by_key(|(order, r)| (*order, r.display_name.clone()));
        let rooms = rooms.into_iter().map(|(_, r)| r).collect();
        Ok(MeResponse {
            professional: MeProfessional {
                id: p.id.0,
                name: p.name.clone(),
                kana: p.kana.clone(),
                profession: p.profession.into(),
                profession_ja: p.profession.label_ja().to_string(),
                organisation: p.organisation.clone().into(),
                administrator: p.is_admin(),
            },
            device: MeDevice {
                id: d.id.0,
                label: d.label.clone(),
                enrolled_at: d.enrolled_at.into(),
            },
            rooms,
        })
    }

    fn direct_partner_name(
        &self,
        room: RoomId,
        me: ProfessionalId,
    ) -> Result<Option<String>, RelayError> {
        for (pid, _) in self.dir.members_of(room)? {
            if pid != me {
                return Ok(self.dir.professional(pid)?.map(|p| p.name));
            }
        }
        Ok(None)
    }

    /// Opens (or returns the existing) direct conversation between two professionals.
    pub fn direct_room(
        &self,
        me: &Professional,
        with: ProfessionalId,
    ) -> Result<MeRoom, RelayError> {
        if with == me.id {
            return Err(RelayError::Invalid(
                "with: a conversation needs another professional".into(),
            ));
        }
        let other = self.active_professional(with)?;
        let (a, b) = if me.id < other.id {
            (me.id, other.id)
        } else {
            (other.id, me.id)
        };
        let key = format!("direct:{a}:{b}");
        let _guard = self
            .direct_lock
            .lock()
            .map_err(|_| RelayError::Internal("direct lock poisoned".into()))?;
        let id = match self.dir.meta(&key)? {
            Some(bytes) => RoomId(
                uuid::Uuid::from_slice(&bytes).map_err(|e| RelayError::Internal(e.to_string()))?,
            ),
            None => {
                let room = Room {
                    id: RoomId::new(),
                    kind: RoomKind::Direct,
                    display_name: format!("{} ・ {}", me.name, other.name),
                    consent: None,
                    created_at: Timestamp::now(),
                    archived_at: None,
                };
                self.dir.put_room(&room)?;
                self.dir.set_meta(&key, room.id.as_bytes())?;
                tracing::info!(room = %room.id, "direct conversation opened");
                room.id
            }
        };
        // Re-adding is harmless and repairs a conversation a member was removed from.
        self.dir.set_membership(id, a, Role::Writer)?;
        self.dir.set_membership(id, b, Role::Writer)?;
        self.dir.flush()?;
        self.membership_changed(id, a)?;
        self.membership_changed(id, b)?;
        Ok(MeRoom {
            id: id.0,
            kind: RoomKind::Direct.into(),
            display_name: other.name,
            role: Role::Writer.into(),
        })
    }
}

fn kind_order(k: RoomKind) -> u8 {
    match k {
        RoomKind::Alerts => 0,
        RoomKind::CityNotices => 1,
        RoomKind::Patient => 2,
        RoomKind::Direct => 3,
    }
}
