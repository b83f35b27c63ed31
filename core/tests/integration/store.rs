//! The encrypted store on a real disk: reopen, a writer killed with SIGKILL, wrong key, and no
//! plaintext anywhere under the store folder.

use crate::fixtures::{author, soap};
use kizuna_core::{
    CoreError, Profession, Room, RoomId, RoomKind, RoomStore, StoreError, Timestamp,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const KEY: [u8; 32] = [0x42; 32];

#[test]
fn rooms_survive_reopen_and_list_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let id = RoomId::new();
    let mut posted = Vec::new();
    {
        let store = RoomStore::open(dir.path(), &KEY).unwrap();
        let h = store.add_room(Room::new(id, RoomKind::Patient)).unwrap();
        for i in 0..40 {
            let r = h
                .write(|room| room.post_report(&nurse, Timestamp(i * 1000), &soap(i * 1000, "r")))
                .unwrap();
            posted.push(r);
        }
        h.write(|room| room.mark_read(&nurse, Timestamp(99_999), posted[39]))
            .unwrap();
    }
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    assert_eq!(store.rooms().unwrap().len(), 1);
    let h = store.open_room(id).unwrap();
    let newest = h.newest_reports(30).unwrap();
    assert!(!h.is_loaded(), "listing must not load the document");
    assert_eq!(newest.len(), 30);
    assert_eq!(newest[0].id, posted[39]);
    assert_eq!(newest[0].read_count, 1);
    assert_eq!(newest[29].id, posted[10]);
    let full = h.read(|r| r.list_reports()).unwrap();
    assert_eq!(full.len(), 40);
    assert_eq!(full[..30], newest[..]);
}

#[test]
fn compaction_keeps_everything_and_later_writes_append() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let id = RoomId::new();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = store.add_room(Room::new(id, RoomKind::Patient)).unwrap();
    for i in 0..50 {
        h.write(|room| room.post_report(&nurse, Timestamp(i), &soap(i, "c")))
            .unwrap();
    }
    assert_eq!(h.meta().chunk_count(), 50);
    h.compact().unwrap();
    assert_eq!(h.meta().chunk_count(), 0);
    drop(h);
    let h = store.open_room(id).unwrap();
    assert_eq!(h.read(|r| r.report_ids()).unwrap().len(), 50);
    // A reloaded room persists only its new change, not its whole history again (the
    // first `save_incremental()` after a load would rewrite everything).
    h.write(|room| room.post_report(&nurse, Timestamp(60), &soap(60, "after")))
        .unwrap();
    let whole_history = h.read(|r| Ok(r.save_after(&[]).len() as u64)).unwrap();
    let meta = h.meta();
    assert_eq!(meta.chunk_count(), 1);
    assert!(
        meta.chunk_bytes() * 20 < whole_history && meta.chunk_bytes() * 3 < meta.snapshot_bytes(),
        "chunk {} bytes vs history {whole_history} and snapshot {} bytes",
        meta.chunk_bytes(),
        meta.snapshot_bytes()
    );
    drop(h);
    let h = store.open_room(id).unwrap();
    assert_eq!(h.read(|r| r.report_ids()).unwrap().len(), 51);
}

#[test]
fn wrong_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(RoomStore::open(dir.path(), &KEY).unwrap());
    match RoomStore::open(dir.path(), &[0x43; 32]) {
        Err(CoreError::Store(StoreError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert!(
        RoomStore::open(dir.path(), &[0x42; 16]).is_err(),
        "short keys are refused"
    );
    assert!(
        RoomStore::open(dir.path(), &KEY).is_ok(),
        "the right key still opens it"
    );
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_plaintext_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let marker = "MARKER-褥瘡-7f3a";
    let nurse = author("佐藤", Profession::Nurse);
    let id = RoomId::new();
    {
        let store = RoomStore::open(dir.path(), &KEY).unwrap();
        let h = store.add_room(Room::new(id, RoomKind::Patient)).unwrap();
        for i in 0..20 {
            h.write(|room| room.post_report(&nurse, Timestamp(i), &soap(i, marker)))
                .unwrap();
        }
        h.write(|room| {
            room.edit_profile(&nurse, Timestamp(99), |p| {
                p.basic.name = Some(format!("山田 {marker}"))
            })
        })
        .unwrap();
        h.compact().unwrap();
        h.write(|room| room.post_report(&nurse, Timestamp(100), &soap(100, marker)))
            .unwrap();
    }
    let files = walk(dir.path());
    assert!(!files.is_empty());
    for needle in [
        marker.as_bytes(),
        "褥瘡".as_bytes(),
        "佐藤".as_bytes(),
        "MARKER".as_bytes(),
    ] {
        assert_eq!(
            files_contain(dir.path(), needle),
            Vec::<String>::new(),
            "plaintext found on disk"
        );
    }
    // The control: the same bytes are found when they are there.
    std::fs::write(dir.path().join("control"), marker).unwrap();
    assert_eq!(files_contain(dir.path(), marker.as_bytes()).len(), 1);
}

/// Run as a child process: writes reports forever, printing the id of each after `write`
/// returned. The parent kills it with SIGKILL at a random moment.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var("KIZUNA_CRASH_DIR") else {
        return;
    };
    let room: RoomId = std::env::var("KIZUNA_CRASH_ROOM").unwrap().parse().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let store = RoomStore::open(Path::new(&dir), &KEY).unwrap();
    let h = store.open_room(room).unwrap();
    for i in 0.. {
        let r = h
            .write(|room| room.post_report(&nurse, Timestamp(i), &soap(i, "crash")))
            .unwrap();
        println!("ACK {r}");
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let id = RoomId::new();
    {
        let store = RoomStore::open(dir.path(), &KEY).unwrap();
        store.add_room(Room::new(id, RoomKind::Patient)).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut acked = Vec::new();
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "store::crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KIZUNA_CRASH_DIR", dir.path())
            .env("KIZUNA_CRASH_ROOM", id.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Let it write a varying number of reports, then kill it mid-stream.
        let target = 15 + round * 11;
        let mut seen = 0;
        while let Some(Ok(line)) = lines.next() {
            if let Some(r) = line.strip_prefix("ACK ") {
                acked.push(r.parse::<kizuna_core::ReportId>().unwrap());
                seen += 1;
                if seen == target {
                    child.kill().unwrap();
                    break;
                }
            }
        }
        // Whatever it acknowledged after we decided to kill is also durable.
        for line in lines.map_while(Result::ok) {
            if let Some(r) = line.strip_prefix("ACK ") {
                acked.push(r.parse().unwrap());
            }
        }
        child.wait().unwrap();
        let store = RoomStore::open(dir.path(), &KEY).expect("store opens after kill -9");
        let h = store.open_room(id).unwrap();
        let present = h.read(|r| r.report_ids()).unwrap();
        for r in &acked {
            assert!(
                present.contains(r),
                "acknowledged report lost after kill -9 in round {round}"
            );
        }
        let summaries = h.summaries().unwrap();
        assert_eq!(
            summaries.len(),
            present.len(),
            "summaries match the document"
        );
    }
    assert!(acked.len() >= 15 + 26 + 37);
}

/// The count of changes the relay lacks grows with each write, drops to what is left when a
/// sync records the relay's heads, and survives reopening the store.
#[test]
fn pending_changes_follow_writes_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let id = RoomId::new();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = store.add_room(Room::new(id, RoomKind::Patient)).unwrap();
    let synced = h.meta().saved_heads();
    h.update_sync(|m| m.set_relay_heads(&synced)).unwrap();
    assert_eq!(h.meta().pending(), 0);
    let r = h
        .write(|room| room.post_report(&nurse, Timestamp(1), &soap(1, "a")))
        .unwrap();
    let after_report = h.meta().saved_heads();
    let report_change = h.read(|room| Ok(room.save_after(&synced))).unwrap();
    h.write(|room| room.mark_read(&nurse, Timestamp(2), r))
        .unwrap();
    assert_eq!(h.meta().pending(), 2);

    // The relay acknowledges the report only: one change is left.
    h.update_sync(|m| m.set_relay_heads(&after_report)).unwrap();
    assert_eq!(h.meta().pending(), 1);

    // A colleague's report arrives from the relay (which has the nurse's report, not her
    // receipt). It counts until the sync that brought it records the relay's heads.
    let mut relay = Room::new(id, RoomKind::Patient);
    relay.apply(&report_change).unwrap();
    relay
        .post_report(&doctor, Timestamp(3), &soap(3, "b"))
        .unwrap();
    h.apply_remote(&relay.save_after(&after_report)).unwrap();
    assert_eq!(h.meta().pending(), 2);
    let relay_heads = relay.heads();
    h.update_sync(|m| m.set_relay_heads(&relay_heads)).unwrap();
    assert_eq!(
        h.meta().pending(),
        1,
        "only the receipt is still unacknowledged"
    );

    drop(h);
    drop(store);
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    assert_eq!(store.open_room(id).unwrap().meta().pending(), 1);
}
