//! Administrative acts: each is one function that applies the relay's rule (a `Relay` method)
//! and records the act in the audit log. The JSON admin API (`admin::routes`), and through
//! it the `kizuna admin` CLI, and the browser console (`admin::console`) all call these, so an act
//! has one code path whichever door it comes through.
//!
//! The actor is an administrator, with the device they used when they came with a client
//! certificate; a console session opened with a password has no device, and its audit
//! records say so (`device` absent).

use crate::audit::{Entry, Filter, Verdict};
use crate::error::RelayError;
use crate::identity::directory::Professional;
use crate::identity::{NewProfessional, NewRoom};
use crate::state::Relay;
use kizuna_contract::enrollment::EnrollCodeResponse;
use kizuna_contract::notices::CityRoom;
use kizuna_contract::rooms::RoomView;
use kizuna_core::careplan::ImportSummary;
use kizuna_core::model::NoticeContent;
use kizuna_core::{DeviceId, NoticeId, ProfessionalId, Role, RoomId};

/// Who performs an administrative act.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The administrator.
    pub professional: Professional,
    /// Their device, when they authenticated with its client certificate.
    pub device: Option<DeviceId>,
}

/// Records an administrator's act in the audit log (ids only, never names).
pub fn audit(
    relay: &Relay,
    actor: &Actor,
    action: &'static str,
    room: Option<RoomId>,
    subject: impl std::fmt::Display,
) -> Result<(), RelayError> {
    relay
        .audit()
        .record(Entry {
            professional: Some(actor.professional.id),
            device: actor.device,
            action,
            room,
            subject: Some(subject.to_string()),
            ..Entry::default()
        })
        .map_err(|e| RelayError::Internal(e.to_string()))
}

/// Registers a professional. Not an administrator: the relay has one, made at first start
/// (several named administrators are not built, docs/security.md), and one added here could
/// never be removed.
pub fn add_professional(
    relay: &Relay,
    actor: &Actor,
    new: NewProfessional,
) -> Result<Professional, RelayError> {
    if new.profession == kizuna_core::Profession::CityAdministrator {
        return Err(RelayError::Invalid(
            "profession: the city's administrator is made at first start; a second \
             administrator cannot be registered"
                .into(),
        ));
    }
    let p = relay.add_professional(new)?;
    audit(relay, actor, "admin.professional.add", None, p.id)?;
    Ok(p)
}

/// Edits a professional's name, kana, profession or organisation.
pub fn update_professional(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
    new: NewProfessional,
) -> Result<Professional, RelayError> {
    let p = relay.update_professional(id, new)?;
    audit(relay, actor, "admin.professional.update", None, id)?;
    Ok(p)
}

/// Removes a professional (rooms left, devices revoked with wipe).
pub fn remove_professional(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
) -> Result<(), RelayError> {
    relay.remove_professional(id)?;
    audit(relay, actor, "admin.professional.remove", None, id)
}

/// Makes a one-time enrollment code.
pub fn enroll_code(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
    valid_hours: Option<u32>,
) -> Result<EnrollCodeResponse, RelayError> {
    let code = relay.create_enroll_code(id, valid_hours)?;
    audit(relay, actor, "admin.enroll_code", None, id)?;
    Ok(code)
}

/// Creates a patient room with its consent record.
pub fn create_room(relay: &Relay, actor: &Actor, new: NewRoom) -> Result<RoomView, RelayError> {
    let room = relay.create_room(new)?;
    audit(relay, actor, "admin.room.create", Some(room.id), room.id)?;
    relay.room_view(room.id)
}

/// Attaches the scanned consent form (PDF, JPEG or PNG) to a patient room's consent record.
pub fn attach_consent_form(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    media_type: &str,
    bytes: &[u8],
) -> Result<RoomView, RelayError> {
    let hash = relay.attach_consent_form(room, media_type, bytes)?;
    audit(relay, actor, "admin.room.consent_form", Some(room), hash)?;
    relay.room_view(room)
}

/// Archives or restores a patient room.
pub fn set_archived(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    archived: bool,
) -> Result<RoomView, RelayError> {
    let view = relay.set_archived(room, archived)?;
    let action = if archived {
        "admin.room.archive"
    } else {
        "admin.room.restore"
    };
    audit(relay, actor, action, Some(room), room)?;
    Ok(view)
}

/// Invites a professional into a room with a role (or changes their role).
pub fn invite(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    professional: ProfessionalId,
    role: Role,
) -> Result<RoomView, RelayError> {
    relay.invite(room, professional, role)?;
    audit(
        relay,
        actor,
        "admin.member.invite",
        Some(room),
        professional,
    )?;
    relay.room_view(room)
}

/// Removes a professional from a room.
pub fn remove_member(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    professional: ProfessionalId,
) -> Result<(), RelayError> {
    relay.remove_member(room, professional)?;
    audit(
        relay,
        actor,
        "admin.member.remove",
        Some(room),
        professional,
    )
}

/// Revokes a device, optionally ordering it to wipe its data.
pub fn revoke_device(
    relay: &Relay,
    actor: &Actor,
    id: DeviceId,
    wipe: bool,
) -> Result<(), RelayError> {
    relay.revoke_device(id, wipe)?;
    let action = if wipe {
        "admin.device.revoke_wipe"
    } else {
        "admin.device.revoke"
    };
    audit(relay, actor, action, None, id)
}

/// Posts a city notice or a disaster/infection alert.
pub fn post_notice(
    relay: &Relay,
    actor: &Actor,
    which: CityRoom,
    content: &NoticeContent,
) -> Result<NoticeId, RelayError> {
    let id = relay.post_notice(&actor.professional, which, content)?;
    let room = relay.city_room(which)?;
    audit(relay, actor, "admin.notice.post", Some(room), id)?;
    Ok(id)
}

/// Imports care-plan files into a patient room.
pub fn import_care_plan(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    files: &[(String, Vec<u8>)],
) -> Result<ImportSummary, RelayError> {
    let summary = relay.import_care_plan(&actor.professional, room, files)?;
    audit(
        relay,
        actor,
        "admin.careplan.import",
        Some(room),
        summary.id,
    )?;
    Ok(summary)
}

/// Reads the audit records matching `filter`, oldest first, at most `limit` (the caller takes
/// it from the contract: `AuditQuery::effective_limit` for the API, `MAX_EXPORT_LIMIT` for the
/// console's download), as the export body: the contract's one JSON-lines writer over the
/// contract's record. The API and the console both export through here. Reading the log is
/// not itself logged (as before).
pub fn audit_export(relay: &Relay, filter: &Filter, limit: usize) -> Result<String, RelayError> {
    let records = relay
        .audit()
        .export(filter, limit)
        .map_err(|e| RelayError::Internal(e.to_string()))?;
    let records: Vec<_> = records
        .iter()
        .map(kizuna_contract::audit::AuditRecord::from)
        .collect();
    Ok(kizuna_contract::audit::to_json_lines(&records))
}

/// Checks the audit log's hash chain, for the API and the console alike.
pub fn audit_verify(relay: &Relay) -> Result<Verdict, RelayError> {
    relay
        .audit()
        .verify()
        .map_err(|e| RelayError::Internal(e.to_string()))
}
