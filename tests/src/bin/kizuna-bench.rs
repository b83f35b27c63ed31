//! `kizuna-bench wN`: measures Kizuna on the standard workloads of
//! `docs/workloads.md` and prints one JSON object per line per figure.

use clap::{Parser, Subcommand};
use kizuna_core::{RoomId, RoomStore, Timestamp};
use kizuna_tests::measure::{
    dir_bytes, files_containing, proc_status_mb, report_median, report_value, time_ms,
};
use kizuna_tests::workload::{report_content, w1_room, w1_team};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The store key the benchmark uses (benchmarks hold generated data only).
const BENCH_KEY: [u8; 32] = [0xB5; 32];

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
    let result = match cli.workload {
        Workload::W1 {
            keep,
            seed,
            days,
            runs,
        } => w1(keep, seed, days, runs),
        Workload::W1Open { dir, room } => w1_open(&dir, room),
        Workload::W2 {
            seed,
            rooms,
            history,
            runs,
        } => w2(seed, rooms, history, runs),
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
        } => w3(
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
        ),
        Workload::W3Load {
            work,
            url,
            devices,
            seconds,
            interval_ms,
            seed,
        } => w3_load(&work, &url, devices, seconds, interval_ms, seed),
        Workload::W4 { mb, cut_mb, runs } => w4(mb, cut_mb, runs),
        Workload::W5 {
            keep,
            seed,
            rooms,
            days,
            runs,
        } => w5(keep, seed, rooms, days, runs),
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

type Res = Result<(), Box<dyn std::error::Error>>;

fn w1(keep: Option<PathBuf>, seed: u64, days: usize, runs: usize) -> Res {
    let temp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let (build_ms, generated) = time_ms(|| w1_room(seed, days));
    report_value("w1", "build_ms", build_ms, "ms");
    let mut room = generated.room;
    let room_id = room.doc_id();
    if keep.is_some() {
        eprintln!(
            "kizuna-bench: keeping the store in {} (room {room_id})",
            dir.display()
        );
    }
    report_value(
        "w1",
        "changes",
        room.doc_mut().get_changes(&[]).len() as f64,
        "changes",
    );
    report_value("w1", "doc_bytes", room.save().len() as f64, "B");
    {
        let store = RoomStore::open(&dir, &BENCH_KEY)?;
        store.add_room(room)?;
    }
    report_value("w1", "size_at_rest_bytes", dir_bytes(&dir) as f64, "B");

    let store = RoomStore::open(&dir, &BENCH_KEY)?;
    let mut list = Vec::new();
    let mut load = Vec::new();
    for _ in 0..runs {
        let (ms, newest) = time_ms(|| store.open_room(room_id).and_then(|h| h.newest_reports(30)));
        if newest?.len() != 30.min(days) {
            return Err("listing returned the wrong number of reports".into());
        }
        list.push(ms);
        let h = store.open_room(room_id)?;
        let (ms, loaded) = time_ms(|| h.read(|_| Ok(())));
        loaded?;
        load.push(ms);
    }
    report_median("w1", "open_to_list_ms", &list, "ms");
    report_median("w1", "full_load_ms", &load, "ms");

    let team = w1_team(seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xA99E);
    let h = store.open_room(room_id)?;
    h.read(|_| Ok(()))?;
    let mut append = Vec::new();
    for i in 0..(runs * 3) {
        let now = Timestamp::now();
        let content = report_content(&mut rng, now);
        let (ms, r) =
            time_ms(|| h.write(|room| room.post_report(&team[i % team.len()], now, &content)));
        r?;
        append.push(ms);
    }
    report_median("w1", "append_report_ms", &append, "ms");
    drop(h);
    drop(store);

    // Memory of a fresh process that opens the room, lists it, loads it and appends once.
    let out = Command::new(std::env::current_exe()?)
        .arg("w1-open")
        .arg(&dir)
        .arg(room_id.to_string())
        .output()?;
    if !out.status.success() {
        return Err(format!("w1-open failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));

    let hits: usize = generated
        .samples
        .iter()
        .map(|s| files_containing(&dir, s.as_bytes()).len())
        .sum();
    report_value("w1", "plaintext_hits", hits as f64, "files");
    if hits > 0 {
        return Err("generated text found in plain bytes in the store".into());
    }
    Ok(())
}

/// Builds and indexes the corpus here, then measures the queries in a fresh process (as a
/// phone opening the app would), so the build's memory does not count.
fn w5(keep: Option<PathBuf>, seed: u64, rooms: usize, days: usize, runs: usize) -> Res {
    let temp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    kizuna_tests::w5::build(&dir, seed, rooms, days)?;
    let out = Command::new(std::env::current_exe()?)
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

fn w1_open(dir: &Path, room: RoomId) -> Res {
    let (cold_ms, store) = time_ms(|| RoomStore::open(dir, &BENCH_KEY));
    let store = store?;
    let (list_ms, listed) = time_ms(|| {
        store
            .open_room(room)
            .and_then(|h| h.newest_reports(30).map(|l| (h, l)))
    });
    let (h, _) = listed?;
    report_value("w1", "cold_open_to_list_ms", cold_ms + list_ms, "ms");
    report_value("w1", "rss_listed_mb", proc_status_mb("VmRSS:"), "MiB");
    h.read(|_| Ok(()))?;
    report_value("w1", "rss_loaded_mb", proc_status_mb("VmRSS:"), "MiB");
    report_value("w1", "peak_rss_load_mb", proc_status_mb("VmHWM:"), "MiB");
    let team = w1_team(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let now = Timestamp::now();
    let content = report_content(&mut rng, now);
    h.write(|r| r.post_report(&team[0], now, &content))?;
    h.read(|r| r.list_reports())?;
    report_value("w1", "peak_rss_mb", proc_status_mb("VmHWM:"), "MiB");
    Ok(())
}

/// W2: each run on a fresh relay process; medians over the runs.
fn w2(seed: u64, rooms: usize, history: usize, runs: usize) -> Res {
    use kizuna_tests::w2::{W2Shape, run};
    let shape = W2Shape {
        rooms,
        history,
        ..W2Shape::standard()
    };
    let mut all = Vec::new();
    for i in 0..runs.max(1) {
        let work = tempfile::tempdir()?;
        all.push(run(work.path(), &shape, seed + i as u64)?);
    }
    let col = |f: &dyn Fn(&kizuna_tests::w2::W2Figures) -> f64| -> Vec<f64> {
        all.iter().map(f).collect()
    };
    report_median("w2", "doc_bytes", &col(&|f| f.doc_bytes as f64), "B");
    report_median("w2", "doc_up_bytes", &col(&|f| f.up_bytes as f64), "B");
    report_median("w2", "doc_down_bytes", &col(&|f| f.down_bytes as f64), "B");
    report_median("w2", "floor_bytes", &col(&|f| f.floor_bytes as f64), "B");
    report_median(
        "w2",
        "doc_vs_floor",
        &col(&|f| f.doc_bytes as f64 / f.floor_bytes.max(1) as f64),
        "x",
    );
    report_median("w2", "round_trips", &col(&|f| f.round_trips as f64), "n");
    report_median("w2", "wall_ms", &col(&|f| f.wall_ms), "ms");
    report_median("w2", "relay_cpu_ms", &col(&|f| f.relay_cpu_ms), "ms");
    report_median(
        "w2",
        "samod_doc_bytes",
        &col(&|f| f.samod.doc_bytes as f64),
        "B",
    );
    report_median(
        "w2",
        "samod_round_trips",
        &col(&|f| f.samod.round_trips as f64),
        "n",
    );
    report_median("w2", "samod_wall_ms", &col(&|f| f.samod.wall_ms), "ms");
    report_median(
        "w2",
        "samod_vs_kizuna_doc_bytes",
        &col(&|f| f.samod.doc_bytes as f64 / f.doc_bytes.max(1) as f64),
        "x",
    );
    report_median("w2", "blob_bytes", &col(&|f| f.blob_bytes as f64), "B");
    report_median("w2", "blob_ms", &col(&|f| f.blob_ms), "ms");
    Ok(())
}

/// W4: each run on a fresh relay; medians over the runs.
fn w4(mb: usize, cut_mb: u64, runs: usize) -> Res {
    let size = mb * 1_000_000;
    let cut = cut_mb * 1_000_000;
    // Ten cuts for 50 MB cut every 5 MB: the last falls in the final bytes (the transfer is
    // slightly larger than the file).
    let max_cuts = (size as u64).div_ceil(cut).max(1);
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let work = tempfile::tempdir()?;
        all.push(kizuna_tests::w4::run(work.path(), size, cut, max_cuts)?);
    }
    let col = |f: &dyn Fn(&kizuna_tests::w4::W4Figures) -> f64| -> Vec<f64> {
        all.iter().map(f).collect()
    };
    report_median(
        "w4",
        "upload_sent_ratio",
        &col(&|f| f.upload_sent_ratio),
        "x",
    );
    report_median(
        "w4",
        "upload_throughput_vs_plain",
        &col(&|f| f.upload_mb_s / f.plain_upload_mb_s),
        "x",
    );
    report_median(
        "w4",
        "download_sent_ratio",
        &col(&|f| f.download_sent_ratio),
        "x",
    );
    report_median(
        "w4",
        "download_throughput_vs_plain",
        &col(&|f| f.download_mb_s / f.plain_download_mb_s),
        "x",
    );
    report_median("w4", "upload_mb_s", &col(&|f| f.upload_mb_s), "MB/s");
    report_median(
        "w4",
        "plain_upload_mb_s",
        &col(&|f| f.plain_upload_mb_s),
        "MB/s",
    );
    report_median("w4", "download_mb_s", &col(&|f| f.download_mb_s), "MB/s");
    report_median(
        "w4",
        "plain_download_mb_s",
        &col(&|f| f.plain_download_mb_s),
        "MB/s",
    );
    report_median("w4", "upload_cuts", &col(&|f| f.cuts.0 as f64), "n");
    report_median("w4", "download_cuts", &col(&|f| f.cuts.1 as f64), "n");
    report_median("w4", "import_ms", &col(&|f| f.import_ms), "ms");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn w3(
    work: &Path,
    shape: &kizuna_tests::w3::W3Shape,
    counts: &[usize],
    seconds: f64,
    interval_ms: u64,
    threads: usize,
    prepare_only: bool,
    partial: bool,
    idle_wait_secs: u64,
    settled_secs: u64,
) -> Res {
    use kizuna_tests::w3;
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
        let (start_ms, relay) = time_ms(|| kizuna_tests::w2::ChildRelay::start(&data));
        let relay = relay?;
        report_value("w3", &format!("relay_start_ms_{n}"), start_ms, "ms");
        let watch = w3::RssWatch::start(relay.pid());
        let out = Command::new(std::env::current_exe()?)
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

fn w3_load(
    work: &Path,
    url: &str,
    devices: usize,
    seconds: f64,
    interval_ms: u64,
    seed: u64,
) -> Res {
    let run = kizuna_tests::w3::LoadRun {
        devices,
        seconds,
        interval: std::time::Duration::from_millis(interval_ms),
        seed,
    };
    let figures = kizuna_tests::w3::load(work, url, &run)?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}
