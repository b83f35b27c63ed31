//! The write gate and readiness: whether the relay can write now, asked before every act
//! and writing sync ([`Relay::ensure_writable`]) and by `GET /readyz` ([`Relay::readiness`]),
//! and the text of `/metrics` ([`Relay::metrics_text`]).

use super::disk;
use super::metrics::Gauges;
use crate::error::RelayError;
use crate::state::Relay;
use kizuna_contract::Readiness;
use kizuna_core::Timestamp;

impl Relay {
    /// Refuses (with [`RelayError::StorageFull`]) when the data directory's filesystem has
    /// less free space than the relay keeps in reserve: asked before an act or a writing
    /// sync writes anything, so a full disk never leaves half an act, an act without its
    /// audit record, or sled failing halfway through a flush.
    pub fn ensure_writable(&self) -> Result<(), RelayError> {
        let m = self.metrics();
        match disk::free_bytes(m.data_dir()) {
            Ok(free) if free < m.min_free_bytes() => Err(RelayError::StorageFull),
            Ok(_) => Ok(()),
            Err(e) => Err(RelayError::Storage(format!(
                "cannot read the free space of the data directory: {e}"
            ))),
        }
    }

    /// Whether the relay can take writes now, and if not why: free space above the reserve,
    /// an audit log it can append to, and its stores flushing. For `GET /readyz`.
    pub fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        let m = self.metrics();
        match disk::free_bytes(m.data_dir()) {
            Ok(free) if free < m.min_free_bytes() => reasons.push(format!(
                "the relay's disk is full: {free} bytes free in the data directory, below the \
                 reserve of {} bytes",
                m.min_free_bytes()
            )),
            Ok(_) => {}
            Err(e) => reasons.push(format!(
                "the free space of the data directory cannot be read ({})",
                e.kind()
            )),
        }
        if let Some(why) = self.audit().unwritable() {
            reasons.push(why);
        }
        if self.directory().flush().is_err() {
            reasons.push("the directory store cannot be flushed".into());
        }
        if self.documents().store().flush().is_err() {
            reasons.push("the room store cannot be flushed".into());
        }
        Readiness::from_reasons(reasons)
    }

    /// `/metrics` in the Prometheus text format: counters kept by the relay, and gauges read
    /// now from the stores and the data directory.
    pub fn metrics_text(&self) -> String {
        let m = self.metrics();
        let gauges = Gauges {
            loaded_rooms: self.documents().loaded_count() as u64,
            audit_appends: self.audit().records_appended(),
            audit_append_failures: self.audit().failed_appends(),
        };
        let now = Timestamp::now().0 / 1000;
        m.render(gauges, now, disk::free_bytes(m.data_dir()).ok())
    }
}
