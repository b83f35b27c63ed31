//! Kizuna's end-to-end tests: one binary, one module per area. The relay runs in-process on
//! loopback (kizuna-testkit: real TLS 1.3, client certificates, sled stores on disk) with
//! phones syncing through kizuna-client, or as its own process under the benchmarks' and
//! the simulator's smoke runs; the fuzz corpus is replayed through the fuzz targets' bodies.
//!
//! Everything here can share one process: nothing installs a panic hook or a log subscriber.
//! The bad-input campaign (`tests/tests/hostile_input.rs`) is its own binary because it
//! measures this process's memory and file descriptors.
#![allow(clippy::unwrap_used, missing_docs)]

mod bench_smoke;
mod blobs_e2e;
mod ca_rotation_e2e;
mod certs_e2e;
mod fuzz_regressions;
mod restore_e2e;
mod samod_smoke;
mod sim_smoke;
mod sync_e2e;
mod w2_smoke;
mod w3_smoke;
mod w4_smoke;
mod w5_smoke;
