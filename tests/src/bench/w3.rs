//! `kizuna-bench w3`: the city's morning, the relay and the load generator in processes of
//! their own.

use super::BenchResult;
use crate::measure::{dir_bytes, report_value, time_ms};
use crate::w2::ChildRelay;
use crate::w3::{self, W3Shape};
use std::path::Path;
use std::process::Command;

/// W3, the city's morning: prepares the relay's data (or finishes it), then for each device
/// count starts the relay on a fresh copy, runs `exe w3-load` against it while watching its
/// memory, and prints the figures.
#[allow(clippy::too_many_arguments)]
pub fn run(
    exe: &Path,
    work: &Path,
    shape: &W3Shape,
    counts: &[usize],
    seconds: f64,
    interval_ms: u64,
    threads: usize,
    prepare_only: bool,
    partial: bool,
    idle_wait_secs: u64,
    settled_secs: u64,
) -> BenchResult {
    let (prep_ms, prepared) = time_ms(|| w3::prepare(work, shape, threads, !partial));
    let with_year = prepared?;
    eprintln!("w3: the relay's data is ready ({:.0} s)", prep_ms / 1000.0);
    report_value("w3", "rooms_in_directory", shape.rooms as f64, "rooms");
    report_value("w3", "rooms_on_disk", with_year as f64, "rooms");
    report_value(
        "w3",
        "store_bytes",
        dir_bytes(&w3::relay_dir(work).join("rooms")) as f64,
        "B",
    );
    if prepare_only {
        return Ok(());
    }
    let mut worst_after: f64 = 0.0;
    for &n in counts {
        // Each N starts a relay on a fresh copy of the prepared data, so runs do not add to
        // each other's rooms.
        let data = w3::fresh_run_copy(work)?;
        let (start_ms, relay) = time_ms(|| ChildRelay::start(&data));
        let relay = relay?;
        report_value("w3", &format!("relay_start_ms_{n}"), start_ms, "ms");
        let watch = w3::RssWatch::start(relay.pid());
        let out = Command::new(exe)
            .arg("w3-load")
            .arg("--work")
            .arg(work)
            .args(["--url", &relay.url])
            .args(["--devices", &n.to_string()])
            .args(["--seconds", &seconds.to_string()])
            .args(["--interval-ms", &interval_ms.to_string()])
            .args(["--seed", &shape.seed.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let peak = watch.peak();
        if !out.status.success() {
            return Err(format!("the load generator failed for N = {n}").into());
        }
        let f: w3::LoadFigures = serde_json::from_slice(&out.stdout)?;
        report_value("w3", &format!("syncs_per_s_{n}"), f.syncs_per_s, "syncs/s");
        report_value("w3", &format!("p50_ms_{n}"), f.p50_ms, "ms");
        report_value("w3", &format!("p99_ms_{n}"), f.p99_ms, "ms");
        report_value(
            "w3",
            &format!("p99_after_cold_ms_{n}"),
            f.p99_after_cold_ms,
            "ms",
        );
        report_value("w3", &format!("relay_peak_rss_mb_{n}"), peak, "MiB");
        report_value("w3", &format!("reports_{n}"), f.reports as f64, "reports");
        report_value(
            "w3",
            &format!("receipts_{n}"),
            f.receipts as f64,
            "receipts",
        );
        report_value("w3", &format!("failures_{n}"), f.failures as f64, "syncs");
        if f.failures > 0 {
            return Err(format!(
                "{} syncs failed with N = {n}; first: {}",
                f.failures,
                f.first_failure.unwrap_or_default()
            )
            .into());
        }
        // Rooms unused for a minute are unloaded by the relay's sweeper (every 5 s).
        std::thread::sleep(std::time::Duration::from_secs(idle_wait_secs));
        let after = w3::rss_mb(relay.pid());
        report_value("w3", &format!("relay_rss_after_mb_{n}"), after, "MiB");
        worst_after = worst_after.max(after);
        std::thread::sleep(std::time::Duration::from_secs(
            settled_secs.saturating_sub(idle_wait_secs),
        ));
        report_value(
            "w3",
            &format!("relay_rss_settled_mb_{n}"),
            w3::rss_mb(relay.pid()),
            "MiB",
        );
    }
    // The figure docs/workloads.md names: the largest of the per-N readings.
    if !counts.is_empty() {
        report_value("w3", "relay_rss_after_mb", worst_after, "MiB");
    }
    Ok(())
}

/// `kizuna-bench w3-load`: the load generator in its own process; prints its figures as one
/// JSON object for [`run`] to read.
pub fn load_process(
    work: &Path,
    url: &str,
    devices: usize,
    seconds: f64,
    interval_ms: u64,
    seed: u64,
) -> BenchResult {
    let run = w3::LoadRun {
        devices,
        seconds,
        interval: std::time::Duration::from_millis(interval_ms),
        seed,
    };
    let figures = w3::load(work, url, &run)?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}
