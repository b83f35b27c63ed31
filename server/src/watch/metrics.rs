//! The relay's counters, kept as atomics (no lock on the sync path) and written out in the
//! Prometheus text exposition format (version 0.0.4) by hand: a dozen series do not need a
//! metrics library. No label carries a room, a device or a person: outcomes only.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// How a sync request ended, the label of `kizuna_syncs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Answered.
    Ok,
    /// Refused by the sync gate: too much work in flight.
    Busy,
    /// Refused: the relay's disk is full.
    StorageFull,
    /// Any other error (bad request, storage failure, internal error).
    Error,
}

impl SyncOutcome {
    const ALL: [SyncOutcome; 4] = [
        SyncOutcome::Ok,
        SyncOutcome::Busy,
        SyncOutcome::StorageFull,
        SyncOutcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            SyncOutcome::Ok => "ok",
            SyncOutcome::Busy => "busy",
            SyncOutcome::StorageFull => "storage_full",
            SyncOutcome::Error => "error",
        }
    }
}

/// Upper bounds (seconds) of the sync latency histogram's buckets: a reconnect answered from
/// metadata takes a millisecond, a year-old room loaded from disk about a second.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The relay's counters and what the gauges are read from.
#[derive(Debug)]
pub struct Metrics {
    data_dir: PathBuf,
    min_free_bytes: u64,
    syncs: [AtomicU64; 4],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    blob_bytes_received: AtomicU64,
    /// Unix seconds when the server certificate in use expires (0: not known yet).
    server_cert_not_after: AtomicI64,
}

/// The values read at scrape time from the stores, handed to [`Metrics::render`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Room documents held in memory.
    pub loaded_rooms: u64,
    /// Audit records appended since start.
    pub audit_appends: u64,
    /// Audit appends that failed since start (the act or sync was then refused).
    pub audit_append_failures: u64,
}

impl Metrics {
    /// Counters for a relay whose data lives in `data_dir` and keeps `min_free_bytes` free.
    pub fn new(data_dir: &Path, min_free_bytes: u64) -> Metrics {
        Metrics {
            data_dir: data_dir.to_path_buf(),
            min_free_bytes,
            syncs: Default::default(),
            latency_buckets: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            blob_bytes_received: AtomicU64::new(0),
            server_cert_not_after: AtomicI64::new(0),
        }
    }

    /// The data directory whose free space the gate, `/readyz` and `/metrics` watch.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The free space below which the relay refuses to write.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes
    }

    /// Counts one sync request and how long it took.
    pub fn sync_done(&self, outcome: SyncOutcome, took: Duration) {
        let i = SyncOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.syncs[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (b, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts attachment bytes received from devices and written to the store.
    pub fn blob_bytes_received(&self, n: u64) {
        self.blob_bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// Records when the server certificate in use expires (Unix seconds).
    pub fn set_server_cert_not_after(&self, unix_secs: i64) {
        self.server_cert_not_after
            .store(unix_secs, Ordering::Relaxed);
    }

    /// Syncs counted with `outcome` so far.
    pub fn syncs(&self, outcome: SyncOutcome) -> u64 {
        let i = SyncOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.syncs[i].load(Ordering::Relaxed)
    }

    /// The exposition text: the counters, `gauges`, the certificate's days left at `now`
    /// (Unix seconds) and the data directory's free space (`None`: unreadable, left out).
    pub fn render(&self, gauges: Gauges, now: i64, free: Option<u64>) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(
            "# HELP kizuna_syncs_total Sync requests by outcome.\n# TYPE kizuna_syncs_total counter\n",
        );
        for (o, n) in SyncOutcome::ALL.iter().zip(&self.syncs) {
            let _ = writeln!(
                out,
                "kizuna_syncs_total{{outcome=\"{}\"}} {}",
                o.label(),
                load(n)
            );
        }
        out.push_str(
            "# HELP kizuna_sync_duration_seconds Time to answer a sync request.\n# TYPE kizuna_sync_duration_seconds histogram\n",
        );
        for (b, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "kizuna_sync_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                load(b)
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "kizuna_sync_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = load(&self.latency_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "kizuna_sync_duration_seconds_sum {sum}");
        let _ = writeln!(out, "kizuna_sync_duration_seconds_count {count}");
        let mut single = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        single(
            "kizuna_loaded_rooms",
            "gauge",
            "Room documents held in memory.",
            gauges.loaded_rooms.to_string(),
        );
        single(
            "kizuna_blob_bytes_received_total",
            "counter",
            "Attachment bytes received from devices and written to the store.",
            load(&self.blob_bytes_received).to_string(),
        );
        single(
            "kizuna_audit_appends_total",
            "counter",
            "Audit records appended since start.",
            gauges.audit_appends.to_string(),
        );
        single(
            "kizuna_audit_append_failures_total",
            "counter",
            "Audit appends that failed since start (their act or sync was refused).",
            gauges.audit_append_failures.to_string(),
        );
        let not_after = self.server_cert_not_after.load(Ordering::Relaxed);
        if not_after > 0 {
            let days = (not_after - now) as f64 / 86_400.0;
            single(
                "kizuna_server_certificate_days_left",
                "gauge",
                "Days until the relay's server certificate expires.",
                format!("{days:.3}"),
            );
        }
        if let Some(free) = free {
            single(
                "kizuna_data_dir_free_bytes",
                "gauge",
                "Free bytes on the filesystem of the data directory.",
                free.to_string(),
            );
        }
        single(
            "kizuna_data_dir_min_free_bytes",
            "gauge",
            "Free space below which the relay refuses to write.",
            self.min_free_bytes.to_string(),
        );
        out
    }
}
