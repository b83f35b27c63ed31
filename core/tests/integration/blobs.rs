//! The blob store on a real disk, in both layouts (chunks in the store, chunk files beside
//! it): resumable appends in any piece sizes, hash checks, the upload queue's order, the
//! download cache that never evicts what is waiting for upload, expiry of abandoned uploads.

use kizuna_core::blobs::{BlobError, BlobStore, PendingUpload};
use kizuna_core::{ContentHash, DeviceId, RoomId, RoomStore, Timestamp};
use rand::{Rng, RngCore, SeedableRng};

fn stores(dir: &std::path::Path) -> Vec<(RoomStore, BlobStore)> {
    let a = RoomStore::open(&dir.join("a"), &[5; 32]).unwrap();
    let in_vault = BlobStore::new(a.vault().clone());
    let b = RoomStore::open(&dir.join("b"), &[5; 32]).unwrap();
    let in_files = BlobStore::in_dir(b.vault().clone(), &dir.join("b-files")).unwrap();
    vec![(a, in_vault), (b, in_files)]
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

#[test]
fn appends_in_random_pieces_resume_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for (_store, blobs) in stores(dir.path()) {
        let data = bytes(1_300_000, 1);
        let hash = ContentHash::of(&data);
        assert_eq!(
            blobs
                .begin(hash, data.len() as u64, "video/mp4", None, None)
                .unwrap(),
            0
        );
        let mut at = 0usize;
        while at < data.len() {
            let n = rng.random_range(1..400_000).min(data.len() - at);
            // Alternate the two ways of appending.
            if rng.random_bool(0.5) {
                at = blobs.append(&hash, at as u64, &data[at..at + n]).unwrap() as usize;
            } else {
                let mut w = blobs.writer(&hash, at as u64).unwrap();
                let half = n / 2;
                w.write(&data[at..at + half]).unwrap();
                w.write(&data[at + half..at + n]).unwrap();
                at = w.commit().unwrap() as usize;
            }
            // A resume asks where the store is.
            assert_eq!(
                blobs
                    .begin(hash, data.len() as u64, "video/mp4", None, None)
                    .unwrap(),
                at as u64
            );
        }
        assert!(matches!(
            blobs.append(&hash, 5, b"x"),
            Err(BlobError::WrongOffset { .. } | BlobError::TooLong(_))
        ));
        blobs.finish(&hash).unwrap();
        assert!(blobs.meta(&hash).unwrap().unwrap().complete);
        assert_eq!(blobs.read_at(&hash, 0, data.len()).unwrap(), data);
        assert_eq!(
            blobs.read_at(&hash, 262_140, 10).unwrap(),
            data[262_140..262_150]
        );
    }
}

#[test]
fn wrong_bytes_never_become_visible() {
    let dir = tempfile::tempdir().unwrap();
    for (_store, blobs) in stores(dir.path()) {
        let data = bytes(300_000, 2);
        let hash = ContentHash::of(&data);
        blobs
            .begin(hash, data.len() as u64, "image/jpeg", None, None)
            .unwrap();
        let mut wrong = data.clone();
        wrong[1000] ^= 1;
        blobs.append(&hash, 0, &wrong).unwrap();
        assert!(matches!(blobs.finish(&hash), Err(BlobError::HashMismatch)));
        assert!(blobs.meta(&hash).unwrap().is_none(), "the bad copy is gone");
    }
}

#[test]
fn the_queue_goes_by_importance_and_the_cache_keeps_what_is_not_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    for (_store, blobs) in stores(dir.path()) {
        let doc = RoomId::new();
        let mut hashes = Vec::new();
        for i in 0..4u64 {
            let h = blobs
                .import_bytes(&bytes(100_000, 10 + i), "image/jpeg")
                .unwrap();
            hashes.push(h);
        }
        // 0: low importance, old; 1: high; 2: low, newer; 3: downloaded (not queued).
        for (i, (imp, at)) in [(1u8, 1i64), (3, 5), (1, 9)].into_iter().enumerate() {
            blobs
                .queue_upload(
                    &hashes[i],
                    PendingUpload {
                        doc,
                        importance: imp,
                        posted: Timestamp(at),
                    },
                )
                .unwrap();
        }
        let order: Vec<ContentHash> = blobs
            .pending_uploads()
            .unwrap()
            .into_iter()
            .map(|m| m.hash)
            .collect();
        assert_eq!(order, vec![hashes[1], hashes[0], hashes[2]]);
        // A tiny cache limit evicts only the blob that is not waiting for upload.
        let freed = blobs.evict_to(0).unwrap();
        assert_eq!(freed, 100_000);
        assert!(blobs.meta(&hashes[3]).unwrap().is_none());
        for h in &hashes[..3] {
            assert!(blobs.meta(h).unwrap().is_some(), "queued blobs stay");
        }
        blobs.uploaded(&hashes[1]).unwrap();
        blobs.evict_to(0).unwrap();
        assert!(
            blobs.meta(&hashes[1]).unwrap().is_none(),
            "uploaded, then evictable"
        );
    }
}

#[test]
fn abandoned_uploads_expire_and_count_against_their_device() {
    let dir = tempfile::tempdir().unwrap();
    for (_store, blobs) in stores(dir.path()) {
        let device = DeviceId::new();
        let data = bytes(50_000, 3);
        let hash = ContentHash::of(&data);
        blobs
            .begin(hash, 50_000, "video/mp4", Some(device), None)
            .unwrap();
        blobs.append(&hash, 0, &data[..10_000]).unwrap();
        assert_eq!(blobs.pending_bytes_of(device).unwrap(), 50_000);
        assert_eq!(blobs.pending_bytes_of(DeviceId::new()).unwrap(), 0);
        assert_eq!(
            blobs.expire_incomplete(Timestamp(0)).unwrap(),
            0,
            "not old yet"
        );
        let later = Timestamp::now().plus_millis(1000);
        assert_eq!(blobs.expire_incomplete(later).unwrap(), 1);
        assert!(blobs.meta(&hash).unwrap().is_none());
    }
}

#[test]
fn chunk_files_hold_no_plain_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let marker = b"PLAIN-MARKER-IN-A-BLOB-0042";
    for (_store, blobs) in stores(dir.path()) {
        let mut data = bytes(600_000, 4);
        data[300_000..300_000 + marker.len()].copy_from_slice(marker);
        blobs.import_bytes(&data, "image/png").unwrap();
    }
    for entry in walk(dir.path()) {
        let content = std::fs::read(&entry).unwrap();
        assert!(
            !content.windows(marker.len()).any(|w| w == marker),
            "{} holds plain bytes",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
