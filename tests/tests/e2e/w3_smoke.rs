//! Runs `kizuna-bench w3` on a tiny city (24 rooms of 20 reports, 10 and 20 devices for two
//! seconds each) and checks every required figure is printed and no sync failed.

use kizuna_tests::measure::bench_figures;

#[test]
fn w3_prints_every_figure_and_no_sync_fails() {
    let work = tempfile::tempdir().unwrap();
    let work_arg = work.path().join("w3");
    let mut args: Vec<&std::ffi::OsStr> = [
        "w3",
        "--rooms",
        "24",
        "--history",
        "20",
        "--devices",
        "10,20",
        "--seconds",
        "2",
        "--interval-ms",
        "300",
        "--idle-wait-secs",
        "0",
        "--settled-secs",
        "0",
        "--work",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    args.push(work_arg.as_os_str());
    let figures = bench_figures(env!("CARGO_BIN_EXE_kizuna-bench"), &args).unwrap();
    let figure = |name: &str| -> f64 {
        figures
            .value("w3", name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(figure("rooms_on_disk"), 24.0, "every room has its history");
    for n in [10, 20] {
        assert!(figure(&format!("syncs_per_s_{n}")) > 0.0);
        assert!(figure(&format!("p50_ms_{n}")) <= figure(&format!("p99_ms_{n}")));
        // Two-second runs end before the cold start is over.
        assert_eq!(figure(&format!("p99_after_cold_ms_{n}")), 0.0);
        assert!(figure(&format!("relay_peak_rss_mb_{n}")) > 0.0);
        assert_eq!(figure(&format!("failures_{n}")), 0.0);
        assert!(figure(&format!("reports_{n}")) + figure(&format!("receipts_{n}")) > 0.0);
        assert!(figure(&format!("relay_rss_after_mb_{n}")) > 0.0);
        assert!(figure(&format!("relay_rss_settled_mb_{n}")) > 0.0);
    }
    assert_eq!(
        figure("relay_rss_after_mb"),
        figure("relay_rss_after_mb_10").max(figure("relay_rss_after_mb_20"))
    );
}
