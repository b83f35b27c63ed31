//! `kizuna admin` driven as a separate process against a relay that holds the sled store
//! open: the CLI works only through the admin API over mTLS.

use crate::admin_process::{kizuna_admin as kizuna, kizuna_admin_async as run};
use kizuna_core::Role;
use kizuna_testkit::LoopbackRelay;
use std::path::Path;

async fn json(data: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = run(data, &all).await;
    assert!(ok, "kizuna admin {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_drives_a_running_relay() {
    let t = LoopbackRelay::start().await;
    let data = t.data();

    let p = json(
        data,
        &[
            "professional",
            "add",
            "--name",
            "佐藤 美咲",
            "--kana",
            "さとう みさき",
            "--profession",
            "訪問看護師",
            "--org",
            "みどり訪問看護ステーション",
        ],
    )
    .await;
    assert_eq!(p["profession"], "nurse");
    let pid = p["id"].as_str().unwrap().to_string();

    let list = json(data, &["professional", "list"]).await;
    assert!(list.as_array().unwrap().iter().any(|x| x["id"] == pid));

    // The human form of enroll-code draws a QR code and shows the code.
    let (ok, out, err) = run(data, &["enroll-code", &pid]).await;
    assert!(ok, "{err}");
    assert!(out.contains('█') && out.contains("code:"), "{out}");
    let code = json(data, &["enroll-code", &pid]).await;
    assert!(
        code["qr_payload"]
            .as_str()
            .unwrap()
            .starts_with("kizuna://enroll?")
    );

    let room = json(
        data,
        &[
            "room",
            "create",
            "--kind",
            "patient",
            "--patient-name",
            "小林 トメ",
            "--consent-by",
            "小林 和子",
            "--consent-relation",
            "長女",
            "--consent-date",
            "2025-04-03",
        ],
    )
    .await;
    assert_eq!(room["consent"]["obtained_by"], "管理者");
    let rid = room["id"].as_str().unwrap().to_string();
    let invited = json(data, &["room", "invite", &rid, &pid, "--role", "writer"]).await;
    assert!(
        invited["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["professional"] == pid.as_str() && m["role"] == "writer")
    );

    // Enroll a device over HTTP with a code from the CLI, then revoke it with the CLI.
    let keys = t.enroll(pid.parse::<uuid::Uuid>().unwrap()).await.unwrap();
    let me = t.device(&keys).me().await.unwrap();
    assert!(
        me.rooms
            .iter()
            .any(|r| r.id.to_string() == rid && r.role == Role::Writer)
    );
    let devices = json(data, &["device", "list"]).await;
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == keys.enrolled.device.to_string())
    );
    let dev = keys.enrolled.device.to_string();
    let (ok, out, err) = run(data, &["device", "revoke", &dev, "--wipe"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("revoked"));
    assert_eq!(t.device(&keys).me().await.unwrap_err().status(), Some(403));

    json(data, &["room", "remove", &rid, &pid]).await;

    // Errors are explained and exit non-zero.
    let (ok, _out, err) = run(data, &["room", "invite", &rid, "not-an-id"]).await;
    assert!(!ok);
    assert!(err.contains("professional id"), "{err}");
    let (ok, _out, err) = run(
        data,
        &[
            "professional",
            "add",
            "--name",
            "x",
            "--kana",
            "x",
            "--profession",
            "astronaut",
            "--org",
            "x",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("unknown profession"), "{err}");
}

fn before_restore_dirs(data: &Path) -> usize {
    std::fs::read_dir(data)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("before-restore-")
        })
        .count()
}

#[test]
fn backup_and_restore_from_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;
    let file = tmp.path().join("backup.kzb");
    let file_arg = file.to_str().unwrap();

    let (ok, out, err) = kizuna(&data, &["backup", "--to", file_arg]);
    assert!(ok, "{err}");
    assert!(out.contains("backup written"), "{out}");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"KIZUNA-BACKUP/2\n"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "the backup holds keys: owner-only"
    );
    // An existing file is never overwritten.
    let (ok, _, _) = kizuna(&data, &["backup", "--to", file_arg]);
    assert!(!ok);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // Not while the relay runs: refused, and nothing moved.
    let (ok, _, err) = kizuna(&data, &["restore", "--from", file_arg]);
    assert!(!ok);
    assert!(err.contains("Stop it first"), "{err}");
    assert_eq!(before_restore_dirs(&data), 0);
    relay.stop();

    // A backup cut short is refused before anything is touched.
    let cut = tmp.path().join("cut.kzb");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let (ok, _, err) = kizuna(&data, &["restore", "--from", cut.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("cut short"), "{err}");
    assert_eq!(before_restore_dirs(&data), 0);

    let (ok, out, err) = kizuna(&data, &["restore", "--from", file_arg]);
    assert!(ok, "{err}");
    assert!(out.contains("restored the backup"), "{out}");
    assert_eq!(
        before_restore_dirs(&data),
        1,
        "the old contents are kept aside"
    );
    assert!(data.join("journal").join("restored.json").exists());

    // The restored relay serves the administrator (identity from the backup), and the
    // restore is in the audit log.
    let _relay = LoopbackRelay::start_blocking(&data, Some(addr)).unwrap();
    let (ok, out, err) = kizuna(&data, &["--json", "audit", "export"]);
    assert!(ok, "{err}");
    assert!(out.contains("admin.restore"), "{out}");
    assert!(out.contains("admin.backup"), "{out}");
}

/// The ledger of stored changes drops what no kept backup needs (backups older than 180 days,
/// but for the newest of them); restoring a backup older than what it keeps is refused unless
/// asked for with `--older-than-ledger`, and the refusal moves nothing.
#[test]
fn a_backup_older_than_the_ledger_is_restored_only_when_asked() {
    use kizuna_testkit::Phone;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;
    let nurse = relay
        .blocking_add("佐藤 美咲", kizuna_core::Profession::Nurse)
        .unwrap();
    let room = relay.blocking_patient_room("患者 一").unwrap();
    relay.blocking_invite(room, nurse.id, Role::Writer).unwrap();
    let phone_dir = tempfile::tempdir().unwrap();
    let phone: Phone = relay.enroll_phone(&nurse, phone_dir.path()).unwrap();
    let old = tmp.path().join("old.kzb");
    let newer = tmp.path().join("newer.kzb");
    let backup = |file: &Path| {
        let (ok, _, err) = kizuna(&data, &["backup", "--to", file.to_str().unwrap()]);
        assert!(ok, "{err}");
    };
    phone.sync().unwrap();
    phone.post(room, &Phone::text("一回目", None)).unwrap();
    phone.sync().unwrap();
    backup(&old);
    phone.post(room, &Phone::text("二回目", None)).unwrap();
    phone.sync().unwrap();
    backup(&newer);
    relay.stop();

    // Both backups were taken 200 days ago, as far as the relay's notes go.
    let marks = data.join("journal").join("backups.jsonl");
    let text = std::fs::read_to_string(&marks).unwrap();
    let day = 24 * 3600 * 1000_i64;
    let aged: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["taken_at"] = (v["taken_at"].as_i64().unwrap() - 200 * day).into();
            v.to_string()
        })
        .collect();
    assert_eq!(aged.len(), 2, "{text}");
    std::fs::write(&marks, aged.join("\n") + "\n").unwrap();
    // The next start trims the ledger to the newer backup's position.
    LoopbackRelay::start_blocking(&data, Some(addr))
        .unwrap()
        .stop();
    let names: Vec<String> = std::fs::read_dir(data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.contains(&"changes.log".to_string()), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("changes-from-")),
        "{names:?}"
    );

    let (ok, _, err) = kizuna(&data, &["restore", "--from", old.to_str().unwrap()]);
    assert!(!ok, "an old backup was restored without being asked for");
    assert!(err.contains("--older-than-ledger"), "{err}");
    assert_eq!(before_restore_dirs(&data), 0, "the refusal moved something");
    let (ok, out, err) = kizuna(
        &data,
        &[
            "restore",
            "--from",
            old.to_str().unwrap(),
            "--older-than-ledger",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("restored the backup"), "{out}");
    assert_eq!(before_restore_dirs(&data), 1);
}

/// `device list` (text and `--json`) shows each device's certificate expiry with the days
/// left, and its last sync: one phone enrolled 710 days ago by the relay's clock (20 days
/// left, never synced), one enrolled now that has synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_list_shows_certificate_expiry_and_last_sync() {
    use kizuna_server::identity::clock::Clock;
    use kizuna_testkit::{Phone, RelayOptions, generous};
    let clock = std::sync::Arc::new(Clock::system());
    let mut config = generous();
    config.clock = clock.clone();
    let t = LoopbackRelay::launch(RelayOptions {
        config,
        ..RelayOptions::default()
    })
    .await
    .unwrap();
    // After the start, so the server certificate is today's.
    clock.set_offset_days(-710);
    let data = t.data();
    let (_, old) = t
        .member("佐藤 美咲", kizuna_core::Profession::Nurse)
        .await
        .unwrap();
    clock.set_offset_days(0);
    let (p, fresh) = t
        .member("鈴木 一郎", kizuna_core::Profession::Nurse)
        .await
        .unwrap();
    let (old_id, fresh_id) = (
        old.enrolled.device.to_string(),
        fresh.enrolled.device.to_string(),
    );
    let phone_dir = tempfile::tempdir().unwrap();
    let (dir, url) = (phone_dir.path().to_path_buf(), t.url.clone());
    tokio::task::spawn_blocking(move || {
        let phone = Phone::enrolled(&dir, &p, &url, fresh).unwrap();
        phone.sync().unwrap();
    })
    .await
    .unwrap();

    let devices = json(data, &["device", "list"]).await;
    let of = |id: &str| {
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap()
            .clone()
    };
    let (o, f) = (of(&old_id), of(&fresh_id));
    assert!(
        (19..=20).contains(&o["cert_days_left"].as_i64().unwrap()),
        "{o}"
    );
    assert!(
        (729..=730).contains(&f["cert_days_left"].as_i64().unwrap()),
        "{f}"
    );
    assert!(f["cert_expires_at"].as_i64().unwrap() > o["cert_expires_at"].as_i64().unwrap());
    assert!(o.get("last_seen").is_none(), "{o}");
    assert!(f["last_seen"].as_i64().is_some(), "{f}");

    let (ok, out, err) = run(data, &["device", "list"]).await;
    assert!(ok, "{err}");
    let line = |id: &str| out.lines().find(|l| l.starts_with(id)).unwrap().to_string();
    let (o, f) = (line(&old_id), line(&fresh_id));
    assert!(
        o.contains("certificate expires") && o.contains("days left"),
        "{o}"
    );
    assert!(
        o.contains("(19 days left)") || o.contains("(20 days left)"),
        "{o}"
    );
    assert!(o.contains("never synced"), "{o}");
    assert!(
        f.contains("(729 days left)") || f.contains("(730 days left)"),
        "{f}"
    );
    assert!(f.contains("last sync "), "{f}");
}

/// `kizuna ARGS` (nothing added) with `env`, without KIZUNA_* from the test's environment:
/// exit status, stdout, stderr.
async fn raw(args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, std::path::PathBuf)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_path_buf()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kizuna"));
        c.args(&args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KIZUNA_") {
                c.env_remove(k);
            }
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn last_json(stderr: &str) -> serde_json::Value {
    serde_json::from_str(stderr.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("stderr's last line is not JSON ({e}): {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_goes_before_or_after_the_subcommand_or_in_the_environment() {
    let t = LoopbackRelay::start().await;
    let d = t.data().to_str().unwrap().to_string();
    for (args, env) in [
        (
            vec!["--data", &d, "admin", "--json", "professional", "list"],
            vec![],
        ),
        (
            vec!["admin", "professional", "list", "--json", "--data", &d],
            vec![],
        ),
        (
            vec!["--json", "admin", "professional", "list"],
            vec![("KIZUNA_DATA", t.data())],
        ),
    ] {
        let (code, out, err) = raw(&args, &env).await;
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            list.as_array().unwrap().len(),
            1,
            "{args:?}: the administrator"
        );
    }
    // A flag beats the environment.
    let (code, _, err) = raw(
        &["admin", "--data", &d, "professional", "list"],
        &[("KIZUNA_DATA", Path::new("/nonexistent"))],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    // Without either it is a usage error (2), as text or JSON.
    let (code, _, err) = raw(&["admin", "professional", "list"], &[]).await;
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--data") && err.contains("KIZUNA_DATA"),
        "{err}"
    );
    let (code, _, err) = raw(&["admin", "--json", "professional", "list"], &[]).await;
    assert_eq!(code, Some(2));
    assert_eq!(last_json(&err)["error"], "usage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_statuses_and_json_errors_say_what_kind_of_failure() {
    let t = LoopbackRelay::start().await;
    let d = t.data().to_str().unwrap().to_string();
    // 2: clap's own usage errors, as text and with --json as JSON.
    let (code, _, err) = raw(&["admin", "--data", &d, "professional", "frobnicate"], &[]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("frobnicate"), "{err}");
    let (code, _, err) = raw(
        &[
            "--json",
            "admin",
            "--data",
            &d,
            "professional",
            "frobnicate",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(2));
    let v = last_json(&err);
    assert_eq!(v["error"], "usage");
    assert!(v["message"].as_str().unwrap().contains("frobnicate"), "{v}");
    // 3: no relay at that address.
    let (code, _, err) = raw(
        &[
            "admin",
            "--data",
            &d,
            "--relay",
            "https://127.0.0.1:1",
            "--json",
            "professional",
            "list",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(last_json(&err)["error"], "unreachable");
    // 4: the relay refuses (an unknown professional), with the problem's kind and status.
    let nobody = uuid::Uuid::new_v4().to_string();
    let (code, _, err) = raw(
        &["admin", "--data", &d, "professional", "remove", &nobody],
        &[],
    )
    .await;
    assert_eq!(code, Some(4), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    let (code, _, err) = raw(
        &[
            "admin",
            "--data",
            &d,
            "--json",
            "professional",
            "remove",
            &nobody,
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(4));
    let v = last_json(&err);
    assert_eq!(v["error"], "refused");
    assert_eq!(v["status"], 404);
    assert_eq!(v["problem"], "not-found", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn professions_by_legal_title_and_one_administrator_only() {
    let t = LoopbackRelay::start().await;
    let data = t.data();
    let add = |profession: &'static str| {
        vec![
            "professional",
            "add",
            "--name",
            "高橋 健",
            "--kana",
            "たかはし けん",
            "--profession",
            profession,
            "--org",
            "ひまわり居宅介護支援事業所",
        ]
    };
    let p = json(data, &add("介護支援専門員")).await;
    assert_eq!(p["profession"], "care_manager");
    let p = json(data, &add("ケアマネジャー")).await;
    assert_eq!(p["profession"], "care_manager");

    // An unknown profession is a usage error listing keys and Japanese names.
    let d = data.to_str().unwrap();
    let mut args = vec!["admin", "--data", d];
    args.extend(add("宇宙飛行士"));
    let (code, _, err) = raw(&args, &[]).await;
    assert_eq!(code, Some(2), "{err}");
    for name in [
        "nurse",
        "訪問看護師",
        "care_manager",
        "ケアマネジャー",
        "介護支援専門員",
    ] {
        assert!(err.contains(name), "no {name} in {err}");
    }

    // A second administrator is refused (docs: one administrator, made at first start), so
    // none exists that could not be removed.
    let mut args = vec!["admin", "--data", d, "--json"];
    args.extend(add("city_administrator"));
    let (code, _, err) = raw(&args, &[]).await;
    assert_eq!(code, Some(4), "{err}");
    let v = last_json(&err);
    assert!(
        v["message"].as_str().unwrap().contains("administrator"),
        "{v}"
    );
    assert_eq!(t.relay.administrators().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_says_where_it_stopped_and_continues_after_it() {
    let t = LoopbackRelay::start().await;
    let data = t.data();
    for i in 0..4 {
        let name = format!("試験 {i}");
        json(
            data,
            &[
                "professional",
                "add",
                "--name",
                &name,
                "--kana",
                "しけん",
                "--profession",
                "nurse",
                "--org",
                "x",
            ],
        )
        .await;
    }
    let seqs = |out: &str| -> Vec<u64> {
        out.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let (ok, out, err) = run(data, &["audit", "export"]).await;
    assert!(ok, "{err}");
    let all = seqs(&out);
    assert!(all.len() >= 4, "{out}");
    assert!(err.is_empty(), "a complete export says nothing more: {err}");

    let (ok, out, err) = run(data, &["audit", "export", "--limit", "2"]).await;
    assert!(ok, "stopping at the limit is not a failure: {err}");
    assert_eq!(seqs(&out), all[..2]);
    let next = format!("--after {}", all[1]);
    assert!(err.contains("limit of 2") && err.contains(&next), "{err}");
    let (ok, out, err) = run(data, &["--json", "audit", "export", "--limit", "2"]).await;
    assert!(ok);
    assert_eq!(seqs(&out), all[..2]);
    let v = last_json(&err);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["last_seq"], all[1]);

    // Page by page with --after, every record exactly once.
    let mut got: Vec<u64> = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut args = vec![
            "audit".to_string(),
            "export".into(),
            "--limit".into(),
            "3".into(),
        ];
        if let Some(a) = after {
            args.extend(["--after".into(), a.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = run(data, &refs).await;
        assert!(ok, "{err}");
        let page = seqs(&out);
        got.extend(&page);
        if err.is_empty() {
            break;
        }
        after = page.last().copied();
    }
    // Reading the log is not audited: the pages hold exactly the records of the whole export.
    assert_eq!(got, all);
    assert!(got.windows(2).all(|w| w[0] + 1 == w[1]), "{got:?}");
}
