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
