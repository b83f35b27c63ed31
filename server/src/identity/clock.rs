//! The relay's clock for certificates: what time it is when a certificate is issued and when
//! the server certificate's renewal is due.
//!
//! It is the system clock plus an offset that is zero in production. Tests move it (a relay
//! "80 days later" must renew its server certificate) without waiting or touching the
//! machine's clock. Nothing reaches it from the network: only code holding the relay's
//! configuration can set it.

use kizuna_core::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A clock that reads the system time plus an offset; see the module documentation.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    /// Bumped at every change of the offset, so waiters ([`Clock::wait_change`]) look again.
    changes: Mutex<u64>,
    changed: Condvar,
}

impl Clock {
    /// The system clock, unmoved.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Milliseconds since 1970 by this clock.
    pub fn now(&self) -> Timestamp {
        Timestamp(
            Timestamp::now()
                .0
                .saturating_add(self.offset_ms.load(Ordering::SeqCst)),
        )
    }

    /// This clock's time as `time` reads it (what certificates are issued with).
    pub fn now_utc(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// How far this clock is from the system's, in milliseconds (negative: behind).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock to the system time plus `offset_ms` and wakes whoever waits on a
    /// change (the server certificate's renewal looks again at once). For tests.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
        let mut n = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        self.changed.notify_all();
    }

    /// Moves the clock `days` days from the system time (negative: back). For tests.
    pub fn set_offset_days(&self, days: i64) {
        self.set_offset_ms(days.saturating_mul(86_400_000));
    }

    /// How many times the offset has changed; pass it to [`Clock::wait_change`].
    pub fn generation(&self) -> u64 {
        *self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` for the offset to change after `generation`; returns the
    /// generation then.
    pub fn wait_change(&self, generation: u64, timeout: Duration) -> u64 {
        let n = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let (n, _) = self
            .changed
            .wait_timeout_while(n, timeout, |n| *n == generation)
            .unwrap_or_else(PoisonError::into_inner);
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_moves_both_readings_and_wakes_waiters() {
        let c = std::sync::Arc::new(Clock::system());
        let before = c.now().0;
        let g = c.generation();
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.wait_change(g, Duration::from_secs(600)))
        };
        c.set_offset_days(80);
        assert_eq!(waiter.join().unwrap(), g + 1);
        assert!(c.now().0 - before >= 80 * 86_400_000);
        // Read a moment apart: a hair under 80 days, or 80.
        let ahead = c.now_utc() - time::OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::days(80) - time::Duration::minutes(1),
            "{ahead}"
        );
        assert!(ahead <= time::Duration::days(80), "{ahead}");
    }
}
