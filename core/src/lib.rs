//! Kizuna's shared core: the patient room as an Automerge document with a typed API, the
//! encrypted local store, and the types both the phone and the relay must agree on.
//!
//! The core does no network I/O: callers move bytes. See `docs/architecture.md`.

pub mod blobs;
pub mod careplan;
pub mod error;
pub mod fields;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ids;
pub mod model;
pub mod people;
pub mod room;
pub mod search;
pub mod store;
pub mod sync;
pub mod time;

pub use error::{CoreError, Result, StoreError, ValidationError};
pub use ids::*;
pub use people::{Author, Organisation, Profession, Role, RoomKind};
pub use room::Room;
pub use store::{RoomHandle, RoomStore};
pub use time::{Date, Timestamp};
