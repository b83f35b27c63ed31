//! Deterministic generators of the standard workloads. Same seed, same room.

use crate::prose;
use kizuna_core::model::{
    AttachmentKind, AttachmentRef, Importance, IntakeOutput, ReportBody, ReportContent, ShareScope,
    VitalSigns,
};
use kizuna_core::{
    Author, ContentHash, DeviceId, Profession, ProfessionalId, Room, RoomId, RoomKind, Timestamp,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 2016-04-01T00:00:00Z, the first day of the ten-year room.
pub const W1_START_MS: i64 = 1_459_468_800_000;
const DAY_MS: i64 = 86_400_000;

/// The six professionals of the W1 room, each on their own device.
pub fn w1_team(seed: u64) -> Vec<Author> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7EA4);
    let people = [
        ("佐藤 花子", Profession::Nurse, "みどり訪問看護ステーション"),
        ("田中 一郎", Profession::Doctor, "流山在宅クリニック"),
        (
            "鈴木 美咲",
            Profession::CareManager,
            "ひまわり居宅介護支援事業所",
        ),
        ("高橋 健", Profession::Pharmacist, "さくら薬局"),
        ("伊藤 由美", Profession::Helper, "あおば訪問介護"),
        (
            "渡辺 誠",
            Profession::PhysicalTherapist,
            "みどり訪問看護ステーション",
        ),
    ];
    people
        .iter()
        .map(|(name, profession, org)| Author {
            professional: ProfessionalId(uuid::Uuid::from_u128(rng.random())),
            device: DeviceId(uuid::Uuid::from_u128(rng.random())),
            display_name: (*name).to_string(),
            profession: *profession,
            organisation: (*org).to_string(),
        })
        .collect()
}

/// The relay's identity for post numbers in generated rooms.
pub fn relay_author() -> Author {
    Author {
        professional: ProfessionalId(uuid::Uuid::from_u128(1)),
        device: DeviceId(uuid::Uuid::from_u128(1)),
        display_name: "relay".into(),
        profession: Profession::Other,
        organisation: "relay".into(),
    }
}

/// One generated report's content: SOAP of 300–600 characters, vitals, intake, one photo.
pub fn report_content<R: Rng>(rng: &mut R, care_time: Timestamp) -> ReportContent {
    let total = rng.random_range(300..600);
    let s = prose::paragraph(rng, 'S', total / 5);
    let o = prose::paragraph(rng, 'O', total * 2 / 5);
    let a = prose::paragraph(rng, 'A', total / 5);
    let p = prose::paragraph(rng, 'P', total / 5);
    let photo = ContentHash::of(&rng.random::<[u8; 16]>());
    let thumb = ContentHash::of(&rng.random::<[u8; 16]>());
    ReportContent {
        care_time,
        importance: Importance::try_from(rng.random_range(1..=3u8)).unwrap_or(Importance::LOW),
        scope: ShareScope::All,
        must_read: Vec::new(),
        body: ReportBody::Soap {
            problem: "褥瘡・便秘・服薬管理".into(),
            s,
            o,
            a,
            p,
        },
        vitals: vec![VitalSigns {
            measured_at: care_time,
            temperature_c: Some(f64::from(rng.random_range(358..376u16)) / 10.0),
            systolic_mmhg: Some(rng.random_range(100..160)),
            diastolic_mmhg: Some(rng.random_range(55..95)),
            pulse_per_min: Some(rng.random_range(55..100)),
            spo2_pct: Some(rng.random_range(92..100)),
            respiration_per_min: Some(rng.random_range(12..24)),
            ..Default::default()
        }],
        intake: Some(IntakeOutput {
            fluid_in_ml: Some(rng.random_range(600..1500)),
            meal_staple_pct: Some(rng.random_range(0..=10) * 10),
            meal_side_pct: Some(rng.random_range(0..=10) * 10),
            urine_count: Some(rng.random_range(3..10)),
            ..Default::default()
        }),
        wounds: Vec::new(),
        attachments: vec![AttachmentRef {
            hash: photo,
            kind: AttachmentKind::Photo,
            media_type: "image/jpeg".into(),
            size: rng.random_range(2_500_000..3_500_000),
            caption: Some("仙骨部".into()),
            captured_at: Some(care_time),
            thumbnail: Some(thumb),
        }],
    }
}

/// The generated W1 room and facts about it the benchmark checks.
pub struct W1Room {
    /// The room with every report, comment and receipt.
    pub room: Room,
    /// The six professionals.
    pub team: Vec<Author>,
    /// Pieces of generated text, to look for in the store's bytes (there must be none).
    pub samples: Vec<String>,
}

/// W1: a room of `days` daily reports (3,650 for the standard workload) by six devices, each
/// with two replies, six read receipts and the relay's post number.
pub fn w1_room(seed: u64, days: usize) -> W1Room {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let team = w1_team(seed);
    let relay = relay_author();
    let room_id = RoomId(uuid::Uuid::from_u128(rng.random()));
    let mut room = Room::new(room_id, RoomKind::Patient);
    let mut samples = Vec::new();
    for day in 0..days {
        let author = &team[day % team.len()];
        let care_time = Timestamp(W1_START_MS + day as i64 * DAY_MS + 10 * 3_600_000);
        let post_time = care_time.plus_millis(3_600_000);
        let content = report_content(&mut rng, care_time);
        if day % 97 == 0
            && let ReportBody::Soap { o, .. } = &content.body
        {
            samples.push(o.chars().take(16).collect());
        }
        let id = kizuna_core::ReportId(uuid::Uuid::from_u128(rng.random()));
        if room
            .post_report_with_id(author, post_time, id, &content)
            .is_err()
        {
            continue;
        }
        let _ = room.assign_post_number(
            &relay,
            post_time,
            id,
            day as u64 + 1,
            post_time.plus_millis(600_000),
        );
        for k in 1..=2 {
            let who = &team[(day + k) % team.len()];
            let text = prose::comment(&mut rng);
            let cid = kizuna_core::CommentId(uuid::Uuid::from_u128(rng.random()));
            let _ = room.add_comment_with_id(
                who,
                post_time.plus_millis(k as i64 * 7_200_000),
                id,
                cid,
                &text,
            );
        }
        for (k, who) in team.iter().enumerate() {
            let _ = room.mark_read(who, post_time.plus_millis((k as i64 + 1) * 1_800_000), id);
        }
    }
    room.take_touched();
    W1Room {
        room,
        team,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_room() {
        let mut a = w1_room(5, 20).room;
        let mut b = w1_room(5, 20).room;
        assert_eq!(a.heads(), b.heads());
        assert_ne!(a.heads(), w1_room(6, 20).room.heads());
        assert_eq!(a.list_reports().ok().map(|l| l.len()), Some(20));
    }
}
