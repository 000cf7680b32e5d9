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

use super::manifest::{Abi, CvmRef, CvmSpec, Manifest};
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
    /// A pure cVM's data and stack capabilities: [`Self::DATA_PERMS`] plus LoadCap and
    /// StoreCap (and Morello's MutableLoad), never StoreLocalCap (so a local capability it
    /// imports can't be kept there).
    const PURE_DATA_PERMS: Self::Perms;
    /// A pure cVM's argument-strings capability: Load only.
    const ARGS_PERMS: Self::Perms;
    /// What a hostcall buffer the monitor reads (Load) or writes (Store) must carry.
    const LOAD: Self::Perms;
    const STORE: Self::Perms;
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
    // MutableLoad too: without it every capability loaded through these loses Store and
    // StoreCap (Morello's load rule), so a pure program could never reload a pointer it can
    // write through. It grants nothing by itself. (CHERI-RISC-V ISAv9 has no such rule.)
    const PURE_DATA_PERMS: MorelloPerms = Self::DATA_PERMS
        .union(MorelloPerms::LOAD_CAP)
        .union(MorelloPerms::STORE_CAP)
        .union(MorelloPerms::MUTABLE_LOAD);
    const ARGS_PERMS: MorelloPerms = MorelloPerms::LOAD;
    const LOAD: MorelloPerms = MorelloPerms::LOAD;
    const STORE: MorelloPerms = MorelloPerms::STORE;
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
    const PURE_DATA_PERMS: RiscvPerms = Self::DATA_PERMS
        .union(RiscvPerms::LOAD_CAP)
        .union(RiscvPerms::STORE_CAP);
    const ARGS_PERMS: RiscvPerms = RiscvPerms::LOAD;
    const LOAD: RiscvPerms = RiscvPerms::LOAD;
    const STORE: RiscvPerms = RiscvPerms::STORE;
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
    /// The cVM's authority: a capability over its whole region, derived from the root (or, for
    /// a nested cVM, from its parent's authority), from which every capability above is
    /// derived. It never leaves the monitor; a child's authority is derived from it.
    pub region: Capability<F>,
    /// How the cVM runs. For a pure cVM ([`super::pure::pure_caps`]) `data` and `stack` are
    /// register capabilities with LoadCap/StoreCap, `data` ends below the stack, and DDC is
    /// null.
    pub abi: Abi,
    /// Pure cVMs: the capability over the argument strings (arg1; Load only). `None` for
    /// hybrid cVMs, whose argv is an array of integer pointers on the stack.
    pub args: Option<Capability<F>>,
}

impl<F: Format> DefaultCaps<F> {
    /// The memory the cVM owns and may name in hostcalls: from the data capability's base to
    /// the top of the stack (its region minus the code).
    pub fn owned(&self) -> core::ops::Range<u64> {
        let top = u64::try_from(self.stack.top().max(self.data.top())).unwrap_or(u64::MAX);
        self.data.base()..top
    }
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
    /// A nested cVM's region does not fit in what its parent's region has left.
    ChildDoesNotFit {
        parent: String,
        needed: u64,
        align: u64,
        /// The parent's memory still free for children (above its own part's minimum).
        left: u64,
    },
    /// A nested cVM's capabilities are not a subset of its parent's authority.
    NotDerivedFromParent { parent: String, why: String },
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
            PlanErrorKind::ChildDoesNotFit {
                parent,
                needed,
                align,
                left,
            } => write!(
                f,
                "does not fit in its parent \"{parent}\": it needs {} aligned to {align:#x}, and \
                 the parent's region has {} left for children",
                Size(*needed),
                Size(*left)
            ),
            PlanErrorKind::NotDerivedFromParent { parent, why } => {
                write!(
                    f,
                    "its capabilities are not derived from its parent \"{parent}\"'s: {why}"
                )
            }
            PlanErrorKind::NotRepresentable { role, range, align } => write!(
                f,
                "{role} {range} cannot have exact capability bounds; its base would have to be \
                 a multiple of {align:#x}"
            ),
            PlanErrorKind::BadCapability { role, why } => {
                write!(f, "derived {role} capability is wrong: {why}")
            }
            PlanErrorKind::OtypeOutOfRange { otype, max } => {
                write!(
                    f,
                    "object type {otype:#x} is above the format's largest, {max:#x}"
                )
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
///
/// A nested cVM's region is carved from its parent's, from the top down: the first child
/// highest, each next one below it, so a parent's own memory (image, heap, stack) is the bottom
/// part of its region ([`own_range`]). Its own part keeps at least its stack and 64 KiB.
pub fn plan_regions<F: Format>(
    manifest: &Manifest,
    usable: &[PhysRange],
) -> Result<Vec<PhysRange>, PlanError> {
    let mut free = normalize(usable);
    let mut regions: Vec<PhysRange> = Vec::with_capacity(manifest.cvms.len());
    for cvm in &manifest.cvms {
        if let Some(parent) = cvm.parent {
            let region = plan_child::<F>(manifest, &regions, parent, cvm)?;
            regions.push(region);
            continue;
        }
        let who = || CvmRef::Name(cvm.name.clone());
        let too_large = || PlanError {
            cvm: who(),
            kind: PlanErrorKind::TooLarge {
                size: cvm.memory_size,
            },
        };
        let (size, align) = region_size::<F>(cvm)?;
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
                    total_free: free
                        .iter()
                        .map(PhysRange::size)
                        .fold(0, u64::saturating_add),
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

/// A cVM's region size and base alignment: `memory-size` rounded to a length whose bounds
/// the format can make exact, and the alignment that needs (at least a page). Representable
/// lengths of page multiples are page multiples; rounding up keeps the promise that regions
/// are whole pages even if a format ever disagreed.
fn region_size<F: Format>(cvm: &CvmSpec) -> Result<(u64, u64), PlanError> {
    let too_large = || PlanError {
        cvm: CvmRef::Name(cvm.name.clone()),
        kind: PlanErrorKind::TooLarge {
            size: cvm.memory_size,
        },
    };
    let plan = F::plan_region(cvm.memory_size).ok_or_else(too_large)?;
    let size = PhysAddr(plan.size)
        .checked_align_up(REGION_ALIGN_MIN)
        .ok_or_else(too_large)?
        .0;
    Ok((size, plan.align.max(REGION_ALIGN_MIN)))
}

/// The smallest own part a parent keeps below its children: its stack and 64 KiB.
fn own_minimum(parent: &CvmSpec) -> u64 {
    parent.stack_size.max(crate::cvm::manifest::MIN_MEMORY_SIZE)
}

/// Places `cvm` inside its parent's region, below the parent's children placed so far (or the
/// region's top), at the highest base its format alignment allows.
fn plan_child<F: Format>(
    manifest: &Manifest,
    regions: &[PhysRange],
    parent: usize,
    cvm: &CvmSpec,
) -> Result<PhysRange, PlanError> {
    let who = || CvmRef::Name(cvm.name.clone());
    let (Some(parent_region), Some(parent_spec)) = (regions.get(parent), manifest.cvms.get(parent))
    else {
        return Err(PlanError {
            cvm: who(),
            kind: PlanErrorKind::Layout(String::from("its parent comes after it in the manifest")),
        });
    };
    let too_large = || PlanError {
        cvm: who(),
        kind: PlanErrorKind::TooLarge {
            size: cvm.memory_size,
        },
    };
    let (size, align) = region_size::<F>(cvm)?;
    // Below the siblings placed so far (they are the parent's children before this one).
    let top = manifest
        .children(parent)
        .iter()
        .filter_map(|&c| regions.get(c))
        .map(|r| r.start)
        .min()
        .unwrap_or(parent_region.end);
    let floor = parent_region
        .start
        .0
        .saturating_add(own_minimum(parent_spec));
    let base = top
        .0
        .checked_sub(size)
        .map(|b| b & !(align - 1))
        .filter(|&b| b >= floor);
    let Some(base) = base else {
        return Err(PlanError {
            cvm: who(),
            kind: PlanErrorKind::ChildDoesNotFit {
                parent: parent_spec.name.clone(),
                needed: size,
                align,
                left: top.0.saturating_sub(floor),
            },
        });
    };
    let region = PhysRange::from_start_size(base, size).ok_or_else(too_large)?;
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
    Ok(region)
}

/// The part of cVM `at`'s region that is its own: all of it for a cVM without children, else
/// from its base up to its lowest child's region. Its image, heap and stack live there.
pub fn own_range(manifest: &Manifest, regions: &[PhysRange], at: usize) -> Option<PhysRange> {
    let region = *regions.get(at)?;
    let end = manifest
        .children(at)
        .iter()
        .filter_map(|&c| regions.get(c))
        .map(|r| r.start)
        .min()
        .unwrap_or(region.end);
    Some(PhysRange {
        start: region.start,
        end,
    })
}

/// cVM `at`'s default capabilities, from its image's code window (`[start, end)` offsets into
/// its region, from `image::inspect` on its own part) and the plan: its stack at the top of its
/// own part, everything derived from its parent's authority (`parent_caps`, which must be
/// given for a nested cVM) or the root. The monitor (at boot) and `capmon-tool audit` (on the
/// host) both plan through here.
pub fn cvm_caps<F: CvmFormat>(
    manifest: &Manifest,
    regions: &[PhysRange],
    at: usize,
    code_window: core::ops::Range<u64>,
    parent_caps: Option<&DefaultCaps<F>>,
) -> Result<DefaultCaps<F>, PlanError> {
    let cvm = &manifest.cvms[at];
    let who = |why: &str| PlanError {
        cvm: CvmRef::Name(cvm.name.clone()),
        kind: PlanErrorKind::Layout(String::from(why)),
    };
    let region = *regions.get(at).ok_or_else(|| who("has no region"))?;
    let own = own_range(manifest, regions, at).ok_or_else(|| who("has no region"))?;
    let code = PhysRange::from_start_size(
        region.start.0.saturating_add(code_window.start),
        code_window.end.saturating_sub(code_window.start),
    )
    .ok_or_else(|| who("its code range wraps"))?;
    let stack =
        PhysRange::from_start_size(own.end.0.saturating_sub(cvm.stack_size), cvm.stack_size)
            .ok_or_else(|| who("its stack range wraps"))?;
    let root = Capability::<F>::root();
    let authority = match (cvm.parent, parent_caps) {
        (None, _) => &root,
        (Some(_), Some(parent)) => &parent.region,
        (Some(_), None) => {
            return Err(who(
                "is nested but its parent's capabilities were not given",
            ))
        }
    };
    super::pure::entry_caps::<F>(cvm, authority, region, code, stack)
        .map_err(|e| e.named(&cvm.name))
}

/// Whether the image's data (`data`, offsets from `region_start`, from
/// [`super::image::ImageLayout::data`]) lies inside the planned data capability. Exact bounds
/// over a large region need an aligned base, which may lie above where the image's linker put
/// its first data page: such a cVM would fault on its first access to its own data, so it is
/// refused with the two addresses instead.
pub fn data_in_reach<F: Format>(
    caps: &DefaultCaps<F>,
    region_start: u64,
    data: &core::ops::Range<u64>,
) -> Result<(), String> {
    if data.is_empty() {
        return Ok(());
    }
    let lowest = region_start.saturating_add(data.start);
    let base = caps.data.base();
    if lowest < base {
        return Err(format!(
            "its image's data starts at {lowest:#x}, below its data capability's base {base:#x} \
             (exact bounds over the rest of its {} KiB region need that alignment): link the \
             image's data higher or give the cVM a smaller memory-size",
            (caps.region.length() >> 10)
        ));
    }
    Ok(())
}

/// The set of every permission of `F` except `keep`, for `without_perms`.
pub(crate) fn all_but<F: Format>(keep: F::Perms) -> F::Perms {
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
pub(crate) fn alignment_for<F: Format>(length: u64) -> u64 {
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
    default_caps_from(&Capability::<F>::root(), region, code, stack, cvm_index)
}

/// [`default_caps`] derived from `authority` instead of the root: for a nested cVM, its
/// parent's [`DefaultCaps::region`]. Every capability is then checked to be a subset of
/// `authority` (bounds inside, no permission it lacks), so a child can never hold more than
/// its parent.
pub fn default_caps_from<F: CvmFormat>(
    authority: &Capability<F>,
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
    let region_cap = authority
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
        if cap.perms().bits() != allowed.bits() {
            // Only a nested cVM whose parent's authority lacks a permission gets here.
            return Err(bad(format!(
                "permissions not exactly {allowed} (its authority lacks some): {cap}"
            )));
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
    for (role, cap) in [
        ("region", &region_cap),
        ("code", &code_cap),
        ("data", &data_cap),
        ("stack", &stack_cap),
    ] {
        if let Err(why) = subset_of(cap, authority) {
            return Err(err(PlanErrorKind::BadCapability {
                role,
                why: format!("{why}: {cap}"),
            }));
        }
    }
    Ok(DefaultCaps {
        code: code_cap,
        data: data_cap,
        stack: stack_cap,
        otype,
        sealer,
        region: region_cap,
        abi: Abi::Hybrid,
        args: None,
    })
}

/// Whether `cap` holds no more authority than `authority`: tagged, bounds inside, and no
/// permission `authority` lacks. The planner's proof that a nested cVM's capabilities come
/// from its parent's.
pub fn subset_of<F: Format>(cap: &Capability<F>, authority: &Capability<F>) -> Result<(), String> {
    if !cap.tag() || !authority.tag() {
        return Err(String::from("untagged"));
    }
    if cap.base() < authority.base() || cap.top() > authority.top() {
        return Err(format!(
            "bounds reach outside [{:#x}, {:#x})",
            authority.base(),
            authority.top()
        ));
    }
    if cap.perms().bits() & !authority.perms().bits() != 0 {
        return Err(format!("permissions beyond {}", authority.perms()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    // The RNG truncates on purpose.
    #![allow(clippy::cast_possible_truncation)]

    use super::*;
    use crate::cvm::manifest::{CvmSpec, OnFault, DEFAULT_STACK_SIZE};
    use alloc::string::ToString;
    use alloc::vec;

    pub(crate) fn r(start: u64, end: u64) -> PhysRange {
        PhysRange {
            start: PhysAddr(start),
            end: PhysAddr(end),
        }
    }

    pub(crate) fn spec(index: u32, name: &str, memory_size: u64) -> CvmSpec {
        CvmSpec {
            index,
            name: name.into(),
            image: name.into(),
            memory_size,
            stack_size: DEFAULT_STACK_SIZE,
            args: vec![],
            console_label: name.into(),
            share: 1,
            cores: 0,
            on_fault: OnFault::Stop,
            cpu_budget_ms: None,
            disk: None,
            net: None,
            expect: Default::default(),
            parent: None,
            serve_children: false,
            abi: crate::cvm::manifest::Abi::Hybrid,
        }
    }

    pub(crate) fn manifest(sizes: &[u64]) -> Manifest {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        Manifest {
            keep_running: false,
            files: Vec::new(),
            calls: Vec::new(),
            streams: Vec::new(),
            cvms: sizes
                .iter()
                .zip(0u32..)
                .map(|(&size, i)| spec(i, names[i as usize % names.len()], size))
                .collect(),
        }
    }

    /// The SDK layout for a region: `code_size` bytes of code at the base, the default stack at
    /// the top.
    pub(crate) fn layout(region: PhysRange, code_size: u64) -> (PhysRange, PhysRange) {
        let code = r(region.start.0, region.start.0 + code_size);
        let stack = r(region.end.0 - DEFAULT_STACK_SIZE, region.end.0);
        (code, stack)
    }

    #[test]
    fn regions_come_from_the_top_of_memory_in_manifest_order() {
        let usable = [r(0x4000_0000, 0x8000_0000)];
        let m = manifest(&[0x10_0000, 0x20_0000, 0x1_0000]);
        let expected = vec![
            r(0x7ff0_0000, 0x8000_0000),
            r(0x7fd0_0000, 0x7ff0_0000),
            r(0x7fcf_0000, 0x7fd0_0000),
        ];
        assert_eq!(plan_regions::<Morello>(&m, &usable).unwrap(), expected);
        assert_eq!(plan_regions::<CheriRiscv>(&m, &usable).unwrap(), expected);
    }

    /// outer (8 MiB) holding middle (4 MiB) holding inner (1 MiB), and outer's second child
    /// sibling (1 MiB), then a top-level cVM after them.
    fn nested_manifest() -> Manifest {
        let mut cvms = vec![
            spec(0, "outer", 0x80_0000),
            spec(1, "middle", 0x40_0000),
            spec(2, "inner", 0x10_0000),
            spec(3, "sibling", 0x10_0000),
            spec(4, "other", 0x10_0000),
        ];
        cvms[1].parent = Some(0);
        cvms[2].parent = Some(1);
        cvms[3].parent = Some(0);
        Manifest {
            keep_running: false,
            files: Vec::new(),
            calls: Vec::new(),
            streams: Vec::new(),
            cvms,
        }
    }

    fn nested_plan<F: CvmFormat>() -> (Manifest, Vec<PhysRange>, Vec<DefaultCaps<F>>) {
        let m = nested_manifest();
        let regions = plan_regions::<F>(&m, &[r(0x4000_0000, 0x8000_0000)]).unwrap();
        let mut caps: Vec<DefaultCaps<F>> = Vec::new();
        for (i, cvm) in m.cvms.iter().enumerate() {
            let own = own_range(&m, &regions, i).unwrap();
            let (code, _) = layout(own, 0x3000);
            let stack = r(own.end.0 - cvm.stack_size, own.end.0);
            let authority = cvm
                .parent
                .map_or_else(Capability::<F>::root, |p| caps[p].region);
            caps.push(
                default_caps_from::<F>(&authority, regions[i], code, stack, cvm.index).unwrap(),
            );
        }
        (m, regions, caps)
    }

    #[test]
    fn children_are_carved_from_the_top_of_their_parents_region() {
        let (m, regions, _) = nested_plan::<Morello>();
        assert_eq!(
            regions,
            vec![
                r(0x7f80_0000, 0x8000_0000), // outer
                r(0x7fc0_0000, 0x8000_0000), // middle: outer's top
                r(0x7ff0_0000, 0x8000_0000), // inner: middle's top
                r(0x7fb0_0000, 0x7fc0_0000), // sibling: below middle
                r(0x7f70_0000, 0x7f80_0000), // other: below outer, from free memory
            ]
        );
        assert_eq!(
            own_range(&m, &regions, 0),
            Some(r(0x7f80_0000, 0x7fb0_0000))
        );
        assert_eq!(
            own_range(&m, &regions, 1),
            Some(r(0x7fc0_0000, 0x7ff0_0000))
        );
        assert_eq!(own_range(&m, &regions, 2), Some(regions[2]));
    }

    fn check_nested_caps<F: CvmFormat>() {
        let (m, regions, caps) = nested_plan::<F>();
        for (i, cvm) in m.cvms.iter().enumerate() {
            let Some(p) = cvm.parent else {
                assert!(subset_of(&caps[i].region, &Capability::<F>::root()).is_ok());
                continue;
            };
            // Every capability of the child lies within its parent's authority and its own region.
            for cap in [caps[i].region, caps[i].code, caps[i].data, caps[i].stack] {
                subset_of(&cap, &caps[p].region).unwrap();
                subset_of(&cap, &caps[i].region).unwrap();
            }
            // The parent's data capability covers the child (it owns the child's memory)...
            assert!(
                caps[p].data.base() <= regions[i].start.0
                    && caps[p].data.top() >= u128::from(regions[i].end.0)
            );
            // ... and the child's reaches nothing of its parent's own part, nor its siblings'.
            let parent_own = own_range(&m, &regions, p).unwrap();
            for cap in [caps[i].code, caps[i].data, caps[i].stack] {
                assert!(
                    u128::from(parent_own.end.0) <= u128::from(cap.base())
                        || cap.top() <= u128::from(parent_own.start.0),
                    "{cap}"
                );
                for (j, other) in m.cvms.iter().enumerate() {
                    if j != i && other.parent == cvm.parent {
                        assert!(
                            !regions[j].overlaps(&r(cap.base(), u64::try_from(cap.top()).unwrap())),
                            "{} reaches {}",
                            cvm.name,
                            other.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn nested_caps_are_derived_from_and_within_the_parents_morello() {
        check_nested_caps::<Morello>();
    }

    #[test]
    fn nested_caps_are_derived_from_and_within_the_parents_riscv() {
        check_nested_caps::<CheriRiscv>();
    }

    #[test]
    fn a_child_cannot_take_more_than_its_parent() {
        let usable = [r(0x4000_0000, 0x8000_0000)];
        let mut m = nested_manifest();
        m.cvms[2].memory_size = 0x40_0000; // inner as large as middle
        let e = plan_regions::<Morello>(&m, &usable).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "cvm \"inner\": does not fit in its parent \"middle\": it needs 0x400000 (4 MiB) aligned to 0x1000, and the parent's region has 0x3f0000 (3.9 MiB) left for children"
        );
        let mut m = nested_manifest();
        m.cvms[3].memory_size = 0x3f_8000; // sibling: more than outer has left beside middle
        let e = plan_regions::<Morello>(&m, &usable).unwrap_err();
        assert!(
            format!("{e}").starts_with("cvm \"sibling\": does not fit in its parent \"outer\""),
            "{e}"
        );
        // A capability over more than the authority, or with a permission it lacks, is refused.
        let (_, regions, caps) = nested_plan::<Morello>();
        let wider = caps[0]
            .region
            .set_address(regions[0].start.0 - 0x1000)
            .set_bounds_exact(0x2000);
        assert!(subset_of(&wider, &caps[1].region).is_err());
        let (code, stack) = layout(regions[1], 0x3000);
        let e =
            default_caps_from::<Morello>(&caps[2].region, regions[1], code, stack, 1).unwrap_err();
        assert!(format!("{e}").contains("region"), "{e}");
        let weak = caps[0].region.without_perms(MorelloPerms::EXECUTE);
        let own = own_range(&nested_manifest(), &regions, 2).unwrap();
        let (code, _) = layout(own, 0x3000);
        let e = default_caps_from::<Morello>(
            &weak,
            regions[2],
            code,
            r(own.end.0 - DEFAULT_STACK_SIZE, own.end.0),
            2,
        )
        .unwrap_err();
        assert!(format!("{e}").contains("its authority lacks some"), "{e}");
    }

    #[test]
    fn sizes_round_up_and_bases_align_as_the_format_needs() {
        // 64 MiB - 4 KiB is not representable in either format: it rounds up to 64 MiB, whose
        // base must be 32 KiB (Morello) or 128 KiB (CHERI-RISC-V) aligned, so the region
        // leaves the top page of usable memory to the next, small cVM.
        assert_eq!(
            Morello::plan_region(0x3ff_f000),
            Some(crate::cap::RegionPlan {
                size: 0x400_0000,
                align: 0x8000
            })
        );
        assert_eq!(
            CheriRiscv::plan_region(0x3ff_f000),
            Some(crate::cap::RegionPlan {
                size: 0x400_0000,
                align: 0x2_0000
            })
        );
        let m = manifest(&[0x3ff_f000, 0x1000]);
        let usable = [r(0x8000_0000, 0x8800_1000)];
        let expected = [r(0x8400_0000, 0x8800_0000), r(0x8800_0000, 0x8800_1000)];
        assert_eq!(plan_regions::<CheriRiscv>(&m, &usable).unwrap(), expected);
        assert_eq!(plan_regions::<Morello>(&m, &usable).unwrap(), expected);
        // 1 MiB + 4 KiB is representable in both: no rounding, page alignment.
        let m = manifest(&[0x10_1000]);
        for regions in [
            plan_regions::<CheriRiscv>(&m, &usable).unwrap(),
            plan_regions::<Morello>(&m, &usable).unwrap(),
        ] {
            assert_eq!(regions, [r(0x87f0_0000, 0x8800_1000)]);
        }
    }

    #[test]
    fn a_region_skips_ranges_too_small_for_it() {
        let usable = [r(0x8000_0000, 0x8040_0000), r(0x9000_0000, 0x9008_0000)];
        let m = manifest(&[0x10_0000, 0x4_0000]);
        assert_eq!(
            plan_regions::<Morello>(&m, &usable).unwrap(),
            [r(0x8030_0000, 0x8040_0000), r(0x9004_0000, 0x9008_0000)]
        );
    }

    #[test]
    fn running_out_of_memory_names_the_cvm_and_the_shortfall() {
        let usable = [r(0x8000_0000, 0x8018_0000)];
        let err = plan_regions::<Morello>(&manifest(&[0x10_0000, 0x10_0000]), &usable).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "cvm \"b\": out of memory: the region needs 0x100000 (1 MiB) aligned to 0x1000, but \
             the largest free range left is 0x80000 (512 KiB) (0x80000 (512 KiB) free in total)"
        );
        assert_eq!(
            err.kind,
            PlanErrorKind::OutOfMemory {
                needed: 0x10_0000,
                align: 0x1000,
                largest_free: 0x8_0000,
                total_free: 0x8_0000
            }
        );
        assert!(plan_regions::<CheriRiscv>(&manifest(&[0x1000]), &[]).is_err());
    }

    #[test]
    fn without_cuts_holes() {
        let usable = [r(0x1000, 0x9000), r(0x8000, 0xa000), r(0x2_0000, 0x3_0000)];
        assert_eq!(
            without(&usable, &[r(0x2000, 0x3000), r(0x2_0000, 0x2_1000)]),
            [r(0x1000, 0x2000), r(0x3000, 0xa000), r(0x2_1000, 0x3_0000)]
        );
    }

    fn default_caps_for<F: CvmFormat>() -> DefaultCaps<F> {
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x3000);
        default_caps::<F>(region, code, stack, 2).unwrap()
    }

    fn summary<F: Format>(cap: &Capability<F>) -> String {
        format!("{} {:#x}+{:#x}", cap.perms(), cap.base(), cap.length())
    }

    #[test]
    fn image_data_below_the_data_capability_is_refused() {
        let caps = default_caps_for::<Morello>();
        let region_start = 0x7ff0_0000;
        let data_base = caps.data.base() - region_start;
        assert!(data_in_reach(&caps, region_start, &(data_base..data_base + 0x100)).is_ok());
        assert!(
            data_in_reach(&caps, region_start, &(0..0)).is_ok(),
            "no data"
        );
        let why = data_in_reach(&caps, region_start, &(data_base - 0x10..data_base + 0x100))
            .expect_err("starts 16 bytes too low");
        assert!(why.contains("below its data capability's base"), "{why}");
    }

    #[test]
    fn morello_default_caps_have_exact_bounds_and_least_permissions() {
        let caps = default_caps_for::<Morello>();
        assert_eq!(
            summary(&caps.code),
            "[Load,Execute,Global] 0x7ff00000+0x3000"
        );
        assert_eq!(
            summary(&caps.data),
            "[Load,Store,Global] 0x7ff03000+0xfd000"
        );
        assert_eq!(
            summary(&caps.stack),
            "[Load,Store,Global] 0x7fff0000+0x10000"
        );
        assert_eq!(summary(&caps.sealer), "[Seal,Unseal,Global] 0x12+0x1");
        assert_eq!(caps.otype, FIRST_CVM_OTYPE + 2);
        for cap in [caps.code, caps.data, caps.stack, caps.sealer] {
            assert!(cap.tag() && !cap.is_sealed(), "{cap}");
            for forbidden in [
                MorelloPerms::EXECUTIVE,
                MorelloPerms::SYSTEM,
                MorelloPerms::LOAD_CAP,
                MorelloPerms::STORE_CAP,
                MorelloPerms::BRANCH_SEALED_PAIR,
                MorelloPerms::COMPARTMENT_ID,
                MorelloPerms::MUTABLE_LOAD,
                MorelloPerms::USER0,
            ] {
                assert!(!cap.perms().contains(forbidden), "{cap}");
            }
        }
        assert_eq!(
            format!("{}", caps.code),
            "tag=1 perms=[Load,Execute,Global] base=0x7ff00000 len=0x3000 addr=0x7ff00000 \
             otype=unsealed"
        );
    }

    #[test]
    fn riscv_default_caps_have_exact_bounds_and_least_permissions() {
        let caps = default_caps_for::<CheriRiscv>();
        assert_eq!(
            summary(&caps.code),
            "[Load,Execute,Global] 0x7ff00000+0x3000"
        );
        assert_eq!(
            summary(&caps.data),
            "[Load,Store,Global] 0x7ff03000+0xfd000"
        );
        assert_eq!(
            summary(&caps.stack),
            "[Load,Store,Global] 0x7fff0000+0x10000"
        );
        assert_eq!(summary(&caps.sealer), "[Seal,Unseal,Global] 0x12+0x1");
        for cap in [caps.code, caps.data, caps.stack] {
            assert!(!cap.perms().contains(RiscvPerms::ACCESS_SYSTEM_REGS));
            assert!(!cap.perms().contains(RiscvPerms::CINVOKE));
            assert!(!cap.perms().contains(RiscvPerms::SET_CID));
        }
    }

    #[test]
    fn code_rounds_outward_only_inside_the_region_and_below_the_data() {
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x1_2345);
        let m = default_caps::<Morello>(region, code, stack, 0).unwrap();
        // Morello rounds 0x12345 to a multiple of 0x20, CHERI-RISC-V to one of 0x80; the data
        // capability starts at the next base from which bounds to the region's end are exact.
        assert_eq!(summary(&m.code), "[Load,Execute,Global] 0x7ff00000+0x12360");
        assert_eq!(m.data.base(), 0x7ff1_2400);
        let v = default_caps::<CheriRiscv>(region, code, stack, 0).unwrap();
        assert_eq!(summary(&v.code), "[Load,Execute,Global] 0x7ff00000+0x12380");
        assert_eq!(v.data.base(), 0x7ff1_2400);
        for (code_top, data_base) in [(m.code.top(), m.data.base()), (v.code.top(), v.data.base())]
        {
            assert!(code_top >= u128::from(code.end.0));
            assert!(u128::from(data_base) >= code_top);
        }

        // Code at an unaligned base whose rounding would leave the region: refused.
        let tight = r(0x8000_0010, 0x8002_0010);
        let code = r(tight.start.0, tight.start.0 + 0x1_2345);
        let stack = r(tight.end.0 - 0x1000, tight.end.0);
        let err = default_caps::<CheriRiscv>(tight, code, stack, 0).unwrap_err();
        assert!(matches!(
            err.kind,
            PlanErrorKind::NotRepresentable { role: "region", .. }
        ));
    }

    #[test]
    fn bad_layouts_are_refused_with_the_cvm_named() {
        let region = r(0x7ff0_0000, 0x8000_0000);
        let (code, stack) = layout(region, 0x3000);
        let outside = r(0x7fef_f000, 0x7ff0_1000);
        let err = default_caps::<Morello>(region, outside, stack, 5).unwrap_err();
        assert_eq!(
            format!("{}", err.named("hello")),
            "cvm \"hello\": code [0x7feff000..0x7ff01000) is empty or not inside the region \
             [0x7ff00000..0x80000000)"
        );
        let err =
            default_caps::<Morello>(region, code, r(0x7ff0_2000, 0x7ff1_0000), 5).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "cvm@5: stack [0x7ff02000..0x7ff10000) overlaps the code capability, which ends at \
             0x7ff03000"
        );
        let whole = default_caps::<Morello>(region, region, stack, 0).unwrap_err();
        assert!(format!("{whole}").contains("no room for data"), "{whole}");
        let odd_stack = r(0x7fef_fff0, 0x8000_0000);
        let big = r(0x7fe0_0000, 0x8000_0000);
        let (big_code, _) = layout(big, 0x3000);
        let err = default_caps::<CheriRiscv>(big, big_code, odd_stack, 0).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "cvm@0: stack [0x7feffff0..0x80000000) cannot have exact capability bounds; its base \
             would have to be a multiple of 0x800"
        );
        let err = default_caps::<Morello>(region, code, stack, 0x7fff).unwrap_err();
        assert_eq!(
            err.kind,
            PlanErrorKind::OtypeOutOfRange {
                otype: 0x800f,
                max: 0x7fff
            }
        );
    }

    use crate::testing::Rng;

    /// Random manifests over random memory maps: every plan either fails with OutOfMemory or
    /// gives disjoint regions inside usable memory, each bounded exactly, and default caps
    /// derive for each of them.
    fn random_plans<F: CvmFormat>(seed: u64) {
        let mut rng = Rng(seed | 1);
        let mut planned = 0;
        for _ in 0..400 {
            let mut usable = Vec::new();
            let mut at = 0x4000_0000 + (rng.below_u64(0x1000) << 12);
            for _ in 0..1 + rng.below_u64(4) {
                let size = (1 + rng.below_u64(0x8000)) << 12;
                usable.push(r(at, at + size));
                at += size + (rng.below_u64(0x100) << 12);
            }
            let sizes: Vec<u64> = (0..1 + rng.below_u64(8))
                .map(|_| {
                    // Sizes of every magnitude from 128 KiB to 1 GiB, page multiples.
                    let bits = 17 + rng.below_u64(14);
                    (rng.next() & ((1 << bits) - 1)).max(0x2_0000) & !0xfff
                })
                .collect();
            let m = manifest(&sizes);
            let regions = match plan_regions::<F>(&m, &usable) {
                Ok(regions) => regions,
                Err(e) => {
                    assert!(matches!(e.kind, PlanErrorKind::OutOfMemory { .. }), "{e}");
                    continue;
                }
            };
            planned += 1;
            assert_eq!(regions.len(), sizes.len());
            for (i, (region, cvm)) in regions.iter().zip(&m.cvms).enumerate() {
                assert!(region.size() >= cvm.memory_size);
                assert!(region.start.0.is_multiple_of(REGION_ALIGN_MIN));
                assert!(
                    usable.iter().any(|u| u.covers(region)),
                    "{region} not usable"
                );
                assert!(
                    F::bounds_are_exact(region.start.0, region.size()),
                    "{region}"
                );
                for other in regions.get(..i).unwrap_or(&[]) {
                    assert!(!region.overlaps(other), "{region} overlaps {other}");
                }
                let code_size = (1 + rng.below_u64(region.size() / 2 / 0x1000)) * 0x1000;
                let (code, stack) = layout(*region, code_size.min(region.size() / 2));
                let caps = default_caps::<F>(*region, code, stack, cvm.index)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(caps.code.base(), region.start.0);
                assert_eq!(caps.data.top(), u128::from(region.end.0));
                assert!(caps.data.base() >= code.end.0);
            }
        }
        assert!(
            planned > 100,
            "too few plans succeeded ({planned}) to mean anything"
        );
    }

    #[test]
    fn morello_random_plans_are_disjoint_exact_and_derivable() {
        random_plans::<Morello>(0x9a11_0001);
    }

    #[test]
    fn riscv_random_plans_are_disjoint_exact_and_derivable() {
        random_plans::<CheriRiscv>(0x9a11_0002);
    }

    #[test]
    fn sizes_print_in_hex_and_units() {
        assert_eq!(Size(0x10_0000).to_string(), "0x100000 (1 MiB)");
        assert_eq!(Size(0x18_0000).to_string(), "0x180000 (1.5 MiB)");
        assert_eq!(Size(0x800).to_string(), "0x800 (2 KiB)");
        assert_eq!(Size(0x10).to_string(), "0x10");
    }
}
