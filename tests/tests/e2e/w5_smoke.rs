//! Runs `kizuna-bench w5` on a small corpus and checks that it prints every required figure,
//! that the queries find something, and that the store it keeps (index included) holds none
//! of the indexed text in plain bytes.

use kizuna_tests::measure::bench_figures;

#[test]
fn w5_prints_every_figure_and_keeps_an_encrypted_index() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("store");
    let mut args: Vec<&std::ffi::OsStr> = [
        "w5", "--rooms", "3", "--days", "60", "--runs", "10", "--keep",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    args.push(keep.as_os_str());
    let lines = bench_figures(env!("CARGO_BIN_EXE_kizuna-bench"), &args)
        .unwrap()
        .lines;
    let figure = |name: &str| {
        lines
            .iter()
            .find(|l| l["figure"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    for kind in ["kw2", "kw4", "kw_date", "kana_name"] {
        for stat in ["p50", "p99"] {
            let line = figure(&format!("{stat}_ms_{kind}"));
            assert_eq!(line["workload"], "w5");
            assert!(line["median"].as_f64().unwrap() > 0.0);
            assert!(line["p99"].as_f64().unwrap() >= line["median"].as_f64().unwrap());
            assert_eq!(line["runs"], 10);
        }
    }
    for kind in ["kw2", "kw4", "kana_name"] {
        assert_eq!(figure(&format!("empty_{kind}"))["value"], 0.0, "{kind}");
    }
    assert_eq!(figure("reports")["value"], 180.0);
    assert!(figure("index_bytes")["value"].as_f64().unwrap() > 10_000.0);
    assert_eq!(figure("plaintext_hits")["value"], 0.0);
    for needle in ["褥瘡", "ガーゼ", "ペニシリン", "ヤマダ", "仙骨部"] {
        assert!(
            kizuna_tests::measure::files_containing(&keep, needle.as_bytes()).is_empty(),
            "{needle} found in plain bytes"
        );
    }
}
