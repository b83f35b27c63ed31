//! Watching the relay: whether it can write ([`disk`], the write gate and `/readyz`), what it
//! does ([`metrics`], `/metrics` in the Prometheus text format) and the routes that show both
//! ([`routes`]). Nothing here carries patient data or room ids: counters, sizes and times.
//!
//! The write gate is the first half of the relay's write-ahead rule (docs/security.md, "Full
//! disk"): below the free space it keeps in reserve the relay refuses every act and every
//! sync that would write, before anything is written; the audit record of an act is written
//! before the act (`admin::acts`).

pub mod disk;
pub mod metrics;
pub mod readiness;
pub mod routes;
