//! Runs `kizuna-bench w2` on a tiny city (the relay as its own process, samod beside it) and
//! checks that every required figure is printed and that the reconnect took one round trip.

use kizuna_tests::measure::bench_figures;

#[test]
fn w2_prints_every_figure_and_reconnects_in_one_round_trip() {
    let args: Vec<&std::ffi::OsStr> = ["w2", "--rooms", "3", "--history", "10", "--runs", "1"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    let figures = bench_figures(env!("CARGO_BIN_EXE_kizuna-bench"), &args).unwrap();
    let figure = |name: &str| -> f64 {
        figures
            .value("w2", name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for name in [
        "doc_bytes",
        "floor_bytes",
        "wall_ms",
        "relay_cpu_ms",
        "samod_doc_bytes",
        "samod_round_trips",
        "samod_wall_ms",
    ] {
        assert!(figure(name) >= 0.0);
    }
    assert!(figure("floor_bytes") > 0.0);
    assert_eq!(figure("round_trips"), 1.0);
    // Two 3 MB photos go up after the documents.
    assert!(figure("blob_bytes") >= 6_000_000.0);
}
