//! Where each cVM's memory goes, and the capabilities each cVM starts with, as model values.
//!
//! **Regions.** [`plan_regions`] gives every cVM of a manifest one region, in manifest order,
//! taken from the *highest* usable memory downward: the monitor's image, its device tree and
//! its heap sit at the bottom of RAM on every board capmon knows (the heap is the first usable
//! range that fits), so cVMs stay clear of them and of each other's neighbourhood, and the
//! result depends only on the manifest and the usable list. Each region's size and alignment
//! come from [`Format::plan_region`], so SCBNDSE / CSetBoundsExact over the region keep the
//! tag; the alignment is at least one 4 KiB page. Boards without capabilities plan with their
//! architecture's CHERI format anyway (Morello rules on aarch64, CHERI-RISC-V on riscv64): the
//! layout is then identical with and without CHERI, which keeps the stock-QEMU boot tests
//! meaningful for the CHERI boards.
//!
//! **Default capabilities.** [`default_caps`] derives, from the root by set-address,
//! set-bounds and permission removal only, what a cVM runs with: PCC over its code (Load,
//! Execute, Global), DDC from above the code to the end of its region and CSP over its stack
//! (Load, Store, Global), plus the sealing capability for its own object type
//! `FIRST_CVM_OTYPE + index`, which stays in the monitor. No capability is both writable and
//! executable, none can load or store capabilities, and none carries a system permission. The
//! hardware derives the same capabilities at boot and the monitor compares them with these.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::manifest::{CvmRef, Manifest};
use crate::addr::{PhysAddr, PhysRange};
use crate::cap::{Capability, CheriRiscv, Format, Morello, MorelloPerms, PermSet, RiscvPerms};

/// The object type of cVM 0's sealed capabilities; cVM `i` uses `FIRST_CVM_OTYPE + i`.
///
/// Valid for both formats: Morello reserves 0 (unsealed) and 1..=3 (sentries, LPB, LB) and
/// seals with values up to 0x7FFF; CHERI-RISC-V reserves the top 16 of its 18-bit space (−1
/// unsealed, −2 sentry, ...) and counts user types up from 0. Starting at 16 leaves the types
/// below it (4..=15 on Morello, 0..=15 on CHERI-RISC-V) for the monitor's own use, and gives
/// each cVM a type of its own, so a capability sealed for one cVM can never be unsealed by or
/// paired with another's (Intravisor's single type allowed exactly that).
pub const FIRST_CVM_OTYPE: u32 = 16;

/// Smallest region alignment: a page, whatever the format would accept.
pub const REGION_ALIGN_MIN: u64 = 4096;

/// What the cVM derivation needs to know about a capability format beyond [`Format`].
pub trait CvmFormat: Format {
    /// PCC: fetch and read the code, nothing else.
    const CODE_PERMS: Self::Perms;
    /// DDC and CSP: read and write data, no execute, no capability load/store.
    const DATA_PERMS: Self::Perms;
    /// The monitor's per-cVM sealing capability.
    const SEAL_PERMS: Self::Perms;
    /// Largest object type the format lets software seal with.
    const MAX_OTYPE: u32;
}

impl CvmFormat for Morello {
    // Not Executive: the cVM runs in Restricted mode. Not System, BranchSealedPair,
    // CompartmentID, MutableLoad, Seal/Unseal, LoadCap/StoreCap or user permissions.
    const CODE_PERMS: MorelloPerms = MorelloPerms::GLOBAL
        .union(MorelloPerms::LOAD)
        .union(MorelloPerms::EXECUTE);
    const DATA_PERMS: MorelloPerms = MorelloPerms::GLOBAL
        .union(MorelloPerms::LOAD)
        .union(MorelloPerms::STORE);
    // Global so that capabilities the monitor unseals with it stay global.
    const SEAL_PERMS: MorelloPerms = MorelloPerms::GLOBAL
        .union(MorelloPerms::SEAL)
        .union(MorelloPerms::UNSEAL);
    const MAX_OTYPE: u32 = crate::cap::morello::otype::MAX;
}

impl CvmFormat for CheriRiscv {
    // Not ASR (CSR access, xRET), SetCID, CInvoke, Seal/Unseal, LoadCap/StoreCap or user
    // permissions.
    const CODE_PERMS: RiscvPerms = RiscvPerms::GLOBAL
        .union(RiscvPerms::LOAD)
        .union(RiscvPerms::EXECUTE);
    const DATA_PERMS: RiscvPerms = RiscvPerms::GLOBAL
        .union(RiscvPerms::LOAD)
        .union(RiscvPerms::STORE);
    const SEAL_PERMS: RiscvPerms = RiscvPerms::GLOBAL
        .union(RiscvPerms::SEAL)
        .union(RiscvPerms::UNSEAL);
    // −16..−1 (0x3FFF0..=0x3FFFF) are reserved.
    const MAX_OTYPE: u32 = 0x3_FFEF;
}

/// The capabilities a cVM starts with, as the model derives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultCaps<F: Format> {
    /// PCC: over the code range (exactly, or rounded outward inside the region and below
    /// `data`); address = code base (the loader sets the entry point).
    pub code: Capability<F>,
    /// DDC: from the first address at or above the code capability's top where bounds to the
    /// region's end are exact, to the region's end. The loader must place the image's data at
    /// or above `data.base()` (the SDK's linker script page-aligns it, which suffices).
    pub data: Capability<F>,
    /// CSP: over the stack range; address = stack base (the loader sets the stack pointer).
    pub stack: Capability<F>,
    /// The object type of this cVM's sealed capabilities.
    pub otype: u32,
    /// The monitor's sealing capability for `otype`: bounds `[otype, otype + 1)`, Seal and
    /// Unseal. It never leaves the monitor.
    pub sealer: Capability<F>,
}

/// Why planning or derivation failed, naming the cVM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    pub cvm: CvmRef,
    pub kind: PlanErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanErrorKind {
    /// `memory-size` rounded to a representable length does not fit below 2^64.
    TooLarge { size: u64 },
    /// No free range holds the region.
    OutOfMemory {
        /// Rounded region size.
        needed: u64,
        align: u64,
        /// The largest free range left, and all free bytes left, after the earlier cVMs.
        largest_free: u64,
        total_free: u64,
    },
    /// The ranges handed to [`default_caps`] do not nest as they must.
    Layout(String),
    /// `role`'s bounds over `range` cannot be exact; a base aligned to `align` would be.
    NotRepresentable {
        role: &'static str,
        range: PhysRange,
        align: u64,
    },
    /// A derived capability failed its check (a bug in the model or in the derivation).
    BadCapability { role: &'static str, why: String },
    /// The cVM's object type would exceed the format's largest.
    OtypeOutOfRange { otype: u64, max: u32 },
}

impl PlanError {
    /// The same error naming the cVM by name ([`default_caps`] only knows its index).
    pub fn named(self, name: &str) -> Self {
        PlanError {
            cvm: CvmRef::Name(String::from(name)),
            ..self
        }
    }
}

/// `0x100000 (1 MiB)`: hex for checking against addresses, units for people.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        write!(f, "{n:#x}")?;
        let units = [(30, "GiB"), (20, "MiB"), (10, "KiB")];
        match units.iter().find(|(shift, _)| n >> shift != 0) {
            Some((shift, unit)) if n.trailing_zeros() >= *shift => {
                write!(f, " ({} {unit})", n >> shift)
            }
            Some((shift, unit)) => {
                // One decimal, rounded down: enough to compare two sizes at a glance.
                let tenths = (u128::from(n) * 10) >> shift;
                write!(f, " ({}.{} {unit})", tenths / 10, tenths % 10)
            }
            None => Ok(()),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.cvm)?;
        match &self.kind {
            PlanErrorKind::TooLarge { size } => {
                write!(f, "memory-size {} cannot be planned", Size(*size))
            }
            PlanErrorKind::OutOfMemory {
                needed,
                align,
                largest_free,
                total_free,
            } => write!(
                f,
                "out of memory: the region needs {} aligned to {:#x}, but the largest free \
                 range left is {} ({} free in total)",
                Size(*needed),
                align,
                Size(*largest_free),
                Size(*total_free)
            ),
            PlanErrorKind::Layout(why) => f.write_str(why),
            PlanErrorKind::NotRepresentable { role, range, align } => write!(
                f,
                "{role} {range} cannot have exact capability bounds; its base would have to be \
                 a multiple of {align:#x}"
            ),
            PlanErrorKind::BadCapability { role, why } => {
                write!(f, "derived {role} capability is wrong: {why}")
            }
            PlanErrorKind::OtypeOutOfRange { otype, max } => {
                write!(f, "object type {otype:#x} is above the format's largest, {max:#x}")
            }
        }
    }
}

/// Sorted, merged, non-empty copies of `ranges`.
fn normalize(ranges: &[PhysRange]) -> Vec<PhysRange> {
    let mut sorted: Vec<PhysRange> = ranges.iter().copied().filter(|r| !r.is_empty()).collect();
    sorted.sort_unstable();
    let mut out: Vec<PhysRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `usable` without the `taken` ranges (e.g. the monitor's heap), sorted and merged.
pub fn without(usable: &[PhysRange], taken: &[PhysRange]) -> Vec<PhysRange> {
    let mut pieces = normalize(usable);
    for hole in taken.iter().filter(|h| !h.is_empty()) {
        let mut next = Vec::with_capacity(pieces.len() + 1);
        for p in pieces {
            if !p.overlaps(hole) {
                next.push(p);
                continue;
            }
            if p.start < hole.start {
                next.push(PhysRange {
                    start: p.start,
                    end: hole.start,
                });
            }
            if hole.end < p.end {
                next.push(PhysRange {
                    start: hole.end,
                    end: p.end,
                });
            }
        }
        pieces = next;
    }
    pieces
}

/// One region per cVM of `manifest`, in manifest order, from the highest usable memory down
/// (see the module documentation). `usable` must already exclude everything the monitor uses
/// (platform discovery removes the image, device tree and firmware carve-outs; remove the heap
/// with [`without`]). Regions never overlap each other and lie inside `usable`.
pub fn plan_regions<F: Format>(
    manifest: &Manifest,
    usable: &[PhysRange],
) -> Result<Vec<PhysRange>, PlanError> {
    let mut free = normalize(usable);
    let mut regions = Vec::with_capacity(manifest.cvms.len());
    for cvm in &manifest.cvms {
        let who = || CvmRef::Name(cvm.name.clone());
        let too_large = || PlanError {
            cvm: who(),
            kind: PlanErrorKind::TooLarge {
                size: cvm.memory_size,
            },
        };
        let plan = F::plan_region(cvm.memory_size).ok_or_else(too_large)?;
        let align = plan.align.max(REGION_ALIGN_MIN);
        // Representable lengths of page multiples are page multiples; rounding up keeps the
        // promise that regions are whole pages even if a format ever disagreed.
        let size = PhysAddr(plan.size)
            .checked_align_up(REGION_ALIGN_MIN)
            .ok_or_else(too_large)?
            .0;
        // The highest aligned base in the highest range that holds the region.
        let chosen = free.iter().enumerate().rev().find_map(|(i, r)| {
            let base = r.end.0.checked_sub(size)? & !(align - 1);
            (base >= r.start.0).then_some((i, base))
        });
        let Some((i, base)) = chosen else {
            return Err(PlanError {
                cvm: who(),
                kind: PlanErrorKind::OutOfMemory {
                    needed: size,
                    align,
                    largest_free: free.iter().map(PhysRange::size).max().unwrap_or(0),
                    total_free: free.iter().map(PhysRange::size).fold(0, u64::saturating_add),
                },
            });
        };
        let region = PhysRange::from_start_size(base, size).ok_or_else(too_large)?;
        // Morello bounds stop at 2^55 and no format promises exactness everywhere; the model
        // is the judge, so a region it cannot bound exactly is refused rather than handed out.
        if !F::bounds_are_exact(base, size) {
            return Err(PlanError {
                cvm: who(),
                kind: PlanErrorKind::NotRepresentable {
                    role: "region",
                    range: region,
                    align,
                },
            });
        }
        let piece = free.remove(i);
        if region.end < piece.end {
            free.insert(
                i,
                PhysRange {
                    start: region.end,
                    end: piece.end,
                },
            );
        }
        if piece.start < region.start {
            free.insert(
                i,
                PhysRange {
                    start: piece.start,
                    end: region.start,
                },
            );
        }
        regions.push(region);
    }
    Ok(regions)
}

/// The set of every permission of `F` except `keep`, for `without_perms`.
fn all_but<F: Format>(keep: F::Perms) -> F::Perms {
    F::Perms::from_bits(F::Perms::ALL.bits() & !keep.bits())
}

/// The first base at or above `low` from which bounds up to `top` are exact, if it lies below
/// `top`. Raising the base shortens the length, which never needs more alignment, so the loop
/// settles within a few rounds; it is bounded anyway.
fn exact_base_from<F: Format>(low: u64, top: u64) -> Option<u64> {
    let mut base = low;
    for _ in 0..8 {
        let length = top.checked_sub(base).filter(|&l| l > 0)?;
        let align = (!F::alignment_mask(length)).checked_add(1)?;
        let aligned = PhysAddr(base).checked_align_up(align)?.0;
        if aligned == base {
            return F::bounds_are_exact(base, length).then_some(base);
        }
        base = aligned;
    }
    None
}

/// The alignment a base needs for bounds of `length` to be exact.
fn alignment_for<F: Format>(length: u64) -> u64 {
    (!F::alignment_mask(length)).saturating_add(1)
}

/// Derives cVM `cvm_index`'s default capabilities (see [`DefaultCaps`]) from the root through
/// a capability over `region`. `code` and `stack` are absolute ranges inside `region`, from the
/// loader: code at the bottom (the SDK layout puts it at the region base), stack at the top.
///
/// The code capability may be rounded outward when its exact bounds are not representable, as
/// long as the rounded bounds stay inside the region; the data capability then starts above
/// them, so no byte is both executable and writable. Errors name the cVM by node (`cvm@N`);
/// use [`PlanError::named`] to name it.
pub fn default_caps<F: CvmFormat>(
    region: PhysRange,
    code: PhysRange,
    stack: PhysRange,
    cvm_index: u32,
) -> Result<DefaultCaps<F>, PlanError> {
    let err = |kind| PlanError {
        cvm: CvmRef::Node(format!("cvm@{cvm_index:x}")),
        kind,
    };
    let layout = |why: String| err(PlanErrorKind::Layout(why));
    if region.is_empty() {
        return Err(layout(format!("region {region} is empty")));
    }
    if code.is_empty() || !region.covers(&code) {
        return Err(layout(format!(
            "code {code} is empty or not inside the region {region}"
        )));
    }
    if stack.is_empty() || !region.covers(&stack) {
        return Err(layout(format!(
            "stack {stack} is empty or not inside the region {region}"
        )));
    }
    let otype = u64::from(FIRST_CVM_OTYPE) + u64::from(cvm_index);
    let otype = u32::try_from(otype)
        .ok()
        .filter(|&o| o <= F::MAX_OTYPE)
        .ok_or(err(PlanErrorKind::OtypeOutOfRange {
            otype,
            max: F::MAX_OTYPE,
        }))?;

    let not_exact = |role, range: PhysRange| {
        err(PlanErrorKind::NotRepresentable {
            role,
            range,
            align: alignment_for::<F>(range.size()),
        })
    };
    let root = Capability::<F>::root();
    let region_cap = root
        .set_address(region.start.0)
        .set_bounds_exact(region.size());
    if !region_cap.tag() {
        return Err(not_exact("region", region));
    }

    // Derived from the region capability, so rounded bounds that would leave the region
    // clear the tag, which the check below turns into an error.
    let code_bounds = region_cap.set_address(code.start.0).set_bounds(code.size());
    if !code_bounds.tag() {
        return Err(not_exact("code", code));
    }
    let code_cap = code_bounds.cap.without_perms(all_but::<F>(F::CODE_PERMS));
    let code_top = u64::try_from(code_cap.top()).unwrap_or(u64::MAX);

    let data_low = code.end.0.max(code_top);
    let data_base = exact_base_from::<F>(data_low, region.end.0).ok_or_else(|| {
        layout(format!(
            "no room for data between the code's end {:#x} and the region's end {:#x}",
            data_low, region.end.0
        ))
    })?;
    let data_range = PhysRange {
        start: PhysAddr(data_base),
        end: region.end,
    };
    let data_cap = region_cap
        .set_address(data_base)
        .set_bounds_exact(data_range.size())
        .without_perms(all_but::<F>(F::DATA_PERMS));

    if stack.start.0 < code_top {
        return Err(layout(format!(
            "stack {stack} overlaps the code capability, which ends at {code_top:#x}"
        )));
    }
    let stack_cap = region_cap
        .set_address(stack.start.0)
        .set_bounds_exact(stack.size());
    if !stack_cap.tag() {
        return Err(not_exact("stack", stack));
    }
    let stack_cap = stack_cap.without_perms(all_but::<F>(F::DATA_PERMS));

    let sealer = root
        .set_address(otype.into())
        .set_bounds_exact(1)
        .without_perms(all_but::<F>(F::SEAL_PERMS));

    let checks = [
        ("code", &code_cap, F::CODE_PERMS, None),
        ("data", &data_cap, F::DATA_PERMS, Some(data_range)),
        ("stack", &stack_cap, F::DATA_PERMS, Some(stack)),
        ("sealing", &sealer, F::SEAL_PERMS, None),
    ];
    for (role, cap, allowed, exact) in checks {
        let bad = |why: String| err(PlanErrorKind::BadCapability { role, why });
        if !cap.tag() {
            return Err(bad(format!("untagged: {cap}")));
        }
        if cap.is_sealed() {
            return Err(bad(format!("sealed: {cap}")));
        }
        if cap.perms().bits() & !allowed.bits() != 0 {
            return Err(bad(format!("permissions beyond {allowed}: {cap}")));
        }
        if let Some(range) = exact {
            if (cap.base(), cap.length()) != (range.start.0, u128::from(range.size())) {
                return Err(bad(format!("bounds are not exactly {range}: {cap}")));
            }
        }
        let in_region = cap.base() >= region.start.0 && cap.top() <= u128::from(region.end.0);
        if role != "sealing" && !in_region {
            return Err(bad(format!("reaches outside the region {region}: {cap}")));
        }
    }
    if (sealer.base(), sealer.length()) != (u64::from(otype), 1) {
        return Err(err(PlanErrorKind::BadCapability {
            role: "sealing",
            why: format!("bounds are not [{otype:#x}, +1): {sealer}"),
        }));
    }
    // W^X: the writable capabilities start at or above the executable one's top.
    if u128::from(data_cap.base()) < code_cap.top() || u128::from(stack_cap.base()) < code_cap.top()
    {
        return Err(err(PlanErrorKind::BadCapability {
            role: "code",
            why: format!("overlaps a writable capability: {code_cap}"),
        }));
    }
    Ok(DefaultCaps {
        code: code_cap,
        data: data_cap,
        stack: stack_cap,
        otype,
        sealer,
    })
}
