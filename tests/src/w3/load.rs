//! The W3 load generator (`kizuna-bench w3-load`, its own process): N devices, each syncing its
//! team's ten rooms in a paced loop with one small change in its own room.

use super::folder::{phone_copy, read_layout, relay_dir};
use super::{Fallible, LoadDevice, err};
use crate::measure::percentile;
use crate::workload::report_content;
use kizuna_client::HttpsTransport;
use kizuna_client::sync_client::exchange_async;
use kizuna_core::sync::protocol::{DocSync, Hash, Outcome, PROTOCOL_VERSION, SyncRequest};
use kizuna_core::{ReportId, Room, RoomId, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

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
/// write (Automerge rebuilds every change of a one-year room; the cost and the length of the
/// cold start are in `docs/benchmarks.md`, W3), reported apart by
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
    /// Opens its own room as the phone held it after yesterday's sync (saved by [`super::prepare()`]).
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
