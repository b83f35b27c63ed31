//! Fuzz target: `kizuna_server::fuzzing::enrollment_csr` (see there for the input and the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: kizuna_core::fuzzing::init(),
    |data: &[u8]| kizuna_server::fuzzing::enrollment_csr(data)
);
