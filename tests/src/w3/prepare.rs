//! Building the W3 relay's data folder once: the directory (professionals, devices, rooms,
//! memberships), each device's certificate, and a year of reports in every room.

use super::folder::{phone_copy, read_layout, relay_dir, write_layout};
use super::{Fallible, Layout, LoadDevice, TEAM, W3Shape, err};
use crate::workload::report_content;
use kizuna_core::{Author, DeviceId, Profession, ProfessionalId, Room, RoomId, Timestamp};
use kizuna_server::identity::{NewProfessional, NewRoom};
use kizuna_server::state::{Relay, RelayConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

const DAY_MS: i64 = 86_400_000;

const PROFESSIONS: [Profession; 6] = [
    Profession::Nurse,
    Profession::Doctor,
    Profession::CareManager,
    Profession::Pharmacist,
    Profession::Helper,
    Profession::PhysicalTherapist,
];

fn person(i: usize, profession: Profession) -> NewProfessional {
    NewProfessional {
        name: format!("職員 {i:05}"),
        kana: "しょくいん".into(),
        profession,
        organisation: kizuna_core::Organisation {
            name: format!("事業所 {:03}", i / TEAM),
            office_number: None,
        },
    }
}

/// Builds (or finishes building) the relay's data folder in `work` for `shape`; a folder
/// already complete for the same shape is kept as is. Building 10,000 rooms takes a long
/// time (Automerge writes each report op by op; the cost per room is in
/// `docs/benchmarks.md`, W3), so it resumes where an interrupted run stopped. With `build_history` false an unfinished folder is used
/// as it is. Returns how many rooms hold their year of history.
pub fn prepare(
    work: &Path,
    shape: &W3Shape,
    threads: usize,
    build_history: bool,
) -> Fallible<usize> {
    let mut shape = shape.clone();
    if let Ok(l) = read_layout(work) {
        // A folder prepared for more devices serves a run with fewer (the first N are used).
        if l.shape.devices >= shape.devices {
            shape.devices = l.shape.devices;
        }
        if l.shape == shape && l.complete && l.phones_aligned {
            return Ok(shape.rooms);
        }
        if l.shape != shape {
            return Err(format!(
                "{} holds a W3 relay of another shape; remove it first",
                work.display()
            ));
        }
    }
    std::fs::create_dir_all(work).map_err(err)?;
    let data = relay_dir(work);
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse().map_err(err)?;
    let prepared = kizuna_server::startup::prepare(&data, listen, None, RelayConfig::default())
        .map_err(err)?;
    let relay = prepared.relay;
    kizuna_server::startup::ensure_admin(
        &relay,
        &data.join("admin"),
        "市 管理者",
        "しかんりしゃ",
        "市役所",
    )
    .map_err(err)?;
    let mut layout = match read_layout(work) {
        Ok(l) => l,
        Err(_) => {
            let l = directory(&relay, work, &shape)?;
            write_layout(work, &l)?;
            l
        }
    };
    if !build_history {
        return rooms_with_history(&relay, &layout);
    }
    history(work, &relay, &layout, threads)?;
    layout.complete = true;
    write_layout(work, &layout)?;
    align_phone_copies(work, &relay, &layout)?;
    layout.phones_aligned = true;
    write_layout(work, &layout)?;
    Ok(shape.rooms)
}

/// Makes every phone's saved copy of its own room equal to the relay's room, as after
/// yesterday's sync. Needed once for folders in which earlier versions of this benchmark ran
/// the load on the prepared data itself: their rooms of the load hold those runs' changes
/// too, and a phone behind by that much received them all in its first sync, which swelled
/// the load generator's memory (see `docs/benchmarks.md`, earlier W3 runs). Such rooms are
/// compacted again.
fn align_phone_copies(work: &Path, relay: &Relay, layout: &Layout) -> Fallible<()> {
    let mut aligned = 0usize;
    for d in &layout.devices {
        let room = d.rooms[d.own];
        let path = phone_copy(work, room);
        let phone = Room::load(room, &std::fs::read(&path).map_err(err)?)
            .map_err(err)?
            .heads();
        let h = relay
            .documents()
            .get(room)
            .map_err(err)?
            .ok_or("a room of the load is missing on the relay")?;
        if h.meta().saved_heads() == phone {
            continue;
        }
        h.compact().map_err(err)?;
        let saved = h.read(|r| Ok(r.save())).map_err(err)?;
        std::fs::write(&path, saved).map_err(err)?;
        h.unload().map_err(err)?;
        aligned += 1;
    }
    if aligned > 0 {
        eprintln!("w3: {aligned} phone copies brought up to their relay rooms");
    }
    Ok(())
}

/// Rooms whose document holds its history (a built room's snapshot is far above 20 KB).
fn rooms_with_history(relay: &Relay, layout: &Layout) -> Fallible<usize> {
    let mut n = 0;
    for room in &layout.rooms {
        if let Some(h) = relay.documents().get(*room).map_err(err)? {
            let meta = h.meta();
            if meta.snapshot_bytes() + meta.chunk_bytes() > 20_000 {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Professionals, devices, rooms and memberships.
fn directory(relay: &Relay, work: &Path, shape: &W3Shape) -> Fallible<Layout> {
    let creds = work.join("devices");
    let mut rooms = Vec::with_capacity(shape.rooms);
    for i in 0..shape.rooms {
        let new = NewRoom {
            kind: kizuna_core::RoomKind::Patient,
            display_name: format!("患者 {i:05}"),
            consent: kizuna_testkit::consented_room("x")?.consent,
        };
        rooms.push(relay.create_room(new).map_err(err)?.id);
    }
    let teams = shape.devices.div_ceil(TEAM);
    if teams * TEAM > shape.rooms {
        return Err("fewer rooms than the teams need".into());
    }
    let mut devices = Vec::with_capacity(shape.devices);
    for i in 0..shape.devices {
        let profession = PROFESSIONS[i % PROFESSIONS.len()];
        let p = relay.add_professional(person(i, profession)).map_err(err)?;
        let (crt, key) =
            kizuna_server::startup::enroll_local(relay, p.id, "W3", &creds, &format!("d{i:05}"))
                .map_err(err)?;
        let pem = std::fs::read_to_string(&crt).map_err(err)?;
        let der = pem_der(&pem)?;
        let id =
            kizuna_server::identity::pki::identity_from_cert(&der).ok_or("no identity in cert")?;
        let team = i / TEAM;
        let team_rooms: Vec<RoomId> = rooms[team * TEAM..(team + 1) * TEAM].to_vec();
        for r in &team_rooms {
            relay
                .invite(*r, p.id, kizuna_core::Role::Writer)
                .map_err(err)?;
        }
        devices.push(LoadDevice {
            author: Author {
                professional: p.id,
                device: id.device,
                display_name: p.name.clone(),
                profession,
                organisation: p.organisation.name.clone(),
            },
            crt,
            key,
            rooms: team_rooms,
            own: i % TEAM,
        });
    }
    // The other rooms belong to teams that are not part of the load: three members each.
    let cold: Vec<ProfessionalId> = (0..300)
        .map(|i| {
            relay
                .add_professional(person(100_000 + i, PROFESSIONS[i % PROFESSIONS.len()]))
                .map(|p| p.id)
                .map_err(err)
        })
        .collect::<Fallible<_>>()?;
    for (k, r) in rooms.iter().enumerate().skip(teams * TEAM) {
        for j in 0..3 {
            let p = cold[(k * 3 + j) % cold.len()];
            relay
                .invite(*r, p, kizuna_core::Role::Writer)
                .map_err(err)?;
        }
    }
    Ok(Layout {
        shape: shape.clone(),
        rooms,
        devices,
        complete: false,
        phones_aligned: false,
    })
}

fn pem_der(pem: &str) -> Fallible<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).map_err(err)?;
    Ok(cert.to_vec())
}

/// A year of reports in every room, numbered by the relay, written in one durable write per
/// room. Rooms that already hold their history (an interrupted build) are skipped.
fn history(work: &Path, relay: &Relay, layout: &Layout, threads: usize) -> Fallible<()> {
    std::fs::create_dir_all(work.join("phones")).map_err(err)?;
    let shape = &layout.shape;
    // Authors of the history: the room's team, or three stand-ins for rooms outside the load.
    let mut team_of: HashMap<RoomId, Vec<Author>> = HashMap::new();
    for d in &layout.devices {
        for r in &d.rooms {
            team_of.entry(*r).or_default().push(d.author.clone());
        }
    }
    let outsiders: Vec<Author> = (0..3u128)
        .map(|i| Author {
            professional: ProfessionalId(uuid::Uuid::from_u128(0xC01D_0000 + i)),
            device: DeviceId(uuid::Uuid::from_u128(0xC01D_1000 + i)),
            display_name: format!("職員 {i}"),
            profession: PROFESSIONS[i as usize % PROFESSIONS.len()],
            organisation: "事業所".into(),
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None::<String>);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(room) = layout.rooms.get(i) else {
                        return;
                    };
                    let team = team_of.get(room);
                    let authors = team.unwrap_or(&outsiders);
                    if let Err(e) =
                        room_history(work, relay, *room, authors, team.is_some(), i, shape)
                    {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                    if i % 500 == 499 {
                        eprintln!(
                            "w3: {} of {} rooms have their year ({:.0} s)",
                            i + 1,
                            layout.rooms.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn room_history(
    work: &Path,
    relay: &Relay,
    room: RoomId,
    authors: &[Author],
    of_the_load: bool,
    index: usize,
    shape: &W3Shape,
) -> Fallible<()> {
    let h = relay
        .room_document(room)
        .map_err(err)?
        .ok_or("a prepared room is missing from the directory")?;
    let meta = h.meta();
    if meta.snapshot_bytes() + meta.chunk_bytes() > 20_000 {
        return Ok(());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed ^ (index as u64).wrapping_mul(0x9E37));
    let start = Timestamp::now().plus_millis(-(shape.history as i64 + 1) * DAY_MS);
    let relay_author = relay.relay_author().clone();
    h.write(|r| {
        for day in 0..shape.history {
            let t = start.plus_millis(day as i64 * DAY_MS + 10 * 3_600_000);
            let content = report_content(&mut rng, t);
            let author = &authors[day % authors.len()];
            let id = r.post_report(author, t.plus_millis(3_600_000), &content)?;
            r.assign_post_number(
                &relay_author,
                t,
                id,
                day as u64 + 1,
                t.plus_millis(3_600_000),
            )?;
        }
        Ok(())
    })
    .map_err(err)?;
    if of_the_load {
        // A room of the load: its writer's phone holds it too (the load generator opens it).
        let saved = h.read(|r| Ok(r.save())).map_err(err)?;
        let path = phone_copy(work, room);
        std::fs::write(&path, saved).map_err(err)?;
    }
    // A relay that has run for a year holds its rooms compacted (one snapshot each); then keep
    // the builder's memory flat: the relay under test loads rooms itself.
    h.compact().map_err(err)?;
    h.unload().map_err(err)
}
