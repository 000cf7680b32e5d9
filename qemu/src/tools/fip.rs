//! `capmon-tool fip`: packages the `morello-sdp` board image as BL33 in a TF-A Firmware Image
//! Package (FIP) for the Arm Morello System Development Platform.
//!
//! 1. The board ELF becomes a flat binary the way `objcopy -O binary` makes one: every PT_LOAD
//!    segment's file bytes at `p_paddr - lowest p_paddr`, gaps zero-filled, the zero-filled
//!    tail (bss) left out. TF-A's BL2 copies that binary to `PLAT_ARM_NS_IMAGE_BASE`
//!    (0xE000_0000 on CSS platforms such as Morello) and BL31 enters it there at EL2, so the
//!    image must start at that address and be entered at its first byte.
//! 2. With an existing FIP (the board's `SOFTWARE/fip.bin`), a copy of it gets its BL33 entry
//!    replaced by `fiptool update --nt-fw`, every other entry kept byte for byte. Without one,
//!    `fiptool create --nt-fw` makes a FIP holding only capmon, for inspection.
//! 3. A FIP built with `TRUSTED_BOARD_BOOT=1` (Arm's Morello releases are) carries a chain of
//!    certificates, and BL2 checks BL33's SHA-256 against the one in the Non-Trusted Firmware
//!    content certificate. Replacing BL33 alone gives a FIP that stops in BL2. Given the
//!    root-of-trust private key (`--rot-key`; Arm's builds use the public development key
//!    `plat/arm/board/common/rotpk/arm_rotprivk_rsa.pem`), the certificates below the root are
//!    regenerated with `cert_create` with fresh world keys; the BL2 certificate, signed by the
//!    root key alone and covering nothing that changed, is kept as it was.
//!
//! The result is checked before it is written: `fiptool unpack` of it must give back the flat
//! binary as BL33 and every other entry of the input unchanged, re-signed certificates aside.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};

use elf::abi::{EM_AARCH64, ET_DYN, ET_EXEC, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;

use crate::process;

/// Where TF-A's BL2 loads BL33 and BL31 enters it on Morello: `PLAT_ARM_NS_IMAGE_BASE` in
/// `include/plat/arm/css/common/css_def.h`, not overridden by the Morello platform.
pub const BL33_BASE: u64 = 0xE000_0000;

/// Load address of the NT_FW_CONFIG DTB in TF-A's `morello_fw_config.dts`; HW_CONFIG follows
/// at 0xFEFF_8000 and secure memory at 0xFF00_0000. The whole image, bss and stack included,
/// must end below it, or it overwrites the DTBs it is handed.
pub const NT_FW_CONFIG_BASE: u64 = 0xFEF0_0000;

/// Where `capmon-tool fip` writes the FIP unless told otherwise (the flat binary goes next to
/// it as `capmon.bin`).
pub const DEFAULT_OUT: &str = "target/morello-sdp/fip.bin";

const ELF_HEADER_SIZE: usize = 0x40;
#[cfg(test)]
const PHDR_SIZE: usize = 0x38;

/// `fiptool`'s name of the BL33 entry (`--nt-fw`).
const NT_FW: &str = "nt-fw";

/// Certificates of the TBBR chain of trust this tool regenerates when it re-signs, in the
/// names `fiptool` and `cert_create` share. The BL2 certificate (`tb-fw-cert`) is kept.
const RESIGNED_CERTS: &[&str] = &[
    "trusted-key-cert",
    "soc-fw-key-cert",
    "soc-fw-cert",
    "tos-fw-key-cert",
    "tos-fw-cert",
    "scp-fw-key-cert",
    "scp-fw-cert",
    "nt-fw-key-cert",
    "nt-fw-cert",
];

/// Certificates that may stay as they are: signed by the root key and covering only images
/// this tool does not change.
const KEPT_CERTS: &[&str] = &["tb-fw-cert"];

/// Images `cert_create` hashes into certificates (its options, which are also `fiptool`'s).
const CERT_CREATE_IMAGES: &[&str] = &[
    "tb-fw",
    "tb-fw-config",
    "hw-config",
    "fw-config",
    "scp-fw",
    "soc-fw",
    "soc-fw-config",
    "tos-fw",
    "tos-fw-extra1",
    "tos-fw-extra2",
    "tos-fw-config",
    "nt-fw",
    "nt-fw-config",
];

// ------------------------------------------------------------------------------------------
// ELF to flat binary

/// A flat binary made from an ELF, as `objcopy -O binary` would make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatImage {
    /// Physical address of the first byte (the lowest PT_LOAD `p_paddr` with file bytes).
    pub base: u64,
    /// The ELF entry point.
    pub entry: u64,
    /// End of the highest PT_LOAD in memory, bss included.
    pub mem_end: u64,
    /// The binary.
    pub bytes: Vec<u8>,
}

/// One PT_LOAD segment, as far as the conversion needs it.
#[derive(Clone, Copy, Debug)]
struct Segment {
    index: usize,
    offset: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        3 => "x86",
        40 => "32-bit Arm",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        _ => "unknown",
    }
}

/// Converts an ELF image to the flat binary TF-A loads as BL33.
///
/// The ELF must be a 64-bit little-endian AArch64 executable whose lowest loaded address and
/// entry point are both `base`, and whose memory image (bss included) ends at or below
/// `limit`. Never panics on malformed input; every problem is a message.
pub fn elf_to_flat(elf: &[u8], base: u64, limit: u64) -> Result<FlatImage, String> {
    if elf.len() < 4 || elf[0..4] != *b"\x7fELF" {
        return Err("not an ELF file (bad magic)".to_string());
    }
    if elf.len() < ELF_HEADER_SIZE {
        return Err(format!(
            "ELF header truncated ({} bytes, a 64-bit header needs {ELF_HEADER_SIZE})",
            elf.len()
        ));
    }
    match elf[4] {
        2 => {}
        1 => return Err("a 32-bit ELF; BL33 must be a 64-bit AArch64 image".to_string()),
        c => return Err(format!("unknown ELF class {c}")),
    }
    match elf[5] {
        1 => {}
        2 => return Err("a big-endian ELF; BL33 must be little-endian AArch64".to_string()),
        d => return Err(format!("unknown ELF data encoding {d}")),
    }
    // The ident bytes are checked above for clearer messages; the `elf` crate reads the rest.
    let file = ElfBytes::<LittleEndian>::minimal_parse(elf)
        .map_err(|e| format!("malformed ELF header or program header table: {e}"))?;
    let e_type = file.ehdr.e_type;
    let machine = file.ehdr.e_machine;
    if machine != EM_AARCH64 {
        return Err(format!(
            "ELF machine {machine} ({}) is not AArch64 ({EM_AARCH64})",
            machine_name(machine)
        ));
    }
    match e_type {
        ET_EXEC => {}
        ET_DYN => {
            return Err(
                "a position-independent ELF (ET_DYN); BL33 must be a statically \
                        linked executable (ET_EXEC) linked at its load address"
                    .to_string(),
            )
        }
        t => return Err(format!("ELF type {t} is not an executable (ET_EXEC)")),
    }
    let entry = file.ehdr.e_entry;
    let headers = crate::elf_file::segments(&file)?;
    if headers.is_empty() {
        return Err("ELF file has no program headers (no PT_LOAD segment)".to_string());
    }

    let mut segments = Vec::new();
    let mut mem_end = 0u64;
    let mut any_load = false;
    for (index, ph) in headers.iter().enumerate() {
        if ph.p_type != PT_LOAD {
            continue;
        }
        any_load = true;
        let seg = Segment {
            index,
            offset: ph.p_offset,
            paddr: ph.p_paddr,
            filesz: ph.p_filesz,
            memsz: ph.p_memsz,
        };
        if seg.memsz < seg.filesz {
            return Err(format!(
                "PT_LOAD segment {index}: memory size {:#x} is smaller than its file size {:#x}",
                seg.memsz, seg.filesz
            ));
        }
        let end = seg.paddr.checked_add(seg.memsz).ok_or_else(|| {
            format!(
                "PT_LOAD segment {index}: [{:#x} + {:#x}) overflows the address space",
                seg.paddr, seg.memsz
            )
        })?;
        let file_end = seg.offset.checked_add(seg.filesz);
        if file_end.is_none_or(|e| e > elf.len() as u64) {
            return Err(format!(
                "PT_LOAD segment {index}: file bytes [{:#x} + {:#x}) lie outside the file ({} \
                 bytes)",
                seg.offset,
                seg.filesz,
                elf.len()
            ));
        }
        if seg.memsz == 0 {
            continue;
        }
        if seg.paddr < base {
            return Err(format!(
                "PT_LOAD segment {index} at {:#x} lies below the BL33 load address {base:#x}",
                seg.paddr
            ));
        }
        mem_end = mem_end.max(end);
        if seg.filesz > 0 {
            segments.push(seg);
        }
    }
    if !any_load {
        return Err("ELF file has no PT_LOAD segment".to_string());
    }
    let Some(lowest) = segments.iter().map(|s| s.paddr).min() else {
        return Err("ELF file has no PT_LOAD segment with file contents".to_string());
    };
    if lowest != base {
        return Err(format!(
            "the image starts at {lowest:#x}, but TF-A loads BL33 at {base:#x} \
             (PLAT_ARM_NS_IMAGE_BASE): link the board at {base:#x} (`link-base` in its \
             Cargo.toml)"
        ));
    }
    if entry != base {
        return Err(format!(
            "the entry point {entry:#x} is not the image start {base:#x}: BL31 enters BL33 at \
             its load address, so the entry code must come first"
        ));
    }
    if mem_end > limit {
        return Err(format!(
            "the image occupies [{base:#x}..{mem_end:#x}) in memory, past {limit:#x}, where \
             TF-A places the NT_FW_CONFIG and HW_CONFIG DTBs it hands to BL33"
        ));
    }
    segments.sort_by_key(|s| s.paddr);
    for pair in segments.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.paddr + a.filesz > b.paddr {
            return Err(format!(
                "PT_LOAD segments {} [{:#x}..{:#x}) and {} [{:#x}..) overlap",
                a.index,
                a.paddr,
                a.paddr + a.filesz,
                b.index,
                b.paddr
            ));
        }
    }
    // Every segment ends at or below `limit` (checked above), so the size is bounded.
    let flat_end = segments
        .iter()
        .map(|s| s.paddr + s.filesz)
        .max()
        .unwrap_or(base);
    let size = usize::try_from(flat_end - base).map_err(|_| {
        format!(
            "flat image of {:#x} bytes does not fit in memory",
            flat_end - base
        )
    })?;
    let mut bytes = vec![0u8; size];
    for s in &segments {
        // Bounds were checked against the file and the image above; convert without panics.
        let (Ok(src), Ok(len), Ok(dst)) = (
            usize::try_from(s.offset),
            usize::try_from(s.filesz),
            usize::try_from(s.paddr - base),
        ) else {
            return Err(format!(
                "PT_LOAD segment {} does not fit in memory",
                s.index
            ));
        };
        let (Some(from), Some(to)) = (elf.get(src..src + len), bytes.get_mut(dst..dst + len))
        else {
            return Err(format!("PT_LOAD segment {} lies outside the file", s.index));
        };
        to.copy_from_slice(from);
    }
    Ok(FlatImage {
        base,
        entry,
        mem_end,
        bytes,
    })
}

// ------------------------------------------------------------------------------------------
// External tools

/// The host programs the FIP builder runs; tests substitute missing ones.
#[derive(Clone, Debug)]
pub struct Tools {
    /// TF-A's `fiptool` (Debian/Ubuntu package `arm-trusted-firmware-tools`).
    pub fiptool: OsString,
    /// TF-A's `cert_create` (same package), needed only to re-sign.
    pub cert_create: OsString,
    /// `openssl`, used only to check that the root key given is the one the FIP was signed with.
    pub openssl: OsString,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            fiptool: "fiptool".into(),
            cert_create: "cert_create".into(),
            openssl: "openssl".into(),
        }
    }
}

/// Runs `program args…`, returning its standard output, or a message saying what failed.
fn run(program: &OsStr, args: &[&OsStr], package: &str) -> Result<String, String> {
    let shown = || {
        let mut s = program.to_string_lossy().into_owned();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    let output = process::output(cmd, process::limits::TOOL).map_err(|e| match e {
        process::RunError::NotFound { .. } => format!(
            "`{}` is not installed (install `{package}`)",
            program.to_string_lossy()
        ),
        e => format!("`{}`: {e}", shown()),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let said: Vec<&str> = [stderr.trim(), stdout.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        return Err(format!(
            "`{}` failed ({}): {}",
            shown(),
            output.status,
            said.join("; ")
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

const TFA_TOOLS: &str = "arm-trusted-firmware-tools";

/// One entry of a FIP as `fiptool info` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FipEntry {
    /// Human name, e.g. `Non-Trusted Firmware BL33`.
    pub name: String,
    /// Offset of the entry's bytes in the FIP.
    pub offset: u64,
    /// Size of the entry in bytes.
    pub size: u64,
    /// `fiptool`'s option name without dashes, e.g. `nt-fw`; also the stem of the file
    /// `fiptool unpack` writes.
    pub option: String,
}

/// Parses `fiptool info` output: lines `NAME: offset=0x…, size=0x…, cmdline="--OPTION"`.
pub fn parse_fiptool_info(text: &str) -> Result<Vec<FipEntry>, String> {
    let hex =
        |s: &str| u64::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16);
    let mut entries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = (|| {
            let (name, rest) = line.rsplit_once(": offset=")?;
            let (offset, rest) = rest.split_once(", size=")?;
            let (size, rest) = rest.split_once(", cmdline=\"--")?;
            let option = rest.trim_end().strip_suffix('"')?;
            Some(FipEntry {
                name: name.trim().to_string(),
                offset: hex(offset).ok()?,
                size: hex(size).ok()?,
                option: option.to_string(),
            })
        })();
        entries.push(parsed.ok_or_else(|| format!("unexpected `fiptool info` line: {line}"))?);
    }
    Ok(entries)
}

/// A scratch directory under the system temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("capmon-fip-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create scratch directory {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn fiptool_info(tools: &Tools, fip: &Path) -> Result<(String, Vec<FipEntry>), String> {
    let text = run(
        &tools.fiptool,
        &["info".as_ref(), fip.as_os_str()],
        TFA_TOOLS,
    )?;
    let entries = parse_fiptool_info(&text).map_err(|e| format!("{}: {e}", fip.display()))?;
    Ok((text, entries))
}

/// Unpacks `fip` into the new directory `dir`: one `OPTION.bin` per entry.
fn fiptool_unpack(tools: &Tools, fip: &Path, dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let args: [&OsStr; 4] = [
        "unpack".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
        fip.as_os_str(),
    ];
    run(&tools.fiptool, &args, TFA_TOOLS).map(drop)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The public key, in PEM, of a private key file or of a DER certificate.
fn public_key(tools: &Tools, key_or_cert: &Path, is_cert: bool) -> Result<String, String> {
    let path = key_or_cert.as_os_str();
    let args: Vec<&OsStr> = if is_cert {
        ["x509", "-inform", "DER", "-noout", "-pubkey", "-in"]
            .map(OsStr::new)
            .into_iter()
            .chain([path])
            .collect()
    } else {
        ["pkey", "-pubout", "-in"]
            .map(OsStr::new)
            .into_iter()
            .chain([path])
            .collect()
    };
    run(&tools.openssl, &args, "openssl")
}

// ------------------------------------------------------------------------------------------
// The FIP builder

/// What `capmon-tool fip` is asked to do.
#[derive(Clone, Debug)]
pub struct FipRequest {
    /// The board ELF (the caller builds it).
    pub elf: PathBuf,
    /// An existing FIP whose BL33 is to be replaced; `None` makes a FIP with only BL33.
    pub input: Option<PathBuf>,
    /// Where the FIP goes; the flat binary is written next to it as `capmon.bin`.
    pub out: PathBuf,
    /// Root-of-trust private key (PEM) to re-sign a FIP that carries certificates.
    pub rot_key: Option<PathBuf>,
    /// Write a FIP with certificates without re-signing it (it will not pass BL2's check).
    pub no_resign: bool,
    /// The host programs to run.
    pub tools: Tools,
}

/// What `build_fip` did.
#[derive(Clone, Debug)]
pub struct FipOutcome {
    /// The flat binary written next to the FIP.
    pub flat_path: PathBuf,
    /// Size of the flat binary, which is the size of the FIP's BL33 entry.
    pub bl33_size: u64,
    /// Certificates regenerated (empty unless re-signed).
    pub resigned: Vec<String>,
    /// `fiptool info` of the result.
    pub info: Vec<FipEntry>,
}

/// Builds the FIP `req` describes, logging each step to `log`, and returns what it did.
/// Nothing is written to `req.out` unless every step and the final check succeed.
pub fn build_fip(req: &FipRequest, log: &mut dyn Write) -> Result<FipOutcome, String> {
    let say = |log: &mut dyn Write, text: String| {
        let _ = writeln!(log, "{text}");
    };
    let tools = &req.tools;

    // The flat binary.
    let elf = read(&req.elf)?;
    let flat = elf_to_flat(&elf, BL33_BASE, NT_FW_CONFIG_BASE)
        .map_err(|e| format!("{}: {e}", req.elf.display()))?;
    let bl33_size = flat.bytes.len() as u64;
    say(
        log,
        format!(
            "fip: {}: flat binary of {bl33_size} bytes ({bl33_size:#x}) for [{:#x}..{:#x}), \
             entry {:#x}; in memory with bss up to {:#x}",
            req.elf.display(),
            flat.base,
            flat.base + bl33_size,
            flat.entry,
            flat.mem_end
        ),
    );

    if let Some(input) = &req.input {
        if let (Ok(a), Ok(b)) = (fs::canonicalize(input), fs::canonicalize(&req.out)) {
            if a == b {
                return Err(format!(
                    "the output {} is the input FIP: keep the original (it is how you go back \
                     to UEFI) and write elsewhere with --out",
                    req.out.display()
                ));
            }
        }
    }

    let flat_path = req.out.with_file_name("capmon.bin");
    if flat_path == req.out {
        return Err(format!(
            "the output {} would collide with the flat binary written next to it; name the \
             FIP differently",
            req.out.display()
        ));
    }

    let scratch = Scratch::new()?;
    let flat_tmp = scratch.path("capmon.bin");
    write(&flat_tmp, &flat.bytes)?;
    let work = scratch.path("work.fip");

    // Replace BL33 in a copy of the input, or create a FIP with only BL33.
    let mut resigned = Vec::new();
    let mut input_entries = Vec::new();
    match &req.input {
        Some(input) => {
            let (text, entries) = fiptool_info(tools, input)?;
            say(
                log,
                format!("fip: input {} holds:\n{}", input.display(), indent(&text)),
            );
            let signed = entries.iter().any(|e| e.option == "nt-fw-cert");
            if signed && req.rot_key.is_none() && !req.no_resign {
                return Err(format!(
                    "{} carries a TRUSTED_BOARD_BOOT chain of trust: BL2 checks BL33 against the \
                     SHA-256 in its Non-Trusted Firmware content certificate, so a FIP with only \
                     BL33 replaced stops in BL2. Pass --rot-key <root-of-trust private key PEM> \
                     to re-sign (Arm's Morello builds use ARM_ROTPK_LOCATION=devel_rsa: TF-A's \
                     plat/arm/board/common/rotpk/arm_rotprivk_rsa.pem), or --no-resign to write \
                     it anyway",
                    input.display()
                ));
            }
            // A fresh file, not fs::copy: the input may be read-only and its mode must not
            // carry over to the work copy or the output.
            write(&work, &read(input)?)?;
            let old_bl33 = entries.iter().find(|e| e.option == NT_FW);
            let args: [&OsStr; 4] = [
                "update".as_ref(),
                "--nt-fw".as_ref(),
                flat_tmp.as_os_str(),
                work.as_os_str(),
            ];
            run(&tools.fiptool, &args, TFA_TOOLS)?;
            match old_bl33 {
                Some(old) => say(
                    log,
                    format!(
                        "fip: fiptool update --nt-fw: BL33 replaced ({} bytes -> {bl33_size} \
                         bytes); the other {} entries are kept",
                        old.size,
                        entries.len() - 1
                    ),
                ),
                None => say(
                    log,
                    format!(
                        "fip: fiptool update --nt-fw: the input had no BL33; added it next to \
                         its {} entries",
                        entries.len()
                    ),
                ),
            }
            if signed {
                // Without a key, --no-resign was given (checked above).
                match &req.rot_key {
                    Some(key) => resigned = resign(tools, &work, &entries, key, &scratch, log)?,
                    None => say(
                        log,
                        "fip: WARNING: the input carries a TRUSTED_BOARD_BOOT chain of trust and \
                         --no-resign keeps its old certificates: BL2 will reject this BL33 \
                         (hash mismatch against the Non-Trusted Firmware content certificate)"
                            .to_string(),
                    ),
                }
            }
            input_entries = entries;
        }
        None => {
            let args: [&OsStr; 4] = [
                "create".as_ref(),
                "--nt-fw".as_ref(),
                flat_tmp.as_os_str(),
                work.as_os_str(),
            ];
            run(&tools.fiptool, &args, TFA_TOOLS)?;
            say(
                log,
                "fip: fiptool create --nt-fw: a FIP holding only capmon as BL33 (for inspection; \
                 the board needs BL2 and BL31 too: pass --fip with the board's fip.bin)"
                    .to_string(),
            );
        }
    }

    // Check the result against the input and the flat binary before writing it.
    let (info_text, info) = fiptool_info(tools, &work)?;
    verify(
        tools,
        req.input.as_deref(),
        &work,
        &flat.bytes,
        &resigned,
        &scratch,
    )?;
    say(
        log,
        format!(
            "fip: checked: BL33 is the flat binary{}",
            if input_entries.is_empty() {
                String::new()
            } else {
                format!(
                    ", every other entry of the input is unchanged{}",
                    if resigned.is_empty() {
                        ""
                    } else {
                        " except the re-signed certificates"
                    }
                )
            }
        ),
    );

    // Write the outputs.
    if let Some(dir) = req.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write(&flat_path, &flat.bytes)?;
    fs::copy(&work, &req.out).map_err(|e| format!("cannot write {}: {e}", req.out.display()))?;
    say(
        log,
        format!(
            "fip: wrote {} (BL33 also as {})",
            req.out.display(),
            flat_path.display()
        ),
    );
    say(
        log,
        format!(
            "fip: fiptool info {}:\n{}",
            req.out.display(),
            indent(&info_text)
        ),
    );
    Ok(FipOutcome {
        flat_path,
        bl33_size,
        resigned,
        info,
    })
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.trim_end().to_string()
}

/// Regenerates the certificates below the root in `fip` (already holding the new BL33) with
/// `cert_create`, keeping `tb-fw-cert`. Returns the names of the certificates replaced.
fn resign(
    tools: &Tools,
    fip: &Path,
    entries: &[FipEntry],
    rot_key: &Path,
    scratch: &Scratch,
    log: &mut dyn Write,
) -> Result<Vec<String>, String> {
    let certs: Vec<&FipEntry> = entries
        .iter()
        .filter(|e| e.option.ends_with("-cert"))
        .collect();
    if let Some(odd) = certs.iter().find(|c| {
        !RESIGNED_CERTS.contains(&c.option.as_str()) && !KEPT_CERTS.contains(&c.option.as_str())
    }) {
        return Err(format!(
            "cannot re-sign: the FIP holds a `{}` ({}) this tool does not know how to regenerate",
            odd.option, odd.name
        ));
    }
    if !certs.iter().any(|c| c.option == "trusted-key-cert") {
        return Err(
            "cannot re-sign: the FIP has a Non-Trusted Firmware content certificate but \
                    no trusted key certificate"
                .to_string(),
        );
    }
    let unpacked = scratch.path("resign-in");
    fiptool_unpack(tools, fip, &unpacked)?;

    // The trusted key certificate is self-signed by the root key and carries its public key:
    // the key given must be that one, or the board's BL1/BL2 (which trust its hash) reject it.
    match (
        public_key(tools, &unpacked.join("trusted-key-cert.bin"), true),
        public_key(tools, rot_key, false),
    ) {
        (Ok(in_fip), Ok(given)) if in_fip.trim() == given.trim() => {
            let _ = writeln!(
                log,
                "fip: {} is the root key the input was signed with",
                rot_key.display()
            );
        }
        (Ok(_), Ok(_)) => {
            return Err(format!(
                "{} is not the root-of-trust key the input FIP was signed with (its public key \
                 differs from the one in the trusted key certificate); the board's firmware \
                 trusts only that key",
                rot_key.display()
            ))
        }
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(
                log,
                "fip: WARNING: could not check the root key against the FIP: {e}"
            );
        }
    }

    let new_dir = scratch.path("resign-out");
    fs::create_dir_all(&new_dir)
        .map_err(|e| format!("cannot create {}: {e}", new_dir.display()))?;
    // Morello's TF-A reads NV counter value MORELLO_FW_NVCTR_VAL (0) and cannot raise it, so
    // the certificates must carry 0.
    let mut args: Vec<OsString> = ["-n", "--tfw-nvctr", "0", "--ntfw-nvctr", "0", "--rot-key"]
        .map(OsString::from)
        .into();
    args.push(rot_key.into());
    for image in CERT_CREATE_IMAGES {
        let file = unpacked.join(format!("{image}.bin"));
        if file.exists() {
            args.push(format!("--{image}").into());
            args.push(file.into());
        }
    }
    // In chain order (RESIGNED_CERTS), whatever the order in the FIP.
    let replaced: Vec<String> = RESIGNED_CERTS
        .iter()
        .filter(|name| certs.iter().any(|c| c.option == **name))
        .map(|name| name.to_string())
        .collect();
    for cert in &replaced {
        args.push(format!("--{cert}").into());
        args.push(new_dir.join(format!("{cert}.crt")).into());
    }
    let arg_refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    run(&tools.cert_create, &arg_refs, TFA_TOOLS)?;

    let mut update: Vec<OsString> = vec!["update".into()];
    for cert in &replaced {
        update.push(format!("--{cert}").into());
        update.push(new_dir.join(format!("{cert}.crt")).into());
    }
    update.push(fip.into());
    let update_refs: Vec<&OsStr> = update.iter().map(OsString::as_os_str).collect();
    run(&tools.fiptool, &update_refs, TFA_TOOLS)?;
    let _ = writeln!(
        log,
        "fip: re-signed with cert_create (root key {}, new world keys, NV counters 0): {}{}",
        rot_key.display(),
        replaced.join(", "),
        if certs.iter().any(|c| c.option == "tb-fw-cert") {
            "; tb-fw-cert kept"
        } else {
            ""
        }
    );
    Ok(replaced)
}

/// Checks `out`: its BL33 is `flat`, and every entry of `input` other than BL33 and the
/// re-signed certificates is present and unchanged.
fn verify(
    tools: &Tools,
    input: Option<&Path>,
    out: &Path,
    flat: &[u8],
    resigned: &[String],
    scratch: &Scratch,
) -> Result<(), String> {
    let out_dir = scratch.path("check-out");
    fiptool_unpack(tools, out, &out_dir)?;
    if read(&out_dir.join(format!("{NT_FW}.bin")))? != flat {
        return Err("check failed: the FIP's BL33 is not the flat binary".to_string());
    }
    let Some(input) = input else { return Ok(()) };
    let in_dir = scratch.path("check-in");
    fiptool_unpack(tools, input, &in_dir)?;
    let mut names: Vec<PathBuf> = fs::read_dir(&in_dir)
        .map_err(|e| format!("cannot list {}: {e}", in_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for path in names {
        let Some(stem) = path.file_stem().and_then(OsStr::to_str) else {
            continue;
        };
        if stem == NT_FW || resigned.iter().any(|r| r == stem) {
            continue;
        }
        let file = path.file_name().unwrap_or_default();
        let theirs = read(&out_dir.join(file))
            .map_err(|_| format!("check failed: the output lost the input's `{stem}` entry"))?;
        if theirs != read(&path)? {
            return Err(format!(
                "check failed: the output's `{stem}` entry differs from the input's"
            ));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The command

/// The `fip` subcommand: builds the FIP and prints what it did.
pub fn fip_command(req: &FipRequest) -> ExitCode {
    let stdout = io::stdout();
    match build_fip(req, &mut stdout.lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capmon-tool fip: {e}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = NT_FW_CONFIG_BASE;

    /// A PT_LOAD (or other) segment for `fake_elf`.
    struct Seg {
        kind: u32,
        paddr: u64,
        data: Vec<u8>,
        memsz: u64,
    }

    fn load(paddr: u64, data: &[u8], memsz: u64) -> Seg {
        Seg {
            kind: PT_LOAD,
            paddr,
            data: data.to_vec(),
            memsz,
        }
    }

    /// A 64-bit little-endian AArch64 ET_EXEC with the given entry and segments; headers
    /// first, then each segment's bytes.
    fn fake_elf(entry: u64, segs: &[Seg]) -> Vec<u8> {
        let mut b = vec![0u8; ELF_HEADER_SIZE];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[0x10..0x12].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[0x12..0x14].copy_from_slice(&EM_AARCH64.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x34..0x36].copy_from_slice(&0x40u16.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        let phnum = u16::try_from(segs.len()).expect("few segments");
        b[0x38..0x3a].copy_from_slice(&phnum.to_le_bytes());
        let mut data_off = (ELF_HEADER_SIZE + PHDR_SIZE * segs.len()) as u64;
        let mut data = Vec::new();
        for s in segs {
            let mut ph = vec![0u8; PHDR_SIZE];
            ph[0..4].copy_from_slice(&s.kind.to_le_bytes());
            ph[4..8].copy_from_slice(&5u32.to_le_bytes());
            ph[0x08..0x10].copy_from_slice(&data_off.to_le_bytes());
            ph[0x10..0x18].copy_from_slice(&s.paddr.to_le_bytes());
            ph[0x18..0x20].copy_from_slice(&s.paddr.to_le_bytes());
            ph[0x20..0x28].copy_from_slice(&(s.data.len() as u64).to_le_bytes());
            ph[0x28..0x30].copy_from_slice(&s.memsz.to_le_bytes());
            b.extend(ph);
            data.extend_from_slice(&s.data);
            data_off += s.data.len() as u64;
        }
        b.extend(data);
        b
    }

    fn patterned(len: usize, seed: u32) -> Vec<u8> {
        // xorshift32: distinct, non-repeating-looking contents per seed.
        let mut x = seed.max(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    /// A capmon-like image: code at the base, data after a gap, bss tail.
    fn capmon_like(code_len: usize, seed: u32) -> (Vec<u8>, Vec<u8>) {
        let code = patterned(code_len, seed);
        let data = patterned(100, seed + 1);
        let data_at = BL33_BASE + ((code_len as u64 + 0xfff) & !0xfff);
        let elf = fake_elf(
            BL33_BASE,
            &[
                load(BL33_BASE, &code, code_len as u64),
                load(data_at, &data, 0x2_0000),
            ],
        );
        let mut flat = code.clone();
        flat.resize(usize::try_from(data_at - BL33_BASE).expect("small"), 0);
        flat.extend_from_slice(&data);
        (elf, flat)
    }

    fn err(elf: &[u8]) -> String {
        elf_to_flat(elf, BL33_BASE, LIMIT).expect_err("conversion should fail")
    }

    #[test]
    fn flat_binary_places_segments_and_drops_the_bss_tail() {
        let a = patterned(16, 1);
        let b = patterned(8, 2);
        // Listed out of order; the first has a bss tail before the second, the second one at
        // the end is not in the binary.
        let elf = fake_elf(
            BL33_BASE,
            &[
                Seg {
                    kind: 6,
                    paddr: 0,
                    data: vec![],
                    memsz: 0,
                }, // PT_PHDR-like, ignored
                load(BL33_BASE + 64, &b, 0x1000),
                load(BL33_BASE, &a, 32),
            ],
        );
        let flat = elf_to_flat(&elf, BL33_BASE, LIMIT).expect("valid");
        assert_eq!(flat.base, BL33_BASE);
        assert_eq!(flat.entry, BL33_BASE);
        assert_eq!(flat.mem_end, BL33_BASE + 64 + 0x1000);
        assert_eq!(flat.bytes.len(), 72);
        assert_eq!(&flat.bytes[..16], &a[..]);
        assert!(flat.bytes[16..64].iter().all(|&x| x == 0));
        assert_eq!(&flat.bytes[64..], &b[..]);
    }

    #[test]
    fn bss_only_segment_counts_for_memory_but_not_the_binary() {
        let a = patterned(40, 3);
        let elf = fake_elf(
            BL33_BASE,
            &[
                load(BL33_BASE, &a, 40),
                load(BL33_BASE + 0x1000, &[], 0x5000),
            ],
        );
        let flat = elf_to_flat(&elf, BL33_BASE, LIMIT).expect("valid");
        assert_eq!(flat.bytes, a);
        assert_eq!(flat.mem_end, BL33_BASE + 0x6000);
    }

    #[test]
    fn capmon_like_image_converts() {
        let (elf, flat) = capmon_like(5000, 7);
        assert_eq!(
            elf_to_flat(&elf, BL33_BASE, LIMIT).expect("valid").bytes,
            flat
        );
    }

    #[test]
    fn rejects_what_is_not_a_64_bit_aarch64_executable() {
        let good = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1, 2, 3, 4], 4)]);
        assert!(err(b"MZ\x90\x00").contains("bad magic"));
        assert!(err(&good[..0x30]).contains("truncated"));
        let mut e = good.clone();
        e[4] = 1;
        assert!(err(&e).contains("32-bit"));
        let mut e = good.clone();
        e[5] = 2;
        assert!(err(&e).contains("big-endian"));
        let mut e = good.clone();
        e[0x10..0x12].copy_from_slice(&ET_DYN.to_le_bytes());
        assert!(err(&e).contains("ET_DYN"));
        let mut e = good.clone();
        e[0x10..0x12].copy_from_slice(&1u16.to_le_bytes());
        assert!(err(&e).contains("not an executable"));
        let mut e = good.clone();
        e[0x12..0x14].copy_from_slice(&243u16.to_le_bytes());
        assert!(err(&e).contains("RISC-V"), "{}", err(&e));
        let mut e = good.clone();
        e[0x12..0x14].copy_from_slice(&62u16.to_le_bytes());
        assert!(err(&e).contains("not AArch64"));
    }

    #[test]
    fn rejects_images_without_loadable_contents() {
        assert!(err(&fake_elf(BL33_BASE, &[])).contains("no program headers"));
        let notes = fake_elf(
            BL33_BASE,
            &[Seg {
                kind: 4,
                paddr: BL33_BASE,
                data: vec![1; 8],
                memsz: 8,
            }],
        );
        assert!(err(&notes).contains("no PT_LOAD"));
        let bss_only = fake_elf(BL33_BASE, &[load(BL33_BASE, &[], 0x100)]);
        assert!(err(&bss_only).contains("no PT_LOAD segment with file contents"));
    }

    #[test]
    fn rejects_a_wrong_load_address_or_entry() {
        let qemu = fake_elf(0x4008_0000, &[load(0x4008_0000, &[1; 16], 16)]);
        let e = err(&qemu);
        assert!(e.contains("0x40080000") && e.contains("0xe0000000"), "{e}");
        let above = fake_elf(
            BL33_BASE + 0x1000,
            &[load(BL33_BASE + 0x1000, &[1; 16], 16)],
        );
        assert!(err(&above).contains("starts at 0xe0001000"));
        let below = fake_elf(
            BL33_BASE,
            &[load(BL33_BASE, &[1; 16], 16), load(0x8000_0000, &[], 16)],
        );
        assert!(err(&below).contains("below the BL33 load address"));
        let entry = fake_elf(BL33_BASE + 8, &[load(BL33_BASE, &[1; 16], 16)]);
        assert!(err(&entry).contains("entry point 0xe0000008"));
    }

    #[test]
    fn rejects_an_image_running_into_the_dtbs() {
        let big = fake_elf(
            BL33_BASE,
            &[load(BL33_BASE, &[1; 16], LIMIT - BL33_BASE + 1)],
        );
        assert!(err(&big).contains("NT_FW_CONFIG"));
        let far = fake_elf(
            BL33_BASE,
            &[
                load(BL33_BASE, &[1; 16], 16),
                load(0x80_8000_0000, &[2; 16], 16),
            ],
        );
        assert!(err(&far).contains("NT_FW_CONFIG"));
    }

    #[test]
    fn rejects_malformed_segments() {
        let mut e = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1; 16], 16)]);
        e.truncate(e.len() - 1);
        assert!(err(&e).contains("outside the file"));
        let small = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1; 16], 8)]);
        assert!(err(&small).contains("smaller than its file size"));
        let wrap = fake_elf(
            BL33_BASE,
            &[
                load(BL33_BASE, &[1; 16], 16),
                load(u64::MAX - 4, &[1; 4], 16),
            ],
        );
        assert!(err(&wrap).contains("overflows"));
        let overlap = fake_elf(
            BL33_BASE,
            &[
                load(BL33_BASE, &[1; 16], 16),
                load(BL33_BASE + 8, &[2; 16], 16),
            ],
        );
        assert!(err(&overlap).contains("overlap"));
        let mut e = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1; 16], 16)]);
        e[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&e).contains("program header table"));
        let mut e = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1; 16], 16)]);
        e[0x36..0x38].copy_from_slice(&0x20u16.to_le_bytes());
        assert!(err(&e).contains("program header table"));
        let mut e = fake_elf(BL33_BASE, &[load(BL33_BASE, &[1; 16], 16)]);
        e[0x40 + 8..0x40 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&e).contains("outside the file"));
    }

    #[test]
    fn never_panics_on_truncated_or_corrupted_input() {
        let (elf, _) = capmon_like(300, 11);
        for len in 0..elf.len() {
            let _ = elf_to_flat(&elf[..len], BL33_BASE, LIMIT);
        }
        let noise = patterned(elf.len() * 64, 99);
        for chunk in noise.chunks(elf.len()) {
            let mut e = elf.clone();
            // Corrupt a few header bytes at pseudo-random places.
            for k in 0..4 {
                let at = usize::from(chunk[k]) % (ELF_HEADER_SIZE + 2 * PHDR_SIZE);
                e[at] = chunk[k + 4];
            }
            let _ = elf_to_flat(&e, BL33_BASE, LIMIT);
        }
    }

    #[test]
    fn parses_fiptool_info() {
        let text = "Trusted Boot Firmware BL2: offset=0x88, size=0xBB8, cmdline=\"--tb-fw\"\n\
                    Non-Trusted Firmware BL33: offset=0xC40, size=0x1B58, cmdline=\"--nt-fw\"\n";
        let entries = parse_fiptool_info(text).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, "Non-Trusted Firmware BL33");
        assert_eq!((entries[1].offset, entries[1].size), (0xC40, 0x1B58));
        assert_eq!(entries[1].option, "nt-fw");
        assert!(parse_fiptool_info("garbage\n").is_err());
    }

    // --- With fiptool ------------------------------------------------------------------

    fn have(program: &str) -> bool {
        Command::new(program).arg("help").output().is_ok()
    }

    /// True when fiptool is installed; prints a note otherwise.
    fn fiptool_or_skip(test: &str) -> bool {
        if have("fiptool") {
            return true;
        }
        println!(
            "note: {test} skipped: fiptool is not installed (package arm-trusted-firmware-tools)"
        );
        false
    }

    struct Fixture {
        dir: Scratch,
        bl2: Vec<u8>,
        bl31: Vec<u8>,
        old_bl33: Vec<u8>,
        elf: PathBuf,
        flat: Vec<u8>,
    }

    fn fixture() -> Fixture {
        let dir = Scratch::new().expect("scratch");
        let bl2 = patterned(0x1234, 21);
        let bl31 = patterned(0x2345, 22);
        let old_bl33 = patterned(0x6000, 23);
        for (name, bytes) in [
            ("dummy_bl2.bin", &bl2),
            ("dummy_bl31.bin", &bl31),
            ("old_bl33.bin", &old_bl33),
        ] {
            fs::write(dir.path(name), bytes).expect("write");
        }
        let (elf_bytes, flat) = capmon_like(0x3001, 24);
        let elf = dir.path("capmon-morello-sdp");
        fs::write(&elf, elf_bytes).expect("write elf");
        Fixture {
            dir,
            bl2,
            bl31,
            old_bl33,
            elf,
            flat,
        }
    }

    fn fiptool(args: &[&OsStr]) {
        run(OsStr::new("fiptool"), args, TFA_TOOLS).expect("fiptool");
    }

    fn request(f: &Fixture, input: Option<PathBuf>, out: &str) -> FipRequest {
        FipRequest {
            elf: f.elf.clone(),
            input,
            out: f.dir.path(out),
            rot_key: None,
            no_resign: false,
            tools: Tools::default(),
        }
    }

    fn unpack(f: &Fixture, fip: &Path, name: &str) -> PathBuf {
        let dir = f.dir.path(name);
        fiptool_unpack(&Tools::default(), fip, &dir).expect("unpack");
        dir
    }

    fn make_input(f: &Fixture) -> PathBuf {
        let input = f.dir.path("in.fip");
        let p = |n: &str| f.dir.path(n).into_os_string();
        let args: Vec<OsString> = vec![
            "create".into(),
            "--tb-fw".into(),
            p("dummy_bl2.bin"),
            "--soc-fw".into(),
            p("dummy_bl31.bin"),
            "--nt-fw".into(),
            p("old_bl33.bin"),
            input.clone().into(),
        ];
        fiptool(&args.iter().map(OsString::as_os_str).collect::<Vec<_>>());
        input
    }

    #[test]
    fn update_replaces_bl33_and_keeps_bl2_and_bl31() {
        if !fiptool_or_skip("update_replaces_bl33_and_keeps_bl2_and_bl31") {
            return;
        }
        let f = fixture();
        let input = make_input(&f);
        let input_before = fs::read(&input).expect("read");
        let mut log = Vec::new();
        let outcome =
            build_fip(&request(&f, Some(input.clone()), "out/fip.bin"), &mut log).expect("builds");
        let log = String::from_utf8(log).expect("utf8");
        assert!(log.contains("BL33 replaced (24576 bytes ->"), "{log}");
        assert_eq!(outcome.bl33_size, f.flat.len() as u64);
        assert_eq!(fs::read(&outcome.flat_path).expect("flat"), f.flat);
        assert_eq!(
            fs::read(&input).expect("read"),
            input_before,
            "the input FIP is untouched"
        );

        // fiptool info shows BL33 with the new size.
        let out = f.dir.path("out/fip.bin");
        let (text, entries) = fiptool_info(&Tools::default(), &out).expect("info");
        let bl33 = entries
            .iter()
            .find(|e| e.option == "nt-fw")
            .expect("BL33 entry");
        assert_eq!(bl33.name, "Non-Trusted Firmware BL33");
        assert_eq!(bl33.size, f.flat.len() as u64);
        assert_ne!(bl33.size, f.old_bl33.len() as u64);
        assert!(
            text.contains(&format!("size={:#X}", f.flat.len())),
            "{text}"
        );
        assert_eq!(entries.len(), 3);

        // fiptool unpack: BL2 and BL31 byte-identical, BL33 the new binary.
        let dir = unpack(&f, &out, "unpacked");
        assert_eq!(fs::read(dir.join("tb-fw.bin")).expect("bl2"), f.bl2);
        assert_eq!(fs::read(dir.join("soc-fw.bin")).expect("bl31"), f.bl31);
        assert_eq!(fs::read(dir.join("nt-fw.bin")).expect("bl33"), f.flat);
    }

    #[test]
    fn create_makes_a_fip_with_only_bl33() {
        if !fiptool_or_skip("create_makes_a_fip_with_only_bl33") {
            return;
        }
        let f = fixture();
        let mut log = Vec::new();
        let outcome = build_fip(&request(&f, None, "only.fip"), &mut log).expect("builds");
        assert_eq!(outcome.info.len(), 1);
        assert_eq!(outcome.info[0].option, "nt-fw");
        assert_eq!(outcome.info[0].size, f.flat.len() as u64);
        let dir = unpack(&f, &f.dir.path("only.fip"), "only");
        let files: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(fs::read(dir.join("nt-fw.bin")).expect("bl33"), f.flat);
        assert!(String::from_utf8(log)
            .expect("utf8")
            .contains("only capmon"));
    }

    #[test]
    fn errors_clearly() {
        let f = fixture();
        // fiptool missing.
        let mut req = request(&f, None, "x.fip");
        req.tools.fiptool = "fiptool-that-does-not-exist".into();
        let e = build_fip(&req, &mut io::sink()).expect_err("no fiptool");
        assert!(e.contains("arm-trusted-firmware-tools"), "{e}");
        assert!(!f.dir.path("x.fip").exists());
        // A bad ELF names the file.
        let mut req = request(&f, None, "x.fip");
        req.elf = f.dir.path("dummy_bl2.bin");
        let e = build_fip(&req, &mut io::sink()).expect_err("not an ELF");
        assert!(
            e.contains("dummy_bl2.bin") && e.contains("bad magic"),
            "{e}"
        );
        if !fiptool_or_skip("errors_clearly (fiptool part)") {
            return;
        }
        // Writing over the input is refused.
        let input = make_input(&f);
        let mut req = request(&f, Some(input.clone()), "in.fip");
        req.out = input.clone();
        let e = build_fip(&req, &mut io::sink()).expect_err("same file");
        assert!(e.contains("keep the original"), "{e}");
        // Something that is not a FIP.
        let req = request(&f, Some(f.dir.path("dummy_bl31.bin")), "y.fip");
        assert!(build_fip(&req, &mut io::sink()).is_err());
        assert!(!f.dir.path("y.fip").exists());
    }

    // --- With a TRUSTED_BOARD_BOOT chain of trust ----------------------------------------

    fn sha256(path: &Path) -> Vec<u8> {
        let out =
            run(OsStr::new("sha256sum"), &[path.as_os_str()], "coreutils").expect("sha256sum");
        let hex = out.split_whitespace().next().expect("a digest");
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn genrsa(path: &Path) {
        let args: [&OsStr; 4] = [
            "genrsa".as_ref(),
            "-out".as_ref(),
            path.as_os_str(),
            "2048".as_ref(),
        ];
        run(OsStr::new("openssl"), &args, "openssl").expect("openssl genrsa");
    }

    /// A FIP like Arm's TRUSTED_BOARD_BOOT=1 Morello builds: BL2, BL31, BL33, NT_FW_CONFIG and
    /// the TBBR certificates, signed with a root key made for the test.
    fn make_signed_input(f: &Fixture) -> PathBuf {
        genrsa(&f.dir.path("rot.pem"));
        let dts = f.dir.path("nt.dts");
        let source = "/dts-v1/; / { compatible = \"arm,morello\"; \
                      platform-info { local-ddr-size = <0x0 0x0>; }; };";
        fs::write(&dts, source).expect("dts");
        let dtb = f.dir.path("nt_fw_config.dtb");
        let dtc: [&OsStr; 7] = [
            "-I".as_ref(),
            "dts".as_ref(),
            "-O".as_ref(),
            "dtb".as_ref(),
            "-o".as_ref(),
            dtb.as_os_str(),
            dts.as_os_str(),
        ];
        run(OsStr::new("dtc"), &dtc, "device-tree-compiler").expect("dtc");
        let p = |n: &str| f.dir.path(n).into_os_string();
        let images: Vec<(&str, OsString)> = vec![
            ("tb-fw", p("dummy_bl2.bin")),
            ("soc-fw", p("dummy_bl31.bin")),
            ("nt-fw", p("old_bl33.bin")),
            ("nt-fw-config", p("nt_fw_config.dtb")),
        ];
        let certs = [
            "trusted-key-cert",
            "tb-fw-cert",
            "soc-fw-key-cert",
            "soc-fw-cert",
            "nt-fw-key-cert",
            "nt-fw-cert",
        ];
        let mut cc: Vec<OsString> = ["-n", "--tfw-nvctr", "0", "--ntfw-nvctr", "0", "--rot-key"]
            .map(OsString::from)
            .into();
        cc.push(p("rot.pem"));
        let mut fip: Vec<OsString> = vec!["create".into()];
        for (opt, file) in &images {
            cc.extend([format!("--{opt}").into(), file.clone()]);
            fip.extend([format!("--{opt}").into(), file.clone()]);
        }
        for cert in certs {
            cc.extend([format!("--{cert}").into(), p(&format!("{cert}.crt"))]);
            fip.extend([format!("--{cert}").into(), p(&format!("{cert}.crt"))]);
        }
        run(
            OsStr::new("cert_create"),
            &cc.iter().map(OsString::as_os_str).collect::<Vec<_>>(),
            TFA_TOOLS,
        )
        .expect("cert_create");
        let input = f.dir.path("signed.fip");
        fip.push(input.clone().into());
        fiptool(&fip.iter().map(OsString::as_os_str).collect::<Vec<_>>());
        input
    }

    #[test]
    fn signed_fip_is_re_signed_with_the_root_key() {
        if !fiptool_or_skip("signed_fip_is_re_signed_with_the_root_key") {
            return;
        }
        for tool in ["cert_create", "openssl", "dtc", "sha256sum"] {
            if !have(tool) {
                println!("note: re-signing test skipped: {tool} is not installed");
                return;
            }
        }
        let f = fixture();
        let input = make_signed_input(&f);
        let original = unpack(&f, &input, "original");

        // Without a key: refused, nothing written.
        let e = build_fip(&request(&f, Some(input.clone()), "a.fip"), &mut io::sink())
            .expect_err("needs --rot-key");
        assert!(
            e.contains("TRUSTED_BOARD_BOOT") && e.contains("--rot-key"),
            "{e}"
        );
        assert!(!f.dir.path("a.fip").exists());

        // With another key: refused.
        genrsa(&f.dir.path("other.pem"));
        let mut req = request(&f, Some(input.clone()), "b.fip");
        req.rot_key = Some(f.dir.path("other.pem"));
        let e = build_fip(&req, &mut io::sink()).expect_err("wrong key");
        assert!(e.contains("not the root-of-trust key"), "{e}");

        // --no-resign: written with a warning, old certificates.
        let mut req = request(&f, Some(input.clone()), "c.fip");
        req.no_resign = true;
        let mut log = Vec::new();
        build_fip(&req, &mut log).expect("written anyway");
        assert!(String::from_utf8(log).expect("utf8").contains("WARNING"));

        // With the right key.
        let mut req = request(&f, Some(input.clone()), "signed-out.fip");
        req.rot_key = Some(f.dir.path("rot.pem"));
        let mut log = Vec::new();
        let outcome = build_fip(&req, &mut log).expect("re-signs");
        let log = String::from_utf8(log).expect("utf8");
        assert!(log.contains("tb-fw-cert kept"), "{log}");
        assert_eq!(
            outcome.resigned,
            [
                "trusted-key-cert",
                "soc-fw-key-cert",
                "soc-fw-cert",
                "nt-fw-key-cert",
                "nt-fw-cert"
            ]
        );
        let out = unpack(&f, &f.dir.path("signed-out.fip"), "resigned");
        let same = |name: &str| {
            assert_eq!(
                fs::read(out.join(name)).expect("out"),
                fs::read(original.join(name)).expect("in"),
                "{name} must be unchanged"
            )
        };
        for name in [
            "tb-fw.bin",
            "soc-fw.bin",
            "nt-fw-config.bin",
            "tb-fw-cert.bin",
        ] {
            same(name);
        }
        assert_eq!(fs::read(out.join("nt-fw.bin")).expect("bl33"), f.flat);
        // The new content certificates hold the new BL33's hash and still BL31's.
        let nt_cert = fs::read(out.join("nt-fw-cert.bin")).expect("cert");
        assert!(contains(&nt_cert, &sha256(&out.join("nt-fw.bin"))));
        assert!(!contains(&nt_cert, &sha256(&original.join("nt-fw.bin"))));
        assert!(contains(&nt_cert, &sha256(&out.join("nt-fw-config.bin"))));
        let soc_cert = fs::read(out.join("soc-fw-cert.bin")).expect("cert");
        assert!(contains(&soc_cert, &sha256(&out.join("soc-fw.bin"))));
        // The new trusted key certificate carries the same root public key.
        let tools = Tools::default();
        assert_eq!(
            public_key(&tools, &out.join("trusted-key-cert.bin"), true).expect("pk"),
            public_key(&tools, &f.dir.path("rot.pem"), false).expect("pk")
        );
    }
}
