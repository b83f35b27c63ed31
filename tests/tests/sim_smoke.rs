//! A short field-simulator run in CI: four phones, twenty seconds of offline work and syncs
//! through connection cuts, the relay killed with SIGKILL every few seconds — then the
//! checker's verdict must be "converged" with nothing acknowledged lost.
#![allow(clippy::unwrap_used, missing_docs)]

#[test]
fn a_short_simulation_converges_and_loses_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna-sim"))
        .args([
            "--devices",
            "4",
            "--seconds",
            "20",
            "--seed",
            "7",
            "--kill-every",
            "4",
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
    assert!(verdict.contains("lost 0,"), "{verdict}");
    let kills: u64 = verdict
        .split("relay kills ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(kills >= 2, "the relay was killed during the run: {verdict}");
}
