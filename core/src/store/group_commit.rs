//! Group commit: many threads that each need "everything I wrote is on disk" share one flush.
//!
//! sled makes a flush durable with one log write and `sync_file_range` per call. Under load
//! (W3: hundreds of syncs per second, each flushing the room store and the audit log) every
//! caller issued its own, and the disk's queue of small synchronous writes became the limit
//! while the CPU idled. Here one caller at a time flushes (the leader); whoever arrives while
//! it runs waits and is covered by the next flush, which the first of them leads.

use std::sync::{Condvar, Mutex, PoisonError};

#[derive(Default)]
struct Tickets {
    /// The last ticket handed out: callers whose writes are applied and need a flush.
    taken: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// A leader is flushing now.
    flushing: bool,
}

/// Shares flushes between concurrent callers. One per store (one per sled database).
#[derive(Default)]
pub struct GroupCommit {
    tickets: Mutex<Tickets>,
    done: Condvar,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit(..)")
    }
}

impl GroupCommit {
    /// Returns once a call to `flush` that started after this call began has succeeded, so
    /// everything the caller applied before calling is durable. `flush` must make every
    /// write applied before it started durable (sled's flush does).
    pub fn flush<E>(&self, flush: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let mut t = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        t.taken += 1;
        let mine = t.taken;
        loop {
            if t.durable >= mine {
                return Ok(());
            }
            if t.flushing {
                t = self.done.wait(t).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Lead: every ticket taken so far belongs to writes applied before this flush.
            t.flushing = true;
            let covers = t.taken;
            drop(t);
            let result = flush();
            t = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
            t.flushing = false;
            if result.is_ok() {
                t.durable = t.durable.max(covers);
            }
            self.done.notify_all();
            // On failure the waiters try again (one of them leads the next flush).
            result?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_callers_share_flushes_and_each_is_covered_by_one_started_after_it() {
        let gc = Arc::new(GroupCommit::default());
        // `applied` counts writes; a flush records how many were applied when it started.
        let applied = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicU64::new(0));
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gc, applied, durable, flushes) = (
                    gc.clone(),
                    applied.clone(),
                    durable.clone(),
                    flushes.clone(),
                );
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let mine = applied.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.flush(|| -> Result<(), ()> {
                            let upto = applied.load(Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            flushes.fetch_add(1, Ordering::SeqCst);
                            durable.fetch_max(upto, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap_or(());
                        assert!(
                            durable.load(Ordering::SeqCst) >= mine,
                            "returned before durable"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(
            n < 1600,
            "8 threads × 200 calls shared flushes ({n} flushes)"
        );
    }

    #[test]
    fn a_failed_flush_is_retried_by_the_next_caller() {
        let gc = GroupCommit::default();
        assert_eq!(gc.flush(|| Err("disk")), Err("disk"));
        assert_eq!(gc.flush(|| Ok::<(), &str>(())), Ok(()));
    }
}
