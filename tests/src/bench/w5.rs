//! `kizuna-bench w5`: search on the phone.

use super::BenchResult;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds and indexes the corpus here, then measures the queries in a fresh process (as a
/// phone opening the app would: `exe w5-query`), so the build's memory does not count.
pub fn run(
    exe: &Path,
    keep: Option<PathBuf>,
    seed: u64,
    rooms: usize,
    days: usize,
    runs: usize,
) -> BenchResult {
    let temp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    crate::w5::build(&dir, seed, rooms, days)?;
    let out = Command::new(exe)
        .arg("w5-query")
        .arg(&dir)
        .args([seed, rooms as u64, days as u64, runs as u64].map(|v| v.to_string()))
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err(format!("w5-query failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}
