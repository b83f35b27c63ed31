//! Measurement helpers: medians, resident memory, and the one JSON line per figure that
//! `kizuna-bench` prints.

use serde_json::json;
use std::time::Instant;

/// Median of samples (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0–100) by nearest rank.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Milliseconds taken by `f`, and its result.
pub fn time_ms<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let v = f();
    (start.elapsed().as_secs_f64() * 1000.0, v)
}

/// A field of `/proc/self/status` in MiB (`VmHWM` peak, `VmRSS` current).
pub fn proc_status_mb(field: &str) -> f64 {
    status_mb("self", field)
}

/// A field of another process's `/proc/<pid>/status` in MiB (the relay child's memory).
pub fn pid_status_mb(pid: u32, field: &str) -> f64 {
    status_mb(&pid.to_string(), field)
}

fn status_mb(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Prints a repeated measurement.
pub fn report_median(workload: &str, figure: &str, samples: &[f64], unit: &str) {
    let v = json!({
        "workload": workload, "figure": figure, "median": round(median(samples)),
        "p99": round(percentile(samples, 99.0)), "runs": samples.len(), "unit": unit,
    });
    println!("{v}");
}

/// Prints a single measurement.
pub fn report_value(workload: &str, figure: &str, value: f64, unit: &str) {
    println!(
        "{}",
        json!({"workload": workload, "figure": figure, "value": round(value), "unit": unit})
    );
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Total bytes of the files under `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += dir_bytes(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

/// Paths of files under `dir` that contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                hits.extend(files_containing(&p, needle));
            } else if let Ok(bytes) = std::fs::read(&p)
                && !needle.is_empty()
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 50.0), 50.0);
    }
}

/// The figures a benchmark run printed: runs `exe` (the `kizuna-bench` binary) with `args`
/// and parses one JSON object per line. For smoke tests: an error names the failure.
pub fn bench_figures(exe: &str, args: &[&std::ffi::OsStr]) -> Result<BenchFigures, String> {
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {exe}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not a figure line: {e}")))
        .collect::<Result<Vec<serde_json::Value>, String>>()?;
    Ok(BenchFigures { lines })
}

/// The JSON lines of one benchmark run.
#[derive(Debug)]
pub struct BenchFigures {
    /// One object per figure.
    pub lines: Vec<serde_json::Value>,
}

impl BenchFigures {
    /// The line of figure `name` of `workload`, if printed.
    pub fn line(&self, workload: &str, name: &str) -> Option<&serde_json::Value> {
        self.lines
            .iter()
            .find(|l| l["figure"] == name && l["workload"] == workload)
    }

    /// The median (or single value) of figure `name`, if printed as a number.
    pub fn value(&self, workload: &str, name: &str) -> Option<f64> {
        let l = self.line(workload, name)?;
        l.get("median").or_else(|| l.get("value"))?.as_f64()
    }
}
