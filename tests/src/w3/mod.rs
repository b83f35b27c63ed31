//! W3, the city's morning: one relay with 10,000 one-year rooms on disk, and N devices each
//! syncing their 10 rooms with small deltas (one report or one receipt) in a loop.
//!
//! Three parts, each in its own process so the relay's figures are its own:
//! - [`prepare()`] builds the relay's data folder once (directory, device identities, rooms with
//!   a year of reports each) and keeps it for later runs with the same shape;
//! - the relay runs as a child process (`kizuna serve`, see [`crate::w2::ChildRelay`]);
//! - [`load()`] (the hidden `kizuna-bench w3-load`) is the load generator: N devices, each with
//!   its own certificate and its own HTTPS transport of `kizuna-client` (the one the apps
//!   ship), speaking the real sync protocol through the client's async sync exchange.
//!
//! Devices work in teams of ten sharing ten rooms, and each device writes in one of them (its
//! own), so a sync sends one change and receives what the nine others wrote meanwhile. A
//! device syncs at most every `interval` (a paced loop, so latency is measured from when the
//! sync was due, not from when a slow relay let it start).
//!
//! Where things are: `folder` (the prepared folder's paths and `layout.json`), `prepare`
//! (building it), `load` (the load generator), `memory` (the relay's memory, watched from
//! the benchmark's process).

mod folder;
mod load;
mod memory;
mod prepare;

pub use folder::{fresh_run_copy, read_layout, relay_dir};
pub use load::{COLD_SECS, LoadFigures, LoadRun, load};
pub use memory::{RssWatch, rss_mb};
pub use prepare::prepare;

use kizuna_core::{Author, RoomId};
use kizuna_testkit::Fallible;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Devices per team; a team shares this many rooms and each device writes in one of them.
pub const TEAM: usize = 10;

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

/// What [`prepare()`] leaves next to the relay's data: `layout.json`.
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
    /// `prepare::align_phone_copies`).
    #[serde(default)]
    pub phones_aligned: bool,
}
