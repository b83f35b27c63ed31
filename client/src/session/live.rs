//! Live sync: while a [`LiveSync`] lives, a thread syncs, then waits on the relay's live
//! channel and syncs whenever a room changes there (or here, see `changed_here`); it backs
//! off while offline and stops on revocation.

use super::shared::Shared;
use crate::error::ClientError;
use crate::transport::Transport;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest wait of the live channel before asking again.
const LIVE_WAIT: Duration = Duration::from_secs(15);

/// Keeps the device syncing while it is alive: stopped when stopped or dropped.
pub struct LiveSync {
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl LiveSync {
    /// Starts the live loop on a thread of its own.
    pub(crate) fn start(shared: &Arc<Shared>) -> LiveSync {
        let stop = Arc::new(AtomicBool::new(false));
        shared.live.store(true, Ordering::SeqCst);
        let s = stop.clone();
        let looping = shared.clone();
        std::thread::Builder::new()
            .name("kizuna-live".into())
            .spawn(move || live_loop(looping, s))
            .map_err(|e| tracing::warn!(error = %e, "live sync did not start"))
            .ok();
        LiveSync {
            stop,
            shared: shared.clone(),
        }
    }

    /// Stops syncing in the background (the current long poll ends within 15 s).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.live.store(false, Ordering::SeqCst);
    }
}

impl Drop for LiveSync {
    fn drop(&mut self) {
        self.stop();
    }
}

fn live_loop(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut cursor = 0u64;
    let mut backoff = Duration::from_secs(1);
    let mut need_sync = true;
    while !stop.load(Ordering::SeqCst) {
        let Ok((_, e)) = shared.enrolled() else {
            return;
        };
        let https = e.https.clone();
        drop(e);
        if cursor == 0 {
            match https.wait_for_changes(0, LIVE_WAIT) {
                Ok(ev) => cursor = ev.cursor.max(1),
                Err(err) => {
                    let err: ClientError = err.into();
                    shared.after_sync_error(&err);
                    if matches!(err, ClientError::Revoked { .. }) {
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if need_sync {
            match shared.sync() {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(ClientError::Revoked { .. }) => return,
                Err(_) => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match https.wait_for_changes(cursor, LIVE_WAIT) {
            Ok(ev) => {
                cursor = ev.cursor.max(1);
                need_sync = ev.resync || !ev.docs.is_empty();
            }
            Err(err) => {
                let err: ClientError = err.into();
                shared.after_sync_error(&err);
                if matches!(err, ClientError::Revoked { .. }) {
                    return;
                }
                need_sync = true;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
