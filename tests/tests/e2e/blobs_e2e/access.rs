//! Who may read or write which bytes: strangers, other rooms, restricted documents, a
//! hostile colleague, the consent form.

use super::{MARKER, city, fake_photo, member, upload_until_done};
use kizuna_core::model::AttachmentKind;
use kizuna_core::{ContentHash, Profession, Role, RoomId};
use kizuna_testkit::Phone;

/// A raw request with `phone`'s certificate: (status, body).
fn raw_as(phone: &Phone, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    phone
        .raw_request(method, path, "application/octet-stream", body)
        .unwrap()
}

fn status_of(body: &[u8]) -> kizuna_core::blobs::UploadStatus {
    serde_json::from_slice(body).unwrap()
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
