//! Turns a validated device tree into a [`Platform`]: one walk over all nodes, plus phandle and
//! path lookups for interrupt parents, clocks, the poweroff regmap and the stdout-path target.
//!
//! Policy on bad properties: a property capmon needs from a node it uses (a UART's `reg`, an
//! interrupt specifier, a reserved range) gives [`DtError::Malformed`] naming node and property,
//! because guessing could mean driving the wrong MMIO page or handing out firmware memory.
//! Nodes capmon does not use are never interpreted, so their oddities cannot stop a boot.

use super::blob::{be32, first_compatible, Flow, Node, Tree};
use super::error::DtError;
use super::fixed_str::FixedStr;
use super::initrd::{self, InitrdProps};
use super::memory;
use super::*;

const PL011: &[&str] = &["arm,pl011"];
const NS16550: &[&str] = &["ns16550a", "ns16550", "ns16750", "snps,dw-apb-uart"];
const GIC_V3: &[&str] = &["arm,gic-v3"];
/// Controllers whose interrupt specifiers are `<type number flags>`.
const GIC_ANY: &[&str] = &[
    "arm,gic-v3",
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];
const PLIC: &[&str] = &["sifive,plic-1.0.0", "riscv,plic0"];
const CLINT: &[&str] = &["sifive,clint0", "riscv,clint0"];
const ARM_TIMER: &[&str] = &["arm,armv8-timer"];
const PSCI: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];
const SIFIVE_TEST: &[&str] = &["sifive,test1", "sifive,test0"];
const SYSCON_POWEROFF: &[&str] = &["syscon-poweroff"];
const VIRTIO_MMIO: &[&str] = &["virtio,mmio"];
const FIXED_CLOCK: &[&str] = &["fixed-clock"];

/// sifive_test: writing this to the register powers off with "pass".
const SIFIVE_TEST_PASS: u32 = 0x5555;
/// Specifier widths beyond this are nonsense for any controller capmon can drive.
const MAX_INTERRUPT_CELLS: u32 = 4;

/// Describes the machine from `dtb`, which is assumed to be at its own (identity-mapped)
/// address: that range is added to `reserved`. `monitor_image` is capmon's load range.
pub fn discover(dtb: &[u8], monitor_image: PhysRange) -> Result<Platform, DtError> {
    discover_at(dtb, blob_addr(dtb), monitor_image)
}

/// Like [`discover`], for a blob that was copied away from (or, in host tests, never lived at)
/// physical address `dtb_phys`: that address range is what gets reserved.
pub fn discover_at(
    dtb: &[u8],
    dtb_phys: u64,
    monitor_image: PhysRange,
) -> Result<Platform, DtError> {
    let tree = Tree::new(dtb)?;
    let blob = blob_range(dtb_phys, &tree);
    discover_tree(&tree, &[blob], monitor_image, None)
}

/// The Morello SDP's TF-A entry: x0 = NT_FW_CONFIG, x1 = HW_CONFIG (either may be absent or
/// invalid; build the slices with [`probe_header`]). The hardware description in x1 is used and
/// x0's `platform-info` is recorded in [`Platform::nt_fw_config`]; both blobs are reserved. If
/// x1 is unusable but x0 is itself a full hardware tree (a Linux-style loader put the DTB in
/// x0) that is used instead. If only the NT_FW_CONFIG is valid the error says so.
pub fn discover_tf_a(
    x0_tree: Option<&[u8]>,
    x1_tree: Option<&[u8]>,
    monitor_image: PhysRange,
) -> Result<Platform, DtError> {
    let x0 = x0_tree.and_then(|b| Some((Tree::new(b).ok()?, blob_addr(b))));
    // x0 is advisory: a malformed platform-info must not stop a boot from a good x1.
    let nt = x0
        .as_ref()
        .and_then(|(tree, _)| nt_fw_config_of(tree).ok().flatten());
    let mut x1_error = None;
    if let Some(b) = x1_tree {
        match Tree::new(b) {
            Ok(tree) if has_memory_node(&tree)? => {
                let mut blobs = [blob_range(blob_addr(b), &tree), PhysRange::default()];
                if let Some((t0, a0)) = &x0 {
                    blobs[1] = blob_range(*a0, t0);
                }
                return discover_tree(&tree, &blobs, monitor_image, nt);
            }
            Ok(_) => x1_error = Some(DtError::MissingNode { path: "/memory" }),
            Err(e) => x1_error = Some(e),
        }
    }
    if let Some((tree, addr)) = &x0 {
        if nt.is_none() && has_memory_node(tree)? {
            return discover_tree(tree, &[blob_range(*addr, tree)], monitor_image, None);
        }
        if let Some(nt) = nt {
            return Err(DtError::NotHardwareDescription {
                local_ddr_size: nt.local_ddr_size,
                remote_ddr_size: nt.remote_ddr_size,
            });
        }
    }
    Err(x1_error.unwrap_or(DtError::NoTree))
}

/// Reads TF-A's NT_FW_CONFIG `/platform-info`; `Ok(None)` if the tree has none.
pub fn nt_fw_config(dtb: &[u8]) -> Result<Option<NtFwConfig>, DtError> {
    nt_fw_config_of(&Tree::new(dtb)?)
}

fn nt_fw_config_of(tree: &Tree<'_>) -> Result<Option<NtFwConfig>, DtError> {
    tree.find_path(b"/platform-info", |n| {
        Ok(NtFwConfig {
            local_ddr_size: n.prop_u64("local-ddr-size")?,
            remote_ddr_size: n.prop_u64("remote-ddr-size")?,
        })
    })
}

fn has_memory_node(tree: &Tree<'_>) -> Result<bool, DtError> {
    Ok(tree
        .find_map(|n| n.depth == 1 && is_memory(n), |_| Ok(()))?
        .is_some())
}

/// The blob's address as capmon sees it (identity-mapped, so also physical).
fn blob_addr(dtb: &[u8]) -> u64 {
    // usize is 64 bits on every capmon target and host, so this is lossless.
    dtb.as_ptr().addr() as u64
}

fn blob_range(addr: u64, tree: &Tree<'_>) -> PhysRange {
    // A blob at the very top of the address space cannot be described; reserving nothing is
    // then the only option, and such a blob is not in any memory bank anyway.
    PhysRange::from_start_size(addr, tree.header.totalsize.into()).unwrap_or_default()
}

/// `/chosen`'s initrd properties; a malformed one is recorded, not an error of the whole tree
/// (a bad initrd must not stop a boot that does not need it from saying why).
fn initrd_props(chosen: &Node<'_, '_>) -> InitrdProps {
    let mut props = InitrdProps::default();
    for (name, slot) in [
        ("linux,initrd-start", &mut props.start),
        ("linux,initrd-end", &mut props.end),
    ] {
        match chosen.prop_u64(name) {
            Ok(v) => *slot = v,
            Err(_) => props.malformed = props.malformed.or(Some(name)),
        }
    }
    props
}

fn is_memory(n: &Node<'_, '_>) -> bool {
    match n.prop_str("device_type") {
        Some(t) => t == b"memory",
        None => n.name == b"memory" || n.name.starts_with(b"memory@"),
    }
}

fn is_cpu(n: &Node<'_, '_>) -> bool {
    match n.prop_str("device_type") {
        Some(t) => t == b"cpu",
        None => n.name == b"cpu" || n.name.starts_with(b"cpu@"),
    }
}

/// What an interrupt parent says about the specifiers that point at it.
#[derive(Clone, Copy, Debug, Default)]
struct IntcInfo {
    cells: u32,
    gic: bool,
}

/// State of one discovery pass.
struct Scan<'a> {
    p: Platform,
    /// `/chosen`'s initrd properties, checked once the memory banks are known.
    initrd: InitrdProps,
    stdout_path: Option<&'a [u8]>,
    first_uart: Option<Uart>,
    arm_timer_seen: bool,
    timer_clock: Option<u64>,
    timebase: Option<u64>,
    syscon_poweroff: Option<PowerOff>,
    test_poweroff: Option<PowerOff>,
    /// phandle -> interrupt parent, so 32 virtio nodes do not mean 32 lookups.
    intc_cache: FixedVec<(u32, IntcInfo), 8>,
}

fn discover_tree(
    tree: &Tree<'_>,
    blobs: &[PhysRange],
    image: PhysRange,
    nt_fw_config: Option<NtFwConfig>,
) -> Result<Platform, DtError> {
    let mut scan = Scan {
        p: Platform {
            model: FixedStr::new(),
            cpus: FixedVec::new(),
            cpus_total: 0,
            memory_banks: FixedVec::new(),
            reserved: FixedVec::new(),
            usable: FixedVec::new(),
            console: None,
            console_source: ConsoleSource::None,
            irq: None,
            clint: None,
            timer: Timer::default(),
            psci: None,
            poweroff: None,
            virtio: FixedVec::new(),
            virtio_total: 0,
            bootargs: FixedStr::new(),
            nt_fw_config,
            initrd: Ok(None),
        },
        initrd: InitrdProps::default(),
        stdout_path: None,
        first_uart: None,
        arm_timer_seen: false,
        timer_clock: None,
        timebase: None,
        syscon_poweroff: None,
        test_poweroff: None,
        intc_cache: FixedVec::new(),
    };
    tree.walk(|node| scan.visit(node).map(|()| Flow::Continue))?;

    if scan.p.memory_banks.is_empty() {
        return Err(DtError::MissingNode { path: "/memory" });
    }
    for (addr, size) in tree.reservations() {
        let range = PhysRange::from_start_size(addr, size).ok_or(DtError::Malformed {
            node: FixedStr::from_str_truncating("(memory reservation block)"),
            prop: "entry",
            why: "range wraps past the end of the address space",
        })?;
        scan.reserve(range, ReservedKind::MemReserve)?;
    }
    for blob in blobs {
        scan.reserve(*blob, ReservedKind::DeviceTree)?;
    }
    scan.reserve(image, ReservedKind::MonitorImage)?;
    scan.p.initrd = initrd::check(scan.initrd, &scan.p.memory_banks, image, blobs);
    if let Ok(Some(range)) = scan.p.initrd {
        scan.reserve(range, ReservedKind::Initrd)?;
    }
    scan.p.usable = memory::usable(
        &scan.p.memory_banks,
        scan.p.reserved.iter().map(|r| r.range),
    )?;

    let from_stdout = match scan.stdout_path {
        Some(path) => scan.stdout_uart(tree, path)?,
        None => None,
    };
    (scan.p.console, scan.p.console_source) = match (from_stdout, scan.first_uart) {
        (Some(uart), _) => (Some(uart), ConsoleSource::StdoutPath),
        (None, Some(uart)) => (Some(uart), ConsoleSource::FirstUart),
        (None, None) => (None, ConsoleSource::None),
    };
    scan.p.timer.freq_hz = if scan.arm_timer_seen {
        scan.timer_clock
    } else {
        scan.timebase
    };
    scan.p.poweroff = scan.syscon_poweroff.or(scan.test_poweroff);
    Ok(scan.p)
}

impl<'a> Scan<'a> {
    fn reserve(&mut self, range: PhysRange, why: ReservedKind) -> Result<(), DtError> {
        if range.is_empty() {
            return Ok(());
        }
        let capacity = self.p.reserved.capacity();
        self.p
            .reserved
            .push(Reserved { range, why })
            .map_err(|_| DtError::TooMany {
                what: "reserved memory ranges",
                capacity,
            })
    }

    fn visit(&mut self, node: &Node<'_, 'a>) -> Result<(), DtError> {
        let tree = node.tree();
        if node.depth == 0 {
            let model = node
                .prop_str("model")
                .or_else(|| node.prop_strings("compatible").next());
            self.p.model = FixedStr::from_dt_bytes(model.unwrap_or(&[]));
            return Ok(());
        }
        let parent = node.parent_name();
        if node.depth == 1 {
            match node.name {
                b"chosen" => {
                    self.p.bootargs =
                        FixedStr::from_dt_bytes(node.prop_str("bootargs").unwrap_or(&[]));
                    self.stdout_path = node
                        .prop_str("stdout-path")
                        .or_else(|| node.prop_str("linux,stdout-path"));
                    self.initrd = initrd_props(node);
                }
                b"cpus" => self.timebase = node.prop_u64("timebase-frequency")?,
                _ if is_memory(node) && node.is_enabled() => {
                    let mut i = 0;
                    while let Some(bank) = node.reg(i)? {
                        i += 1;
                        if bank.is_empty() {
                            continue;
                        }
                        let capacity = self.p.memory_banks.capacity();
                        self.p
                            .memory_banks
                            .push(bank)
                            .map_err(|_| DtError::TooMany {
                                what: "memory banks",
                                capacity,
                            })?;
                    }
                }
                _ => {}
            }
        }
        if !node.is_enabled() {
            return Ok(());
        }
        if node.depth == 2 && parent == Some(b"cpus") && is_cpu(node) {
            let (hwid, _) = node
                .reg_raw(0)?
                .ok_or(node.malformed("reg", "missing on a cpu"))?;
            self.p.cpus_total += 1;
            // Past capacity the CPU is counted but not kept: capmon just uses fewer CPUs.
            let _ = self.p.cpus.push(Cpu { hwid });
            if self.timebase.is_none() {
                self.timebase = node.prop_u64("timebase-frequency")?;
            }
        }
        if node.depth == 2 && parent == Some(b"reserved-memory") {
            let name = FixedStr::from_dt_bytes(node.name);
            let mut i = 0;
            while let Some(range) = node.reg(i)? {
                i += 1;
                self.reserve(range, ReservedKind::Firmware(name))?;
            }
        }

        // Everything below is matched by `compatible`; read it once, not once per table.
        let Some(compatible) = node.prop("compatible") else {
            return Ok(());
        };
        let is = |table: &[&str]| first_compatible(compatible, table).is_some();
        if self.first_uart.is_none() && (is(PL011) || is(NS16550)) {
            self.first_uart = self.uart(tree, node)?;
        }
        if self.p.irq.is_none() && is(GIC_V3) {
            let dist = node
                .reg(0)?
                .ok_or(node.malformed("reg", "missing distributor"))?;
            let redist = node
                .reg(1)?
                .ok_or(node.malformed("reg", "missing redistributor"))?;
            self.p.irq = Some(IrqController::GicV3 { dist, redist });
        }
        if self.p.irq.is_none() && is(PLIC) {
            let base = node.reg(0)?.ok_or(node.malformed("reg", "missing"))?;
            let ndev = node
                .prop_u32("riscv,ndev")?
                .ok_or(node.malformed("riscv,ndev", "missing"))?;
            self.p.irq = Some(IrqController::Plic { base, ndev });
        }
        if self.p.clint.is_none() && is(CLINT) {
            self.p.clint = Some(node.reg(0)?.ok_or(node.malformed("reg", "missing"))?);
        }
        if !self.arm_timer_seen && is(ARM_TIMER) {
            // DT order: secure phys, non-secure phys, virt, hyp phys (, hyp virt).
            self.arm_timer_seen = true;
            self.timer_clock = node.prop_u64("clock-frequency")?;
            self.p.timer.phys_ppi = self.irq(tree, node, 1)?;
            self.p.timer.virt_ppi = self.irq(tree, node, 2)?;
            self.p.timer.hyp_ppi = self.irq(tree, node, 3)?;
        }
        if self.p.psci.is_none() && is(PSCI) {
            self.p.psci = Some(match node.prop_str("method") {
                Some(b"smc") => PsciMethod::Smc,
                Some(b"hvc") => PsciMethod::Hvc,
                _ => return Err(node.malformed("method", "expected \"smc\" or \"hvc\"")),
            });
        }
        if self.test_poweroff.is_none() && is(SIFIVE_TEST) {
            let base = node.reg(0)?.ok_or(node.malformed("reg", "missing"))?;
            self.test_poweroff = Some(PowerOff {
                base,
                offset: 0,
                value: SIFIVE_TEST_PASS,
            });
        }
        if self.syscon_poweroff.is_none() && is(SYSCON_POWEROFF) {
            self.syscon_poweroff = syscon_poweroff(tree, node)?;
        }
        if is(VIRTIO_MMIO) {
            self.p.virtio_total += 1;
            // Past capacity a transport is only counted (fewer devices, no harm), and not
            // resolved: that keeps the number of interrupt-parent lookups, each a tree walk,
            // bounded whatever the tree holds.
            if self.p.virtio.len() < self.p.virtio.capacity() {
                let base = node.reg(0)?.ok_or(node.malformed("reg", "missing"))?;
                let irq = self.irq(tree, node, 0)?;
                let _ = self.p.virtio.push(VirtioMmio {
                    base,
                    irq,
                    dma_coherent: node.own.dma_coherent,
                });
            }
        }
        Ok(())
    }

    /// The node as a UART, if it is an enabled one capmon has a driver for.
    fn uart(&mut self, tree: &Tree<'a>, node: &Node<'_, 'a>) -> Result<Option<Uart>, DtError> {
        if !node.is_enabled() {
            return Ok(None);
        }
        let (kind, compatible) = if let Some(c) = node.compatible_in(PL011) {
            (UartKind::Pl011, c)
        } else if let Some(c) = node.compatible_in(NS16550) {
            let reg_shift = node.prop_u32("reg-shift")?.unwrap_or(0);
            let reg_io_width = node.prop_u32("reg-io-width")?.unwrap_or(1);
            if reg_shift > 3 || !matches!(reg_io_width, 1 | 2 | 4) {
                return Err(node.malformed("reg-shift", "reg-shift > 3 or reg-io-width not 1/2/4"));
            }
            (
                UartKind::Ns16550 {
                    reg_shift,
                    reg_io_width,
                },
                c,
            )
        } else {
            return Ok(None);
        };
        let base = node.reg(0)?.ok_or(node.malformed("reg", "missing"))?;
        Ok(Some(Uart {
            kind,
            base,
            irq: self.irq(tree, node, 0)?,
            clock_hz: uart_clock(tree, node)?,
            compatible: FixedStr::from_dt_bytes(compatible),
        }))
    }

    /// The UART `/chosen/stdout-path` names, if it names an enabled supported one.
    fn stdout_uart(&mut self, tree: &Tree<'a>, stdout: &'a [u8]) -> Result<Option<Uart>, DtError> {
        // "serial0:115200n8": node names cannot contain ':', so the first one starts options.
        let spec = stdout.split(|&b| b == b':').next().unwrap_or(&[]);
        let path = if spec.first() == Some(&b'/') {
            spec
        } else {
            let alias = tree.find_path(b"/aliases", |n| {
                Ok(n.props().find(|(name, _)| *name == spec).map(|(_, v)| v))
            })?;
            match alias.flatten() {
                Some(v) => v.split(|&b| b == 0).next().unwrap_or(&[]),
                None => return Ok(None),
            }
        };
        Ok(tree.find_path(path, |n| self.uart(tree, n))?.flatten())
    }

    /// Interrupt `i` of `node` as a GIC INTID or a plain source number (PLIC), `None` if the
    /// node has no such interrupt or no interrupt parent at all.
    fn irq(
        &mut self,
        tree: &Tree<'a>,
        node: &Node<'_, 'a>,
        i: usize,
    ) -> Result<Option<u32>, DtError> {
        if let Some(v) = node.prop("interrupts-extended") {
            const PROP: &str = "interrupts-extended";
            let mut off = 0usize;
            let mut idx = 0usize;
            // Each entry is at least 8 bytes (phandle + one cell), so this ends within len/8 steps.
            while off < v.len() {
                let phandle = be32(v, off).ok_or(node.malformed(PROP, "truncated phandle"))?;
                let info = self.intc(tree, node, PROP, phandle)?;
                let len = 4 * info.cells as usize;
                let start = off + 4;
                let spec = v
                    .get(start..start + len)
                    .ok_or(node.malformed(PROP, "truncated interrupt specifier"))?;
                if idx == i {
                    return decode_irq(node, PROP, info, spec).map(Some);
                }
                off = start + len;
                idx += 1;
            }
            return Ok(None);
        }
        let Some(v) = node.prop("interrupts") else {
            return Ok(None);
        };
        // No interrupt parent anywhere up the tree: the interrupt is unroutable; poll instead.
        let Some(phandle) = node.own.irq_parent else {
            return Ok(None);
        };
        let info = self.intc(tree, node, "interrupt-parent", phandle)?;
        let len = 4 * info.cells as usize;
        if v.len() % len != 0 {
            return Err(node.malformed("interrupts", "not a whole number of specifiers"));
        }
        let Some(spec) = i.checked_mul(len).and_then(|s| v.get(s..s + len)) else {
            return Ok(None);
        };
        decode_irq(node, "interrupts", info, spec).map(Some)
    }

    fn intc(
        &mut self,
        tree: &Tree<'a>,
        node: &Node<'_, 'a>,
        prop: &'static str,
        phandle: u32,
    ) -> Result<IntcInfo, DtError> {
        if let Some((_, info)) = self.intc_cache.iter().find(|(ph, _)| *ph == phandle) {
            return Ok(*info);
        }
        let info = tree
            .find_phandle(phandle, |n| {
                let cells = n.prop_u32("#interrupt-cells")?;
                match cells {
                    Some(cells @ 1..=MAX_INTERRUPT_CELLS) => Ok(Some(IntcInfo {
                        cells,
                        gic: n.compatible_in(GIC_ANY).is_some(),
                    })),
                    _ => Ok(None),
                }
            })?
            .flatten()
            .ok_or(node.malformed(
                prop,
                "does not name an interrupt controller with 1-4 #interrupt-cells",
            ))?;
        // A full cache only costs a repeated lookup.
        let _ = self.intc_cache.push((phandle, info));
        Ok(info)
    }
}

/// GIC `<type number flags>`: SPI n -> INTID 32 + n, PPI n -> 16 + n, extended SPI n ->
/// 4096 + n, extended PPI n -> 1056 + n. Anything else: the first cell as is (PLIC source).
fn decode_irq(
    node: &Node<'_, '_>,
    prop: &'static str,
    info: IntcInfo,
    spec: &[u8],
) -> Result<u32, DtError> {
    let cell =
        |i: usize| be32(spec, 4 * i).ok_or(node.malformed(prop, "truncated interrupt specifier"));
    if !(info.gic && info.cells >= 3) {
        return cell(0);
    }
    let base = match cell(0)? {
        0 => 32,
        1 => 16,
        2 => 4096,
        3 => 1056,
        _ => return Err(node.malformed(prop, "unknown GIC interrupt type")),
    };
    cell(1)?
        .checked_add(base)
        .ok_or(node.malformed(prop, "GIC interrupt number overflows"))
}

/// A UART's input clock: its `clock-frequency`, or that of the fixed clock `clocks` names first.
fn uart_clock(tree: &Tree<'_>, node: &Node<'_, '_>) -> Result<Option<u32>, DtError> {
    let fits = |n: &Node<'_, '_>, hz: u64| {
        u32::try_from(hz).map_err(|_| n.malformed("clock-frequency", "does not fit 32 bits"))
    };
    if let Some(hz) = node.prop_u64("clock-frequency")? {
        return fits(node, hz).map(Some);
    }
    let Some(phandle) = node.prop("clocks").and_then(|v| be32(v, 0)) else {
        return Ok(None);
    };
    let hz = tree.find_phandle(phandle, |clk| {
        if clk.compatible_in(FIXED_CLOCK).is_none() {
            return Ok(None);
        }
        clk.prop_u64("clock-frequency")?
            .map(|hz| fits(clk, hz))
            .transpose()
    })?;
    Ok(hz.flatten())
}

/// "syscon-poweroff": write `value` (or legacy `mask`) at `offset` into the `regmap` device.
fn syscon_poweroff(tree: &Tree<'_>, node: &Node<'_, '_>) -> Result<Option<PowerOff>, DtError> {
    let Some(phandle) = node.prop_u32("regmap")? else {
        return Ok(None);
    };
    let offset = node.prop_u32("offset")?.unwrap_or(0);
    let value = match (node.prop_u32("value")?, node.prop_u32("mask")?) {
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => return Err(node.malformed("value", "missing (and no mask)")),
    };
    let base = tree
        .find_phandle(phandle, |map| map.reg(0))?
        .flatten()
        .ok_or(node.malformed("regmap", "does not name a node with reg"))?;
    Ok(Some(PowerOff {
        base,
        offset,
        value,
    }))
}
