//! The audit log in several files, driven from outside: the real `kizuna serve` rotates its
//! live file at `--audit-rotate-mb`, `kizuna admin audit verify` checks the chain across the
//! segments and names a segment that was removed or altered, `audit export` reads across
//! them in order, a rotation a crash interrupted is finished at the next start, and no file
//! of the log holds a name the administrator registered.

use crate::admin_process::kizuna_admin as admin;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `kizuna serve` as a child: stopped with SIGTERM (or killed if the test fails first).
struct Serve(Child);

impl Serve {
    /// Starts `kizuna serve` on `data` with `extra` flags; returns once it serves.
    fn start(data: &Path, extra: &[&str]) -> Serve {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kizuna"));
        for (k, _) in std::env::vars() {
            if k.starts_with("KIZUNA_") {
                c.env_remove(k);
            }
        }
        let mut child = c
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut serve = Serve(child);
        let mut seen = Vec::new();
        let mut lines = out.lines();
        while let Some(line) = lines.next() {
            let line = line.unwrap();
            if line.contains("(devices use ") {
                // Keep reading stdout so the relay never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return serve;
            }
            seen.push(line);
        }
        let status = serve.0.wait().unwrap();
        panic!("kizuna serve ended ({status}) before serving: {seen:?}");
    }

    /// SIGTERM, then waits for the relay to end (its sled store is closed after).
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn admin_json(data: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = admin(data, &all);
    assert!(ok, "kizuna admin {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap()
}

fn add_professional(data: &Path, name: &str) -> String {
    let p = admin_json(
        data,
        &[
            "professional",
            "add",
            "--name",
            name,
            "--kana",
            "さとう みさき",
            "--profession",
            "訪問看護師",
            "--org",
            "みどり訪問看護ステーション",
        ],
    );
    p["id"].as_str().unwrap().to_string()
}

fn segments(audit: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(audit)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("log-") && n.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
}

fn exported(data: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "export"];
    all.extend_from_slice(args);
    let (ok, out, err) = admin(data, &all);
    assert!(ok, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whether any file under `dir` holds `needle`'s bytes.
fn any_file_holds(dir: &Path, needle: &str) -> Option<String> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            return Some(p.display().to_string());
        }
    }
    None
}

#[test]
fn a_rotating_audit_log_verifies_and_exports_across_its_segments_and_names_a_broken_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let audit = data.join("audit");
    // About 4 KiB per file: a dozen administrative records.
    let relay = Serve::start(&data, &["--audit-rotate-mb", "0.004"]);

    let nurse = add_professional(&data, "佐藤 美咲");
    let room = admin_json(
        &data,
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
    );
    let room = room["id"].as_str().unwrap().to_string();
    admin_json(
        &data,
        &["room", "invite", &room, &nurse, "--role", "writer"],
    );
    for i in 0..30 {
        add_professional(&data, &format!("試験 太郎{i}"));
    }
    let segs = segments(&audit);
    assert!(segs.len() >= 3, "several segments: {segs:?}");
    assert_eq!(segs[0], "log-000001.jsonl");
    assert!(audit.join("log.jsonl").exists());

    let v = admin_json(&data, &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["files"], segs.len() as u64 + 1);
    let total = v["records"].as_u64().unwrap();
    assert!(total >= 33, "{v}");

    // Export reads every file, oldest first, without a gap; --after goes on mid-way.
    let all = exported(&data, &[]);
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let later = exported(&data, &["--after", "5", "--limit", "20"]);
    let seqs: Vec<u64> = later.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (6..=25).collect::<Vec<_>>());
    // What the administrator needs: who did what to whom, by id.
    assert!(
        all.iter()
            .any(|r| r["action"] == "admin.professional.add" && r["subject"] == nurse.as_str())
    );
    assert!(all.iter().any(|r| r["action"] == "admin.member.invite"
        && r["room"] == room.as_str()
        && r["subject"] == nurse.as_str()));
    // No file of the log holds a name typed by the administrator.
    for name in [
        "佐藤",
        "美咲",
        "小林",
        "トメ",
        "和子",
        "試験",
        "みどり訪問看護",
    ] {
        assert_eq!(any_file_holds(&audit, name), None, "{name}");
    }

    // An altered middle segment is named.
    let middle = audit.join(&segs[1]);
    let original = std::fs::read_to_string(&middle).unwrap();
    std::fs::write(
        &middle,
        original.replacen("admin.professional.add", "admin.professional.del", 1),
    )
    .unwrap();
    let (ok, out, _) = admin(&data, &["audit", "verify"]);
    assert!(!ok);
    assert!(out.contains(&segs[1]) && out.contains("changed"), "{out}");
    // A removed middle segment is named.
    std::fs::remove_file(&middle).unwrap();
    let (ok, out, _) = admin(&data, &["audit", "verify"]);
    assert!(!ok);
    assert!(out.contains(&format!("{} is missing", segs[1])), "{out}");
    std::fs::write(&middle, original).unwrap();
    let v = admin_json(&data, &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    relay.stop();
}

#[test]
fn a_rotation_torn_by_a_crash_is_finished_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let audit = data.join("audit");
    let relay = Serve::start(&data, &["--audit-rotate-mb", "0"]);
    for i in 0..3 {
        add_professional(&data, &format!("試験 花子{i}"));
    }
    relay.stop();
    assert!(segments(&audit).is_empty(), "0 never rotates");
    // What a crash between closing the live file and putting the next one in its place
    // leaves: the closed segment, the empty next file, no log.jsonl.
    std::fs::write(audit.join("log.jsonl.next"), b"").unwrap();
    std::fs::rename(audit.join("log.jsonl"), audit.join("log-000001.jsonl")).unwrap();

    let relay = Serve::start(&data, &[]);
    assert!(audit.join("log.jsonl").exists());
    assert!(!audit.join("log.jsonl.next").exists());
    let v = admin_json(&data, &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["files"], 2);
    let before = v["records"].as_u64().unwrap();
    add_professional(&data, "試験 次郎");
    let v = admin_json(&data, &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["records"].as_u64().unwrap(), before + 1);
    relay.stop();

    // A live file lost beside its segments is not replaced by an empty one.
    std::fs::rename(audit.join("log.jsonl"), tmp.path().join("moved-away")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log.jsonl is missing"), "{err}");
    assert!(!audit.join("log.jsonl").exists());
}

#[test]
fn a_backup_keeps_every_segment_and_a_restore_without_a_log_puts_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let audit = data.join("audit");
    let relay = Serve::start(&data, &["--audit-rotate-mb", "0.004"]);
    for i in 0..20 {
        add_professional(&data, &format!("試験 三郎{i}"));
    }
    let (ok, out, err) = admin(&data, &["audit", "rotate"]);
    assert!(ok, "{err}");
    assert!(out.contains("closed as audit/log-"), "{out}");
    let segs = segments(&audit);
    assert!(segs.len() >= 2, "{segs:?}");
    let records = admin_json(&data, &["audit", "verify"])["records"]
        .as_u64()
        .unwrap();
    let backup = tmp.path().join("backup.kzb");
    let (ok, _, err) = admin(&data, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    relay.stop();

    // The directory lost its audit log: the restore takes the backup's, every file of it.
    std::fs::rename(&audit, tmp.path().join("audit-lost")).unwrap();
    let (ok, out, err) = admin(&data, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    assert!(out.contains("the audit log came from the backup"), "{out}");
    assert_eq!(segments(&audit), segs);
    let relay = Serve::start(&data, &[]);
    let v = admin_json(&data, &["audit", "verify"]);
    assert_eq!(v["intact"], true, "{v}");
    // The backup's records, and the restore's own record after them.
    assert!(v["records"].as_u64().unwrap() > records, "{v}");
    relay.stop();
}

/// Every kind of record a day of care writes — the first start's, the administrator's acts,
/// an enrollment, a phone's writes and reads, a refused restricted report — holds ids only:
/// no name, no report text, in any file of a log that rotated on the way.
#[test]
fn no_audit_record_of_a_day_of_care_holds_a_name_or_report_text() {
    use kizuna_core::{Profession, ProfessionalId, Role};
    use kizuna_testkit::{LoopbackRelay, Phone, RelayOptions, generous};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::launch_blocking(RelayOptions {
        data: Some(data.clone()),
        config: kizuna_server::state::RelayConfig {
            audit_rotate_bytes: 2048,
            ..generous()
        },
        ..RelayOptions::default()
    })
    .unwrap();
    let nurse = relay.blocking_add("佐藤 美咲", Profession::Nurse).unwrap();
    let reader = relay.blocking_add("高橋 健一", Profession::Doctor).unwrap();
    let room = relay.blocking_patient_room("小林 トメ").unwrap();
    relay.blocking_invite(room, nurse.id, Role::Writer).unwrap();
    relay
        .blocking_invite(room, reader.id, Role::Reader)
        .unwrap();
    let phone = relay.enroll_phone(&nurse, &tmp.path().join("p1")).unwrap();
    let doctor = relay.enroll_phone(&reader, &tmp.path().join("p2")).unwrap();
    phone.sync().unwrap();
    doctor.sync().unwrap();
    phone
        .post(room, &Phone::text("小林トメ様 血圧 132/84 佐藤訪問", None))
        .unwrap();
    phone.sync().unwrap();
    // A reader's restricted report: refused by the relay's scope rule.
    let _ = doctor.post(
        room,
        &Phone::text(
            "高橋より内密の所見",
            Some(vec![ProfessionalId(reader.id), ProfessionalId(nurse.id)]),
        ),
    );
    let _ = doctor.sync();
    doctor.sync().unwrap();

    let audit = data.join("audit");
    assert!(!segments(&audit).is_empty(), "the log rotated");
    let log = relay.relay.audit();
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    let records = log
        .export(&kizuna_server::audit::Filter::default(), 100_000)
        .unwrap();
    let actions: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.action.as_str()).collect();
    for kind in [
        "relay.city_room.created",
        "admin.professional.add",
        "admin.member.invite",
        "device.enrolled",
        "write",
        "read",
        "refused",
    ] {
        assert!(actions.contains(kind), "{kind} missing from {actions:?}");
    }
    assert!(records.iter().any(|r| r.action == "write"
        && r.room.is_some()
        && r.professional == Some(ProfessionalId(nurse.id))));
    // The search finds what is there (so its silence below means something).
    assert!(any_file_holds(&audit, "device.enrolled").is_some());
    for text in [
        "佐藤", "美咲", "高橋", "健一", "小林", "トメ", "血圧", "132/84", "内密",
    ] {
        assert_eq!(any_file_holds(&audit, text), None, "{text}");
    }
    relay.stop();
}
