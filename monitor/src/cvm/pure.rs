//! Pure-capability cVMs (manifest `abi = "purecap"`): the capabilities one starts with, as
//! model values, and where its argument strings go.
//!
//! A pure cVM starts in capability mode (C64 on Morello, capability encoding mode on
//! CHERI-RISC-V) with a **null DDC**, so no integer address reaches memory; everything it may
//! touch arrives as a capability in a register:
//!
//! | register (Morello / CHERI-RISC-V) | holds |
//! |---|---|
//! | PCC | its code: Global, Load, Execute; address = the entry point |
//! | c0 / ca0 (arg0) | argc, an integer (untagged) |
//! | c1 / ca1 (arg1) | the argument strings, NUL-separated, argv\[0\] (its name) first: Load only, exact bounds |
//! | c2 / ca2 (arg2) | its globals and heap, from the first page after the code up to (at most) the stack: Global, Load, Store, LoadCap, StoreCap (and on Morello MutableLoad: without it, capabilities loaded through it lose Store and StoreCap) |
//! | c3 / ca3 (arg3) | its capability store: null until sharing lands |
//! | CSP / csp | its stack, the top of its region: as arg2; address = 16-byte aligned, below the argument strings |
//! | DDC | null |
//!
//! Every other register is null. arg1 (Load only, so not Global) is local: it cannot be stored
//! through arg2 or CSP, which lack StoreLocalCap. No capability carries StoreLocalCap (a local capability the
//! cVM imports can only live in registers and its capability store), Execute with Store,
//! Executive/ASR, System, Seal or Unseal. PCC has no LoadCap: nothing here loads capabilities
//! PC-relatively (the capability-relocation loader writes the cVM's initial capabilities into
//! its data, which it reaches through arg2).
//!
//! [`pure_caps`] derives all of that from the root by set-address, set-bounds and permission
//! removal only, on top of [`default_caps`] (which already checked the layout, the code
//! capability and the sealing capability); the architecture derives the same in hardware and
//! compares each with these before the cVM may start.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::manifest::{Abi, CvmRef, CvmSpec};
use super::plan::{
    alignment_for, all_but, default_caps_from, CvmFormat, DefaultCaps, PlanError, PlanErrorKind,
};
use crate::addr::{PhysAddr, PhysRange};
use crate::cap::{Capability, Format, PermSet};

/// The argument strings of a pure cVM as they lie in memory: `name`, then each of `args`,
/// each followed by a NUL. They sit at the very top of its region (the top of its stack).
pub fn args_block(name: &str, args: &[String]) -> Vec<u8> {
    let mut block = Vec::new();
    for s in core::iter::once(name).chain(args.iter().map(String::as_str)) {
        block.extend_from_slice(s.as_bytes());
        block.push(0);
    }
    block
}

/// Where a pure cVM's stack pointer starts: 16-byte aligned, below `args_len` bytes of
/// argument strings at the top of a region that ends at `region_end`.
pub fn stack_top(region_end: u64, args_len: u64) -> u64 {
    region_end.saturating_sub(args_len) & !15
}

/// The widest range inside `[low, high)` whose bounds are exact: its base rounded up and its
/// top rounded down to the alignment its length needs. Shrinking never needs more alignment,
/// so this settles within a few rounds; it is bounded anyway.
fn exact_range_within<F: Format>(low: u64, high: u64) -> Option<PhysRange> {
    let (mut base, mut top) = (low, high);
    for _ in 0..8 {
        let length = top.checked_sub(base).filter(|&l| l > 0)?;
        let align = alignment_for::<F>(length);
        let aligned_base = PhysAddr(base).checked_align_up(align)?.0;
        let aligned_top = top & !(align - 1);
        if (aligned_base, aligned_top) == (base, top) {
            return F::bounds_are_exact(base, length).then_some(PhysRange {
                start: PhysAddr(base),
                end: PhysAddr(top),
            });
        }
        base = aligned_base;
        top = aligned_top;
    }
    None
}

/// A pure cVM's starting capabilities (see the module documentation): cVM `cvm_index` with
/// `code` and `stack` inside `region` as for [`default_caps_from`] (derived from `authority`:
/// the root, or a nested cVM's parent's authority), and `args_len` bytes of argument strings
/// ([`args_block`]) at the top of the stack. Errors name the cVM by node.
pub fn pure_caps<F: CvmFormat>(
    authority: &Capability<F>,
    region: PhysRange,
    code: PhysRange,
    stack: PhysRange,
    cvm_index: u32,
    args_len: u64,
) -> Result<DefaultCaps<F>, PlanError> {
    let hybrid = default_caps_from::<F>(authority, region, code, stack, cvm_index)?;
    let err = |kind| PlanError {
        cvm: CvmRef::Node(format!("cvm@{cvm_index:x}")),
        kind,
    };
    // The cVM's authority, already checked to lie within `authority`.
    let region_cap = hybrid.region;

    // Globals and heap: from where the hybrid data capability starts up to the stack.
    let data_range =
        exact_range_within::<F>(hybrid.data.base(), stack.start.0).ok_or_else(|| {
            err(PlanErrorKind::Layout(format!(
                "no room for data between the code's end {:#x} and the stack at {:#x}",
                hybrid.data.base(),
                stack.start.0
            )))
        })?;
    let data = region_cap
        .set_address(data_range.start.0)
        .set_bounds_exact(data_range.size())
        .without_perms(all_but::<F>(F::PURE_DATA_PERMS));
    // `default_caps` checked that the stack's bounds are exact.
    let stack_cap = region_cap
        .set_address(stack.start.0)
        .set_bounds_exact(stack.size())
        .without_perms(all_but::<F>(F::PURE_DATA_PERMS));
    let args = if args_len == 0 {
        None
    } else {
        let fits = args_len <= stack.size() / 2;
        // The top of its stack: the region's end, or for a parent the end of its own part.
        let range = stack
            .end
            .0
            .checked_sub(args_len)
            .filter(|_| fits)
            .map(|start| PhysRange {
                start: PhysAddr(start),
                end: stack.end,
            });
        let Some(range) = range else {
            return Err(err(PlanErrorKind::Layout(format!(
                "its argument strings ({args_len} bytes) need more than half its stack ({} bytes)",
                stack.size()
            ))));
        };
        let cap = region_cap
            .set_address(range.start.0)
            .set_bounds_exact(args_len)
            .without_perms(all_but::<F>(F::ARGS_PERMS));
        if !cap.tag() {
            return Err(err(PlanErrorKind::NotRepresentable {
                role: "args",
                range,
                align: alignment_for::<F>(args_len),
            }));
        }
        Some((cap, range))
    };

    let mut checks = alloc::vec![
        ("data", &data, F::PURE_DATA_PERMS, data_range),
        ("stack", &stack_cap, F::PURE_DATA_PERMS, stack)
    ];
    if let Some((cap, range)) = &args {
        checks.push(("args", cap, F::ARGS_PERMS, *range));
    }
    for (role, cap, allowed, range) in checks {
        let bad = |why: String| err(PlanErrorKind::BadCapability { role, why });
        if !cap.tag() || cap.is_sealed() {
            return Err(bad(format!("untagged or sealed: {cap}")));
        }
        if cap.perms().bits() & !allowed.bits() != 0 {
            return Err(bad(format!("permissions beyond {allowed}: {cap}")));
        }
        if (cap.base(), cap.length()) != (range.start.0, u128::from(range.size()))
            || !region.covers(&range)
        {
            return Err(bad(format!(
                "bounds are not exactly {range} inside the region {region}: {cap}"
            )));
        }
    }
    if data.top() > u128::from(stack.start.0) || u128::from(data.base()) < hybrid.code.top() {
        return Err(err(PlanErrorKind::BadCapability {
            role: "data",
            why: format!("overlaps the code or the stack: {data}"),
        }));
    }
    Ok(DefaultCaps {
        data,
        stack: stack_cap,
        abi: Abi::Purecap,
        args: args.map(|(cap, _)| cap),
        ..hybrid
    })
}

/// The starting capabilities of the cVM `spec` describes, per its ABI: [`default_caps`] or
/// [`pure_caps`] (with its argument strings' length). The monitor and `capmon-tool audit` both
/// plan through this, so their tables agree.
pub fn entry_caps<F: CvmFormat>(
    spec: &CvmSpec,
    authority: &Capability<F>,
    region: PhysRange,
    code: PhysRange,
    stack: PhysRange,
) -> Result<DefaultCaps<F>, PlanError> {
    match spec.abi {
        Abi::Hybrid => default_caps_from::<F>(authority, region, code, stack, spec.index),
        Abi::Purecap => {
            let args_len =
                u64::try_from(args_block(&spec.name, &spec.args).len()).unwrap_or(u64::MAX);
            pure_caps::<F>(authority, region, code, stack, spec.index, args_len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::{CheriRiscv, Morello, MorelloPerms, RiscvPerms};
    use crate::cvm::plan::default_caps;
    use crate::cvm::plan::tests::{layout, r};

    fn summary<F: Format>(cap: &Capability<F>) -> String {
        format!("{} {:#x}+{:#x}", cap.perms(), cap.base(), cap.length())
    }

    fn caps_for<F: CvmFormat>(args_len: u64) -> DefaultCaps<F> {
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x3000);
        pure_caps::<F>(&Capability::root(), region, code, stack, 2, args_len).unwrap()
    }

    #[test]
    fn the_argument_block_is_the_name_then_each_argument_nul_terminated() {
        let block = args_block(
            "hello-pure",
            &["one".into(), String::new(), "two words".into()],
        );
        assert_eq!(block, b"hello-pure\0one\0\0two words\0");
        assert_eq!(args_block("x", &[]), b"x\0");
        assert_eq!(stack_top(0x8000_0000, 11), 0x7fff_fff0);
        assert_eq!(stack_top(0x8000_0000, 16), 0x7fff_fff0);
        assert_eq!(stack_top(0x8000_0000, 17), 0x7fff_ffe0);
    }

    #[test]
    fn pure_caps_have_exact_bounds_least_permissions_and_no_store_local() {
        let m = caps_for::<Morello>(11);
        assert_eq!(summary(&m.code), "[Load,Execute,Global] 0x7ff00000+0x3000");
        // Morello adds MutableLoad (capabilities loaded through them keep Store).
        assert_eq!(
            summary(&m.data),
            "[Load,Store,LoadCap,StoreCap,MutableLoad,Global] 0x7ff03000+0xed000"
        );
        assert_eq!(
            summary(&m.stack),
            "[Load,Store,LoadCap,StoreCap,MutableLoad,Global] 0x7fff0000+0x10000"
        );
        let args = m.args.unwrap();
        assert_eq!(summary(&args), "[Load] 0x7ffffff5+0xb");
        assert_eq!(m.abi, Abi::Purecap);
        assert_eq!(m.owned(), 0x7ff0_3000..0x8000_0000);
        for cap in [m.code, m.data, m.stack, args] {
            assert!(cap.tag() && !cap.is_sealed(), "{cap}");
            for forbidden in [
                MorelloPerms::STORE_LOCAL_CAP,
                MorelloPerms::EXECUTIVE,
                MorelloPerms::SYSTEM,
                MorelloPerms::SEAL,
                MorelloPerms::UNSEAL,
            ] {
                assert!(!cap.perms().contains(forbidden), "{cap}");
            }
        }
        assert!(
            !m.code.perms().contains(MorelloPerms::LOAD_CAP),
            "no PC-relative capability loads"
        );

        let v = caps_for::<CheriRiscv>(11);
        assert_eq!(
            summary(&v.data),
            "[Load,Store,LoadCap,StoreCap,Global] 0x7ff03000+0xed000"
        );
        assert_eq!(
            summary(&v.stack),
            "[Load,Store,LoadCap,StoreCap,Global] 0x7fff0000+0x10000"
        );
        assert_eq!(summary(&v.args.unwrap()), "[Load] 0x7ffffff5+0xb");
        for cap in [v.data, v.stack] {
            assert!(!cap.perms().contains(RiscvPerms::STORE_LOCAL_CAP));
            assert!(!cap.perms().contains(RiscvPerms::ACCESS_SYSTEM_REGS));
        }
        // The hybrid model of the same cVM: DDC reaches the region's end, no LoadCap/StoreCap.
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x3000);
        let hybrid = default_caps::<Morello>(region, code, stack, 2).unwrap();
        assert_eq!(hybrid.abi, Abi::Hybrid);
        assert!(hybrid.args.is_none());
        assert_eq!(
            hybrid.owned(),
            m.owned(),
            "both own their region minus the code"
        );
        assert!(!hybrid.data.perms().contains(MorelloPerms::LOAD_CAP));
    }

    #[test]
    fn no_arguments_means_a_null_args_register() {
        assert!(caps_for::<Morello>(0).args.is_none());
    }

    /// A 1 GiB region: the data capability's top rounds down below the stack, never up into it.
    fn data_below_a_big_stack<F: CvmFormat>() {
        let region = r(0x4000_0000, 0x8000_0000);
        let code = r(0x4000_0000, 0x4000_3000);
        for stack in [r(0x7ffe_0000, 0x8000_0000), r(0x7fff_0000, 0x8000_0000)] {
            let data = pure_caps::<F>(&Capability::root(), region, code, stack, 0, 8)
                .unwrap()
                .data;
            assert!(data.tag(), "{data}");
            assert!(data.top() <= u128::from(stack.start.0), "{data}");
            assert!(data.base() >= 0x4000_3000, "{data}");
            assert!(data.length() > 0x3000_0000, "most of the region: {data}");
        }
    }

    #[test]
    fn data_shrinks_inward_to_exact_bounds_below_the_stack() {
        data_below_a_big_stack::<Morello>();
        data_below_a_big_stack::<CheriRiscv>();
    }

    #[test]
    fn arguments_larger_than_half_the_stack_are_refused() {
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x3000);
        let err =
            pure_caps::<Morello>(&Capability::root(), region, code, stack, 1, 0x8001).unwrap_err();
        assert_eq!(
            format!("{}", err.named("big-args")),
            "cvm \"big-args\": its argument strings (32769 bytes) need more than half its stack (65536 bytes)"
        );
    }

    #[test]
    fn no_room_for_data_below_the_stack_is_refused() {
        let region = r(0x7ff0_0000, 0x7ff2_0000);
        let code = r(0x7ff0_0000, 0x7ff1_0000);
        let stack = r(0x7ff1_0000, 0x7ff2_0000);
        let err =
            pure_caps::<CheriRiscv>(&Capability::root(), region, code, stack, 0, 8).unwrap_err();
        assert!(format!("{err}").contains("no room for data"), "{err}");
    }
}
