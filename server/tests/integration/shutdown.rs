//! `kizuna serve` as an operator runs it, as a child process: its log in JSON
//! (`--log-format json`), and a SIGTERM that ends a waiting long poll at once instead of
//! holding the shutdown for the whole grace period.

use kizuna_contract::events::{Changed, MAX_EVENTS_WAIT_SECS};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

/// Lines of a child's pipe, read on a thread to the end.
fn lines(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// The next line (parsed) whose message contains `what`; every line read on the way must be
/// JSON. Panics when the pipe ends first.
fn json_line_with(rx: &Receiver<String>, what: &str, seen: &mut Vec<serde_json::Value>) {
    loop {
        let line = rx
            .recv()
            .unwrap_or_else(|_| panic!("the relay's log ended before {what:?}: {seen:?}"));
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        let found = v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(what));
        seen.push(v);
        if found {
            return;
        }
    }
}

/// Kills the child if the test fails before it exits.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_relay_answers_its_long_poll_first_and_logs_json() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data",
        ])
        .arg(data.path())
        .env("KIZUNA_LOG", "info,kizuna_server::sync::events=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let mut child = Reap(child);
    let mut log = Vec::new();
    json_line_with(&err, "relay listening", &mut log);
    let url = loop {
        let line = out.recv().expect("the relay printed no URL");
        if let Some(rest) = line.split("(devices use ").nth(1) {
            break rest.split(')').next().unwrap().to_string();
        }
    };
    let read = |p: &str| std::fs::read_to_string(data.path().join(p)).unwrap();
    let (ca, crt, key) = (
        read("ca.crt"),
        read("admin/admin.crt"),
        read("admin/admin.key"),
    );
    let tls = kizuna_server::identity::pki::client_config(&ca, Some((&crt, &key))).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let start: Changed = http
        .get(format!("{url}/v1/events?cursor=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // A long poll that would wait the longest the relay allows.
    let poll = tokio::spawn({
        let http = http.clone();
        let url = format!(
            "{url}/v1/events?cursor={}&timeout={MAX_EVENTS_WAIT_SECS}",
            start.cursor
        );
        async move { http.get(url).send().await }
    });
    let pid = child.0.id().to_string();
    let (log, err) = tokio::task::spawn_blocking(move || {
        json_line_with(&err, "a long poll is waiting", &mut log);
        (log, err)
    })
    .await
    .unwrap();
    let mut log = log;
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // 1. The long poll is answered (by a relay still serving: a dead one cannot answer), with
    //    nothing changed, before its timeout.
    let resp = poll
        .await
        .unwrap()
        .expect("the long poll was cut, not answered");
    assert_eq!(resp.status(), 200);
    let changed: Changed = resp.json().await.unwrap();
    assert!(changed.docs.is_empty() && !changed.resync, "{changed:?}");
    assert_eq!(changed.cursor, start.cursor);
    // 2. Then the relay exits cleanly.
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    // 3. And its log says the poll ended because of the shutdown.
    let rest: Vec<String> = err.iter().collect();
    for line in &rest {
        log.push(
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}")),
        );
    }
    let message = |v: &serde_json::Value| v["fields"]["message"].as_str().unwrap_or("").to_string();
    let closed = log
        .iter()
        .position(|v| message(v) == "answered the waiting long polls")
        .expect("no shutdown line");
    assert_eq!(log[closed]["fields"]["long_polls"], 1);
    let ended = log
        .iter()
        .position(|v| message(v) == "a long poll ended by shutdown")
        .expect("the long poll did not end by shutdown");
    let waited = log
        .iter()
        .position(|v| message(v) == "a long poll is waiting")
        .unwrap();
    assert!(waited < ended);
    assert!(
        log.iter()
            .all(|v| v["level"].is_string() && v["timestamp"].is_string()),
        "JSON lines without level or time"
    );
}
