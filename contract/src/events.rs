//! The live channel: `GET /v1/events?cursor=N&timeout=S` answers, as soon as something the
//! device may see changes after cursor `N`, with the ids of the documents to sync (never
//! content).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest long poll in seconds (well under the idle-connection timeout); a larger `timeout`
/// is cut to this.
pub const MAX_EVENTS_WAIT_SECS: u64 = 55;

/// The wait when the query names none, in seconds.
pub const DEFAULT_EVENTS_WAIT_SECS: u64 = 25;

/// The query of `GET /v1/events`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventsQuery {
    /// The cursor of the previous answer (absent or 0: start now, answered at once).
    #[serde(default)]
    pub cursor: u64,
    /// Seconds to wait at most (default 25, capped at 55).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// The answer to a long poll.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Changed {
    /// Pass this back to wait for the next changes.
    pub cursor: u64,
    /// Documents that changed (rooms or restricted documents this device may see; ids only).
    pub docs: Vec<Uuid>,
    /// The cursor was unknown (too old, or from before a restart): sync every document.
    #[serde(default)]
    pub resync: bool,
}
