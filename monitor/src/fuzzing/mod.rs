//! Fuzz targets: one function per untrusted-input entry point of the monitor, each taking the
//! fuzzer's bytes and panicking only when the monitor's code misbehaves (a panic inside it, a
//! write outside the memory it was given, an answer that breaks a documented rule).
//!
//! The same functions run under libFuzzer (`fuzz/`, `just fuzz TARGET`) and, on stable Rust,
//! in `cargo test`, which replays every committed corpus file and past crash (`replay.rs`).
//! Targets whose input is a structure rather than a file (hostcalls, nesting, drivers, the
//! switch) decode it with `arbitrary`'s [`Unstructured`](arbitrary::Unstructured): short or
//! all-zero inputs mean well-behaved, ordinary cases, so the fuzzer starts from the common
//! path and mutates away from it. See `docs/fuzzing.md`.

pub mod dt;
pub mod hostcall;
pub mod image;
pub mod manifest;
pub mod nest;
#[cfg(test)]
mod replay;
pub mod switch;
mod virtio;
pub mod virtio_blk;
pub mod virtio_mmio;
pub mod virtio_net;

/// A target's body: runs one input.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/*.rs` and of the corpus directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("dt", dt::run),
    ("manifest", manifest::run),
    ("image", image::run),
    ("hostcall", hostcall::run),
    ("nest", nest::run),
    ("virtio_blk", virtio_blk::run),
    ("virtio_net", virtio_net::run),
    ("virtio_mmio", virtio_mmio::run),
    ("switch", switch::run),
];

/// Runs target `name` on `data`; false when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, target)) => {
            target(data);
            true
        }
        None => false,
    }
}

/// `data` copied to 8-byte aligned memory, as the device-tree reader wants its blobs (the
/// fuzzer's buffer has no particular alignment).
fn aligned(data: &[u8]) -> alloc::vec::Vec<u64> {
    let mut words = alloc::vec![0u64; data.len().div_ceil(8)];
    for (word, chunk) in words.iter_mut().zip(data.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_ne_bytes(bytes);
    }
    words
}

/// The first `len` bytes of `words`.
fn bytes_of(words: &[u64], len: usize) -> &[u8] {
    // SAFETY: `words` holds `8 * words.len()` initialised bytes, at least `len` (see
    // `aligned`), and `u8` has no alignment requirement; the slice borrows `words`.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), len.min(8 * words.len())) }
}
