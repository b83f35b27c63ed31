//! The one test harness of Kizuna's test crates, so every test drives the relay and the phones
//! the same way:
//!
//! - [`relay`]: a real relay in-process on 127.0.0.1 (TLS 1.3, client certificates, sled
//!   stores on disk; no check turned off), usable from `#[tokio::test]`s and, with its own
//!   runtime, from plain `#[test]`s and the benchmarks;
//! - [`phone`]: a simulated phone, the sync client and encrypted store of `kizuna-client`
//!   (what the apps ship), enrolled with a one-time code like the app;
//! - [`logs`]: the process-wide log captured in memory, to prove what never reaches it;
//! - [`demo`]: `kizuna demo` as a user runs it, as a child process.
//!
//! kizuna-server's integration tests take this crate as a dev-dependency; kizuna-tests (the
//! end-to-end tests, the simulator and the benchmarks) as a dependency.

pub mod demo;
pub mod logs;
pub mod phone;
pub mod relay;

pub use phone::{DeviceKeys, Identity, PHONE_KEY, Phone};
pub use relay::{LoopbackRelay, RelayOptions, consented_room, generous};

/// Any failure of the harness, as text: tests unwrap it, the benchmarks print it.
pub type Fallible<T> = Result<T, String>;

/// Turns any error into the harness's text error.
pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}
