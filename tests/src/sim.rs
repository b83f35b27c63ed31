//! The field simulator (`kizuna-sim`): the real relay as a child process, phones as child
//! processes (`kizuna-sim device`, [`crate::sim_device`]) with their own encrypted stores
//! doing random legal work offline and syncing through a fault-injecting proxy — and then the
//! checker proves that nothing saved or acknowledged was lost and that everyone holds the same
//! rooms.
//!
//! Faults, all from the seed:
//! - the relay killed with SIGKILL (mid-sync included) and restarted on its data;
//! - a phone process killed with SIGKILL (mid-write and mid-sync included); before it starts
//!   again from its store, the parent opens that store and checks that every change the phone
//!   said was saved is there;
//! - connections cut (FIN) or reset (RST) after 0.2–16 KB in either direction, and bytes held
//!   back 5–400 ms (the proxy, [`crate::proxy`]);
//! - sync requests and uploads sent twice, old requests replayed (the phones' transport).
//!
//! The schedule (who does what, when which process dies, which fault comes next) comes from
//! the seed; thread and process timing does not, so two runs with one seed follow the same
//! schedule but may see different interleavings.

use crate::loopback::{Fallible, PHONE_KEY, Phone, consented_room, enroll};
use crate::proxy::CutProxy;
use crate::sim_device::{DeviceFile, Line, Token};
use crate::w2::ChildRelay;
use kizuna_core::{ContentHash, Profession, ProfessionalId, ReportId, Role, RoomId, RoomStore};
use kizuna_server::cli::client::Client;
use kizuna_server::identity::NewProfessional;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Phones (each its own process).
    pub devices: usize,
    /// Patient rooms they share.
    pub rooms: usize,
    /// How long the random phase runs.
    pub seconds: u64,
    /// The schedule's seed.
    pub seed: u64,
    /// Mean seconds between relay kills (0: never).
    pub kill_every_s: f64,
    /// Mean seconds between phone process kills (0: never).
    pub device_kill_every_s: f64,
    /// Mean seconds between proxy faults: cut, reset or delay (0: never).
    pub fault_every_s: f64,
    /// Mean pause of each phone between operations, in milliseconds.
    pub pace_ms: u64,
}

/// The checker's findings.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Every phone and the relay hold the same rooms, post numbers are dense and unique, no
    /// report is doubled, and the audit log is intact.
    pub converged: bool,
    /// Changes phones were told the relay accepted (documents synced without refusal, whole
    /// photos uploaded).
    pub acknowledged: u64,
    /// Changes saved on a phone or acknowledged by the relay that are missing anywhere: after a
    /// phone's kill in its own store, or at the end on any phone.
    pub lost: u64,
    /// Relay kills.
    pub relay_kills: u64,
    /// Faults injected that took effect: cuts, resets, delays, duplicates and replays.
    pub faults: u64,
    /// Operations the phones performed (writes and syncs).
    pub operations: u64,
    /// Phone processes killed (each then restarted from its store), by the simulator or at
    /// a crash point of their own.
    pub device_kills: u64,
    /// Of those, deaths at a phone's own crash point inside an operation.
    pub crash_points: u64,
    /// Changes phones were told were saved on their disk.
    pub saved: u64,
    /// Connections cut with an orderly end of stream.
    pub cuts: u64,
    /// Connections reset (RST).
    pub resets: u64,
    /// Delays that held back bytes.
    pub delays: u64,
    /// Requests or uploads that reached the relay twice.
    pub duplicates: u64,
    /// Old requests replayed.
    pub replays: u64,
    /// What failed, if anything.
    pub problem: Option<String>,
}

impl Verdict {
    fn fail(&mut self, problem: String) {
        self.converged = false;
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verdict: {}; acknowledged {}, lost {}, relay kills {}, faults {}, operations {}, \
             device kills {} ({} at crash points), saved {}, cuts {}, resets {}, delays {}, \
             duplicates {}, replays {}",
            if self.converged && self.lost == 0 {
                "converged".to_string()
            } else {
                format!(
                    "FAILED ({})",
                    self.problem.as_deref().unwrap_or("state differs")
                )
            },
            self.acknowledged,
            self.lost,
            self.relay_kills,
            self.faults,
            self.operations,
            self.device_kills,
            self.crash_points,
            self.saved,
            self.cuts,
            self.resets,
            self.delays,
            self.duplicates,
            self.replays
        )
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A message from a device process's stdout reader.
enum Msg {
    Line(usize, String),
    Eof(usize, u64),
}

/// One simulated phone: its folder, its process, and what it said.
struct Dev {
    dir: PathBuf,
    professional: ProfessionalId,
    child: Option<Child>,
    incarnation: u64,
    /// Its reader has not reached the end of the current process's output.
    running: bool,
    /// We killed the current process (or asked it to stop).
    ending: bool,
    /// The current process said it dies at a crash point.
    crashing: bool,
    /// Every change it said it saved, in order.
    saved: Vec<Token>,
    /// Which of those the relay acknowledged.
    acked: Vec<bool>,
    /// Indices of saved changes not yet acknowledged.
    pending: Vec<usize>,
}

/// The phones and the bookkeeping of their lines.
struct Fleet {
    devs: Vec<Dev>,
    rooms: Vec<RoomId>,
    exe: PathBuf,
    cfg: SimConfig,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    uploaded: BTreeSet<ContentHash>,
    /// (phone, index of the saved change) missing somewhere.
    lost: BTreeSet<(usize, usize)>,
    /// Photos that reports point to but the relay cannot give.
    lost_blobs: u64,
    v: Verdict,
}

impl Fleet {
    fn spawn(&mut self, i: usize) -> Fallible<()> {
        let dev = &mut self.devs[i];
        dev.incarnation += 1;
        let mut child = Command::new(&self.exe)
            .arg("device")
            .arg("--dir")
            .arg(&dev.dir)
            .args([
                "--seed",
                &self.cfg.seed.to_string(),
                "--incarnation",
                &dev.incarnation.to_string(),
                "--pace-ms",
                &self.cfg.pace_ms.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a device process: {e}"))?;
        let out = child
            .stdout
            .take()
            .ok_or("no stdout of the device process")?;
        let tx = self.tx.clone();
        let inc = dev.incarnation;
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(Msg::Line(i, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof(i, inc));
        });
        dev.child = Some(child);
        dev.running = true;
        dev.ending = false;
        dev.crashing = false;
        Ok(())
    }

    fn handle(&mut self, msg: Msg) -> Fallible<()> {
        match msg {
            Msg::Line(i, text) => {
                let dev = &mut self.devs[i];
                match Line::parse(&text) {
                    Some(Line::Saved(t)) => {
                        self.v.operations += 1;
                        dev.pending.push(dev.saved.len());
                        dev.saved.push(t);
                        dev.acked.push(false);
                    }
                    Some(Line::Synced) => {
                        self.v.operations += 1;
                        for p in dev.pending.drain(..) {
                            dev.acked[p] = true;
                        }
                    }
                    Some(Line::SyncFailed) => self.v.operations += 1,
                    Some(Line::Uploaded(h)) => {
                        self.uploaded.insert(h);
                    }
                    Some(Line::Duplicate) => self.v.duplicates += 1,
                    Some(Line::Replay) => self.v.replays += 1,
                    Some(Line::Crash) => {
                        dev.crashing = true;
                        self.v.crash_points += 1;
                    }
                    Some(Line::Ready | Line::Offline) => {}
                    None => self
                        .v
                        .fail(format!("phone {i} wrote a line the simulator cannot read")),
                }
            }
            Msg::Eof(i, inc) => {
                let dev = &mut self.devs[i];
                if inc == dev.incarnation {
                    dev.running = false;
                    if !dev.ending && dev.crashing {
                        dev.ending = true;
                        self.after_death(i)?;
                    } else if !dev.ending {
                        let status = dev
                            .child
                            .as_mut()
                            .and_then(|c| c.wait().ok())
                            .map(|s| s.to_string())
                            .unwrap_or_default();
                        dev.child = None;
                        self.v
                            .fail(format!("phone {i} stopped on its own ({status})"));
                        // Keep the fleet complete; the verdict already failed.
                        self.spawn(i)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles messages until phone `i`'s current process has said everything.
    fn drain(&mut self, i: usize) -> Fallible<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.devs[i].running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("phone {i}'s output did not end"));
            }
            match self.rx.recv_timeout(left) {
                Ok(m) => self.handle(m)?,
                Err(_) => return Err(format!("phone {i}'s output did not end")),
            }
        }
        Ok(())
    }

    /// SIGKILLs phone `i`, checks its store holds everything it said it saved, starts it again
    /// (unless it is already dying at a crash point of its own).
    fn kill(&mut self, i: usize) -> Fallible<()> {
        let dev = &mut self.devs[i];
        dev.ending = true;
        if let Some(mut c) = dev.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.drain(i)?;
        self.after_death(i)
    }

    /// Phone `i`'s process is dead and has said everything: checks its store holds every
    /// change it said it saved, starts it again.
    fn after_death(&mut self, i: usize) -> Fallible<()> {
        if let Some(mut c) = self.devs[i].child.take() {
            let _ = c.wait();
        }
        self.v.device_kills += 1;
        let store = open_store(&self.devs[i].dir)?;
        let present = Present::read(&store, &self.rooms)?;
        drop(store);
        self.check_durable(i, &present, "after its kill");
        self.spawn(i)
    }

    /// Records every change phone `i` said it saved that its own store does not hold.
    fn check_durable(&mut self, i: usize, present: &Present, when: &str) {
        let dev = &self.devs[i];
        for (k, t) in dev.saved.iter().enumerate() {
            if !present.has(t, dev.professional) && self.lost.insert((i, k)) {
                let problem = format!("phone {i} lost a saved {} {when}", t.kind());
                self.v.fail(problem);
            }
        }
    }
}

/// Opens a phone's store (retrying while the lock of a process just killed is released).
fn open_store(dir: &Path) -> Fallible<RoomStore> {
    let mut tries = 0;
    loop {
        match RoomStore::open(dir, &PHONE_KEY) {
            Ok(s) => return Ok(s),
            Err(e) if tries < 100 && e.to_string().contains("lock") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("a phone's store does not open: {e}")),
        }
    }
}

/// What one store holds, in the terms of the phones' `saved` lines.
#[derive(Default)]
struct Present {
    /// Report body text → (copies, room).
    reports: BTreeMap<String, (u32, RoomId)>,
    comments: BTreeSet<String>,
    receipts: BTreeSet<(ReportId, ProfessionalId)>,
    medications: BTreeSet<String>,
    /// Every attachment a report points to: hash, document, author.
    attachments: Vec<(ContentHash, RoomId, ProfessionalId)>,
    /// Post numbers per room (`None`: not numbered).
    numbers: BTreeMap<RoomId, Vec<Option<u64>>>,
}

impl Present {
    fn read(store: &RoomStore, rooms: &[RoomId]) -> Fallible<Present> {
        let mut p = Present::default();
        for room in rooms {
            let h = store.open_room(*room).map_err(err)?;
            h.read(|r| {
                let numbers = p.numbers.entry(*room).or_default();
                for id in r.report_ids()? {
                    let rep = r.report(id)?;
                    let text = match &rep.content.body {
                        kizuna_core::model::ReportBody::Free { text } => text.clone(),
                        kizuna_core::model::ReportBody::Soap { s, .. } => s.clone(),
                    };
                    p.reports.entry(text).or_insert((0, *room)).0 += 1;
                    numbers.push(rep.post_no);
                    for a in &rep.content.attachments {
                        p.attachments.push((a.hash, *room, rep.author.professional));
                    }
                    p.comments.extend(rep.comments.into_iter().map(|c| c.text));
                    p.receipts
                        .extend(rep.receipts.into_keys().map(|who| (id, who)));
                }
                p.medications
                    .extend(r.profile()?.medications.into_values().map(|m| m.name));
                Ok(())
            })
            .map_err(err)?;
        }
        Ok(p)
    }

    fn has(&self, t: &Token, who: ProfessionalId) -> bool {
        match t {
            Token::Report(text) | Token::Photo(text, _) => self.reports.contains_key(text),
            Token::Comment(text) => self.comments.contains(text),
            Token::Receipt(id) => self.receipts.contains(&(*id, who)),
            Token::Profile(name) => self.medications.contains(name),
        }
    }
}

/// Runs the simulation in `work`; `exe` is the `kizuna-sim` binary (its `device` subcommand
/// runs a phone).
pub fn run(work: &Path, exe: &Path, cfg: &SimConfig) -> Fallible<Verdict> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut relay = ChildRelay::start(&work.join("relay"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
    let ca_pem = std::fs::read_to_string(relay.data.join("ca.crt")).map_err(err)?;
    let relay_addr: SocketAddr = relay
        .url
        .trim_start_matches("https://")
        .parse()
        .map_err(err)?;
    let proxy = CutProxy::start(relay_addr)?;
    let mut rooms = Vec::new();
    for i in 0..cfg.rooms {
        let r = rt
            .block_on(admin.create_room(&consented_room(&format!("患者 {i}"))?))
            .map_err(err)?;
        rooms.push(RoomId(r.id));
    }
    let (tx, rx) = mpsc::channel();
    let mut fleet = Fleet {
        devs: Vec::new(),
        rooms: rooms.clone(),
        exe: exe.to_path_buf(),
        cfg: cfg.clone(),
        tx,
        rx,
        uploaded: BTreeSet::new(),
        lost: BTreeSet::new(),
        lost_blobs: 0,
        v: Verdict::default(),
    };
    let mut admin = admin;
    for d in 0..cfg.devices {
        if d > 0 && d % 9 == 0 {
            // The relay allows ten enrollments per source address per window and every phone
            // here comes from 127.0.0.1; the limiter lives in memory, so a restart resets it
            // (a city's phones come from many addresses).
            relay.kill_and_restart()?;
            admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
        }
        let p = rt
            .block_on(admin.add_professional(&NewProfessional {
                name: format!("看護師 {d}"),
                kana: "かんごし".into(),
                profession: Profession::Nurse,
                organisation: kizuna_core::Organisation {
                    name: "みどり訪問看護ステーション".into(),
                    office_number: None,
                },
            }))
            .map_err(err)?;
        for r in &rooms {
            rt.block_on(admin.invite(*r, p.id, Role::Writer))
                .map_err(err)?;
        }
        let dir = work.join(format!("d{d}"));
        let phone = enroll(&rt, &admin, &relay.url, &ca_pem, &p, &dir)?.with_url(&proxy.url())?;
        phone.client().sync_documents().map_err(err)?;
        DeviceFile {
            index: d,
            author: phone.author.clone(),
            url: proxy.url(),
            ca_pem: phone.identity.ca_pem.clone(),
            crt_pem: phone.identity.crt_pem.clone(),
            key_pem: phone.identity.key_pem.clone(),
            rooms: rooms.clone(),
        }
        .save(&dir)?;
        drop(phone);
        fleet.devs.push(Dev {
            dir,
            professional: ProfessionalId(p.id),
            child: None,
            incarnation: 0,
            running: false,
            ending: false,
            crashing: false,
            saved: Vec::new(),
            acked: Vec::new(),
            pending: Vec::new(),
        });
    }
    for i in 0..fleet.devs.len() {
        fleet.spawn(i)?;
    }

    let deadline = Instant::now() + Duration::from_secs(cfg.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    // The relay's killer runs beside the phones, so a kill can land in the middle of a sync
    // (the relay mid-write). Its intervals come from the seed (0.5–1.5 × the mean).
    let killer = {
        let stop = stop.clone();
        let mut krng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6b69_6c6c);
        let every = cfg.kill_every_s;
        std::thread::spawn(move || -> Fallible<(u64, ChildRelay)> {
            let mut kills = 0;
            if every <= 0.0 {
                return Ok((0, relay));
            }
            loop {
                let wait = Duration::from_secs_f64(every * krng.random_range(0.5..1.5));
                if sleep_unless(&stop, wait) {
                    return Ok((kills, relay));
                }
                relay.kill_and_restart()?;
                kills += 1;
            }
        })
    };
    // The proxy's faults, one at a time: a cut, a reset or a delay, in either direction.
    let faulter = {
        let stop = stop.clone();
        let st = proxy.state.clone();
        let mut frng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x0066_6175_6c74);
        let every = cfg.fault_every_s;
        std::thread::spawn(move || {
            if every <= 0.0 {
                return;
            }
            loop {
                let wait = Duration::from_secs_f64(every * frng.random_range(0.5..1.5));
                if sleep_unless(&stop, wait) {
                    return;
                }
                let up = frng.random_bool(0.5);
                match frng.random_range(0..3) {
                    0 => st.arm_cut(up, frng.random_range(200..16_000), false),
                    1 => st.arm_cut(up, frng.random_range(200..16_000), true),
                    _ => st.arm_delay(up, frng.random_range(5..400), frng.random_range(1..16)),
                }
            }
        })
    };
    let mut next_kill = next_device_kill(&mut rng, cfg);
    while Instant::now() < deadline {
        let now = Instant::now();
        let until = next_kill.map_or(deadline, |k| k.min(deadline));
        let wait = until
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        if let Ok(m) = fleet.rx.recv_timeout(wait) {
            fleet.handle(m)?;
        }
        if next_kill.is_some_and(|k| Instant::now() >= k) {
            let victim = rng.random_range(0..fleet.devs.len());
            fleet.kill(victim)?;
            next_kill = next_device_kill(&mut rng, cfg);
        }
    }

    // Quiet: no more faults; the phones finish what they are doing and stop.
    stop.store(true, Ordering::SeqCst);
    let (kills, relay) = killer
        .join()
        .map_err(|_| "the relay's killer thread panicked".to_string())??;
    let _ = faulter.join();
    proxy.state.disarm();
    fleet.v.relay_kills = kills;
    for dev in &mut fleet.devs {
        dev.ending = true;
        if let Some(c) = dev.child.as_mut() {
            drop(c.stdin.take());
        }
    }
    for i in 0..fleet.devs.len() {
        let stopped = Instant::now() + Duration::from_secs(60);
        let mut ended = None;
        while let Some(c) = fleet.devs[i].child.as_mut() {
            match c.try_wait() {
                Ok(Some(status)) => {
                    ended = Some(status);
                    break;
                }
                _ if Instant::now() > stopped => {
                    let _ = c.kill();
                    let _ = c.wait();
                    fleet.v.fail(format!("phone {i} did not stop when asked"));
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        fleet.drain(i)?;
        // A phone dying at its own crash point just then is one more kill, checked below.
        if let Some(status) = ended.filter(|s| !s.success() && !fleet.devs[i].crashing) {
            fleet
                .v
                .fail(format!("phone {i} ended with an error ({status})"));
        }
    }

    // Every phone starts once more in this process: its store must hold everything it said it
    // saved; then everyone syncs until nothing moves.
    let mut phones = Vec::new();
    for i in 0..fleet.devs.len() {
        let file = DeviceFile::load(&fleet.devs[i].dir)?;
        let phone = Phone::open(&fleet.devs[i].dir, file.author.clone(), file.identity())?;
        let present = Present::read(phone.store(), &rooms)?;
        fleet.check_durable(i, &present, "at the end of the run");
        phones.push(phone);
    }
    for _round in 0..3 {
        for phone in &phones {
            for _ in 0..20 {
                match phone.sync() {
                    Ok(r) if !r.again && r.updated.is_empty() && r.added.is_empty() => break,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
    }
    let proxy_faults = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    fleet.v.resets = proxy_faults(&proxy.state.resets);
    fleet.v.cuts = proxy_faults(&proxy.state.cuts).saturating_sub(fleet.v.resets);
    fleet.v.delays = proxy_faults(&proxy.state.delays);
    fleet.v.faults =
        fleet.v.cuts + fleet.v.resets + fleet.v.delays + fleet.v.duplicates + fleet.v.replays;
    check(&mut fleet, &phones)?;

    // A fresh client: the old one's connections died with the killed relay.
    let mut audit = None;
    for _ in 0..20 {
        let admin = Client::admin_from_data_dir(&relay.data, None).map_err(err)?;
        if let Ok(a) = rt.block_on(admin.audit_verify()) {
            audit = Some(a);
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let audit = audit.ok_or("the relay does not answer the audit check")?;
    if !audit.intact {
        fleet
            .v
            .fail(format!("audit log broken at {:?}", audit.first_broken));
    }
    Ok(fleet.v)
}

/// Sleeps `wait` unless `stop` is set first; true when stopped.
fn sleep_unless(stop: &AtomicBool, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.load(Ordering::SeqCst)
}

fn next_device_kill(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Option<Instant> {
    (cfg.device_kill_every_s > 0.0).then(|| {
        Instant::now()
            + Duration::from_secs_f64(cfg.device_kill_every_s * rng.random_range(0.5..1.5))
    })
}

/// The end state: identical rooms, dense post numbers, no doubled report, every saved or
/// acknowledged change on every phone, every photo on the relay.
fn check(fleet: &mut Fleet, phones: &[Phone]) -> Fallible<()> {
    fleet.v.converged = true;
    let rooms = fleet.rooms.clone();
    let first = &phones[0];
    for room in &rooms {
        let want = first
            .store()
            .open_room(*room)
            .map_err(err)?
            .meta()
            .saved_heads();
        for (i, phone) in phones.iter().enumerate() {
            let meta = phone.store().open_room(*room).map_err(err)?.meta();
            if meta.saved_heads() != want || meta.relay_heads() != want {
                fleet.v.fail(format!(
                    "room {room} differs between phone {i}, phone 0 or the relay"
                ));
            }
        }
    }
    let mut presents = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let p = Present::read(phone.store(), &rooms)?;
        for (room, numbers) in &p.numbers {
            let mut got: Vec<u64> = numbers.iter().flatten().copied().collect();
            got.sort_unstable();
            let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
            if got != expected {
                fleet.v.fail(format!(
                    "post numbers in room {room} on phone {i} are not 1..={} ({} numbered)",
                    numbers.len(),
                    got.len()
                ));
            }
        }
        if p.reports.values().any(|(copies, _)| *copies > 1) {
            fleet.v.fail(format!("a report is doubled on phone {i}"));
        }
        let pending = phone.client().blobs().pending_uploads().map_err(err)?;
        if !pending.is_empty() {
            fleet.v.fail(format!(
                "phone {i} still has {} uploads queued",
                pending.len()
            ));
        }
        presents.push(p);
    }
    let mut acknowledged = 0;
    for d in 0..fleet.devs.len() {
        for k in 0..fleet.devs[d].saved.len() {
            let t = fleet.devs[d].saved[k].clone();
            let acked = fleet.devs[d].acked[k];
            fleet.v.saved += 1;
            if acked {
                acknowledged += 1;
            }
            for (i, p) in presents.iter().enumerate() {
                if !p.has(&t, fleet.devs[d].professional) && fleet.lost.insert((d, k)) {
                    let what = if acked { "acknowledged" } else { "saved" };
                    fleet.v.fail(format!(
                        "an {what} {} of phone {d} is missing on phone {i}",
                        t.kind()
                    ));
                }
            }
            if let Token::Photo(_, hash) = &t
                && fleet.uploaded.contains(hash)
            {
                acknowledged += 1;
            }
        }
    }
    // Every photo any report points to can be fetched from the relay by another phone (the
    // hash is checked on arrival) — also photos of reports whose phone died before it said
    // "saved".
    let author_of: BTreeMap<ProfessionalId, usize> = fleet
        .devs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.professional, i))
        .collect();
    for (hash, room, author) in presents[0].attachments.clone() {
        let d = author_of.get(&author).copied().unwrap_or(0);
        let other = &phones[(d + 1) % phones.len()];
        let fetched = if phones.len() > 1 {
            other
                .client()
                .fetch_attachment(&hash, room, "image/png", u64::MAX, &|_, _, _| {})
                .is_ok()
        } else {
            other
                .client()
                .transport()
                .upload_status(&hash, room, 0, "image/png")
                .is_ok_and(|s| s.complete)
        };
        if !fetched {
            fleet.lost_blobs += 1;
            fleet.v.fail(format!(
                "a photo in a report of phone {d} cannot be fetched from the relay"
            ));
        }
    }
    fleet.v.acknowledged = acknowledged;
    fleet.v.lost = fleet.lost.len() as u64 + fleet.lost_blobs;
    Ok(())
}
