//! The boot path, one straight line: early console → device tree → platform → console,
//! heap, interrupts, timer → banner → self-test → power off. Each step prints one line.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::addr::PhysRange;
use crate::arch::current as arch;
use crate::drivers::ns16550::Ns16550;
use crate::drivers::pl011::Pl011;
use crate::drivers::uart::Uart;
use crate::drivers::virtio_probe::{self, Transport};
use crate::fixed::FixedVec;
use crate::platform::{self, Platform, UartKind};
use crate::{bootargs, console, heap, print, println};

/// What a board crate tells the monitor; everything else comes from the device tree.
pub struct Board {
    pub name: &'static str,
    /// The UART to print on before the device tree has been read (and if it can't be).
    pub early_console: EarlyConsole,
    /// Where this machine's loader leaves the device tree.
    pub dtb: DtbSource,
    /// How to power off when the tree can't be trusted to say.
    pub power_off_fallback: PowerOffFallback,
}

#[derive(Clone, Copy)]
pub enum EarlyConsole {
    Pl011 { base: usize },
    Ns16550 { base: usize, reg_shift: u32 },
}

#[derive(Clone, Copy)]
pub enum DtbSource {
    /// QEMU's ELF boot on Arm passes no pointer; the tree is at RAM base if the image
    /// leaves room for it there.
    Probe { addr: u64 },
    /// The address is in the boot register with this index (RISC-V: a1).
    Register { index: usize },
    /// TF-A's BL33 hand-off: x0 = NT_FW_CONFIG, x1 = HW_CONFIG; the hardware tree is used.
    TfA,
}

#[derive(Clone, Copy)]
pub enum PowerOffFallback {
    Psci(platform::PsciMethod),
    SifiveTest { base: u64 },
}

/// What a person must know about isolation on a board without capability hardware.
pub const ISOLATION_WARNING: Option<&str> = if cfg!(feature = "cheri") {
    None
} else if cfg!(target_arch = "riscv64") {
    Some("no capability hardware on this board: cVMs are confined by PMP only (page-granular, no capability checks)")
} else {
    // The page tables keep EL0 out of the monitor's memory, but every cVM shares one map.
    Some("no capability hardware on this board: cVMs are NOT isolated from each other (the MMU only keeps them out of the monitor)")
};

/// The largest device tree capmon accepts (QEMU reserves 1 MiB for it).
const MAX_DTB_SIZE: u32 = 1 << 20;
/// The monitor's own heap, carved from the first usable range that fits.
const HEAP_SIZE: u64 = 4 << 20;
/// The heap's part usable before the MMU is on (aarch64): the page tables and the map's
/// scratch vectors fit easily, and only this much needs invalidating when the caches come on.
const EARLY_HEAP: u64 = if cfg!(target_arch = "aarch64") {
    256 << 10
} else {
    HEAP_SIZE
};
const TICK_HZ: u64 = 100;
const DEFAULT_TICKS: u32 = 10;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

fn monitor_image() -> PhysRange {
    // Only the symbols' addresses are taken (the linker script defines both).
    let (start, end) = (
        &raw const __image_start as u64,
        &raw const __image_end as u64,
    );
    PhysRange::from_start_size(start, end - start).unwrap_or_default()
}

fn early_uart(early: EarlyConsole) -> Uart {
    match early {
        // SAFETY: the board names its boot UART; nothing else drives it this early.
        EarlyConsole::Pl011 { base } => Uart::Pl011(unsafe { Pl011::new(base) }),
        EarlyConsole::Ns16550 { base, reg_shift } => {
            // SAFETY: as above.
            Uart::Ns16550(unsafe { Ns16550::new(base, reg_shift) })
        }
    }
}

fn set_power_off(board: &Board, platform: Option<&Platform>) {
    #[cfg(target_arch = "aarch64")]
    {
        let fallback = match board.power_off_fallback {
            PowerOffFallback::Psci(m) => Some(m),
            PowerOffFallback::SifiveTest { .. } => None,
        };
        arch::set_psci_method(platform.and_then(|p| p.psci).or(fallback));
    }
    #[cfg(target_arch = "riscv64")]
    {
        let fallback = match board.power_off_fallback {
            PowerOffFallback::SifiveTest { base } => Some(base),
            PowerOffFallback::Psci(_) => None,
        };
        arch::set_poweroff_device(
            platform
                .and_then(|p| p.poweroff.map(|p| p.base.start.0))
                .or(fallback),
        );
    }
}

/// Prints the verdict line the test runner reads, then powers off.
pub fn finish(pass: bool) -> ! {
    println!(
        "capmon: powering off ({})",
        if pass { "pass" } else { "fail" }
    );
    arch::power_off(pass)
}

/// The arch layer's report of an exception the monitor did not expect: print and stop.
pub fn unexpected_exception(what: fmt::Arguments<'_>) -> ! {
    // SAFETY: the machine stops right after this; nothing resumes the interrupted print.
    unsafe { console::emergency_print(format_args!("capmon: unexpected exception: {what}\n")) };
    finish(false)
}

/// Checks for a device tree header at `addr` and returns the whole blob.
fn tree_at(addr: u64) -> Result<&'static [u8], platform::DtError> {
    if addr == 0 {
        return Err(platform::DtError::NoTree);
    }
    let read_be32 = |a: u64| {
        // SAFETY: `probe_header` reads only the 4-byte aligned header words at `addr`, which
        // is RAM: the loader put a tree there, or it is the board's RAM-base probe address.
        u32::from_be(unsafe { core::ptr::read_volatile(a as *const u32) })
    };
    let size = platform::probe_header(read_be32, addr, MAX_DTB_SIZE)?;
    // SAFETY: the header at `addr` is a valid FDT header whose totalsize is `size`; the loader
    // placed the whole blob there and nothing writes it while capmon runs.
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, size as usize) })
}

/// Finds the tree where this board's loader leaves it and discovers the platform from it.
fn discover_platform(
    board: &Board,
    regs: [u64; 4],
) -> Result<(Platform, &'static [u8]), platform::DtError> {
    let image = monitor_image();
    let tree = match board.dtb {
        DtbSource::Probe { addr } => tree_at(addr)?,
        DtbSource::Register { index } => tree_at(regs[index.min(3)])?,
        // The hardware description is HW_CONFIG (x1); NT_FW_CONFIG (x0) only carries memory
        // sizes and firmware versions, and `discover_tf_a` says so if it is all there is.
        DtbSource::TfA => {
            let (nt_fw_config, hw_config) = (tree_at(regs[0]).ok(), tree_at(regs[1]).ok());
            let platform = platform::discover_tf_a(nt_fw_config, hw_config, image)?;
            return Ok((platform, hw_config.unwrap_or_default()));
        }
    };
    Ok((platform::discover(tree, image)?, tree))
}

/// The monitor's entry from the arch layer, on the boot CPU, with the boot stack, interrupts
/// masked and `.bss` zeroed. `regs` are the first four argument registers as the loader left
/// them.
pub fn boot(board: &'static Board, bundle: &'static [u8], regs: [u64; 4]) -> ! {
    // The boot core is core 0 (before anything asks which core it is on).
    #[cfg(target_arch = "aarch64")]
    arch::smp::set_core_index(0, 0);
    // Printing needs no vectors; the first line goes out before any capability instruction, so
    // a machine whose firmware left capabilities disabled still shows who stopped.
    console::set_uart(early_uart(board.early_console));
    set_power_off(board, None);
    console::init_logger(console::build_time_level());

    let caps = if cfg!(feature = "cheri") {
        if cfg!(target_arch = "aarch64") {
            "morello"
        } else {
            "cheri-riscv"
        }
    } else {
        "none"
    };
    let (level, level_ok) = arch::privilege_level();
    println!(
        "capmon {}: board {}, arch {}, {}, capabilities: {}",
        env!("CARGO_PKG_VERSION"),
        board.name,
        arch::ARCH_NAME,
        level,
        caps
    );
    // On Arm, EL2 becomes a VHE host first: that also sets the capability and FP trap controls
    // the next step relies on.
    #[cfg(target_arch = "aarch64")]
    if level_ok {
        if let Err(e) = arch::mmu::enter_host_mode() {
            println!("capmon: {e}; stopping");
            finish(false);
        }
    }
    #[cfg(all(feature = "cheri", target_arch = "aarch64"))]
    if let Err(e) = arch::enable_capabilities() {
        println!("capmon: capability instructions are not usable at EL2: {e}");
        finish(false);
    }
    arch::install_exception_vectors();
    if let Some(warning) = ISOLATION_WARNING {
        println!("capmon: WARNING: {warning}");
    }
    if !level_ok {
        println!("capmon: entered at {level}, but capmon must run at EL2; stopping");
        finish(false);
    }

    let (platform, dtb) = match discover_platform(board, regs) {
        Ok(found) => found,
        Err(e) => {
            println!("capmon: device tree unusable: {e}");
            finish(false);
        }
    };
    set_power_off(board, Some(&platform));
    if let Some(uart) = &platform.console {
        console::set_uart(uart_from_tree(uart));
    }
    let args = bootargs::parse(platform.bootargs.as_str());
    if let Some(level) = args.log {
        log::set_max_level(level);
        println!("log: level {} (from bootargs)", level_name(level));
    }
    if let Some(word) = args.unknown {
        log::warn!(
            "bootargs: ignoring {word:?} (known: log=<level> ticks=<n> echo disk-timeout-ms=<n>)"
        );
    }
    if let Some(ms) = args.disk_timeout_ms {
        crate::drivers::disks::set_timeout_ms(ms);
        if ms == 0 {
            println!("disk: requests wait for their interrupt without a time-out (from bootargs)");
        }
    }

    print_platform(dtb, &platform);
    let bundle = choose_bundle(&platform, bundle);
    let heap_range = match heap::init_from(&platform.usable, HEAP_SIZE, EARLY_HEAP) {
        Some(r) => r,
        None => {
            println!(
                "capmon: no usable memory range holds a {} KiB heap",
                HEAP_SIZE / 1024
            );
            finish(false);
        }
    };
    println!(
        "heap: {} KiB at {}",
        heap_range.size() / 1024,
        heap_range.start
    );
    #[cfg(target_arch = "aarch64")]
    enable_mmu(board, &platform, heap_range);
    heap::grow(heap_range, EARLY_HEAP);

    if let Err(e) = arch::init_interrupts(&platform) {
        println!("capmon: interrupts unusable: {e}");
        finish(false);
    }
    let timer_irq = timer_interrupt(&platform);
    TIMER_IRQ.store(timer_irq, Ordering::Relaxed);
    if timer_irq != NO_IRQ && !arch::enable_irq(timer_irq) {
        println!("capmon: the interrupt controller refused the timer interrupt {timer_irq}");
        finish(false);
    }
    if let Some(irq) = platform.console.as_ref().and_then(|c| c.irq) {
        CONSOLE_IRQ.store(irq, Ordering::Relaxed);
        if arch::enable_irq(irq) {
            console::enable_input_interrupt();
        } else {
            log::warn!("console: interrupt {irq} refused; input disabled");
        }
    }

    let freq = arch::counter_frequency();
    let since_reset_ns = u128::from(arch::now()) * 1_000_000_000 / u128::from(freq.max(1));
    println!("boot: banner after {since_reset_ns} ns");

    // Neither an initrd nor an embedded bundle: the first disk may hold one (this needs the
    // interrupts set up above). An image with a bundle never touches a disk it was not granted.
    let bundle = if bundle.is_empty() && matches!(platform.initrd, Ok(None)) {
        disk_bundle(&platform).unwrap_or(bundle)
    } else {
        bundle
    };
    start_cores(&platform, bundle.is_empty());
    // The tick self-test proves timer interrupts on an image without cVMs (the boot tests);
    // with cVMs the scheduler's preemption proves it, so they don't wait 100 ms for it.
    let ticks = args
        .ticks
        .unwrap_or(if bundle.is_empty() { DEFAULT_TICKS } else { 0 });
    if !self_test(freq, ticks, args.echo) {
        finish(false);
    }
    if bundle.is_empty() {
        println!("cvms: none in this image");
        finish(true);
    }
    run_cvms(bundle, &platform, heap_range)
}

/// The bundle to boot: the initrd the loader handed over, else the one embedded in the image
/// (possibly empty; then `disk_bundle` looks at the first disk). Says which in the log; an initrd that cannot be used stops the boot, since
/// the person who passed one wants it, not the embedded fallback. Only the range is checked
/// here; the bytes are validated by `parse_bundle`, the same as an embedded bundle's.
fn choose_bundle(platform: &Platform, embedded: &'static [u8]) -> &'static [u8] {
    match platform.initrd {
        Ok(Some(range)) => {
            println!(
                "bundle: from the initrd at {range}, {} bytes{}",
                range.size(),
                if embedded.is_empty() {
                    ""
                } else {
                    " (overrides the one embedded in the image)"
                }
            );
            // SAFETY: `platform::initrd::check` put the range wholly inside one memory bank,
            // clear of the monitor image and the device tree, and discovery reserved it, so
            // neither the heap nor any cVM region is carved from it and nothing writes it; RAM
            // is identity-mapped. Its start is 8-byte aligned (checked) and capmon only runs
            // on 64-bit targets, so the size fits a usize.
            unsafe { core::slice::from_raw_parts(range.start.0 as *const u8, range.size_usize()) }
        }
        Err(e) => {
            println!("bundle: the initrd is unusable: {e}; starting nothing");
            finish(false);
        }
        Ok(None) if embedded.is_empty() => embedded,
        Ok(None) => {
            println!("bundle: embedded in the image, {} bytes", embedded.len());
            embedded
        }
    }
}

/// The bundle on the first virtio-blk disk, if there is a disk and it holds one (see
/// `disk_bundle`); a disk bundle that cannot be read stops the boot, like a bad initrd.
fn disk_bundle(platform: &Platform) -> Option<&'static [u8]> {
    use crate::drivers::disks;
    if disks::init(platform) == 0 {
        return None;
    }
    let capacity = disks::info(0)?.capacity;
    // The monitor's own buffers: through the bounce buffer, never handed to the device.
    let read = |sector, out: &mut [u8]| disks::read(0, sector, out, disks::Placement::Bounce);
    match crate::disk_bundle::load(capacity, |sector, out| read(sector, out).is_ok()) {
        Ok(Some(bundle)) => {
            println!("bundle: from virtio-blk disk 0, {} bytes", bundle.len());
            Some(bundle)
        }
        Ok(None) => None,
        Err(e) => {
            println!("bundle: the one on virtio-blk disk 0 is unusable: {e}; starting nothing");
            finish(false);
        }
    }
}

fn run_cvms(bundle: &'static [u8], platform: &Platform, heap: PhysRange) -> ! {
    if let Err(e) = arch::cvm::init() {
        println!("cvms: cannot run cVMs: {e}");
        finish(false);
    }
    finish(crate::cvm::run::run_bundle(bundle, platform, heap))
}

/// Maps RAM, the monitor, the device trees and the MMIO of every device capmon drives (plus
/// the board's early UART, which stays the console when the tree names none), turns the MMU
/// and caches on, and says so.
#[cfg(target_arch = "aarch64")]
fn enable_mmu(board: &Board, platform: &Platform, heap: PhysRange) {
    let mut devices: alloc::vec::Vec<PhysRange> = alloc::vec::Vec::new();
    match board.early_console {
        EarlyConsole::Pl011 { base } | EarlyConsole::Ns16550 { base, .. } => {
            devices.extend(PhysRange::from_start_size(base as u64, 0x1000));
        }
    }
    devices.extend(platform.console.as_ref().map(|c| c.base));
    if let Some(platform::IrqController::GicV3 { dist, redist }) = platform.irq {
        devices.extend([dist, redist]);
    }
    devices.extend(platform.virtio.iter().map(|v| v.base));
    let trees: alloc::vec::Vec<PhysRange> = platform
        .reserved
        .iter()
        // The initrd holds the bundle, read (never written) when the cVMs are loaded.
        .filter(|r| {
            matches!(
                r.why,
                platform::ReservedKind::DeviceTree | platform::ReservedKind::Initrd
            )
        })
        .map(|r| r.range)
        .collect();
    let heap_in_use = PhysRange::from_start_size(heap.start.0, EARLY_HEAP).unwrap_or(heap);
    match arch::mmu::enable(&platform.usable, heap, heap_in_use, &trees, &devices) {
        Ok(report) => println!(
            "mmu: on, EL2&0 (VHE), 4 KiB pages, {}-bit PA: {} MiB RAM write-back ({} MiB for cVMs, EL0), {} KiB devices nGnRE, {} tables{}",
            report.address_bits,
            report.map.normal >> 20,
            report.map.cvm >> 20,
            report.map.device >> 10,
            report.tables,
            if cfg!(feature = "cheri") { ", capability loads/stores on (LC, SC)" } else { "" }
        ),
        Err(e) => {
            println!("capmon: cannot turn the MMU on: {e}");
            finish(false);
        }
    }
}

/// Timer interrupts go through the interrupt controller on Arm, directly to the hart on
/// RISC-V (where `NO_IRQ` marks that).
fn timer_interrupt(platform: &Platform) -> u32 {
    #[cfg(target_arch = "aarch64")]
    return arch::timer_irq(platform);
    #[cfg(target_arch = "riscv64")]
    {
        let _ = platform;
        NO_IRQ
    }
}

fn uart_from_tree(uart: &platform::Uart) -> Uart {
    let base = uart.base.start.as_usize();
    match uart.kind {
        // SAFETY: the tree names this UART as the console; capmon is the only driver of it.
        UartKind::Pl011 => Uart::Pl011(unsafe { Pl011::new(base) }),
        UartKind::Ns16550 { reg_shift, .. } => {
            // SAFETY: as above.
            Uart::Ns16550(unsafe { Ns16550::new(base, reg_shift) })
        }
    }
}

fn print_platform(dtb: &[u8], p: &Platform) {
    println!(
        "dtb: at {:#x}, {} bytes, model \"{}\"",
        dtb.as_ptr() as usize,
        dtb.len(),
        p.model.as_str()
    );
    print!("cpus: {} (hwid", p.cpus_total);
    for cpu in p.cpus.iter() {
        print!(" {:#x}", cpu.hwid);
    }
    println!(")");
    for bank in p.memory_banks.iter() {
        println!("memory: bank {} {} MiB", bank, bank.size() >> 20);
    }
    for r in p.reserved.iter() {
        println!("memory: reserved {} {}", r.range, r.why);
    }
    for r in p.usable.iter() {
        println!("memory: usable {} {} KiB", r, r.size() >> 10);
    }
    match &p.console {
        Some(c) => {
            print!(
                "console: {} at {:#x}",
                c.compatible.as_str(),
                c.base.start.0
            );
            if let Some(irq) = c.irq {
                print!(", irq {irq}");
            }
            println!(" ({})", p.console_source);
        }
        None => println!("console: none in the device tree; keeping the board's early UART"),
    }
    match p.irq {
        Some(platform::IrqController::GicV3 { dist, redist }) => {
            println!(
                "irqchip: arm,gic-v3 dist {:#x} redist {:#x}",
                dist.start.0, redist.start.0
            )
        }
        Some(platform::IrqController::Plic { base, ndev }) => {
            println!(
                "irqchip: sifive,plic-1.0.0 at {:#x}, {} sources",
                base.start.0, ndev
            )
        }
        None => println!("irqchip: none"),
    }
    // RISC-V's timebase is only known from the tree; Arm's CNTFRQ is readable any time.
    let freq = p.timer.freq_hz.unwrap_or_else(arch::counter_frequency);
    #[cfg(target_arch = "aarch64")]
    println!("timer: {} Hz, irq {}", freq, arch::timer_irq(p));
    #[cfg(target_arch = "riscv64")]
    println!(
        "timer: {} Hz (clint {:#x})",
        freq,
        p.clint.map_or(0, |c| c.start.0)
    );
    match (p.psci, p.poweroff) {
        (Some(m), _) => println!("psci: {m}"),
        (None, Some(off)) => println!("poweroff: sifive,test0 at {:#x}", off.base.start.0),
        (None, None) => println!("power-off: none in the device tree; using the board's fallback"),
    }
    let mut with_device = 0;
    for t in p.virtio.iter() {
        // SAFETY: the address is a virtio-mmio transport named by the device tree.
        if let Transport::Device { .. } = unsafe { virtio_probe::probe(t.base.start.as_usize()) } {
            with_device += 1;
        }
    }
    println!(
        "virtio: {} transports, {} with a device",
        p.virtio.len(),
        with_device
    );
}

const NO_IRQ: u32 = u32::MAX;
static TIMER_IRQ: AtomicU32 = AtomicU32::new(NO_IRQ);
static CONSOLE_IRQ: AtomicU32 = AtomicU32::new(NO_IRQ);
static TICKS: AtomicU32 = AtomicU32::new(0);
static TICK_PERIOD: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The timer's interrupt number (`NO_IRQ` on RISC-V), for cores that enable it on their own.
pub fn timer_irq_number() -> u32 {
    TIMER_IRQ.load(Ordering::Relaxed)
}

/// Brings up every other core the tree lists, and says how many cores run cVMs. An image
/// without cVMs leaves them off (they would have nothing to do).
fn start_cores(platform: &Platform, no_cvms: bool) {
    if no_cvms || platform.cpus.len() < 2 {
        println!("cores: 1 runs cVMs ({} in the tree)", platform.cpus_total);
        return;
    }
    let mut running = 1;
    for (core, result) in arch::start_secondaries(platform) {
        match result {
            Ok(()) => {
                crate::smp::GATE.online(core);
                running += 1;
            }
            Err(why) => println!("cores: core {core} not started: {why}; going on without it"),
        }
    }
    println!(
        "cores: {running} {} cVMs ({} in the tree)",
        if running == 1 { "runs" } else { "run" },
        platform.cpus_total
    );
}

/// Interrupt dispatch from the arch layer (interrupts masked, on the monitor's stack).
pub fn on_interrupt(irq: u32) {
    use crate::drivers::virtio_irq::{self, Taken};
    if irq == TIMER_IRQ.load(Ordering::Relaxed) {
        on_timer();
    } else if irq == CONSOLE_IRQ.load(Ordering::Relaxed) {
        console::handle_input_interrupt();
    } else {
        match virtio_irq::on_interrupt(irq) {
            // A virtio completion: acknowledged; its driver sees it in the used ring.
            Taken::Handled => {}
            // A line that keeps firing with nothing to report is switched off; its devices are
            // polled from now on.
            Taken::Stuck => {
                let off = arch::disable_irq(irq);
                log::warn!(
                    "irq {irq}: a virtio device keeps interrupting with nothing to report; line {}, polling it",
                    if off { "switched off" } else { "NOT switched off" }
                );
            }
            Taken::NotOurs => log::warn!("irq {irq}: no handler"),
        }
    }
}

pub fn on_timer() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    let period = TICK_PERIOD.load(Ordering::Relaxed);
    arch::set_timer(if period == 0 {
        u64::MAX
    } else {
        arch::now() + period
    });
}

/// Boot self-test: take `ticks` timer interrupts, and with `echo` read a line of input.
fn self_test(freq: u64, ticks: u32, echo: bool) -> bool {
    if ticks == 0 && !echo {
        return true;
    }
    let period = (freq / TICK_HZ).max(1);
    TICK_PERIOD.store(period, Ordering::Relaxed);
    arch::set_timer(arch::now() + period);
    let start = arch::now();
    // Bounded: if the timer never fires, give up after 5 s of counter time.
    let limit = start + 5 * freq.max(1);
    while TICKS.load(Ordering::Relaxed) < ticks {
        arch::wait_for_interrupt();
        if arch::now() > limit {
            println!(
                "ticks: only {} of {} timer interrupts in 5 s",
                TICKS.load(Ordering::Relaxed),
                ticks
            );
            return false;
        }
    }
    println!(
        "ticks: {} timer interrupts at {} Hz",
        TICKS.load(Ordering::Relaxed),
        TICK_HZ
    );
    TICK_PERIOD.store(0, Ordering::Relaxed);

    if echo {
        println!("console: type a line and press Enter");
        let mut line: FixedVec<u8, 128> = FixedVec::new();
        loop {
            arch::wait_for_interrupt();
            while let Some(byte) = console::take_input_byte() {
                if console::line_edit(&mut line, byte) {
                    let text = core::str::from_utf8(&line).unwrap_or("<not UTF-8>");
                    println!("console: read line \"{text}\"");
                    return true;
                }
            }
        }
    }
    true
}

/// `log`'s names are upper case; the banner and bootargs use lower case.
fn level_name(level: log::LevelFilter) -> &'static str {
    match level {
        log::LevelFilter::Off => "off",
        log::LevelFilter::Error => "error",
        log::LevelFilter::Warn => "warn",
        log::LevelFilter::Info => "info",
        log::LevelFilter::Debug => "debug",
        log::LevelFilter::Trace => "trace",
    }
}
