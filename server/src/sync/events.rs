//! The live channel: which documents changed, so an online device syncs within a second of
//! another nurse's post instead of on a timer.
//!
//! Every accepted write publishes the document's id under a rising cursor; a device long-polls
//! `GET /v1/events?cursor=N` and is answered as soon as something it may see changes after
//! `N`. Only ids travel here, never content. Cursors start from the relay's clock at start-up,
//! so a cursor from before a restart is recognised as stale and answered with "sync
//! everything you have".

use kizuna_contract::events::Changed;
use kizuna_core::{ProfessionalId, RoomId, Timestamp};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Events kept for devices that are briefly behind; older cursors get "sync everything".
pub const RING: usize = 8192;

/// Who an event concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Everyone who may see the document.
    Doc(RoomId),
    /// One professional, about one document (membership granted or taken away: the device
    /// must sync to receive or delete it, although its visibility has changed).
    Professional(ProfessionalId, RoomId),
}

struct Ring {
    first: u64,
    next: u64,
    events: VecDeque<(u64, Target)>,
}

/// The relay's event bus.
pub struct Events {
    ring: Mutex<Ring>,
    tick: watch::Sender<u64>,
    /// Set at shutdown: every long poll answers at once instead of waiting.
    closed: AtomicBool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events(..)")
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A bus whose cursors start at the current time in microseconds (unique per start).
    pub fn new() -> Events {
        let start = u64::try_from(Timestamp::now().0).unwrap_or(1).max(1) * 1000;
        let (tick, _) = watch::channel(start);
        Events {
            ring: Mutex::new(Ring {
                first: start,
                next: start,
                events: VecDeque::new(),
            }),
            tick,
            closed: AtomicBool::new(false),
        }
    }

    /// Ends every long poll now and every later one at once (the relay is stopping): each
    /// answers with the current cursor and no documents, so a stopping relay does not wait
    /// out its grace period for polls that would have waited up to a minute. Returns how
    /// many polls were waiting.
    pub fn close(&self) -> usize {
        self.closed.store(true, Ordering::SeqCst);
        let waiting = self.tick.receiver_count();
        self.tick.send_modify(|_| {});
        waiting
    }

    /// Whether [`Events::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes changes and wakes the waiting devices.
    pub fn publish(&self, targets: impl IntoIterator<Item = Target>) {
        let next = {
            let mut r = self.ring();
            for t in targets {
                let seq = r.next;
                r.next += 1;
                r.events.push_back((seq, t));
                if r.events.len() > RING {
                    r.events.pop_front();
                    r.first = r.events.front().map_or(r.next, |e| e.0);
                }
            }
            r.next
        };
        self.tick.send_replace(next);
    }

    /// The cursor a new subscriber starts from.
    pub fn cursor(&self) -> u64 {
        self.ring().next
    }

    /// What changed after `cursor` for a device of `me` that may see `visible`.
    fn collect(&self, cursor: u64, me: ProfessionalId, visible: &HashSet<RoomId>) -> Changed {
        let r = self.ring();
        if cursor < r.first || cursor > r.next {
            return Changed {
                cursor: r.next,
                docs: Vec::new(),
                resync: true,
            };
        }
        let mut docs = Vec::new();
        for (seq, t) in &r.events {
            if *seq < cursor {
                continue;
            }
            let doc = match *t {
                Target::Doc(d) if visible.contains(&d) => d,
                Target::Professional(p, d) if p == me => d,
                _ => continue,
            };
            if !docs.contains(&doc.0) {
                docs.push(doc.0);
            }
        }
        Changed {
            cursor: r.next,
            docs,
            resync: false,
        }
    }

    /// Waits up to `timeout` for a change `me` may see after `cursor`. `visible` is asked
    /// again after each wake-up (membership can change while a device waits).
    pub async fn wait(
        &self,
        cursor: u64,
        me: ProfessionalId,
        timeout: Duration,
        visible: impl Fn() -> HashSet<RoomId>,
    ) -> Changed {
        let mut rx = self.tick.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut cursor = cursor;
        loop {
            let found = self.collect(cursor, me, &visible());
            if found.resync || !found.docs.is_empty() || self.is_closed() {
                if found.docs.is_empty() && self.is_closed() {
                    tracing::debug!("a long poll ended by shutdown");
                }
                return found;
            }
            // Nothing for this device up to `found.cursor`: wait from there.
            cursor = found.cursor;
            rx.borrow_and_update();
            // `close` sets the flag before it wakes: a wake-up consumed just above is seen here.
            if *rx.borrow() > cursor || self.is_closed() {
                continue;
            }
            tracing::debug!("a long poll is waiting");
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Changed {
                        cursor,
                        docs: Vec::new(),
                        resync: false,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_device_hears_only_what_it_may_see() {
        let bus = std::sync::Arc::new(Events::new());
        let me = ProfessionalId::new();
        let mine = RoomId::new();
        let other = RoomId::new();
        let start = bus.cursor();
        let b = bus.clone();
        let waiter = tokio::spawn(async move {
            b.wait(start, me, Duration::from_secs(5), || HashSet::from([mine]))
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish([Target::Doc(other)]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish([Target::Doc(mine)]);
        let got = waiter.await.unwrap_or_default();
        assert_eq!(got.docs, vec![mine.0]);
        assert!(!got.resync);
        let quiet = bus
            .wait(got.cursor, me, Duration::from_millis(50), HashSet::new)
            .await;
        assert!(quiet.docs.is_empty());
        assert_eq!(quiet.cursor, got.cursor);
        let stale = bus
            .wait(1, me, Duration::from_millis(10), HashSet::new)
            .await;
        assert!(stale.resync);
        bus.publish([Target::Professional(me, other)]);
        let told = bus
            .wait(quiet.cursor, me, Duration::from_millis(10), HashSet::new)
            .await;
        assert_eq!(told.docs, vec![other.0]);
    }
}
