//! Reading, writing and checking care-plan files.

use super::*;

#[test]
fn column_counts_follow_the_lists() {
    assert_eq!(TABLE2.len(), 22);
    assert_eq!(TABLE6.len(), 48);
    assert_eq!(TABLE6[14].key, "day_01");
    assert_eq!(TABLE6[44].key, "day_31");
    for kind in FileKind::ALL {
        let cols = kind.columns();
        assert_eq!(cols[2].key, "insured_number");
        let mut keys: Vec<_> = cols.iter().map(|c| c.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), cols.len(), "{kind:?}");
    }
}

#[test]
fn file_names_are_checked() {
    let n = FileName::parse("in/UP2KYO_202604_1234567890_0987654321_20260401093000.CSV").unwrap();
    assert_eq!(n.kind, FileKind::Table2);
    assert_eq!(
        n.render(),
        "UP2KYO_202604_1234567890_0987654321_20260401093000.CSV"
    );
    for bad in [
        "UP2KYO_202613_1234567890_0987654321_20260401093000.CSV",
        "UP3KYO_202604_1234567890_0987654321_20260401093000.CSV",
        "UP2KYO_202604_123456789_0987654321_20260401093000.CSV",
        "UP2KYO_202604_1234567890_0987654321_20260431093000.CSV",
        "UP2KYO_202604_1234567890_0987654321_20260401093000.TXT",
        "UP2KYO_202604_1234567890_20260401093000.CSV",
    ] {
        assert!(FileName::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn reads_quotes_and_places_bad_bytes() {
    let rows = vec![
        vec!["a".to_string(), "褥瘡, \"仙骨部\"\n二行目".to_string()],
        vec!["ｶﾅ".to_string(), "髙橋".to_string()],
    ];
    let bytes = write("f", &rows).unwrap();
    let back = read("f", &bytes).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].fields, rows[0]);
    assert_eq!(back[1].fields, rows[1]);
    assert_eq!(back[1].line, 3);
    let mut broken = bytes.clone();
    broken.extend_from_slice(b"ok,\x82\r\n");
    let issues = read("f", &broken).unwrap_err();
    assert_eq!((issues[0].line, issues[0].column), (Some(4), Some(2)));
    let utf8 = "a,褥瘡\r\n".as_bytes();
    assert!(read("f", utf8).unwrap_err()[0].problem.contains("UTF-8"));
    assert!(write("f", &[vec!["🙂".to_string()]]).is_err());
}
