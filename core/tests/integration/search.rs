//! Search on the device: Japanese variants (kana, kanji readings, width, variant kanji),
//! filters and ordering, visibility of restricted reports, incremental refresh keyed by
//! heads, reopening, rebuilding, and an index that is encrypted at rest.

use crate::fixtures::{author, soap};
use kizuna_core::model::{AttachmentKind, AttachmentRef, Importance, ReportContent, ShareScope};
use kizuna_core::search::{HitKind, SearchIndex, SearchQuery};
use kizuna_core::{
    Author, ContentHash, Profession, ReportId, Room, RoomHandle, RoomId, RoomKind, RoomStore,
    Timestamp,
};
use std::path::Path;

const KEY: [u8; 32] = [0x5E; 32];
const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn text(at: i64, body: &str) -> ReportContent {
    ReportContent::free_text(Timestamp(at), body)
}

fn post(h: &RoomHandle, who: &Author, content: &ReportContent) -> ReportId {
    h.write(|r| r.post_report(who, content.care_time.plus_millis(60_000), content))
        .unwrap()
}

fn ids(index: &SearchIndex, q: &SearchQuery) -> Vec<ReportId> {
    index
        .search(q)
        .unwrap()
        .hits
        .iter()
        .filter_map(|h| h.report)
        .collect()
}

fn find(index: &SearchIndex, text: &str) -> Vec<ReportId> {
    ids(index, &SearchQuery::new(text))
}

#[test]
fn finds_kana_kanji_width_and_variant_forms() {
    let dir = tempfile::tempdir().unwrap();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let nurse = author("髙橋 看護師", Profession::Nurse);
    let h = store
        .add_room(Room::new(RoomId::new(), RoomKind::Patient))
        .unwrap();
    h.write(|r| {
        r.edit_profile(&nurse, Timestamp(T0), |p| {
            p.basic.name = Some("渡邊 ハナ".into());
            p.basic.kana = Some("ワタナベ ハナ".into());
            p.medical.allergies = vec!["ペニシリン".into()];
        })
    })
    .unwrap();
    let gauze_full = post(
        &h,
        &nurse,
        &text(T0 + DAY, "仙骨部の褥瘡にガーゼを当てた。"),
    );
    let gauze_half = post(&h, &nurse, &text(T0 + 2 * DAY, "ｶﾞｰｾﾞ交換、滲出液少量。"));
    let hira = post(
        &h,
        &nurse,
        &text(T0 + 3 * DAY, "じょくそうの周囲に発赤なし。"),
    );
    let spo2 = post(
        &h,
        &nurse,
        &text(T0 + 4 * DAY, "ＳｐＯ２ ９６％、呼吸苦なし。"),
    );
    let mut photo = text(T0 + 5 * DAY, "写真のみ。");
    photo.attachments.push(AttachmentRef {
        hash: ContentHash::of(b"photo"),
        kind: AttachmentKind::Photo,
        media_type: "image/jpeg".into(),
        size: 10,
        caption: Some("右踵部の水疱".into()),
        captured_at: None,
        thumbnail: None,
    });
    let captioned = post(&h, &nurse, &photo);
    let commented = post(&h, &nurse, &text(T0 + 6 * DAY, "訪問した。"));
    h.write(|r| {
        r.add_comment(
            &nurse,
            Timestamp(T0 + 7 * DAY),
            commented,
            "髙橋医師へ報告済み",
        )
    })
    .unwrap();

    let index = SearchIndex::open_current(&store).unwrap();
    // Katakana, hiragana and half-width find the same words, newest first.
    assert_eq!(find(&index, "ガーゼ"), vec![gauze_half, gauze_full]);
    assert_eq!(find(&index, "がーぜ"), vec![gauze_half, gauze_full]);
    assert_eq!(find(&index, "ｶﾞｰｾﾞ"), vec![gauze_half, gauze_full]);
    // Kanji and its reading in kana find each other.
    assert_eq!(find(&index, "褥瘡"), vec![hira, gauze_full]);
    assert_eq!(find(&index, "ジョクソウ"), vec![hira, gauze_full]);
    // Full-width Latin and digits, case.
    assert_eq!(find(&index, "spo2"), vec![spo2]);
    assert_eq!(find(&index, "SpO2 96%"), vec![spo2]);
    // Captions and replies; variant kanji (髙 = 高).
    assert_eq!(find(&index, "水疱"), vec![captioned]);
    assert_eq!(find(&index, "高橋"), vec![commented]);
    // One character, including the last character of a field.
    assert_eq!(find(&index, "疱"), vec![captioned]);
    // Nothing for words that are not there, nor for bigrams that only occur apart.
    assert!(find(&index, "胃瘻").is_empty());
    // Every bigram of 東京都 is in 東京と京都, but the word is not: the text check drops it.
    let tokyo = post(&h, &nurse, &text(T0 + 8 * DAY, "東京と京都の病院。"));
    index.refresh().unwrap();
    assert_eq!(find(&index, "京都"), vec![tokyo]);
    assert!(find(&index, "東京都").is_empty());

    // The patient's name in kana (hiragana, half-width, spaces) finds the profile.
    for q in ["わたなべ", "ﾜﾀﾅﾍﾞ ﾊﾅ", "渡辺", "ペニシリン"] {
        let res = index.search(&SearchQuery::new(q)).unwrap();
        assert_eq!(res.hits.len(), 1, "{q}");
        assert_eq!(res.hits[0].kind, HitKind::Profile);
        assert_eq!(res.hits[0].room, h.id());
    }

    // Snippets show the original text with the match highlighted.
    let res = index.search(&SearchQuery::new("がーぜ")).unwrap();
    let hit = &res.hits[0];
    assert_eq!(hit.field, "text");
    let (a, b) = hit.highlight.unwrap();
    let shown: String = hit
        .snippet
        .chars()
        .skip(a as usize)
        .take((b - a) as usize)
        .collect();
    assert_eq!(shown, "ｶﾞｰｾﾞ");
    assert_eq!(hit.author_name, "髙橋 看護師");
    assert_eq!(hit.profession, Some(Profession::Nurse));
}

#[test]
fn filters_dates_and_orders_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let a = store
        .add_room(Room::new(RoomId::new(), RoomKind::Patient))
        .unwrap();
    let b = store
        .add_room(Room::new(RoomId::new(), RoomKind::Patient))
        .unwrap();
    let mut posted = Vec::new();
    // 200 days of reports across two rooms; every tenth by the doctor, asks the nurse to
    // read and is ☆☆☆.
    for day in 0..200i64 {
        let (h, who) = if day % 10 == 0 {
            (&a, &doctor)
        } else if day % 2 == 0 {
            (&a, &nurse)
        } else {
            (&b, &nurse)
        };
        let mut c = soap(T0 + day * DAY, &format!("第{day}日"));
        if day % 10 == 0 {
            c.importance = Importance::HIGH;
            c.must_read = vec![nurse.professional];
        }
        posted.push((day, h.id(), post(h, who, &c)));
    }
    let index = SearchIndex::open_current(&store).unwrap();

    let mut q = SearchQuery::new("褥瘡");
    q.limit = 500;
    let all = index.search(&q).unwrap();
    assert_eq!(all.hits.len(), 200);
    assert!(
        all.hits
            .windows(2)
            .all(|w| w[0].care_time >= w[1].care_time)
    );
    assert_eq!(all.hits[0].report, Some(posted[199].2));

    // Date range: days 30 to 39 (from inclusive, to exclusive).
    let mut q = SearchQuery::new("発赤");
    q.from = Some(Timestamp(T0 + 30 * DAY));
    q.to = Some(Timestamp(T0 + 40 * DAY));
    let got = ids(&index, &q);
    let want: Vec<ReportId> = posted[30..40].iter().rev().map(|p| p.2).collect();
    assert_eq!(got, want);

    // Room, author, profession, importance, must-read-me.
    let mut q = SearchQuery::new("");
    q.rooms = vec![b.id()];
    q.limit = 500;
    assert_eq!(index.search(&q).unwrap().hits.len(), 100);
    let mut q = SearchQuery::new("体位変換");
    q.authors = vec![doctor.professional];
    assert_eq!(index.search(&q).unwrap().hits.len(), 20);
    let mut q = SearchQuery::new("体位変換");
    q.professions = vec![Profession::Doctor];
    q.min_importance = Some(3);
    q.must_read = Some(nurse.professional);
    q.limit = 5;
    let page = index.search(&q).unwrap();
    assert_eq!(page.hits.len(), 5);
    assert!(page.more);
    assert_eq!(page.hits[0].report, Some(posted[190].2));
    q.offset = 15;
    let last = index.search(&q).unwrap();
    assert_eq!(last.hits.len(), 5);
    assert!(!last.more);
    assert_eq!(last.hits[4].report, Some(posted[0].2));
    // A keyword plus its day number: both terms must match.
    assert_eq!(find(&index, "褥瘡 第123日"), vec![posted[123].2]);
}

#[test]
fn restricted_reports_never_reach_anyone_outside_their_audience() {
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let helper = author("伊藤", Profession::Helper);
    let room = RoomId::new();
    // The nurse's device: the room and the restricted document for nurse + doctor.
    let nurse_dir = tempfile::tempdir().unwrap();
    let nurse_store = RoomStore::open(nurse_dir.path(), &KEY).unwrap();
    let main = nurse_store
        .add_room(Room::new(room, RoomKind::Patient))
        .unwrap();
    post(&main, &nurse, &text(T0, "褥瘡の処置を行った。"));
    let mut secret = text(T0 + DAY, "褥瘡について家族には内密に相談したい。");
    secret.scope = ShareScope::Members {
        members: vec![doctor.professional],
    };
    let scoped = nurse_store
        .doc_for_report(room, nurse.professional, &secret.scope)
        .unwrap();
    let secret_id = post(&scoped, &nurse, &secret);
    let index = SearchIndex::open_current(&nurse_store).unwrap();
    assert_eq!(find(&index, "褥瘡").len(), 2);
    let hit = &index.search(&SearchQuery::new("内密")).unwrap().hits[0];
    assert!(hit.restricted);
    assert_eq!(hit.room, room);
    assert_eq!(hit.doc, scoped.id());

    // A store holding every document (as the relay's does): the viewer filter keeps the
    // restricted report from the helper, and shows it to the doctor.
    for (viewer, n) in [(&helper, 1), (&doctor, 2), (&nurse, 2)] {
        let mut q = SearchQuery::new("褥瘡");
        q.viewer = Some(viewer.professional);
        assert_eq!(index.search(&q).unwrap().hits.len(), n);
    }

    // The helper's device receives only what it may see: the main document.
    let helper_dir = tempfile::tempdir().unwrap();
    let helper_store = RoomStore::open(helper_dir.path(), &KEY).unwrap();
    let bytes = main.read(|r| Ok(r.save())).unwrap();
    let heads = main.read(|r| Ok(r.heads())).unwrap();
    helper_store
        .add_synced_room(Room::load(room, &bytes).unwrap(), heads)
        .unwrap();
    let helper_index = SearchIndex::open_current(&helper_store).unwrap();
    assert_eq!(find(&helper_index, "褥瘡").len(), 1);
    for q in ["内密", "家族", "相談"] {
        assert!(find(&helper_index, q).is_empty(), "{q}");
    }
    assert!(!find(&helper_index, "").contains(&secret_id));
}

#[test]
fn stays_current_through_writes_sync_reopen_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let doctor = author("田中", Profession::Doctor);
    let room = RoomId::new();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = store.add_room(Room::new(room, RoomKind::Patient)).unwrap();
    let first = post(&h, &nurse, &text(T0, "右踵部に水疱あり。"));
    let index = SearchIndex::open_current(&store).unwrap();
    assert_eq!(find(&index, "水疱"), vec![first]);

    // Nothing changed: nothing is re-indexed.
    let r = index.refresh().unwrap();
    assert_eq!((r.docs, r.entries), (0, 0));

    // A local write, then a refresh of that document only.
    let second = post(&h, &nurse, &text(T0 + DAY, "水疱は破れずに経過。"));
    let r = index.refresh_docs(&[room]).unwrap();
    assert_eq!((r.docs, r.entries), (1, 1));
    assert_eq!(find(&index, "水疱"), vec![second, first]);

    // A read receipt changes the report but not its text.
    h.write(|r| r.mark_read(&doctor, Timestamp(T0 + DAY), first))
        .unwrap();
    let r = index.refresh().unwrap();
    assert_eq!((r.entries, r.attributes_only), (0, 1));

    // An edit replaces the old text in the index.
    h.write(|r| {
        r.edit_report(&nurse, Timestamp(T0 + 2 * DAY), first, |c| {
            c.body = kizuna_core::model::ReportBody::Free {
                text: "右踵部に発赤あり、水疱はなし。".into(),
            }
        })
    })
    .unwrap();
    index.refresh().unwrap();
    assert_eq!(find(&index, "発赤"), vec![first]);
    assert!(find(&index, "右踵部に水疱").is_empty());

    // Changes arriving from another device (as sync applies them), found after the hook.
    let mut other = h
        .read(|r| Ok(Room::load(room, &r.save()).unwrap()))
        .unwrap();
    let before = other.heads();
    let remote = other
        .post_report(
            &doctor,
            Timestamp(T0 + 3 * DAY),
            &text(T0 + 3 * DAY, "往診。水疱を確認。"),
        )
        .unwrap();
    other
        .add_comment(
            &doctor,
            Timestamp(T0 + 3 * DAY),
            second,
            "ゲーベン処方しました",
        )
        .unwrap();
    h.apply_remote(&other.save_after(&before)).unwrap();
    let sync = kizuna_core::sync::device::SyncReport {
        updated: vec![room],
        ..Default::default()
    };
    let r = index.after_sync(&sync).unwrap();
    assert_eq!(r.entries, 2);
    assert_eq!(find(&index, "水疱"), vec![remote, second, first]);
    assert_eq!(find(&index, "ゲーベン"), vec![second]);

    // Reopened from disk: the same answers without re-indexing.
    drop(index);
    let index = SearchIndex::open(&store).unwrap();
    assert_eq!(find(&index, "水疱"), vec![remote, second, first]);
    assert_eq!(index.refresh().unwrap().docs, 0);

    // Rebuilt from scratch: the same answers.
    index.rebuild().unwrap();
    assert_eq!(find(&index, "水疱"), vec![remote, second, first]);
    assert_eq!(find(&index, "げーべん"), vec![second]);

    // The room leaves the device: its entries leave the index.
    store.remove_room(room).unwrap();
    assert_eq!(index.refresh().unwrap().removed, 1);
    assert!(find(&index, "水疱").is_empty());
    assert_eq!(index.stats().docs, 0);
}

#[test]
fn many_changes_fold_the_delta_into_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = store
        .add_room(Room::new(RoomId::new(), RoomKind::Patient))
        .unwrap();
    post(&h, &nurse, &text(T0, "初回訪問。"));
    let index = SearchIndex::open_current(&store).unwrap();
    let mut posted = Vec::new();
    for i in 0..300i64 {
        posted.push(post(
            &h,
            &nurse,
            &soap(T0 + i * 3_600_000, &format!("記録{i}番")),
        ));
        if i % 100 == 99 {
            index.refresh().unwrap();
        }
    }
    let r = index.refresh().unwrap();
    assert_eq!(r.docs, 0);
    let mut q = SearchQuery::new("褥瘡");
    q.limit = 1000;
    assert_eq!(index.search(&q).unwrap().hits.len(), 300);
    assert_eq!(find(&index, "記録250番"), vec![posted[250]]);
    let reopened = SearchIndex::open(&store).unwrap();
    assert_eq!(find(&reopened, "記録7番"), vec![posted[7]]);
    assert_eq!(reopened.search(&q).unwrap().hits.len(), 300);
}

#[test]
fn the_index_is_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let nurse = author("佐藤", Profession::Nurse);
    {
        let store = RoomStore::open(dir.path(), &KEY).unwrap();
        let h = store
            .add_room(Room::new(RoomId::new(), RoomKind::Patient))
            .unwrap();
        for i in 0..20 {
            post(&h, &nurse, &soap(T0 + i, "ゲーベンクリーム塗布"));
        }
        let index = SearchIndex::open_current(&store).unwrap();
        assert!(index.stored_bytes().unwrap() > 1_000);
        assert_eq!(find(&index, "ゲーベン").len(), 20);
    }
    for needle in ["ゲーベン", "褥瘡", "仙骨部"] {
        assert!(!contains(dir.path(), needle.as_bytes()), "{needle}");
    }
}

fn contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains(&p, needle)
        } else {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}
