//! `kizuna-sim`: the field simulator. Starts the real relay (`kizuna serve`, built next to
//! this binary) as a child process, runs phones through random offline work, syncs through a
//! connection-cutting proxy and relay kills, and checks the end state. Exits 0 only when the
//! verdict holds; the last line printed is the verdict.

use clap::Parser;
use kizuna_tests::sim::{SimConfig, run};

#[derive(Parser)]
#[command(about = "Kizuna field simulator: faults, crashes, convergence")]
struct Cli {
    /// Simulated phones.
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
}

fn main() {
    let cli = Cli::parse();
    let cfg = SimConfig {
        devices: cli.devices.max(1),
        rooms: cli.rooms.max(1),
        seconds: cli.seconds,
        seed: cli.seed,
        kill_every_s: cli.kill_every,
    };
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("kizuna-sim: no temporary folder: {e}");
            std::process::exit(2);
        }
    };
    match run(work.path(), &cfg) {
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
