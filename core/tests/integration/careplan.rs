//! Care-plan CSV exchange: fixture files written from the column lists (Shift-JIS bytes made
//! here), imported into a room as the current plan with history, exported back as actuals,
//! and every kind of bad file refused with its line and column, with nothing half-imported.

use crate::fixtures::author;
use kizuna_core::careplan::{self, CarePlanError, FileKind};
use kizuna_core::people::Organisation;
use kizuna_core::{Profession, Room, RoomHandle, RoomId, RoomKind, RoomStore, Timestamp};

const KEY: [u8; 32] = [0xC4; 32];
const CM_OFFICE: &str = "1370000001";
const NURSE_OFFICE: &str = "1360000002";
const INSURER: &str = "131011";
const INSURED: &str = "0000123456";
/// 2026-04-01T00:00:00+09:00.
const APRIL_JST: i64 = 1_774_969_200_000;
const DAY: i64 = 86_400_000;

fn sjis(rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .map(|v| {
                if v.contains([',', '"', '\n']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.clone()
                }
            })
            .collect();
        let joined = line.join(",");
        let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&joined);
        assert!(!bad);
        out.extend_from_slice(&bytes);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn name(kind: &str, sender: &str, receiver: &str) -> String {
    format!("{kind}_202604_{sender}_{receiver}_20260401093000.CSV")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn table1(insured: &str) -> Vec<Vec<String>> {
    vec![s(&[
        "4.0",
        INSURER,
        insured,
        "20260325",
        "20260401",
        "3",
        "1",
        "20240401",
        "20260310",
        "20260401",
        "20270331",
        "要介護3",
        "本人「家で暮らし続けたい」、妻「夜は眠りたい」",
        "特になし",
        "褥瘡の治癒と、妻の介護負担の軽減を多職種で支える。",
        "",
        "V001",
        "ID-1",
    ])]
}

fn table2(insured: &str) -> Vec<Vec<String>> {
    let row = |issue_no: &str,
               issue: &str,
               service_no: &str,
               service: &str,
               kind: &str,
               office: &str,
               org: &str,
               freq: &str| {
        s(&[
            "4.0",
            INSURER,
            insured,
            "20260325",
            "20260401",
            issue_no,
            issue,
            "1",
            "褥瘡が治癒する",
            "仙骨部の創が縮小する（2×3cm→1×1cm）",
            "2026/04/01～2027/03/31",
            "2026/04/01～2026/09/30",
            service_no,
            service,
            "1",
            kind,
            office,
            org,
            freq,
            "2026/04/01～2026/09/30",
            "V001",
            "ID-2",
        ])
    };
    vec![
        row(
            "1",
            "床ずれを治したい",
            "1",
            "創処置、体位変換の指導",
            "訪問看護",
            NURSE_OFFICE,
            "みどり訪問看護ステーション",
            "週2回",
        ),
        row(
            "1",
            "床ずれを治したい",
            "2",
            "エアマットの貸与",
            "福祉用具貸与",
            "1370000003",
            "あおば福祉用具",
            "毎日",
        ),
        row(
            "2",
            "妻の介護負担を減らしたい",
            "1",
            "入浴介助",
            "訪問介護",
            "1370000004",
            "あおば訪問介護",
            "週3回",
        ),
    ]
}

fn table6(kind: &str, insured: &str, days: &[(usize, &str)], total: &str) -> Vec<Vec<String>> {
    let mut row = s(&[
        "4.0",
        INSURER,
        insured,
        "202604",
        "20260325",
        CM_OFFICE,
        NURSE_OFFICE,
        "みどり訪問看護ステーション",
        "13",
        "1111",
        "訪問看護Ⅰ３",
        "0900",
        "1000",
        kind,
    ]);
    let mut day_cols = vec![String::new(); 31];
    for (d, n) in days {
        day_cols[d - 1] = n.to_string();
    }
    row.extend(day_cols);
    row.extend(s(&[total, "V001", "ID-6"]));
    assert_eq!(row.len(), 48);
    vec![row]
}

fn supplement(insured: &str) -> Vec<Vec<String>> {
    vec![s(&[
        "4.0",
        INSURER,
        insured,
        "ﾔﾏﾀﾞ ﾄﾒ",
        "山田 トメ",
        "2",
        "19380512",
        "千葉県流山市おおたかの森1-2-3",
        "04-7100-0000",
        "20260310",
        "V001",
        "ID-H",
    ])]
}

/// The four plan files a care manager sends (Mondays and Thursdays of April 2026 planned).
fn plan_files() -> Vec<(String, Vec<u8>)> {
    let planned: Vec<(usize, &str)> = [2, 6, 9, 13, 16, 20, 23, 27, 30]
        .iter()
        .map(|d| (*d, "1"))
        .collect();
    vec![
        (
            name("UP1KYO", CM_OFFICE, NURSE_OFFICE),
            sjis(&table1(INSURED)),
        ),
        (
            name("UP2KYO", CM_OFFICE, NURSE_OFFICE),
            sjis(&table2(INSURED)),
        ),
        (
            name("UPPLAN", CM_OFFICE, NURSE_OFFICE),
            sjis(&table6("1", INSURED, &planned, "9")),
        ),
        (
            name("UPHOSOKU", CM_OFFICE, NURSE_OFFICE),
            sjis(&supplement(INSURED)),
        ),
    ]
}

fn patient_room(store: &RoomStore) -> RoomHandle {
    let h = store
        .add_room(Room::new(RoomId::new(), RoomKind::Patient))
        .unwrap();
    let cm = author("鈴木", Profession::CareManager);
    h.write(|r| {
        r.edit_profile(&cm, Timestamp(APRIL_JST), |p| {
            p.basic.insurer_number = Some(INSURER.into());
            p.basic.insured_number = Some(INSURED.into());
        })
    })
    .unwrap();
    h
}

fn issues(e: CarePlanError) -> Vec<careplan::CsvIssue> {
    match e {
        CarePlanError::Invalid(i) => i,
        other => panic!("expected invalid files, got {other}"),
    }
}

#[test]
fn imports_the_plan_with_history_and_exports_actuals() {
    let dir = tempfile::tempdir().unwrap();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = patient_room(&store);
    let cm = author("鈴木", Profession::CareManager);
    let sum = careplan::import(&h, &cm, Timestamp(APRIL_JST), &plan_files()).unwrap();
    assert_eq!(sum.insured_number, INSURED);
    assert_eq!(
        sum.files.iter().map(|f| (f.1, f.2)).collect::<Vec<_>>(),
        vec![
            (FileKind::Table1, 1),
            (FileKind::Table2, 3),
            (FileKind::Plan, 1),
            (FileKind::Supplement, 1)
        ]
    );

    // Read back from a fresh load of the stored room: the values survive, commas, quotes,
    // half-width kana and all.
    h.unload().unwrap();
    let current = h
        .read(|r| Ok(careplan::current(r).unwrap().unwrap()))
        .unwrap();
    assert_eq!(current.id, sum.id);
    assert_eq!(current.imported_by.professional, cm.professional);
    let t1 = &current.file(FileKind::Table1).unwrap().rows[0];
    assert_eq!(
        t1["intentions"],
        "本人「家で暮らし続けたい」、妻「夜は眠りたい」"
    );
    let t2 = &current.file(FileKind::Table2).unwrap().rows;
    assert_eq!(
        t2[0]["short_term_goal"],
        "仙骨部の創が縮小する（2×3cm→1×1cm）"
    );
    assert_eq!(t2[2]["service_content"], "入浴介助");
    assert_eq!(t2[1]["provider_code"], "1370000003");
    let hosoku = &current.file(FileKind::Supplement).unwrap().rows[0];
    assert_eq!(hosoku["kana"], "ﾔﾏﾀﾞ ﾄﾒ");
    // Every row of every file equals its fixture, column by column.
    for (i, row) in table2(INSURED).iter().enumerate() {
        let keys: Vec<&str> = FileKind::Table2.columns().iter().map(|c| c.key).collect();
        for (k, v) in keys.iter().zip(row) {
            assert_eq!(&t2[i][*k], v, "row {i} {k}");
        }
    }

    // The nurse's visits of April (and one in May, and one by another organisation).
    let nurse = {
        let mut a = author("佐藤", Profession::Nurse);
        a.organisation = "みどり訪問看護ステーション".into();
        a
    };
    let helper = {
        let mut a = author("伊藤", Profession::Helper);
        a.organisation = "あおば訪問介護".into();
        a
    };
    let at = |day: i64, hour: i64| APRIL_JST + (day - 1) * DAY + hour * 3_600_000;
    for (day, hour) in [(2, 9), (6, 9), (9, 10), (13, 9), (13, 15), (30, 9), (31, 9)] {
        let c = kizuna_core::model::ReportContent::free_text(
            Timestamp(at(day, hour)),
            "訪問。創処置。",
        );
        h.write(|r| r.post_report(&nurse, Timestamp(at(day, hour) + 3_600_000), &c))
            .unwrap();
    }
    let c = kizuna_core::model::ReportContent::free_text(Timestamp(at(3, 9)), "入浴介助。");
    h.write(|r| r.post_report(&helper, Timestamp(at(3, 10)), &c))
        .unwrap();

    let org = Organisation {
        name: "みどり訪問看護ステーション".into(),
        office_number: Some(NURSE_OFFICE.into()),
    };
    let now = Timestamp(at(31, 12)); // 2026-05-01 12:00 JST
    let (file, bytes) = careplan::export_actuals(&store, h.id(), &org, "202604", now).unwrap();
    assert_eq!(
        file,
        format!("UPJSK_202604_{NURSE_OFFICE}_{CM_OFFICE}_20260501120000.CSV")
    );
    // Shift-JIS bytes, CRLF, 48 columns: day 13 counts two visits, May is left out.
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!bad);
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    assert!(text.ends_with("\r\n"));
    let fields: Vec<&str> = text.trim_end().split(',').collect();
    assert_eq!(fields.len(), 48);
    assert_eq!(fields[13], "2");
    let days: Vec<&str> = fields[14..45].to_vec();
    assert_eq!(
        (days[1], days[5], days[8], days[12], days[29]),
        ("1", "1", "1", "2", "1")
    );
    assert_eq!(days[2], "");
    assert_eq!(fields[45], "6");

    // The exported file is itself a valid standard file: it imports as actuals, becomes
    // history, and the current plan stays the plan.
    careplan::import(&h, &nurse, now, &[(file, bytes)]).unwrap();
    let history = h.read(|r| Ok(careplan::history(r).unwrap())).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].files[0].kind(), FileKind::Actuals);
    let current = h
        .read(|r| Ok(careplan::current(r).unwrap().unwrap()))
        .unwrap();
    assert_eq!(current.id, sum.id);

    // A changed plan next month becomes current; the old one stays in history.
    let later = Timestamp(at(31, 13));
    let mut files = plan_files();
    files.truncate(2);
    let second = careplan::import(&h, &cm, later, &files).unwrap();
    let current = h
        .read(|r| Ok(careplan::current(r).unwrap().unwrap()))
        .unwrap();
    assert_eq!(current.id, second.id);
    assert_eq!(
        h.read(|r| Ok(careplan::history(r).unwrap().len())).unwrap(),
        3
    );
}

#[test]
fn bad_files_are_refused_with_line_and_column_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let store = RoomStore::open(dir.path(), &KEY).unwrap();
    let h = patient_room(&store);
    let cm = author("鈴木", Profession::CareManager);
    let heads = h.read(|r| Ok(r.heads())).unwrap();
    let try_import = |files: Vec<(String, Vec<u8>)>| {
        issues(careplan::import(&h, &cm, Timestamp(APRIL_JST), &files).unwrap_err())
    };
    let with = |i: usize, f: (String, Vec<u8>)| {
        let mut files = plan_files();
        files[i] = f;
        files
    };

    // UTF-8 instead of Shift-JIS.
    let utf8: Vec<u8> = table2(INSURED)
        .iter()
        .map(|r| r.join(",") + "\r\n")
        .collect::<String>()
        .into_bytes();
    let got = try_import(with(1, (name("UP2KYO", CM_OFFICE, NURSE_OFFICE), utf8)));
    assert!(got[0].problem.contains("UTF-8"), "{got:?}");

    // A byte that is not Shift-JIS, on line 2, in column 7.
    let mut bytes = sjis(&table2(INSURED)[..1]);
    let mut second = sjis(&table2(INSURED)[1..2]);
    let col7 = second
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b',')
        .nth(5)
        .unwrap()
        .0;
    second.insert(col7 + 1, 0x85);
    second.insert(col7 + 2, 0x20);
    bytes.extend(second);
    let got = try_import(with(1, (name("UP2KYO", CM_OFFICE, NURSE_OFFICE), bytes)));
    assert_eq!((got[0].line, got[0].column), (Some(2), Some(7)), "{got:?}");

    // A row with a column missing (line 3), and a date that is not a date (line 1, column 4).
    let mut rows = table2(INSURED);
    rows[2].pop();
    rows[0][3] = "20260231".into();
    let got = try_import(with(
        1,
        (name("UP2KYO", CM_OFFICE, NURSE_OFFICE), sjis(&rows)),
    ));
    assert!(
        got.iter()
            .any(|i| i.line == Some(3) && i.problem.contains("has 21 columns"))
    );
    let date = got.iter().find(|i| i.line == Some(1)).unwrap();
    assert_eq!(date.column, Some(4));
    assert_eq!(date.column_name.as_deref(), Some("計画作成日"));
    assert!(
        !date.to_string().contains("20260231"),
        "values are never quoted"
    );

    // Insured person's numbers that differ between files.
    let got = try_import(with(
        3,
        (
            name("UPHOSOKU", CM_OFFICE, NURSE_OFFICE),
            sjis(&supplement("0000999999")),
        ),
    ));
    assert_eq!((got[0].line, got[0].column), (Some(1), Some(3)));
    assert!(got[0].problem.contains("insured person"));

    // Files for another insured person than the room's patient.
    let other: Vec<(String, Vec<u8>)> = vec![(
        name("UP2KYO", CM_OFFICE, NURSE_OFFICE),
        sjis(&table2("0000999999")),
    )];
    let got = try_import(other);
    assert!(got[0].problem.contains("profile"), "{got:?}");

    // File names: a malformed one, and a plan whose rows name another sender and month.
    let got = try_import(with(
        0,
        ("UP1KYO_2026_04.CSV".into(), sjis(&table1(INSURED))),
    ));
    assert!(got[0].problem.starts_with("file name"));
    let got = try_import(with(
        2,
        (
            "UPPLAN_202605_1370000009_1360000002_20260401093000.CSV".into(),
            sjis(&table6("1", INSURED, &[(2, "1")], "1")),
        ),
    ));
    let cols: Vec<Option<usize>> = got.iter().map(|i| i.column).collect();
    assert!(
        cols.contains(&Some(4)) && cols.contains(&Some(6)),
        "{got:?}"
    );
    // Day counts that do not add up, and a count on 31 April.
    let got = try_import(with(
        2,
        (
            name("UPPLAN", CM_OFFICE, NURSE_OFFICE),
            sjis(&table6("1", INSURED, &[(2, "1"), (31, "1")], "1")),
        ),
    ));
    let cols: Vec<Option<usize>> = got.iter().map(|i| i.column).collect();
    assert_eq!(cols, vec![Some(45), Some(46)]);

    // After all of that, the room is exactly as it was.
    assert_eq!(h.read(|r| Ok(r.heads())).unwrap(), heads);
    assert!(
        h.read(|r| Ok(careplan::history(r).unwrap()))
            .unwrap()
            .is_empty()
    );
    // And the good files still import.
    careplan::import(&h, &cm, Timestamp(APRIL_JST), &plan_files()).unwrap();
}
