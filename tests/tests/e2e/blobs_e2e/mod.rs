//! Attachments end to end: a real relay on loopback, phones uploading and downloading through
//! a proxy that cuts the connection, restarts mid-upload, wrong hashes, strangers.
//! `transfer`: uploads and downloads cut, resumed and restarted, and what the phone keeps;
//! `access`: who may read or write which bytes (findings 6 and 7 in docs/security.md).

mod access;
mod transfer;

use kizuna_core::{ContentHash, Profession, Role, RoomId};
use kizuna_testkit::{LoopbackRelay, Phone};
use rand::{RngCore, SeedableRng};
use std::path::{Path, PathBuf};

const MARKER: &[u8] = b"KIZUNA-PLAINTEXT-MARKER-7f3a";

/// A "photo": JPEG magic, a marker, random bytes.
fn fake_photo(dir: &Path, size: usize, seed: u64) -> PathBuf {
    let mut bytes = vec![0u8; size];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    bytes[4..4 + MARKER.len()].copy_from_slice(MARKER);
    let p = dir.join(format!("photo-{seed}.jpg"));
    std::fs::write(&p, &bytes).unwrap();
    p
}

/// A real PNG picture, so the thumbnailer has something to decode.
fn real_png(dir: &Path) -> PathBuf {
    let img = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let p = dir.join("wound.png");
    img.save(&p).unwrap();
    p
}

struct City {
    tmp: tempfile::TempDir,
    relay: LoopbackRelay,
    room: RoomId,
}

fn city() -> City {
    let tmp = tempfile::tempdir().unwrap();
    let relay = LoopbackRelay::start_blocking(&tmp.path().join("relay"), None).unwrap();
    let room = relay.blocking_patient_room("山田 花子").unwrap();
    City { tmp, relay, room }
}

fn member(c: &City, name: &str, role: Option<Role>) -> Phone {
    let p = c.relay.blocking_add(name, Profession::Nurse).unwrap();
    if let Some(role) = role {
        c.relay.blocking_invite(c.room, p.id, role).unwrap();
    }
    let phone = c
        .relay
        .enroll_phone(&p, &c.tmp.path().join(format!("phone-{}", p.id)))
        .unwrap();
    phone.sync().unwrap();
    phone
}

/// The same phone, talking through `url` (a proxy) from now on.
fn via(phone: Phone, url: &str) -> Phone {
    phone.with_url(url).unwrap()
}

fn sha(path: &Path) -> ContentHash {
    ContentHash::of(&std::fs::read(path).unwrap())
}

fn upload_until_done(phone: &Phone) -> usize {
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 100, "the upload never finished");
        let r = phone.client().upload_attachments(&|_, _, _| {});
        if std::env::var("KIZUNA_DEBUG_UPLOAD").is_ok() {
            eprintln!("attempt {attempts}: {r:?}");
        }
        if phone.client().blobs().pending_uploads().unwrap().is_empty() {
            return attempts;
        }
    }
}
