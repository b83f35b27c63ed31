//! Runs `kizuna-bench w2` on a tiny city (the relay as its own process, samod beside it) and
//! checks that every required figure is printed and that the reconnect took one round trip.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

#[test]
fn w2_prints_every_figure_and_reconnects_in_one_round_trip() {
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna-bench"))
        .args(["w2", "--rooms", "3", "--history", "10", "--runs", "1"])
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
        assert_eq!(line["workload"], "w2");
        line["median"].as_f64().unwrap()
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
