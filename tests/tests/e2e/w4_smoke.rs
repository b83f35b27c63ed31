//! Runs `kizuna-bench w4` on a small video with cuts and checks every required figure is
//! printed and that the cuts cost almost nothing.

use kizuna_tests::measure::bench_figures;

#[test]
fn w4_prints_every_figure_and_cuts_cost_little() {
    let args: Vec<&std::ffi::OsStr> = ["w4", "--mb", "4", "--cut-mb", "1", "--runs", "1"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    let figures = bench_figures(env!("CARGO_BIN_EXE_kizuna-bench"), &args).unwrap();
    let figure = |name: &str| -> f64 {
        figures
            .value("w4", name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for name in ["upload_throughput_vs_plain", "download_throughput_vs_plain"] {
        assert!(figure(name) > 0.0);
    }
    assert_eq!(figure("upload_cuts"), 4.0);
    assert_eq!(figure("download_cuts"), 4.0);
    assert!(figure("upload_sent_ratio") < 1.15);
    assert!(figure("download_sent_ratio") < 1.15);
}
