//! libFuzzer entry of target `dt`; the body is `capmon::fuzzing::dt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::dt::run(data));
