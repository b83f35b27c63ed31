//! The contract's JSON is the relay's JSON: every body read from and written back to the bytes
//! the relay sent before it used the contract ([`golden`]), the problem kinds, literal JSON and
//! enum spellings against kizuna-core ([`examples`]).

#![allow(clippy::unwrap_used, missing_docs)]

mod examples;
mod golden;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// `json` reads into `C` and `C` writes exactly `json` back. Returns the value read.
pub fn roundtrip<C: Serialize + DeserializeOwned>(json: &str) -> C {
    let c: C = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("the contract type refuses the relay's JSON {json}: {e}"));
    let back = serde_json::to_string(&c).unwrap();
    assert_eq!(
        back, json,
        "the contract writes other JSON than the relay did"
    );
    c
}

/// Whether `C` accepts this JSON text.
pub fn reads<C: DeserializeOwned>(json: &str) -> bool {
    serde_json::from_str::<C>(json).is_ok()
}
