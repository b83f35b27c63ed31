//! Every body as the relay wrote it before the contract was wired in (captured from the
//! relay's own types at commit 17220e7, ids and times as in the examples): each contract type
//! must read these bytes and write them back unchanged, and accept or refuse the same inputs.
//! A field renamed, retyped or reordered in the contract fails here before it reaches a phone.

use crate::{reads, roundtrip};

#[test]
fn careplans_care_plan_upload_request() {
    roundtrip::<kizuna_contract::careplans::CarePlanUploadRequest>(
        r##"{"files":[{"name":"UPPLAN_0000000001_202604.CSV","data_base64":"gqCCog=="}]}"##,
    );
}

#[test]
fn careplans_import_summary() {
    roundtrip::<kizuna_contract::careplans::ImportSummary>(
        r##"{"id":"7f6ad0e3-a45c-495b-abb9-fffd274d5be2","files":[["UP1KYO_X.CSV","UP1KYO",0],["UP2KYO_X.CSV","UP2KYO",3],["UPPLAN_X.CSV","UPPLAN",6],["UPJSK_X.CSV","UPJSK",9],["UPHOSOKU_X.CSV","UPHOSOKU",12]],"insured_number":"0000012345"}"##,
    );
}

#[test]
fn careplans_care_plan_import_view() {
    roundtrip::<kizuna_contract::careplans::CarePlanImportView>(
        r##"{"id":"1233f57a-33c8-4283-972e-bed17a56c6ce","imported_at":1765000000000,"imported_by":"市 管理者","files":[["UP1KYO_X.CSV",4],["UPPLAN_X.CSV",20]]}"##,
    );
}

#[test]
fn console_credentials_request() {
    roundtrip::<kizuna_contract::console::CredentialsRequest>(
        r##"{"login":"city.admin","password":"correct horse battery"}"##,
    );
    assert!(reads::<kizuna_contract::console::CredentialsRequest>(
        r##"{"login":"city.admin"}"##
    ));
}

#[test]
fn console_console_setup() {
    roundtrip::<kizuna_contract::console::ConsoleSetup>(
        r##"{"professional":"e7259ea3-ddfa-45e7-a880-51dc0320600b","login":"city.admin","totp_secret":"JBSWY3DPEHPK3PXP","otpauth_uri":"otpauth://totp/Kizuna:city.admin?secret=JBSWY3DPEHPK3PXP"}"##,
    );
}

#[test]
fn blobs_upload_status() {
    roundtrip::<kizuna_contract::blobs::UploadStatus>(r##"{"offset":4194304,"complete":false}"##);
    roundtrip::<kizuna_contract::blobs::UploadStatus>(r##"{"offset":4194304,"complete":true}"##);
}

#[test]
fn events_changed() {
    roundtrip::<kizuna_contract::events::Changed>(
        r##"{"cursor":1765000000123,"docs":["3d6aa5fc-b09d-48f5-b23d-3e14f343d55a","d1a1f8a3-f09f-422a-bb98-e85d3fb2512f"],"resync":false}"##,
    );
    assert!(reads::<kizuna_contract::events::Changed>(
        r##"{"cursor":1,"docs":[]}"##
    ));
}

#[test]
fn audit_audit_record() {
    roundtrip::<kizuna_contract::audit::AuditRecord>(
        r##"{"seq":7,"at":1765000000000,"professional":"bd3e013b-5c4f-47cf-828c-2cc39c860226","device":"80f9ef8a-11a0-421c-b0e0-1f11f8a59396","action":"refused","room":"230aafc5-f8b4-4e10-b308-8e772f10d108","subject":"x","changes":["abababababababababababababababababababababababababababababababab"],"reason":"writer-only","prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"}"##,
    );
    roundtrip::<kizuna_contract::audit::AuditRecord>(
        r##"{"seq":7,"at":1765000000000,"professional":null,"device":null,"action":"refused","room":null,"subject":null,"changes":[],"reason":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"}"##,
    );
}

#[test]
fn audit_verdict() {
    roundtrip::<kizuna_contract::audit::Verdict>(
        r##"{"intact":true,"records":10,"first_broken":null,"problem":null}"##,
    );
    roundtrip::<kizuna_contract::audit::Verdict>(
        r##"{"intact":false,"records":10,"first_broken":4,"problem":"hash mismatch"}"##,
    );
    // Since the log rotates into segments: the files checked, and where a chain whose
    // oldest segments were archived starts.
    roundtrip::<kizuna_contract::audit::Verdict>(
        r##"{"intact":true,"records":10,"first_broken":null,"problem":null,"first_kept":91,"files":3}"##,
    );
}

#[test]
fn directory_professional_view() {
    roundtrip::<kizuna_contract::directory::ProfessionalView>(
        r##"{"id":"4910d38b-4426-4f50-9d3b-1b94aba6305a","name":"田中 一郎","kana":"たなか いちろう","profession":"care_manager","organisation":{"name":"みどり訪問看護ステーション","office_number":null},"registered_at":1700000000000,"removed_at":null}"##,
    );
    roundtrip::<kizuna_contract::directory::ProfessionalView>(
        r##"{"id":"3b3508e5-0504-488c-ad0b-6814bd1bfc03","name":"田中 一郎","kana":"たなか いちろう","profession":"care_manager","organisation":{"name":"みどり訪問看護ステーション","office_number":null},"registered_at":1700000000000,"removed_at":1760000000000}"##,
    );
}

#[test]
fn directory_device_view() {
    roundtrip::<kizuna_contract::directory::DeviceView>(
        r##"{"id":"e9434323-e934-4680-889a-727fef4b2dd9","professional":"66fba25b-1dfd-4d44-9cfe-8b06f25a1031","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":null,"wipe":false}"##,
    );
    roundtrip::<kizuna_contract::directory::DeviceView>(
        r##"{"id":"2c07fbf8-ab89-4680-8316-a73d791205f6","professional":"84cc3b8c-20a6-4ae5-81bf-c011e00365f2","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":null,"wipe":false,"last_seen":1765000000000}"##,
    );
    roundtrip::<kizuna_contract::directory::DeviceView>(
        r##"{"id":"fdca6903-87ab-45bb-a7f1-6026359a77fa","professional":"65702683-df82-4336-8583-b00fce752680","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":1760000000000,"wipe":true}"##,
    );
    roundtrip::<kizuna_contract::directory::DeviceView>(
        r##"{"id":"3ef94ae4-1191-4eb7-8285-866c01a4bcc3","professional":"2fa9c8bf-94c7-4383-896b-7c196249ad0e","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":1760000000000,"wipe":true,"last_seen":1765000000000}"##,
    );
}

#[test]
fn directory_directory_view() {
    roundtrip::<kizuna_contract::directory::DirectoryView>(
        r##"{"professionals":[{"id":"3776ed6a-a6ad-4554-984b-cc222950abc9","name":"田中 一郎","kana":"たなか いちろう","profession":"care_manager","organisation":{"name":"みどり訪問看護ステーション","office_number":null},"registered_at":1700000000000,"removed_at":null},{"id":"8664c797-f99d-4e2d-8911-b650bd7dd3a0","name":"田中 一郎","kana":"たなか いちろう","profession":"care_manager","organisation":{"name":"みどり訪問看護ステーション","office_number":null},"registered_at":1700000000000,"removed_at":1760000000000}],"devices":[{"id":"20076622-9ceb-418e-9042-c0e32c1c0624","professional":"82284d9b-c04b-46c9-b01f-c0d69a1fb82d","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":null,"wipe":false,"last_seen":1765000000000},{"id":"155b7b15-a2dc-41ca-88ef-dd2ed533b9c4","professional":"ad9bb743-87db-41ef-8113-0d0169269799","label":"Pixel","enrolled_at":1700000000000,"cert_fingerprint":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","revoked_at":1760000000000,"wipe":true}],"organisations":[{"name":"みどり訪問看護ステーション","office_number":null},{"name":"みどり訪問看護ステーション","office_number":"1234567890"}]}"##,
    );
}

#[test]
fn directory_new_professional() {
    roundtrip::<kizuna_contract::directory::NewProfessional>(
        r##"{"name":"田中 一郎","kana":"たなか いちろう","profession":"doctor","organisation":{"name":"みどり訪問看護ステーション","office_number":"0000000001"}}"##,
    );
}

#[test]
fn directory_revoke_request() {
    roundtrip::<kizuna_contract::directory::RevokeRequest>(r##"{"wipe":true}"##);
    assert!(reads::<kizuna_contract::directory::RevokeRequest>(
        r##"{}"##
    ));
}

#[test]
fn enrollment_enroll_code_request() {
    roundtrip::<kizuna_contract::enrollment::EnrollCodeRequest>(r##"{"valid_hours":48}"##);
    roundtrip::<kizuna_contract::enrollment::EnrollCodeRequest>(r##"{"valid_hours":null}"##);
    assert!(reads::<kizuna_contract::enrollment::EnrollCodeRequest>(
        r##"{}"##
    ));
    assert!(!reads::<kizuna_contract::enrollment::EnrollCodeRequest>(
        r##"{"valid_hours":1,"x":1}"##
    ));
}

#[test]
fn enrollment_enroll_code_response() {
    roundtrip::<kizuna_contract::enrollment::EnrollCodeResponse>(
        r##"{"professional":"d588fccb-2f2a-4eff-b2ae-52b34c39af94","code":"ABCD-EFGH-JKLM","expires_at":1775000000000,"relay_url":"https://relay.example:8443","ca_fingerprint":"sha256:abababababababababababababababababababababababababababababababab","qr_payload":"kizuna://enroll?v=1&relay=https%3A%2F%2Frelay.example%3A8443&ca=sha256:ab&code=ABCD-EFGH-JKLM"}"##,
    );
}

#[test]
fn enrollment_enroll_request() {
    roundtrip::<kizuna_contract::enrollment::EnrollRequest>(
        r##"{"code":"ABCD-EFGH-JKLM","csr_pem":"-----BEGIN CERTIFICATE REQUEST-----\n…","label":"iPhone 15"}"##,
    );
    assert!(reads::<kizuna_contract::enrollment::EnrollRequest>(
        r##"{"code":"A","csr_pem":"P"}"##
    ));
    assert!(reads::<kizuna_contract::enrollment::EnrollRequest>(
        r##"{"code":"A","csr_pem":"P","label":null}"##
    ));
    assert!(!reads::<kizuna_contract::enrollment::EnrollRequest>(
        r##"{"code":"A","csr_pem":"P","extra":1}"##
    ));
}

#[test]
fn enrollment_enroll_response() {
    roundtrip::<kizuna_contract::enrollment::EnrollResponse>(
        r##"{"professional":"2943cb74-6024-46bc-8e97-7ee24fa5d3a1","device":"a4d46625-476f-4e16-8397-f6f3e76b3498","certificate_pem":"-----BEGIN CERTIFICATE-----\n…","ca_pem":"-----BEGIN CERTIFICATE-----\n…"}"##,
    );
}

#[test]
fn me_me_response() {
    roundtrip::<kizuna_contract::me::MeResponse>(
        r##"{"professional":{"id":"99d9fd09-d299-4cab-94d7-e33908666935","name":"佐藤 美咲","kana":"さとう みさき","profession":"nurse","profession_ja":"訪問看護師","organisation":{"name":"みどり訪問看護ステーション","office_number":"1234567890"},"administrator":false},"device":{"id":"87fcb7e1-67ad-4272-bc55-f4860179f80a","label":"iPhone","enrolled_at":1775000000000},"rooms":[{"id":"ad8db619-ef04-4c1e-a666-9606a1091d4d","kind":"patient","display_name":"山田 太郎","role":"writer"},{"id":"c0effdcc-6eb0-4fb6-87dc-efc5f0082055","kind":"city_notices","display_name":"山田 太郎","role":"reader"},{"id":"bed6c991-d8eb-4f38-8a40-77da4eea4a7e","kind":"alerts","display_name":"山田 太郎","role":"reader"},{"id":"efb6fe6b-5b3b-4ac8-9768-4d0f19b43695","kind":"direct","display_name":"山田 太郎","role":"reader"}]}"##,
    );
}

#[test]
fn me_me_room() {
    roundtrip::<kizuna_contract::me::MeRoom>(
        r##"{"id":"c8370dc1-f7a7-4f10-941e-dc691e952ade","kind":"patient","display_name":"山田 太郎","role":"writer"}"##,
    );
}

#[test]
fn me_direct_request() {
    roundtrip::<kizuna_contract::me::DirectRequest>(
        r##"{"with":"379e6eb4-d799-44e1-b153-670b2682c2a2"}"##,
    );
}

#[test]
fn notices_notice_view() {
    roundtrip::<kizuna_contract::notices::NoticeView>(
        r##"{"notice":{"id":"551fb4d2-1a73-4614-b351-13db8f96f274","author":{"professional":"d526bdf1-ad76-4158-8298-abbf30a1febf","device":"f97b7079-fcd2-472c-922f-43678247e1c3","name":"市 管理者","profession":"city_administrator","organisation":"介護支援課"},"posted_at":1765000000000,"content":{"title":"台風接近","body":"訪問予定の確認を","importance":3},"receipts":{"153b952f-ad15-49a2-b389-fe4cb3131d5a":1765000100000,"cecb25c2-b238-47a9-9ee1-cd599bf2cc94":1765000200000}},"room":"notices","audience":42,"read_by":[{"professional":"dbefc630-6f04-42b3-85d0-0a592978d1a3","name":"佐藤 美咲","read_at":1765000100000}],"expired":false}"##,
    );
    roundtrip::<kizuna_contract::notices::NoticeView>(
        r##"{"notice":{"id":"3c2f71bb-b96d-4c71-a8d9-10356e02e96a","author":{"professional":"15026c32-12d0-4c2f-8bbb-75b91ccffd5e","device":"6fc94bd1-f12b-4d9a-9765-92377f17c438","name":"市 管理者","profession":"city_administrator","organisation":"介護支援課"},"posted_at":1765000000000,"content":{"title":"台風接近","body":"訪問予定の確認を","importance":3,"expires_at":1766000000000},"receipts":{"40e101b2-937e-4ab7-b075-a903b6d2e14b":1765000100000,"53f88241-e013-48f8-9bb8-dc98174e11b0":1765000200000}},"room":"alerts","audience":42,"read_by":[{"professional":"986af028-7bee-40c9-bf15-72d8438aa5c8","name":"佐藤 美咲","read_at":1765000100000}],"expired":true}"##,
    );
}

#[test]
fn notices_new_notice() {
    roundtrip::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"notices","title":"台風接近","body":"訪問予定の確認を","importance":1,"expires_at":null}"##,
    );
    roundtrip::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"台風接近","body":"訪問予定の確認を","importance":1,"expires_at":1766000000000}"##,
    );
    assert!(!reads::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"t","body":"b","importance":0}"##
    ));
    assert!(reads::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"t","body":"b","importance":1}"##
    ));
    assert!(reads::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"t","body":"b","importance":2}"##
    ));
    assert!(reads::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"t","body":"b","importance":3}"##
    ));
    assert!(!reads::<kizuna_contract::notices::NewNotice>(
        r##"{"room":"alerts","title":"t","body":"b","importance":4}"##
    ));
}

#[test]
fn notices_posted_notice() {
    roundtrip::<kizuna_contract::notices::PostedNotice>(
        r##"{"id":"92f22ba7-3362-4c53-b424-1db94989dbf0","room":"fc94b44d-cbb8-4488-a10b-6f61dd74d2e5"}"##,
    );
}

#[test]
fn rooms_room_view() {
    roundtrip::<kizuna_contract::rooms::RoomView>(
        r##"{"id":"4c37f925-8b89-474e-b359-dc396db70926","kind":"patient","display_name":"山田 太郎","consent":null,"created_at":1700000000000,"members":[{"professional":"3128319c-ae77-4933-bd14-504a55b1bd89","name":"佐藤 美咲","profession":"nurse","role":"writer"}]}"##,
    );
    roundtrip::<kizuna_contract::rooms::RoomView>(
        r##"{"id":"087c2005-0e12-42dc-b2e9-a33ae473d7d0","kind":"patient","display_name":"山田 太郎","consent":{"given_by":"山田 花子","relation":"長女","date":"2026-04-01","obtained_by":"佐藤 美咲","obtained_by_id":null,"form":null},"created_at":1700000000000,"members":[{"professional":"78ea8d82-6409-436d-8db3-d652b821b259","name":"佐藤 美咲","profession":"nurse","role":"writer"}]}"##,
    );
    roundtrip::<kizuna_contract::rooms::RoomView>(
        r##"{"id":"05eb9a91-5348-49ba-9400-f6076a47b0f8","kind":"patient","display_name":"山田 太郎","consent":{"given_by":"山田 花子","relation":"長女","date":"2026-04-01","obtained_by":"佐藤 美咲","obtained_by_id":"a6f1f91d-7472-4992-9b5d-85a83a8eae82","form":"59ad1b2fc74287ded1bba7af67765d23ad4a49f1ae51902cc2ed3f8ebee96cfa"},"created_at":1700000000000,"archived_at":1760000000000,"members":[{"professional":"78dcf667-dcd9-4375-9660-960fc88397f6","name":"佐藤 美咲","profession":"nurse","role":"writer"}]}"##,
    );
}

#[test]
fn rooms_new_room() {
    roundtrip::<kizuna_contract::rooms::NewRoom>(
        r##"{"kind":"patient","display_name":"山田 太郎","consent":{"given_by":"山田 花子","relation":"長女","date":"2026-04-01","obtained_by":"佐藤 美咲","obtained_by_id":null,"form":null}}"##,
    );
    roundtrip::<kizuna_contract::rooms::NewRoom>(
        r##"{"kind":"patient","display_name":"山田 太郎","consent":{"given_by":"山田 花子","relation":"長女","date":"2026-04-01","obtained_by":"佐藤 美咲","obtained_by_id":"364c7813-784c-44de-8df1-148d25ed2b07","form":"59ad1b2fc74287ded1bba7af67765d23ad4a49f1ae51902cc2ed3f8ebee96cfa"}}"##,
    );
    assert!(!reads::<kizuna_contract::rooms::NewRoom>(
        r##"{"kind":"patient","display_name":"秘密野 患者","consent":{"given_by":1}}"##
    ));
}

#[test]
fn rooms_invite_request() {
    roundtrip::<kizuna_contract::rooms::InviteRequest>(r##"{"role":"reader"}"##);
}

#[test]
fn rooms_archive_request() {
    roundtrip::<kizuna_contract::rooms::ArchiveRequest>(r##"{"archived":true}"##);
}

#[test]
fn rooms_room_activity() {
    roundtrip::<kizuna_contract::rooms::RoomActivity>(
        r##"{"reports":0,"reports_this_week":0,"unread_must_reads":0,"last_post":null}"##,
    );
    roundtrip::<kizuna_contract::rooms::RoomActivity>(
        r##"{"reports":12,"reports_this_week":3,"unread_must_reads":1,"last_post":1765000000000}"##,
    );
}

#[test]
fn problem_problem() {
    roundtrip::<kizuna_contract::problem::Problem>(
        r##"{"type":"urn:kizuna:problem:device-revoked","title":"Device revoked","status":403,"detail":"this device's access has been revoked by the administrator","wipe":true}"##,
    );
    roundtrip::<kizuna_contract::problem::Problem>(
        r##"{"type":"urn:kizuna:problem:internal","title":"Internal error","status":500}"##,
    );
}

#[test]
fn audit_export_lines_are_the_relays() {
    // The relay's export loop wrote each record and a newline; the one writer does the same.
    let lines = [
        r##"{"seq":7,"at":1765000000000,"professional":"bd3e013b-5c4f-47cf-828c-2cc39c860226","device":"80f9ef8a-11a0-421c-b0e0-1f11f8a59396","action":"refused","room":"230aafc5-f8b4-4e10-b308-8e772f10d108","subject":"x","changes":["abababababababababababababababababababababababababababababababab"],"reason":"writer-only","prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"}"##,
        r##"{"seq":7,"at":1765000000000,"professional":null,"device":null,"action":"refused","room":null,"subject":null,"changes":[],"reason":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"}"##,
    ];
    let records: Vec<kizuna_contract::audit::AuditRecord> =
        lines.iter().map(|l| roundtrip(l)).collect();
    let mut today = String::new();
    for l in lines {
        today.push_str(l);
        today.push('\n');
    }
    assert_eq!(kizuna_contract::audit::to_json_lines(&records), today);
}
