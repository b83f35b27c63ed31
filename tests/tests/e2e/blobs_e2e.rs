//! Attachments end to end: a real relay on loopback, phones uploading and downloading through
//! a proxy that cuts the connection, restarts mid-upload, wrong hashes, strangers.

use kizuna_core::model::AttachmentKind;
use kizuna_core::{ContentHash, Profession, Role, RoomId};
use kizuna_testkit::{LoopbackRelay, Phone};
use kizuna_tests::measure::files_containing;
use kizuna_tests::proxy::CutProxy;
use rand::{RngCore, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

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
    assert!(attempts >= 10, "{attempts}");
    // Each cut costs its TLS handshake, the status question and a partial TLS record
    // (about 3 % at one cut per 512 KiB). Under CPU contention one segment in a run is
    // occasionally not kept by the relay (not yet explained; see the issue note), so the
    // bound allows one lost segment: a restart from zero would send 2 x or more.
    let sent = proxy.state.up_bytes.load(Ordering::SeqCst) as f64;
    assert!(
        sent < att.size as f64 * 1.2,
        "a cut must not restart the upload: sent {sent} for {}",
        att.size
    );

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
fn wrong_bytes_are_refused_and_strangers_learn_nothing() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let stranger = member(&c, "他の事業所", None);
    let path = fake_photo(c.tmp.path(), 100_000, 4);
    let (_, att) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.client().sync_documents().unwrap();
    let t = kizuna_client::HttpsTransport::new(
        &nurse.identity.url,
        &nurse.identity.ca_pem,
        &nurse.identity.crt_pem,
        &nurse.identity.key_pem,
    )
    .unwrap();
    use kizuna_client::Transport;
    struct Wrong;
    impl kizuna_client::BlobSource for Wrong {
        fn read(&self, _offset: u64, max: usize) -> Result<Vec<u8>, String> {
            Ok(vec![0xAB; max])
        }
    }
    let st = t
        .upload_status(&att.hash, c.room, att.size, "image/jpeg")
        .unwrap();
    assert_eq!(st.offset, 0);
    let refused = t.upload(&att.hash, c.room, 0, att.size, std::sync::Arc::new(Wrong));
    match refused {
        Err(kizuna_client::TransportError::Rejected { status, .. }) => assert_eq!(status, 400),
        other => panic!("wrong bytes accepted: {other:?}"),
    }
    let st = t
        .upload_status(&att.hash, c.room, att.size, "image/jpeg")
        .unwrap();
    assert!(!st.complete);
    assert_eq!(st.offset, 0, "the bad copy was thrown away");
    // The real upload then goes through.
    nurse.client().upload_attachments(&|_, _, _| {}).unwrap();

    // A stranger: same refusal for a real hash and a made-up one, and zero bytes.
    let raw = |hash: &str| {
        let tls = kizuna_server::identity::pki::client_config(
            &stranger.identity.ca_pem,
            Some((&stranger.identity.crt_pem, &stranger.identity.key_pem)),
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        let url = format!("{}/v1/blobs/{hash}?doc={}", stranger.identity.url, c.room);
        kizuna_client::runtime::get().block_on(async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap();
            (status, body)
        })
    };
    let (s1, b1) = raw(&att.hash.to_hex());
    let (s2, b2) = raw(&ContentHash::of(b"nothing").to_hex());
    assert_eq!(s1, 403);
    assert_eq!((s1, b1.len()), (s2, b2.len()));
    assert!(!b1.windows(MARKER.len()).any(|w| w == MARKER));
    let err = stranger.client().fetch_attachment(
        &att.hash,
        c.room,
        "image/jpeg",
        u64::MAX,
        &|_, _, _| {},
    );
    assert!(err.is_err());
    assert!(stranger.client().blobs().meta(&att.hash).unwrap().is_none());
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
fn the_scanned_consent_form_reaches_members_only() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let stranger = member(&c, "他の事業所", None);
    let scan = b"%PDF-1.4 consent scan KIZUNA-PLAINTEXT-MARKER-7f3a".to_vec();
    let room = c.room;
    let body = scan.clone();
    let view = c
        .relay
        .with_admin(async move |a| a.consent_form(room, "application/pdf", body).await)
        .unwrap();
    let hash: ContentHash = view.consent.unwrap().form.unwrap().parse().unwrap();
    assert_eq!(hash, ContentHash::of(&scan));
    // Refused: an unsupported type, and a room without consent (the city notices).
    let body = scan.clone();
    let bad = c
        .relay
        .with_admin(async move |a| a.consent_form(room, "text/plain", body).await);
    assert!(bad.is_err());

    nurse.sync().unwrap();
    let in_doc = nurse
        .store()
        .open_room(c.room)
        .unwrap()
        .read(|r| r.consent())
        .unwrap()
        .unwrap();
    assert_eq!(
        in_doc.form,
        Some(hash),
        "the form's hash reaches the room document"
    );
    nurse
        .client()
        .fetch_attachment(&hash, c.room, "application/pdf", u64::MAX, &|_, _, _| {})
        .unwrap();
    let out = c.tmp.path().join("consent.pdf");
    nurse.client().blobs().export(&hash, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), scan);
    assert!(
        stranger
            .client()
            .fetch_attachment(&hash, c.room, "application/pdf", u64::MAX, &|_, _, _| {})
            .is_err()
    );
    let audit = c
        .relay
        .relay
        .audit()
        .export(&Default::default(), 10_000)
        .unwrap();
    assert!(audit.iter().any(|r| r.action == "admin.room.consent_form"));
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

/// A raw request with `phone`'s certificate: (status, body).
fn raw_as(phone: &Phone, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let tls = kizuna_server::identity::pki::client_config(
        &phone.identity.ca_pem,
        Some((&phone.identity.crt_pem, &phone.identity.key_pem)),
    )
    .unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let url = format!("{}{path}", phone.identity.url);
    let method: reqwest::Method = method.parse().unwrap();
    kizuna_client::runtime::get().block_on(async move {
        let r = http
            .request(method, url)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.bytes().await.unwrap().to_vec())
    })
}

fn status_of(body: &[u8]) -> kizuna_core::blobs::UploadStatus {
    serde_json::from_slice(body).unwrap()
}

/// Finding 6: a member of room P1 who knows the hash of a photo in P2 (he was a member of
/// P2) references it from his own report in P1 and asks for it through P1. A hash is not a
/// key: the bytes were never uploaded for P1, so he gets the same 403 as for nothing, and
/// the relay does not pretend the upload for P1 is done. Sending the bytes themselves for
/// P1 (proving he has them) is what makes them readable there.
#[test]
fn a_hash_referenced_from_another_room_does_not_open_the_photo() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let mallory = member(&c, "元メンバー", Some(Role::Writer));
    let p1 = c.relay.blocking_patient_room("別の 患者").unwrap();
    let mallory_id = mallory.author.professional;
    c.relay
        .blocking_invite(p1, mallory_id, Role::Writer)
        .unwrap();
    let colleague = {
        let p = c.relay.blocking_add("同僚", Profession::Nurse).unwrap();
        c.relay.blocking_invite(p1, p.id, Role::Reader).unwrap();
        let phone = c
            .relay
            .enroll_phone(&p, &c.tmp.path().join(format!("phone-{}", p.id)))
            .unwrap();
        phone.sync().unwrap();
        phone
    };
    // The photo of P2, uploaded by the nurse; mallory (still a member) sees its reference.
    let path = fake_photo(c.tmp.path(), 200_000, 61);
    let (_, att) = nurse
        .post_with_file(
            c.room,
            "褥瘡の写真",
            &path,
            AttachmentKind::Photo,
            "image/jpeg",
        )
        .unwrap();
    nurse.client().sync_documents().unwrap();
    upload_until_done(&nurse);
    mallory.sync().unwrap();
    // Removed from P2: the photo must go with it.
    c.relay.blocking_remove(c.room, mallory_id).unwrap();
    let _ = mallory.sync();
    let (s, _) = raw_as(
        &mallory,
        "GET",
        &format!("/v1/blobs/{}?doc={}", att.hash.to_hex(), c.room),
        Vec::new(),
    );
    assert_eq!(s, 403, "no longer a member of P2");
    // His own report in P1 referencing the hash he remembers, without the bytes.
    let mut content = Phone::text("参考写真", None);
    content.attachments.push(att.clone());
    mallory.post(p1, &content).unwrap();
    mallory.sync().unwrap();
    let get = format!("/v1/blobs/{}?doc={p1}", att.hash.to_hex());
    let (s, body) = raw_as(&mallory, "GET", &get, Vec::new());
    assert_eq!(s, 403, "a reference from P1 opened P2's photo");
    assert!(!body.windows(MARKER.len()).any(|w| w == MARKER));
    let (s_none, body_none) = raw_as(
        &mallory,
        "GET",
        &format!(
            "/v1/blobs/{}?doc={p1}",
            ContentHash::of(b"nothing").to_hex()
        ),
        Vec::new(),
    );
    assert_eq!(
        (s, body.len()),
        (s_none, body_none.len()),
        "same answer as nothing"
    );
    // Asking to upload for P1 does not say "complete": the bytes must come.
    let (s, body) = raw_as(
        &mallory,
        "GET",
        &format!(
            "/v1/blobs/{}/upload?doc={p1}&size={}&type=image%2Fjpeg",
            att.hash.to_hex(),
            att.size
        ),
        Vec::new(),
    );
    assert_eq!(s, 200);
    let st = status_of(&body);
    assert!(!st.complete && st.offset == 0, "{st:?}");
    // An empty PUT (no bytes) does not complete it either.
    let (s, body) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{}?doc={p1}&offset=0", att.hash.to_hex()),
        Vec::new(),
    );
    assert!(s != 200 || !status_of(&body).complete);
    let (s, _) = raw_as(&colleague, "GET", &get, Vec::new());
    assert_eq!(s, 403, "P1's members do not get P2's photo either");
    // Legitimate: P2's members read it; and bytes really uploaded for P1 open it in P1.
    let doctor = member(&c, "医師", Some(Role::Reader));
    doctor
        .client()
        .fetch_attachment(&att.hash, c.room, "image/jpeg", u64::MAX, &|_, _, _| {})
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (s, body) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{}?doc={p1}&offset=0", att.hash.to_hex()),
        bytes.clone(),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(status_of(&body).complete);
    let (s, body) = raw_as(&colleague, "GET", &get, Vec::new());
    assert_eq!(s, 200);
    assert_eq!(body, bytes);
}

/// Finding 7: a hostile colleague (a writer of the same room, who sees the reference as
/// soon as the author syncs) starts "the same" upload first, or with another size, to take
/// the author's upload over or throw its bytes away. Each device's unfinished upload is its
/// own: the author resumes and finishes as if nobody had tried.
#[test]
fn another_member_can_neither_take_over_nor_discard_an_upload() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let mallory = member(&c, "同じ部屋の人", Some(Role::Writer));
    let reader = member(&c, "医師", Some(Role::Reader));
    let path = fake_photo(c.tmp.path(), 700_000, 71);
    let bytes = std::fs::read(&path).unwrap();
    let (_, att) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.client().sync_documents().unwrap();
    mallory.sync().unwrap();
    let h = att.hash.to_hex();
    let room = c.room;
    let status = |phone: &Phone, size: u64| {
        let (s, body) = raw_as(
            phone,
            "GET",
            &format!("/v1/blobs/{h}/upload?doc={room}&size={size}&type=image%2Fjpeg"),
            Vec::new(),
        );
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        status_of(&body)
    };
    // Mallory starts first and sends a little garbage.
    assert_eq!(status(&mallory, att.size).offset, 0);
    let (s, _) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset=0"),
        vec![0xAB; 1000],
    );
    assert_eq!(s, 200);
    // The author's upload is hers: she starts at zero and sends half.
    assert_eq!(status(&nurse, att.size).offset, 0, "not mallory's bytes");
    let half = bytes.len() / 2;
    let (s, body) = raw_as(
        &nurse,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset=0"),
        bytes[..half].to_vec(),
    );
    assert_eq!(
        s,
        200,
        "the author refused: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(status_of(&body).offset, half as u64);
    // Mallory declares other sizes: her own upload restarts, the author's is untouched.
    for size in [att.size + 1, 10, att.size] {
        let st = status(&mallory, size);
        assert_eq!(st.offset, 0);
        assert!(!st.complete);
    }
    let (s, _) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset=0"),
        vec![0xCD; usize::try_from(att.size).unwrap()],
    );
    assert_eq!(s, 400, "wrong bytes are refused");
    // Wrong bytes in two pieces (checked by reading them back, not while streaming).
    assert_eq!(status(&mallory, att.size).offset, 0);
    let (s, _) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset=0"),
        vec![0xEF; 1000],
    );
    assert_eq!(s, 200);
    let (s, _) = raw_as(
        &mallory,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset=1000"),
        vec![0xEF; usize::try_from(att.size).unwrap() - 1000],
    );
    assert_eq!(s, 400, "wrong resumed bytes are refused");
    // The author resumes where she was and finishes.
    let st = status(&nurse, att.size);
    assert_eq!(st.offset, half as u64, "the author's bytes were discarded");
    let (s, body) = raw_as(
        &nurse,
        "PUT",
        &format!("/v1/blobs/{h}?doc={room}&offset={half}"),
        bytes[half..].to_vec(),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(status_of(&body).complete);
    reader
        .client()
        .fetch_attachment(&att.hash, c.room, "image/jpeg", u64::MAX, &|_, _, _| {})
        .unwrap();
    let out = c.tmp.path().join("out.jpg");
    reader.client().blobs().export(&att.hash, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // The phone's own queue agrees: complete, nothing left to send.
    nurse.client().upload_attachments(&|_, _, _| {}).unwrap();
    assert!(nurse.client().blobs().pending_uploads().unwrap().is_empty());
}

/// Finding 6, restricted documents: a report shared with some members lives in a document
/// of its own whose audience is a subset of the room. Bytes uploaded for the room open in
/// such a document that references them (nothing widens); bytes uploaded for a restricted
/// document never open through the room, even when a member of the audience copies the
/// hash into a report everyone sees.
#[test]
fn a_restricted_document_reads_its_rooms_photos_but_never_the_reverse() {
    let c = city();
    let nurse = member(&c, "看護師", Some(Role::Writer));
    let doctor = member(&c, "医師", Some(Role::Writer));
    let other = member(&c, "ケアマネ", Some(Role::Reader));
    let audience = vec![nurse.author.professional, doctor.author.professional];
    let fetch = |phone: &Phone, hash: &ContentHash, doc: RoomId| {
        phone
            .client()
            .fetch_attachment(hash, doc, "image/jpeg", u64::MAX, &|_, _, _| {})
    };
    // Uploaded for the room, then referenced by a restricted report: readable there.
    let path = fake_photo(c.tmp.path(), 80_000, 81);
    let (_, shared) = nurse
        .post_with_file(c.room, "写真", &path, AttachmentKind::Photo, "image/jpeg")
        .unwrap();
    nurse.client().sync_documents().unwrap();
    upload_until_done(&nurse);
    let mut two = Phone::text("二人だけ", Some(audience.clone()));
    two.attachments.push(shared.clone());
    nurse.post(c.room, &two).unwrap();
    let restricted = nurse
        .store()
        .doc_for_report(c.room, nurse.author.professional, &two.scope)
        .unwrap()
        .id();
    assert_ne!(restricted, c.room);
    nurse.sync().unwrap();
    doctor.sync().unwrap();
    fetch(&doctor, &shared.hash, restricted).unwrap();

    // Uploaded for the restricted document only.
    let secret_path = fake_photo(c.tmp.path(), 90_000, 82);
    let blobs = nurse.client().blobs();
    let secret = kizuna_core::blobs::attach_file(
        blobs,
        &secret_path,
        AttachmentKind::Photo,
        "image/jpeg",
        None,
        None,
        None,
    )
    .unwrap();
    let mut content = Phone::text("二人だけの写真", Some(audience));
    content.attachments.push(secret.clone());
    let now = kizuna_core::Timestamp::now();
    blobs.queue_report(restricted, &content, now).unwrap();
    nurse.post(c.room, &content).unwrap();
    nurse.client().sync_documents().unwrap();
    upload_until_done(&nurse);
    doctor.sync().unwrap();
    fetch(&doctor, &secret.hash, restricted).unwrap();
    // The doctor copies its hash into a report everyone in the room sees.
    let mut copy = Phone::text("みんなへ", None);
    copy.attachments.push(secret.clone());
    doctor.post(c.room, &copy).unwrap();
    doctor.sync().unwrap();
    other.sync().unwrap();
    assert!(
        fetch(&other, &secret.hash, c.room).is_err(),
        "a restricted photo opened through its room"
    );
    let (s, _) = raw_as(
        &other,
        "GET",
        &format!("/v1/blobs/{}?doc={}", secret.hash.to_hex(), c.room),
        Vec::new(),
    );
    assert_eq!(s, 403);
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
