//! `kizuna-bench w4`: a video over a flaky link, against plain HTTPS.

use super::BenchResult;
use crate::measure::report_median;
use crate::w4::W4Figures;

/// W4: each run on a fresh relay; medians over the runs.
pub fn run(mb: usize, cut_mb: u64, runs: usize) -> BenchResult {
    let size = mb * 1_000_000;
    let cut = cut_mb * 1_000_000;
    // Ten cuts for 50 MB cut every 5 MB: the last falls in the final bytes (the transfer is
    // slightly larger than the file).
    let max_cuts = (size as u64).div_ceil(cut).max(1);
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let work = tempfile::tempdir()?;
        all.push(crate::w4::run(work.path(), size, cut, max_cuts)?);
    }
    let col = |f: &dyn Fn(&W4Figures) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
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
