//! The typed content of rooms: what a nurse writes and reads. Plain data with validation;
//! how it is laid out in the Automerge document is `room`'s business.

pub mod consent;

pub use consent::Consent;
