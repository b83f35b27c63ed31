//! `kizuna admin` run as its own process, the way an operator runs it: every test that drives
//! the CLI from outside goes through here.

use std::path::Path;

/// Runs `kizuna admin --data DATA ARGS…`: its exit status, stdout and stderr.
pub fn kizuna_admin_status(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`kizuna_admin_status`] with success as a flag.
pub fn kizuna_admin(data: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = kizuna_admin_status(data, args);
    (code == Some(0), out, err)
}

/// [`kizuna_admin_status`] from a test on a tokio runtime (the relay serves on it meanwhile).
pub async fn kizuna_admin_status_async(
    data: &Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let data = data.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        kizuna_admin_status(&data, &refs)
    })
    .await
    .unwrap()
}

/// [`kizuna_admin`] from a test on a tokio runtime.
pub async fn kizuna_admin_async(data: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = kizuna_admin_status_async(data, args).await;
    (code == Some(0), out, err)
}
