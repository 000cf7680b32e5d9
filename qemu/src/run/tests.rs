//! The boot tests `capmon-run test` runs: a readable table of what each QEMU board must print.
//!
//! To add a test, add a [`TestSpec`] to [`all_tests`]. A spec names a board, optionally a
//! manifest (`cvms/manifests/<name>.dts`: its cVMs and bundle are built into an image variant
//! of their own), bootargs, extra QEMU arguments, device-tree edits, and a script of expected
//! lines (in order, or a group in any order), lines to type and forbidden lines, ending by
//! default with the monitor powering off with `(pass)`. A test may also give the virtio-blk
//! disk's initial contents and the exact bytes it must hold after QEMU exits:
//!
//! ```ignore
//! TestSpec::new("qemu-aarch64-demo", "qemu-aarch64")
//!     .manifest("demo")
//!     .append("log=info")
//!     .expect_any_order(&[r"^\[hello\] hello from hello: ", r"^\[clock\] clock: .*: ok$"])
//!     .forbid(r"^cvm \S+ fault: ")
//!     .time_limit(90)
//! ```

use std::time::Duration;

use super::boards::Arch;
use super::dtb::DtsEdit;
use super::expect::{End, Script, Step, Verdict};

/// Default wall-clock limit for one test: TCG on a loaded 2-core machine is slow-ish.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Forbidden in every test unless a test clears it: any panic of the monitor.
pub const DEFAULT_FORBID: &str = "(?i)panic";

/// One boot test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSpec {
    pub name: String,
    /// Board name from [`super::boards::BOARDS`].
    pub board: &'static str,
    /// Image variant: the board embeds the bundle of `cvms/manifests/<name>.dts`.
    pub manifest: Option<String>,
    /// Bootargs, passed with `-append`.
    pub append: Option<String>,
    /// Extra QEMU arguments, after the standard ones.
    pub qemu_args: Vec<String>,
    /// If not empty, the machine's own DTB is dumped, edited like this and passed with `-dtb`.
    pub dtb_edits: Vec<DtsEdit>,
    pub script: Script,
    pub time_limit: Duration,
    /// The virtio-blk disk's initial contents (its size is their length); default: a blank
    /// disk of `runner::DISK_BYTES`.
    pub disk_image: Option<Vec<u8>>,
    /// What the disk must hold, byte for byte, after a run that passed.
    pub disk_expected: Option<Vec<u8>>,
    /// A guest UDP port QEMU's user network forwards a free host port on 127.0.0.1 to.
    pub udp_forward: Option<u16>,
    /// Boot the image without a bundle and pass this bundle as an initrd (`manifest` stays
    /// `None`).
    pub initrd: Option<InitrdBundle>,
    /// The initrd's bundle file, once the harness has built it.
    pub initrd_file: Option<std::path::PathBuf>,
    /// Put the `initrd` bundle on the virtio-blk disk (from sector 0) instead.
    pub bundle_on_disk: bool,
}

/// Where an initrd test's bundle comes from.
#[derive(Clone, Debug)]
pub enum InitrdBundle {
    /// The bundle of `cvms/manifests/<name>.dts`, built as for an embedded one.
    Builtin(String),
    /// Any manifest with prebuilt images, as a user outside the repository has them: the
    /// function writes them into the empty directory it is given (the third argument) for the
    /// board's architecture, using the workspace root only to find the SDK, and returns the
    /// manifest's path; the images are next to it.
    External(fn(&std::path::Path, Arch, &std::path::Path) -> Result<std::path::PathBuf, String>),
    /// A bundle file as is (e.g. a broken one), written by the function into the directory it
    /// is given; returns its path.
    Raw(fn(&std::path::Path) -> Result<std::path::PathBuf, String>),
}

// By hand: function pointers are compared by address, which is all a test table needs.
impl PartialEq for InitrdBundle {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (InitrdBundle::Builtin(a), InitrdBundle::Builtin(b)) => a == b,
            (InitrdBundle::External(a), InitrdBundle::External(b)) => std::ptr::fn_addr_eq(*a, *b),
            (InitrdBundle::Raw(a), InitrdBundle::Raw(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}
impl Eq for InitrdBundle {}

impl TestSpec {
    /// A test that expects nothing yet except a `(pass)` power-off and no panic.
    pub fn new(name: impl Into<String>, board: &'static str) -> TestSpec {
        TestSpec {
            name: name.into(),
            board,
            manifest: None,
            append: None,
            qemu_args: Vec::new(),
            dtb_edits: Vec::new(),
            script: Script {
                steps: Vec::new(),
                forbid: vec![DEFAULT_FORBID.to_string()],
                end: End::PowerOff(Verdict::Pass),
            },
            time_limit: DEFAULT_TIME_LIMIT,
            disk_image: None,
            disk_expected: None,
            udp_forward: None,
            initrd: None,
            initrd_file: None,
            bundle_on_disk: false,
        }
    }

    /// Boots the image without a bundle, with `bundle` on its disk from sector 0.
    pub fn disk_bundle(mut self, bundle: InitrdBundle) -> Self {
        self.initrd = Some(bundle);
        self.bundle_on_disk = true;
        self
    }

    /// Boots the image without a bundle, with `bundle` passed as an initrd.
    pub fn initrd(mut self, bundle: InitrdBundle) -> Self {
        self.initrd = Some(bundle);
        self
    }

    /// Boots with a disk holding `contents`.
    pub fn disk_image(mut self, contents: Vec<u8>) -> Self {
        self.disk_image = Some(contents);
        self
    }

    /// After QEMU exits, the disk must hold exactly `contents`.
    pub fn expect_disk(mut self, contents: Vec<u8>) -> Self {
        self.disk_expected = Some(contents);
        self
    }

    /// Builds the board image with the cVMs of `cvms/manifests/<name>.dts`.
    pub fn manifest(mut self, name: &str) -> Self {
        self.manifest = Some(name.to_string());
        self
    }

    /// Boots with these bootargs (`-append`).
    pub fn append(mut self, bootargs: &str) -> Self {
        self.append = Some(bootargs.to_string());
        self
    }

    /// Adds QEMU arguments (one word each).
    pub fn qemu_args(mut self, args: &[&str]) -> Self {
        self.qemu_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Boots with the machine's DTB changed by `edit` (edits apply in order).
    pub fn edit_dtb(mut self, edit: DtsEdit) -> Self {
        self.dtb_edits.push(edit);
        self
    }

    /// A line matching `pattern` must come next (after the previous expectation's line).
    pub fn expect(mut self, pattern: &str) -> Self {
        self.script.steps.push(Step::Expect {
            pattern: pattern.to_string(),
            at_least: None,
        });
        self
    }

    /// Lines matching each of `patterns`, in any order (each on a line of its own), after the
    /// previous expectation's line: for the interleaved output of several cVMs.
    pub fn expect_any_order(mut self, patterns: &[&str]) -> Self {
        self.script.steps.push(Step::ExpectAnyOrder {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
        });
        self
    }

    /// Like [`expect`](Self::expect), and capture group 1 must be a number ≥ `min`.
    pub fn expect_at_least(mut self, pattern: &str, min: u64) -> Self {
        self.script.steps.push(Step::Expect {
            pattern: pattern.to_string(),
            at_least: Some(min),
        });
        self
    }

    /// Types `text` into the console once the expectations so far have matched.
    pub fn then_type(mut self, text: &str) -> Self {
        self.script.steps.push(Step::Type(text.to_string()));
        self
    }

    /// Forwards a free host UDP port to the guest's `guest_port` and, once the expectations so
    /// far have matched, sends `datagrams` datagrams there, each of which must come back
    /// unchanged.
    pub fn then_udp_echo(mut self, guest_port: u16, datagrams: u32) -> Self {
        self.udp_forward = Some(guest_port);
        self.script.steps.push(Step::UdpEcho { datagrams });
        self
    }

    /// The same test on a machine with `cores` cores (`-smp`, which replaces the board's
    /// default), named `<name>-smp<cores>`: every core must come up and run cVMs.
    pub fn on_cores(mut self, cores: u32) -> Self {
        self.name = format!("{}-smp{cores}", self.name);
        self.qemu_args
            .extend(["-smp".to_string(), cores.to_string()]);
        let noun = if cores == 1 { "runs" } else { "run" };
        self.expect_after_boot(&[&format!(
            r"^cores: {cores} {noun} cVMs \({cores} in the tree\)$"
        )])
    }

    /// Expects `patterns`, in order, where the `cores:` lines come: after the boot lines
    /// (memory, MMU, ...) the script may expect first, before any cVM's. Also relaxes what only
    /// holds on one core: device interrupts go to the boot core, and a disk request made on
    /// another core polls for its completion, so completions and interrupts no longer match
    /// one for one.
    pub fn expect_after_boot(mut self, patterns: &[&str]) -> Self {
        // (The devices' own `virtio: blk0 at …` lines come later, when the cVMs are set up.)
        const BOOT_LINES: [&str; 7] = [
            "^capmon", "^dtb", "^cpus", "^memory", "^heap", "^mmu", "^bundle",
        ];
        let at = self
            .script
            .steps
            .iter()
            .position(|step| {
                !matches!(step, Step::Expect { pattern, .. }
                    if BOOT_LINES.iter().any(|b| pattern.starts_with(b)))
            })
            .unwrap_or(self.script.steps.len());
        for (i, pattern) in patterns.iter().enumerate() {
            self.script.steps.insert(
                at + i,
                Step::Expect {
                    pattern: pattern.to_string(),
                    at_least: None,
                },
            );
        }
        for step in &mut self.script.steps {
            if let Step::Expect { pattern, at_least } = step {
                if pattern.contains("completion interrupts") {
                    *at_least = None;
                }
            }
        }
        self
    }

    /// No line may ever match `pattern`.
    pub fn forbid(mut self, pattern: &str) -> Self {
        self.script.forbid.push(pattern.to_string());
        self
    }

    /// Drops the default forbidden patterns (e.g. for a test that provokes a panic).
    pub fn clear_forbid(mut self) -> Self {
        self.script.forbid.clear();
        self
    }

    /// How the run must end (default: powering off with `(pass)`).
    pub fn ends(mut self, end: End) -> Self {
        self.script.end = end;
        self
    }

    /// Wall-clock limit in seconds.
    pub fn time_limit(mut self, secs: u64) -> Self {
        self.time_limit = Duration::from_secs(secs);
        self
    }
}

/// What a board's banner says, as regex fragments (full lines are anchored by the tests).
/// Values were checked against `-machine dumpdtb` of the QEMU each board runs on.
#[derive(Debug)]
struct Banner {
    board: &'static str,
    /// The first line after `board <name>, `.
    arch_line: &'static str,
    /// Stock boards warn that cVMs are not isolated; CHERI boards must not.
    warns_no_isolation: bool,
    dtb: &'static str,
    cpus: &'static str,
    bank: &'static str,
    console: &'static str,
    irqchip: &'static str,
    timer: &'static str,
    power: &'static str,
    virtio: &'static str,
    /// How the bad-DTB test breaks the dumped DTB, in order.
    bad_dtb: &'static [Break],
}

/// A const-friendly [`DtsEdit`] for the banner table.
#[derive(Debug)]
enum Break {
    /// Remove this node.
    Remove(&'static str),
    /// Set (node, property, value).
    Set(&'static str, &'static str, &'static str),
}

impl Break {
    fn edit(&self) -> DtsEdit {
        match *self {
            Break::Remove(node) => DtsEdit::RemoveNode(node.to_string()),
            Break::Set(node, property, value) => DtsEdit::SetProperty {
                node: node.to_string(),
                property: property.to_string(),
                value: value.to_string(),
            },
        }
    }
}

const NO_ISOLATION_WARNING: &str = r"^capmon: WARNING: no capability hardware on this board: cVMs are (NOT isolated from each other \(the MMU only keeps them out of the monitor\)|confined by PMP only \(page-granular, no capability checks\))$";

/// Arm `virt` with `-m 2048 -smp 2`: RAM at 0x40000000; the DTB QEMU passes to an ELF kernel
/// sits at the start of RAM. PL011 is SPI 1 (INTID 33); the EL2 (hypervisor) timer is PPI 10
/// (INTID 26); PSCI uses SMC because virtualization=on runs the guest at EL2.
const ARM_VIRT: Banner = Banner {
    board: "",
    arch_line: "",
    warns_no_isolation: true,
    dtb: r#"^dtb: at 0x40000000, \d+ bytes, model "linux,dummy-virt"$"#,
    cpus: r"^cpus: 2 \(hwid 0x0 0x1\)$",
    bank: r"^memory: bank \[0x40000000\.\.0xc0000000\) 2048 MiB$",
    // The console must come from /chosen/stdout-path: `(stdout-path)` or, as the monitor
    // now says, `(from /chosen/stdout-path)`.
    console: r"^console: arm,pl011 at 0x9000000, irq 33 \((from /chosen/)?stdout-path\)$",
    irqchip: r"^irqchip: arm,gic-v3 dist 0x8000000 redist 0x80a0000$",
    // QEMU 9.0+ gives -cpu max a 1 GHz generic timer (CNTFRQ_EL0); older QEMUs and other CPU
    // models use 62.5 MHz.
    timer: r"^timer: 1000000000 Hz, irq 26$",
    power: r"^psci: smc$",
    virtio: r"^virtio: 32 transports, 2 with a device$",
    // The GIC's reg cut to 3 cells (#address-cells = #size-cells = 2): no whole region left.
    // QEMU patches /memory, /chosen and /psci in a user DTB, never the GIC.
    bad_dtb: &[Break::Set("/intc@8000000", "reg", "<0x00 0x8000000 0x00>")],
};

/// RISC-V `virt` with `-bios none -m 1024 -smp 2`: the DTB address comes in a1 (stock QEMU puts
/// it 2 MiB below the end of RAM). UART0 is PLIC source 10; the test device (sifive,test1 with
/// sifive,test0 fallback) powers off.
const RISCV_VIRT: Banner = Banner {
    board: "",
    arch_line: "",
    warns_no_isolation: true,
    dtb: r#"^dtb: at 0xbfe00000, \d+ bytes, model "riscv-virtio,qemu"$"#,
    cpus: r"^cpus: 2 \(hwid 0x0 0x1\)$",
    bank: r"^memory: bank \[0x80000000\.\.0xc0000000\) 1024 MiB$",
    console: r"^console: ns16550a at 0x10000000, irq 10 \((from /chosen/)?stdout-path\)$",
    // riscv,ndev = 95 on QEMU 10's virt machine.
    irqchip: r"^irqchip: sifive,plic-1\.0\.0 at 0xc000000, 95 sources$",
    timer: r"^timer: 10000000 Hz \(clint 0x2000000\)$",
    power: r"^poweroff: sifive,test[01] at 0x100000$",
    virtio: r"^virtio: 8 transports, 2 with a device$",
    // The PLIC's reg cut to 3 cells, as on Arm.
    bad_dtb: &[Break::Set(
        "/soc/plic@c000000",
        "reg",
        "<0x00 0xc000000 0x00>",
    )],
};

/// The four QEMU boards' banners.
fn banners() -> [Banner; 4] {
    [
        Banner {
            board: "qemu-aarch64",
            arch_line: r"arch aarch64, EL2, capabilities: none",
            ..ARM_VIRT
        },
        Banner {
            board: "qemu-morello",
            arch_line: r"arch aarch64 \(morello\), EL2, capabilities: morello",
            warns_no_isolation: false,
            // CHERI QEMU (6.0-based) puts no `model` in the root node; the monitor falls back
            // to the root's compatible, which is the same "linux,dummy-virt".
            // CHERI QEMU predates QEMU 9's 1 GHz generic timer; CNTFRQ_EL0 reads 62.5 MHz.
            timer: r"^timer: 62500000 Hz, irq 26$",
            ..ARM_VIRT
        },
        Banner {
            board: "qemu-riscv64",
            arch_line: r"arch riscv64, M-mode, capabilities: none",
            ..RISCV_VIRT
        },
        Banner {
            board: "qemu-riscv64cheri",
            // The brief's `arch riscv64`, or the monitor's current `arch riscv64 (cheri)`.
            arch_line: r"arch riscv64( \(cheri\))?, M-mode, capabilities: cheri-riscv",
            warns_no_isolation: false,
            // CHERI QEMU (6.0-based) puts the DTB 16 MiB below the end of RAM, and its PLIC is
            // only "riscv,plic0" (the monitor may print its canonical sifive name) with
            // riscv,ndev = 53.
            dtb: r#"^dtb: at 0xbf000000, \d+ bytes, model "riscv-virtio,qemu"$"#,
            irqchip: r"^irqchip: (sifive,plic-1\.0\.0|riscv,plic0) at 0xc000000, 53 sources$",
            // It adds /fw-cfg itself even to a user DTB and fails with FDT_ERR_EXISTS if the
            // node is already there, so that goes first.
            bad_dtb: &[
                Break::Remove("/fw-cfg@10100000"),
                Break::Set("/soc/plic@c000000", "reg", "<0x00 0xc000000 0x00>"),
            ],
            ..RISCV_VIRT
        },
    ]
}

/// The plain boot test: the whole banner, at least 10 timer ticks, and a clean power-off.
fn boot_test(b: &Banner) -> TestSpec {
    let first = format!(
        r"^capmon \d+\.\d+\.\d+\S*: board {}, {}$",
        b.board, b.arch_line
    );
    let mut t = TestSpec::new(format!("{}-boot", b.board), b.board).expect(&first);
    t = if b.warns_no_isolation {
        t.expect(NO_ISOLATION_WARNING)
    } else {
        t.forbid("no capability hardware")
    };
    t = t
        .expect(b.dtb)
        .expect(b.cpus)
        .expect(b.bank)
        .expect(b.console)
        .expect(b.irqchip)
        .expect(b.timer)
        .expect(b.power)
        .expect(b.virtio);
    // The aarch64 boards run with the MMU on; on Morello with capability loads/stores enabled.
    t = match b.board {
        "qemu-morello" => t.expect(&format!(
            "{MMU_LINE}, capability loads/stores on \\(LC, SC\\)$"
        )),
        "qemu-aarch64" => t.expect(&format!("{MMU_LINE}$")),
        _ => t.forbid("^mmu: "),
    };
    t.expect(r"^boot: banner after \d+ ns$")
        .expect_at_least(r"^ticks: (\d+) timer interrupts at 100 Hz$", 10)
        // Built without a manifest: no bundle, so no cVMs.
        .expect(r"^cvms: none in this image$")
}

/// Bootargs reach the monitor (`-append` works with an ELF `-kernel` on both architectures).
fn bootargs_test(b: &Banner) -> TestSpec {
    TestSpec::new(format!("{}-bootargs", b.board), b.board)
        .append("log=debug ticks=20")
        .expect(r"log: level debug \(from bootargs\)")
        .expect_at_least(r"^ticks: (\d+) timer interrupts", 20)
}

/// The console reads what is typed.
fn console_input_test(b: &Banner) -> TestSpec {
    TestSpec::new(format!("{}-console-input", b.board), b.board)
        .append("echo")
        .expect(r"^console: type a line and press Enter$")
        .then_type("hello capmon\r")
        .expect(r#"^console: read line "hello capmon"$"#)
}

/// A DTB the monitor cannot use: it must say so and power off with `(fail)` (on RISC-V QEMU
/// then exits non-zero, as expected).
fn bad_dtb_test(b: &Banner) -> TestSpec {
    let mut t = TestSpec::new(format!("{}-bad-dtb", b.board), b.board);
    for edit in b.bad_dtb {
        t = t.edit_dtb(edit.edit());
    }
    t.expect(r"^capmon: device tree unusable: ")
        .ends(End::PowerOff(Verdict::Fail))
}

/// The `demo` manifest (hello, clock, hello-c): every line each cVM prints, in any order
/// across cVMs (they run concurrently), the clock's verdict `ok`, no fault and a `(pass)`.
fn demo_test(board: &'static str) -> TestSpec {
    TestSpec::new(format!("{board}-demo"), board)
        .manifest("demo")
        .expect_any_order(&[
            // argv[0] is the cVM's name; the rest are the manifest's `args`.
            r"^\[hello\] hello from hello: argc=3 args=from the manifest$",
            r#"^\[hello\] hello: I am cvm 0 "hello", region \[0x[0-9a-f]+\.\.0x[0-9a-f]+\)$"#,
            r"^\[clock\] clock: tick 0 at \d+ ms$",
            r"^\[clock\] clock: tick 1 at \d+ ms$",
            r"^\[clock\] clock: tick 2 at \d+ ms$",
            r"^\[clock\] clock: tick 3 at \d+ ms$",
            r"^\[clock\] clock: tick 4 at \d+ ms$",
            r"^\[clock\] clock: mean interval \d+\.\d ms$",
            r"^\[clock\] clock: slept 5 x 20 ms, elapsed \d+ ms: ok$",
            r"^\[hello-c\] hello from C: argc=1, 6 \* 7 = 42$",
        ])
        .forbid(r"^cvm \S+ fault: ")
        .forbid("TOO SHORT")
}

/// The attack cVMs (`attacks` manifest): each started (its `trying` line) and was stopped by
/// the monitor with a fault report naming it, the right cause and the capability (or, on
/// stock riscv64, the PMP fault); `privileged` was restarted once and stopped again;
/// `bad-hostcall-ptr` saw both pointers refused; `steady` kept running to the end. No attack
/// may succeed; since every attacker faulted as its manifest `expect`s, the verdict is `(pass)`.
fn attacks_test(board: &'static str) -> TestSpec {
    // (attack, the cause its fault report must give) per board.
    let causes: [(&str, &str); 6] = match board {
        "qemu-morello" => [
            (
                "read-monitor",
                r"capability bounds fault .* capability DDC tag=1",
            ),
            (
                "write-other",
                r"capability bounds fault .* capability DDC tag=1",
            ),
            // A far jump makes PCC unrepresentable: QEMU reports tag, not bounds.
            (
                "jump-out",
                r"capability (tag|bounds) fault .* capability PCC tag=1",
            ),
            ("forge-cap", r"capability tag fault "),
            ("privileged", r"undefined or privileged instruction "),
            ("spin", r"time budget exhausted "),
        ],
        "qemu-riscv64cheri" => [
            (
                "read-monitor",
                r"length \(bounds\) violation .* capability DDC tag=1",
            ),
            (
                "write-other",
                r"length \(bounds\) violation .* capability DDC tag=1",
            ),
            (
                "jump-out",
                r"length \(bounds\) violation .* capability PCC tag=1",
            ),
            ("forge-cap", r"tag violation .* capability c\d+ tag=0"),
            ("privileged", r"undefined or privileged instruction "),
            ("spin", r"time budget exhausted "),
        ],
        // Stock riscv64: PMP stops them; forge-cap's capability load is an unknown opcode.
        _ => [
            ("read-monitor", r"load access fault "),
            ("write-other", r"store access fault "),
            ("jump-out", r"instruction access fault "),
            ("forge-cap", r"undefined or privileged instruction "),
            ("privileged", r"undefined or privileged instruction "),
            ("spin", r"time budget exhausted "),
        ],
    };
    let mut group: Vec<String> = Vec::new();
    for (name, cause) in causes {
        group.push(format!(r"^\[{name}\] {name}: trying "));
        group.push(format!(r"^cvm {name} fault: {cause}"));
    }
    group.push(r"^cvm privileged: restarting \(1 of 1\)$".into());
    group.push(r"^\[bad-hostcall-ptr\] bad-hostcall-ptr: refused: -1 -1$".into());
    group.push(r"^\[steady\] steady: done, still alive$".into());
    let group: Vec<&str> = group.iter().map(String::as_str).collect();
    let mut t = TestSpec::new(format!("{board}-attacks"), board).manifest("attacks");
    if board == "qemu-morello" {
        // The attacks run under the MMU: capability faults must still win over the page tables.
        t = t.expect(MMU_LINE);
    }
    t.expect_any_order(&group)
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm (steady|bad-hostcall-ptr) fault: ")
        .ends(End::PowerOff(Verdict::Pass))
        .time_limit(90)
}

/// The CP_File demo (`ipc` manifest, CHERI boards): the producer's messages arrive in order
/// through the shared buffer, the run-time export is read and then revoked (capabilities
/// counted), a later import is refused, the C consumer reads the last message; the stream
/// pipeline delivers every byte to the sink (checksum matches); no fault.
fn ipc_test(board: &'static str) -> TestSpec {
    let mut group: Vec<String> = (1..=8)
        .map(|i| format!(r"^\[consumer\] consumer: message {i} of 8$"))
        .collect();
    group.extend(
        [
            r"^share: pool \[0x[0-9a-f]+, 0x[0-9a-f]+\): 12 capability stores of 16 slots, 1 buffers; 6 shared objects$",
            r"^\[producer\] producer: mailbox is 4096 bytes, acks 8 bytes$",
            r"^\[producer\] producer: sent 8 messages, each acknowledged$",
            r"^\[producer\] producer: exported live \(64 bytes of its own memory\)$",
            r#"^\[consumer\] consumer: live: "live: 64 bytes of the producer's own stack, exported at run time"$"#,
            r"^\[producer\] producer: revoked live: [1-9]\d* capabilities cleared$",
            r"^\[consumer\] consumer: after the revocation: import live -> Some\(Again\)$",
            r"^\[consumer\] consumer: ok$",
            r#"^\[consumer-c\] consumer-c: mailbox \(4096 bytes\) says "done: 8 messages and one run-time export"$"#,
            r"^cvm producer: exit 0$",
            r"^cvm consumer: exit 0$",
            r"^cvm consumer-c: exit 0$",
            // CP_Call: two clients call the key-value service through sealed pairs.
            r"^\[kv\] kv: serving kv-put, kv-get, kv-done$",
            r"^\[kv-client-a\] kv-client-a: 8 puts, 8 gets through CP_Call, every value right$",
            r"^\[kv-client-b\] kv-client-b: 8 puts, 8 gets through CP_Call, every value right$",
            r"^\[kv\] kv: 20 puts, 20 gets from 3 clients; done$",
            r"^\[kv-client-c\] kv-client-c: 4 puts, 4 gets through CP_Call from C, every value right$",
            r"^cvm kv-client-c: exit 0$",
            // CP_Stream from C.
            r"^\[c-sender\] stream-c: sent 10000 bytes$",
            r"^\[c-receiver\] stream-c: received 10000 bytes from C, every byte right$",
            r"^cvm c-sender: exit 0$",
            r"^cvm c-receiver: exit 0$",
            r"^cvm kv: exit 0$",
            r"^cvm kv-client-a: exit 0$",
            r"^cvm kv-client-b: exit 0$",
            // CP_Stream: source -> filter -> sink, every byte checked by the sink.
            r"^\[source\] source: sent 100000 bytes in \d+ writes, checksum [0-9a-f]{16}$",
            r"^\[filter\] filter: passed 100000 bytes, checksum out [0-9a-f]{16}$",
            r"^\[sink\] sink: 32768 bytes so far$",
            r"^\[sink\] sink: 98304 bytes so far$",
            r"^\[sink\] sink: received 100000 bytes, checksum [0-9a-f]{16}, expected [0-9a-f]{16}: match$",
            r"^cvm source: exit 0$",
            r"^cvm filter: exit 0$",
            r"^cvm sink: exit 0$",
        ]
        .map(String::from),
    );
    let group: Vec<&str> = group.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-ipc"), board)
        .manifest("ipc")
        .expect_any_order(&group)
        .forbid(r"^cvm \S+ fault: ")
        .forbid(r"failed: ")
}

/// Attacks on shared objects and revocation (`ipc-attacks`, CHERI boards): each attacker is
/// stopped with the fault its capability must give; the revocation and the exporter's
/// teardown clear copies held in a register and in another store slot; `no-permission` is
/// refused without a fault; an exporter that faults and restarts (`flaky`) has its export swept
/// from `reader` and exported again; `victim` and `steady` finish.
fn ipc_attacks_test(board: &'static str) -> TestSpec {
    let causes: [(&str, &str); 11] = if board == "qemu-morello" {
        [
            ("after-revoke", r"capability tag fault "),
            ("stashed-copy", r"capability tag fault "),
            ("cap-into-object", r"capability permission fault "),
            ("read-past-end", r"capability bounds fault "),
            ("exec-object", r"capability permission fault "),
            ("stash-own-memory", r"capability permission fault "),
            ("write-read-only", r"capability permission fault "),
            ("holder", r"capability tag fault "),
            ("reader", r"capability tag fault "),
            ("late-writer", r"capability tag fault "),
            ("past-ring", r"capability bounds fault "),
        ]
    } else {
        [
            (
                "after-revoke",
                r"tag violation .* capability c18 tag=0 perms=\[Load\]",
            ),
            (
                "stashed-copy",
                r"tag violation .* capability c28 tag=0 perms=\[Load\]",
            ),
            (
                "cap-into-object",
                r"permit store capability violation .* capability c28 tag=1 perms=\[Load,Store\] base=0x[0-9a-f]+ len=0x64",
            ),
            (
                "read-past-end",
                r"length \(bounds\) violation .* capability c28 tag=1 perms=\[Load,Store\] base=0x[0-9a-f]+ len=0x64",
            ),
            ("exec-object", r"permit execute violation .* capability c28"),
            (
                "stash-own-memory",
                r"permit store capability violation .* capability DDC",
            ),
            (
                "write-read-only",
                r"permit store violation .* capability c28 tag=1 perms=\[Load\]",
            ),
            ("holder", r"tag violation .* capability c28 tag=0"),
            (
                "reader",
                r"tag violation .* capability c28 tag=0 perms=\[Load\] base=0x[0-9a-f]+ len=0x10",
            ),
            (
                "late-writer",
                r"tag violation .* capability c\d+ tag=0 perms=\[Load,Store\] base=0x[0-9a-f]+ len=0x100",
            ),
            (
                "past-ring",
                r"length \(bounds\) violation .* capability c\d+ tag=1 perms=\[Load,Store\] base=0x[0-9a-f]+ len=0x80",
            ),
        ]
    };
    let mut group: Vec<String> = Vec::new();
    for (name, cause) in causes {
        group.push(format!(r"^\[{name}\] {name}: trying "));
        group.push(format!(r"^cvm {name} fault: {cause}"));
    }
    group.push(r"^\[victim\] victim: revoked bait: [2-9]\d* capabilities cleared$".into());
    group.push(
        r"^share: cvm victim: its memory is revoked: [1-9]\d* capabilities cleared in other cVMs$"
            .into(),
    );
    group.push(r"^\[no-permission\] no-permission: import bait -> Some\(Denied\), import into slot 16 -> Some\(Invalid\)$".into());
    group.push(r"^\[victim\] victim: done, still alive$".into());
    // An exporter that faults and restarts: its export is swept before its memory is reused.
    group.push(r"^cvm flaky fault: undefined or privileged instruction ".into());
    group.push(r"^cvm flaky: restarting \(1 of 1\)$".into());
    group.push(
        r"^share: cvm flaky: its memory is revoked: [1-9]\d* capabilities cleared in other cVMs$"
            .into(),
    );
    group.push(
        r#"^\[reader\] reader: re-imported page after flaky restarted: "page of flaky\.\.\."$"#
            .into(),
    );
    group.push(r"^\[steady\] steady: done, still alive$".into());
    // Streams: the receiver that revoked its ring and the one whose sender faulted go on.
    group.push(r"^\[quitter\] quitter: closed gone: [1-9]\d* capabilities cleared$".into());
    group.push(r"^\[quitter\] quitter: done, still alive$".into());
    group.push(
        r"^\[small-rx\] small-rx: the stream ended after 0 bytes \(its sender is gone\); still alive$"
            .into(),
    );
    let group: Vec<&str> = group.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-ipc-attacks"), board)
        .manifest("ipc-attacks")
        .expect_any_order(&group)
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm (steady|victim|no-permission|quitter|small-rx) fault: ")
        .forbid(r"^\[reader\] reader: import")
        .ends(End::PowerOff(Verdict::Fail))
        .time_limit(90)
}

/// Attacks on CP_Call (`call-attacks`, CHERI boards): `evil`'s entries spin past the call
/// budget, fault, try to keep the caller's return pair, and make a hostcall from inside the
/// call; each bad call is reported against `evil` (which restarts) and `client` gets
/// `Err(Fault)` (`Denied` for the hostcall) and goes on. A swapped pair, a forged pair, a call
/// with no import, a load through a sealed descriptor and a replayed return are each stopped
/// with a fault naming the attacker; `steady` finishes and the run passes.
fn call_attacks_test(board: &'static str) -> TestSpec {
    let morello = board == "qemu-morello";
    let (swap, forge, unimported, unseal, stash) = if morello {
        (
            r"capability tag fault at pc 0x[0-9a-f]+, address 0x[0-9a-f]+",
            r"capability tag fault at pc",
            r"translation fault at pc 0x0,",
            r"capability tag fault at pc",
            r"capability permission fault at pc",
        )
    } else {
        (
            r"type violation at pc .*perms=\[Load,Execute,CInvoke\]",
            r"seal violation at pc",
            r"tag violation at pc",
            r"tag violation at pc .*perms=\[Load,LoadCap,CInvoke\] base=0x[0-9a-f]+ len=0x50",
            r"permit store capability violation at pc .* capability DDC",
        )
    };
    let crash = if morello {
        r"capability bounds fault at pc 0x[0-9a-f]+, address 0x8,"
    } else {
        r"length \(bounds\) violation at pc .* capability DDC"
    };
    let lines: Vec<String> = [
        r"^\[evil\] evil: exported spin, crash, stash, chatty, bye$".to_string(),
        r"^cvm evil: fault inside a call from client$".to_string(),
        r"^cvm client: hostcall 0 refused: made by a callee's code \(pc 0x[0-9a-f]+\) inside a call$".to_string(),
        r"^\[client\] client: chatty \(a hostcall inside the call; 1 = Denied\) -> Ok\(1\)$".to_string(),
        r"^cvm evil fault: call budget exhausted at pc 0x[0-9a-f]+, .*a call from client ran for over 20 ms$".to_string(),
        r"^\[client\] client: spin -> Err\(Fault\)$".to_string(),
        format!("^cvm evil fault: {crash}"),
        r"^\[client\] client: crash -> Err\(Fault\)$".to_string(),
        format!("^cvm evil fault: {stash}"),
        r"^\[client\] client: stash -> Err\(Fault\)$".to_string(),
        r"^cvm evil: restarting \(3 of 3\)$".to_string(),
        r"^\[client\] client: bye -> Ok\(0\)$".to_string(),
        r"^\[client\] client: every bad call failed and the client went on: ok$".to_string(),
        r"^cvm evil: exit 0$".to_string(),
        format!("^cvm swap fault: {swap}"),
        format!("^cvm forge fault: {forge}"),
        format!("^cvm unimported fault: {unimported}"),
        format!("^cvm unseal fault: {unseal}"),
        r"^\[replay\] replay: echo\(41\) = 42; now returning again$".to_string(),
        r"^cvm replay fault: undefined or privileged instruction at pc".to_string(),
        r"^cvm other: exit 0$".to_string(),
        r"^cvm steady: exit 0$".to_string(),
    ]
    .into();
    let group: Vec<&str> = lines.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-call-attacks"), board)
        .manifest("call-attacks")
        .expect_any_order(&group)
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm (steady|client|other) fault: ")
        .ends(End::PowerOff(Verdict::Pass))
        .time_limit(120)
}

/// Stock aarch64 has no capabilities, but the MMU keeps EL0 out of the monitor's memory: the
/// `read-monitor` attack takes a stage-1 permission fault, reported as a contained cVM fault
/// (the monitor carries on and `steady` finishes).
fn monitor_guard_test() -> TestSpec {
    TestSpec::new("qemu-aarch64-monitor-guard", "qemu-aarch64")
        .manifest("monitor-guard")
        .expect(MMU_LINE)
        .expect_any_order(&[
            r"^\[read-monitor\] read-monitor: trying ",
            r"^cvm read-monitor fault: permission fault at pc 0x[0-9a-f]+, address 0x40200000",
            r"^\[steady\] steady: done, still alive$",
        ])
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm steady fault: ")
        .ends(End::PowerOff(Verdict::Pass))
        .time_limit(60)
}

/// The boot line of the aarch64 boards' MMU set-up (VHE host, page tables, caches on).
const MMU_LINE: &str = r"^mmu: on, EL2&0 \(VHE\), 4 KiB pages, \d+-bit PA: \d+ MiB RAM write-back \(\d+ MiB for cVMs, EL0\), \d+ KiB devices nGnRE, \d+ tables";

/// Bytes per disk sector.
const SECTOR: usize = 512;

/// A disk of `size` bytes holding the record log of `cvms/disk-log` (written out again here,
/// independently, so a format slip on either side shows): sector 0 = `CAPMONLG` and the record
/// count (u64 LE), then 64-byte NUL-padded records from byte 512.
pub fn log_image(size: usize, records: &[String]) -> Vec<u8> {
    let mut image = vec![0u8; size];
    image[..8].copy_from_slice(b"CAPMONLG");
    image[8..16].copy_from_slice(&(records.len() as u64).to_le_bytes());
    for (i, text) in records.iter().enumerate() {
        let at = SECTOR + 64 * i;
        image[at..at + text.len()].copy_from_slice(text.as_bytes());
    }
    image
}

/// The `disk` manifest: the logger finds the 2 records the host wrote, appends 3, and the
/// reader, whose grant is read-only, sees 5 and is refused a write. The disk must then hold
/// exactly the 5-record log.
fn disk_test(board: &'static str) -> TestSpec {
    let host: Vec<String> = (0..2).map(|i| format!("record {i} from host")).collect();
    let mut all = host.clone();
    all.extend((2..5).map(|i| format!("record {i} from logger")));
    let size = usize::try_from(super::qemu::DISK_BYTES).expect("1 MiB fits in memory");
    TestSpec::new(format!("{board}-disk"), board)
        .manifest("disk")
        .disk_image(log_image(size, &host))
        .expect_disk(log_image(size, &all))
        .expect(r"^virtio: blk0 at 0x[0-9a-f]+: 2048 sectors \(1024 KiB\), virtio-mmio v[12].*, irq \d+$")
        .expect(r"^cvm logger: disk grant blk0 sectors \[0\.\.2048\) read-write$")
        .expect(r"^cvm reader: disk grant blk0 sectors \[0\.\.2048\) read-only$")
        .expect(r"^\[logger\] disk-log: had 2 records, now 5$")
        .expect(r"^\[reader\] reader: the log has 5 records$")
        .expect(r"^\[reader\] reader: write refused: -4$")
        .expect(r"^cvms: all 2 ended$")
        // Completions come through the interrupt: every one on the boot core, which takes the
        // device interrupts; a request made on the other core polls, so not one for one.
        .expect_at_least(
            r"^virtio: blk0: 6 requests \(\d+ direct\), (\d+) completion interrupts$",
            1,
        )
        .forbid(r"^cvm \S+ fault: ")
        .forbid("; disabled$")
        .forbid("WRITE ALLOWED")
}

/// The byte `disk-bench` writes at `offset` of its grant (`cvms/disk-log/src/bin/disk-bench.rs`).
fn bench_pattern(offset: usize) -> u8 {
    // The low byte of the mix.
    ((offset / 512) ^ (offset / (64 << 10) * 7) ^ offset).to_le_bytes()[0]
}

/// `disk-bench` (manifest `disk-bench`): 1 MiB written and read back in 64 KiB requests, five
/// times, on a 2 MiB disk whose grant starts at sector 1; the disk must then hold the pattern
/// there and nothing else. QEMU's virtio-mmio devices are coherent (the Arm trees say `dma-coherent`,
/// the RISC-V ones nothing, which is coherent there) and the cVM's buffer is 64-byte aligned,
/// so every request hands the device the cVM's buffer itself.
fn disk_bench_test(board: &'static str) -> TestSpec {
    let coherence = if board.contains("riscv") {
        "architecture default"
    } else {
        "device tree"
    };
    let size = 2 << 20;
    let mut expected = vec![0u8; size];
    for (i, b) in expected[SECTOR..SECTOR + (1 << 20)].iter_mut().enumerate() {
        *b = bench_pattern(i);
    }
    TestSpec::new(format!("{board}-disk-bench"), board)
        .manifest("disk-bench")
        .disk_image(vec![0u8; size])
        .expect_disk(expected)
        .expect(&format!(
            r"^virtio: blk0 at 0x[0-9a-f]+: 4096 sectors \(2048 KiB\), .*, DMA coherent \({coherence}\), irq \d+$"
        ))
        .expect(r"^\[disk-bench\] disk-bench: pass 4: write \d+ ns, read \d+ ns$")
        .expect(r"^\[disk-bench\] bench: disk-write 1048576 bytes in \d+ ns$")
        .expect(r"^\[disk-bench\] bench: disk-read 1048576 bytes in \d+ ns$")
        .expect(r"^\[disk-bench\] disk-bench: verified$")
        .expect_at_least(
            r"^virtio: blk0: 160 requests \(160 direct\), (\d+) completion interrupts$",
            160,
        )
        .forbid(r"^cvm \S+ fault: ")
        .forbid("; disabled$")
}

/// The `net` manifest: `net-ping` pings `udp-echo` and exchanges UDP datagrams with it through
/// the monitor's switch (both print what they did), then the harness sends datagrams from the
/// host through QEMU's user network to the forwarded port, and each must come back unchanged.
/// udp-echo serves on, so QEMU is stopped once everything matched.
fn net_test(board: &'static str) -> TestSpec {
    TestSpec::new(format!("{board}-net"), board)
        .manifest("net")
        .expect(r"^virtio: net0 at 0x[0-9a-f]+: mac 52:54:00:12:34:56, link up, ")
        .expect(r"^cvm udp-echo: net grant net0 mac 52:54:00:c0:ff:15$")
        .expect(r"^cvm net-ping: net grant net0 mac 52:54:00:c0:ff:16$")
        .expect_any_order(&[
            r"^\[udp-echo\] udp-echo: listening on 10\.0\.2\.15:7, mac 52:54:00:c0:ff:15$",
            r"^\[net-ping\] net-ping: icmp reply from 10\.0\.2\.15 seq=1$",
            r"^\[net-ping\] net-ping: icmp reply from 10\.0\.2\.15 seq=5$",
            r"^\[net-ping\] bench: udp-echo-round-trip median ",
            r"^\[net-ping\] net-ping: ok$",
            r"^cvm net-ping: exit 0$",
        ])
        .then_udp_echo(7, 20)
        .forbid(r"^cvm \S+ fault: ")
        .forbid("; disabled$")
        .forbid(r"^\[net-ping\] net-ping: .*(error|timed out|wrong|failed)")
        .ends(End::KillWhenDone)
}

/// The `regs` manifest: the `regs` cVM fills every general-purpose register it may (distinct
/// tagged capabilities derived from DDC on the CHERI boards, distinct integers on the stock
/// ones), makes a null hostcall, a `yield` (the partner is runnable, so the monitor switches
/// to it and back) and `clock_ns`, and reads every register back: the hostcall ABI preserves
/// them all, capabilities whole. A capability instruction is undefined on a stock core, so
/// the stock boards get `regs-plain` (the same cVMs, `args = "plain"`) instead.
fn regs_test(board: &'static str) -> TestSpec {
    let manifest = match board {
        "qemu-morello" | "qemu-riscv64cheri" => "regs",
        _ => "regs-plain",
    };
    TestSpec::new(format!("{board}-regs"), board)
        .manifest(manifest)
        .expect_any_order(&[
            r"^\[regs\] regs: \d+ registers checked across null hostcall, yield, clock: all preserved$",
            r"^cvm regs: exit 0$",
            r"^\[regs-partner\] regs: partner done after \d+ yields$",
            r"^cvm regs-partner: exit 0$",
        ])
        .forbid(r"^cvm \S+ fault: ")
        .forbid(r"^\[regs\] regs: .*changed")
}

/// The `scrub` manifest: `noisy` exits with every register it can write holding a pattern
/// (FP/SIMD and FP status, thread pointer, general registers); `probe`, started next on the
/// same core, finds every register at its reset value (zero, or its own argc/argv/sp).
fn scrub_test(board: &'static str) -> TestSpec {
    let spec = TestSpec::new(format!("{board}-scrub"), board)
        .manifest("scrub")
        .expect(r"^\[noisy\] scrub: noisy: filling every register with 0x4e015e0000000000$")
        .expect(r"^cvm noisy: exit 0$");
    // CHERI boards: every capability register's tag too (noisy left tagged capabilities in
    // all it could write), only the documented default capabilities tagged.
    let spec = match board {
        "qemu-morello" => spec.expect(r"^\[probe\] scrub: probe: 36 capability tags read: only its own c3, CSP, DDC, CTPIDR_EL0 tagged, CID_EL0 null$"),
        "qemu-riscv64cheri" => spec.expect(r"^\[probe\] scrub: probe: 32 capability tags read: only its own c4, c13, DDC tagged$"),
        _ => spec,
    };
    spec.expect(r"^\[probe\] scrub: probe: \d+ registers read, checksum 0x[0-9a-f]{16}: saw nothing of noisy$")
        .expect(r"^cvm probe: exit 0$")
        .forbid(r"^cvm \S+ fault: ")
        .forbid(r"^\[probe\] scrub: probe: .*(pattern|reset value|not given|lost the tag|recorded no|CID_EL0 =)")
}

/// The `nested` manifest: `outer` serves `middle` and `sibling`, `middle` serves `inner`,
/// `nest-probe` and `read-parent`. Every line a child prints reaches the console through each
/// parent above it, prefixed by each (who served whom); the probe's forged handle and foreign
/// buffer are refused; `read-parent`'s read of its parent's memory is stopped and reported by
/// its full path, `middle` hears of it and everything else finishes; `crasher` faults and
/// takes its child `orphan` down with it. Both faults are expected: the verdict is `(pass)`.
fn nested_test(board: &'static str) -> TestSpec {
    let cause = match board {
        "qemu-morello" => r"capability bounds fault .* capability DDC tag=1",
        "qemu-riscv64cheri" => r"length \(bounds\) violation .* capability DDC tag=1",
        _ => r"load access fault ",
    };
    let via_middle = r"^\[outer\] outer serves middle: ";
    let lines = [
        r"^\[outer\] outer: serving 2 children$".to_string(),
        r"^\[outer\] outer: probe: handle 2 refused$".to_string(),
        format!(r"{via_middle}middle: serving 3 children$"),
        format!(r"{via_middle}middle: probe: handle 3 refused$"),
        format!(
            r"{via_middle}middle serves inner: hello from inner: argc=3 args=nested three deep$"
        ),
        format!(
            r#"{via_middle}middle serves inner: hello: I am cvm 2 "inner", region \[0x[0-9a-f]+\.\.0x[0-9a-f]+\)$"#
        ),
        r"^cvm outer/middle/inner: exit 0$".to_string(),
        format!(r"{via_middle}middle: child inner exited with 0$"),
        format!(
            r"{via_middle}middle serves nest-probe: nest-probe: child_stop\(0\) from a cVM without children: Err\(Denied\)$"
        ),
        format!(
            r"{via_middle}middle serves nest-probe: nest-probe: console write of its parent's memory at 0x[0-9a-f]+: Err\(Fault\)$"
        ),
        format!(r"{via_middle}middle serves nest-probe: nest-probe: all refused$"),
        format!(r"{via_middle}middle: child nest-probe exited with 0$"),
        format!(
            r"{via_middle}middle serves read-parent: read-parent: trying to read its parent's memory at 0x"
        ),
        format!(r"^cvm outer/middle/read-parent fault: {cause}"),
        format!(r"{via_middle}middle: child read-parent faulted: \S"),
        format!(r"{via_middle}middle: all 3 children ended$"),
        r"^cvm outer/middle: exit 0$".to_string(),
        r"^\[outer\] outer: child middle exited with 0$".to_string(),
        r"^\[outer\] outer serves sibling: clock: slept 5 x 20 ms, elapsed \d+ ms: ok$".to_string(),
        r"^\[outer\] outer: child sibling exited with 0$".to_string(),
        r"^\[outer\] outer: all 2 children ended$".to_string(),
        r"^cvm outer: exit 0$".to_string(),
        format!(r"^cvm crasher fault: {cause}"),
        r"^cvm crasher/orphan: stopped with its parent".to_string(),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-nested"), board)
        .manifest("nested")
        .expect_any_order(&lines)
        .forbid("ATTACK SUCCEEDED")
        .forbid("SOMETHING WAS NOT REFUSED")
        .forbid(r"^cvm (outer|outer/middle|outer/middle/inner|outer/middle/nest-probe|outer/sibling) fault: ")
        .time_limit(90)
}

/// Pure-capability cVMs on a CHERI board (`cvms/manifests/purecap.dts`): `hello-pure`'s
/// audit rows (its entry registers, null DDC and capability store), its line printed through
/// capability buffers, `null-ddc` stopped by its null DDC, and every bad buffer capability of
/// `pure-sealed` and `pure-forged` refused with Fault (logged with the reason) while they go on,
/// and `pure-overrun` stopped at its data capability's end, the report naming the register.
/// The two faults make the verdict `fail`.
fn purecap_test(board: &'static str) -> TestSpec {
    // Morello's ESR names no register: the monitor reads it from the faulting instruction
    // (c2, the data capability); CHERI-RISC-V's mtval names it (c13, derived from ca2).
    let (null_ddc_fault, untagged_attempt, overrun_fault) = match board {
        "qemu-morello" => (
            r"^cvm null-ddc fault: capability tag fault at pc 0x[0-9a-f]+, address 0x[0-9a-f]+, capability DDC tag=0 perms=\[\] .*EC 0x24, capability tag fault.*$",
            r"^\[pure-forged\] pure-forged: widened: refused \(Fault\)$",
            r"^cvm pure-overrun fault: capability bounds fault at pc 0x[0-9a-f]+, address 0x[0-9a-f]+, capability c2 tag=1 perms=\[Load,Store,LoadCap,StoreCap,MutableLoad,Global\] .*capability bounds fault.*$",
        ),
        _ => (
            r"^cvm null-ddc fault: tag violation at pc 0x[0-9a-f]+, no fault address, capability DDC tag=0 perms=\[\] .*tag violation via DDC\)$",
            r"^\[pure-forged\] pure-forged: untagged: refused \(Fault\)$",
            r"^cvm pure-overrun fault: length \(bounds\) violation at pc 0x[0-9a-f]+, address 0x[0-9a-f]+, capability c13 tag=1 perms=\[Load,Store,LoadCap,StoreCap,Global\] .*via c13\)$",
        ),
    };
    // Morello's data and stack capabilities also carry MutableLoad (cvm/plan.rs says why).
    let data_perms = match board {
        "qemu-morello" => "Load,Store,LoadCap,StoreCap,MutableLoad,Global",
        _ => "Load,Store,LoadCap,StoreCap,Global",
    };
    let refused = |why: &str| {
        format!(r"^cvm pure-forged: hostcall 0 refused: its buffer capability \(arg0\) {why}$")
    };
    let untagged = refused(r"is untagged \(forged, widened or not a capability\)");
    let no_load = refused("lacks Load for a buffer the monitor reads");
    let too_short = refused("does not cover the length");
    let not_owned = refused("reaches outside the caller's memory");
    TestSpec::new(format!("{board}-purecap"), board)
        .manifest("purecap")
        .expect(r"^\s+hello-pure\s+code \(PCC\)\s+0x[0-9a-f]+\s+0x1000\s+Load,Execute,Global\s+unsealed\s+purecap$")
        .expect(r"^\s+hello-pure\s+args \(arg1\)\s+0x[0-9a-f]+\s+0xb\s+Load\s+unsealed\s+purecap$")
        .expect(&format!(r"^\s+hello-pure\s+data \(arg2\)\s+0x[0-9a-f]+\s+0x1b000\s+{data_perms}\s+unsealed\s+purecap$"))
        .expect(r"^\s+hello-pure\s+cap store \(arg3\)\s+0x0\s+0x0\s+null\s+purecap$")
        .expect(&format!(r"^\s+hello-pure\s+stack \(CSP\)\s+0x[0-9a-f]+\s+0x4000\s+{data_perms}\s+unsealed\s+purecap$"))
        .expect(r"^\s+hello-pure\s+DDC\s+0x0\s+0x0\s+null\s+purecap$")
        .expect(r"^\s+hello-pure\s+sealing type\s+0x10\s+0x1\s+Seal,Unseal,Global\s+0x10\s+purecap$")
        .expect(r"^cvms: starting 7$")
        .expect_any_order(&[
            r"^\[hello-pure\] hello from hello-pure, through capabilities only$",
            r"^cvm hello-pure: exit 0$",
            r"^\[null-ddc\] null-ddc: loading my own data through an integer address \(DDC is null\)$",
            null_ddc_fault,
            r"^cvm pure-sealed: hostcall 0 refused: its buffer capability \(arg0\) is sealed$",
            r"^\[pure-sealed\] pure-sealed: a sealed buffer capability was refused \(Fault\)$",
            r"^cvm pure-sealed: exit 0$",
            &untagged,
            r"^\[pure-forged\] pure-forged: forged: refused \(Fault\)$",
            &untagged,
            untagged_attempt,
            &no_load,
            r"^\[pure-forged\] pure-forged: no Load: refused \(Fault\)$",
            &too_short,
            r"^\[pure-forged\] pure-forged: too short: refused \(Fault\)$",
            &not_owned,
            r"^\[pure-forged\] pure-forged: not its memory: refused \(Fault\)$",
            r"^cvm pure-forged: exit 0$",
            r"^\[pure-overrun\] pure-overrun: loading just past the end of my data capability$",
            overrun_fault,
            r"^\[pure-regs\] pure-regs: every capability register preserved across null hostcall, yield, clock$",
            r"^cvm pure-regs: exit 0$",
            r"^\[regs-partner\] regs: partner done after \d+ yields$",
            r"^cvm regs-partner: exit 0$",
        ])
        .expect(r"^cvms: all 7 ended$")
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm (hello-pure|pure-sealed|pure-forged|pure-regs|regs-partner) fault: ")
        .forbid("capability registers changed")
        .ends(End::PowerOff(Verdict::Fail))
}

/// The same manifest on a board without capabilities: the monitor refuses to start a pure
/// cVM (it could not run without a DDC), says why, starts nothing and powers off.
fn purecap_refused_test(board: &'static str) -> TestSpec {
    TestSpec::new(format!("{board}-purecap-refused"), board)
        .manifest("purecap")
        .expect(r#"^cvm hello-pure: not started: abi = "purecap" needs capability hardware \(Morello or CHERI-RISC-V\); this board has none"#)
        .forbid(r"^\[")
        .forbid(r"^cvms: starting")
        .ends(End::PowerOff(Verdict::Fail))
}

/// Mixed kinds nest (`nested-pure` manifest, CHERI boards): a cap-unaware parent serves two
/// pure-capability children. `hello-pure`'s capability-buffer write reaches the console through
/// the parent; each bad buffer capability `pure-forged` hands the monitor is refused before the
/// parent sees it (the parent prints only the child's own verdicts). And a pure parent
/// (`pure-waiter`) learns of its cap-unaware children's exit and fault through `child_wait`.
fn nested_pure_test(board: &'static str) -> TestSpec {
    let mut lines = vec![
        r"^\[host\] host: serving 2 children$".to_string(),
        r"^\[host\] host serves hello-pure: hello from hello-pure, through capabilities only$"
            .to_string(),
        r"^cvm host/hello-pure: exit 0$".to_string(),
        r"^\[host\] host: child hello-pure exited with 0$".to_string(),
        r"^cvm host/pure-forged: exit 0$".to_string(),
        r"^\[host\] host: all 2 children ended$".to_string(),
        r"^cvm host: exit 0$".to_string(),
        // The other way round: a pure parent waiting for its cap-unaware children.
        r"^\[pure-waiter\] pure-waiter: a pure parent waiting for its cap-unaware children$"
            .to_string(),
        r"^cvm pure-waiter/hello: exit 0$".to_string(),
        r"^\[pure-waiter\] pure-waiter: a child exited$".to_string(),
        r"^cvm pure-waiter/stray fault: ".to_string(),
        r"^\[pure-waiter\] pure-waiter: a child faulted$".to_string(),
        r"^\[pure-waiter\] pure-waiter: all children ended$".to_string(),
        r"^cvm pure-waiter: exit 0$".to_string(),
    ];
    // Morello widens a capability with SCBNDS (the tag goes); CHERI-RISC-V clears it itself.
    let untagged = if board == "qemu-morello" {
        "widened"
    } else {
        "untagged"
    };
    for (what, why) in [
        ("forged", "is untagged"),
        (untagged, "is untagged"),
        ("no Load", "lacks Load"),
        ("too short", "does not cover the length"),
        ("not its memory", "reaches outside the caller's memory"),
    ] {
        lines.push(format!(
            r"^\[host\] host serves pure-forged: pure-forged: {what}: refused \(Fault\)$"
        ));
        lines.push(format!(
            r"^cvm host/pure-forged: hostcall 0 refused: its buffer capability \(arg0\) {why}"
        ));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-nested-pure"), board)
        .manifest("nested-pure")
        .expect_any_order(&lines)
        .forbid(r"^cvm (host|host/\S+|pure-waiter|pure-waiter/hello) fault: ")
        .forbid("ATTACK SUCCEEDED")
        .forbid(r"^cvm pure-waiter: hostcall \d+ refused")
}

/// `pure-dma-tags` (CHERI boards): a disk read over a tagged capability leaves it untagged,
/// both when the device writes the cVM's buffer itself (16-byte aligned: direct) and when the
/// monitor copies the data in from its bounce buffer (8 bytes past a boundary); the monitor's
/// count shows one of each.
fn pure_dma_tags_test(board: &'static str) -> TestSpec {
    TestSpec::new(format!("{board}-pure-dma-tags"), board)
        .manifest("pure-dma-tags")
        .expect(r"^cvm pure-dma-tags: disk grant blk0 sectors \[0\.\.8\) read-only$")
        .expect(r"^\[pure-dma-tags\] pure-dma-tags: direct read: the capability's tag is gone$")
        .expect(r"^\[pure-dma-tags\] pure-dma-tags: bounced read: the capability's tag is gone$")
        .expect(r"^cvm pure-dma-tags: exit 0$")
        .expect(r"^virtio: blk0: 2 requests \(1 direct\), \d+ completion interrupts$")
        .forbid("TAG SURVIVED")
        .forbid("pure-dma-tags: FAILED")
        .forbid(r"^cvm \S+ fault: ")
}

/// The `cap-relocs` manifest: a pure image whose `__cap_relocs` table the loader applies; the
/// cVM checks the relocated data pointer (exact bounds, Load only) and function pointer (a
/// sentry over its code), prints through the first and calls through the second. A failed
/// check exits with its number (11..=17), which `exit 0` rules out.
fn cap_relocs_test(board: &'static str) -> TestSpec {
    TestSpec::new(format!("{board}-cap-relocs"), board)
        .manifest("cap-relocs")
        .expect(r"^\[cap-relocs\] hello through a relocated capability$")
        .expect(r"^\[cap-relocs\] called through a relocated function pointer \(a sentry\)$")
        .expect(r"^cvm cap-relocs: exit 0$")
        .forbid(r"^cvm \S+ fault: ")
        .forbid(r"capability relocation")
}

/// Every test, in the order `capmon-run test` runs them.
pub fn all_tests() -> Vec<TestSpec> {
    let mut tests = Vec::new();
    for b in banners().iter() {
        tests.push(boot_test(b));
        tests.push(bootargs_test(b));
        tests.push(console_input_test(b));
        tests.push(bad_dtb_test(b));
    }
    for b in banners().iter() {
        tests.push(demo_test(b.board));
    }
    // Capabilities stop the attacks on the CHERI boards, PMP on stock riscv64; stock aarch64
    // has no isolation (the attacks would succeed, as its banner warns).
    for board in ["qemu-morello", "qemu-riscv64cheri", "qemu-riscv64"] {
        tests.push(attacks_test(board));
    }
    tests.push(monitor_guard_test());
    // Stock aarch64 has no isolation between cVMs' memory: read-parent would succeed there.
    for board in ["qemu-morello", "qemu-riscv64cheri", "qemu-riscv64"] {
        tests.push(nested_test(board));
    }
    for b in banners().iter() {
        tests.push(disk_test(b.board));
        tests.push(disk_bench_test(b.board));
        tests.push(net_test(b.board));
    }
    for b in banners().iter() {
        tests.push(regs_test(b.board));
        tests.push(scrub_test(b.board));
    }
    for board in ["qemu-morello", "qemu-riscv64cheri"] {
        tests.push(purecap_test(board));
        tests.push(nested_pure_test(board));
        tests.push(pure_dma_tags_test(board));
        tests.push(cap_relocs_test(board));
    }
    for board in ["qemu-aarch64", "qemu-riscv64"] {
        tests.push(purecap_refused_test(board));
    }
    // Sharing needs capabilities (a manifest with shared objects is refused on stock boards).
    for board in ["qemu-morello", "qemu-riscv64cheri"] {
        tests.push(ipc_test(board));
        tests.push(ipc_attacks_test(board));
        tests.push(call_attacks_test(board));
    }
    tests.extend(super::initrd::boot_tests());
    // Several cores: the demos, the attacks, disk and network on four, and the stress
    // manifest (more hostcall-heavy cVMs than cores) on one, two and four.
    for b in banners().iter() {
        tests.push(demo_test(b.board).on_cores(4));
        tests.push(disk_test(b.board).on_cores(4));
        tests.push(net_test(b.board).on_cores(4));
        for cores in [1, 2, 4] {
            tests.push(smp_stress_test(b.board).on_cores(cores));
        }
    }
    for board in ["qemu-morello", "qemu-riscv64cheri", "qemu-riscv64"] {
        tests.push(attacks_test(board).on_cores(4));
    }
    // CHERI QEMU's RISC-V virt machine refuses an edited `-dtb` (it adds its fw-cfg node to
    // the tree it is given and fails on the one already there).
    for board in ["qemu-morello", "qemu-aarch64", "qemu-riscv64"] {
        tests.push(core_fails_test(board));
    }
    tests
}

/// A core that does not come up is reported and skipped; the rest go on. The tree names a
/// second CPU that cannot be started: on Arm a `reg` no CPU has (PSCI refuses it), on RISC-V a
/// hart id out of the tree's order (capmon numbers cores by hart id).
fn core_fails_test(board: &'static str) -> TestSpec {
    let (reg, why) = match board {
        "qemu-morello" | "qemu-aarch64" => ("<0x7>", r"PSCI CPU_ON answered INVALID_PARAMETERS"),
        _ => ("<0x5>", r"hart 5 is not numbered by its place in the tree"),
    };
    let mut t = demo_test(board).edit_dtb(DtsEdit::SetProperty {
        node: "/cpus/cpu@1".into(),
        property: "reg".into(),
        value: reg.into(),
    });
    t.name = format!("{board}-core-fails");
    t.expect_after_boot(&[
        &format!(r"^cores: core 1 not started: {why}; going on without it$"),
        r"^cores: 1 runs cVMs \(2 in the tree\)$",
    ])
}

/// Six hostcall-heavy workers (`smp-stress` manifest) on however many cores: each must find
/// its registers intact after every exit, yield and move (`cvms/smp/src/bin/stress.rs`).
fn smp_stress_test(board: &'static str) -> TestSpec {
    let oks: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r"^\[w{i}\] stress w{i}: 20000 rounds, 2500 hostcalls, checksum 0x[0-9a-f]+: ok$"
            )
        })
        .collect();
    let oks: Vec<&str> = oks.iter().map(String::as_str).collect();
    TestSpec::new(format!("{board}-smp-stress"), board)
        .manifest("smp-stress")
        .expect_any_order(&oks)
        .forbid("MISMATCH")
        .forbid(r"^cvm \S+ fault: ")
        .time_limit(120)
}

/// Tests whose name contains `filter` (all of them without one).
pub fn select(tests: Vec<TestSpec>, filter: Option<&str>) -> Vec<TestSpec> {
    match filter {
        Some(f) => tests.into_iter().filter(|t| t.name.contains(f)).collect(),
        None => tests,
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::run::expect::{Action, Matcher};

    #[test]
    fn every_test_is_well_formed() {
        let tests = all_tests();
        // 4 × (demo, disk, net on four cores; stress on one, two, four) + 3 attacks on four.
        assert_eq!(tests.len(), 59 + 22 + 4 + 4 * 6 + 3 + 3);
        let mut names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tests.len(), "test names are unique");
        for t in &tests {
            let board = crate::run::boards::board(t.board).expect("known board");
            assert!(board.qemu.is_some(), "{} runs on a QEMU board", t.name);
            Matcher::new(&t.script).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        }
    }

    /// The banner from the brief, as the monitor prints it on qemu-aarch64.
    const AARCH64_BANNER: &str = r#"capmon 0.1.0: board qemu-aarch64, arch aarch64, EL2, capabilities: none
capmon: WARNING: no capability hardware on this board: cVMs are NOT isolated from each other (the MMU only keeps them out of the monitor)
dtb: at 0x40000000, 1048576 bytes, model "linux,dummy-virt"
cpus: 2 (hwid 0x0 0x1)
memory: bank [0x40000000..0xc0000000) 2048 MiB
memory: reserved [0x40000000..0x40100000) device tree
memory: reserved [0x40100000..0x40140000) monitor image
memory: usable [0x40140000..0xc0000000) 2096384 KiB
console: arm,pl011 at 0x9000000, irq 33 (stdout-path)
irqchip: arm,gic-v3 dist 0x8000000 redist 0x80a0000
timer: 1000000000 Hz, irq 26
psci: smc
virtio: 32 transports, 2 with a device
heap: 1024 KiB at 0x40200000
mmu: on, EL2&0 (VHE), 4 KiB pages, 48-bit PA: 2048 MiB RAM write-back (2042 MiB for cVMs, EL0), 15828 KiB devices nGnRE, 10 tables
boot: banner after 295797 ns
ticks: 10 timer interrupts at 100 Hz
cvms: none in this image
capmon: powering off (pass)"#;

    fn run(t: &TestSpec, console: &str) -> Result<(), String> {
        let mut m = Matcher::new(&t.script)?;
        for line in console.lines() {
            for action in m.feed(line) {
                if let Action::Fail(reason) = action {
                    return Err(reason);
                }
            }
        }
        m.judge_exit(Some(0), false)
    }

    fn find(name: &str) -> TestSpec {
        all_tests()
            .into_iter()
            .find(|t| t.name == name)
            .expect("test exists")
    }

    #[test]
    fn boot_test_accepts_the_documented_banner() {
        let t = find("qemu-aarch64-boot");
        assert_eq!(run(&t, AARCH64_BANNER), Ok(()));
        let few_ticks = AARCH64_BANNER.replace("ticks: 10", "ticks: 3");
        assert!(run(&t, &few_ticks).unwrap_err().contains("want ≥ 10"));
        let one_cpu = AARCH64_BANNER.replace("cpus: 2 (hwid 0x0 0x1)", "cpus: 1 (hwid 0x0)");
        assert!(run(&t, &one_cpu).unwrap_err().contains("cpus: 2"));
        let panicked = AARCH64_BANNER.replace("psci: smc", "psci: smc\ncapmon: PANIC: oops");
        assert!(run(&t, &panicked).unwrap_err().contains("forbidden"));
    }

    #[test]
    fn morello_banner_has_no_warning() {
        let t = find("qemu-morello-boot");
        let banner = AARCH64_BANNER
            .replace(
                "board qemu-aarch64, arch aarch64,",
                "board qemu-morello, arch aarch64 (morello),",
            )
            .replace("capabilities: none", "capabilities: morello")
            .replace("timer: 1000000000 Hz", "timer: 62500000 Hz")
            .replace(
                "10 tables",
                "10 tables, capability loads/stores on (LC, SC)",
            );
        let without_warning: String = banner
            .lines()
            .filter(|l| !l.contains("WARNING"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(run(&t, &without_warning), Ok(()));
        assert!(run(&t, &banner).unwrap_err().contains("forbidden"));
    }

    #[test]
    fn riscv_banner() {
        let t = find("qemu-riscv64-boot");
        let banner = r#"capmon 0.1.0: board qemu-riscv64, arch riscv64, M-mode, capabilities: none
capmon: WARNING: no capability hardware on this board: cVMs are NOT isolated from each other (the MMU only keeps them out of the monitor)
dtb: at 0xbfe00000, 6037 bytes, model "riscv-virtio,qemu"
cpus: 2 (hwid 0x0 0x1)
memory: bank [0x80000000..0xc0000000) 1024 MiB
console: ns16550a at 0x10000000, irq 10 (stdout-path)
irqchip: sifive,plic-1.0.0 at 0xc000000, 95 sources
timer: 10000000 Hz (clint 0x2000000)
poweroff: sifive,test0 at 0x100000
virtio: 8 transports, 2 with a device
boot: banner after 93700 ns
ticks: 11 timer interrupts at 100 Hz
cvms: none in this image
capmon: powering off (pass)"#;
        assert_eq!(run(&t, banner), Ok(()));
    }

    /// The cVM part of a qemu-aarch64 `demo` run, as the monitor printed it.
    const DEMO_CONSOLE: &str = r#"cvms: starting 3
[hello] hello from hello: argc=3 args=from the manifest
[hello] hello: I am cvm 0 "hello", region [0xbff00000..0xc0000000)
cvm hello: exit 0
[clock] clock: tick 0 at 151 ms
[hello-c] hello from C: argc=1, 6 * 7 = 42
cvm hello-c: exit 0
[clock] clock: tick 1 at 173 ms
[clock] clock: tick 2 at 194 ms
[clock] clock: tick 3 at 214 ms
[clock] clock: tick 4 at 235 ms
[clock] clock: mean interval 20.9 ms
[clock] clock: slept 5 x 20 ms, elapsed 104 ms: ok
cvm clock: exit 0
cvms: all 3 ended
capmon: powering off (pass)"#;

    #[test]
    fn demo_test_accepts_a_real_run() {
        for board in [
            "qemu-aarch64",
            "qemu-morello",
            "qemu-riscv64",
            "qemu-riscv64cheri",
        ] {
            assert_eq!(run(&find(&format!("{board}-demo")), DEMO_CONSOLE), Ok(()));
        }
        let t = find("qemu-aarch64-demo");
        let short = DEMO_CONSOLE.replace("104 ms: ok", "12 ms: TOO SHORT");
        assert!(run(&t, &short).unwrap_err().contains("forbidden"));
        let no_c = DEMO_CONSOLE.replace("[hello-c] hello from C", "[hello-c] hullo");
        assert!(run(&t, &no_c).unwrap_err().contains("hello from C"));
    }

    /// The cVM part of a qemu-morello `attacks` run, fault reports shortened.
    const ATTACKS_CONSOLE: &str = r#"mmu: on, EL2&0 (VHE), 4 KiB pages, 48-bit PA: 2048 MiB RAM write-back (2042 MiB for cVMs, EL0), 15828 KiB devices nGnRE, 10 tables, capability loads/stores on (LC, SC)
cvms: starting 8
[read-monitor] read-monitor: trying to read capmon's image at 0x40200000
cvm read-monitor fault: capability bounds fault at pc 0xbff00138, address 0x40200000, capability DDC tag=1
[write-other] write-other: trying to write outside its region [0xbfe00000..0xbff00000) at 0xbff01000
cvm write-other fault: capability bounds fault at pc 0xbfe0014c, address 0xbff01000, capability DDC tag=1
[jump-out] jump-out: trying to execute its own stack at 0xbfdfff98
cvm jump-out fault: capability tag fault at pc 0xbfdfff98, address 0xbfdfff98, capability PCC tag=1
[bad-hostcall-ptr] bad-hostcall-ptr: trying console_write from capmon's image (0x40200000) and from past its region (0xbfd00000)
cvm bad-hostcall-ptr: hostcall 0 refused: a buffer reaches outside its memory (args 0x40200000, 0x10)
cvm bad-hostcall-ptr: hostcall 0 refused: a buffer reaches outside its memory (args 0xbfd00000, 0x10)
[bad-hostcall-ptr] bad-hostcall-ptr: refused: -1 -1
cvm bad-hostcall-ptr: exit 0
[forge-cap] forge-cap: trying to load a capability forged from integers (high 0xffffc00000010005, address 0x40200000) and read through it
[forge-cap] forge-cap: forged capability loaded, tag 0
cvm forge-cap fault: capability tag fault at pc 0xbfb001c8, address 0x40200000, capability DDC tag=1
[privileged] privileged: trying mrs x0, sctlr_el1 at EL0
cvm privileged fault: undefined or privileged instruction at pc 0xbfa0010c, no fault address
cvm privileged: restarting (1 of 1)
[privileged] privileged: trying mrs x0, sctlr_el1 at EL0
cvm privileged fault: undefined or privileged instruction at pc 0xbfa0010c, no fault address
[spin] spin: trying to run forever without hostcalls
[steady] steady: 0
cvm spin fault: time budget exhausted at pc 0xbf900140, no fault address; used 500 ms of 500 ms
[steady] steady: 1
[steady] steady: done, still alive
cvm steady: exit 0
cvms: all 8 ended
capmon: powering off (pass)"#;

    #[test]
    fn attacks_test_accepts_a_real_run() {
        let t = find("qemu-morello-attacks");
        assert_eq!(run(&t, ATTACKS_CONSOLE), Ok(()));
        // An unisolated board: the attack reports success, which must fail the test.
        let leaked = ATTACKS_CONSOLE.replace(
            "cvm read-monitor fault: capability bounds fault",
            "[read-monitor] read-monitor: ATTACK SUCCEEDED\ncvm read-monitor: exit 0\nx",
        );
        assert!(run(&t, &leaked).unwrap_err().contains("forbidden"));
        // A missing fault report is named when the monitor powers off.
        let lost = ATTACKS_CONSOLE.replace("cvm spin fault: time budget exhausted", "cvm spin: ?");
        assert!(run(&t, &lost)
            .unwrap_err()
            .contains("cvm spin fault: time budget exhausted"));
        // The verdict must be `pass`: every attacker faulted as its manifest expects.
        let fail = ATTACKS_CONSOLE.replace("(pass)", "(fail)");
        assert!(run(&t, &fail).unwrap_err().contains("expected `pass`"));
    }

    /// The cVM part of a qemu-aarch64 `disk` run.
    const DISK_CONSOLE: &str = r#"virtio: blk0 at 0xa003e00: 2048 sectors (1024 KiB), virtio-mmio v1 (legacy), DMA coherent (device tree), irq 79
cvm logger: disk grant blk0 sectors [0..2048) read-write
cvm reader: disk grant blk0 sectors [0..2048) read-only
cvms: starting 2
[logger] disk-log: had 2 records, now 5
cvm logger: exit 0
[reader] reader: the log has 5 records
[reader] reader: write refused: -4
cvm reader: exit 0
cvms: all 2 ended
virtio: blk0: 6 requests (2 direct), 6 completion interrupts
capmon: powering off (pass)"#;

    #[test]
    fn disk_test_accepts_a_real_run_and_knows_the_log() {
        let t = find("qemu-riscv64-disk");
        assert_eq!(run(&t, DISK_CONSOLE), Ok(()));
        // No interrupt at all: the device interrupts are not working.
        let polled = DISK_CONSOLE.replace("6 completion interrupts", "0 completion interrupts");
        assert!(run(&t, &polled).unwrap_err().contains("want ≥ 1"));
        let broken = DISK_CONSOLE.replace(
            "cvms: starting 2",
            "virtio: blk0 at 0xa003e00: no answer to a read in 2000 ms (queue stuck); disabled",
        );
        assert!(run(&t, &broken).unwrap_err().contains("forbidden"));
        let initial = t.disk_image.as_deref().expect("initial image");
        let expected = t.disk_expected.as_deref().expect("expected image");
        assert_eq!(initial.len(), 1 << 20);
        assert_eq!(&expected[..16], b"CAPMONLG\x05\0\0\0\0\0\0\0");
        assert_eq!(&expected[512 + 64..512 + 64 + 18], b"record 1 from host");
        assert_eq!(
            &expected[512 + 4 * 64..512 + 4 * 64 + 20],
            b"record 4 from logger"
        );
        assert_eq!(
            initial[512..512 + 128],
            expected[512..512 + 128],
            "the host's records stay"
        );
        let bench = find("qemu-aarch64-disk-bench");
        let image = bench.disk_expected.expect("bench image");
        assert_eq!(image.len(), 2 << 20);
        assert!(
            image[..512].iter().all(|&b| b == 0)
                && image[512 + (1 << 20)..].iter().all(|&b| b == 0)
        );
    }

    #[test]
    fn builder_and_filter() {
        let t = TestSpec::new("x", "qemu-aarch64")
            .manifest("attack")
            .qemu_args(&["-dtb", "f"])
            .clear_forbid()
            .ends(End::KillWhenDone)
            .time_limit(5);
        assert_eq!(t.manifest.as_deref(), Some("attack"));
        assert!(t.script.forbid.is_empty());
        assert_eq!(t.time_limit, Duration::from_secs(5));
        assert_eq!(select(all_tests(), Some("bad-dtb")).len(), 4);
        assert_eq!(
            select(all_tests(), Some("qemu-riscv64-")).len(),
            12 + 5 + 1 + 7 + 1
        );
        assert_eq!(select(all_tests(), Some("-scrub")).len(), 4);
        assert_eq!(select(all_tests(), Some("-core-fails")).len(), 3);
        assert_eq!(select(all_tests(), Some("-cap-relocs")).len(), 2);
        assert_eq!(select(all_tests(), Some("-net")).len(), 8);
        assert_eq!(
            select(all_tests(), Some("-smp4")).len(),
            4 * 4 + 3,
            "{:?}",
            select(all_tests(), Some("-smp4"))
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        );
        // A UDP exchange is a step after the expectations so far, with a forward to set up.
        let t = TestSpec::new("y", "qemu-aarch64")
            .expect("^ready$")
            .then_udp_echo(7, 3);
        assert_eq!(t.udp_forward, Some(7));
        let mut m = Matcher::new(&t.script).expect("compiles");
        assert!(m.start().is_empty());
        assert!(m.feed("not yet").is_empty());
        assert_eq!(m.feed("ready"), vec![Action::UdpEcho(3)]);
        assert_eq!(select(all_tests(), Some("-disk")).len(), 8 + 8 + 4);
        assert_eq!(select(all_tests(), Some("-attacks")).len(), 7 + 3);
        assert_eq!(select(all_tests(), Some("-ipc")).len(), 4);
        assert_eq!(select(all_tests(), Some("-regs")).len(), 4);
        assert!(select(all_tests(), Some("no-such")).is_empty());
    }
}
