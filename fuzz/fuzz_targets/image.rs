//! libFuzzer entry of target `image`; the body is `capmon::fuzzing::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::image::run(data));
