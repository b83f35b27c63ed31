//! The contract's JSON is the relay's JSON of today, byte for byte: each body is serialised
//! from a copy of the relay's current type and from the contract's, both ways.

#![allow(clippy::unwrap_used, missing_docs, dead_code)]

mod compat;
mod examples;
mod server_today;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// `today` → JSON → contract type → JSON is the same text, and that text reads back into
/// today's type giving the same text again. Returns the JSON.
pub fn same<S, C>(today: &S) -> String
where
    S: Serialize + DeserializeOwned,
    C: Serialize + DeserializeOwned,
{
    let a = serde_json::to_string(today).unwrap();
    let c: C = serde_json::from_str(&a)
        .unwrap_or_else(|e| panic!("contract type refuses today's JSON {a}: {e}"));
    let b = serde_json::to_string(&c).unwrap();
    assert_eq!(a, b, "the contract writes other JSON than the relay today");
    let back: S = serde_json::from_str(&b).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), a);
    a
}

/// Both types accept (or both refuse) this JSON text.
pub fn both_read<S: DeserializeOwned, C: DeserializeOwned>(json: &str) -> bool {
    let s = serde_json::from_str::<S>(json).is_ok();
    let c = serde_json::from_str::<C>(json).is_ok();
    assert_eq!(s, c, "relay today and contract disagree on {json}");
    s
}
