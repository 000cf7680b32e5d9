//! Robustness evidence: every test tree, truncated at every length and corrupted thousands of
//! ways, must give `Ok` or `Err` from discovery, never a panic. Each case runs under
//! `catch_unwind` so a failure names the tree, the mutation and its seed for replay.
// The RNG and the blob patching truncate on purpose (random bytes, test blobs < 4 GiB).
#![allow(clippy::cast_possible_truncation)]

use std::format;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::String;
use std::vec::Vec;

use super::tests::{shared_tree, FAR, LOCAL_TREES, NO_IMAGE, SHARED_TREES};
use super::*;

use crate::testing::Rng;

fn all_trees() -> Vec<(String, Vec<u8>)> {
    let mut trees: Vec<(String, Vec<u8>)> = SHARED_TREES
        .iter()
        .map(|name| (String::from(*name), shared_tree(name)))
        .collect();
    trees.extend(
        LOCAL_TREES
            .iter()
            .map(|(name, blob)| (String::from(*name), blob.to_vec())),
    );
    trees
}

/// Everything a caller might do with an untrusted blob, formatted so Display code runs too.
/// Returns whether plain discovery succeeded.
fn exercise(blob: &[u8], tf_a: bool) -> bool {
    let (ok, mut out) = match discover_at(blob, 0x4000_0000, NO_IMAGE) {
        Ok(p) => (true, format!("{p}")),
        Err(e) => (false, format!("{e}")),
    };
    if tf_a {
        match discover_tf_a(Some(blob), Some(blob), NO_IMAGE) {
            Ok(p) => out.push_str(&format!("{p}")),
            Err(e) => out.push_str(&format!("{e}")),
        }
        let _ = nt_fw_config(blob);
    }
    assert!(!out.is_empty());
    ok
}

/// Runs `exercise`, turning a panic into a test failure that says how to reproduce it.
fn must_not_panic(blob: &[u8], tf_a: bool, what: impl FnOnce() -> String) -> bool {
    match catch_unwind(AssertUnwindSafe(|| exercise(blob, tf_a))) {
        Ok(ok) => ok,
        Err(_) => panic!("discovery panicked on {}", what()),
    }
}

fn put32(blob: &mut [u8], off: usize, value: u32) {
    if let Some(w) = blob.get_mut(off..off + 4) {
        w.copy_from_slice(&value.to_be_bytes());
    }
}

fn get32(blob: &[u8], off: usize) -> u32 {
    blob.get(off..off + 4)
        .map_or(0, |w| u32::from_be_bytes(w.try_into().unwrap()))
}

/// Aligned offsets of FDT_PROP tokens (approximate: a value word equal to 3 also matches,
/// which is fine for fuzzing).
fn prop_offsets(blob: &[u8]) -> Vec<usize> {
    let start = get32(blob, 8) as usize;
    let end = (start + get32(blob, 36) as usize).min(blob.len());
    (start..end.saturating_sub(12))
        .step_by(4)
        .filter(|&o| get32(blob, o) == 3)
        .collect()
}

/// Values that tend to sit on boundaries of checks.
fn interesting(rng: &mut Rng, len: usize) -> u32 {
    let len = len as u32;
    let choices = [
        0,
        1,
        2,
        3,
        4,
        9,
        0x28,
        0x38,
        len.wrapping_sub(1),
        len,
        len.wrapping_add(1),
        len / 2,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fff0,
        0xffff_ffff,
        rng.next() as u32,
        rng.next() as u32 % 64,
    ];
    choices[rng.below(choices.len())]
}

/// Applies one random mutation chosen by `rng`; returns a description for failure reports.
fn mutate(blob: &mut [u8], rng: &mut Rng) -> String {
    let len = blob.len();
    match rng.below(9) {
        0 => {
            let (o, bit) = (rng.below(len), rng.below(8));
            blob[o] ^= 1 << bit;
            format!("flip bit {bit} of byte {o:#x}")
        }
        1 => {
            let (o, v) = (rng.below(len), rng.next() as u8);
            blob[o] = v;
            format!("byte {o:#x} = {v:#x}")
        }
        2 => {
            let n = 1 + rng.below(16);
            for _ in 0..n {
                let o = rng.below(len);
                blob[o] = rng.next() as u8;
            }
            format!("{n} random bytes")
        }
        3 => {
            // A structure-block word becomes a token or a boundary value.
            let o = get32(blob, 8) as usize + 4 * rng.below((len / 4).max(1));
            let v = interesting(rng, len);
            put32(blob, o, v);
            format!("word at {o:#x} = {v:#x}")
        }
        4 => {
            let field = 1 + rng.below(9);
            let v = interesting(rng, len);
            put32(blob, 4 * field, v);
            format!("header field {field} = {v:#x}")
        }
        5 | 6 => {
            // A property's length (5) or name offset (6).
            let props = prop_offsets(blob);
            if props.is_empty() {
                return String::from("no-op");
            }
            let o = props[rng.below(props.len())] + if rng.below(2) == 0 { 4 } else { 8 };
            let v = interesting(rng, len);
            put32(blob, o, v);
            format!("prop field at {o:#x} = {v:#x}")
        }
        7 => {
            // Copy a chunk over another place (duplicated tokens, shifted structure).
            let n = 4 + rng.below(64);
            let (from, to) = (rng.below(len), rng.below(len));
            let chunk: Vec<u8> = blob[from..(from + n).min(len)].to_vec();
            let end = (to + chunk.len()).min(len);
            blob[to..end].copy_from_slice(&chunk[..end - to]);
            format!("copy {n} bytes {from:#x} -> {to:#x}")
        }
        _ => {
            // Cell-size and interrupt-cell properties get odd values.
            let props = prop_offsets(blob);
            if props.is_empty() {
                return String::from("no-op");
            }
            let o = props[rng.below(props.len())];
            let v = interesting(rng, len);
            put32(blob, o + 12, v);
            format!("prop value word at {:#x} = {v:#x}", o + 12)
        }
    }
}

#[test]
fn catch_unwind_works_in_this_test_profile() {
    // The workspace sets panic = "abort" for dev; if that reached test builds, this test
    // would abort the whole test binary instead of passing.
    let caught = catch_unwind(|| panic!("expected: checking that tests unwind"));
    assert!(caught.is_err());
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for (name, dtb) in all_trees() {
        for len in 0..=dtb.len() {
            // As cut, the header still claims the full size: rejected up front.
            let cut = &dtb[..len];
            must_not_panic(cut, false, || format!("{name} truncated to {len} bytes"));
            if len < dtb.len() {
                assert!(
                    discover_at(cut, FAR, NO_IMAGE).is_err(),
                    "{name} cut to {len} accepted"
                );
            }
            // With the header patched to match, so the structure walk meets the cut.
            if len >= 40 {
                let mut fixed = cut.to_vec();
                let off_struct = get32(&fixed, 8);
                let off_strings = get32(&fixed, 12);
                put32(&mut fixed, 4, len as u32);
                let strings = get32(&fixed, 32).min((len as u32).saturating_sub(off_strings));
                let structs = get32(&fixed, 36).min((len as u32).saturating_sub(off_struct));
                put32(&mut fixed, 32, strings);
                put32(&mut fixed, 36, structs);
                must_not_panic(&fixed, false, || {
                    format!("{name} truncated to {len} with header fixed")
                });
            }
        }
    }
}

#[test]
fn random_corruptions_never_panic() {
    // 500 per tree keeps the debug test run short; CAPMON_FUZZ_ITERS=200000 for a long soak.
    let per_tree: u64 = std::env::var("CAPMON_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut outcomes = [0usize; 2];
    for (t, (name, dtb)) in all_trees().into_iter().enumerate() {
        for i in 0..per_tree {
            let seed = (t as u64) << 32 | i;
            let mut rng = Rng::new(seed);
            let mut blob = dtb.clone();
            // Mostly one mutation, sometimes a handful stacked.
            let rounds = if rng.below(4) == 0 {
                2 + rng.below(4)
            } else {
                1
            };
            let mut what = Vec::new();
            for _ in 0..rounds {
                what.push(mutate(&mut blob, &mut rng));
            }
            let tf_a = i % 8 == 0;
            must_not_panic(&blob, tf_a, || {
                format!("{name} seed {seed:#x}: {}", what.join("; "))
            });
            outcomes[usize::from(discover_at(&blob, FAR, NO_IMAGE).is_ok())] += 1;
        }
    }
    // Most single mutations land in property values and still parse; make sure both paths ran.
    assert!(
        outcomes[0] > 100 && outcomes[1] > 100,
        "ok/err split {outcomes:?}"
    );
}

#[test]
fn deep_nesting_is_rejected_cleanly() {
    // 40 nested nodes: deeper than MAX_DEPTH, must be an error not a stack overflow or panic.
    let mut s: Vec<u8> = Vec::new();
    let tok = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_be_bytes());
    for _ in 0..40 {
        tok(&mut s, 1);
        s.extend_from_slice(b"n\0\0\0");
    }
    for _ in 0..40 {
        tok(&mut s, 2);
    }
    tok(&mut s, 9);
    let mut blob: Vec<u8> = Vec::new();
    let total = 40 + 16 + s.len() as u32;
    for v in [
        0xd00d_feed,
        total,
        56,
        total,
        40,
        17,
        16,
        0,
        0,
        s.len() as u32,
    ] {
        tok(&mut blob, v);
    }
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&s);
    let e = discover_at(&blob, FAR, NO_IMAGE).unwrap_err();
    assert!(matches!(e, DtError::TooDeep { max: 32, .. }), "{e}");
}

#[test]
fn overlong_property_names_are_rejected() {
    // Point the root's first property at a name longer than MAX_PROP_NAME by overwriting the
    // strings block with one long unterminated run (ending in the block's final NUL).
    let mut dtb = shared_tree("qemu-riscv64-virt.dtb");
    let off_strings = get32(&dtb, 12) as usize;
    let size_strings = get32(&dtb, 32) as usize;
    dtb[off_strings..off_strings + size_strings - 1].fill(b'a');
    let e = discover_at(&dtb, FAR, NO_IMAGE).unwrap_err();
    assert!(matches!(e, DtError::BadPropName { .. }), "{e}");
    assert!(format!("{e}").contains("longer than 255 bytes"), "{e}");
}
