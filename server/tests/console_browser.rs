//! Browser tests of the admin console: starts `kizuna demo` on a fresh data directory and
//! 127.0.0.1:0 (real TLS, real certificates), then runs `server/tests/console/
//! console.test.mjs` (playwright-core driving Debian's headless chromium). Screenshots of
//! every page go to `target/console-screenshots/`.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and `npm ci` run in
//! `server/tests/console/`; `.ci/run` installs all three. Without them the test says so and
//! passes, unless `KIZUNA_BROWSER_TESTS=required` (set by CI), when it fails.
#![allow(missing_docs)]

use kizuna_testkit::demo::Demo;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn missing_tools(dir: &Path, chromium: &str) -> Vec<String> {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_string());
    }
    if !Path::new(chromium).exists() {
        missing.push(chromium.to_string());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        missing.push(format!("{}/node_modules (run npm ci there)", dir.display()));
    }
    missing
}

#[test]
fn console_in_headless_chromium() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("tests/console");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing = missing_tools(&dir, &chromium);
    if !missing.is_empty() {
        let required = std::env::var("KIZUNA_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(!required, "browser tests required but missing: {missing:?}");
        eprintln!("SKIPPED console browser tests: missing {missing:?}");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let demo = Demo::start(
        Path::new(env!("CARGO_BIN_EXE_kizuna")),
        &manifest,
        &["--data".as_ref(), data.path().as_os_str()],
    );
    let url = demo.url().expect("the demo printed its URL").to_string();
    let shots = manifest.join("../target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let started = Instant::now();
    let out = Command::new("node")
        .arg("console.test.mjs")
        .current_dir(&dir)
        .env("KIZUNA_URL", &url)
        .env("KIZUNA_DATA", data.path())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "browser tests failed after {:?}:\n{stdout}\n{stderr}",
        started.elapsed()
    );
    demo.stop();
}
