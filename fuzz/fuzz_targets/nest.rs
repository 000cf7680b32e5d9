//! libFuzzer entry of target `nest`; the body is `capmon::fuzzing::nest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::nest::run(data));
