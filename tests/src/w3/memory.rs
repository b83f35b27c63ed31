//! The relay's resident memory, read from `/proc` by the benchmark's process while the relay
//! (a child process) runs the load.

use crate::measure::pid_status_mb;
use std::sync::Arc;
use std::time::Duration;

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
