//! The boards capmon-run knows: how to build each one's image and which QEMU boots it how.
//!
//! Everything here is data plus pure helpers (QEMU lookup and command-line building take the
//! environment as arguments), so the unit tests can check them without QEMU or cargo.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The instruction set of a board, as far as the runner cares (gdb architecture name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Aarch64,
    Riscv64,
}

impl Arch {
    /// The name `gdb-multiarch` wants for `set architecture`.
    pub fn gdb_name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv:rv64",
        }
    }
}

/// How a board's QEMU is run.
#[derive(Debug)]
pub struct QemuSpec {
    /// Binary name, e.g. `qemu-system-aarch64`.
    pub binary: &'static str,
    /// CHERI QEMU (built from CTSRD-CHERI/qemu, looked up specially) rather than the distro one.
    pub cheri: bool,
    /// Machine, memory, SMP and console arguments.
    pub machine_args: &'static [&'static str],
    /// Extra CPU arguments, kept apart so a CHERI CPU model (e.g. `-cpu rv64,Xcheri_v9=true`)
    /// can be added without touching the machine line.
    pub cpu_args: &'static [&'static str],
    /// Whether QEMU's exit status carries the monitor's verdict. True on RISC-V (the
    /// sifive_test finisher exits 0 for pass and non-zero for fail); false on Arm, where PSCI
    /// SYSTEM_OFF always exits 0 and only the console verdict line counts.
    pub exit_status_is_verdict: bool,
}

/// One board: its image and (unless it is real hardware only) its QEMU.
#[derive(Debug)]
pub struct Board {
    /// The name used on the command line and in test names.
    pub name: &'static str,
    /// Cargo package of the board binary (`boards/<name>`).
    pub package: &'static str,
    /// Name of the binary the package builds; the image is `target/<target>/release/<bin>`.
    pub bin: &'static str,
    /// Rust target triple.
    pub target: &'static str,
    pub arch: Arch,
    /// Cargo features passed with `--features` (most board crates pick their features in their
    /// own Cargo.toml, so this is usually empty).
    pub features: &'static [&'static str],
    /// None for boards that are only built (real hardware).
    pub qemu: Option<QemuSpec>,
}

const ARM_VIRT: &[&str] = &[
    "-M",
    "virt,gic-version=3,virtualization=on",
    "-m",
    "2048",
    "-smp",
    "2",
    "-nographic",
];

const RISCV_VIRT: &[&str] = &[
    "-M",
    "virt",
    "-bios",
    "none",
    "-m",
    "1024",
    "-smp",
    "2",
    "-nographic",
];

/// All boards, in the order `build` and `bench` go through them.
pub const BOARDS: &[Board] = &[
    Board {
        name: "qemu-morello",
        package: "board-qemu-morello",
        bin: "capmon-qemu-morello",
        target: "aarch64-unknown-none-softfloat",
        arch: Arch::Aarch64,
        features: &[],
        qemu: Some(QemuSpec {
            binary: "qemu-system-morello",
            cheri: true,
            machine_args: ARM_VIRT,
            cpu_args: &["-cpu", "morello"],
            exit_status_is_verdict: false,
        }),
    },
    Board {
        name: "qemu-aarch64",
        package: "board-qemu-aarch64",
        bin: "capmon-qemu-aarch64",
        target: "aarch64-unknown-none-softfloat",
        arch: Arch::Aarch64,
        features: &[],
        qemu: Some(QemuSpec {
            binary: "qemu-system-aarch64",
            cheri: false,
            machine_args: ARM_VIRT,
            cpu_args: &["-cpu", "max"],
            exit_status_is_verdict: false,
        }),
    },
    Board {
        name: "qemu-riscv64cheri",
        package: "board-qemu-riscv64cheri",
        bin: "capmon-qemu-riscv64cheri",
        target: "riscv64gc-unknown-none-elf",
        arch: Arch::Riscv64,
        features: &[],
        qemu: Some(QemuSpec {
            binary: "qemu-system-riscv64cheri",
            cheri: true,
            machine_args: RISCV_VIRT,
            // ISAv9 absolute addressing: integer addresses are absolute and checked against
            // DDC (not offset by it), as on Morello, so one loader and one set of hostcall
            // pointer checks serve both architectures (see docs/architecture.md).
            cpu_args: &["-cpu", "rv64,Xcheri_v9=true"],
            exit_status_is_verdict: true,
        }),
    },
    Board {
        name: "qemu-riscv64",
        package: "board-qemu-riscv64",
        bin: "capmon-qemu-riscv64",
        target: "riscv64gc-unknown-none-elf",
        arch: Arch::Riscv64,
        features: &[],
        qemu: Some(QemuSpec {
            binary: "qemu-system-riscv64",
            cheri: false,
            machine_args: RISCV_VIRT,
            cpu_args: &[],
            exit_status_is_verdict: true,
        }),
    },
    Board {
        name: "morello-sdp",
        package: "board-morello-sdp",
        bin: "capmon-morello-sdp",
        target: "aarch64-unknown-none-softfloat",
        arch: Arch::Aarch64,
        features: &[],
        qemu: None,
    },
];

/// Looks a board up by name.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// The names of all boards, for error messages.
pub fn board_names() -> String {
    BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// Looks a board up by name, with an error listing the known ones.
pub fn board_or_err(name: &str) -> Result<&'static Board, String> {
    board(name).ok_or_else(|| format!("unknown board `{name}`; known boards: {}", board_names()))
}

/// The parts of the environment QEMU lookup depends on, passed in so tests can fake them.
#[derive(Clone, Debug, Default)]
pub struct LookupEnv {
    /// `$CHERI_QEMU_DIR`.
    pub cheri_qemu_dir: Option<PathBuf>,
    /// `$PATH`.
    pub path: Option<OsString>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl LookupEnv {
    /// The real environment of this process.
    pub fn from_process() -> LookupEnv {
        LookupEnv {
            cheri_qemu_dir: std::env::var_os("CHERI_QEMU_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            path: std::env::var_os("PATH"),
            home: std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// A QEMU binary that was not found, with every place that was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuNotFound {
    pub binary: String,
    pub cheri: bool,
    /// Human-readable descriptions of the places looked in, in lookup order.
    pub looked_in: Vec<String>,
}

impl fmt::Display for QemuNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cheri {
            write!(f, "CHERI QEMU `{}` not found; looked in:", self.binary)?;
            for place in &self.looked_in {
                write!(f, "\n  - {place}")?;
            }
            write!(
                f,
                "\nBuild CHERI QEMU (see the README section \"CHERI QEMU\"; cheribuild's \
                 `qemu` target installs it in ~/cheri/output/sdk/bin), or set CHERI_QEMU_DIR \
                 to the directory that holds `{}`.",
                self.binary
            )
        } else {
            write!(f, "`{}` not found; looked in:", self.binary)?;
            for place in &self.looked_in {
                write!(f, "\n  - {place}")?;
            }
            let package = if self.binary.contains("riscv") {
                "qemu-system-misc"
            } else {
                "qemu-system-arm"
            };
            write!(f, "\nInstall it, e.g. `apt-get install {package}`.")
        }
    }
}

impl std::error::Error for QemuNotFound {}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

/// Finds a QEMU binary. CHERI QEMUs are looked for in `$CHERI_QEMU_DIR`, then `PATH`, then
/// `~/cheri/output/sdk/bin` (where cheribuild installs them); stock QEMUs only in `PATH`.
pub fn find_qemu(spec: &QemuSpec, env: &LookupEnv) -> Result<PathBuf, QemuNotFound> {
    let mut looked_in = Vec::new();
    if spec.cheri {
        match &env.cheri_qemu_dir {
            Some(dir) => {
                let candidate = dir.join(spec.binary);
                if is_executable(&candidate) {
                    return Ok(candidate);
                }
                looked_in.push(format!("$CHERI_QEMU_DIR: {}", candidate.display()));
            }
            None => looked_in.push("$CHERI_QEMU_DIR (not set)".to_string()),
        }
    }
    match &env.path {
        Some(path) => {
            for dir in std::env::split_paths(path) {
                // An empty PATH entry means the current directory; QEMU is never meant to come
                // from there, so skip it rather than surprise anyone.
                if dir.as_os_str().is_empty() {
                    continue;
                }
                let candidate = dir.join(spec.binary);
                if is_executable(&candidate) {
                    return Ok(candidate);
                }
            }
            looked_in.push(format!("PATH: {}", path.to_string_lossy()));
        }
        None => looked_in.push("PATH (not set)".to_string()),
    }
    if spec.cheri {
        match &env.home {
            Some(home) => {
                let candidate = home.join("cheri/output/sdk/bin").join(spec.binary);
                if is_executable(&candidate) {
                    return Ok(candidate);
                }
                looked_in.push(candidate.display().to_string());
            }
            None => looked_in.push("~/cheri/output/sdk/bin ($HOME not set)".to_string()),
        }
    }
    Err(QemuNotFound {
        binary: spec.binary.to_string(),
        cheri: spec.cheri,
        looked_in,
    })
}

/// QEMU's option parser splits on commas; a literal comma in a value is written twice.
pub fn qemu_escape(value: &str) -> String {
    value.replace(',', ",,")
}

/// What one QEMU run needs beyond the board: the image, the scratch disk and any extras.
#[derive(Clone, Debug, Default)]
pub struct RunArgs {
    pub kernel: PathBuf,
    /// Raw disk image backing the virtio-blk device.
    pub disk: PathBuf,
    /// `-append` value (bootargs), if any.
    pub append: Option<String>,
    /// UDP forwards into the guest, as `(host port on 127.0.0.1, guest port)`.
    pub udp_forwards: Vec<(u16, u16)>,
    /// Further arguments appended at the end (e.g. `-dtb file`, `-icount ...`, `-s -S`).
    pub extra: Vec<String>,
}

/// Builds QEMU's arguments (without the binary) for a board: machine, CPU, the standard
/// devices (one virtio-blk, one virtio-net, no default PCI NIC), the kernel and extras.
pub fn qemu_args(spec: &QemuSpec, run: &RunArgs) -> Vec<String> {
    let mut args: Vec<String> = spec.machine_args.iter().map(|s| s.to_string()).collect();
    args.extend(spec.cpu_args.iter().map(|s| s.to_string()));
    args.extend(
        [
            "-nic",
            "none",
            "-drive",
            &format!(
                "if=none,format=raw,file={},id=hd0",
                qemu_escape(&run.disk.to_string_lossy())
            ),
            "-device",
            "virtio-blk-device,drive=hd0",
            "-netdev",
            &netdev_user(&run.udp_forwards),
            "-device",
            "virtio-net-device,netdev=n0",
            "-kernel",
            &run.kernel.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if let Some(append) = &run.append {
        args.push("-append".to_string());
        args.push(append.clone());
    }
    args.extend(run.extra.iter().cloned());
    args
}

/// The user-network backend, with its forwards.
fn netdev_user(udp_forwards: &[(u16, u16)]) -> String {
    let mut s = String::from("user,id=n0");
    for (host, guest) in udp_forwards {
        s.push_str(&format!(",hostfwd=udp:127.0.0.1:{host}-:{guest}"));
    }
    s
}

/// Quotes one word for a POSIX shell, so printed command lines can be pasted back.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A whole command line, quoted for a shell.
pub fn shell_line<S: AsRef<str>>(program: &str, args: &[S]) -> String {
    let mut line = shell_quote(program);
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg.as_ref()));
    }
    line
}

/// The command that attaches gdb to `capmon-run debug`'s QEMU.
pub fn gdb_command(board: &Board, elf: &Path) -> String {
    format!(
        "gdb-multiarch -q {} -ex {} -ex {}",
        shell_quote(&elf.to_string_lossy()),
        shell_quote(&format!("set architecture {}", board.arch.gdb_name())),
        shell_quote("target remote :1234"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "capmon-boards-test-{}-{}",
            std::process::id(),
            name
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    fn fake_binary(dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("create dir");
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").expect("write fake binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn morello() -> &'static QemuSpec {
        board("qemu-morello")
            .and_then(|b| b.qemu.as_ref())
            .expect("morello has QEMU")
    }

    #[test]
    fn table_is_consistent() {
        for b in BOARDS {
            assert_eq!(board(b.name).map(|x| x.name), Some(b.name));
            assert_eq!(b.package, format!("board-{}", b.name));
            assert!(b.bin.starts_with("capmon-"));
        }
        assert_eq!(BOARDS.iter().filter(|b| b.qemu.is_some()).count(), 4);
        assert!(board_or_err("nope").unwrap_err().contains("qemu-aarch64"));
    }

    #[test]
    fn cheri_lookup_prefers_env_dir_then_path_then_home() {
        let root = scratch("lookup");
        let env_dir = root.join("envdir");
        let path_dir = root.join("pathdir");
        let home = root.join("home");
        let sdk = home.join("cheri/output/sdk/bin");
        let in_env = fake_binary(&env_dir, "qemu-system-morello");
        let in_path = fake_binary(&path_dir, "qemu-system-morello");
        let in_home = fake_binary(&sdk, "qemu-system-morello");
        let mut env = LookupEnv {
            cheri_qemu_dir: Some(env_dir.clone()),
            path: Some(path_dir.clone().into_os_string()),
            home: Some(home.clone()),
        };
        assert_eq!(find_qemu(morello(), &env), Ok(in_env));
        env.cheri_qemu_dir = Some(root.join("empty"));
        assert_eq!(find_qemu(morello(), &env), Ok(in_path.clone()));
        env.cheri_qemu_dir = None;
        assert_eq!(find_qemu(morello(), &env), Ok(in_path));
        env.path = Some(root.join("nothing-here").into_os_string());
        assert_eq!(find_qemu(morello(), &env), Ok(in_home));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_cheri_qemu_says_where_it_looked() {
        let root = scratch("missing");
        let env = LookupEnv {
            cheri_qemu_dir: Some(root.join("x")),
            path: Some(root.join("y").into_os_string()),
            home: Some(root.join("h")),
        };
        let err = find_qemu(morello(), &env).unwrap_err();
        assert_eq!(err.looked_in.len(), 3);
        let text = err.to_string();
        assert!(text.contains("qemu-system-morello"), "{text}");
        assert!(text.contains("CHERI_QEMU_DIR"), "{text}");
        assert!(text.contains("cheri/output/sdk/bin"), "{text}");
        assert!(text.contains("README section \"CHERI QEMU\""), "{text}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn stock_qemu_only_from_path() {
        let root = scratch("stock");
        let home = root.join("home");
        fake_binary(&home.join("cheri/output/sdk/bin"), "qemu-system-riscv64");
        let spec = board("qemu-riscv64")
            .and_then(|b| b.qemu.as_ref())
            .expect("qemu");
        let env = LookupEnv {
            cheri_qemu_dir: Some(home.clone()),
            path: None,
            home: Some(home),
        };
        let err = find_qemu(spec, &env).unwrap_err();
        assert_eq!(err.looked_in, vec!["PATH (not set)".to_string()]);
        assert!(err.to_string().contains("qemu-system-misc"));
        // A non-executable file does not count.
        let dir = root.join("bin");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("qemu-system-riscv64"), "").expect("write");
        let env = LookupEnv {
            path: Some(dir.into_os_string()),
            ..LookupEnv::default()
        };
        assert!(find_qemu(spec, &env).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn args_have_machine_devices_kernel_and_extras() {
        let spec = board("qemu-aarch64")
            .and_then(|b| b.qemu.as_ref())
            .expect("qemu");
        let run = RunArgs {
            kernel: PathBuf::from("/k/capmon"),
            disk: PathBuf::from("/tmp/a,b/disk.img"),
            append: Some("log=debug ticks=20".into()),
            extra: vec!["-dtb".into(), "/tmp/x.dtb".into()],
            udp_forwards: Vec::new(),
        };
        let args = qemu_args(spec, &run);
        let line = args.join(" ");
        assert!(line.starts_with(
            "-M virt,gic-version=3,virtualization=on -m 2048 -smp 2 -nographic -cpu max -nic none"
        ));
        assert!(line.contains("file=/tmp/a,,b/disk.img,id=hd0"), "{line}");
        assert!(line.contains("-device virtio-blk-device,drive=hd0"));
        assert!(line.contains("-netdev user,id=n0 -device virtio-net-device,netdev=n0"));
        let forwarded = qemu_args(
            spec,
            &RunArgs {
                udp_forwards: vec![(5555, 7), (6000, 9)],
                ..run.clone()
            },
        );
        assert!(
            forwarded.contains(
                &"user,id=n0,hostfwd=udp:127.0.0.1:5555-:7,hostfwd=udp:127.0.0.1:6000-:9"
                    .to_string()
            ),
            "{forwarded:?}"
        );
        let append = args.iter().position(|a| a == "-append").expect("-append");
        assert_eq!(args[append + 1], "log=debug ticks=20");
        assert_eq!(&args[args.len() - 2..], ["-dtb", "/tmp/x.dtb"]);
        let kernel = args.iter().position(|a| a == "-kernel").expect("-kernel");
        assert_eq!(args[kernel + 1], "/k/capmon");
    }

    #[test]
    fn quoting_and_gdb_line() {
        assert_eq!(shell_quote("-M"), "-M");
        assert_eq!(shell_quote("log=debug ticks=20"), "'log=debug ticks=20'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_line("qemu", &["-append", "a b"]),
            "qemu -append 'a b'"
        );
        let rv = board("qemu-riscv64").expect("board");
        assert_eq!(
            gdb_command(rv, Path::new("/t/capmon-qemu-riscv64")),
            "gdb-multiarch -q /t/capmon-qemu-riscv64 -ex 'set architecture riscv:rv64' \
             -ex 'target remote :1234'"
        );
    }
}
