//! Counting enrollment attempts per source address, so a code's 60 random bits cannot be
//! guessed by asking fast. Held in the relay's state; the enrollment rule asks it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts attempts per source address in fixed windows. In memory: a restart forgets the
/// counts, which is acceptable because a code still has 60 random bits.
#[derive(Debug, Default)]
pub struct RateLimiter {
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Most addresses tracked at once; beyond this, stale entries are dropped first.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    /// Whether one more attempt from `ip` fits in `max` per `window` (and counts it).
    pub fn allow(&self, ip: IpAddr, max: u32, window: Duration) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
            if seen.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_source() {
        let l = RateLimiter::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let w = Duration::from_secs(60);
        assert!(l.allow(a, 2, w));
        assert!(l.allow(a, 2, w));
        assert!(!l.allow(a, 2, w));
        assert!(l.allow(b, 2, w));
    }
}
