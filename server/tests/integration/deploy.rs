//! The service files in `server/deploy/` (systemd unit, container recipe) name only flags and
//! environment variables `kizuna serve` has, and keep the hardening the operations guide
//! promises.

use std::process::Command;

fn serve_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

const UNIT: &str = include_str!("../../deploy/kizuna.service");
const CONTAINER: &str = include_str!("../../deploy/Containerfile");

fn unit_values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_systemd_unit_runs_serve_with_real_flags_and_hardening() {
    let help = serve_help();
    let exec = unit_values("ExecStart");
    assert_eq!(exec.len(), 1);
    let words: Vec<&str> = exec[0].split_whitespace().collect();
    assert_eq!(&words[..2], &["/usr/local/bin/kizuna", "serve"]);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "{flag} is not a flag of kizuna serve");
    }
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectoryMode", "0700"),
        ("UMask", "0077"),
        ("ReadWritePaths", "/var/lib/kizuna"),
        ("User", "kizuna"),
    ] {
        assert_eq!(unit_values(key), vec![value], "{key}");
    }
    // Statuses the CLI documents as needing an operator (usage, start refused): no restart.
    let prevent = unit_values("RestartPreventExitStatus");
    let codes: Vec<&str> = prevent[0].split_whitespace().collect();
    assert!(codes.contains(&"2") && codes.contains(&"5"), "{codes:?}");
    assert_eq!(unit_values("CapabilityBoundingSet"), vec![""]);
}

#[test]
fn the_container_sets_only_environment_the_relay_reads() {
    let help = serve_help();
    let envs: Vec<&str> = CONTAINER
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter_map(|w| w.split_once('='))
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("KIZUNA_"))
        .collect();
    assert!(envs.contains(&"KIZUNA_DATA"), "{envs:?}");
    for var in &envs {
        // `--data` is global; the others are serve's own and clap lists them in its help.
        if *var != "KIZUNA_DATA" {
            assert!(help.contains(var), "{var} is not read by kizuna serve");
        }
    }
    assert!(
        CONTAINER.contains("USER kizuna"),
        "the relay must not run as root"
    );
    assert!(
        CONTAINER.contains("-m 0700"),
        "the data directory must be owner-only"
    );
}
