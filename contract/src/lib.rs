//! The relay's HTTP contract, typed once: every JSON request and response body, the problem
//! kinds and the administrators' views, shared by the relay's handlers, `kizuna admin` and the
//! phone library, so renaming a field is a compile error on both sides instead of a silent
//! break on phones. [`openapi()`] publishes the same types as an OpenAPI 3.1 document
//! (served at `GET /v1/openapi.json`, committed as `docs/openapi.json`).
//!
//! The types are serde-only and the crate a leaf (serde, uuid): ids are UUIDs and times
//! milliseconds since 1970, as on the wire. The `openapi` feature (default) adds the utoipa
//! schemas, the route table and the document; the phone library can leave it out. With the
//! `core` feature the types convert to and from kizuna-core's domain types. The sync body (`application/x-kizuna-sync`) is postcard, not
//! JSON: its types stay in `kizuna_core::sync::protocol` and docs/protocol.md.
//!
//! Modules follow the API's capabilities: [`enrollment`], [`me`] (identity and rooms of the
//! calling device), [`directory`] (professionals and devices for administrators), [`rooms`],
//! [`notices`], [`careplans`], [`console`], [`blobs`], [`events`], [`audit`], [`problem`].

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

/// Largest JSON body any route accepts unless it says otherwise, in bytes.
pub const MAX_JSON_BODY: usize = 64 * 1024;

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
