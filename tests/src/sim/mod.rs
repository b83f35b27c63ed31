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
//!
//! Where things are: `setup` (relay, proxy, rooms, enrolled phones), `fleet` (the phone
//! processes), `faults` (relay kills and proxy faults), `present` (what a store holds),
//! `check` (the end: reopen, sync, verdict) and `verdict` (the findings).

mod check;
mod faults;
mod fleet;
mod present;
mod setup;
mod verdict;

pub use verdict::Verdict;

use kizuna_testkit::phone::enroll;
use kizuna_testkit::{Fallible, PHONE_KEY, Phone, consented_room};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Seconds into the run at which the relay is killed and restored from an online backup
    /// taken at half that time (0: never).
    pub restore_at_s: f64,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs the simulation in `work`; `exe` is the `kizuna-sim` binary (its `device` subcommand
/// runs a phone).
pub fn run(work: &Path, exe: &Path, cfg: &SimConfig) -> Fallible<Verdict> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let setup::Field {
        relay,
        rt,
        proxy,
        mut fleet,
    } = setup::set_up(work, exe, cfg)?;
    for i in 0..fleet.devs.len() {
        fleet.spawn(i)?;
    }

    let deadline = Instant::now() + Duration::from_secs(cfg.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = faults::relay_killer(relay, cfg, &stop, work.join("backup.kzb"));
    let faulter = faults::proxy_faults(&proxy, cfg, &stop);
    let mut next_kill = faults::next_device_kill(&mut rng, cfg);
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
            next_kill = faults::next_device_kill(&mut rng, cfg);
        }
    }

    // Quiet: no more faults; the phones finish what they are doing and stop.
    stop.store(true, Ordering::SeqCst);
    let (kills, restores, relay) = killer
        .join()
        .map_err(|_| "the relay's killer thread panicked".to_string())??;
    let _ = faulter.join();
    proxy.state.disarm();
    fleet.v.relay_kills = kills;
    fleet.v.relay_restores = restores;
    fleet.stop_all()?;

    let phones = check::reopen_and_sync(&mut fleet)?;
    let proxy_faults = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    fleet.v.resets = proxy_faults(&proxy.state.resets);
    fleet.v.cuts = proxy_faults(&proxy.state.cuts).saturating_sub(fleet.v.resets);
    fleet.v.delays = proxy_faults(&proxy.state.delays);
    fleet.v.faults =
        fleet.v.cuts + fleet.v.resets + fleet.v.delays + fleet.v.duplicates + fleet.v.replays;
    check::end_state(&mut fleet, &phones)?;
    check::audit(&rt, &relay, &mut fleet.v)?;
    Ok(fleet.v)
}
