//! `kizuna demo` as a user runs it: a fresh directory is seeded, the printed curl command
//! works as printed, and a second start reuses the same city.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo process; killed and reaped when dropped, also when an assertion fails.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo in `cwd` and returns it and its stdout up to the end of the guide.
fn start_demo(cwd: &Path) -> (Demo, String) {
    let mut child = Demo(
        Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .args(["demo", "--listen", "127.0.0.1:0"])
            .current_dir(cwd)
            .env("KIZUNA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if line.contains("Ctrl-C stops the relay") {
                    return (child, out);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    drop(child);
    panic!("the demo did not print its guide:\n{out}");
}

fn stop(child: Demo) {
    drop(child);
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
    stop(child);

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
    stop(child);
}
