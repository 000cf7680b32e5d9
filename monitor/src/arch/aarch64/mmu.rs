//! The aarch64 translation regime, MMU and caches: capmon's EL2 runs as a VHE host
//! (HCR_EL2.E2H = 1, TGE = 1), so EL0 cVMs run under the same EL2&0 stage-1 tables as the
//! monitor, with cacheable RAM, instead of with translation off (Device memory) as they would
//! under E2H = 0. The tables come from `arch::page_table`; this module installs them and does
//! the cache maintenance around loading cVM code and virtio DMA.
//!
//! Register layouts that change with E2H = 1 (checked against the Arm ARM and CHERI QEMU):
//! - CPTR_EL2 takes the CPACR_EL1 layout: FPEN (21:20) and Morello's CEN (19:18) = 0b11 leave
//!   FP/SIMD and capability instructions untrapped at EL0 and EL2 (CPACR_EL1 is then ignored
//!   for EL0, so it is not written);
//! - TCR_EL2 takes the TCR_EL1 layout (two ranges; TTBR1 walks disabled here), and Morello's
//!   HPD0/HWU060/HWU061 are TCR_EL1's bits 41/44/45;
//! - SCTLR_EL2 takes the SCTLR_EL1 layout, whose EL0 controls (WFI/WFE, DAIF, cache
//!   maintenance, CTR_EL0, DC ZVA) now apply to the cVMs;
//! - CNTHCTL_EL2 takes the CNTKCTL_EL1 layout for EL0's counter and timer access.
//!
//! ELR/SPSR/ESR/FAR/VBAR/TPIDR_EL2 (and Morello's CELR/CVBAR_EL2) and the exception vectors
//! are unchanged, and the monitor uses only EL2 and EL0 register names, which E2H does not
//! redirect.

use core::arch::asm;

use aarch64_cpu::registers::{
    Readable, Writeable, HCR_EL2, ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, MAIR_EL2, SCTLR_EL1, TCR_EL1,
    TCR_EL2, TTBR0_EL2,
};
use spin::Mutex;

use crate::addr::PhysRange;
use crate::arch::page_table::{self, Layout, PageTables, Summary};

/// HCR_EL2 for the whole of capmon's life: a VHE host (E2H) whose EL0 traps straight to EL2
/// (TGE), AArch64 below EL2 (RW), and physical IRQs, FIQs and SErrors routed to EL2 (with
/// IMO = 0 they would target EL1 and stay masked while capmon runs).
fn host_hcr() -> u64 {
    (HCR_EL2::E2H::EnableOsAtEl2
        + HCR_EL2::TGE::SET
        + HCR_EL2::RW::EL1IsAarch64
        + HCR_EL2::AMO::SET
        + HCR_EL2::IMO::SET
        + HCR_EL2::FMO::SET)
        .value
}

/// CPTR_EL2 in its E2H = 1 layout: FPEN = 0b11 (bits 21:20) and, on Morello, CEN = 0b11
/// (bits 19:18); everything else (SVE, SME, trace, CPACR access) trapped or RES0.
pub(super) const HOST_CPTR: u64 = (0b11 << 20)
    | if cfg!(feature = "cheri") {
        0b11 << 18
    } else {
        0
    };

/// Switches EL2 to a VHE host: sets HCR_EL2 and, in the same instruction sequence, CPTR_EL2 in
/// the layout E2H gives it, so no capability instruction can run while the old CPTR_EL2 value
/// is read with the new layout (it would trap to EL2 with no handler yet). Also denies EL0 the
/// counter and timer registers (CNTHCTL_EL2 = 0): cVMs read time through the clock hostcall.
/// Fails, with nothing changed, on a CPU without VHE.
pub fn enter_host_mode() -> Result<(), &'static str> {
    if ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::VH) == 0 {
        return Err(
            "the CPU has no VHE (FEAT_VHE), so EL0 cVMs could only run with translation off",
        );
    }
    // SAFETY: capmon is at EL2 (the caller checked) with the MMU off and nothing below EL2
    // running; HCR_EL2 and CPTR_EL2 only change trap routing and the EL0 translation regime,
    // which nothing uses yet. Between the two writes only `isb`/`msr` run, none of which is a
    // capability instruction, so the mixed state is never observed.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "isb",
            "msr cptr_el2, {cptr}",
            "msr cnthctl_el2, xzr",
            "isb",
            hcr = in(reg) host_hcr(),
            cptr = in(reg) HOST_CPTR,
            options(nostack),
        );
    }
    Ok(())
}

/// SCTLR_EL2 (E2H = 1, SCTLR_EL1 layout) with the MMU and caches on. The EL0 controls keep the
/// values cVMs ran with before (the architectural reset SCTLR_EL1 that applied under E2H = 0):
/// WFI/WFE not trapped (nTWI, nTWE), DAIF, cache maintenance, CTR_EL0 and DC ZVA trapped (UMA,
/// UCI, UCT, DZE clear), stack alignment checked (SA, SA0). SPAN keeps PSTATE.PAN clear on
/// exceptions, so the monitor can read a cVM's memory in a hostcall. No WXN: cVM memory is
/// one read/write/execute pool whose finer rights come from each cVM's capabilities.
fn host_sctlr() -> u64 {
    (SCTLR_EL1::M::Enable
        + SCTLR_EL1::C::Cacheable
        + SCTLR_EL1::I::Cacheable
        + SCTLR_EL1::SA::Enable
        + SCTLR_EL1::SA0::Enable
        + SCTLR_EL1::NTWI::DontTrap
        + SCTLR_EL1::NTWE::DontTrap)
        .value
        // EOS (11), EIS (22): exception entry and return are context synchronizing; SPAN (23);
        // TSCXT (20), nTLSMD (28), LSMAOE (29): RES1 where their features are absent.
        | (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29)
}

/// TCR_EL2 (E2H = 1, TCR_EL1 layout) for `page_table`'s geometry: TTBR0 only, 48-bit inputs,
/// 4 KiB granule, walks Inner/Outer Write-Back Inner Shareable, `ips` = the output size
/// encoding (ID_AA64MMFR0_EL1.PARange, at most 48 bits). On Morello: HPD0 (bit 41) and
/// HWU060/HWU061 (bits 44/45) so descriptor bits 60 (SC) and 61 (LC[0]) take effect.
fn host_tcr(ips: u64) -> u64 {
    let base = (TCR_EL1::T0SZ.val(64 - u64::from(page_table::ADDRESS_BITS))
        + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL1::SH0::Inner
        + TCR_EL1::TG0::KiB_4
        + TCR_EL1::EPD1::DisableTTBR1Walks
        + TCR_EL1::TG1::KiB_4
        + TCR_EL1::IPS.val(ips))
    .value;
    let capability_bits = (1 << 41) | (1 << 44) | (1 << 45);
    if cfg!(feature = "cheri") {
        base | capability_bits
    } else {
        base
    }
}

/// The installed tables; kept for the life of the monitor (the MMU walks them).
static TABLES: Mutex<Option<PageTables>> = Mutex::new(None);

extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
}

fn section(start: *const u8, end: *const u8) -> PhysRange {
    PhysRange::from_start_size(start as u64, (end as u64).saturating_sub(start as u64))
        .unwrap_or_default()
}

/// What `enable` reports for the boot log.
pub struct MmuReport {
    pub map: Summary,
    pub tables: usize,
    pub address_bits: u32,
}

/// Builds the identity map (monitor image from the linker's section symbols, `heap`, the rest of
/// `usable` for cVMs, `read_only` blobs, `devices`) and turns the MMU and caches on. Call once,
/// in host mode (after [`enter_host_mode`]), with interrupts masked, and with the allocator
/// confined to `heap_in_use` (the part of the heap written so far: it is invalidated).
pub fn enable(
    usable: &[PhysRange],
    heap: PhysRange,
    heap_in_use: PhysRange,
    read_only: &[PhysRange],
    devices: &[PhysRange],
) -> Result<MmuReport, alloc::string::String> {
    let mmfr0 = ID_AA64MMFR0_EL1.extract();
    if mmfr0.read(ID_AA64MMFR0_EL1::TGran4) == 0b1111 {
        return Err("the CPU has no 4 KiB translation granule".into());
    }
    let parange = mmfr0.read(ID_AA64MMFR0_EL1::PARange).min(5);
    let address_bits = [32, 36, 40, 42, 44, 48][usize::try_from(parange).unwrap_or(5)];

    // Only the symbols' addresses are taken; the linker script defines them 4 KiB aligned.
    let (image, text_end, rodata_end, image_end) = (
        &raw const __image_start,
        &raw const __text_end,
        &raw const __rodata_end,
        &raw const __image_end,
    );
    let layout = Layout {
        code: section(image, text_end),
        rodata: section(text_end, rodata_end),
        data: section(rodata_end, image_end),
        heap,
        usable,
        read_only,
        devices,
    };
    let regions = page_table::memory_map(&layout);
    let limit = 1u64 << address_bits;
    let tables = PageTables::build(&regions, limit).map_err(|e| alloc::format!("{e}"))?;
    let map = page_table::summarize(
        &page_table::normalize(&regions, limit).map_err(|e| alloc::format!("{e}"))?,
    );

    // Everything written so far went straight to memory (data accesses with the MMU off are
    // non-cacheable), but firmware may have left lines for those addresses in the caches: drop
    // them before the first cacheable access could hit one. That covers the image's writable
    // part (data, bss, stack) and the heap's part in use (allocator state, the tables).
    invalidate_data(layout.data);
    invalidate_data(heap_in_use);
    install(tables.root(), parange);
    let tables_used = tables.table_count();
    *TABLES.lock() = Some(tables);
    Ok(MmuReport {
        map,
        tables: tables_used,
        address_bits,
    })
}

fn install(root: u64, ips: u64) {
    MAIR_EL2.set(page_table::MAIR);
    TCR_EL2.set(host_tcr(ips));
    TTBR0_EL2.set(root);
    // SAFETY: the tables at `root` identity-map every byte the monitor touches from here on
    // (its image, stack, heap, the device tree and the MMIO of every device it drives), with
    // the monitor's own code executable, so the next instruction fetch and every later access
    // translate to the address they had with the MMU off. TLB entries of the EL2&0 regime are
    // invalidated first (none should exist with the MMU off, but a previous boot stage may have
    // left some), and the I-cache, which may hold fetches from before, too.
    unsafe {
        asm!(
            "dsb ish",
            "tlbi alle2",
            "ic iallu",
            "dsb ish",
            "isb",
            "msr sctlr_el2, {sctlr}",
            "isb",
            sctlr = in(reg) host_sctlr(),
            options(nostack),
        );
    }
}

/// The smallest data-cache line (CTR_EL0.DminLine, log2 of 4-byte words), so a loop by this
/// stride touches every line.
fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: CTR_EL0 is a read-only ID register.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

#[derive(Clone, Copy)]
enum LineOp {
    /// DC IVAC: invalidate to the point of coherency (discards the line).
    Invalidate,
    /// DC CVAC: clean (write back) to the point of coherency.
    Clean,
    /// DC CIVAC: clean, then invalidate, to the point of coherency.
    CleanInvalidate,
    /// DC CVAU: clean to the point of unification, where instruction fetches see it.
    CleanToUnification,
}

/// One `dc <op>` per line from `start` (line aligned) while below `end` (> start): a four-
/// instruction loop, so maintenance over a large buffer stays cheap.
macro_rules! dc_loop {
    ($op:literal, $start:expr, $end:expr, $line:expr) => {
        asm!(
            concat!("1: dc ", $op, ", {address}"),
            "add {address}, {address}, {line}",
            "cmp {address}, {end}",
            "b.lo 1b",
            address = inout(reg) $start => _,
            line = in(reg) $line,
            end = in(reg) $end,
            options(nostack),
        )
    };
}

/// Applies `op` to every data-cache line of `[start, end)`, then waits for completion (DSB SY:
/// a device outside the inner shareable domain must see it).
fn by_line(start: usize, end: usize, op: LineOp) {
    if start >= end {
        return;
    }
    let line = dcache_line();
    let first = start & !(line - 1);
    // SAFETY: data-cache maintenance by VA on memory the monitor maps (its own or a buffer it
    // owns), `first < end`; cleaning never loses data, and callers invalidate only lines whose
    // contents they do not need (written with the MMU off, or rewritten by a device). On
    // Morello the addresses are checked against the monitor's root DDC.
    unsafe {
        match op {
            LineOp::Invalidate => dc_loop!("ivac", first, end, line),
            LineOp::Clean => dc_loop!("cvac", first, end, line),
            LineOp::CleanInvalidate => dc_loop!("civac", first, end, line),
            LineOp::CleanToUnification => dc_loop!("cvau", first, end, line),
        }
    }
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
}

fn invalidate_data(range: PhysRange) {
    by_line(
        range.start.as_usize(),
        range.end.as_usize(),
        LineOp::Invalidate,
    );
}

fn bounds(buffer: *const [u8]) -> (usize, usize) {
    let start = buffer.cast::<u8>() as usize;
    (start, start.saturating_add(buffer.len()))
}

/// Before a device reads `buffer`: writes the CPU's cached copy back to memory.
pub fn dma_clean(buffer: *const [u8]) {
    let (start, end) = bounds(buffer);
    by_line(start, end, LineOp::Clean);
}

/// Around a device writing `buffer`: before it starts (no dirty line may later be evicted over
/// what it wrote) and after it finished (no stale line may hide it). Cleans as well as
/// invalidates, so bytes of a partial line outside the buffer are never lost.
pub fn dma_invalidate(buffer: *const [u8]) {
    let (start, end) = bounds(buffer);
    by_line(start, end, LineOp::CleanInvalidate);
}

/// For a coherent device: orders every earlier memory access before every later one, as devices
/// in the outer shareable domain observe them (MMIO included), with no cache maintenance.
pub fn dma_fence() {
    // SAFETY: a barrier only orders this PE's memory accesses.
    unsafe { asm!("dmb osh", options(nostack, preserves_flags)) };
}

/// After the monitor wrote code with data stores (the ELF loader): cleans `range` to the point
/// of unification and invalidates the I-cache, so the cVM fetches what was written.
pub fn sync_code(range: PhysRange) {
    by_line(
        range.start.as_usize(),
        range.end.as_usize(),
        LineOp::CleanToUnification,
    );
    // SAFETY: invalidating this CPU's instruction cache only costs refetches; capmon runs on
    // one CPU, so no other PE's I-cache can hold the old code. The DSB above ordered the cleans.
    unsafe {
        asm!(
            "ic iallu",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
