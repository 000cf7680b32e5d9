//! libFuzzer entry of target `manifest`; the body is `capmon::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::manifest::run(data));
