//! libFuzzer entry of target `switch`; the body is `capmon::fuzzing::switch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::switch::run(data));
