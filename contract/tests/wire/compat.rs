//! Every body, serialised from today's relay type and from the contract's.

use crate::server_today as t;
use crate::{both_read, same};
use kizuna_contract as c;
use kizuna_core::careplan::{FileKind, ImportSummary};
use kizuna_core::model::report::AuthorInfo;
use kizuna_core::model::{Consent, Importance, Notice, NoticeContent};
use kizuna_core::{
    ContentHash, Date, DeviceId, EntryId, NoticeId, Organisation, Profession, ProfessionalId, Role,
    RoomId, RoomKind, Timestamp,
};
use std::collections::BTreeMap;

fn org(number: Option<&str>) -> Organisation {
    Organisation {
        name: "みどり訪問看護ステーション".into(),
        office_number: number.map(str::to_string),
    }
}

fn consent(full: bool) -> Consent {
    Consent {
        given_by: "山田 花子".into(),
        relation: "長女".into(),
        date: Date::new(2026, 4, 1).unwrap(),
        obtained_by: "佐藤 美咲".into(),
        obtained_by_id: full.then(ProfessionalId::new),
        form: full.then(|| ContentHash::of(b"scan")),
    }
}

#[test]
fn enrollment_bodies() {
    same::<_, c::enrollment::EnrollCodeRequest>(&t::EnrollCodeRequest {
        valid_hours: Some(48),
    });
    same::<_, c::enrollment::EnrollCodeRequest>(&t::EnrollCodeRequest { valid_hours: None });
    assert!(both_read::<
        t::EnrollCodeRequest,
        c::enrollment::EnrollCodeRequest,
    >("{}"));
    assert!(!both_read::<
        t::EnrollCodeRequest,
        c::enrollment::EnrollCodeRequest,
    >(r#"{"valid_hours":1,"x":1}"#));
    same::<_, c::enrollment::EnrollCodeResponse>(&t::EnrollCodeResponse {
        professional: ProfessionalId::new(),
        code: "ABCD-EFGH-JKLM".into(),
        expires_at: Timestamp(1_775_000_000_000),
        relay_url: "https://relay.example:8443".into(),
        ca_fingerprint: format!("sha256:{}", "ab".repeat(32)),
        qr_payload: "kizuna://enroll?v=1&relay=https%3A%2F%2Frelay.example%3A8443&ca=sha256:ab&code=ABCD-EFGH-JKLM".into(),
    });
    same::<_, c::enrollment::EnrollRequest>(&t::EnrollRequest {
        code: "ABCD-EFGH-JKLM".into(),
        csr_pem: "-----BEGIN CERTIFICATE REQUEST-----\n…".into(),
        label: Some("iPhone 15".into()),
    });
    // Without a label the relay wrote `"label":null`, the phone left it out: both are read
    // the same by both types; the contract leaves it out.
    for json in [
        r#"{"code":"A","csr_pem":"P"}"#,
        r#"{"code":"A","csr_pem":"P","label":null}"#,
    ] {
        assert!(both_read::<t::EnrollRequest, c::enrollment::EnrollRequest>(
            json
        ));
    }
    assert!(
        !both_read::<t::EnrollRequest, c::enrollment::EnrollRequest>(
            r#"{"code":"A","csr_pem":"P","extra":1}"#
        )
    );
    same::<_, c::enrollment::EnrollResponse>(&t::EnrollResponse {
        professional: ProfessionalId::new(),
        device: DeviceId::new(),
        certificate_pem: "-----BEGIN CERTIFICATE-----\n…".into(),
        ca_pem: "-----BEGIN CERTIFICATE-----\n…".into(),
    });
}

fn me() -> t::MeResponse {
    t::MeResponse {
        professional: t::MeProfessional {
            id: ProfessionalId::new(),
            name: "佐藤 美咲".into(),
            kana: "さとう みさき".into(),
            profession: Profession::Nurse,
            profession_ja: Profession::Nurse.label_ja().into(),
            organisation: org(Some("1234567890")),
            administrator: false,
        },
        device: t::MeDevice {
            id: DeviceId::new(),
            label: "iPhone".into(),
            enrolled_at: Timestamp(1_775_000_000_000),
        },
        rooms: [
            RoomKind::Patient,
            RoomKind::CityNotices,
            RoomKind::Alerts,
            RoomKind::Direct,
        ]
        .into_iter()
        .map(|kind| t::MeRoom {
            id: RoomId::new(),
            kind,
            display_name: "山田 太郎".into(),
            role: if kind == RoomKind::Patient {
                Role::Writer
            } else {
                Role::Reader
            },
        })
        .collect(),
    }
}

#[test]
fn me_and_direct() {
    let json = same::<_, c::me::MeResponse>(&me());
    // What the phone reads by hand today (`refresh_me`) is where the contract puts it.
    let parsed: c::me::MeResponse = serde_json::from_str(&json).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(raw["professional"]["name"], parsed.professional.name);
    assert_eq!(
        raw["professional"]["organisation"]["name"],
        parsed.professional.organisation.name
    );
    assert_eq!(
        raw["rooms"][0]["display_name"],
        parsed.rooms[0].display_name
    );
    assert_eq!(raw["rooms"][0]["id"], parsed.rooms[0].id.to_string());
    same::<_, c::me::MeRoom>(&me().rooms[0]);
    same::<_, c::me::DirectRequest>(&t::DirectRequest {
        with: ProfessionalId::new(),
    });
}

fn professional(removed: bool) -> t::Professional {
    t::Professional {
        id: ProfessionalId::new(),
        name: "田中 一郎".into(),
        kana: "たなか いちろう".into(),
        profession: Profession::CareManager,
        organisation: org(None),
        registered_at: Timestamp(1_700_000_000_000),
        removed_at: removed.then_some(Timestamp(1_760_000_000_000)),
    }
}

fn device(revoked: bool, seen: bool) -> t::Device {
    t::Device {
        id: DeviceId::new(),
        professional: ProfessionalId::new(),
        label: "Pixel".into(),
        enrolled_at: Timestamp(1_700_000_000_000),
        cert_fingerprint: "cd".repeat(32),
        revoked_at: revoked.then_some(Timestamp(1_760_000_000_000)),
        wipe: revoked,
        last_seen: seen.then_some(Timestamp(1_765_000_000_000)),
    }
}

#[test]
fn directory_views_are_the_storage_records_json() {
    for removed in [false, true] {
        same::<_, c::directory::ProfessionalView>(&professional(removed));
    }
    for (revoked, seen) in [(false, false), (false, true), (true, false), (true, true)] {
        same::<_, c::directory::DeviceView>(&device(revoked, seen));
    }
    same::<_, c::directory::DirectoryView>(&t::DirectoryView {
        professionals: vec![professional(false), professional(true)],
        devices: vec![device(false, true), device(true, false)],
        organisations: vec![org(None), org(Some("1234567890"))],
    });
    same::<_, c::directory::NewProfessional>(&t::NewProfessional {
        name: "田中 一郎".into(),
        kana: "たなか いちろう".into(),
        profession: Profession::Doctor,
        organisation: org(Some("0000000001")),
    });
    same::<_, c::directory::RevokeRequest>(&t::RevokeRequest { wipe: true });
    assert!(both_read::<t::RevokeRequest, c::directory::RevokeRequest>(
        "{}"
    ));
}

fn room_view(archived: bool, consented: bool) -> t::RoomView {
    t::RoomView {
        id: RoomId::new(),
        kind: RoomKind::Patient,
        display_name: "山田 太郎".into(),
        consent: consented.then(|| consent(archived)),
        created_at: Timestamp(1_700_000_000_000),
        archived_at: archived.then_some(Timestamp(1_760_000_000_000)),
        members: vec![t::MemberView {
            professional: ProfessionalId::new(),
            name: "佐藤 美咲".into(),
            profession: Profession::Nurse,
            role: Role::Writer,
        }],
    }
}

#[test]
fn room_bodies() {
    for (a, b) in [(false, false), (false, true), (true, true)] {
        same::<_, c::rooms::RoomView>(&room_view(a, b));
    }
    for full in [false, true] {
        same::<_, c::rooms::NewRoom>(&t::NewRoom {
            kind: RoomKind::Patient,
            display_name: "山田 太郎".into(),
            consent: Some(consent(full)),
        });
    }
    // The body from the relay's log test: a consent of the wrong shape is refused by both.
    assert!(!both_read::<t::NewRoom, c::rooms::NewRoom>(
        r#"{"kind":"patient","display_name":"秘密野 患者","consent":{"given_by":1}}"#
    ));
    same::<_, c::rooms::InviteRequest>(&t::InviteRequest { role: Role::Reader });
    same::<_, c::rooms::ArchiveRequest>(&t::ArchiveRequest { archived: true });
    same::<_, c::rooms::RoomActivity>(&t::RoomActivity::default());
    same::<_, c::rooms::RoomActivity>(&t::RoomActivity {
        reports: 12,
        reports_this_week: 3,
        unread_must_reads: 1,
        last_post: Some(Timestamp(1_765_000_000_000)),
    });
}

fn notice(expires: bool) -> Notice {
    let reader = ProfessionalId::new();
    Notice {
        id: NoticeId::new(),
        author: AuthorInfo {
            professional: ProfessionalId::new(),
            device: DeviceId::new(),
            name: "市 管理者".into(),
            profession: Profession::CityAdministrator,
            organisation: "介護支援課".into(),
        },
        posted_at: Timestamp(1_765_000_000_000),
        content: NoticeContent {
            title: "台風接近".into(),
            body: "訪問予定の確認を".into(),
            importance: Importance::HIGH,
            expires_at: expires.then_some(Timestamp(1_766_000_000_000)),
        },
        receipts: BTreeMap::from([
            (reader, Timestamp(1_765_000_100_000)),
            (ProfessionalId::new(), Timestamp(1_765_000_200_000)),
        ]),
    }
}

#[test]
fn notice_bodies() {
    for (room, expires) in [(t::CityRoom::Notices, false), (t::CityRoom::Alerts, true)] {
        same::<_, c::notices::NoticeView>(&t::NoticeView {
            notice: notice(expires),
            room,
            audience: 42,
            read_by: vec![t::ReaderView {
                professional: ProfessionalId::new(),
                name: "佐藤 美咲".into(),
                read_at: Timestamp(1_765_000_100_000),
            }],
            expired: expires,
        });
        same::<_, c::notices::NewNotice>(&t::NewNotice {
            room,
            title: "台風接近".into(),
            body: "訪問予定の確認を".into(),
            importance: Importance::LOW,
            expires_at: expires.then_some(Timestamp(1_766_000_000_000)),
        });
    }
    for stars in 0..=4u8 {
        let json = format!(r#"{{"room":"alerts","title":"t","body":"b","importance":{stars}}}"#);
        assert_eq!(
            both_read::<t::NewNotice, c::notices::NewNotice>(&json),
            (1..=3).contains(&stars)
        );
    }
    same::<_, c::notices::PostedNotice>(&t::PostedNotice {
        id: NoticeId::new(),
        room: RoomId::new(),
    });
}

#[test]
fn care_plan_bodies() {
    same::<_, c::careplans::CarePlanUploadRequest>(&t::CarePlanUploadRequest {
        files: vec![t::CarePlanUpload {
            name: "UPPLAN_0000000001_202604.CSV".into(),
            data_base64: "gqCCog==".into(),
        }],
    });
    same::<_, c::careplans::ImportSummary>(&ImportSummary {
        id: EntryId::new(),
        files: FileKind::ALL
            .into_iter()
            .enumerate()
            .map(|(i, k)| (format!("{}_X.CSV", k.prefix()), k, i * 3))
            .collect(),
        insured_number: "0000012345".into(),
    });
    same::<_, c::careplans::CarePlanImportView>(&t::CarePlanImportView {
        id: EntryId::new(),
        imported_at: Timestamp(1_765_000_000_000),
        imported_by: "市 管理者".into(),
        files: vec![("UP1KYO_X.CSV".into(), 4), ("UPPLAN_X.CSV".into(), 20)],
    });
}

#[test]
fn console_blob_event_and_audit_bodies() {
    same::<_, c::console::CredentialsRequest>(&t::CredentialsRequest {
        login: "city.admin".into(),
        password: Some("correct horse battery".into()),
    });
    assert!(both_read::<
        t::CredentialsRequest,
        c::console::CredentialsRequest,
    >(r#"{"login":"city.admin"}"#));
    same::<_, c::console::ConsoleSetup>(&t::ConsoleSetup {
        professional: ProfessionalId::new(),
        login: "city.admin".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
        otpauth_uri: "otpauth://totp/Kizuna:city.admin?secret=JBSWY3DPEHPK3PXP".into(),
    });
    for complete in [false, true] {
        same::<_, c::blobs::UploadStatus>(&kizuna_core::blobs::UploadStatus {
            offset: 4 << 20,
            complete,
        });
    }
    same::<_, c::events::Changed>(&t::Changed {
        cursor: 1_765_000_000_123,
        docs: vec![RoomId::new(), RoomId::new()],
        resync: false,
    });
    assert!(both_read::<t::Changed, c::events::Changed>(
        r#"{"cursor":1,"docs":[]}"#
    ));
    let full = t::AuditRecord {
        seq: 7,
        at: Timestamp(1_765_000_000_000),
        professional: Some(ProfessionalId::new()),
        device: Some(DeviceId::new()),
        action: "refused".into(),
        room: Some(RoomId::new()),
        subject: Some("x".into()),
        changes: vec!["ab".repeat(32)],
        reason: Some("writer-only".into()),
        prev: "00".repeat(32),
        hash: "ef".repeat(32),
    };
    let bare = t::AuditRecord {
        professional: None,
        device: None,
        room: None,
        subject: None,
        changes: vec![],
        reason: None,
        ..full.clone()
    };
    let lines: Vec<c::audit::AuditRecord> = [&full, &bare]
        .into_iter()
        .map(|r| serde_json::from_str(&same::<_, c::audit::AuditRecord>(r)).unwrap())
        .collect();
    // The one export writer gives the lines the relay's loop gives.
    let mut today = String::new();
    for r in [&full, &bare] {
        today.push_str(&serde_json::to_string(r).unwrap());
        today.push('\n');
    }
    assert_eq!(c::audit::to_json_lines(&lines), today);
    same::<_, c::audit::Verdict>(&t::Verdict {
        intact: true,
        records: 10,
        first_broken: None,
        problem: None,
    });
    same::<_, c::audit::Verdict>(&t::Verdict {
        intact: false,
        records: 10,
        first_broken: Some(4),
        problem: Some("hash mismatch".into()),
    });
}
