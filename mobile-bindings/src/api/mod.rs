//! The uniffi surface for Swift, Kotlin and Python: type conversions over the client session
//! (`kizuna_client::Session`). One [`Device`] per app process; a foreign [`KeyProvider`]
//! supplies the store key; a [`DeviceListener`] follows rooms and sync; every failure is a
//! [`KizunaError`] the app can act on. See `docs/mobile.md`.

mod device;
mod draft;
mod enroll;
mod error;
mod listen;
mod report;
mod rooms;
mod search;
mod sync_state;
mod types;

pub use device::{Device, KeyProvider, LiveSync, init_logging, kizuna_version};
pub use enroll::{EnrollPayload, parse_payload};
pub use error::KizunaError;
pub use listen::{DeviceListener, Subscription};
pub use types::*;
