//! libFuzzer entry of target `virtio_net`; the body is `capmon::fuzzing::virtio_net`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::virtio_net::run(data));
