//! Secrets at rest: after a relay has registered a professional, opened a patient room and
//! set an administrator's console credentials, no file under its data directory — sled's
//! files, the journal, the audit log — and no backup written by `kizuna admin backup` holds
//! their names, the console password or the TOTP secret. The relay still serves the names
//! after a restart.

use crate::admin_process::kizuna_admin as kizuna;
use kizuna_contract::console::CredentialsRequest;
use kizuna_core::{Organisation, Profession, Role};
use kizuna_server::identity::NewProfessional;
use kizuna_testkit::{LoopbackRelay, Phone, consented_room};
use std::path::{Path, PathBuf};

const NAME: &str = "蒼井 澄香";
const KANA: &str = "あおい すみか";
const OFFICE: &str = "ひまわり訪問看護ステーション";
const PATIENT: &str = "山之内 トメ子";
const CONSENT_BY: &str = "長女 山之内 花江";
const LOGIN: &str = "aoi.sumika.admin";
const PASSWORD: &str = "kizuna-very-secret-password-42";
const REPORT: &str = "右踵の褥瘡 山之内 トメ子様";

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every (file, secret) pair where the secret's UTF-8 bytes are in the file.
fn found(files: &[PathBuf], secrets: &[&str]) -> Vec<(PathBuf, String)> {
    let mut hits = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        for s in secrets {
            if bytes.windows(s.len()).any(|w| w == s.as_bytes()) {
                hits.push((f.clone(), s.to_string()));
            }
        }
    }
    hits
}

#[test]
fn names_and_console_secrets_are_in_no_file_of_the_data_directory_or_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;

    let nurse = relay
        .with_admin(async |c| {
            c.add_professional(&NewProfessional {
                name: NAME.into(),
                kana: KANA.into(),
                profession: Profession::Nurse,
                organisation: Organisation {
                    name: OFFICE.into(),
                    office_number: None,
                },
            })
            .await
        })
        .unwrap();
    let mut new_room = consented_room(PATIENT).unwrap();
    if let Some(c) = new_room.consent.as_mut() {
        c.given_by = CONSENT_BY.into();
    }
    let room = relay
        .with_admin(async |c| c.create_room(&new_room).await)
        .unwrap();
    let room_id = kizuna_core::RoomId(room.id);
    relay
        .blocking_invite(room_id, nurse.id, Role::Writer)
        .unwrap();
    let setup = relay
        .with_admin(async |c| {
            c.console_credentials(&CredentialsRequest {
                login: LOGIN.into(),
                password: Some(PASSWORD.into()),
            })
            .await
        })
        .unwrap();
    // A report in the room, so the backup holds a room document with patient data.
    let phone_dir = tmp.path().join("phone");
    let phone: Phone = relay.enroll_phone(&nurse, &phone_dir).unwrap();
    phone.sync().unwrap();
    phone.post(room_id, &Phone::text(REPORT, None)).unwrap();
    phone.sync().unwrap();

    let backup = tmp.path().join("backup.kzb");
    let (ok, _, err) = kizuna(&data, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    relay.stop();
    drop(phone);

    let secrets = [
        NAME,
        KANA,
        OFFICE,
        PATIENT,
        CONSENT_BY,
        LOGIN,
        PASSWORD,
        REPORT,
        setup.totp_secret.as_str(),
    ];
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(
        files.iter().any(|f| f.starts_with(data.join("directory"))),
        "sled's files are scanned"
    );
    assert!(files.contains(&data.join("journal").join("directory.jsonl")));
    files.push(backup.clone());
    // The checker itself finds what is there, in a file known to hold two in the clear.
    let plain = tmp.path().join("plain.txt");
    std::fs::write(&plain, format!("x{NAME}y{}", setup.totp_secret)).unwrap();
    assert_eq!(found(std::slice::from_ref(&plain), &secrets).len(), 2);
    let hits = found(&files, &secrets);
    assert!(hits.is_empty(), "found in the clear: {hits:?}");

    // The backup opens with the store key only: elsewhere, without it or with another one,
    // a restore is refused before anything moves.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let (ok, _, err) = kizuna(&elsewhere, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("store.key") && err.contains("missing"),
        "{err}"
    );
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(elsewhere.join("store.key"))
            .unwrap()
            .write_all(&[5u8; 32])
            .unwrap();
    }
    let (ok, _, err) = kizuna(&elsewhere, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("another store key"), "{err}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        1,
        "nothing was written"
    );

    // With the key kept apart, the backup restores into a new data directory; a backup with
    // one byte changed is refused whole.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    std::fs::set_permissions(&fresh, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::copy(data.join("store.key"), fresh.join("store.key")).unwrap();
    let mut changed = std::fs::read(&backup).unwrap();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    let changed_file = tmp.path().join("changed.kzb");
    std::fs::write(&changed_file, &changed).unwrap();
    let (ok, _, err) = kizuna(
        &fresh,
        &["restore", "--from", changed_file.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        err.contains("does not open") || err.contains("not a whole"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&fresh).unwrap().count(),
        1,
        "nothing was written"
    );
    let (ok, _, err) = kizuna(&fresh, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    let restored = LoopbackRelay::start_blocking(&fresh, None).unwrap();
    let rooms = restored.with_admin(async |c| c.rooms().await).unwrap();
    assert!(rooms.iter().any(|r| r.display_name == PATIENT));
    let view = restored.with_admin(async |c| c.directory().await).unwrap();
    assert!(view.professionals.iter().any(|p| p.name == NAME));
    restored.stop();

    // The relay, started again on the same directory, serves the names to the
    // administrator, and the console credentials still work for the same login.
    let relay = LoopbackRelay::start_blocking(&data, Some(addr)).unwrap();
    let view = relay.with_admin(async |c| c.directory().await).unwrap();
    let text = serde_json::to_string(&view).unwrap();
    assert!(
        text.contains(NAME) && text.contains(KANA) && text.contains(OFFICE),
        "{text}"
    );
    let rooms = relay.with_admin(async |c| c.rooms().await).unwrap();
    assert!(rooms.iter().any(|r| r.display_name == PATIENT));
    assert_eq!(
        kizuna_server::admin::console::auth::lookup_login(&relay.relay, LOGIN).unwrap(),
        Some(kizuna_core::ProfessionalId(setup.professional))
    );
}

/// A data directory of the previous version — the directory's values plain JSON in trees
/// named like the collections, named values under their names, the journal plain JSON lines
/// — is sealed at the relay's first start: the names are still served, the plain trees are
/// gone, and the journal no longer holds them.
#[test]
fn a_data_directory_of_the_previous_version_is_sealed_at_start() {
    use kizuna_server::identity::directory::{COLLECTIONS, Directory, SledDirectory};
    use kizuna_server::recovery::journal::DirectoryOp;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let relay = LoopbackRelay::start_blocking(&data, None).unwrap();
    let addr = relay.addr;
    let nurse = relay
        .with_admin(async |c| {
            c.add_professional(&NewProfessional {
                name: NAME.into(),
                kana: KANA.into(),
                profession: Profession::Nurse,
                organisation: Organisation {
                    name: OFFICE.into(),
                    office_number: None,
                },
            })
            .await
        })
        .unwrap();
    let room = relay
        .with_admin(async |c| c.create_room(&consented_room(PATIENT).unwrap()).await)
        .unwrap();
    relay
        .blocking_invite(kizuna_core::RoomId(room.id), nurse.id, Role::Writer)
        .unwrap();
    relay.stop();

    // Rewrite the directory and the journal as the previous version kept them.
    let key = std::fs::read(data.join("store.key")).unwrap();
    let path = data.join("directory");
    let (records, professionals, rooms) = {
        let d = SledDirectory::open(&path, &key).unwrap();
        (
            d.export_records().unwrap(),
            d.professionals().unwrap(),
            d.rooms().unwrap(),
        )
    };
    {
        let db = sled::open(&path).unwrap();
        for c in COLLECTIONS {
            db.drop_tree(format!("sealed/{c}")).unwrap();
            db.open_tree(c).unwrap();
        }
        for (c, k, v) in &records {
            db.open_tree(c)
                .unwrap()
                .insert(k.as_slice(), v.as_slice())
                .unwrap();
        }
        db.flush().unwrap();
    }
    let mut journal = Vec::new();
    for value in professionals {
        journal.extend(serde_json::to_vec(&DirectoryOp::Professional { value }).unwrap());
        journal.push(b'\n');
    }
    for value in rooms {
        journal.extend(serde_json::to_vec(&DirectoryOp::Room { value }).unwrap());
        journal.push(b'\n');
    }
    let journal_path = data.join("journal").join("directory.jsonl");
    std::fs::write(&journal_path, &journal).unwrap();
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(
        !found(&files, &[NAME, PATIENT]).is_empty(),
        "the old format holds the names in the clear"
    );

    let relay = LoopbackRelay::start_blocking(&data, Some(addr)).unwrap();
    let view = relay.with_admin(async |c| c.directory().await).unwrap();
    assert!(
        view.professionals
            .iter()
            .any(|p| p.name == NAME && p.kana == KANA)
    );
    let rooms = relay.with_admin(async |c| c.rooms().await).unwrap();
    let served = rooms.iter().find(|r| r.display_name == PATIENT).unwrap();
    assert_eq!(served.id, room.id);
    relay.stop();

    let journal = std::fs::read(&journal_path).unwrap();
    assert!(found(std::slice::from_ref(&journal_path), &[NAME, KANA, PATIENT]).is_empty());
    assert!(journal.starts_with(b"{\"sealed\":"));
    let db = sled::open(&path).unwrap();
    for c in COLLECTIONS {
        assert!(
            !db.tree_names().iter().any(|n| n.as_ref() == c.as_bytes()),
            "the plain tree {c} was dropped"
        );
    }
}
