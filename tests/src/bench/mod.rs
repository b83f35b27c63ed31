//! What `kizuna-bench` runs for each standard workload (`docs/workloads.md`) and the JSON
//! lines it prints, one object per figure (`crate::measure::report_median` and
//! `report_value`); the binary only parses its command line and calls these. Figures that need
//! a fresh process (W1's memory, W3's load generator, W5's queries) come from the binary run
//! again with a hidden subcommand, so those benchmarks take the running binary's path, `exe`.

pub mod w1;
pub mod w2;
pub mod w3;
pub mod w4;
pub mod w5;

/// What each benchmark returns: any error ends `kizuna-bench` with its message.
pub type BenchResult = Result<(), Box<dyn std::error::Error>>;
