//! Listeners: the app registers a [`Listener`] and gets the current state at once, then
//! every change, on a thread of its own per subscription (so a slow listener never holds up
//! sync). The returned [`Subscription`] stops the deliveries when dropped or cancelled.

use super::rooms::RoomInfo;
use crate::status::SyncState;
use kizuna_core::RoomId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, Weak};

/// Follows rooms and sync; the bindings adapt the app's listener to it.
pub trait Listener: Send + Sync {
    /// The room list with unread counts and pending changes. Called first with every room
    /// (`changed` names them all), then whenever rooms change here or arrive from the relay;
    /// `changed` names the rooms whose reports or state changed.
    fn on_rooms_changed(&self, rooms: Vec<RoomInfo>, changed: Vec<RoomId>);
    /// The sync indicator: called first with the current state, then on every change.
    fn on_sync_state(&self, state: SyncState);
}

pub(crate) enum Event {
    Rooms(Vec<RoomInfo>, Vec<RoomId>),
    Sync(SyncState),
}

/// The subscribers of one device.
#[derive(Default)]
pub(crate) struct Hub {
    next: AtomicU64,
    subs: Mutex<Vec<(u64, Sender<Event>)>>,
}

impl Hub {
    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Sender<Event>)>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a listener; `first` are the events it receives before any later change.
    pub(crate) fn add(
        self: &Arc<Self>,
        listener: Arc<dyn Listener>,
        first: Vec<Event>,
    ) -> Subscription {
        let (tx, rx) = channel::<Event>();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        {
            // Queue the current state before registering, under the lock, so no change can
            // be delivered ahead of it.
            let mut subs = self.subs();
            for e in first {
                let _ = tx.send(e);
            }
            subs.push((id, tx));
        }
        std::thread::Builder::new()
            .name("kizuna-listener".into())
            .spawn(move || {
                while let Ok(e) = rx.recv() {
                    match e {
                        Event::Rooms(rooms, changed) => listener.on_rooms_changed(rooms, changed),
                        Event::Sync(state) => listener.on_sync_state(state),
                    }
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "listener thread did not start"))
            .ok();
        Subscription {
            hub: Arc::downgrade(self),
            id,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.subs().is_empty()
    }

    pub(crate) fn send_rooms(&self, rooms: &[RoomInfo], changed: &[RoomId]) {
        for (_, tx) in self.subs().iter() {
            let _ = tx.send(Event::Rooms(rooms.to_vec(), changed.to_vec()));
        }
    }

    pub(crate) fn send_sync(&self, state: &SyncState) {
        for (_, tx) in self.subs().iter() {
            let _ = tx.send(Event::Sync(state.clone()));
        }
    }

    fn remove(&self, id: u64) {
        self.subs().retain(|(i, _)| *i != id);
    }
}

/// A registered listener. Deliveries stop when it is cancelled or dropped (those already
/// queued are still delivered).
pub struct Subscription {
    hub: Weak<Hub>,
    id: u64,
}

impl Subscription {
    /// Stops the deliveries now (also done when the value is dropped).
    pub fn cancel(&self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}
