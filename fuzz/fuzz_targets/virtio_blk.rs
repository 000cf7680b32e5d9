//! libFuzzer entry of target `virtio_blk`; the body is `capmon::fuzzing::virtio_blk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::virtio_blk::run(data));
