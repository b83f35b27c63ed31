//! Tamper, torn-write, migration and export tests of the audit log.
#![allow(clippy::unwrap_used)]

use super::log::*;
use super::*;
use kizuna_core::{ProfessionalId, RoomId, Timestamp};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

impl AuditLog {
    /// Raw access for tamper tests: the stored bytes of the `seq`-th line.
    #[doc(hidden)]
    pub fn raw_get(&self, seq: u64) -> Option<Vec<u8>> {
        let text = std::fs::read(self.dir.join(LOG)).ok()?;
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        text.split(|&b| b == b'\n').nth(index).map(<[u8]>::to_vec)
    }

    /// Raw access for tamper tests: overwrite (or with `None` remove) the `seq`-th line,
    /// rewriting the file in place as someone with access to the disk could.
    #[doc(hidden)]
    pub fn raw_put(&self, seq: u64, bytes: Option<Vec<u8>>) -> Result<(), AuditError> {
        let mut tail = self.tail();
        let path = self.dir.join(LOG);
        let text = std::fs::read(&path)?;
        let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        lines.pop();
        let index = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        if index < lines.len() {
            match &bytes {
                Some(b) => lines[index] = b,
                None => {
                    lines.remove(index);
                }
            }
        }
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        let mut f = OpenOptions::new().write(true).truncate(true).open(&path)?;
        f.write_all(&out)?;
        f.sync_all()?;
        tail.bytes = out.len() as u64;
        Ok(())
    }
}

fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    for i in 0..n {
        log.record(Entry {
            professional: Some(ProfessionalId::new()),
            action: "write",
            room: Some(RoomId::new()),
            changes: vec![format!("{i:064x}")],
            ..Entry::default()
        })
        .unwrap();
    }
    (dir, log)
}

/// Opens the log in `dir` again, appends one record and checks the chain holds `records`.
fn reopen_append_and_verify(dir: &Path, records: u64) -> AuditLog {
    let log = AuditLog::open(dir).unwrap();
    log.record(Entry {
        action: "read",
        ..Entry::default()
    })
    .unwrap();
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.records, records);
    log
}

#[test]
fn an_untouched_log_is_intact_and_survives_reopening() {
    let (dir, log) = log_with(5);
    assert!(log.verify().unwrap().intact);
    drop(log);
    reopen_append_and_verify(dir.path(), 6);
}

#[test]
fn an_edited_record_is_found() {
    let (_d, log) = log_with(5);
    let mut r: AuditRecord = serde_json::from_slice(&log.raw_get(3).unwrap()).unwrap();
    r.action = "read".into();
    log.raw_put(3, Some(serde_json::to_vec(&r).unwrap()))
        .unwrap();
    let v = log.verify().unwrap();
    assert!(!v.intact);
    assert_eq!(v.first_broken, Some(3));
}

#[test]
fn a_removed_record_is_found() {
    let (_d, log) = log_with(5);
    log.raw_put(2, None).unwrap();
    let v = log.verify().unwrap();
    assert_eq!(v.first_broken, Some(2));
    let (_d, log) = log_with(5);
    log.raw_put(5, None).unwrap();
    let v = log.verify().unwrap();
    assert_eq!(v.first_broken, Some(5), "{v:?}");
}

#[test]
fn reordered_records_are_found() {
    let (_d, log) = log_with(5);
    let a = log.raw_get(2).unwrap();
    let b = log.raw_get(4).unwrap();
    log.raw_put(2, Some(b)).unwrap();
    log.raw_put(4, Some(a)).unwrap();
    let v = log.verify().unwrap();
    assert_eq!(v.first_broken, Some(2));
}

#[test]
fn a_sealed_line_is_the_record_with_its_chain_hash() {
    let (_d, log) = log_with(3);
    for seq in 1..=3 {
        let line = log.raw_get(seq).unwrap();
        let r: AuditRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(r.seq, seq);
        assert_eq!(chain_hash(&r), r.hash);
        assert_eq!(serde_json::to_vec(&r).unwrap(), line, "one canonical form");
    }
}

#[test]
fn a_torn_last_batch_is_cut_off_and_the_chain_continues() {
    let (dir, log) = log_with(4);
    drop(log);
    // A crash in the middle of writing a batch: half a line at the end.
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.path().join(LOG))
        .unwrap();
    f.write_all(br#"{"seq":5,"at":1,"professio"#).unwrap();
    drop(f);
    assert_eq!(AuditLog::open(dir.path()).unwrap().len(), 4);
    reopen_append_and_verify(dir.path(), 5);
}

#[test]
fn a_cut_off_end_is_found_through_the_head() {
    let (dir, log) = log_with(5);
    drop(log);
    let path = dir.path().join(LOG);
    let text = std::fs::read(&path).unwrap();
    let keep = text[..text.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    std::fs::write(&path, &text[..=keep]).unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let v = log.verify().unwrap();
    assert_eq!(v.first_broken, Some(5), "{v:?}");
    std::fs::remove_file(dir.path().join(HEAD)).unwrap();
    assert!(!log.verify().unwrap().intact, "a deleted head is noticed");
}

#[test]
fn newest_reads_backwards_across_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let room = RoomId::new();
    // Long records so the log spans several of the blocks read backwards.
    for i in 0..300u64 {
        log.record(Entry {
            action: if i % 3 == 0 { "write" } else { "read" },
            room: Some(room),
            changes: (0..10).map(|k| format!("{:064x}", i * 100 + k)).collect(),
            ..Entry::default()
        })
        .unwrap();
    }
    assert!(std::fs::metadata(dir.path().join(LOG)).unwrap().len() > 3 * BLOCK);
    let newest = log.newest(&Filter::default(), 1000).unwrap();
    let seqs: Vec<u64> = newest.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=300).rev().collect::<Vec<_>>());
    let three = log.newest(&Filter::default(), 3).unwrap();
    assert_eq!(
        three.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [300, 299, 298]
    );
    assert!(log.verify().unwrap().intact);
}

#[test]
fn an_old_sled_log_is_copied_into_the_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The layout written before November 2026: records keyed by big-endian position
        // in the tree `records`, the last position under `head`.
        let db = sled::open(dir.path()).unwrap();
        let records = db.open_tree("records").unwrap();
        let mut prev = ZERO;
        for seq in 1..=20u64 {
            let r = AuditRecord {
                seq,
                at: Timestamp(1_700_000_000_000 + i64::try_from(seq).unwrap()),
                professional: Some(ProfessionalId::new()),
                device: None,
                action: "write".into(),
                room: Some(RoomId::new()),
                subject: None,
                changes: vec![format!("{seq:064x}")],
                reason: None,
                prev: hex(&prev),
                hash: String::new(),
            };
            let (line, hash) = seal(&r);
            records.insert(seq.to_be_bytes(), line).unwrap();
            prev = hash;
        }
        db.insert(b"head", &20u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let log = AuditLog::open(dir.path()).unwrap();
    assert_eq!(log.len(), 20);
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.records, 20);
    assert!(!dir.path().join("db").exists(), "sled's files moved aside");
    assert!(dir.path().join(LEGACY).join("db").exists());
    drop(log);
    reopen_append_and_verify(dir.path(), 21);
}

#[test]
fn export_filters_by_room_and_time() {
    let (_d, log) = log_with(3);
    let all = log.export(&Filter::default(), 100).unwrap();
    assert_eq!(all.len(), 3);
    let room = all[1].room;
    let one = log
        .export(
            &Filter {
                room,
                ..Filter::default()
            },
            100,
        )
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].seq, 2);
    let later = log
        .export(
            &Filter {
                since: Some(Timestamp(all[2].at.0 + 1)),
                ..Filter::default()
            },
            100,
        )
        .unwrap();
    assert!(later.is_empty());
}

/// A log rotating every `bytes`, with `n` records appended one by one.
fn rotating_log_with(n: usize, bytes: u64) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_rotating(dir.path(), bytes).unwrap();
    for i in 0..n {
        log.record(Entry {
            professional: Some(ProfessionalId::new()),
            action: "write",
            room: Some(RoomId::new()),
            changes: vec![format!("{i:064x}")],
            ..Entry::default()
        })
        .unwrap();
    }
    (dir, log)
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("log-"))
        .collect();
    names.sort();
    names
}

#[test]
fn rotation_keeps_one_chain_across_the_files() {
    let (dir, log) = rotating_log_with(40, 2000);
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 4, "{segs:?}");
    assert_eq!(segs[0], "log-000001.jsonl");
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.records, 40);
    assert_eq!(v.files, Some(segs.len() as u64 + 1));
    assert_eq!(v.first_kept, None);
    // The first record of each file chains to the last of the one before.
    let second = std::fs::read_to_string(dir.path().join(&segs[1])).unwrap();
    let first_of_second: AuditRecord =
        serde_json::from_str(second.lines().next().unwrap()).unwrap();
    let first = std::fs::read_to_string(dir.path().join(&segs[0])).unwrap();
    let last_of_first: AuditRecord = serde_json::from_str(first.lines().last().unwrap()).unwrap();
    assert_eq!(first_of_second.prev, last_of_first.hash);
    assert_eq!(first_of_second.seq, last_of_first.seq + 1);
    // Export and the newest-first view read every file, in order.
    let all = log.export(&Filter::default(), 1000).unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    let after = log
        .export(
            &Filter {
                after: Some(last_of_first.seq + 2),
                ..Filter::default()
            },
            5,
        )
        .unwrap();
    assert_eq!(
        after.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (last_of_first.seq + 3..last_of_first.seq + 8).collect::<Vec<_>>()
    );
    let newest = log.newest(&Filter::default(), 1000).unwrap();
    assert_eq!(
        newest.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=40).rev().collect::<Vec<_>>()
    );
    drop(log);
    let log = AuditLog::open_rotating(dir.path(), 2000).unwrap();
    assert_eq!(log.len(), 40);
    drop(log);
    reopen_append_and_verify(dir.path(), 41);
}

#[test]
fn rotate_on_command_closes_the_live_file_unless_it_is_empty() {
    let (dir, log) = log_with(3);
    assert_eq!(log.rotate().unwrap().as_deref(), Some("log-000001.jsonl"));
    assert_eq!(log.rotate().unwrap(), None, "nothing to close");
    log.record(Entry {
        action: "read",
        ..Entry::default()
    })
    .unwrap();
    assert_eq!(log.rotate().unwrap().as_deref(), Some("log-000002.jsonl"));
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!((v.records, v.files), (4, Some(3)));
    assert_eq!(std::fs::metadata(dir.path().join(LOG)).unwrap().len(), 0);
}

#[test]
fn a_missing_middle_segment_is_named() {
    let (dir, log) = rotating_log_with(40, 2000);
    std::fs::remove_file(dir.path().join("log-000002.jsonl")).unwrap();
    let v = log.verify().unwrap();
    assert!(!v.intact);
    let problem = v.problem.unwrap();
    assert!(problem.contains("log-000002.jsonl is missing"), "{problem}");
}

#[test]
fn an_altered_segment_is_named() {
    let (dir, log) = rotating_log_with(40, 2000);
    let path = dir.path().join("log-000002.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"write\"", "\"read\"", 1)).unwrap();
    let v = log.verify().unwrap();
    assert!(!v.intact);
    let problem = v.problem.unwrap();
    assert!(
        problem.starts_with("log-000002.jsonl:") && problem.contains("changed"),
        "{problem}"
    );
}

#[test]
fn a_segment_cut_short_is_named() {
    let (dir, log) = rotating_log_with(40, 2000);
    let path = dir.path().join("log-000002.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept: String = lines[..lines.len() - 1]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, kept).unwrap();
    let v = log.verify().unwrap();
    assert!(!v.intact);
    let problem = v.problem.unwrap();
    assert!(
        problem.contains("log-000002.jsonl was cut short") && problem.contains("log-000003.jsonl"),
        "{problem}"
    );
}

#[test]
fn reordered_segments_are_named() {
    let (dir, log) = rotating_log_with(40, 2000);
    let (a, b, t) = (
        dir.path().join("log-000002.jsonl"),
        dir.path().join("log-000003.jsonl"),
        dir.path().join("swap"),
    );
    std::fs::rename(&a, &t).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&t, &b).unwrap();
    let v = log.verify().unwrap();
    assert!(!v.intact);
    let problem = v.problem.unwrap();
    assert!(
        problem.contains("log-000002.jsonl and log-000003.jsonl are out of order"),
        "{problem}"
    );
}

#[test]
fn archived_first_segments_leave_a_kept_chain_that_says_where_it_starts() {
    let (dir, log) = rotating_log_with(40, 2000);
    let seg2 = std::fs::read_to_string(dir.path().join("log-000002.jsonl")).unwrap();
    let start: AuditRecord = serde_json::from_str(seg2.lines().next().unwrap()).unwrap();
    std::fs::remove_file(dir.path().join("log-000001.jsonl")).unwrap();
    let v = log.verify().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.first_kept, Some(start.seq));
    assert_eq!(v.records, 40 - (start.seq - 1));
    // Numbering goes on after the newest segment kept.
    drop(log);
    let log = AuditLog::open_rotating(dir.path(), 2000).unwrap();
    let next = segment_files(dir.path()).last().cloned().unwrap();
    log.record(Entry {
        action: "read",
        ..Entry::default()
    })
    .unwrap();
    log.rotate().unwrap();
    assert!(segment_files(dir.path()).last().unwrap() > &next);
    // The live file alone never starts a kept chain after record 1.
    for s in segment_files(dir.path()) {
        std::fs::remove_file(dir.path().join(s)).unwrap();
    }
    log.record(Entry {
        action: "read",
        ..Entry::default()
    })
    .unwrap();
    assert!(!log.verify().unwrap().intact);
}

#[test]
fn a_rotation_torn_before_the_live_file_was_closed_is_undone() {
    let (dir, log) = rotating_log_with(10, 0);
    drop(log);
    // Step 1 done, the crash before step 2: an empty next file beside the live one.
    std::fs::write(dir.path().join(NEXT), b"").unwrap();
    let log = AuditLog::open_rotating(dir.path(), 0).unwrap();
    assert!(!dir.path().join(NEXT).exists());
    assert!(segment_files(dir.path()).is_empty());
    assert!(log.verify().unwrap().intact);
    drop(log);
    reopen_append_and_verify(dir.path(), 11);
}

#[test]
fn a_rotation_torn_after_the_live_file_was_closed_is_finished() {
    let (dir, log) = rotating_log_with(10, 0);
    drop(log);
    // Step 2 done, the crash before step 3: the live file is a segment, the next file
    // not yet in its place.
    std::fs::write(dir.path().join(NEXT), b"").unwrap();
    std::fs::rename(dir.path().join(LOG), dir.path().join("log-000001.jsonl")).unwrap();
    let needed = AuditLog::files_needed(dir.path());
    assert!(needed.contains(&dir.path().join(NEXT)), "{needed:?}");
    assert!(needed.iter().all(|f| f.exists()), "{needed:?}");
    let log = AuditLog::open_rotating(dir.path(), 0).unwrap();
    assert_eq!(log.len(), 10);
    assert!(dir.path().join(LOG).exists() && !dir.path().join(NEXT).exists());
    drop(log);
    let log = reopen_append_and_verify(dir.path(), 11);
    assert_eq!(log.verify().unwrap().files, Some(2));
}

#[test]
fn a_live_file_lost_beside_segments_is_refused_not_replaced() {
    let (dir, log) = rotating_log_with(20, 2000);
    drop(log);
    std::fs::remove_file(dir.path().join(LOG)).unwrap();
    let needed = AuditLog::files_needed(dir.path());
    assert!(needed.contains(&dir.path().join(LOG)));
    let e = AuditLog::open_rotating(dir.path(), 2000).unwrap_err();
    assert!(matches!(e, AuditError::LiveMissing(_)), "{e}");
    assert!(!dir.path().join(LOG).exists(), "nothing created");
}

#[test]
fn details_are_sealed_at_rest_opened_on_reading_and_verified_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let sealer = std::sync::Arc::new(kizuna_core::store::Sealer::new(&[7u8; 32]).unwrap());
    let log = AuditLog::open(dir.path()).unwrap().sealed_with(sealer);
    let subject = "ip:192.0.2.77";
    let reason = "ログイン失敗の理由";
    log.record(Entry {
        action: "console.login.failed",
        subject: Some(subject.into()),
        reason: Some(reason.into()),
        ..Entry::default()
    })
    .unwrap();
    log.record(Entry {
        action: "admin.backup",
        ..Entry::default()
    })
    .unwrap();
    let raw = std::fs::read(dir.path().join(LOG)).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains("192.0.2.77"), "{raw}");
    assert!(!raw.contains(reason), "{raw}");
    assert!(
        raw.contains("console.login.failed"),
        "the action stays readable"
    );
    let all = log.export(&Filter::default(), 10).unwrap();
    assert_eq!(all[0].subject.as_deref(), Some(subject));
    assert_eq!(all[0].reason.as_deref(), Some(reason));
    assert_eq!(all[1].subject, None);
    let newest = log.newest(&Filter::default(), 1).unwrap();
    assert_eq!(newest[0].action, "admin.backup");
    drop(log);

    // Without the key (or with another) the chain still verifies; the details stay shut.
    let keyless = AuditLog::open(dir.path()).unwrap();
    assert!(keyless.verify().unwrap().intact);
    let shut = keyless.export(&Filter::default(), 10).unwrap();
    assert!(shut[0].subject.as_deref().unwrap().starts_with("(sealed"));
    drop(keyless);
    let other = std::sync::Arc::new(kizuna_core::store::Sealer::new(&[8u8; 32]).unwrap());
    let wrong = AuditLog::open(dir.path()).unwrap().sealed_with(other);
    let shut = wrong.export(&Filter::default(), 10).unwrap();
    assert!(shut[0].reason.as_deref().unwrap().starts_with("(sealed"));
    // A sealed detail moved to another record does not open there.
    let first: AuditRecord = serde_json::from_slice(&wrong.raw_get(1).unwrap()).unwrap();
    drop(wrong);
    let sealer = std::sync::Arc::new(kizuna_core::store::Sealer::new(&[7u8; 32]).unwrap());
    let log = AuditLog::open(dir.path()).unwrap().sealed_with(sealer);
    let mut second: AuditRecord = serde_json::from_slice(&log.raw_get(2).unwrap()).unwrap();
    second.subject = first.subject.clone();
    let opened = log.opened(second);
    assert!(opened.subject.unwrap().starts_with("(sealed"));
}
