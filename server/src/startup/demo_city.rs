//! The demo city for `kizuna demo`: an administrator, six professionals of different
//! professions and organisations, three patient rooms with consent records, the notice and
//! alert rooms, and one enrolled device each. All people and patients are fictional.
//!
//! Devices are enrolled through the same code-and-CSR path a phone uses; their identities are
//! written to `DIR/demo/<name>.crt` and `.key` (0600) so curl can act as them.

use crate::identity::{NewProfessional, NewRoom};
use crate::startup::{self, StartError};
use crate::state::Relay;
use kizuna_core::model::Consent;
use kizuna_core::{Date, Organisation, Profession, ProfessionalId, Role, RoomKind};
use std::collections::HashMap;
use std::path::Path;

/// One demo professional.
#[derive(Clone, Copy, Debug)]
pub struct DemoPerson {
    /// File stem under `DIR/demo/` (romanised family name).
    pub stem: &'static str,
    /// Name.
    pub name: &'static str,
    /// Kana.
    pub kana: &'static str,
    /// Profession.
    pub profession: Profession,
    /// Organisation name.
    pub organisation: &'static str,
    /// 10-digit office number, where the organisation has one.
    pub office_number: Option<&'static str>,
}

/// The demo's administrator (stem `admin`).
pub const ADMIN: DemoPerson = DemoPerson {
    stem: "admin",
    name: "山本 真理",
    kana: "やまもと まり",
    profession: Profession::CityAdministrator,
    organisation: "みどり市 介護支援課",
    office_number: None,
};

/// The six demo professionals.
pub const PEOPLE: [DemoPerson; 6] = [
    DemoPerson {
        stem: "sato",
        name: "佐藤 美咲",
        kana: "さとう みさき",
        profession: Profession::Nurse,
        organisation: "みどり訪問看護ステーション",
        office_number: Some("1234567890"),
    },
    DemoPerson {
        stem: "suzuki",
        name: "鈴木 健一",
        kana: "すずき けんいち",
        profession: Profession::CareManager,
        organisation: "ひまわり居宅介護支援事業所",
        office_number: Some("1234567891"),
    },
    DemoPerson {
        stem: "takahashi",
        name: "高橋 誠",
        kana: "たかはし まこと",
        profession: Profession::Doctor,
        organisation: "高橋内科クリニック",
        office_number: None,
    },
    DemoPerson {
        stem: "tanaka",
        name: "田中 由美",
        kana: "たなか ゆみ",
        profession: Profession::Pharmacist,
        organisation: "さくら薬局 みどり店",
        office_number: None,
    },
    DemoPerson {
        stem: "ito",
        name: "伊藤 花子",
        kana: "いとう はなこ",
        profession: Profession::Helper,
        organisation: "あおば訪問介護センター",
        office_number: Some("1234567892"),
    },
    DemoPerson {
        stem: "watanabe",
        name: "渡辺 翔太",
        kana: "わたなべ しょうた",
        profession: Profession::PhysicalTherapist,
        organisation: "みどり市民病院 リハビリテーション科",
        office_number: None,
    },
];

struct DemoPatient {
    name: &'static str,
    consent_by: &'static str,
    relation: &'static str,
    date: (u16, u8, u8),
    obtained_by: &'static str,
    members: &'static [&'static str],
}

const PATIENTS: [DemoPatient; 3] = [
    DemoPatient {
        name: "小林 トメ",
        consent_by: "小林 和子",
        relation: "長女",
        date: (2025, 4, 3),
        obtained_by: "suzuki",
        members: &["sato", "suzuki", "takahashi", "ito"],
    },
    DemoPatient {
        name: "中村 正雄",
        consent_by: "中村 正雄",
        relation: "本人",
        date: (2025, 5, 12),
        obtained_by: "suzuki",
        members: &["sato", "suzuki", "tanaka", "watanabe"],
    },
    DemoPatient {
        name: "加藤 ハル",
        consent_by: "加藤 一郎",
        relation: "長男",
        date: (2025, 6, 20),
        obtained_by: "sato",
        members: &["takahashi", "sato", "tanaka", "suzuki"],
    },
];

const SEEDED: &str = "demo:seeded";

/// Seeds the demo city into a new data directory. Returns `false` (and changes nothing) if
/// this directory was seeded before, so a second start reuses what is there.
pub fn seed(relay: &Relay, data: &Path) -> Result<bool, StartError> {
    if relay.directory().meta(SEEDED)?.is_some() {
        return Ok(false);
    }
    let out = data.join("demo");
    startup::ensure_admin(relay, &out, ADMIN.name, ADMIN.kana, ADMIN.organisation)?;
    let mut ids: HashMap<&str, ProfessionalId> = HashMap::new();
    for person in PEOPLE {
        let p = relay.add_professional(NewProfessional {
            name: person.name.to_string(),
            kana: person.kana.to_string(),
            profession: person.profession,
            organisation: Organisation {
                name: person.organisation.to_string(),
                office_number: person.office_number.map(str::to_string),
            },
        })?;
        startup::enroll_local(relay, p.id, "demo phone", &out, person.stem)?;
        ids.insert(person.stem, p.id);
    }
    for patient in &PATIENTS {
        let obtained = PEOPLE
            .iter()
            .find(|p| p.stem == patient.obtained_by)
            .map(|p| p.name)
            .unwrap_or(ADMIN.name);
        let (y, m, d) = patient.date;
        let room = relay.create_room(NewRoom {
            kind: RoomKind::Patient,
            display_name: patient.name.to_string(),
            consent: Some(Consent {
                given_by: patient.consent_by.to_string(),
                relation: patient.relation.to_string(),
                date: Date::new(y, m, d)?,
                obtained_by: obtained.to_string(),
                obtained_by_id: ids.get(patient.obtained_by).copied(),
                form: None,
            }),
        })?;
        for stem in patient.members {
            if let Some(id) = ids.get(stem) {
                relay.invite(room.id, *id, Role::Writer)?;
            }
        }
    }
    // One direct conversation, so /v1/me shows every kind of room.
    if let (Some(a), Some(b)) = (ids.get("sato"), ids.get("takahashi"))
        && let Some(sato) = relay.directory().professional(*a)?
    {
        relay.direct_room(&sato, *b)?;
    }
    relay.directory().set_meta(SEEDED, b"1")?;
    relay.directory().flush()?;
    Ok(true)
}

/// The demo administrator's console credentials, kept in `DIR/demo/console.json` (0600) so a
/// second start prints the same ones.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DemoConsole {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
    /// Base32 TOTP secret.
    pub totp_secret: String,
}

/// Makes sure the demo administrator can log in to the browser console: on a new demo (or
/// one made before the console existed) sets a random password and TOTP secret through
/// the same function as `kizuna admin console-setup`, and keeps them in the demo folder.
pub fn ensure_console(relay: &Relay, data: &Path) -> Result<DemoConsole, StartError> {
    let file = data.join("demo").join("console.json");
    let admin = relay
        .administrators()?
        .into_iter()
        .next()
        .ok_or("the demo has no administrator")?;
    if let Ok(bytes) = std::fs::read(&file)
        && let Ok(c) = serde_json::from_slice::<DemoConsole>(&bytes)
        && crate::admin::console::auth::has_credentials(relay, admin.id)?
    {
        return Ok(c);
    }
    let password = crate::admin::console::password::random_password();
    let actor = crate::admin::acts::Actor {
        professional: admin,
        device: None,
    };
    let setup = crate::admin::console::auth::set_credentials(
        relay,
        &actor,
        &kizuna_contract::console::CredentialsRequest {
            login: "admin".into(),
            password: Some(password.clone()),
        },
    )?;
    let c = DemoConsole {
        login: setup.login,
        password,
        totp_secret: setup.totp_secret,
    };
    startup::ensure_dir(&data.join("demo"))?;
    crate::identity::pki::write_private(&file, &serde_json::to_string_pretty(&c)?)?;
    Ok(c)
}
