//! Runs `kizuna-bench w1` on a small room and checks that it prints every required figure and
//! that the store it keeps holds none of the generated text in plain bytes.

use kizuna_tests::measure::bench_figures;

#[test]
fn w1_prints_every_figure_and_keeps_an_encrypted_store() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("store");
    let mut args: Vec<&std::ffi::OsStr> = ["w1", "--days", "120", "--runs", "2", "--keep"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    args.push(keep.as_os_str());
    let lines = bench_figures(env!("CARGO_BIN_EXE_kizuna-bench"), &args)
        .unwrap()
        .lines;
    for figure in [
        "size_at_rest_bytes",
        "open_to_list_ms",
        "full_load_ms",
        "peak_rss_mb",
        "append_report_ms",
    ] {
        let line = lines
            .iter()
            .find(|l| l["figure"] == figure)
            .unwrap_or_else(|| panic!("{figure} missing"));
        assert_eq!(line["workload"], "w1");
        let v = line
            .get("median")
            .or_else(|| line.get("value"))
            .and_then(|v| v.as_f64())
            .unwrap();
        assert!(v > 0.0, "{figure} = {v}");
    }
    let hits = lines
        .iter()
        .find(|l| l["figure"] == "plaintext_hits")
        .unwrap();
    assert_eq!(hits["value"].as_f64(), Some(0.0));

    // Independently of the bench's own check: no file of the kept store contains Japanese
    // clinical words the generator always writes.
    for needle in ["褥瘡", "体温", "mmHg", "佐藤"] {
        assert!(
            kizuna_tests::measure::files_containing(&keep, needle.as_bytes()).is_empty(),
            "{needle} found in plain bytes"
        );
    }
    assert!(kizuna_tests::measure::dir_bytes(&keep) > 10_000);
}
