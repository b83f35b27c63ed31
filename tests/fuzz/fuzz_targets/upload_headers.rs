//! Fuzz target: `kizuna_server::fuzzing::upload_headers` (see there for the input and the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: kizuna_core::fuzzing::init(),
    |data: &[u8]| kizuna_server::fuzzing::upload_headers(data)
);
