//! Fuzz target: `kizuna_core::fuzzing::member_changes::member_changes` (see there for the input and the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: kizuna_core::fuzzing::init(),
    |data: &[u8]| kizuna_core::fuzzing::member_changes::member_changes(data)
);
