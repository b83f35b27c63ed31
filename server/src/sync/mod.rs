//! Sync: serving `POST /v1/sync` ([`serve`]: visibility, the one gate, post numbers, the
//! audit trail), the room documents it merges into, loaded on demand and unloaded when idle
//! ([`documents`]), the directory mirrored into those documents ([`membership`]), and the
//! live channel that wakes waiting devices ([`events`]). The routes are in [`routes`].

pub mod documents;
pub mod events;
pub mod membership;
pub mod routes;
pub mod serve;

pub use routes::SYNC_MEDIA_TYPE;
