//! libFuzzer entry of target `virtio_mmio`; the body is `capmon::fuzzing::virtio_mmio`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| capmon::fuzzing::virtio_mmio::run(data));
