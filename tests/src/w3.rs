//! W3, the city's morning: one relay with 10,000 one-year rooms on disk, and N devices each
//! syncing their 10 rooms with small deltas (one report or one receipt) in a loop.
//!
//! Three parts, each in its own process so the relay's figures are its own:
//! - [`prepare`] builds the relay's data folder once (directory, device identities, rooms with
//!   a year of reports each) and keeps it for later runs with the same shape;
//! - the relay runs as a child process (`kizuna serve`, see [`crate::w2::ChildRelay`]);
//! - [`load`] (the hidden `kizuna-bench w3-load`) is the load generator: N devices, each with
//!   its own certificate and its own HTTPS transport of `kizuna-client` (the one the apps
//!   ship), speaking the real sync protocol through the client's async sync exchange.
//!
//! Devices work in teams of ten sharing ten rooms, and each device writes in one of them (its
//! own), so a sync sends one change and receives what the nine others wrote meanwhile. A
//! device syncs at most every `interval` (a paced loop, so latency is measured from when the
//! sync was due, not from when a slow relay let it start).

use crate::loopback::Fallible;
use crate::measure::{percentile, pid_status_mb};
use crate::workload::report_content;
use kizuna_client::HttpsTransport;
use kizuna_client::sync_client::exchange_async;
use kizuna_core::sync::protocol::{DocSync, Hash, Outcome, PROTOCOL_VERSION, SyncRequest};
use kizuna_core::{
    Author, DeviceId, Profession, ProfessionalId, ReportId, Room, RoomId, Timestamp,
};
use kizuna_server::identity::{NewProfessional, NewRoom};
use kizuna_server::state::{Relay, RelayConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Devices per team; a team shares this many rooms and each device writes in one of them.
pub const TEAM: usize = 10;
const DAY_MS: i64 = 86_400_000;

/// The size of the prepared relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct W3Shape {
    /// Patient rooms on the relay's disk (10,000 in the standard workload).
    pub rooms: usize,
    /// Reports of history per room (365: one year).
    pub history: usize,
    /// Devices enrolled (the largest N).
    pub devices: usize,
    /// Seed of everything generated.
    pub seed: u64,
}

/// One enrolled device of the load, as the load generator needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadDevice {
    /// Who it writes as.
    pub author: Author,
    /// Its certificate (PEM file).
    pub crt: PathBuf,
    /// Its private key (PEM file).
    pub key: PathBuf,
    /// Its team's ten rooms; it writes in `rooms[own]`.
    pub rooms: Vec<RoomId>,
    /// Index in `rooms` of the room it writes in.
    pub own: usize,
}

/// What [`prepare`] leaves next to the relay's data: `layout.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Layout {
    /// The shape it was built for.
    pub shape: W3Shape,
    /// Every patient room, the team rooms first.
    pub rooms: Vec<RoomId>,
    /// Devices in team order (the first N are used for a run with N devices).
    pub devices: Vec<LoadDevice>,
    /// True once every room has its history.
    pub complete: bool,
    /// True once every phone's saved copy of its own room matches the relay's (see
    /// [`align_phone_copies`]).
    #[serde(default)]
    pub phones_aligned: bool,
}

fn layout_path(work: &Path) -> PathBuf {
    work.join("layout.json")
}

/// The relay's data folder inside `work`.
pub fn relay_dir(work: &Path) -> PathBuf {
    work.join("relay")
}

/// Where each measured run's relay works: a fresh copy of the prepared data.
fn run_dir(work: &Path) -> PathBuf {
    work.join("run")
}

/// Copies the prepared relay data to a fresh run folder and returns the copy's data folder.
/// Every run starts from the same state: the rooms hold exactly their year, and the phones'
/// saved copies of their own rooms match the relay's. (Running on the prepared folder itself
/// let each run's changes pile up in it, and the next run's first sync then sent every phone
/// all of them at once.)
pub fn fresh_run_copy(work: &Path) -> Fallible<PathBuf> {
    let run = run_dir(work);
    if run.exists() {
        std::fs::remove_dir_all(&run).map_err(err)?;
    }
    let to = run.join("relay");
    copy_dir(&relay_dir(work), &to)?;
    Ok(to)
}

fn copy_dir(from: &Path, to: &Path) -> Fallible<()> {
    std::fs::create_dir_all(to).map_err(err)?;
    for entry in std::fs::read_dir(from).map_err(err)? {
        let entry = entry.map_err(err)?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(err)?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(err)?;
        }
    }
    Ok(())
}

fn write_layout(work: &Path, layout: &Layout) -> Fallible<()> {
    let tmp = work.join("layout.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(layout).map_err(err)?).map_err(err)?;
    std::fs::rename(&tmp, layout_path(work)).map_err(err)
}

/// Reads the layout [`prepare`] wrote.
pub fn read_layout(work: &Path) -> Fallible<Layout> {
    let bytes = std::fs::read(layout_path(work)).map_err(|e| format!("no W3 layout: {e}"))?;
    serde_json::from_slice(&bytes).map_err(err)
}

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
/// already complete for the same shape is kept as is. Building 10,000 rooms takes a while
/// (Automerge writes each report op by op: about half a second per room), so it resumes
/// where an interrupted run stopped. With `build_history` false an unfinished folder is used
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
/// too (about 200 small ones each), and a phone behind by that much received them all in
/// its first sync (40 MB per phone in the load generator). Such rooms are compacted again.
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
            consent: crate::loopback::consented_room("x")?.consent,
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

/// Where [`prepare`] leaves the phone's copy of a room of the load.
fn phone_copy(work: &Path, room: RoomId) -> PathBuf {
    work.join("phones").join(format!("{room}.automerge"))
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

// ----- the load generator -----

/// Settings of one load run.
#[derive(Clone, Debug)]
pub struct LoadRun {
    /// Devices syncing (the first N of the layout).
    pub devices: usize,
    /// Seconds of measured load.
    pub seconds: f64,
    /// Each device syncs at most this often.
    pub interval: Duration,
    /// Seed of the devices' choices.
    pub seed: u64,
}

/// What the load generator measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoadFigures {
    /// Devices.
    pub devices: usize,
    /// Syncs completed within the measured window.
    pub syncs: u64,
    /// Syncs per second over the window.
    pub syncs_per_s: f64,
    /// Median latency (from when the sync was due to its answer), ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99th percentile latency of the syncs due after the first [`COLD_SECS`] seconds, once
    /// the rooms the devices write in have loaded; 0 for shorter runs.
    pub p99_after_cold_ms: f64,
    /// Reports posted.
    pub reports: u64,
    /// Receipts sent.
    pub receipts: u64,
    /// Failed syncs (errors, refusals, fallbacks). Must be 0.
    pub failures: u64,
    /// The first failure, if any (no document content).
    pub first_failure: Option<String>,
}

struct Device {
    info: LoadDevice,
    https: HttpsTransport,
    /// The relay's heads of each team room as last answered.
    known: Vec<Vec<Hash>>,
    /// Its own room, as the phone holds it.
    room: Option<Room>,
    /// Reports in its own room it has not marked read yet.
    unread: Vec<ReportId>,
}

/// The first seconds of a run, when the relay loads each written room from disk on its first
/// write (about 20 ms of CPU per one-year room), reported apart by
/// [`LoadFigures::p99_after_cold_ms`].
pub const COLD_SECS: f64 = 15.0;

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    /// Latencies of the syncs due after [`COLD_SECS`].
    after_cold_ms: Vec<f64>,
    reports: u64,
    receipts: u64,
    failures: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(why);
        }
    }
}

/// The device's transport: the HTTPS transport the apps ship, with its own certificate.
fn transport(url: &str, ca_pem: &str, crt: &Path, key: &Path) -> Fallible<HttpsTransport> {
    let crt = std::fs::read_to_string(crt).map_err(err)?;
    let key = std::fs::read_to_string(key).map_err(err)?;
    HttpsTransport::new(url, ca_pem, &crt, &key).map_err(err)
}

impl Device {
    /// Opens its own room as the phone held it after yesterday's sync (saved by [`prepare`]).
    fn warm_up(&mut self, work: &Path) -> Fallible<()> {
        let own = self.info.rooms[self.info.own];
        let bytes = std::fs::read(phone_copy(work, own)).map_err(err)?;
        let mut room = Room::load(own, &bytes).map_err(err)?;
        self.unread = room.report_ids().map_err(err)?;
        self.known[self.info.own] = kizuna_core::sync::protocol::to_wire(&room.heads());
        self.room = Some(room);
        Ok(())
    }

    /// One small change in its own room, as raw Automerge changes.
    fn write_something(
        &mut self,
        rng: &mut ChaCha8Rng,
        tally: &mut Tally,
    ) -> Fallible<Vec<Vec<u8>>> {
        let room = self.room.as_mut().ok_or("not warmed up")?;
        let before = room.heads();
        let now = Timestamp::now();
        // W1's mix: per report, six read receipts.
        if rng.random_range(0..7) == 0 || self.unread.is_empty() {
            let content = report_content(rng, now);
            room.post_report(&self.info.author, now, &content)
                .map_err(err)?;
            tally.reports += 1;
        } else {
            let k = rng.random_range(0..self.unread.len());
            let report = self.unread.swap_remove(k);
            room.mark_read(&self.info.author, now, report)
                .map_err(err)?;
            tally.receipts += 1;
        }
        Ok(room
            .changes_after(&before)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect())
    }

    /// One sync of all ten rooms carrying `changes` for its own room, through the client's
    /// sync exchange (the device's documents are in memory, not in a store: a store per
    /// device would put hundreds of phones' disk work on the relay's machine).
    async fn sync(&mut self, changes: Vec<Vec<u8>>) -> Fallible<()> {
        let own = self.info.own;
        let mut changes = Some(changes);
        let docs = self
            .info
            .rooms
            .iter()
            .enumerate()
            .map(|(i, r)| DocSync {
                doc: *r,
                known_heads: self.known[i].clone(),
                changes: if i == own {
                    changes.take().unwrap_or_default()
                } else {
                    Vec::new()
                },
                create: None,
                sync_message: None,
            })
            .collect();
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            docs,
            discover: false,
        };
        let resp = exchange_async(&self.https, &req)
            .await
            .map_err(|e| format!("sync: {e}"))?;
        for d in resp.docs {
            let Some(i) = self.info.rooms.iter().position(|r| *r == d.doc) else {
                return Err("an answer for a room not asked about".into());
            };
            match d.outcome {
                Outcome::Unchanged => {}
                Outcome::Updated { changes, heads, .. } => {
                    if i == own && !changes.is_empty() {
                        // The relay's post number for a report just sent: the phone keeps it.
                        let room = self.room.as_mut().ok_or("not warmed up")?;
                        let decoded = changes
                            .into_iter()
                            .map(automerge::Change::from_bytes)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(err)?;
                        room.doc_mut().apply_changes(decoded).map_err(err)?;
                    }
                    self.known[i] = heads;
                }
                Outcome::Refused { reason, .. } => return Err(format!("refused: {reason}")),
                Outcome::Gone => return Err("gone".into()),
                Outcome::New { .. } => return Err("a whole room was sent".into()),
                Outcome::SyncMessage { .. } => return Err("fell back to Automerge sync".into()),
            }
        }
        Ok(())
    }
}

/// Runs the load against the relay at `url` (its data folder inside `work` gives the CA)
/// and returns the figures. Runs in its own process (`kizuna-bench w3-load`).
pub fn load(work: &Path, url: &str, run: &LoadRun) -> Fallible<LoadFigures> {
    let layout = read_layout(work)?;
    if run.devices > layout.devices.len() {
        return Err(format!(
            "the relay was prepared for {} devices",
            layout.devices.len()
        ));
    }
    let ca_pem = std::fs::read_to_string(relay_dir(work).join("ca.crt")).map_err(err)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    let url = url.to_string();
    rt.block_on(async move {
        let mut devices = Vec::with_capacity(run.devices);
        for info in layout.devices.into_iter().take(run.devices) {
            let https = transport(&url, &ca_pem, &info.crt, &info.key)?;
            let rooms = info.rooms.len();
            devices.push(Device {
                info,
                https,
                known: vec![Vec::new(); rooms],
                room: None,
                unread: Vec::new(),
            });
        }
        // Warm-up (not measured): every phone opens its own room as saved yesterday; a team's
        // heads are shared, then every phone connects and syncs once.
        for d in &mut devices {
            d.warm_up(work)?;
        }
        let mut heads: HashMap<RoomId, Vec<Hash>> = HashMap::new();
        for d in &devices {
            heads.insert(d.info.rooms[d.info.own], d.known[d.info.own].clone());
        }
        for d in &mut devices {
            for (i, r) in d.info.rooms.iter().enumerate() {
                if let Some(h) = heads.get(r) {
                    d.known[i] = h.clone();
                }
            }
        }
        let first = futures::future::join_all(
            devices
                .into_iter()
                .map(|mut d| async move { d.sync(Vec::new()).await.map(|()| d) }),
        )
        .await;
        let devices = first.into_iter().collect::<Fallible<Vec<_>>>()?;
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let end = start + Duration::from_secs_f64(run.seconds);
        let tasks: Vec<_> = devices
            .into_iter()
            .enumerate()
            .map(|(k, mut d)| {
                let run = run.clone();
                tokio::spawn(async move {
                    let mut rng = ChaCha8Rng::seed_from_u64(run.seed ^ ((k as u64) << 20));
                    let mut tally = Tally::default();
                    // Spread the first syncs over one interval.
                    let offset = run.interval.mul_f64(rng.random::<f64>());
                    let mut due = start + offset;
                    while due < end {
                        tokio::time::sleep_until(due).await;
                        let changes = match d.write_something(&mut rng, &mut tally) {
                            Ok(c) => c,
                            Err(e) => {
                                tally.fail(format!("write: {e}"));
                                break;
                            }
                        };
                        let result = d.sync(changes).await;
                        let done = tokio::time::Instant::now();
                        match result {
                            Ok(()) if done <= end => {
                                let ms = (done - due).as_secs_f64() * 1000.0;
                                tally.latencies_ms.push(ms);
                                if (due - start).as_secs_f64() >= COLD_SECS {
                                    tally.after_cold_ms.push(ms);
                                }
                            }
                            Ok(()) => {}
                            Err(e) => tally.fail(e),
                        }
                        due += run.interval;
                        if due < done {
                            // Running late: the next sync is due now; its wait counts.
                            due = due.max(done - run.interval);
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut all = Tally::default();
        for t in tasks {
            let t = t.await.map_err(err)?;
            all.latencies_ms.extend(t.latencies_ms);
            all.after_cold_ms.extend(t.after_cold_ms);
            all.reports += t.reports;
            all.receipts += t.receipts;
            all.failures += t.failures;
            if all.first_failure.is_none() {
                all.first_failure = t.first_failure;
            }
        }
        let syncs = all.latencies_ms.len() as u64;
        Ok(LoadFigures {
            devices: run.devices,
            syncs,
            syncs_per_s: syncs as f64 / run.seconds,
            p50_ms: percentile(&all.latencies_ms, 50.0),
            p99_ms: percentile(&all.latencies_ms, 99.0),
            p99_after_cold_ms: if all.after_cold_ms.is_empty() {
                0.0
            } else {
                percentile(&all.after_cold_ms, 99.0)
            },
            reports: all.reports,
            receipts: all.receipts,
            failures: all.failures,
            first_failure: all.first_failure,
        })
    })
}

/// Resident memory of process `pid` in MiB (`VmRSS`).
pub fn rss_mb(pid: u32) -> f64 {
    pid_status_mb(pid, "VmRSS")
}

/// Samples a process's resident memory every 100 ms until stopped; keeps the peak.
pub struct RssWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<f64>>,
}

impl RssWatch {
    /// Starts watching `pid`.
    pub fn start(pid: u32) -> RssWatch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let now = rss_mb(pid);
                if now.is_finite() {
                    peak = peak.max(now);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        RssWatch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and returns the peak in MiB.
    pub fn peak(mut self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or(f64::NAN)
    }
}
