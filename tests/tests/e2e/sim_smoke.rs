//! The field simulator in CI (issue 7, part 5): two minutes with four phones as their own
//! processes, every fault kind on — the relay and the phones killed with SIGKILL every few
//! seconds, connections cut, reset and delayed by the proxy, requests and uploads duplicated
//! and replayed by the phones' transport — then the checker's verdict must be "converged"
//! with nothing saved or acknowledged lost, and every fault kind must have happened.

/// The figure after `name ` in the verdict line.
fn figure(verdict: &str, name: &str) -> u64 {
    verdict
        .split(&format!(" {name} "))
        .nth(1)
        .and_then(|r| r.split([',', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure {name:?} in {verdict}"))
}

#[test]
fn two_minutes_of_every_fault_converge_and_lose_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna-sim"))
        .args([
            "--devices",
            "4",
            "--seconds",
            "120",
            "--seed",
            "7",
            "--kill-every",
            "8",
            "--device-kill-every",
            "5",
            "--fault-every",
            "1",
            "--pace-ms",
            "800",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        out.status.success(),
        "{verdict}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(verdict.starts_with("verdict: converged;"), "{verdict}");
    assert_eq!(figure(&verdict, "lost"), 0, "{verdict}");
    assert!(figure(&verdict, "acknowledged") > 0, "{verdict}");
    assert!(figure(&verdict, "relay kills") >= 2, "{verdict}");
    for kind in [
        "device kills",
        "cuts",
        "resets",
        "delays",
        "duplicates",
        "replays",
    ] {
        assert!(figure(&verdict, kind) >= 1, "no {kind} happened: {verdict}");
    }
}
