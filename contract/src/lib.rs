//! The relay's HTTP contract, typed once: every JSON request and response body, the problem
//! kinds and the administrators' views, shared by the relay's handlers, `kizuna admin` and the
//! phone library, so renaming a field is a compile error on both sides instead of a silent
//! break on phones. [`openapi()`] publishes the same types as an OpenAPI 3.1 document
//! (served at `GET /v1/openapi.json`, committed as `docs/openapi.json`).
//!
//! The types are serde-only and the crate a leaf (serde, uuid): ids are UUIDs and times
//! milliseconds since 1970, as on the wire. The `openapi` feature (default) adds the utoipa
//! schemas, the route table and the document; the phone library can leave it out. With the
//! `core` feature the types convert to and from kizuna-core's domain types (and the enums
//! compare with core's). The sync body (`application/x-kizuna-sync`) is postcard, not JSON:
//! its types stay in `kizuna_core::sync::protocol` and docs/protocol.md.
//!
//! Modules follow the API's capabilities: [`enrollment`], [`me`] (identity and rooms of the
//! calling device), [`directory`] (professionals and devices for administrators), [`rooms`],
//! [`notices`], [`careplans`], [`console`], [`blobs`], [`events`], [`audit`], [`problem`].
//!
//! # Who uses it, and how
//!
//! - The relay (`kizuna-server`, feature `core`) reads and answers these types in every
//!   handler; its storage records (`identity::directory::Professional`, `Device`, the audit
//!   log's record) are never bodies: the capability owning each record converts it into the
//!   view here (`ProfessionalView::from(&professional)`, …). Problems are built from
//!   [`ProblemKind`], which gives the status and title. Its router is tested against
//!   [`routes::ROUTES`] (`server/tests/integration/routes.rs`): every route in the table must
//!   reach a handler. It serves [`openapi()`] at `GET /v1/openapi.json` to enrolled devices.
//! - `kizuna admin`'s HTTPS client (`kizuna_server::cli::client`) sends and reads the same
//!   types; `ClientError::Problem` carries a [`Problem`].
//! - The phone library takes the crate with `default-features = false, features = ["core"]`
//!   (no utoipa on phones).
//!
//! # Changing the contract
//!
//! A body's JSON is what phones in the field read: `tests/wire/golden.rs` holds the bytes the
//! relay sent before this crate existed, and every type must read and write them back
//! unchanged. A route added to the relay's router must be added to [`routes::ROUTES`] by hand
//! (axum cannot list its routes). Any change to a type or the table changes the document:
//! regenerate the committed copy with
//! `KIZUNA_BLESS=1 cargo test -p kizuna-contract --test openapi_doc` and commit
//! `docs/openapi.json` (the same test, run by `cargo test --workspace`, fails when the file
//! and the code differ).

pub mod audit;
pub mod blobs;
pub mod careplans;
pub mod console;
#[cfg(feature = "core")]
pub mod convert;
pub mod directory;
pub mod enrollment;
pub mod events;
pub mod me;
pub mod notices;
#[cfg(feature = "openapi")]
mod openapi;
pub mod people;
pub mod problem;
pub mod rooms;
#[cfg(feature = "openapi")]
pub mod routes;

#[cfg(feature = "openapi")]
pub use openapi::{openapi, openapi_json};
pub use people::{Millis, Organisation, Profession, Role, RoomKind};
pub use problem::{Problem, ProblemKind};

use serde::{Deserialize, Serialize};

/// The media type of sync requests and answers (postcard-encoded `SyncRequest` and
/// `SyncResponse`, docs/protocol.md).
pub const SYNC_MEDIA_TYPE: &str = "application/x-kizuna-sync";
/// Media type of the relay's backup file (`GET /v1/admin/backup`).
pub const BACKUP_MEDIA_TYPE: &str = "application/x-kizuna-backup";

/// Largest JSON body any route accepts unless it says otherwise, in bytes.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// `GET /readyz`: whether the relay can take writes now (no certificate needed). Answered
/// with `200` when `status` is `ready`, `503` when it is `not-ready`; `reasons` then says
/// why, in words for the operator (free space, audit log, stores), never patient data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ready` or `not-ready`.
    pub status: String,
    /// Why the relay is not ready (empty when it is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Readiness {
    /// Ready when there is no reason not to be.
    pub fn from_reasons(reasons: Vec<String>) -> Readiness {
        let status = if reasons.is_empty() {
            "ready"
        } else {
            "not-ready"
        };
        Readiness {
            status: status.into(),
            reasons,
        }
    }

    /// Whether the relay said it can take writes.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// `GET /healthz`: the relay is up (no certificate needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

impl Health {
    /// The one answer the relay gives.
    pub fn ok() -> Health {
        Health {
            status: "ok".into(),
        }
    }
}
