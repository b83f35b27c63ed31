//! Listeners: the app registers a [`DeviceListener`] and gets the current state at once, then
//! every change, on a thread of its own per subscription (the session's, see
//! `kizuna_client::session::Listener`). The returned [`Subscription`] stops the deliveries
//! when dropped or cancelled.

use super::types::{RoomInfo, SyncState};
use kizuna_core::RoomId;
use std::sync::Arc;

/// Implemented by the app to follow rooms and sync.
#[uniffi::export(with_foreign)]
pub trait DeviceListener: Send + Sync {
    /// The room list with unread counts and pending changes. Called first with every room
    /// (`changed` names them all), then whenever rooms change here or arrive from the relay;
    /// `changed` names the rooms whose reports or state changed.
    fn on_rooms_changed(&self, rooms: Vec<RoomInfo>, changed: Vec<String>);
    /// The sync indicator: called first with the current state, then on every change
    /// (syncing, offline, revoked, upload progress).
    fn on_sync_state(&self, state: SyncState);
}

/// The app's listener as the session's: converts each event on its delivery thread.
pub(crate) struct Adapter(pub(crate) Arc<dyn DeviceListener>);

impl kizuna_client::Listener for Adapter {
    fn on_rooms_changed(&self, rooms: Vec<kizuna_client::RoomInfo>, changed: Vec<RoomId>) {
        self.0.on_rooms_changed(
            rooms.into_iter().map(Into::into).collect(),
            changed.iter().map(ToString::to_string).collect(),
        );
    }

    fn on_sync_state(&self, state: kizuna_client::SyncState) {
        self.0.on_sync_state(state.into());
    }
}

/// A registered listener. Deliveries stop when it is closed or dropped (those already queued
/// are still delivered).
#[derive(uniffi::Object)]
pub struct Subscription {
    pub(crate) inner: kizuna_client::Subscription,
}

#[uniffi::export]
impl Subscription {
    /// Stops the deliveries now (also done when the object is dropped).
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}
