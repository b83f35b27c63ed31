//! W5, search on the phone (`docs/workloads.md`): one device holding 30 patient
//! rooms of ten years each (~100,000 reports), and the query latencies and index size of
//! `kizuna_core::search` over them.

use crate::measure::{files_containing, proc_status_mb, report_median, report_value, time_ms};
use crate::prose;
use crate::workload::{W1_START_MS, report_content, w1_team};
use kizuna_core::search::{SearchIndex, SearchQuery};
use kizuna_core::{CommentId, ReportId, Room, RoomId, RoomKind, RoomStore, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The store key the benchmark uses (benchmarks hold generated data only).
pub const BENCH_KEY: [u8; 32] = [0xB5; 32];
const DAY_MS: i64 = 86_400_000;

/// Patients' family names (kanji, katakana) and given names.
const FAMILY: &[(&str, &str)] = &[
    ("山田", "ヤマダ"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山本", "ヤマモト"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("清水", "シミズ"),
    ("山口", "ヤマグチ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
];
const GIVEN: &[(&str, &str)] = &[
    ("トメ", "トメ"),
    ("清", "キヨシ"),
    ("ハル", "ハル"),
    ("正雄", "マサオ"),
    ("キヨ", "キヨ"),
    ("茂", "シゲル"),
];

/// Two-character keywords of the generated prose.
pub const KW2: &[&str] = &[
    "発赤", "浸軟", "冷感", "摘便", "吸引", "血糖", "転倒", "脱水", "便秘", "体位", "浮腫", "口腔",
];
/// Four-character keywords of the generated prose.
pub const KW4: &[&str] = &[
    "表皮剥離",
    "肉芽良好",
    "体位変換",
    "陰部洗浄",
    "口腔ケア",
    "入浴介助",
    "血糖測定",
    "認知機能",
    "栄養状態",
    "介護負担",
];

/// The patient of room `i`: (name, kana).
pub fn patient(i: usize) -> (String, String) {
    let (f, fk) = FAMILY[i % FAMILY.len()];
    let (g, gk) = GIVEN[(i / FAMILY.len() + i) % GIVEN.len()];
    (format!("{f} {g}"), format!("{fk} {gk}"))
}

/// Katakana to hiragana, for queries typed in hiragana.
pub fn hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            c => c,
        })
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// One W5 room: `days` daily reports (SOAP, vitals, a photo with its caption, one reply),
/// and the patient's profile with name and kana.
pub fn w5_room(seed: u64, index: usize, days: usize) -> Room {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let team = w1_team(seed ^ index as u64);
    let id = RoomId(uuid::Uuid::from_u128(rng.random()));
    let mut room = Room::new(id, RoomKind::Patient);
    let (name, kana) = patient(index);
    let _ = room.edit_profile(&team[2], Timestamp(W1_START_MS), |p| {
        p.basic.name = Some(name);
        p.basic.kana = Some(kana);
        p.medical.allergies = vec!["ペニシリン".into()];
    });
    for day in 0..days {
        let author = &team[day % team.len()];
        let care_time = Timestamp(W1_START_MS + day as i64 * DAY_MS + 10 * 3_600_000);
        let post_time = care_time.plus_millis(3_600_000);
        let mut content = report_content(&mut rng, care_time);
        if day % 7 == 0 {
            content.must_read = vec![team[0].professional];
        }
        let rid = ReportId(uuid::Uuid::from_u128(rng.random()));
        if room
            .post_report_with_id(author, post_time, rid, &content)
            .is_err()
        {
            continue;
        }
        let who = &team[(day + 1) % team.len()];
        let cid = CommentId(uuid::Uuid::from_u128(rng.random()));
        let text = prose::comment(&mut rng);
        let _ = room.add_comment_with_id(who, post_time.plus_millis(7_200_000), rid, cid, &text);
    }
    room.take_touched();
    room
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// Builds the W5 store in `dir` (rooms built on two threads), indexes it, and prints the
/// build figures.
pub fn build(dir: &Path, seed: u64, rooms: usize, days: usize) -> Res {
    let store = RoomStore::open(dir, &BENCH_KEY)?;
    let (build_ms, built) = time_ms(|| {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|w| {
                    let store = store.clone();
                    s.spawn(move || -> Result<usize, String> {
                        let mut n = 0;
                        for i in (w..rooms).step_by(2) {
                            let room = w5_room(seed, i, days);
                            store.add_room(room).map_err(|e| e.to_string())?;
                            n += days;
                        }
                        Ok(n)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().map_err(|_| "a builder panicked".to_string())?)
                .sum::<Result<usize, String>>()
        })
    });
    let reports = built?;
    report_value("w5", "reports", reports as f64, "reports");
    report_value("w5", "corpus_build_ms", build_ms, "ms");
    let index = SearchIndex::open(&store)?;
    let (index_ms, r) = time_ms(|| index.refresh());
    let r = r?;
    report_value("w5", "index_build_ms", index_ms, "ms");
    report_value("w5", "indexed_entries", r.entries as f64, "entries");
    report_value("w5", "index_bytes", index.stored_bytes()? as f64, "B");
    report_value(
        "w5",
        "store_bytes",
        crate::measure::dir_bytes(dir) as f64,
        "B",
    );
    Ok(())
}

/// Opens the W5 store and its index in this (fresh) process and measures queries, incremental
/// refresh and memory.
pub fn query(dir: &Path, seed: u64, rooms: usize, days: usize, runs: usize) -> Res {
    let store = RoomStore::open(dir, &BENCH_KEY)?;
    let (open_ms, index) = time_ms(|| SearchIndex::open(&store));
    let index = index?;
    report_value("w5", "index_open_ms", open_ms, "ms");
    report_value("w5", "rss_index_open_mb", proc_status_mb("VmRSS:"), "MiB");
    report_value(
        "w5",
        "index_memory_bytes",
        index.stats().memory_bytes as f64,
        "B",
    );
    let (noop_ms, r) = time_ms(|| index.refresh());
    if r?.docs != 0 {
        return Err("the index was not current after the build".into());
    }
    report_value("w5", "refresh_unchanged_ms", noop_ms, "ms");

    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EA4C);
    let span_days = days.max(31) as i64;
    let mut kinds: Vec<(&str, Vec<f64>, usize)> = Vec::new();
    for kind in ["kw2", "kw4", "kw_date", "kana_name", "kw1"] {
        let mut samples = Vec::with_capacity(runs);
        let mut empty = 0;
        for i in 0..runs {
            let mut q = match kind {
                "kw2" => SearchQuery::new(KW2[i % KW2.len()]),
                "kw4" => SearchQuery::new(KW4[i % KW4.len()]),
                "kw_date" => {
                    let start = rng.random_range(0..span_days - 30);
                    let mut q = SearchQuery::new(KW2[i % KW2.len()]);
                    q.from = Some(Timestamp(W1_START_MS + start * DAY_MS));
                    q.to = Some(Timestamp(W1_START_MS + (start + 30) * DAY_MS));
                    q
                }
                "kana_name" => {
                    let (_, kana) = patient(i % rooms.max(1));
                    SearchQuery::new(hiragana(&kana))
                }
                _ => SearchQuery::new(["瘡", "浮", "痰", "膝"][i % 4]),
            };
            q.limit = 30;
            let (ms, res) = time_ms(|| index.search(&q));
            if res?.hits.is_empty() {
                empty += 1;
            }
            samples.push(ms);
        }
        kinds.push((kind, samples, empty));
    }
    for (kind, samples, empty) in &kinds {
        // Both figures carry the median and the p99 of the same runs.
        report_median("w5", &format!("p50_ms_{kind}"), samples, "ms");
        report_median("w5", &format!("p99_ms_{kind}"), samples, "ms");
        report_value("w5", &format!("empty_{kind}"), *empty as f64, "queries");
    }

    // Incremental: one new report in one room, then the refresh that picks it up.
    let handle = store.open_room(store.rooms()?[0].id)?;
    let team = w1_team(seed);
    let now = Timestamp(W1_START_MS + days as i64 * DAY_MS);
    let mut content = report_content(&mut rng, now);
    content.body = kizuna_core::model::ReportBody::Free {
        text: "新しい記録：ベンチマーク用の目印テキスト".into(),
    };
    handle.write(|r| r.post_report(&team[0], now, &content))?;
    let (ms, r) = time_ms(|| index.refresh());
    if r?.entries != 1 {
        return Err("the refresh did not index exactly the new report".into());
    }
    report_value("w5", "refresh_one_report_ms", ms, "ms");
    if index.search(&SearchQuery::new("目印テキスト"))?.hits.len() != 1 {
        return Err("the new report is not found".into());
    }
    report_value("w5", "peak_rss_mb", proc_status_mb("VmHWM:"), "MiB");
    let hits = ["表皮剥離", "ペニシリン", "ヤマダ"]
        .iter()
        .map(|s| files_containing(dir, s.as_bytes()).len())
        .sum::<usize>();
    report_value("w5", "plaintext_hits", hits as f64, "files");
    if hits > 0 {
        return Err("indexed text found in plain bytes in the store".into());
    }
    Ok(())
}
