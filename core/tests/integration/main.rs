//! Integration tests of the core: merging rooms edited offline on many devices, and the
//! encrypted store on a real disk (reopen, crash, wrong key, no plaintext).
#![allow(clippy::unwrap_used, missing_docs)]

mod blobs;
mod careplan;
mod fixtures;
mod gate;
mod merge;
mod props;
mod search;
mod store;
mod sync;
