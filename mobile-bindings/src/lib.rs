//! Mobile bindings for Kizuna. The uniffi surface arrives with the mobile issue; for now this
//! crate re-exports the core so the workspace shape is fixed from the start.

pub use kizuna_core as core;
