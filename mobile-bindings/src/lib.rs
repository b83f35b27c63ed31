//! Kizuna on the phone for Swift, Kotlin and Python: the uniffi surface ([`api`]), a thin
//! layer of type conversions over the plain-Rust client (`kizuna-client`: the session, the
//! HTTPS transport, the sync loop). Rust callers use `kizuna-client` directly; this crate
//! exposes only the FFI.

pub mod api;

uniffi::setup_scaffolding!("kizuna");
