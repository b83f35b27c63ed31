//! `kizuna demo` as a user runs it: a fresh directory is seeded, the printed curl command
//! works as printed, and a second start reuses the same city.

use kizuna_testkit::demo::Demo;
use std::path::Path;
use std::process::Command;

/// Starts the demo in `cwd` and returns it and its stdout up to the end of the guide.
fn start_demo(cwd: &Path) -> (Demo, String) {
    let demo = Demo::start(Path::new(env!("CARGO_BIN_EXE_kizuna")), cwd, &[]);
    let out = demo.guide().to_string();
    (demo, out)
}

fn has_curl() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_once_and_its_curl_command_works() {
    let cwd = tempfile::tempdir().unwrap();
    let path = cwd.path().to_path_buf();
    let (child, out) = tokio::task::spawn_blocking(move || start_demo(&path))
        .await
        .unwrap();
    assert!(out.contains("Created a demo city in kizuna-demo/"), "{out}");
    let demo = cwd.path().join("kizuna-demo");
    for name in [
        "admin",
        "sato",
        "suzuki",
        "takahashi",
        "tanaka",
        "ito",
        "watanabe",
    ] {
        assert!(
            demo.join("demo").join(format!("{name}.crt")).exists(),
            "{name}"
        );
        use std::os::unix::fs::PermissionsExt;
        let key = demo.join("demo").join(format!("{name}.key"));
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(demo.join("ca.crt").exists());

    // The exact line the guide prints, run as printed.
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("curl --cacert kizuna-demo/ca.crt --cert kizuna-demo/demo/sato.crt --key kizuna-demo/demo/sato.key https://127.0.0.1:") && l.ends_with("/v1/me"))
        .unwrap_or_else(|| panic!("no curl line for sato:\n{out}"))
        .to_string();
    let url = line.rsplit(' ').next().unwrap().to_string();
    let me: serde_json::Value = if has_curl() {
        let run = Command::new("sh")
            .arg("-c")
            .arg(format!("{line} --silent --show-error --fail"))
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        serde_json::from_slice(&run.stdout).unwrap()
    } else {
        let read = |p: &str| std::fs::read_to_string(demo.join(p)).unwrap();
        let tls = kizuna_server::identity::pki::client_config(
            &read("ca.crt"),
            Some((&read("demo/sato.crt"), &read("demo/sato.key"))),
        )
        .unwrap();
        let c = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        c.get(&url).send().await.unwrap().json().await.unwrap()
    };
    assert_eq!(me["professional"]["name"], "佐藤 美咲");
    let kinds: Vec<&str> = me["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for kind in ["patient", "city_notices", "alerts", "direct"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let patients = kinds.iter().filter(|k| **k == "patient").count();
    assert_eq!(patients, 3, "the nurse is in all three demo patient rooms");
    child.stop();

    // Second start: same CA, same people, nothing new.
    let ca_before = std::fs::read_to_string(demo.join("ca.crt")).unwrap();
    let path = cwd.path().to_path_buf();
    let (child, out) = tokio::task::spawn_blocking(move || start_demo(&path))
        .await
        .unwrap();
    assert!(
        out.contains("Reusing the demo city in kizuna-demo/"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(demo.join("ca.crt")).unwrap(),
        ca_before
    );
    let data = demo.clone();
    let list = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(["admin", "--data"])
            .arg(&data)
            .args(["--json", "professional", "list"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        7,
        "admin and six professionals, once"
    );
    child.stop();
}
