//! Benchmarks on the standard workloads.
fn main() {}
