//! Host tests: every shared test tree with the values read off its `dtc -O dts` output, plus
//! small trees in `testdata/` for the corner cases (aliases, disabled nodes, no /chosen, TF-A).

use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::addr::PhysAddr;

/// Reads a tree from `/work/shared/testdata/dt/`, failing loudly when it is missing.
pub(super) fn shared_tree(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/testdata/dt/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("test tree {path} missing: {e}"))
}

pub(super) const SHARED_TREES: [&str; 5] = [
    "morello-sdp.dtb",
    "qemu-aarch64-virt.dtb",
    "qemu-morello-virt.dtb",
    "qemu-riscv64-virt.dtb",
    "qemu-riscv64cheri-virt.dtb",
];

pub(super) const LOCAL_TREES: [(&str, &[u8]); 6] = [
    (
        "alias-options.dtb",
        include_bytes!("testdata/alias-options.dtb"),
    ),
    ("no-chosen.dtb", include_bytes!("testdata/no-chosen.dtb")),
    (
        "stdout-disabled.dtb",
        include_bytes!("testdata/stdout-disabled.dtb"),
    ),
    (
        "nt-fw-config.dtb",
        include_bytes!("testdata/nt-fw-config.dtb"),
    ),
    (
        "many-devices.dtb",
        include_bytes!("testdata/many-devices.dtb"),
    ),
    (
        "dma-coherence.dtb",
        include_bytes!("testdata/dma-coherence.dtb"),
    ),
];

pub(super) fn r(start: u64, end: u64) -> PhysRange {
    PhysRange {
        start: PhysAddr(start),
        end: PhysAddr(end),
    }
}

fn sz(start: u64, size: u64) -> PhysRange {
    r(start, start + size)
}

/// An image range far away from every test tree's RAM, so it carves nothing.
pub(super) const NO_IMAGE: PhysRange = PhysRange {
    start: PhysAddr(0),
    end: PhysAddr(0),
};
/// A DTB address outside every test tree's RAM.
pub(super) const FAR: u64 = 0xdead_0000_0000;

fn hwids(p: &Platform) -> Vec<u64> {
    p.cpus.iter().map(|c| c.hwid).collect()
}

fn dt_reserved(p: &Platform) -> Vec<PhysRange> {
    p.reserved
        .iter()
        .filter(|r| r.why == ReservedKind::DeviceTree)
        .map(|r| r.range)
        .collect()
}

#[test]
fn morello_sdp() {
    let dtb = shared_tree("morello-sdp.dtb");
    let p = discover_at(&dtb, FAR, NO_IMAGE).unwrap();
    assert_eq!(p.model.as_str(), "Arm Morello System Development Platform");
    assert_eq!(hwids(&p), [0x0, 0x100, 0x10000, 0x10100]);
    assert_eq!(p.cpus_total, 4);
    assert_eq!(
        &*p.memory_banks,
        &[
            sz(0x8000_0000, 0x7f00_0000),
            sz(0x80_8000_0000, 0x3_7800_0000)
        ]
    );
    assert_eq!(p.reserved[0].range, r(0xff00_0000, 0x1_0000_0000));
    assert_eq!(
        p.reserved[0].why,
        ReservedKind::Firmware(FixedStr::from_str_truncating("secure-firmware@ff000000"))
    );
    assert_eq!(dt_reserved(&p), [sz(FAR, 8089)]);
    // DRAM0 ends where the secure carve-out starts, so nothing of 0xff00_0000.. is usable.
    assert_eq!(
        &*p.usable,
        &[
            r(0x8000_0000, 0xff00_0000),
            r(0x80_8000_0000, 0x83_f800_0000)
        ]
    );
    assert!(!p
        .usable
        .iter()
        .any(|u| u.overlaps(&r(0xff00_0000, 0x1_0000_0000))));

    let uart = p.console.unwrap();
    assert_eq!(p.console_source, ConsoleSource::StdoutPath); // "serial0:115200n8" via /aliases
    assert_eq!(uart.kind, UartKind::Pl011);
    assert_eq!(uart.base, sz(0x2a40_0000, 0x1000));
    assert_eq!(uart.irq, Some(32 + 63)); // SPI 0x3f
    assert_eq!(uart.clock_hz, Some(50_000_000)); // clocks = <&clock-50000000 ...>
    assert_eq!(uart.compatible.as_str(), "arm,pl011");

    assert_eq!(
        p.irq,
        Some(IrqController::GicV3 {
            dist: sz(0x3000_0000, 0x1_0000),
            redist: sz(0x300c_0000, 0x8_0000)
        })
    );
    assert_eq!(
        p.timer,
        Timer {
            freq_hz: None,
            phys_ppi: Some(30),
            virt_ppi: Some(27),
            hyp_ppi: Some(26)
        }
    );
    assert_eq!(p.psci, Some(PsciMethod::Smc));
    assert_eq!(p.clint, None);
    assert_eq!(p.poweroff, None);
    assert_eq!(p.virtio_total, 0);
    assert_eq!(p.bootargs.as_str(), "");
}

/// QEMU virt with GICv3, as dumped by the Morello fork (no /model, no /aliases) and by QEMU 10.
fn check_qemu_arm(p: &Platform, model: &str) {
    assert_eq!(p.model.as_str(), model);
    assert_eq!(hwids(p), [0]);
    assert_eq!(&*p.memory_banks, &[sz(0x4000_0000, 0x8000_0000)]);
    let uart = p.console.unwrap();
    assert_eq!(p.console_source, ConsoleSource::StdoutPath); // "/pl011@9000000"
    assert_eq!(
        (uart.kind, uart.base, uart.irq),
        (UartKind::Pl011, sz(0x900_0000, 0x1000), Some(33))
    );
    assert_eq!(uart.clock_hz, Some(24_000_000)); // apb-pclk fixed clock
    assert_eq!(
        p.irq,
        Some(IrqController::GicV3 {
            dist: sz(0x800_0000, 0x1_0000),
            redist: sz(0x80a_0000, 0xf6_0000)
        })
    );
    assert_eq!(
        p.timer,
        Timer {
            freq_hz: None,
            phys_ppi: Some(30),
            virt_ppi: Some(27),
            hyp_ppi: Some(26)
        }
    );
    assert_eq!(p.psci, Some(PsciMethod::Smc));
    assert_eq!((p.virtio_total, p.virtio.len()), (32, 32));
    // The dumps list the transports lowest address first; each is SPI 16 + n.
    for (n, v) in p.virtio.iter().enumerate() {
        let n = n as u64;
        assert_eq!(v.base, sz(0xa00_0000 + 0x200 * n, 0x200));
        assert_eq!(v.irq, Some(48 + u32::try_from(n).unwrap()));
        // QEMU's Arm virt machines mark every virtio-mmio node `dma-coherent`.
        assert_eq!(v.dma_coherent, Some(true));
        assert_eq!(v.dma(false), DmaCoherence::Coherent(DmaSource::DeviceTree));
    }
    assert_eq!((p.clint, p.poweroff), (None, None));
}

#[test]
fn qemu_morello_virt() {
    let dtb = shared_tree("qemu-morello-virt.dtb");
    let p = discover_at(&dtb, 0x4000_0000, NO_IMAGE).unwrap();
    check_qemu_arm(&p, "linux,dummy-virt");
    assert_eq!(dt_reserved(&p), [sz(0x4000_0000, 7215)]);
    // The DTB at RAM base is carved out, rounded up to the next page.
    assert_eq!(&*p.usable, &[r(0x4000_2000, 0xc000_0000)]);
}

#[test]
fn qemu_aarch64_virt() {
    let dtb = shared_tree("qemu-aarch64-virt.dtb");
    let p = discover_at(&dtb, FAR, NO_IMAGE).unwrap();
    check_qemu_arm(&p, "linux,dummy-virt");
    assert_eq!(&*p.usable, &[r(0x4000_0000, 0xc000_0000)]);
}

fn check_qemu_riscv(p: &Platform, console_node_compat: &str, plic_ndev: u32, plic_size: u64) {
    assert_eq!(p.model.as_str(), "riscv-virtio,qemu");
    assert_eq!(hwids(p), [0]);
    assert_eq!(&*p.memory_banks, &[sz(0x8000_0000, 0x4000_0000)]);
    let uart = p.console.unwrap();
    assert_eq!(p.console_source, ConsoleSource::StdoutPath);
    assert_eq!(
        uart.kind,
        UartKind::Ns16550 {
            reg_shift: 0,
            reg_io_width: 1
        }
    );
    assert_eq!((uart.base, uart.irq), (sz(0x1000_0000, 0x100), Some(10)));
    // clock-frequency = "\08@" in dtc's rendering: the bytes 00 38 40 00.
    assert_eq!(uart.clock_hz, Some(3_686_400));
    assert_eq!(uart.compatible.as_str(), console_node_compat);
    assert_eq!(
        p.irq,
        Some(IrqController::Plic {
            base: sz(0xc00_0000, plic_size),
            ndev: plic_ndev
        })
    );
    assert_eq!(p.clint, Some(sz(0x200_0000, 0x1_0000)));
    assert_eq!(
        p.timer,
        Timer {
            freq_hz: Some(10_000_000),
            ..Timer::default()
        }
    );
    assert_eq!(p.psci, None);
    // syscon-poweroff -> regmap = the sifive,test device.
    assert_eq!(
        p.poweroff,
        Some(PowerOff {
            base: sz(0x10_0000, 0x1000),
            offset: 0,
            value: 0x5555
        })
    );
    // QEMU lists virtio-mmio from the highest address down: 0x10008000 (irq 8) .. 0x10001000 (irq 1).
    assert_eq!(p.virtio_total, 8);
    for (i, v) in p.virtio.iter().enumerate() {
        let slot = 8 - i as u64;
        assert_eq!(v.base, sz(0x1000_0000 + 0x1000 * slot, 0x1000));
        assert_eq!(v.irq, Some(u32::try_from(slot).unwrap()));
        // QEMU's RISC-V virt machines say nothing (only fw-cfg and PCIe are marked): the
        // RISC-V default, coherent, applies.
        assert_eq!(v.dma_coherent, None);
        assert_eq!(v.dma(true), DmaCoherence::Coherent(DmaSource::ArchDefault));
    }
}

#[test]
fn qemu_riscv64_virt() {
    let dtb = shared_tree("qemu-riscv64-virt.dtb");
    let p = discover_at(&dtb, 0xbf00_0000, NO_IMAGE).unwrap();
    check_qemu_riscv(&p, "ns16550a", 0x5f, 0x60_0000);
    assert_eq!(
        &*p.usable,
        &[r(0x8000_0000, 0xbf00_0000), r(0xbf00_2000, 0xc000_0000)]
    );
}

#[test]
fn qemu_riscv64cheri_virt_with_image() {
    let dtb = shared_tree("qemu-riscv64cheri-virt.dtb");
    let image = sz(0x8000_0000, 0x12_3456);
    let p = discover_at(&dtb, 0xbf00_0000, image).unwrap();
    check_qemu_riscv(&p, "ns16550a", 0x35, 0x21_0000);
    assert_eq!(p.bootargs.as_str(), ""); // bootargs = [00]
    let last = p.reserved.last().unwrap();
    assert_eq!((last.range, last.why), (image, ReservedKind::MonitorImage));
    // Image end 0x80123456 rounds up to 0x80124000; DTB [0xbf000000, +3810) up to 0xbf001000.
    assert_eq!(
        &*p.usable,
        &[r(0x8012_4000, 0xbf00_0000), r(0xbf00_1000, 0xc000_0000)]
    );
}

#[test]
fn stdout_alias_with_options_ranges_and_reservations() {
    let dtb = LOCAL_TREES[0].1;
    let image = r(0x8020_0000, 0x8040_0000);
    let p = discover_at(dtb, 0x8f00_0000, image).unwrap();
    assert_eq!(
        p.model.as_str(),
        "capmon test: stdout via alias with options"
    );
    assert_eq!(p.bootargs.as_str(), "capmon.verbose=1 cvm=hello");
    assert_eq!(hwids(&p), [0, 2]); // cpu@1 is disabled; "ok" counts as enabled
    assert_eq!(p.cpus_total, 2);
    // "serial1:115200n8" -> /aliases/serial1 -> /soc/serial@2000, not the earlier pl011.
    let uart = p.console.unwrap();
    assert_eq!(p.console_source, ConsoleSource::StdoutPath);
    assert_eq!(
        uart.kind,
        UartKind::Ns16550 {
            reg_shift: 2,
            reg_io_width: 4
        }
    );
    assert_eq!(uart.compatible.as_str(), "snps,dw-apb-uart");
    assert_eq!(uart.base, sz(0x2000_2000, 0x100)); // soc ranges: 0 -> 0x20000000
    assert_eq!((uart.irq, uart.clock_hz), (Some(38), None));
    assert_eq!(
        p.irq,
        Some(IrqController::GicV3 {
            dist: sz(0x2000_0000, 0x1_0000),
            redist: sz(0x2010_0000, 0x10_0000)
        })
    );
    assert_eq!(
        &*p.virtio,
        &[VirtioMmio {
            base: sz(0x2000_3000, 0x200),
            irq: Some(19),
            dma_coherent: None,
        }]
    ); // PPI 3
    assert_eq!(
        p.timer,
        Timer {
            freq_hz: Some(50_000_000),
            phys_ppi: Some(30),
            virt_ppi: Some(27),
            hyp_ppi: Some(26)
        }
    );
    assert_eq!(p.psci, Some(PsciMethod::Hvc));
    assert_eq!(
        &*p.memory_banks,
        &[sz(0x8000_0000, 0x1000_0000), sz(0x1_0000_0000, 0x100_0000)]
    );
    let reserved: Vec<(PhysRange, ReservedKind)> =
        p.reserved.iter().map(|r| (r.range, r.why)).collect();
    assert_eq!(
        reserved,
        [
            (
                sz(0x8000_0000, 0x8_0000),
                ReservedKind::Firmware(FixedStr::from_str_truncating("tfa@80000000"))
            ),
            (sz(0x8010_0800, 0x100), ReservedKind::MemReserve),
            (sz(0x8f00_0000, dtb.len() as u64), ReservedKind::DeviceTree),
            (image, ReservedKind::MonitorImage),
        ]
    );
    assert_eq!(
        &*p.usable,
        &[
            r(0x8008_0000, 0x8010_0000),
            r(0x8010_1000, 0x8020_0000), // the memreserve's page is lost entirely
            r(0x8040_0000, 0x8f00_0000),
            r(0x8f00_1000, 0x9000_0000),
            r(0x1_0000_0000, 0x1_0100_0000),
        ]
    );
}

#[test]
fn no_chosen_falls_back_to_first_enabled_uart() {
    let p = discover_at(LOCAL_TREES[1].1, FAR, NO_IMAGE).unwrap();
    assert_eq!(p.model.as_str(), "capmon,test-no-chosen"); // no /model: first compatible
    assert_eq!(p.console_source, ConsoleSource::FirstUart);
    let uart = p.console.unwrap();
    assert_eq!(uart.base, sz(0x1000_1000, 0x100)); // serial@10000000 is disabled
    assert_eq!((uart.irq, uart.clock_hz), (Some(11), Some(3_686_400))); // interrupts-extended
    assert_eq!(
        p.irq,
        Some(IrqController::Plic {
            base: sz(0xc00_0000, 0x400_0000),
            ndev: 31
        })
    );
    assert_eq!(p.clint, Some(sz(0x200_0000, 0x1_0000)));
    assert_eq!(
        p.poweroff,
        Some(PowerOff {
            base: sz(0x10_0000, 0x1000),
            offset: 0,
            value: 0x5555
        })
    );
    assert_eq!(p.timer.freq_hz, Some(1_000_000));
    assert_eq!(p.bootargs.as_str(), "");
}

#[test]
fn stdout_path_to_disabled_uart_falls_back() {
    let p = discover_at(LOCAL_TREES[2].1, FAR, NO_IMAGE).unwrap();
    assert_eq!(p.console_source, ConsoleSource::FirstUart);
    assert_eq!(p.console.unwrap().base, sz(0x904_0000, 0x1000));
    // A node named "memory" without device_type still counts; 1-cell root addresses.
    assert_eq!(&*p.memory_banks, &[sz(0x4000_0000, 0x2000_0000)]);
    assert_eq!((p.irq, p.psci), (None, None));
}

#[test]
fn more_devices_than_capacity_are_counted() {
    let p = discover_at(LOCAL_TREES[4].1, FAR, NO_IMAGE).unwrap();
    assert_eq!((p.cpus.len(), p.cpus_total), (16, 20));
    assert_eq!(hwids(&p), (0..16).collect::<Vec<u64>>());
    assert_eq!((p.virtio.len(), p.virtio_total), (32, 33));
    assert_eq!(p.virtio[31].irq, Some(32 + 16 + 31));
    let banner = format!("{p}");
    assert!(banner.contains("cpus      20 (hwid 0x0 0x1"), "{banner}");
    assert!(banner.contains(" ...)"), "{banner}");
}

#[test]
fn dma_coherence_comes_from_the_node_or_its_nearest_ancestor_else_the_architecture() {
    let p = discover_at(LOCAL_TREES[5].1, FAR, NO_IMAGE).unwrap();
    let said: Vec<(u64, Option<bool>)> = p
        .virtio
        .iter()
        .map(|v| (v.base.start.0, v.dma_coherent))
        .collect();
    assert_eq!(
        said,
        [
            (0x1000_1000, None),
            (0x1000_2000, Some(true)),
            (0x1000_3000, Some(false)),
            (0x1000_4000, Some(true)),
            (0x1000_5000, Some(false)),
            (0x1000_6000, Some(false)),
            (0x1000_7000, None),
        ]
    );
    use DmaCoherence::{Coherent, NonCoherent};
    use DmaSource::{ArchDefault, DeviceTree};
    let silent = p.virtio[0];
    assert_eq!(silent.dma(true), Coherent(ArchDefault));
    assert_eq!(silent.dma(false), NonCoherent(ArchDefault));
    for default in [false, true] {
        assert_eq!(p.virtio[1].dma(default), Coherent(DeviceTree));
        assert_eq!(p.virtio[2].dma(default), NonCoherent(DeviceTree));
    }
    assert!(Coherent(DeviceTree).is_coherent() && !NonCoherent(DeviceTree).is_coherent());
    assert_eq!(
        format!("{}", NonCoherent(ArchDefault)),
        "DMA not coherent: cache maintenance (architecture default)"
    );
    assert_eq!(
        format!("{}", Coherent(DeviceTree)),
        "DMA coherent (device tree)"
    );
}

#[test]
fn tf_a_two_trees() {
    let nt = LOCAL_TREES[3].1;
    let hw = shared_tree("morello-sdp.dtb");
    let info = nt_fw_config(nt).unwrap().unwrap();
    assert_eq!(
        info,
        NtFwConfig {
            local_ddr_size: Some(0x3_f800_0000),
            remote_ddr_size: Some(0)
        }
    );

    let p = discover_tf_a(Some(nt), Some(&hw), NO_IMAGE).unwrap();
    assert_eq!(p.model.as_str(), "Arm Morello System Development Platform");
    assert_eq!(p.nt_fw_config, Some(info));
    // Both blobs are reserved, at wherever the slices live.
    assert_eq!(dt_reserved(&p).len(), 2);

    // Only x0 valid: a clear "not a hardware description" error carrying the DDR sizes.
    let garbage = [0u8; 64];
    for x1 in [None, Some(&garbage[..]), Some(&hw[..100])] {
        let e = discover_tf_a(Some(nt), x1, NO_IMAGE).unwrap_err();
        assert_eq!(
            e,
            DtError::NotHardwareDescription {
                local_ddr_size: Some(0x3_f800_0000),
                remote_ddr_size: Some(0)
            }
        );
        assert!(format!("{e}").contains("not a hardware description"), "{e}");
    }
    // x0 and x1 swapped still works: the hardware tree is recognised by its /memory.
    let p = discover_tf_a(Some(&hw), Some(nt), NO_IMAGE).unwrap();
    assert_eq!(hwids(&p), [0x0, 0x100, 0x10000, 0x10100]);
    assert_eq!(p.nt_fw_config, None);
    // Nothing valid: x1's own error; nothing at all: NoTree.
    assert_eq!(
        discover_tf_a(None, Some(&garbage), NO_IMAGE).unwrap_err(),
        DtError::BadMagic { found: 0 }
    );
    assert_eq!(
        discover_tf_a(None, None, NO_IMAGE).unwrap_err(),
        DtError::NoTree
    );
    // The NT_FW_CONFIG alone through plain discover: no memory.
    assert_eq!(
        discover_at(nt, FAR, NO_IMAGE).unwrap_err(),
        DtError::MissingNode { path: "/memory" }
    );
}

#[test]
fn discover_reserves_the_slice_it_was_given() {
    let dtb = shared_tree("qemu-aarch64-virt.dtb");
    let p = discover(&dtb, NO_IMAGE).unwrap();
    assert_eq!(dt_reserved(&p), [sz(dtb.as_ptr() as u64, dtb.len() as u64)]);
}

/// Offsets (into the blob) of property `prop` of the node at `path`: (token start, end after padding).
fn find_prop(dtb: &[u8], path: &[&str], prop: &str) -> (usize, usize) {
    let word = |o: usize| u32::from_be_bytes(dtb[o..o + 4].try_into().unwrap());
    let (off_struct, off_strings) = (word(8) as usize, word(12) as usize);
    let mut pos = off_struct;
    let mut stack: Vec<String> = Vec::new();
    loop {
        match word(pos) {
            1 => {
                let name_end = dtb[pos + 4..].iter().position(|&b| b == 0).unwrap();
                stack.push(String::from_utf8(dtb[pos + 4..pos + 4 + name_end].to_vec()).unwrap());
                pos = (pos + 4 + name_end + 1 + 3) & !3;
            }
            2 => {
                stack.pop();
                pos += 4;
            }
            3 => {
                let len = word(pos + 4) as usize;
                let nameoff = off_strings + word(pos + 8) as usize;
                let name_end = dtb[nameoff..].iter().position(|&b| b == 0).unwrap();
                let end = (pos + 12 + len + 3) & !3;
                if &dtb[nameoff..nameoff + name_end] == prop.as_bytes() && stack[1..] == *path {
                    return (pos, end);
                }
                pos = end;
            }
            4 => pos += 4,
            _ => panic!("{prop} not found under {path:?}"),
        }
    }
}

/// Replaces a property with FDT_NOP tokens, as libfdt's `fdt_nop_property` does in place.
fn nop_out(dtb: &mut [u8], path: &[&str], prop: &str) {
    let (start, end) = find_prop(dtb, path, prop);
    for w in dtb[start..end].chunks_exact_mut(4) {
        w.copy_from_slice(&4u32.to_be_bytes());
    }
}

#[test]
fn nop_tokens_are_skipped() {
    let clean = shared_tree("qemu-aarch64-virt.dtb");
    let mut dtb = clean.clone();
    // A NOP run before /'s `model` and before pl011's first property (both legal per the
    // spec; the first trips fdt 0.1.5's skip_current_node assert), and stdout-path removed.
    nop_out(&mut dtb, &[], "dma-coherent");
    nop_out(&mut dtb, &["pl011@9000000"], "clock-names");
    nop_out(&mut dtb, &["chosen"], "stdout-path");
    let a = discover_at(&clean, FAR, NO_IMAGE).unwrap();
    let b = discover_at(&dtb, FAR, NO_IMAGE).unwrap();
    assert_eq!(b.console_source, ConsoleSource::FirstUart);
    assert_eq!(a.console, b.console);
    assert_eq!(a.model, b.model);
    assert_eq!(&*a.virtio, &*b.virtio);
}

#[test]
fn malformed_properties_name_node_and_property() {
    let mut dtb = shared_tree("qemu-riscv64-virt.dtb");
    // Shorten the console's `reg` from 16 to 13 bytes: same padded size, so the token
    // stream stays intact and only the property is wrong.
    let (start, _) = find_prop(&dtb, &["soc", "serial@10000000"], "reg");
    dtb[start + 4..start + 8].copy_from_slice(&13u32.to_be_bytes());
    let e = discover_at(&dtb, FAR, NO_IMAGE).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "device tree node /soc/serial@10000000: property `reg` malformed: \
         length is not a whole number of entries"
    );

    let mut dtb = shared_tree("qemu-riscv64-virt.dtb");
    let (start, _) = find_prop(&dtb, &["soc", "virtio_mmio@10008000"], "interrupt-parent");
    dtb[start + 12..start + 16].copy_from_slice(&0x77u32.to_be_bytes());
    let e = discover_at(&dtb, FAR, NO_IMAGE).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "device tree node /soc/virtio_mmio@10008000: property `interrupt-parent` malformed: \
         does not name an interrupt controller with 1-4 #interrupt-cells"
    );

    let mut dtb = shared_tree("qemu-aarch64-virt.dtb");
    let (start, _) = find_prop(&dtb, &["psci"], "method");
    dtb[start + 12..start + 15].copy_from_slice(b"svc");
    let e = discover_at(&dtb, FAR, NO_IMAGE).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "device tree node /psci: property `method` malformed: expected \"smc\" or \"hvc\""
    );
}

#[test]
fn structural_errors_have_clear_messages() {
    let dtb = shared_tree("qemu-morello-virt.dtb");
    let msg = |blob: &[u8]| format!("{}", discover_at(blob, FAR, NO_IMAGE).unwrap_err());
    assert_eq!(
        msg(&[]),
        "device tree truncated: only 0 bytes, less than the 40-byte FDT header"
    );
    assert_eq!(
        msg(&dtb[..20]),
        "device tree truncated: only 20 bytes, less than the 40-byte FDT header"
    );
    assert_eq!(
        msg(&dtb[..4000]),
        "device tree truncated: header says 7215 bytes but only 4000 available"
    );
    assert_eq!(
        msg(&[0u8; 64]),
        "not a device tree: magic is 0x00000000, expected 0xd00dfeed"
    );

    let patched = |off: usize, value: u32| {
        let mut b = dtb.clone();
        b[off..off + 4].copy_from_slice(&value.to_be_bytes());
        msg(&b)
    };
    assert!(patched(20, 15).starts_with("unsupported device tree version 15"));
    assert!(
        patched(8, 0x2000).starts_with("device tree structure block at offset 0x2000"),
        "{}",
        patched(8, 0x2000)
    );
    assert_eq!(
        patched(8, 0x3a),
        "structure block offset 0x3a is not 4-byte aligned"
    );
    // A token in the middle of the root's first property name offset... simpler: the first token.
    assert_eq!(
        patched(0x38, 7),
        "device tree structure: unknown token 0x7 at offset 0x38"
    );
    assert_eq!(patched(0x38, 2), "device tree structure broken at offset 0x38: FDT_END_NODE without a matching FDT_BEGIN_NODE");
    // The last token (FDT_END at struct end - 4) turned into a NOP: the block just ends.
    let end = 0x38 + 0x1a44 - 4;
    assert_eq!(
        patched(end, 4),
        format!(
            "device tree structure block ends at offset {:#x} without an FDT_END token",
            end + 4
        )
    );
    // Memory reservation terminator overwritten, and the block then runs into the structure
    // block which is not all-zero: no terminator before the end.
    let mut b = dtb.clone();
    b[0x28..0x38].fill(0xff);
    for w in b[0x38..].chunks_exact_mut(16) {
        if w.iter().all(|&x| x == 0) {
            w.fill(1);
        }
    }
    assert_eq!(
        msg(&b),
        "device tree memory reservation block at 0x28 has no terminating entry"
    );
}

#[test]
fn probe_header_checks_magic_size_version_alignment() {
    let dtb = shared_tree("qemu-morello-virt.dtb");
    const BASE: u64 = 0x4000_0000;
    let mem = |blob: Vec<u8>| {
        move |a: u64| {
            let o = usize::try_from(a - BASE).unwrap();
            blob.get(o..o + 4)
                .map_or(0, |w| u32::from_be_bytes(w.try_into().unwrap()))
        }
    };
    assert_eq!(probe_header(mem(dtb.clone()), BASE, 1 << 20), Ok(7215));
    assert_eq!(
        probe_header(mem(dtb.clone()), BASE, 4096),
        Err(DtError::TooLarge {
            totalsize: 7215,
            max: 4096
        })
    );
    assert_eq!(
        probe_header(mem(dtb.clone()), 0, 1 << 20),
        Err(DtError::NullAddress)
    );
    assert_eq!(
        probe_header(mem(dtb.clone()), BASE + 2, 1 << 20),
        Err(DtError::Misaligned {
            what: "device tree address",
            value: BASE + 2,
            align: 4
        })
    );
    assert_eq!(
        probe_header(|_| 0, u64::MAX - 3, 1 << 20),
        Err(DtError::AddressOverflow { addr: u64::MAX - 3 })
    );
    assert_eq!(
        probe_header(mem(vec![0; 64]), BASE, 1 << 20),
        Err(DtError::BadMagic { found: 0 })
    );
    let mut old = dtb.clone();
    old[20..24].copy_from_slice(&15u32.to_be_bytes());
    assert_eq!(
        probe_header(mem(old), BASE, 1 << 20),
        Err(DtError::BadVersion {
            version: 15,
            last_comp_version: 16
        })
    );
    let mut tiny = dtb.clone();
    tiny[4..8].copy_from_slice(&8u32.to_be_bytes());
    assert!(matches!(
        probe_header(mem(tiny), BASE, 1 << 20),
        Err(DtError::BadHeader {
            field: "totalsize",
            ..
        })
    ));
}

#[test]
fn banner_mentions_everything() {
    let dtb = shared_tree("morello-sdp.dtb");
    let p = discover_at(&dtb, FAR, r(0xe000_0000, 0xe020_0000)).unwrap();
    let banner = format!("{p}");
    for needle in [
        "machine   Arm Morello System Development Platform",
        "cpus      4 (hwid 0x0 0x100 0x10000 0x10100)",
        "memory    [0x80000000..0xff000000) (2032 MiB)",
        "reserved  [0xff000000..0x100000000) reserved-memory secure-firmware@ff000000",
        "reserved  [0xe0000000..0xe0200000) capmon image",
        "usable    [0x80000000..0xe0000000)",
        "console   \"arm,pl011\" at [0x2a400000..0x2a401000) irq 95 clock 50000000 Hz, from /chosen/stdout-path",
        "irq       GICv3 distributor [0x30000000..0x30010000) redistributors [0x300c0000..0x30140000)",
        "timer     frequency from CNTFRQ, phys INTID 30, virt INTID 27, hyp INTID 26",
        "psci      smc",
        "virtio    0 mmio transports",
    ] {
        assert!(banner.contains(needle), "banner lacks {needle:?}:\n{banner}");
    }
    let riscv = discover_at(&shared_tree("qemu-riscv64-virt.dtb"), FAR, NO_IMAGE).unwrap();
    let banner = format!("{riscv}");
    for needle in [
        "console   \"ns16550a\" at [0x10000000..0x10000100) reg-shift 0 io-width 1 irq 10 clock 3686400 Hz",
        "irq       PLIC [0xc000000..0xc600000) with 95 sources",
        "clint     [0x2000000..0x2010000)",
        "timer     10000000 Hz",
        "poweroff  write 0x5555 to 0x100000",
        "virtio    8 mmio transports in [0x10001000..0x10009000)",
    ] {
        assert!(banner.contains(needle), "banner lacks {needle:?}:\n{banner}");
    }
}

/// A handed-over initrd is found, reserved (so no heap or cVM memory is carved from it) and
/// reported; one that runs past RAM is refused with its range and not reserved.
#[test]
fn initrd_from_chosen_is_checked_and_reserved() {
    let good = include_bytes!("testdata/initrd.dtb");
    let p = discover_at(good, FAR, NO_IMAGE).unwrap();
    let initrd = sz(0x8400_0000, 0x1000);
    assert_eq!(p.initrd, Ok(Some(initrd)));
    assert!(p
        .reserved
        .iter()
        .any(|r| r.range == initrd && r.why == ReservedKind::Initrd));
    assert!(p.usable.iter().all(|u| !u.overlaps(&initrd)));
    assert_eq!(
        p.usable.iter().map(|u| u.size()).sum::<u64>(),
        0x800_0000 - 0x1000
    );

    let bad = include_bytes!("testdata/initrd-bad.dtb");
    let p = discover_at(bad, FAR, NO_IMAGE).unwrap();
    assert_eq!(
        p.initrd.map_err(|e| format!("{e}")),
        Err("the initrd [0x84000000..0x88001000) is not inside one memory bank".into())
    );
    assert!(p.reserved.iter().all(|r| r.why != ReservedKind::Initrd));

    // The QEMU trees carry no initrd.
    for name in SHARED_TREES {
        let tree = shared_tree(name);
        if let Ok(p) = discover_at(&tree, FAR, NO_IMAGE) {
            assert_eq!(p.initrd, Ok(None), "{name}");
        }
    }
}
