//! The faults of the simulation that come from outside the phones: relay kills and the proxy's
//! cuts, resets and delays, each on a thread of its own with intervals drawn from the seed
//! (0.5–1.5 × the configured mean), and when the next phone is killed.

use super::{Fallible, SimConfig};
use crate::proxy::CutProxy;
use crate::w2::ChildRelay;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Kills the relay with SIGKILL and restarts it on its data until `stop`; with
/// `restore_at_s`, also takes an online backup into `backup` at half that time and, at that
/// time, kills the relay and restores the backup before starting it. The thread returns the
/// kills, the restores and the relay. It runs beside the phones, so a kill or the restore can
/// land in the middle of a sync (the relay mid-write).
pub(super) fn relay_killer(
    mut relay: ChildRelay,
    cfg: &SimConfig,
    stop: &Arc<AtomicBool>,
    backup: std::path::PathBuf,
) -> JoinHandle<Fallible<(u64, u64, ChildRelay)>> {
    let stop = stop.clone();
    let mut krng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6b69_6c6c);
    let every = cfg.kill_every_s;
    let restore_at_s = cfg.restore_at_s;
    std::thread::spawn(move || -> Fallible<(u64, u64, ChildRelay)> {
        let (mut kills, mut restores) = (0, 0);
        let start = Instant::now();
        let at = |s: f64| start + Duration::from_secs_f64(s);
        let mut backup_at = (restore_at_s > 0.0).then(|| at(restore_at_s / 2.0));
        let mut restore_at = (restore_at_s > 0.0).then(|| at(restore_at_s));
        let wait = |rng: &mut ChaCha8Rng| {
            (every > 0.0).then(|| {
                Instant::now() + Duration::from_secs_f64(every * rng.random_range(0.5..1.5))
            })
        };
        let mut next_kill = wait(&mut krng);
        loop {
            let Some(next) = [next_kill, backup_at, restore_at]
                .into_iter()
                .flatten()
                .min()
            else {
                while !sleep_unless(&stop, Duration::from_secs(1)) {}
                return Ok((kills, restores, relay));
            };
            if sleep_unless(&stop, next.saturating_duration_since(Instant::now())) {
                return Ok((kills, restores, relay));
            }
            if backup_at == Some(next) {
                relay.backup_to(&backup)?;
                backup_at = None;
            } else if restore_at == Some(next) {
                relay.kill_and_restore(&backup)?;
                restores += 1;
                restore_at = None;
            } else {
                relay.kill_and_restart()?;
                kills += 1;
                next_kill = wait(&mut krng);
            }
        }
    })
}

/// The proxy's faults until `stop`, one at a time: a cut, a reset or a delay, in either
/// direction.
pub(super) fn proxy_faults(
    proxy: &CutProxy,
    cfg: &SimConfig,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
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

/// When the next phone is to be killed (`None`: never).
pub(super) fn next_device_kill(rng: &mut ChaCha8Rng, cfg: &SimConfig) -> Option<Instant> {
    (cfg.device_kill_every_s > 0.0).then(|| {
        Instant::now()
            + Duration::from_secs_f64(cfg.device_kill_every_s * rng.random_range(0.5..1.5))
    })
}
