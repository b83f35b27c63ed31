//! `kizuna-bench w2`: the nurse reconnects after a day offline, our sync and samod.

use super::BenchResult;
use crate::measure::report_median;
use crate::w2::{W2Figures, W2Shape};

/// W2: each run on a fresh relay process; medians over the runs.
pub fn run(seed: u64, rooms: usize, history: usize, runs: usize) -> BenchResult {
    let shape = W2Shape {
        rooms,
        history,
        ..W2Shape::standard()
    };
    let mut all = Vec::new();
    for i in 0..runs.max(1) {
        let work = tempfile::tempdir()?;
        all.push(crate::w2::run(work.path(), &shape, seed + i as u64)?);
    }
    let col = |f: &dyn Fn(&W2Figures) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
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
