//! `kizuna-sim`: the field simulator. Starts the real relay (`kizuna serve`, built next to
//! this binary) as a child process and phones as child processes of its own (the hidden
//! `device` subcommand), runs them through random offline work, relay and phone kills, and a
//! fault-injecting proxy (cuts, resets, delays) and transport (duplicated and replayed
//! requests), and checks the end state. Exits 0 only when the verdict holds; the last line
//! printed is the verdict.

use clap::{Parser, Subcommand};
use kizuna_tests::sim::{SimConfig, run};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Kizuna field simulator: faults, crashes, convergence",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Simulated phones (each its own process).
    #[arg(long, default_value_t = 5)]
    devices: usize,
    /// Shared patient rooms.
    #[arg(long, default_value_t = 3)]
    rooms: usize,
    /// Seconds of random work before the final sync.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mean seconds between relay kills (0: never).
    #[arg(long, default_value_t = 30.0)]
    kill_every: f64,
    /// Mean seconds between phone process kills (0: never).
    #[arg(long, default_value_t = 10.0)]
    device_kill_every: f64,
    /// Mean seconds between proxy faults: cuts, resets, delays (0: never).
    #[arg(long, default_value_t = 1.5)]
    fault_every: f64,
    /// Mean pause of each phone between operations (ms).
    #[arg(long, default_value_t = 1500)]
    pace_ms: u64,
    /// Seconds into the run at which the relay is killed and restored from an online backup
    /// taken at half that time (0: never).
    #[arg(long, default_value_t = 0.0)]
    restore_at: f64,
}

#[derive(Subcommand)]
enum Cmd {
    /// One simulated phone (started by the simulator itself).
    #[command(hide = true)]
    Device {
        /// The phone's folder (store and `sim-device.json`).
        #[arg(long)]
        dir: PathBuf,
        /// The simulation's seed.
        #[arg(long)]
        seed: u64,
        /// How many times this phone has been started.
        #[arg(long)]
        incarnation: u64,
        /// Mean pause between operations (ms).
        #[arg(long)]
        pace_ms: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Some(Cmd::Device {
        dir,
        seed,
        incarnation,
        pace_ms,
    }) = cli.command
    {
        if let Err(e) = kizuna_tests::sim_device::run_device(&dir, seed, incarnation, pace_ms) {
            eprintln!("kizuna-sim device: {e}");
            std::process::exit(1);
        }
        return;
    }
    let cfg = SimConfig {
        devices: cli.devices.max(1),
        rooms: cli.rooms.max(1),
        seconds: cli.seconds,
        seed: cli.seed,
        kill_every_s: cli.kill_every,
        device_kill_every_s: cli.device_kill_every,
        fault_every_s: cli.fault_every,
        pace_ms: cli.pace_ms,
        restore_at_s: cli.restore_at,
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            println!("verdict: FAILED (the simulation could not run: {e})");
            std::process::exit(2);
        }
    };
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("kizuna-sim: no temporary folder: {e}");
            std::process::exit(2);
        }
    };
    match run(work.path(), &exe, &cfg) {
        Ok(v) => {
            println!("{v}");
            if !(v.converged && v.lost == 0) {
                std::process::exit(1);
            }
        }
        Err(e) => {
            println!("verdict: FAILED (the simulation could not run: {e})");
            std::process::exit(2);
        }
    }
}
