//! `kizuna-bench w1`: the ten-year room on a phone.

use super::BenchResult;
use crate::measure::{
    dir_bytes, files_containing, proc_status_mb, report_median, report_value, time_ms,
};
use crate::workload::{report_content, w1_room, w1_team};
use kizuna_core::{RoomId, RoomStore, Timestamp};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The store key the benchmark uses (benchmarks hold generated data only).
const BENCH_KEY: [u8; 32] = [0xB5; 32];

/// W1, the ten-year room: builds it in a device store (in `keep`, or a temporary folder),
/// times listing, loading and appending there, and has `exe w1-open` measure memory in a
/// fresh process, as an app opening the room would.
pub fn run(exe: &Path, keep: Option<PathBuf>, seed: u64, days: usize, runs: usize) -> BenchResult {
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
    let out = Command::new(exe)
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

/// `kizuna-bench w1-open`: opens the W1 store in this fresh process and prints the memory
/// figures, so that building the room does not count.
pub fn open_fresh(dir: &Path, room: RoomId) -> BenchResult {
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
