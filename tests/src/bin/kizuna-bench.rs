//! `kizuna-bench wN`: measures Kizuna on the standard workloads of
//! `docs/workloads.md` and prints one JSON object per line per figure.
//!
//! This file parses the command line and dispatches; what each workload runs and prints is in
//! `kizuna_tests::bench`.

use clap::{Parser, Subcommand};
use kizuna_core::RoomId;
use kizuna_tests::bench::{self, BenchResult};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Kizuna benchmarks on the standard workloads")]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// W1: the ten-year room.
    W1 {
        /// Leave the device store it built in this folder.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Seed of the generated room.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Days (one report a day); 3,650 is the standard workload.
        #[arg(long, default_value_t = 3650)]
        days: usize,
        /// Repetitions of each timed figure.
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// W2: the nurse reconnects after a day offline (and samod on the same states).
    W2 {
        /// Seed of the generated work.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Patient rooms (30 is the standard workload).
        #[arg(long, default_value_t = 30)]
        rooms: usize,
        /// Reports of history per room (365 is the standard workload).
        #[arg(long, default_value_t = 365)]
        history: usize,
        /// Repetitions (each on a fresh relay).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// W3: the city's morning (N devices syncing small changes; 10,000 one-year rooms on disk).
    W3 {
        /// Where the prepared relay is kept between runs (building it takes a while).
        #[arg(long, default_value = "target/w3")]
        work: PathBuf,
        /// Patient rooms on the relay's disk.
        #[arg(long, default_value_t = 10_000)]
        rooms: usize,
        /// Reports of history per room (one year).
        #[arg(long, default_value_t = 365)]
        history: usize,
        /// Device counts to measure, one load run each.
        #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
        devices: Vec<usize>,
        /// Seconds of load per device count.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Each device syncs at most this often, in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// Seed of the generated rooms and of the devices' choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Threads building the rooms.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Only build the relay's data.
        #[arg(long)]
        prepare_only: bool,
        /// Measure on the data built so far instead of finishing it first.
        #[arg(long)]
        partial: bool,
        /// Seconds to wait after the load before reading the relay's memory (idle rooms are
        /// unloaded after 60 s, checked every 5 s).
        #[arg(long, default_value_t = 80)]
        idle_wait_secs: u64,
        /// Seconds after the load at which the relay's memory is read once more
        /// (`relay_rss_settled_mb_N`): it keeps shrinking for a minute or two after the
        /// rooms are unloaded, as sled frees what it retired under load.
        #[arg(long, default_value_t = 180)]
        settled_secs: u64,
    },
    /// Internal: the W3 load generator, in its own process.
    #[command(hide = true)]
    W3Load {
        /// The prepared folder.
        #[arg(long)]
        work: PathBuf,
        /// The relay.
        #[arg(long)]
        url: String,
        /// Devices.
        #[arg(long)]
        devices: usize,
        /// Seconds of load.
        #[arg(long)]
        seconds: f64,
        /// Sync interval per device, ms.
        #[arg(long)]
        interval_ms: u64,
        /// Seed.
        #[arg(long)]
        seed: u64,
    },
    /// W4: a video over a flaky link (cut every 5 MB, ten times), against plain HTTPS.
    W4 {
        /// Video size in MB.
        #[arg(long, default_value_t = 50)]
        mb: usize,
        /// Cut the connection every this many MB.
        #[arg(long, default_value_t = 5)]
        cut_mb: u64,
        /// Repetitions (each on a fresh relay).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// W5: search on the phone (30 rooms × 10 years ≈ 100,000 reports on one device).
    W5 {
        /// Leave the device store it built in this folder.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Seed of the generated rooms.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Patient rooms.
        #[arg(long, default_value_t = 30)]
        rooms: usize,
        /// Days per room (one report a day); 3,650 is the standard workload.
        #[arg(long, default_value_t = 3650)]
        days: usize,
        /// Queries of each kind.
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// Internal: opens a W5 store in a fresh process and measures the queries.
    #[command(hide = true)]
    W5Query {
        /// The store folder.
        dir: PathBuf,
        /// Seed of the generated rooms.
        seed: u64,
        /// Patient rooms.
        rooms: usize,
        /// Days per room.
        days: usize,
        /// Queries of each kind.
        runs: usize,
    },
    /// Internal: opens a W1 store in a fresh process and reports its memory.
    #[command(hide = true)]
    W1Open {
        /// The store folder.
        dir: PathBuf,
        /// The room.
        room: RoomId,
    },
}

fn main() {
    let cli = Cli::parse();
    let result: BenchResult = match cli.workload {
        Workload::W1 {
            keep,
            seed,
            days,
            runs,
        } => exe().and_then(|exe| bench::w1::run(&exe, keep, seed, days, runs)),
        Workload::W1Open { dir, room } => bench::w1::open_fresh(&dir, room),
        Workload::W2 {
            seed,
            rooms,
            history,
            runs,
        } => bench::w2::run(seed, rooms, history, runs),
        Workload::W3 {
            work,
            rooms,
            history,
            devices,
            seconds,
            interval_ms,
            seed,
            threads,
            prepare_only,
            partial,
            idle_wait_secs,
            settled_secs,
        } => exe().and_then(|exe| {
            bench::w3::run(
                &exe,
                &work,
                &kizuna_tests::w3::W3Shape {
                    rooms,
                    history,
                    devices: devices.iter().copied().max().unwrap_or(0),
                    seed,
                },
                &devices,
                seconds,
                interval_ms,
                threads,
                prepare_only,
                partial,
                idle_wait_secs,
                settled_secs,
            )
        }),
        Workload::W3Load {
            work,
            url,
            devices,
            seconds,
            interval_ms,
            seed,
        } => bench::w3::load_process(&work, &url, devices, seconds, interval_ms, seed),
        Workload::W4 { mb, cut_mb, runs } => bench::w4::run(mb, cut_mb, runs),
        Workload::W5 {
            keep,
            seed,
            rooms,
            days,
            runs,
        } => exe().and_then(|exe| bench::w5::run(&exe, keep, seed, rooms, days, runs)),
        Workload::W5Query {
            dir,
            seed,
            rooms,
            days,
            runs,
        } => kizuna_tests::w5::query(&dir, seed, rooms, days, runs),
    };
    if let Err(e) = result {
        eprintln!("kizuna-bench: {e}");
        std::process::exit(1);
    }
}

/// The running binary: the benchmarks that measure in a fresh process run it again.
fn exe() -> Result<PathBuf, Box<dyn std::error::Error>> {
    Ok(std::env::current_exe()?)
}
