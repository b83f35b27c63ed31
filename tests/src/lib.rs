//! Shared pieces of Kizuna's end-to-end tests and benchmarks: deterministic generators of the
//! standard workloads (`docs/workloads.md`) and measurement helpers.

pub mod bench;
pub mod measure;
pub mod prose;
pub mod proxy;
pub mod samod_w2;
pub mod sim;
pub mod sim_device;
pub mod w2;
pub mod w3;
pub mod w4;
pub mod w5;
pub mod workload;
