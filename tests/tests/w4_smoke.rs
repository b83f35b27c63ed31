//! Runs `kizuna-bench w4` on a small video with cuts and checks every required figure is
//! printed and that the cuts cost almost nothing.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

#[test]
fn w4_prints_every_figure_and_cuts_cost_little() {
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna-bench"))
        .args(["w4", "--mb", "4", "--cut-mb", "1", "--runs", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let figure = |name: &str| -> f64 {
        let line = lines
            .iter()
            .find(|l| l["figure"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(line["workload"], "w4");
        line["median"].as_f64().unwrap()
    };
    for name in ["upload_throughput_vs_plain", "download_throughput_vs_plain"] {
        assert!(figure(name) > 0.0);
    }
    assert_eq!(figure("upload_cuts"), 4.0);
    assert_eq!(figure("download_cuts"), 4.0);
    assert!(figure("upload_sent_ratio") < 1.15);
    assert!(figure("download_sent_ratio") < 1.15);
}
