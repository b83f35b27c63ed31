//! The table itself, in the order the relay's routers declare the routes.

use super::{Access as A, Body, Method as M, Query, Reply, Route, name, route};
use crate::ProblemKind as P;
use crate::audit::{AuditRecord, Rotated, Verdict};
use crate::blobs::UploadStatus;
use crate::careplans::{CarePlanImportView, CarePlanUploadRequest, ImportSummary};
use crate::console::{ConsoleSetup, CredentialsRequest};
use crate::directory::{
    DeviceView, DirectoryView, NewProfessional, ProfessionalView, RevokeRequest,
};
use crate::enrollment::{
    CaStatus, EnrollCodeRequest, EnrollCodeResponse, EnrollRequest, EnrollResponse, RenewRequest,
    RenewResponse, RetireRequest,
};
use crate::events::Changed;
use crate::me::{DirectRequest, MeResponse, MeRoom};
use crate::notices::{NewNotice, NoticeView, PostedNotice};
use crate::rooms::{ArchiveRequest, InviteRequest, NewRoom, RoomActivity, RoomView};

/// Every route of the API (the browser console's HTML pages under `/console/` excepted).
pub const ROUTES: &[Route] = &[
    Route {
        reply: Reply::Json(name::<crate::Health>),
        ..route(
            M::Get,
            "/healthz",
            "health",
            "health",
            "The relay is up.",
            A::Open,
        )
    },
    Route {
        reply: Reply::Json(name::<crate::Readiness>),
        ..route(
            M::Get,
            "/readyz",
            "readiness",
            "health",
            "Whether the relay can write now (free space, audit log, stores); the same body with 503 when not.",
            A::Open,
        )
    },
    Route {
        reply: Reply::OpenApi,
        ..route(
            M::Get,
            "/v1/openapi.json",
            "openapi",
            "health",
            "This document (OpenAPI 3.1).",
            A::Device,
        )
    },
    Route {
        body: Body::Json(name::<EnrollRequest>),
        reply: Reply::Json(name::<EnrollResponse>),
        problems: &[P::InvalidCsr, P::EnrollmentCodeInvalid, P::RateLimited],
        ..route(
            M::Post,
            "/v1/enroll",
            "enroll",
            "enrollment",
            "A device trades a one-time code and its CSR for its certificate.",
            A::Open,
        )
    },
    Route {
        body: Body::Json(name::<RenewRequest>),
        reply: Reply::Json(name::<RenewResponse>),
        problems: &[P::InvalidCsr],
        ..route(
            M::Post,
            "/v1/renew",
            "renew",
            "enrollment",
            "A device trades a CSR for a new key for a new certificate of the same device.",
            A::Device,
        )
    },
    Route {
        reply: Reply::Json(name::<MeResponse>),
        ..route(
            M::Get,
            "/v1/me",
            "me",
            "me",
            "Who is calling, from which device, and the rooms it may sync.",
            A::Device,
        )
    },
    Route {
        body: Body::Json(name::<DirectRequest>),
        reply: Reply::Json(name::<MeRoom>),
        problems: &[P::NotFound, P::Forbidden, P::Conflict],
        ..route(
            M::Post,
            "/v1/direct",
            "open_direct",
            "me",
            "Opens (or finds) the direct conversation with another professional.",
            A::Device,
        )
    },
    Route {
        reply: Reply::Json(name::<DirectoryView>),
        ..route(
            M::Get,
            "/v1/admin/professionals",
            "list_directory",
            "directory",
            "Professionals, devices and organisations.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<NewProfessional>),
        status: 201,
        reply: Reply::Json(name::<ProfessionalView>),
        problems: &[P::Conflict],
        ..route(
            M::Post,
            "/v1/admin/professionals",
            "add_professional",
            "directory",
            "Registers a professional.",
            A::Admin,
        )
    },
    Route {
        status: 204,
        problems: &[P::Invalid, P::NotFound, P::UnsupportedMediaType],
        ..route(
            M::Delete,
            "/v1/admin/professionals/{id}",
            "remove_professional",
            "directory",
            "Removes a professional and revokes their devices.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<NewProfessional>),
        reply: Reply::Json(name::<ProfessionalView>),
        problems: &[P::NotFound, P::Conflict],
        ..route(
            M::Put,
            "/v1/admin/professionals/{id}/profile",
            "update_professional",
            "directory",
            "Edits a professional.",
            A::Admin,
        )
    },
    Route {
        body: Body::OptionalJson(name::<EnrollCodeRequest>),
        status: 201,
        reply: Reply::Json(name::<EnrollCodeResponse>),
        problems: &[P::NotFound, P::Conflict],
        ..route(
            M::Post,
            "/v1/admin/professionals/{id}/enroll-codes",
            "make_enroll_code",
            "enrollment",
            "Makes a one-time enrollment code and its QR payload.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::JsonList(name::<RoomView>),
        ..route(
            M::Get,
            "/v1/admin/rooms",
            "list_rooms",
            "rooms",
            "Rooms with consent and members.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<NewRoom>),
        status: 201,
        reply: Reply::Json(name::<RoomView>),
        ..route(
            M::Post,
            "/v1/admin/rooms",
            "create_room",
            "rooms",
            "Creates a patient room with its consent record.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<RoomView>),
        problems: &[P::Invalid, P::NotFound],
        ..route(
            M::Get,
            "/v1/admin/rooms/{id}",
            "show_room",
            "rooms",
            "One room with consent and members.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<InviteRequest>),
        reply: Reply::Json(name::<RoomView>),
        problems: &[P::NotFound, P::Conflict],
        ..route(
            M::Put,
            "/v1/admin/rooms/{room}/members/{professional}",
            "invite",
            "rooms",
            "Makes a professional a member of a room with a role.",
            A::Admin,
        )
    },
    Route {
        status: 204,
        problems: &[
            P::Invalid,
            P::NotFound,
            P::Conflict,
            P::UnsupportedMediaType,
        ],
        ..route(
            M::Delete,
            "/v1/admin/rooms/{room}/members/{professional}",
            "remove_member",
            "rooms",
            "Removes a professional from a room.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<ArchiveRequest>),
        reply: Reply::Json(name::<RoomView>),
        problems: &[P::NotFound, P::Conflict],
        ..route(
            M::Put,
            "/v1/admin/rooms/{id}/archived",
            "set_archived",
            "rooms",
            "Archives or restores a patient room.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<RoomActivity>),
        problems: &[P::Invalid, P::NotFound],
        ..route(
            M::Get,
            "/v1/admin/rooms/{id}/activity",
            "room_activity",
            "rooms",
            "A patient room's activity, counts only.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::JsonList(name::<CarePlanImportView>),
        problems: &[P::Invalid, P::NotFound],
        ..route(
            M::Get,
            "/v1/admin/rooms/{id}/care-plans",
            "list_care_plans",
            "careplans",
            "Past care-plan imports of a patient room, without their rows.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<CarePlanUploadRequest>),
        status: 201,
        reply: Reply::Json(name::<ImportSummary>),
        problems: &[P::NotFound, P::Conflict],
        ..route(
            M::Post,
            "/v1/admin/rooms/{id}/care-plans",
            "import_care_plan",
            "careplans",
            "Imports care-plan CSV files (base64) into a patient room; body up to 6 MiB.",
            A::Admin,
        )
    },
    Route {
        body: Body::Bytes(
            &["application/pdf", "image/jpeg", "image/png"],
            "The scanned signed consent form (up to 32 MiB).",
        ),
        reply: Reply::Json(name::<RoomView>),
        problems: &[
            P::Invalid,
            P::NotFound,
            P::Conflict,
            P::TooLarge,
            P::UnsupportedMediaType,
        ],
        ..route(
            M::Put,
            "/v1/admin/rooms/{id}/consent-form",
            "attach_consent_form",
            "rooms",
            "Attaches the scanned consent form to a patient room.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::JsonList(name::<DeviceView>),
        ..route(
            M::Get,
            "/v1/admin/devices",
            "list_devices",
            "directory",
            "Every device, revoked ones included.",
            A::Admin,
        )
    },
    Route {
        body: Body::OptionalJson(name::<RevokeRequest>),
        status: 204,
        problems: &[P::NotFound],
        ..route(
            M::Post,
            "/v1/admin/devices/{id}/revoke",
            "revoke_device",
            "directory",
            "Revokes a device, optionally asking it to erase its data.",
            A::Admin,
        )
    },
    Route {
        query: Query::Notices,
        reply: Reply::JsonList(name::<NoticeView>),
        problems: &[P::Invalid],
        ..route(
            M::Get,
            "/v1/admin/notices",
            "list_notices",
            "notices",
            "Notices and alerts with who has read them.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<NewNotice>),
        status: 201,
        reply: Reply::Json(name::<PostedNotice>),
        ..route(
            M::Post,
            "/v1/admin/notices",
            "post_notice",
            "notices",
            "Posts a city notice or alert.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<CredentialsRequest>),
        reply: Reply::Json(name::<ConsoleSetup>),
        problems: &[P::Conflict],
        ..route(
            M::Put,
            "/v1/admin/console/credentials",
            "set_console_credentials",
            "console",
            "Sets the calling administrator's console login, password and a new TOTP secret.",
            A::Admin,
        )
    },
    Route {
        query: Query::Audit,
        reply: Reply::NdJson(name::<AuditRecord>),
        problems: &[P::Invalid],
        ..route(
            M::Get,
            "/v1/admin/audit",
            "export_audit",
            "audit",
            "Exports audit records as JSON lines.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Bytes(
            crate::BACKUP_MEDIA_TYPE,
            "An online backup of the relay (format in docs/operations.md, \"Back up and restore\"): the CA key and patient data, sealed with the relay's store key, which the backup does not hold (kept apart by the operator).",
        ),
        ..route(
            M::Get,
            "/v1/admin/backup",
            "backup",
            "backup",
            "Streams a consistent backup of the running relay.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<CaStatus>),
        ..route(
            M::Get,
            "/v1/admin/ca",
            "ca_status",
            "ca",
            "The relay's CAs and the devices still on one being retired.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<CaStatus>),
        problems: &[P::Conflict, P::UnsupportedMediaType],
        ..route(
            M::Post,
            "/v1/admin/ca/rotate",
            "ca_rotate",
            "ca",
            "Makes a new CA and starts the overlap period: both CAs trusted, the new one issuing.",
            A::Admin,
        )
    },
    Route {
        body: Body::Json(name::<RetireRequest>),
        reply: Reply::Json(name::<CaStatus>),
        problems: &[P::Conflict],
        ..route(
            M::Post,
            "/v1/admin/ca/retire-old",
            "ca_retire_old",
            "ca",
            "Ends the overlap: the old CA's certificates are refused from now on.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<Verdict>),
        ..route(
            M::Get,
            "/v1/admin/audit/verify",
            "verify_audit",
            "audit",
            "Checks the audit log's hash chain.",
            A::Admin,
        )
    },
    Route {
        reply: Reply::Json(name::<Rotated>),
        ..route(
            M::Post,
            "/v1/admin/audit/rotate",
            "rotate_audit",
            "audit",
            "Closes the audit log's live file as its next segment now.",
            A::Admin,
        )
    },
    Route {
        body: Body::Bytes(
            &[crate::SYNC_MEDIA_TYPE],
            "A postcard-encoded SyncRequest (up to 32 MiB); see docs/protocol.md.",
        ),
        reply: Reply::Bytes(
            crate::SYNC_MEDIA_TYPE,
            "A postcard-encoded SyncResponse; see docs/protocol.md.",
        ),
        problems: &[
            P::Invalid,
            P::ProtocolVersion,
            P::TooLarge,
            P::UnsupportedMediaType,
            P::Forbidden,
            P::Busy,
        ],
        ..route(
            M::Post,
            "/v1/sync",
            "sync",
            "sync",
            "Exchanges document changes (binary, not JSON).",
            A::Device,
        )
    },
    Route {
        query: Query::Events,
        reply: Reply::Json(name::<Changed>),
        problems: &[P::Invalid],
        ..route(
            M::Get,
            "/v1/events",
            "wait_for_events",
            "events",
            "Long poll: which documents changed since a cursor.",
            A::Device,
        )
    },
    Route {
        query: Query::BlobStatus,
        reply: Reply::Json(name::<UploadStatus>),
        problems: &[P::Invalid, P::Forbidden, P::Conflict],
        ..route(
            M::Get,
            "/v1/blobs/{hash}/upload",
            "blob_upload_status",
            "blobs",
            "How many bytes of an upload the relay holds (starting the upload if new).",
            A::Device,
        )
    },
    Route {
        query: Query::BlobDownload,
        reply: Reply::Bytes(
            "*/*",
            "The attachment (its stored media type), or the Range asked for (206 with \
             Content-Range); Accept-Ranges: bytes.",
        ),
        problems: &[P::Invalid, P::Forbidden, P::Range],
        ..route(
            M::Get,
            "/v1/blobs/{hash}",
            "blob_download",
            "blobs",
            "Downloads an attachment, whole or a byte range.",
            A::Device,
        )
    },
    Route {
        query: Query::BlobUpload,
        body: Body::Bytes(
            &["application/octet-stream"],
            "The attachment's bytes from `offset` on; what arrives is kept even if the \
             connection is cut.",
        ),
        reply: Reply::Json(name::<UploadStatus>),
        problems: &[P::Invalid, P::UploadCut, P::Forbidden, P::Conflict],
        ..route(
            M::Put,
            "/v1/blobs/{hash}",
            "blob_upload",
            "blobs",
            "Sends an attachment's bytes from an offset (resumable).",
            A::Device,
        )
    },
];
