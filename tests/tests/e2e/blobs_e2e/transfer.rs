//! Uploads and downloads cut, resumed and restarted; what the phone's store keeps.

use super::{MARKER, city, fake_photo, member, real_png, sha, upload_until_done, via};
use kizuna_core::Role;
use kizuna_core::model::AttachmentKind;
use kizuna_testkit::Phone;
use kizuna_tests::measure::files_containing;
use kizuna_tests::proxy::CutProxy;
use std::sync::atomic::Ordering;

#[test]
fn an_upload_cut_ten_times_completes_with_the_right_hash() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let doctor = member(&c, "医師", Some(Role::Writer));
    let proxy = CutProxy::start(c.relay.addr).unwrap();
    let nurse = via(nurse, &proxy.url());
    let path = fake_photo(c.tmp.path(), 6 * 1024 * 1024 + 123, 1);
    let (_, att) = nurse
        .post_with_file(
            c.room,
            "褥瘡の写真",
            &path,
            AttachmentKind::Photo,
            "image/jpeg",
        )
        .unwrap();
    assert_eq!(att.hash, sha(&path));
    // The report first, then the upload, cut every 512 KiB, ten times.
    nurse.client().sync_documents().unwrap();
    proxy.state.reset();
    proxy.state.cut_up_every.store(512 * 1024, Ordering::SeqCst);
    proxy.state.max_cuts.store(10, Ordering::SeqCst);
    let attempts = upload_until_done(&nurse);
    assert_eq!(proxy.state.cuts.load(Ordering::SeqCst), 10);
    // Every attempt but the last ends in a cut: none is refused or wasted on a stale offset.
    assert_eq!(attempts, 11);
    // Every byte the proxy forwarded reached the relay and is kept. What the phone sent
    // beyond the file is, per attempt, a TLS handshake, the status question, a request head
    // and the partial TLS record a cut leaves undecryptable (under 32 KiB together), the
    // framing of the TLS records (22 bytes per 16 KiB), and bytes the relay received twice
    // and says so: the phone asked where to resume before the relay had read the cut
    // request's last bytes (still in the sockets; a relay cannot count what it has not read
    // yet), and the relay skipped them instead of refusing either request. Before, the
    // relay refused one of the two requests and threw its bytes away (one run in five
    // under load sent 30 % more, see docs/protocol.md).
    let sent = proxy.state.up_bytes.load(Ordering::SeqCst);
    let twice = c.relay.relay.blobs().duplicate_bytes();
    let bound = att.size + att.size / 16384 * 22 + twice + attempts as u64 * 32 * 1024;
    eprintln!(
        "sent {sent} for {}, {twice} received twice, bound {bound}",
        att.size
    );
    assert!(
        sent <= bound,
        "bytes were lost: sent {sent} for {} ({twice} received twice), bound {bound}",
        att.size
    );
    assert!(twice <= 512 * 1024 * 10, "{twice}");

    // The doctor downloads it (directly, then again through cuts) and gets the same bytes.
    doctor.sync().unwrap();
    doctor
        .client()
        .fetch_attachment(&att.hash, c.room, "image/jpeg", u64::MAX, &|_, _, _| {})
        .unwrap();
    let out = c.tmp.path().join("downloaded.jpg");
    doctor.client().blobs().export(&att.hash, &out).unwrap();
    assert_eq!(sha(&out), att.hash);
}
#[test]
fn a_download_cut_several_times_resumes_and_checks_the_hash() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let doctor = member(&c, "医師", Some(Role::Writer));
    let path = fake_photo(c.tmp.path(), 3 * 1024 * 1024, 2);
    let (_, att) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.sync().unwrap();
    assert!(nurse.client().blobs().pending_uploads().unwrap().is_empty());
    doctor.sync().unwrap();
    let proxy = CutProxy::start(c.relay.addr).unwrap();
    let doctor = via(doctor, &proxy.url());
    proxy
        .state
        .cut_down_every
        .store(700 * 1024, Ordering::SeqCst);
    proxy.state.max_cuts.store(4, Ordering::SeqCst);
    let mut tries = 0;
    while doctor
        .client()
        .fetch_attachment(&att.hash, c.room, "image/jpeg", u64::MAX, &|_, _, _| {})
        .is_err()
    {
        tries += 1;
        assert!(tries < 20);
    }
    assert!(tries >= 3, "the cuts happened: {tries}");
    let got = doctor.client().blobs().meta(&att.hash).unwrap().unwrap();
    assert!(got.complete);
    let received = proxy.state.down_bytes.load(Ordering::SeqCst) as f64;
    assert!(received < att.size as f64 * 1.2, "received {received}");
}
#[test]
fn a_phone_restarted_mid_upload_resumes_where_the_relay_stands() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let proxy = CutProxy::start(c.relay.addr).unwrap();
    let nurse = via(nurse, &proxy.url());
    let path = fake_photo(c.tmp.path(), 4 * 1024 * 1024, 3);
    let (_, att) = nurse
        .post_with_file(
            c.room,
            "動画の代わり",
            &path,
            AttachmentKind::Video,
            "video/mp4",
        )
        .unwrap();
    nurse.client().sync_documents().unwrap();
    proxy.state.reset();
    proxy
        .state
        .cut_up_every
        .store(2 * 1024 * 1024, Ordering::SeqCst);
    proxy.state.max_cuts.store(1, Ordering::SeqCst);
    assert!(nurse.client().upload_attachments(&|_, _, _| {}).is_err());
    // The app is killed and started again: the queue is on disk.
    let nurse = nurse.restart().unwrap();
    assert_eq!(nurse.client().blobs().pending_uploads().unwrap().len(), 1);
    nurse.client().upload_attachments(&|_, _, _| {}).unwrap();
    assert!(nurse.client().blobs().pending_uploads().unwrap().is_empty());
    let sent = proxy.state.up_bytes.load(Ordering::SeqCst) as f64;
    assert!(sent < att.size as f64 * 1.1, "sent {sent} for {}", att.size);
    let relay_copy = c
        .relay
        .relay
        .blobs()
        .store()
        .meta(&att.hash)
        .unwrap()
        .unwrap();
    assert!(relay_copy.complete);
}
#[test]
fn the_phone_store_holds_no_plain_image_bytes_and_makes_thumbnails() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let photo = fake_photo(c.tmp.path(), 300_000, 5);
    let (_, fake) = nurse
        .post_with_file(c.room, "写真", &photo, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    assert_eq!(
        fake.thumbnail, None,
        "an undecodable photo is attached without a preview"
    );
    let png = real_png(c.tmp.path());
    let (_, att) = nurse
        .post_with_file(
            c.room,
            "本物の画像",
            &png,
            AttachmentKind::Photo,
            "image/png",
        )
        .unwrap();
    let thumb = att.thumbnail.expect("a photo gets a thumbnail");
    let t = nurse.client().blobs().meta(&thumb).unwrap().unwrap();
    assert!(t.size > 100 && t.size < 60_000, "{}", t.size);
    let raw_png = std::fs::read(&png).unwrap();
    drop(nurse);
    let store_dirs: Vec<_> = std::fs::read_dir(c.tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("phone-")
        })
        .collect();
    for dir in store_dirs {
        assert!(files_containing(&dir, MARKER).is_empty());
        assert!(files_containing(&dir, &[0x89, b'P', b'N', b'G']).is_empty());
        assert!(files_containing(&dir, &raw_png[100..164]).is_empty());
    }
}
#[test]
fn a_photo_queued_for_a_report_never_saved_leaves_the_queue_and_holds_up_nothing() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    // The app queued a photo and died before saving its report (photos are queued first, so
    // a saved report never has photos left behind on the phone).
    let orphan = fake_photo(c.tmp.path(), 50_000, 5);
    let blobs = nurse.client().blobs();
    let att = kizuna_core::blobs::attach_file(
        blobs,
        &orphan,
        AttachmentKind::Photo,
        "image/jpeg",
        None,
        None,
        None,
    )
    .unwrap();
    let mut never_saved = Phone::text("保存されなかった報告", None);
    never_saved.attachments.push(att.clone());
    blobs
        .queue_report(c.room, &never_saved, kizuna_core::Timestamp(1))
        .unwrap();
    // A report saved after it, with its own photo: first in the queue is the orphan.
    let path = fake_photo(c.tmp.path(), 60_000, 6);
    let (_, saved) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    assert_eq!(blobs.pending_uploads().unwrap()[0].hash, att.hash);
    nurse.client().sync_documents().unwrap();
    let done = nurse.client().upload_attachments(&|_, _, _| {}).unwrap();
    assert_eq!(done, vec![saved.hash]);
    assert!(blobs.pending_uploads().unwrap().is_empty());
    let relay = c.relay.relay.blobs().store();
    assert!(relay.meta(&saved.hash).unwrap().unwrap().complete);
    assert!(relay.meta(&att.hash).unwrap().is_none());
}
/// An upload whose every byte reached the relay but which was never checked (the relay
/// stopped in between) is finished at the device's next status question instead of
/// waiting for ever at "offset = size, not complete".
#[test]
fn an_upload_stored_whole_but_never_checked_finishes_at_the_next_question() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let path = fake_photo(c.tmp.path(), 50_000, 91);
    let bytes = std::fs::read(&path).unwrap();
    let (_, att) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.client().sync_documents().unwrap();
    let relay = &c.relay.relay;
    let (p, d) = (nurse.author.professional, nurse.author.device);
    relay
        .begin_upload(p, d, c.room, att.hash, att.size, "image/jpeg")
        .unwrap();
    let st = relay
        .append_upload(d, c.room, &att.hash, 0, &bytes)
        .unwrap();
    assert_eq!(st.offset, att.size);
    assert!(!st.complete);
    assert!(relay.blobs().store().meta(&att.hash).unwrap().is_none());
    let done = nurse.client().upload_attachments(&|_, _, _| {}).unwrap();
    assert_eq!(done, vec![att.hash]);
    assert!(
        relay
            .blobs()
            .store()
            .meta(&att.hash)
            .unwrap()
            .unwrap()
            .complete
    );
}

/// The race behind a lost segment, in the order the wire can produce it: the phone asked
/// where to resume while its cut request was still on its way (so the relay answered the old
/// offset), sent the next request from there, and the relay read the two in either order.
/// Here the next request is read first and the cut one (same offset, more bytes) second:
/// the relay keeps the bytes it lacked instead of refusing the late request with `409`.
#[test]
fn a_request_read_late_with_an_old_offset_adds_only_what_the_relay_lacks() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let path = fake_photo(c.tmp.path(), 300_000, 92);
    let bytes = std::fs::read(&path).unwrap();
    let (_, att) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.client().sync_documents().unwrap();
    let raw = |method: &str, path: &str, body: &[u8]| {
        let (status, answer) = nurse
            .raw_request(method, path, "application/octet-stream", body.to_vec())
            .unwrap();
        let st = (status == 200)
            .then(|| serde_json::from_slice::<kizuna_core::blobs::UploadStatus>(&answer).unwrap());
        (status, st)
    };
    let hex = att.hash.to_hex();
    let question = format!(
        "/v1/blobs/{hex}/upload?doc={}&size={}&type=image%2Fjpeg",
        c.room, att.size
    );
    let put = |offset: usize, end: usize| {
        raw(
            "PUT",
            &format!("/v1/blobs/{hex}?doc={}&offset={offset}", c.room),
            &bytes[offset..end],
        )
    };
    assert_eq!(raw("GET", &question, &[]).1.unwrap().offset, 0);
    let relay = &c.relay.relay;
    let before = relay.blobs().duplicate_bytes();
    // The next request, read first: bytes 0..100 000.
    let (status, st) = put(0, 100_000);
    assert_eq!(status, 200);
    assert_eq!(st.unwrap().offset, 100_000);
    // The cut request, read second with the offset the phone had then: bytes 0..180 000.
    let (status, st) = put(0, 180_000);
    assert_eq!(
        status, 200,
        "a late request with an old offset is not refused"
    );
    let st = st.unwrap();
    assert_eq!(st.offset, 180_000, "the bytes the relay lacked are kept");
    assert!(!st.complete);
    assert_eq!(relay.blobs().duplicate_bytes() - before, 100_000);
    // A request that would leave a gap is still refused, and changes nothing.
    assert_eq!(put(200_000, bytes.len()).0, 409);
    assert_eq!(raw("GET", &question, &[]).1.unwrap().offset, 180_000);
    // The rest completes and the hash checks out over bytes from both requests.
    let (status, st) = put(180_000, bytes.len());
    assert_eq!(status, 200);
    assert!(st.unwrap().complete);
    let meta = relay.blobs().store().meta(&att.hash).unwrap().unwrap();
    assert!(meta.complete);
    let mut back = Vec::new();
    while (back.len() as u64) < meta.size {
        let piece = relay
            .blobs()
            .store()
            .read_at(&att.hash, back.len() as u64, 64 * 1024)
            .unwrap();
        assert!(!piece.is_empty());
        back.extend_from_slice(&piece);
    }
    assert_eq!(back, bytes);
}
