//! The field simulator (`kizuna-sim`): the real relay as a child process, phones with their
//! own encrypted stores doing random legal work offline and syncing through a proxy that cuts
//! connections, the relay killed with SIGKILL and restarted — then every phone syncs and the
//! checker proves that nothing acknowledged was lost and that everyone holds the same rooms.
//!
//! The schedule (who does what, when the relay dies, which connections are cut) comes from
//! the seed; thread timing does not, so two runs with one seed do the same work in the same
//! order but may see different interleavings inside the relay.

use crate::loopback::{Fallible, Phone, consented_room, enroll};
use crate::proxy::CutProxy;
use crate::w2::ChildRelay;
use kizuna_core::{Profession, ReportId, Role, RoomId, Timestamp};
use kizuna_server::client::Client;
use kizuna_server::wire::NewProfessional;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Phones.
    pub devices: usize,
    /// Patient rooms they share.
    pub rooms: usize,
    /// How long the random phase runs.
    pub seconds: u64,
    /// The schedule's seed.
    pub seed: u64,
    /// Mean seconds between relay kills (0: never).
    pub kill_every_s: f64,
}

/// The checker's findings.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Every phone and the relay hold the same rooms, and the audit log is intact.
    pub converged: bool,
    /// Reports phones were told the relay accepted.
    pub acknowledged: u64,
    /// Acknowledged reports missing anywhere at the end.
    pub lost: u64,
    /// Relay kills.
    pub relay_kills: u64,
    /// Connection cuts injected.
    pub faults: u64,
    /// Operations performed (writes and syncs).
    pub operations: u64,
    /// What failed, if anything.
    pub problem: Option<String>,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verdict: {}; acknowledged {}, lost {}, relay kills {}, faults {}, operations {}",
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
            self.operations
        )
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One simulated phone and what it wrote but has not seen acknowledged.
struct SimPhone {
    phone: Phone,
    unacknowledged: Vec<String>,
}

/// Runs the simulation in `work`.
pub fn run(work: &Path, cfg: &SimConfig) -> Fallible<Verdict> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
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
        rooms.push(r.id);
    }
    let mut phones = Vec::new();
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
        let phone = enroll(
            &rt,
            &admin,
            &relay.url,
            &ca_pem,
            &p,
            &work.join(format!("d{d}")),
        )?
        .with_url(&proxy.url())?;
        phone.client().sync_documents().map_err(err)?;
        phones.push(SimPhone {
            phone,
            unacknowledged: Vec::new(),
        });
    }

    let mut v = Verdict::default();
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(cfg.seconds);
    // The killer runs beside the phones, so a kill can land in the middle of a sync (the
    // relay mid-write). Its intervals come from the seed (0.5–1.5 × the mean).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay_data = relay.data.clone();
    let killer = {
        let stop = stop.clone();
        let mut krng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6b69_6c6c);
        let every = cfg.kill_every_s;
        std::thread::spawn(move || -> Fallible<(u64, ChildRelay)> {
            let mut kills = 0;
            if every <= 0.0 {
                return Ok((0, relay));
            }
            loop {
                let wait = Duration::from_secs_f64(every * krng.random_range(0.5..1.5));
                let until = Instant::now() + wait;
                while Instant::now() < until {
                    if stop.load(Ordering::SeqCst) {
                        return Ok((kills, relay));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                relay.kill_and_restart()?;
                kills += 1;
            }
        })
    };
    while Instant::now() < deadline {
        v.operations += 1;
        let d = rng.random_range(0..phones.len());
        let roll: f64 = rng.random();
        if roll < 0.05 {
            // A cut somewhere in the next 1–64 KB, one way or the other.
            let after = rng.random_range(1_000..64_000u64);
            proxy.state.reset();
            proxy.state.max_cuts.store(1, Ordering::SeqCst);
            if rng.random_bool(0.5) {
                proxy.state.cut_up_every.store(after, Ordering::SeqCst);
                proxy.state.cut_down_every.store(0, Ordering::SeqCst);
            } else {
                proxy.state.cut_up_every.store(0, Ordering::SeqCst);
                proxy.state.cut_down_every.store(after, Ordering::SeqCst);
            }
            v.faults += 1;
            continue;
        }
        let sp = &mut phones[d];
        let room = rooms[rng.random_range(0..rooms.len())];
        if roll < 0.55 {
            let text = format!("sim s{} d{d} op{}", cfg.seed, v.operations);
            sp.phone.post(room, &Phone::text(&text, None))?;
            sp.unacknowledged.push(text);
        } else if roll < 0.70 {
            if let Some(report) = some_report(&sp.phone, room, &mut rng)? {
                let h = sp.phone.store().open_room(room).map_err(err)?;
                h.write(|r| {
                    r.add_comment(
                        &sp.phone.author,
                        Timestamp::now(),
                        report,
                        &format!("了解 op{}", v.operations),
                    )
                })
                .map_err(err)?;
            }
        } else if roll < 0.78 {
            if let Some(report) = some_report(&sp.phone, room, &mut rng)? {
                let h = sp.phone.store().open_room(room).map_err(err)?;
                h.write(|r| r.mark_read(&sp.phone.author, Timestamp::now(), report))
                    .map_err(err)?;
            }
        } else {
            // Online: what the relay answered is on disk there (flushed before the reply).
            if let Ok(report) = sp.phone.client().sync_documents() {
                if report.refused.is_empty() {
                    acknowledged.extend(sp.unacknowledged.drain(..));
                }
            }
        }
    }

    stop.store(true, Ordering::SeqCst);
    let (kills, relay) = killer
        .join()
        .map_err(|_| "the killer thread panicked".to_string())??;
    v.relay_kills = kills;
    debug_assert_eq!(relay.data, relay_data);

    // Quiet: no more faults; everyone syncs until nothing moves.
    proxy.state.reset();
    proxy.state.max_cuts.store(0, Ordering::SeqCst);
    for _round in 0..3 {
        for sp in &mut phones {
            for _ in 0..20 {
                match sp.phone.client().sync_documents() {
                    Ok(r) if !r.again && r.updated.is_empty() && r.added.is_empty() => break,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            sp.unacknowledged.clear();
        }
    }
    v.acknowledged = acknowledged.len() as u64;
    check(&phones, &rooms, &acknowledged, &mut v)?;
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
        v.converged = false;
        v.problem = Some(format!("audit log broken at {:?}", audit.first_broken));
    }
    Ok(v)
}

fn some_report(
    phone: &Phone,
    room: RoomId,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Fallible<Option<ReportId>> {
    let list = phone.store().room_reports(room, 20).map_err(err)?;
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(list[rng.random_range(0..list.len())].id))
}

fn check(
    phones: &[SimPhone],
    rooms: &[RoomId],
    acknowledged: &BTreeSet<String>,
    v: &mut Verdict,
) -> Fallible<()> {
    v.converged = true;
    let first = &phones[0].phone;
    for room in rooms {
        let want = first
            .store()
            .open_room(*room)
            .map_err(err)?
            .meta()
            .saved_heads();
        for sp in phones {
            let meta = sp.phone.store().open_room(*room).map_err(err)?.meta();
            if meta.saved_heads() != want || meta.relay_heads() != want {
                v.converged = false;
                v.problem = Some(format!("room {room} differs between phones or the relay"));
            }
        }
        // Post numbers dense and unique.
        let reports = first.reports(*room)?;
        let mut numbers: Vec<u64> = reports.iter().filter_map(|r| r.1).collect();
        numbers.sort_unstable();
        let expected: Vec<u64> = (1..=reports.len() as u64).collect();
        if numbers != expected {
            v.converged = false;
            v.problem = Some(format!(
                "post numbers in room {room} are not 1..={} ({} numbered)",
                reports.len(),
                numbers.len()
            ));
        }
    }
    let mut texts_per_phone: Vec<BTreeSet<String>> = Vec::new();
    for sp in phones {
        let mut all = BTreeSet::new();
        for room in rooms {
            all.extend(sp.phone.reports(*room)?.into_iter().map(|r| r.2));
        }
        texts_per_phone.push(all);
    }
    let mut lost = BTreeMap::new();
    for t in acknowledged {
        for (i, have) in texts_per_phone.iter().enumerate() {
            if !have.contains(t) {
                lost.insert(t.clone(), i);
            }
        }
    }
    v.lost = lost.len() as u64;
    if let Some((t, i)) = lost.iter().next() {
        v.problem = Some(format!("acknowledged {t:?} missing on phone {i}"));
    }
    Ok(())
}
