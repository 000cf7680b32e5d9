//! What the device tree says the machine is: memory, CPUs, console, interrupts, timer, devices.
//!
//! Discovery runs before the heap exists, so nothing here allocates: every list is a
//! [`FixedVec`] and every name a [`FixedStr`]. The blob is untrusted (a wrong x0/x1, a
//! half-written copy, a corrupted flash): any malformed input gives a [`DtError`], never a panic
//! or a hang (see `blob.rs` for how, and `fuzz_tests.rs` for the evidence).
//!
//! Where the tree comes from, per machine (caller's job, see `reference/cheri.md`):
//! * QEMU virt, ELF via `-kernel` (aarch64/Morello): x0 = 0; the DTB is at RAM base
//!   0x4000_0000 if the image is linked at or above 0x4010_0000. Probe it with [`probe_header`].
//! * QEMU virt RISC-V, `-bios none`: a1 holds the DTB address.
//! * Morello SDP via TF-A: x0 = NT_FW_CONFIG (DRAM sizes only), x1 = HW_CONFIG (the hardware);
//!   use [`discover_tf_a`].
//!
//! On target, turn an address into a slice only after [`probe_header`] returned its size:
//! `let n = probe_header(read, addr, MAX)?; let dtb = slice::from_raw_parts(addr as *const u8, n)`.

mod blob;
mod discover;
mod error;
mod fixed_str;
pub mod initrd;
mod memory;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use core::fmt;

pub use blob::{probe_header, HEADER_SIZE};
pub use discover::{discover, discover_at, discover_tf_a, nt_fw_config};
pub use error::DtError;
pub use fixed_str::FixedStr;
pub use memory::PAGE_SIZE;

/// Checks the whole structure of a flattened device tree (header, blocks, every token and
/// property, bounded nesting) without interpreting it, for other blobs that use the format
/// (the cVM manifest bundle).
pub fn validate(blob: &[u8]) -> Result<(), DtError> {
    blob::Tree::new(blob).map(|_| ())
}

use crate::addr::PhysRange;
use crate::fixed::FixedVec;

/// The machine as described by its device tree, reduced to what capmon uses.
#[derive(Clone, Debug)]
pub struct Platform {
    /// `/model`, or the first `/compatible` string when there is no model (QEMU's Morello tree).
    pub model: FixedStr<64>,
    /// Enabled CPUs (`status` absent/"okay"/"ok"), in tree order; the first 16.
    pub cpus: FixedVec<Cpu, 16>,
    /// All enabled CPUs, including any beyond `cpus`' capacity.
    pub cpus_total: usize,
    /// Every non-empty `reg` entry of every enabled memory node, as listed.
    pub memory_banks: FixedVec<PhysRange, 16>,
    /// `/reserved-memory` children, then the FDT reservation block, then the blob(s), then
    /// capmon's image.
    pub reserved: FixedVec<Reserved, 32>,
    /// `memory_banks` minus every `reserved` range, sorted, cut inward to [`PAGE_SIZE`].
    pub usable: FixedVec<PhysRange, 32>,
    pub console: Option<Uart>,
    pub console_source: ConsoleSource,
    pub irq: Option<IrqController>,
    /// The RISC-V CLINT (mtime/mtimecmp/msip).
    pub clint: Option<PhysRange>,
    pub timer: Timer,
    pub psci: Option<PsciMethod>,
    pub poweroff: Option<PowerOff>,
    /// Every enabled "virtio,mmio" node in tree order (QEMU lists them highest address first).
    pub virtio: FixedVec<VirtioMmio, 32>,
    /// All enabled virtio-mmio nodes, including any beyond `virtio`'s capacity.
    pub virtio_total: usize,
    /// `/chosen/bootargs` (check `is_truncated()` before trusting a long one).
    pub bootargs: FixedStr<256>,
    /// TF-A's NT_FW_CONFIG `platform-info`, when [`discover_tf_a`] was given a valid x0.
    pub nt_fw_config: Option<NtFwConfig>,
    /// The initrd `/chosen` hands over (`Ok(None)`: none), reserved when usable; an unusable
    /// one is not reserved, and the boot path refuses to read it.
    pub initrd: Result<Option<PhysRange>, initrd::InitrdError>,
}

/// One CPU: its `reg`, i.e. the MPIDR affinity bits on Arm, the hart ID on RISC-V.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    pub hwid: u64,
}

/// A range capmon must not hand out, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reserved {
    pub range: PhysRange,
    pub why: ReservedKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReservedKind {
    /// A `/reserved-memory` child (firmware, secure world, ...); holds its node name.
    Firmware(FixedStr<32>),
    /// An entry of the FDT header's memory reservation block (`/memreserve/`).
    #[default]
    MemReserve,
    /// The device-tree blob itself (capmon keeps reading it).
    DeviceTree,
    /// capmon's own image, as passed by the caller.
    MonitorImage,
    /// The initrd (`/chosen` `linux,initrd-start/-end`): the cVM bundle capmon boots from.
    Initrd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    Pl011,
    /// Register `n` is at `base + (n << reg_shift)`, accessed `reg_io_width` bytes wide.
    Ns16550 {
        reg_shift: u32,
        reg_io_width: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    pub kind: UartKind,
    pub base: PhysRange,
    /// GIC INTID (SPI n = 32 + n) or PLIC source number.
    pub irq: Option<u32>,
    /// `clock-frequency`, or the frequency of a `fixed-clock` named by `clocks`.
    pub clock_hz: Option<u32>,
    /// The `compatible` string that matched.
    pub compatible: FixedStr<32>,
}

/// How the console was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleSource {
    /// `/chosen/stdout-path` named it (directly or through `/aliases`).
    StdoutPath,
    /// No usable stdout-path: the first enabled supported UART in tree order.
    FirstUart,
    /// No supported UART at all.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqController {
    /// "arm,gic-v3" (also GIC-600); `redist` is the first redistributor region.
    GicV3 { dist: PhysRange, redist: PhysRange },
    /// "sifive,plic-1.0.0" / "riscv,plic0"; `ndev` = number of sources (`riscv,ndev`).
    Plic { base: PhysRange, ndev: u32 },
}

/// The architected timer. Interrupts are GIC INTIDs (PPI n = 16 + n), e.g. QEMU's
/// non-secure physical timer PPI 14 is INTID 30.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timer {
    /// RISC-V `timebase-frequency`; on Arm the timer node's `clock-frequency` if present,
    /// else `None`: read CNTFRQ_EL0.
    pub freq_hz: Option<u64>,
    pub hyp_ppi: Option<u32>,
    pub phys_ppi: Option<u32>,
    pub virt_ppi: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Smc,
    Hvc,
}

/// A write of `value` (32-bit) to `base + offset` powers the machine off (QEMU: sifive_test,
/// 0x5555 = pass; 0x3333 would report failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOff {
    pub base: PhysRange,
    pub offset: u32,
    pub value: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioMmio {
    pub base: PhysRange,
    /// GIC INTID or PLIC source number.
    pub irq: Option<u32>,
    /// What the tree says about the transport's DMA: `dma-coherent` (`Some(true)`),
    /// `dma-noncoherent` (`Some(false)`), on the node or its nearest ancestor saying either;
    /// `None`: nothing, see [`VirtioMmio::dma`].
    pub dma_coherent: Option<bool>,
}

/// Whether a device's DMA is coherent with the CPU's caches, and who said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaCoherence {
    /// Coherent: the device sees what the CPU's caches hold, so no cache maintenance is
    /// needed around DMA, only ordering.
    Coherent(DmaSource),
    /// Not coherent: every hand-over cleans or invalidates the buffer's cache lines.
    NonCoherent(DmaSource),
}

/// Where a [`DmaCoherence`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaSource {
    /// The device tree (`dma-coherent` / `dma-noncoherent` on the node or an ancestor).
    DeviceTree,
    /// The tree said nothing: the architecture's default (coherent on RISC-V, whose device
    /// trees mark the exceptions `dma-noncoherent`; not coherent on Arm, whose trees mark
    /// coherent devices `dma-coherent`). QEMU's Arm virt machines mark every virtio-mmio node
    /// `dma-coherent`; its RISC-V virt machines say nothing and are coherent.
    ArchDefault,
}

impl DmaCoherence {
    pub fn is_coherent(self) -> bool {
        matches!(self, DmaCoherence::Coherent(_))
    }
}

impl fmt::Display for DmaCoherence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, source) = match self {
            DmaCoherence::Coherent(s) => ("DMA coherent", s),
            DmaCoherence::NonCoherent(s) => ("DMA not coherent: cache maintenance", s),
        };
        let source = match source {
            DmaSource::DeviceTree => "device tree",
            DmaSource::ArchDefault => "architecture default",
        };
        write!(f, "{what} ({source})")
    }
}

impl VirtioMmio {
    /// The transport's DMA coherence: what the tree says, else `arch_default_coherent`.
    pub fn dma(&self, arch_default_coherent: bool) -> DmaCoherence {
        match self.dma_coherent {
            Some(true) => DmaCoherence::Coherent(DmaSource::DeviceTree),
            Some(false) => DmaCoherence::NonCoherent(DmaSource::DeviceTree),
            None if arch_default_coherent => DmaCoherence::Coherent(DmaSource::ArchDefault),
            None => DmaCoherence::NonCoherent(DmaSource::ArchDefault),
        }
    }
}

/// TF-A's NT_FW_CONFIG `platform-info` sizes on the Morello SDP (`local-ddr-size` already has
/// the 1/128 for tag storage subtracted in client mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NtFwConfig {
    pub local_ddr_size: Option<u64>,
    pub remote_ddr_size: Option<u64>,
}

impl Platform {
    /// Total bytes in `usable`.
    pub fn usable_bytes(&self) -> u64 {
        self.usable
            .iter()
            .map(|r| r.size())
            .fold(0, u64::saturating_add)
    }
}

impl fmt::Display for ReservedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReservedKind::Firmware(name) => write!(f, "reserved-memory {name}"),
            ReservedKind::MemReserve => f.write_str("memreserve"),
            ReservedKind::DeviceTree => f.write_str("device tree"),
            ReservedKind::MonitorImage => f.write_str("capmon image"),
            ReservedKind::Initrd => f.write_str("initrd"),
        }
    }
}

impl fmt::Display for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.range, self.why)
    }
}

impl fmt::Display for Uart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" at {}", self.compatible, self.base)?;
        if let UartKind::Ns16550 {
            reg_shift,
            reg_io_width,
        } = self.kind
        {
            write!(f, " reg-shift {reg_shift} io-width {reg_io_width}")?;
        }
        if let Some(irq) = self.irq {
            write!(f, " irq {irq}")?;
        }
        if let Some(hz) = self.clock_hz {
            write!(f, " clock {hz} Hz")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConsoleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsoleSource::StdoutPath => "from /chosen/stdout-path",
            ConsoleSource::FirstUart => "first UART (no usable stdout-path)",
            ConsoleSource::None => "none",
        })
    }
}

impl fmt::Display for IrqController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrqController::GicV3 { dist, redist } => {
                write!(f, "GICv3 distributor {dist} redistributors {redist}")
            }
            IrqController::Plic { base, ndev } => write!(f, "PLIC {base} with {ndev} sources"),
        }
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.freq_hz {
            Some(hz) => write!(f, "{hz} Hz")?,
            None => f.write_str("frequency from CNTFRQ")?,
        }
        let ppis = [
            ("phys", self.phys_ppi),
            ("virt", self.virt_ppi),
            ("hyp", self.hyp_ppi),
        ];
        for (name, intid) in ppis {
            if let Some(intid) = intid {
                write!(f, ", {name} INTID {intid}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for PsciMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PsciMethod::Smc => "smc",
            PsciMethod::Hvc => "hvc",
        })
    }
}

impl fmt::Display for PowerOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write {:#x} to {:#x}",
            self.value,
            self.base.start.0.wrapping_add(self.offset.into())
        )
    }
}

impl fmt::Display for VirtioMmio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        if let Some(irq) = self.irq {
            write!(f, " irq {irq}")?;
        }
        Ok(())
    }
}

/// The boot banner: one line per item, reservations and usable ranges one per line.
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine   {}", self.model)?;
        write!(f, "cpus      {} (hwid", self.cpus_total)?;
        for cpu in self.cpus.iter() {
            write!(f, " {:#x}", cpu.hwid)?;
        }
        if self.cpus_total > self.cpus.len() {
            write!(f, " ...")?;
        }
        writeln!(f, ")")?;
        for bank in self.memory_banks.iter() {
            writeln!(f, "memory    {bank} ({} MiB)", bank.size() >> 20)?;
        }
        for r in self.reserved.iter() {
            writeln!(f, "reserved  {r}")?;
        }
        for r in self.usable.iter() {
            writeln!(f, "usable    {r}")?;
        }
        writeln!(f, "          {} MiB usable", self.usable_bytes() >> 20)?;
        match &self.console {
            Some(uart) => writeln!(f, "console   {uart}, {}", self.console_source)?,
            None => writeln!(f, "console   none")?,
        }
        match &self.irq {
            Some(irq) => writeln!(f, "irq       {irq}")?,
            None => writeln!(f, "irq       none found")?,
        }
        if let Some(clint) = self.clint {
            writeln!(f, "clint     {clint}")?;
        }
        writeln!(f, "timer     {}", self.timer)?;
        if let Some(psci) = self.psci {
            writeln!(f, "psci      {psci}")?;
        }
        if let Some(off) = self.poweroff {
            writeln!(f, "poweroff  {off}")?;
        }
        write!(f, "virtio    {} mmio transports", self.virtio_total)?;
        if let (Some(lo), Some(hi)) = (
            self.virtio.iter().map(|v| v.base.start).min(),
            self.virtio.iter().map(|v| v.base.end).max(),
        ) {
            write!(f, " in [{lo}..{hi})")?;
        }
        writeln!(f)?;
        if let Some(nt) = self.nt_fw_config {
            if let Some(size) = nt.local_ddr_size {
                writeln!(f, "tf-a      local-ddr-size {size:#x}")?;
            }
            if let Some(size) = nt.remote_ddr_size {
                writeln!(f, "tf-a      remote-ddr-size {size:#x}")?;
            }
        }
        write!(f, "bootargs  \"{}\"", self.bootargs)
    }
}
