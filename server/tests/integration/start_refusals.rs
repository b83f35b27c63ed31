//! `kizuna serve` (and `kizuna demo`) on a data directory a relay has used, with a key, the
//! audit log or the administrator's identity gone, or permissions too open: the real binary
//! refuses with exit status 5, names the file and the fix, and leaves every byte of the
//! directory as it was. A deliberate new CA (`--new-ca`) and a brand-new directory still
//! start, and so does a file given by `--config` with flags and environment winning over it.

use kizuna_testkit::LoopbackRelay;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `kizuna ARGS` with no KIZUNA_* variables from the test's own environment.
fn kizuna(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kizuna"));
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KIZUNA_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs a start that must be refused. A start that is not refused serves forever: after a
/// minute it is killed and the test fails saying so (a guard against hanging, not a timed
/// assertion).
fn refused_start(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "the start was not refused; it served: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A relay that is serving, and what it printed up to its "Kizuna relay on" line.
struct Serving {
    child: Child,
    printed: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serving(mut cmd: Command) -> Serving {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.starts_with("Kizuna relay on") {
                    return Serving { child, printed };
                }
            }
            _ => {
                let status = child.wait().unwrap();
                panic!("kizuna serve ended ({status}) before serving:\n{printed}");
            }
        }
    }
}

/// Every file under `dir` with its bytes and mode: what "nothing changed" compares.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        out.insert(
            d.strip_prefix(dir).unwrap().to_path_buf(),
            (Vec::new(), mode),
        );
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode();
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    (std::fs::read(&p).unwrap(), mode),
                );
            }
        }
    }
    out
}

/// A data directory a relay has served from (CA, store key, audit log, admin identity), the
/// relay stopped; with the temporary folder that holds it.
fn used_directory() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    relay.stop();
    (tmp, data)
}

fn serve_on(data: &Path) -> Command {
    kizuna(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
}

/// Moves `rel` out of `data`, starts, and checks the refusal: status 5, the file named with
/// `hints`, and the directory exactly as it was.
fn refused_without(rel: &str, hints: &[&str]) {
    let (tmp, data) = used_directory();
    std::fs::rename(data.join(rel), tmp.path().join("moved-away")).unwrap();
    let before = snapshot(&data);
    let out = refused_start(serve_on(&data));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains(&data.join(rel).display().to_string()), "{err}");
    for h in hints {
        assert!(err.contains(h), "{rel}: no {h:?} in {err}");
    }
    assert_eq!(
        snapshot(&data),
        before,
        "the refused start changed {rel}'s directory"
    );
}

#[test]
fn a_missing_ca_key_is_refused_and_ca_crt_stays_as_it_was() {
    let (tmp, data) = used_directory();
    let crt = std::fs::read(data.join("ca.crt")).unwrap();
    std::fs::rename(data.join("ca.key"), tmp.path().join("ca.key")).unwrap();
    let before = snapshot(&data);
    let out = refused_start(serve_on(&data));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("ca.key") && err.contains("backup"), "{err}");
    assert!(
        err.contains("Rotate the CA") && err.contains("--new-ca"),
        "{err}"
    );
    assert_eq!(std::fs::read(data.join("ca.crt")).unwrap(), crt);
    assert!(!data.join("ca.key").exists());
    assert_eq!(snapshot(&data), before);

    // The demo on the same directory refuses alike.
    let out = refused_start(kizuna(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]));
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca.key"));
    assert_eq!(snapshot(&data), before);
}

#[test]
fn a_missing_store_key_is_refused_without_leaving_a_new_one() {
    refused_without("store.key", &["store.key", "backup"]);
}

#[test]
fn a_missing_audit_log_is_refused() {
    refused_without("audit/log.jsonl", &["audit log", "backup"]);
    refused_without("audit/head", &["audit"]);
}

#[test]
fn a_missing_administrator_identity_is_refused_with_the_way_to_reissue() {
    refused_without("admin/admin.key", &["backup", "--reissue-admin"]);
}

#[test]
fn open_permissions_are_refused_with_the_chmod_that_fixes_them() {
    let (_tmp, data) = used_directory();
    let key = data.join("store.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    let before = snapshot(&data);
    let out = refused_start(serve_on(&data));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 700 {}", data.display())),
        "{err}"
    );
    assert_eq!(snapshot(&data), before);

    // With --json the refusal is one JSON object on stderr.
    let mut cmd = serve_on(&data);
    cmd.arg("--json");
    let out = refused_start(cmd);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["error"], "start_refused");
    assert!(v["message"].as_str().unwrap().contains("chmod 600"), "{v}");

    // Fixed as told, it starts.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    drop(serving(serve_on(&data)));
}

#[test]
fn a_deliberate_new_ca_needs_the_flag_and_the_old_files_moved_aside() {
    let (tmp, data) = used_directory();
    let old = std::fs::read_to_string(data.join("ca.crt")).unwrap();
    let aside = tmp.path().join("old-ca");
    std::fs::create_dir(&aside).unwrap();
    // --new-ca with the old CA still in place is refused.
    let mut cmd = serve_on(&data);
    cmd.arg("--new-ca");
    let out = refused_start(cmd);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("move both aside"));
    for f in ["ca.crt", "ca.key", "admin/admin.crt", "admin/admin.key"] {
        std::fs::rename(data.join(f), aside.join(f.replace('/', "-"))).unwrap();
    }
    // Without the flag, the moved-aside CA is still a refusal.
    let out = refused_start(serve_on(&data));
    assert_eq!(out.status.code(), Some(5));
    let mut cmd = serve_on(&data);
    cmd.arg("--new-ca");
    let s = serving(cmd);
    assert!(
        s.printed.contains("new administrator identity"),
        "{}",
        s.printed
    );
    drop(s);
    assert_ne!(std::fs::read_to_string(data.join("ca.crt")).unwrap(), old);
    assert!(data.join("admin/admin.key").exists());
}

#[test]
fn the_config_file_gives_what_flags_and_environment_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kizuna.toml");
    std::fs::write(
        &file,
        "data = \"relay\"\nlisten = \"127.0.0.1:0\"\nhostname = \"file.example\"\n",
    )
    .unwrap();
    let conf = file.to_str().unwrap();
    // A brand-new directory (relative to the file), made by hand with mode 755, is
    // initialised and made 0700.
    let data = tmp.path().join("relay");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = serving(kizuna(&["serve", "--config", conf]));
    assert!(s.printed.contains("First start"), "{}", s.printed);
    assert!(
        s.printed.contains("devices use https://file.example:"),
        "{}",
        s.printed
    );
    drop(s);
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut env = kizuna(&["serve", "--config", conf]);
    env.env("KIZUNA_HOSTNAME", "env.example");
    let s = serving(env);
    assert!(
        s.printed.contains("devices use https://env.example:"),
        "{}",
        s.printed
    );
    drop(s);
    let mut flag = kizuna(&["serve", "--config", conf, "--hostname", "flag.example"]);
    flag.env("KIZUNA_HOSTNAME", "env.example");
    let s = serving(flag);
    assert!(
        s.printed.contains("devices use https://flag.example:"),
        "{}",
        s.printed
    );
    drop(s);
    // KIZUNA_CONFIG names the file too, and KIZUNA_DATA beats the file's data.
    let other = tmp.path().join("other");
    let mut env = kizuna(&["serve"]);
    env.env("KIZUNA_CONFIG", conf).env("KIZUNA_DATA", &other);
    drop(serving(env));
    assert!(other.join("ca.crt").exists());

    // A key the file should not have is named, and nothing starts.
    std::fs::write(&file, "data = \"relay\"\nlisen = \"127.0.0.1:0\"\n").unwrap();
    let out = refused_start(kizuna(&["serve", "--config", conf]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lisen") && err.contains("kizuna.toml"),
        "{err}"
    );
}

/// A `store.key` that is not the one the data directory was sealed with (another relay's,
/// or a mistaken copy) is refused at start: the rooms, the directory and the journal are
/// never read with it, and the message names the key file.
#[test]
fn a_wrong_store_key_is_refused() {
    use std::os::unix::fs::OpenOptionsExt;
    let (_tmp, data) = used_directory();
    let key = data.join("store.key");
    let right = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let wrong: Vec<u8> = right.iter().map(|b| b ^ 0x5a).collect();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .unwrap();
        f.write_all(&wrong).unwrap();
    }
    let journal = std::fs::read(data.join("journal").join("directory.jsonl")).unwrap();
    let out = refused_start(serve_on(&data));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("store key does not open"), "{err}");
    assert_eq!(
        std::fs::read(data.join("journal").join("directory.jsonl")).unwrap(),
        journal,
        "the journal was not rewritten with the wrong key"
    );
}
