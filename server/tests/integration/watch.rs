//! A bad day made visible: a full disk refuses acts before they happen (with their audit log
//! whole), `/readyz` says so, `/metrics` counts what the relay does, the log can be JSON, and
//! a stopping relay answers its long polls at once.

use crate::admin_process::kizuna_admin_async as cli;
use kizuna_contract::notices::{CityRoom, Importance, NewNotice};
use kizuna_core::{Organisation, Profession};
use kizuna_server::identity::NewProfessional;
use kizuna_server::state::RelayConfig;
use kizuna_testkit::{LoopbackRelay, Phone, RelayOptions, generous};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs mounted for one test, unmounted when dropped (also when an assertion fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a real filesystem and must run as root \
             (or with CAP_SYS_ADMIN): mount said {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: sled's files may still be open while the relay's threads wind down.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes `path` until the filesystem refuses: the disk is then full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) => {
                assert!(kizuna_server::error::is_disk_full(&e), "{e}");
                break;
            }
        }
    }
    // The last partial chunk may have taken the last blocks: nothing is free now.
    let _ = f.sync_all();
}

fn professional(name: &str) -> NewProfessional {
    NewProfessional {
        name: name.into(),
        kana: "てすと".into(),
        profession: Profession::Nurse,
        organisation: Organisation {
            name: "テスト事業所".into(),
            office_number: None,
        },
    }
}

const ADD: [&str; 10] = [
    "professional",
    "add",
    "--name",
    "満杯 花子",
    "--kana",
    "まんぱい はなこ",
    "--profession",
    "訪問看護師",
    "--org",
    "みどり訪問看護ステーション",
];

async fn readyz(t: &LoopbackRelay) -> (u16, serde_json::Value) {
    let resp = t
        .raw(None)
        .get(format!("{}/readyz", t.url))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_act_before_it_happens_and_the_audit_stays_whole() {
    let mnt = tempfile::tempdir().unwrap();
    let _tmpfs = Tmpfs::mount(mnt.path(), "48m");
    let data = mnt.path().join("data");
    let t = LoopbackRelay::launch(RelayOptions {
        data: Some(data.clone()),
        config: RelayConfig {
            min_free_bytes: 1024 * 1024,
            ..generous()
        },
        ..RelayOptions::default()
    })
    .await
    .unwrap();
    let admin = t.admin();
    let (status, body) = readyz(&t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");

    // Acts on a good day, among them a device to revoke later.
    let mut earlier = Vec::new();
    for name in ["一郎", "二郎", "三郎"] {
        earlier.push(
            admin
                .add_professional(&professional(name))
                .await
                .unwrap()
                .id,
        );
    }
    let (nurse, keys) = t.member("佐藤 美咲", Profession::Nurse).await.unwrap();
    earlier.push(nurse.id);
    let before = admin.audit_verify().await.unwrap();
    assert!(before.intact);

    fill(&mnt.path().join("filler"));

    // The act is refused with the cause, and did not happen.
    let (ok, out, err) = cli(&data, &ADD).await;
    assert!(!ok, "added on a full disk: {out}");
    assert!(err.contains("disk is full"), "{err}");
    assert!(err.contains("507"), "{err}");
    assert!(!err.contains("満杯"), "the error echoes the name: {err}");
    let dir = admin.directory().await.unwrap();
    assert!(
        !dir.professionals.iter().any(|p| p.name == "満杯 花子"),
        "the refused professional exists"
    );
    // Revoking a device and posting a notice alike.
    let refused = admin.revoke(keys.enrolled.device, true).await.unwrap_err();
    assert_eq!(refused.status(), Some(507), "{refused}");
    let devices = admin.devices().await.unwrap();
    let d = devices
        .iter()
        .find(|d| d.id == keys.enrolled.device)
        .unwrap();
    assert!(d.revoked_at.is_none(), "revoked although refused");
    let notice = NewNotice {
        room: CityRoom::Notices,
        title: "お知らせ".into(),
        body: "本文".into(),
        importance: Importance::LOW,
        expires_at: None,
    };
    let refused = admin.post_notice(&notice).await.unwrap_err();
    assert_eq!(refused.status(), Some(507), "{refused}");
    assert!(admin.notices(None).await.unwrap().is_empty());

    // The log is intact, holds every earlier act and nothing of the refused ones.
    let after = admin.audit_verify().await.unwrap();
    assert!(after.intact, "{after:?}");
    assert_eq!(
        after.records, before.records,
        "records appended on a full disk"
    );
    let export = admin.audit_export(&[]).await.unwrap();
    for id in &earlier {
        assert!(export.contains(&id.to_string()), "act on {id} missing");
    }
    assert!(!export.contains("admin.device.revoke"));
    assert!(!export.contains("admin.notice.post"));

    let (status, body) = readyz(&t).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not-ready");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{body}"
    );

    // Space freed: ready again, and the act is done and audited.
    std::fs::remove_file(mnt.path().join("filler")).unwrap();
    let (status, body) = readyz(&t).await;
    assert_eq!(status, 200, "{body}");
    let mut args = vec!["--json"];
    args.extend_from_slice(&ADD);
    let (ok, out, err) = cli(&data, &args).await;
    assert!(ok, "{err}");
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = added["id"].as_str().unwrap().to_string();
    let export = admin.audit_export(&[]).await.unwrap();
    assert!(
        export
            .lines()
            .any(|l| l.contains("admin.professional.add") && l.contains(&id)),
        "the act after freeing space is not audited"
    );
    let end = admin.audit_verify().await.unwrap();
    assert!(end.intact);
    assert_eq!(end.records, before.records + 1);
    t.stop();
}

#[tokio::test]
async fn an_act_that_fails_after_its_record_is_followed_by_a_failure_record() {
    let t = LoopbackRelay::start().await;
    let admin = t.admin();
    let ghost = uuid::Uuid::new_v4();
    let refused = admin.remove_professional(ghost).await.unwrap_err();
    assert_eq!(refused.status(), Some(404), "{refused}");
    let export = admin.audit_export(&[]).await.unwrap();
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = lines
        .iter()
        .position(|r| r["action"] == "admin.professional.remove")
        .expect("the record written before the act");
    let failed = &lines[at + 1];
    assert_eq!(failed["action"], "admin.failed");
    assert_eq!(failed["subject"], ghost.to_string());
    assert_eq!(
        failed["reason"],
        "admin.professional.remove not done: not-found"
    );
    assert!(admin.audit_verify().await.unwrap().intact);
}

async fn scrape(url: &str) -> String {
    // Plain HTTP, but reqwest wants a TLS provider to build any client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    resp.text().await.unwrap()
}

/// The value of the series named exactly `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// Serves the relay's metrics router on a loopback port from a thread of its own, as
/// `kizuna serve --metrics-listen` does; returns the URL of `/metrics`.
fn serve_metrics(relay: std::sync::Arc<kizuna_server::state::Relay>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let app = kizuna_server::watch::routes::metrics_router(relay);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(l, app).await;
        });
    });
    url
}

#[test]
fn metrics_count_a_sync_and_name_no_room() {
    let data = tempfile::tempdir().unwrap();
    let t = LoopbackRelay::start_blocking(data.path(), None).unwrap();
    let url = serve_metrics(t.relay.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = rt.block_on(scrape(&url));
    let nurse = t.blocking_add("佐藤 美咲", Profession::Nurse).unwrap();
    let room = t.blocking_patient_room("秘密野 患者").unwrap();
    t.blocking_invite(room, nurse.id, kizuna_core::Role::Writer)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let phone: Phone = t.enroll_phone(&nurse, dir.path()).unwrap();
    phone.sync().unwrap();
    phone
        .post(room, &Phone::text("訪問しました", None))
        .unwrap();
    phone.sync().unwrap();
    let after = rt.block_on(scrape(&url));
    let ok = "kizuna_syncs_total{outcome=\"ok\"}";
    assert!(value(&after, ok) >= value(&before, ok) + 2.0, "{after}");
    let count = "kizuna_sync_duration_seconds_count";
    assert!(value(&after, count) >= value(&before, count) + 2.0);
    let inf = "kizuna_sync_duration_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(value(&after, inf), value(&after, count));
    let appends = "kizuna_audit_appends_total";
    assert!(value(&after, appends) > value(&before, appends));
    assert!(value(&after, "kizuna_data_dir_free_bytes") > 0.0);
    let days = value(&after, "kizuna_server_certificate_days_left");
    assert!(days > 1.0 && days <= 91.0, "{days}");
    assert!(value(&after, "kizuna_loaded_rooms") >= 1.0);
    assert!(!after.contains(&room.to_string()), "a room id in /metrics");
    assert!(!after.contains("秘密野"));
    t.stop();
}

/// A sync is a write like an admin act: when its audit record cannot be written, nothing of
/// it is kept. The audit log lives on its own small, full filesystem here, so the relay's data
/// disk (and its free-space reserve) is fine and only the record fails.
#[test]
fn a_sync_whose_audit_record_cannot_be_written_is_not_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A first start makes the data directory; its audit folder then moves onto a tmpfs.
    LoopbackRelay::start_blocking(&data, None).unwrap().stop();
    let audit = data.join("audit");
    let aside = tmp.path().join("audit-aside");
    std::fs::rename(&audit, &aside).unwrap();
    std::fs::create_dir(&audit).unwrap();
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs"])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "this test mounts a small tmpfs and must run as root: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _audit_fs = Tmpfs(audit.clone());
    for entry in std::fs::read_dir(&aside).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), audit.join(entry.file_name())).unwrap();
    }
    let t = LoopbackRelay::start_blocking(&data, None).unwrap();
    let nurse = t.blocking_add("佐藤 美咲", Profession::Nurse).unwrap();
    let mate = t.blocking_add("鈴木 一郎", Profession::Nurse).unwrap();
    let room = t.blocking_patient_room("秘密野 患者").unwrap();
    t.blocking_invite(room, nurse.id, kizuna_core::Role::Writer)
        .unwrap();
    t.blocking_invite(room, mate.id, kizuna_core::Role::Writer)
        .unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let phone: Phone = t.enroll_phone(&nurse, d1.path()).unwrap();
    let teammate: Phone = t.enroll_phone(&mate, d2.path()).unwrap();
    phone.sync().unwrap();
    teammate.sync().unwrap();
    let appended_before = t.relay.audit().records_appended();

    fill(&audit.join("filler"));
    // The live file's last page may still have room: use it up, so the next record fails.
    let mut padding = 0;
    while t
        .relay
        .audit()
        .record(kizuna_server::audit::Entry {
            action: "test.padding",
            ..Default::default()
        })
        .is_ok()
    {
        padding += 1;
        assert!(padding < 10_000, "the audit log's filesystem never filled");
    }
    phone
        .post(room, &Phone::text("褥瘡の処置をしました", None))
        .unwrap();
    let refused = phone.sync().unwrap_err().to_string();
    assert!(
        refused.contains("507") || refused.contains("disk is full"),
        "{refused}"
    );
    assert!(
        !refused.contains("褥瘡"),
        "the error echoes the report: {refused}"
    );

    // Space back: the teammate syncs first and must not get a report the log never named.
    std::fs::remove_file(audit.join("filler")).unwrap();
    teammate.sync().unwrap();
    assert!(
        teammate.reports(room).unwrap().is_empty(),
        "a change was kept although its audit record could not be written"
    );
    assert!(
        nurse_writes(&t, kizuna_core::ProfessionalId(nurse.id)).is_empty(),
        "a write record for a sync that was not merged"
    );

    // The phone still holds its report and sends it again: now merged, numbered, audited once.
    phone.sync().unwrap();
    teammate.sync().unwrap();
    let reports = teammate.reports(room).unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].1, Some(1));
    let writes = nurse_writes(&t, kizuna_core::ProfessionalId(nurse.id));
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].room, Some(room));
    assert!(t.relay.audit().verify().unwrap().intact);
    assert!(t.relay.audit().records_appended() > appended_before);
    t.stop();
}

/// The `write` records of professional `p`.
fn nurse_writes(
    t: &LoopbackRelay,
    p: kizuna_core::ProfessionalId,
) -> Vec<kizuna_server::audit::AuditRecord> {
    let filter = kizuna_server::audit::Filter {
        professional: Some(p),
        ..Default::default()
    };
    let all = t.relay.audit().export(&filter, 100_000).unwrap();
    all.into_iter().filter(|r| r.action == "write").collect()
}
