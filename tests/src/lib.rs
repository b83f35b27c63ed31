//! Shared helpers for Kizuna tests and benchmarks.
