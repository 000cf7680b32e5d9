//! libFuzzer entry of target `hostcall`; the body is `capmon::fuzzing::hostcall`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::hostcall::run(data));
