//! Administrative acts: each is one function that records the act in the audit log and then
//! applies the relay's rule (a `Relay` method): write-ahead ([`act`]), so no act happens
//! without its record. The JSON admin API (`admin::routes`), and through
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
use kizuna_contract::enrollment::{CaStatus, EnrollCodeResponse};
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

/// Records an administrator's act in the audit log (ids only, never names), durably, and
/// only when the relay has its free-space reserve. Called *before* the act ([`act`]): an
/// error here (a full disk: [`RelayError::StorageFull`]) means the act is not done.
pub fn audit(
    relay: &Relay,
    actor: &Actor,
    action: &'static str,
    room: Option<RoomId>,
    subject: impl std::fmt::Display,
) -> Result<(), RelayError> {
    relay.ensure_writable()?;
    relay.audit().record(Entry {
        professional: Some(actor.professional.id),
        device: actor.device,
        action,
        room,
        subject: Some(subject.to_string()),
        ..Entry::default()
    })?;
    Ok(())
}

/// The audit action of the record that says an act whose record was written did not
/// happen after all (`docs/security.md`, "Full disk").
pub const FAILED: &str = "admin.failed";

/// Does an act write-ahead: the write gate, then its audit record (durable), then the act
/// `f`. When the record cannot be written, `f` is not run and the caller gets the cause
/// (`storage-full` for a full disk). When `f` fails after its record was written, an
/// [`FAILED`] record with the same actor, room and subject says so, its `reason` naming the
/// act and the kind of failure (never the detail, which may quote input).
pub fn act<T>(
    relay: &Relay,
    actor: &Actor,
    action: &'static str,
    room: Option<RoomId>,
    subject: Option<String>,
    f: impl FnOnce() -> Result<T, RelayError>,
) -> Result<T, RelayError> {
    relay.ensure_writable()?;
    relay.audit().record(Entry {
        professional: Some(actor.professional.id),
        device: actor.device,
        action,
        room,
        subject: subject.clone(),
        ..Entry::default()
    })?;
    f().inspect_err(|e| {
        let recorded = relay.audit().record(Entry {
            professional: Some(actor.professional.id),
            device: actor.device,
            action: FAILED,
            room,
            subject: subject.clone(),
            reason: Some(format!("{action} not done: {}", e.kind_name())),
            ..Entry::default()
        });
        if let Err(err) = recorded {
            // The log now shows an act that did not happen; the operator must know.
            tracing::error!(
                action,
                subject = subject.as_deref().unwrap_or("-"),
                error = %err,
                "an act failed after its audit record was written, and the failure could not \
                 be recorded: the audit log's last record of this act is not true"
            );
        }
    })
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
    // The id is chosen first so the record written before the act names it.
    let id = ProfessionalId::new();
    act(
        relay,
        actor,
        "admin.professional.add",
        None,
        Some(id.to_string()),
        || relay.add_professional_as(id, new),
    )
}

/// Edits a professional's name, kana, profession or organisation.
pub fn update_professional(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
    new: NewProfessional,
) -> Result<Professional, RelayError> {
    act(
        relay,
        actor,
        "admin.professional.update",
        None,
        Some(id.to_string()),
        || relay.update_professional(id, new),
    )
}

/// Removes a professional (rooms left, devices revoked with wipe).
pub fn remove_professional(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
) -> Result<(), RelayError> {
    act(
        relay,
        actor,
        "admin.professional.remove",
        None,
        Some(id.to_string()),
        || relay.remove_professional(id),
    )
}

/// Makes a one-time enrollment code.
pub fn enroll_code(
    relay: &Relay,
    actor: &Actor,
    id: ProfessionalId,
    valid_hours: Option<u32>,
) -> Result<EnrollCodeResponse, RelayError> {
    act(
        relay,
        actor,
        "admin.enroll_code",
        None,
        Some(id.to_string()),
        || relay.create_enroll_code(id, valid_hours),
    )
}

/// Creates a patient room with its consent record.
pub fn create_room(relay: &Relay, actor: &Actor, new: NewRoom) -> Result<RoomView, RelayError> {
    let id = RoomId::new();
    act(
        relay,
        actor,
        "admin.room.create",
        Some(id),
        Some(id.to_string()),
        || relay.create_room_as(id, new),
    )?;
    relay.room_view(id)
}

/// Attaches the scanned consent form (PDF, JPEG or PNG) to a patient room's consent record.
pub fn attach_consent_form(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    media_type: &str,
    bytes: &[u8],
) -> Result<RoomView, RelayError> {
    // The form's hash is its content address: known before it is stored.
    let hash = kizuna_core::ContentHash::of(bytes);
    act(
        relay,
        actor,
        "admin.room.consent_form",
        Some(room),
        Some(hash.to_string()),
        || relay.attach_consent_form(room, media_type, bytes),
    )?;
    relay.room_view(room)
}

/// Archives or restores a patient room.
pub fn set_archived(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    archived: bool,
) -> Result<RoomView, RelayError> {
    let action = if archived {
        "admin.room.archive"
    } else {
        "admin.room.restore"
    };
    act(
        relay,
        actor,
        action,
        Some(room),
        Some(room.to_string()),
        || relay.set_archived(room, archived),
    )
}

/// Invites a professional into a room with a role (or changes their role).
pub fn invite(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    professional: ProfessionalId,
    role: Role,
) -> Result<RoomView, RelayError> {
    act(
        relay,
        actor,
        "admin.member.invite",
        Some(room),
        Some(professional.to_string()),
        || relay.invite(room, professional, role),
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
    act(
        relay,
        actor,
        "admin.member.remove",
        Some(room),
        Some(professional.to_string()),
        || relay.remove_member(room, professional),
    )
}

/// Revokes a device, optionally ordering it to wipe its data.
pub fn revoke_device(
    relay: &Relay,
    actor: &Actor,
    id: DeviceId,
    wipe: bool,
) -> Result<(), RelayError> {
    let action = if wipe {
        "admin.device.revoke_wipe"
    } else {
        "admin.device.revoke"
    };
    act(relay, actor, action, None, Some(id.to_string()), || {
        relay.revoke_device(id, wipe)
    })
}

/// Starts a CA rotation's overlap period (`identity::authorities`). The record names the CA
/// that was issuing until now.
pub fn rotate_ca(relay: &Relay, actor: &Actor) -> Result<CaStatus, RelayError> {
    let old = relay.ca().fingerprint();
    act(relay, actor, "admin.ca.rotate", None, Some(old), || {
        relay.rotate_ca()
    })
}

/// Ends a CA rotation's overlap period: the old CA's certificates are refused from now on.
/// `force` retires it although devices are still on it (the record says so).
pub fn retire_old_ca(relay: &Relay, actor: &Actor, force: bool) -> Result<CaStatus, RelayError> {
    let old = relay
        .authorities()
        .current()
        .retiring
        .as_ref()
        .map(|r| r.ca.fingerprint.clone());
    let action = if force {
        "admin.ca.retire_old_forced"
    } else {
        "admin.ca.retire_old"
    };
    act(relay, actor, action, None, old, || {
        relay.retire_old_ca(force)
    })
}

/// Posts a city notice or a disaster/infection alert. The notice's id is made inside the
/// room document by the act itself, so the record written before it names the city room
/// only (the notice carries its author and time in the document).
pub fn post_notice(
    relay: &Relay,
    actor: &Actor,
    which: CityRoom,
    content: &NoticeContent,
) -> Result<NoticeId, RelayError> {
    let room = relay.city_room(which)?;
    act(relay, actor, "admin.notice.post", Some(room), None, || {
        relay.post_notice(&actor.professional, which, content)
    })
}

/// Imports care-plan files into a patient room. As with notices, the import's id is made by
/// the act inside the room document: the record written before it names the room only.
pub fn import_care_plan(
    relay: &Relay,
    actor: &Actor,
    room: RoomId,
    files: &[(String, Vec<u8>)],
) -> Result<ImportSummary, RelayError> {
    act(
        relay,
        actor,
        "admin.careplan.import",
        Some(room),
        None,
        || relay.import_care_plan(&actor.professional, room, files),
    )
}

/// Closes the audit log's live file as its next segment (`kizuna admin audit rotate`), after
/// recording the act, so the closed segment ends with the record of its closing. Returns the
/// segment's name.
pub fn audit_rotate(relay: &Relay, actor: &Actor) -> Result<Option<String>, RelayError> {
    audit(relay, actor, "admin.audit.rotate", None, "audit")?;
    relay
        .audit()
        .rotate()
        .map_err(|e| RelayError::Internal(e.to_string()))
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
