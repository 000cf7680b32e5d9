//! CP_File: shared objects between cVMs (`capmon_abi` hostcalls 30..=33). [`import`] asks the
//! monitor for a capability to an object the manifest lets this cVM import; the capability
//! lands in a slot of the cVM's *capability store*, and every [`CpFile::read`] /
//! [`CpFile::write`] then goes straight to the object through it — capability loads and
//! stores, no hostcall per access.
//!
//! Where things are (hybrid cVMs): the capability store's capability is in RCTPIDR_EL0
//! (Morello; a Restricted-mode cVM reads it as `CTPIDR_EL0`, which is banked like DDC and SP) or ctp = c4 (CHERI-RISC-V) from entry; compilers never touch either. Each access
//! loads the slot's capability into a scratch capability register, moves its address to the
//! offset, and loads or stores through it (8 bytes at a time when both sides are aligned). The
//! capability's exact bounds and permissions are what the hardware checks: the software
//! checks here (`Invalid`) only turn ordinary mistakes into errors instead of faults; the
//! `probe` functions skip them, for the attack cVMs that show the hardware stopping each misuse.
//!
//! Upstream LLVM cannot assemble CHERI instructions: every one is a raw word below, named, and
//! checked against the monitor's tested encoders by this crate's tests.

use capmon_abi::{Error, Hostcall, CAP_STORE_SLOTS};

use crate::{check, hostcall};

/// A shared object imported into a slot of the capability store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpFile {
    slot: u64,
    len: u64,
}

/// Imports shared object `name` into capability-store slot `slot` (0..16): the monitor
/// derives a capability to exactly the object from its exporter's authority, with Load (and
/// Store when the manifest grants read-write), and nothing else.
pub fn import(name: &str, slot: u64) -> Result<CpFile, Error> {
    // SAFETY: the monitor only reads `name` (checked against this cVM's memory).
    let len = check(unsafe {
        hostcall(
            Hostcall::CpImport,
            [name.as_ptr() as u64, name.len() as u64, slot, 0, 0, 0],
        )
    })?;
    Ok(CpFile { slot, len })
}

/// Exports `[ptr, ptr + len)` of this cVM's own memory as the run-time object `name` (the
/// manifest must name this cVM as its exporter). The memory stays this cVM's: it must not
/// rely on it being unchanged while exported read-write.
pub fn export(name: &str, ptr: *const u8, len: usize) -> Result<(), Error> {
    // SAFETY: the monitor reads `name` and only checks the range (it writes nothing).
    check(unsafe {
        hostcall(
            Hostcall::CpExport,
            [
                name.as_ptr() as u64,
                name.len() as u64,
                ptr as u64,
                len as u64,
                0,
                0,
            ],
        )
    })
    .map(|_| ())
}

/// Revokes the run-time object `name`: when this returns, no other cVM holds a capability to
/// it. Returns how many capabilities the monitor cleared.
pub fn revoke(name: &str) -> Result<u64, Error> {
    // SAFETY: the monitor only reads `name`.
    check(unsafe {
        hostcall(
            Hostcall::CpRevoke,
            [name.as_ptr() as u64, name.len() as u64, 0, 0, 0, 0],
        )
    })
}

/// Clears capability-store slot `slot`.
pub fn drop_slot(slot: u64) -> Result<(), Error> {
    // SAFETY: takes no pointer.
    check(unsafe { hostcall(Hostcall::CpDrop, [slot, 0, 0, 0, 0, 0]) }).map(|_| ())
}

impl CpFile {
    /// The object's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The capability-store slot it is in.
    pub fn slot(&self) -> u64 {
        self.slot
    }

    fn fits(&self, offset: u64, len: usize) -> Result<(), Error> {
        let end = offset.checked_add(len as u64).ok_or(Error::Invalid)?;
        if end > self.len || self.slot >= CAP_STORE_SLOTS {
            return Err(Error::Invalid);
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes at `offset` of the object into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.fits(offset, buf.len())?;
        probe::read(self.slot, offset, buf);
        Ok(())
    }

    /// Copies `bytes` to `offset` of the object (a read-only import faults: the capability has
    /// no Store).
    pub fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.fits(offset, bytes.len())?;
        probe::write(self.slot, offset, bytes);
        Ok(())
    }
}

/// Accesses through a capability-store slot with no software check: the hardware decides.
/// What [`CpFile`] is built on, and what the attack cVMs use to show each misuse faulting.
pub mod probe {
    #[cfg(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    ))]
    use super::words as w;

    /// Copies `buf.len()` bytes at `offset` of the object in `slot` into `buf`.
    pub fn read(slot: u64, offset: u64, buf: &mut [u8]) {
        let (blocks, words, bytes) = split(offset, buf.as_ptr() as u64, buf.len());
        copy(
            slot,
            offset,
            buf.as_mut_ptr(),
            Counts {
                blocks,
                words,
                bytes,
            },
            false,
        );
    }

    /// Copies `bytes` to `offset` of the object in `slot`.
    pub fn write(slot: u64, offset: u64, bytes: &[u8]) {
        let (blocks, words, rest) = split(offset, bytes.as_ptr() as u64, bytes.len());
        copy(
            slot,
            offset,
            bytes.as_ptr().cast_mut(),
            Counts {
                blocks,
                words,
                bytes: rest,
            },
            true,
        );
    }

    /// How a copy is cut: 32-byte blocks and 8-byte words when both sides are 8-aligned,
    /// then single bytes.
    pub(crate) fn split(offset: u64, local: u64, len: usize) -> (usize, usize, usize) {
        if (offset | local).is_multiple_of(8) {
            (len / 32, (len % 32) / 8, len % 8)
        } else {
            (0, 0, len)
        }
    }

    /// Units of a copy (see [`split`]).
    #[allow(dead_code)] // read only by the target's asm
    struct Counts {
        blocks: usize,
        words: usize,
        bytes: usize,
    }

    #[cfg(all(target_os = "none", target_arch = "aarch64"))]
    fn copy(slot: u64, offset: u64, local: *mut u8, n: Counts, to_object: bool) {
        // SAFETY: only c9 and x5..x7, x9..x17 are touched (declared); `local` is valid for
        // `32 * blocks + 8 * words + bytes` bytes (a borrowed slice; written only when reading
        // from the object). The accesses through c9 are checked by the hardware against the
        // imported capability: outside it the cVM faults, which is the point.
        unsafe {
            core::arch::asm!(
                ".inst {mrs}",        // mrs c9, CTPIDR_EL0 (RCTPIDR_EL0 in Restricted)
                ".inst {add_slot}",   // add c9, c9, x10, uxtx
                ".inst {ldr_slot}",   // ldr c9, [c9]
                ".inst {scoff}",      // scoff c9, c9, x11
                "cbnz x13, 4f",
                "1: cbz x14, 2f",
                ".inst {ldr_0}",      // ldr x12, [c9]
                ".inst {ldr_8}",      // ldr x17, [c9, #8]
                ".inst {ldr_16}",     // ldr x6, [c9, #16]
                ".inst {ldr_24}",     // ldr x7, [c9, #24]
                "stp x12, x17, [x15], #16",
                "stp x6, x7, [x15], #16",
                ".inst {add32}",      // add c9, c9, #32
                "sub x14, x14, #1",
                "b 1b",
                "2: cbz x5, 3f",
                ".inst {ldr_0}",      // ldr x12, [c9]
                "str x12, [x15], #8",
                ".inst {add8}",       // add c9, c9, #8
                "sub x5, x5, #1",
                "b 2b",
                "3: cbz x16, 9f",
                ".inst {ldrb}",       // ldrb w12, [c9]
                "strb w12, [x15], #1",
                ".inst {add1}",       // add c9, c9, #1
                "sub x16, x16, #1",
                "b 3b",
                "4: cbz x14, 5f",
                "ldp x12, x17, [x15], #16",
                "ldp x6, x7, [x15], #16",
                ".inst {str_0}",      // str x12, [c9]
                ".inst {str_8}",      // str x17, [c9, #8]
                ".inst {str_16}",     // str x6, [c9, #16]
                ".inst {str_24}",     // str x7, [c9, #24]
                ".inst {add32}",      // add c9, c9, #32
                "sub x14, x14, #1",
                "b 4b",
                "5: cbz x5, 6f",
                "ldr x12, [x15], #8",
                ".inst {str_0}",      // str x12, [c9]
                ".inst {add8}",       // add c9, c9, #8
                "sub x5, x5, #1",
                "b 5b",
                "6: cbz x16, 9f",
                "ldrb w12, [x15], #1",
                ".inst {strb}",       // strb w12, [c9]
                ".inst {add1}",       // add c9, c9, #1
                "sub x16, x16, #1",
                "b 6b",
                "9:",
                mrs = const w::MRS_C9_STORE,
                add_slot = const w::ADD_C9_C9_X10,
                ldr_slot = const w::LDR_C9_C9,
                scoff = const w::SCOFF_C9_C9_X11,
                ldr_0 = const w::LDR_X12_C9,
                ldr_8 = const w::LDR_X17_C9_8,
                ldr_16 = const w::LDR_X6_C9_16,
                ldr_24 = const w::LDR_X7_C9_24,
                str_0 = const w::STR_X12_C9,
                str_8 = const w::STR_X17_C9_8,
                str_16 = const w::STR_X6_C9_16,
                str_24 = const w::STR_X7_C9_24,
                ldrb = const w::LDRB_W12_C9,
                strb = const w::STRB_W12_C9,
                add32 = const w::ADD_C9_C9_32,
                add8 = const w::ADD_C9_C9_8,
                add1 = const w::ADD_C9_C9_1,
                in("x10") slot * 16,
                in("x11") offset,
                in("x13") u64::from(to_object),
                inout("x14") n.blocks => _,
                inout("x5") n.words => _,
                inout("x15") local => _,
                inout("x16") n.bytes => _,
                out("x9") _,
                out("x12") _,
                out("x17") _,
                out("x6") _,
                out("x7") _,
                options(nostack),
            );
        }
    }

    #[cfg(all(target_os = "none", target_arch = "riscv64"))]
    fn copy(slot: u64, offset: u64, local: *mut u8, n: Counts, to_object: bool) {
        // SAFETY: only ct3 (c28), t0..t2, t4, t5 are touched (declared); `local` is valid for
        // `32 * blocks + 8 * words + bytes` bytes. Accesses through ct3 are checked by the
        // hardware against the imported capability.
        unsafe {
            core::arch::asm!(
                ".word {slot}",       // cincoffset ct3, ctp, a0
                ".word {load}",       // lc.cap ct3, (ct3)
                ".word {base}",       // cgetbase t0, ct3
                "add t0, t0, a1",
                ".word {setaddr}",    // csetaddr ct3, ct3, t0
                "bnez a5, 4f",
                "1: beqz a6, 2f",
                ".word {ld1}",        // ld.cap t1, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {ld2}",        // ld.cap t2, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {ld4}",        // ld.cap t4, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {ld5}",        // ld.cap t5, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                "sd t1, 0(a2)",
                "sd t2, 8(a2)",
                "sd t4, 16(a2)",
                "sd t5, 24(a2)",
                "addi a2, a2, 32",
                "addi a6, a6, -1",
                "j 1b",
                "2: beqz a3, 3f",
                ".word {ld1}",        // ld.cap t1, (ct3)
                "sd t1, 0(a2)",
                "addi a2, a2, 8",
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                "addi a3, a3, -1",
                "j 2b",
                "3: beqz a4, 9f",
                ".word {lbu}",        // lbu.cap t1, (ct3)
                "sb t1, 0(a2)",
                "addi a2, a2, 1",
                ".word {inc1}",       // cincoffset ct3, ct3, 1
                "addi a4, a4, -1",
                "j 3b",
                "4: beqz a6, 5f",
                "ld t1, 0(a2)",
                "ld t2, 8(a2)",
                "ld t4, 16(a2)",
                "ld t5, 24(a2)",
                ".word {sd1}",        // sd.cap t1, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {sd2}",        // sd.cap t2, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {sd4}",        // sd.cap t4, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                ".word {sd5}",        // sd.cap t5, (ct3)
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                "addi a2, a2, 32",
                "addi a6, a6, -1",
                "j 4b",
                "5: beqz a3, 6f",
                "ld t1, 0(a2)",
                ".word {sd1}",        // sd.cap t1, (ct3)
                "addi a2, a2, 8",
                ".word {inc8}",       // cincoffset ct3, ct3, 8
                "addi a3, a3, -1",
                "j 5b",
                "6: beqz a4, 9f",
                "lbu t1, 0(a2)",
                ".word {sb}",         // sb.cap t1, (ct3)
                "addi a2, a2, 1",
                ".word {inc1}",       // cincoffset ct3, ct3, 1
                "addi a4, a4, -1",
                "j 6b",
                "9:",
                slot = const w::CINCOFFSET_CT3_CTP_A0,
                load = const w::LC_CAP_CT3_CT3,
                base = const w::CGETBASE_T0_CT3,
                setaddr = const w::CSETADDR_CT3_CT3_T0,
                ld1 = const w::LD_CAP_T1_CT3,
                ld2 = const w::LD_CAP_T2_CT3,
                ld4 = const w::LD_CAP_T4_CT3,
                ld5 = const w::LD_CAP_T5_CT3,
                sd1 = const w::SD_CAP_T1_CT3,
                sd2 = const w::SD_CAP_T2_CT3,
                sd4 = const w::SD_CAP_T4_CT3,
                sd5 = const w::SD_CAP_T5_CT3,
                lbu = const w::LBU_CAP_T1_CT3,
                sb = const w::SB_CAP_T1_CT3,
                inc8 = const w::CINCOFFSETIMM_CT3_8,
                inc1 = const w::CINCOFFSETIMM_CT3_1,
                in("a0") slot * 16,
                in("a1") offset,
                in("a5") u64::from(to_object),
                inout("a6") n.blocks => _,
                inout("a3") n.words => _,
                inout("a2") local => _,
                inout("a4") n.bytes => _,
                out("t0") _,
                out("t1") _,
                out("t2") _,
                out("t3") _,
                out("t4") _,
                out("t5") _,
                options(nostack),
            );
        }
    }

    /// Host builds: there is no capability store.
    #[cfg(not(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    )))]
    fn copy(slot: u64, offset: u64, local: *mut u8, n: Counts, to_object: bool) {
        let _ = (slot, offset, local, n.blocks, n.words, n.bytes, to_object);
        panic!("shared objects exist only under capmon");
    }

    /// What the probes below try: each must fault under capmon.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Misuse {
        /// Store the object's own capability into the object (it has no StoreCap).
        StoreCapIntoObject,
        /// Jump to the object (it has no Execute).
        Execute,
        /// Store the capability into the cVM's own memory through DDC (no StoreCap there).
        StashInOwnMemory,
    }

    /// Tries `misuse` with the capability in `slot`; `scratch` is 16 bytes of the cVM's own
    /// memory for [`Misuse::StashInOwnMemory`]. Returns only if the hardware let it happen.
    pub fn misuse(slot: u64, misuse: Misuse, scratch: &mut [u64; 2]) {
        let which = misuse as u64;
        let _ = (slot, which, scratch.as_mut_ptr());
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: loads the slot into c9 and tries one access through it or through DDC; each
        // is meant to fault. Touches only c9/x9/x10/x11 and `scratch` (16 writable bytes).
        unsafe {
            core::arch::asm!(
                ".inst {mrs}",        // mrs c9, CTPIDR_EL0 (RCTPIDR_EL0 in Restricted)
                ".inst {add_slot}",   // add c9, c9, x10, uxtx
                ".inst {ldr_slot}",   // ldr c9, [c9]
                "cmp x11, #1",
                "b.eq 1f",
                "b.hi 2f",
                ".inst {store_cap}",  // str c9, [c9]
                "b 9f",
                "1: .inst {br}",      // br c9
                "2: .inst {stash}",   // str c9, [x12]  (through DDC)
                "9:",
                mrs = const w::MRS_C9_STORE,
                add_slot = const w::ADD_C9_C9_X10,
                ldr_slot = const w::LDR_C9_C9,
                store_cap = const w::STR_C9_C9,
                br = const w::BR_C9,
                stash = const w::STR_C9_X12,
                in("x10") slot * 16,
                in("x11") which,
                in("x12") scratch.as_mut_ptr(),
                out("x9") _,
                options(nostack),
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as on aarch64, with ct3 and ra (the jump's link) as scratch.
        unsafe {
            core::arch::asm!(
                ".word {slot}",       // cincoffset ct3, ctp, a0
                ".word {load}",       // lc.cap ct3, (ct3)
                "li t0, 1",
                "beq a1, t0, 1f",
                "bgtu a1, t0, 2f",
                ".word {store_cap}",  // sc.cap ct3, (ct3)
                "j 9f",
                "1: .word {jump}",    // cjalr cra, ct3
                "2: .word {stash}",   // sc ct3, 0(a2)  (through DDC)
                "9:",
                slot = const w::CINCOFFSET_CT3_CTP_A0,
                load = const w::LC_CAP_CT3_CT3,
                store_cap = const w::SC_CAP_CT3_CT3,
                jump = const w::CJALR_CRA_CT3,
                stash = const w::SC_CT3_A2,
                in("a0") slot * 16,
                in("a1") which,
                in("a2") scratch.as_mut_ptr(),
                out("t0") _,
                out("t3") _,
                out("ra") _,
                options(nostack),
            );
        }
    }

    /// Copies the capability in slot `from` to slot `to` of the capability store (allowed: the
    /// store is the one place a local capability may go, and revocation sweeps it).
    pub fn copy_slot(from: u64, to: u64) {
        let _ = (from, to);
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: moves one capability between two slots of the capability store; touches
        // c9/c10 only.
        unsafe {
            core::arch::asm!(
                // x10 is c10's low half: use it before c10 is loaded.
                ".inst {mrs}",        // mrs c9, CTPIDR_EL0 (RCTPIDR_EL0 in Restricted)
                ".inst {add_slot}",   // add c9, c9, x10, uxtx
                ".inst {mrs10}",      // mrs c10, CTPIDR_EL0 (RCTPIDR_EL0 in Restricted)
                ".inst {add_to}",     // add c10, c10, x11, uxtx
                ".inst {ldr_slot}",   // ldr c9, [c9]
                ".inst {store}",      // str c9, [c10]
                mrs = const w::MRS_C9_STORE,
                mrs10 = const w::MRS_C10_STORE,
                add_slot = const w::ADD_C9_C9_X10,
                add_to = const w::ADD_C10_C10_X11,
                ldr_slot = const w::LDR_C9_C9,
                store = const w::STR_C9_C10,
                inout("x10") from * 16 => _,
                inout("x11") to * 16 => _,
                out("x9") _,
                options(nostack),
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as on aarch64, with ct3/ct4 (c28/c29).
        unsafe {
            core::arch::asm!(
                ".word {slot}",       // cincoffset ct3, ctp, a0
                ".word {to}",         // cincoffset ct4, ctp, a1
                ".word {load}",       // lc.cap ct3, (ct3)
                ".word {store}",      // sc.cap ct3, (ct4)
                slot = const w::CINCOFFSET_CT3_CTP_A0,
                to = const w::CINCOFFSET_CT4_CTP_A1,
                load = const w::LC_CAP_CT3_CT3,
                store = const w::SC_CAP_CT3_CT4,
                in("a0") from * 16,
                in("a1") to * 16,
                out("t3") _,
                out("t4") _,
                options(nostack),
            );
        }
    }

    /// Loads the capability in `slot` into a callee-saved capability register (c20 / cs2),
    /// sleeps `naps` times `nap_ns` with it held there (another cVM may revoke it meanwhile),
    /// then reads the object's first byte through that register. After a revocation the
    /// register was swept in the saved context, so the read faults.
    pub fn hold_and_read(slot: u64, naps: u64, nap_ns: u64) -> u8 {
        let byte: u64;
        let _ = (slot, naps, nap_ns);
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: c20 holds the capability across `svc` (the monitor preserves every register
        // but x0); touches c9, c20, x0, x8, x12, x13 (declared).
        unsafe {
            core::arch::asm!(
                ".inst {mrs}",        // mrs c9, CTPIDR_EL0 (RCTPIDR_EL0 in Restricted)
                ".inst {add_slot}",   // add c9, c9, x10, uxtx
                ".inst {ldr_slot}",   // ldr c9, [c9]
                ".inst {hold}",       // mov c20, c9
                "mov x8, #{sleep_nr}",
                "1: cbz x13, 2f",
                "mov x0, x14",
                "svc #0",
                "sub x13, x13, #1",
                "b 1b",
                "2: .inst {read}",    // ldrb w12, [c20]
                mrs = const w::MRS_C9_STORE,
                add_slot = const w::ADD_C9_C9_X10,
                ldr_slot = const w::LDR_C9_C9,
                hold = const w::MOV_C20_C9,
                read = const w::LDRB_W12_C20,
                sleep_nr = const capmon_abi::Hostcall::SleepNs as u64,
                in("x10") slot * 16,
                inout("x13") naps => _,
                in("x14") nap_ns,
                out("x12") byte,
                out("x9") _,
                out("x20") _,
                out("x0") _,
                out("x8") _,
                options(nostack),
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as on aarch64, with cs2 (c18) holding the capability across `ecall`.
        unsafe {
            core::arch::asm!(
                ".word {slot}",       // cincoffset ct3, ctp, a0
                ".word {load}",       // lc.cap ct3, (ct3)
                ".word {hold}",       // cmove cs2, ct3
                "li a7, {sleep_nr}",
                "1: beqz a3, 2f",
                "mv a0, a4",
                "ecall",
                "addi a3, a3, -1",
                "j 1b",
                "2: .word {read}",    // lbu.cap t1, (cs2)
                slot = const w::CINCOFFSET_CT3_CTP_A0,
                load = const w::LC_CAP_CT3_CT3,
                hold = const w::CMOVE_CS2_CT3,
                read = const w::LBU_CAP_T1_CS2,
                sleep_nr = const capmon_abi::Hostcall::SleepNs as u64,
                inout("a0") slot * 16 => _,
                inout("a3") naps => _,
                in("a4") nap_ns,
                out("t1") byte,
                out("t3") _,
                out("s2") _,
                out("a7") _,
                options(nostack),
            );
        }
        #[cfg(not(all(
            target_os = "none",
            any(target_arch = "aarch64", target_arch = "riscv64")
        )))]
        {
            byte = 0;
        }
        #[allow(clippy::cast_possible_truncation)] // a zero-extended byte
        let byte = byte as u8;
        byte
    }
}

/// The raw CHERI instruction words, each named after what it does (mnemonic in the name and
/// in a comment at its use); `tests` checks every one against the monitor's encoders.
#[allow(clippy::unreadable_literal)]
pub mod words {
    // Morello (A64 with capability base registers: the "alternate base" forms).
    /// `mrs c9, CTPIDR_EL0`: the capability store (in Restricted mode the name reads RCTPIDR_EL0).
    pub const MRS_C9_STORE: u32 = 0xC29BD049;
    /// `mrs c10, CTPIDR_EL0`.
    pub const MRS_C10_STORE: u32 = 0xC29BD04A;
    /// `add c9, c9, x10, uxtx`: to the slot.
    pub const ADD_C9_C9_X10: u32 = 0xC2AA6129;
    /// `add c10, c10, x11, uxtx`.
    pub const ADD_C10_C10_X11: u32 = 0xC2AB614A;
    /// `ldr c9, [c9]` (alternate base): the slot's capability.
    pub const LDR_C9_C9: u32 = 0x82600129;
    /// `scoff c9, c9, x11`: address := base + offset.
    pub const SCOFF_C9_C9_X11: u32 = 0xC2CB6129;
    /// `ldr x12, [c9]` (alternate base).
    pub const LDR_X12_C9: u32 = 0x82600D2C;
    /// `str x12, [c9]` (alternate base).
    pub const STR_X12_C9: u32 = 0x82400D2C;
    /// `ldr x17, [c9, #8]` (alternate base).
    pub const LDR_X17_C9_8: u32 = 0x82601D31;
    /// `ldr x6, [c9, #16]` (alternate base).
    pub const LDR_X6_C9_16: u32 = 0x82602D26;
    /// `ldr x7, [c9, #24]` (alternate base).
    pub const LDR_X7_C9_24: u32 = 0x82603D27;
    /// `str x17, [c9, #8]` (alternate base).
    pub const STR_X17_C9_8: u32 = 0x82401D31;
    /// `str x6, [c9, #16]` (alternate base).
    pub const STR_X6_C9_16: u32 = 0x82402D26;
    /// `str x7, [c9, #24]` (alternate base).
    pub const STR_X7_C9_24: u32 = 0x82403D27;
    /// `add c9, c9, #32`.
    pub const ADD_C9_C9_32: u32 = 0x02008129;
    /// `ldrb w12, [c9]` (alternate base).
    pub const LDRB_W12_C9: u32 = 0x8260052C;
    /// `strb w12, [c9]` (alternate base).
    pub const STRB_W12_C9: u32 = 0x8240052C;
    /// `add c9, c9, #8`.
    pub const ADD_C9_C9_8: u32 = 0x02002129;
    /// `add c9, c9, #1`.
    pub const ADD_C9_C9_1: u32 = 0x02000529;
    /// `str c9, [c9]` (alternate base): a capability into the object.
    pub const STR_C9_C9: u32 = 0x82400129;
    /// `str c9, [c10]` (alternate base): a capability into another store slot.
    pub const STR_C9_C10: u32 = 0x82400149;
    /// `br c9`.
    pub const BR_C9: u32 = 0xC2C21120;
    /// `str c9, [x12]`: through DDC.
    pub const STR_C9_X12: u32 = 0xC2000189;
    /// `mov c20, c9` (`cpy`).
    pub const MOV_C20_C9: u32 = 0xC2C1D134;
    /// `ldrb w12, [c20]` (alternate base).
    pub const LDRB_W12_C20: u32 = 0x8260068C;

    // CHERI-RISC-V (ISAv9, integer mode: explicit-capability loads and stores).
    /// `cincoffset ct3, ctp, a0`.
    pub const CINCOFFSET_CT3_CTP_A0: u32 = 0x22A20E5B;
    /// `cincoffset ct4, ctp, a1`.
    pub const CINCOFFSET_CT4_CTP_A1: u32 = 0x22B20EDB;
    /// `lc.cap ct3, (ct3)`.
    pub const LC_CAP_CT3_CT3: u32 = 0xFBFE0E5B;
    /// `cgetbase t0, ct3`.
    pub const CGETBASE_T0_CT3: u32 = 0xFE2E02DB;
    /// `csetaddr ct3, ct3, t0`.
    pub const CSETADDR_CT3_CT3_T0: u32 = 0x205E0E5B;
    /// `ld.cap t1, (ct3)`.
    pub const LD_CAP_T1_CT3: u32 = 0xFABE035B;
    /// `ld.cap t2, (ct3)`.
    pub const LD_CAP_T2_CT3: u32 = 0xFABE03DB;
    /// `ld.cap t4, (ct3)`.
    pub const LD_CAP_T4_CT3: u32 = 0xFABE0EDB;
    /// `ld.cap t5, (ct3)`.
    pub const LD_CAP_T5_CT3: u32 = 0xFABE0F5B;
    /// `sd.cap t2, (ct3)`.
    pub const SD_CAP_T2_CT3: u32 = 0xF87E05DB;
    /// `sd.cap t4, (ct3)`.
    pub const SD_CAP_T4_CT3: u32 = 0xF9DE05DB;
    /// `sd.cap t5, (ct3)`.
    pub const SD_CAP_T5_CT3: u32 = 0xF9EE05DB;
    /// `sd.cap t1, (ct3)`.
    pub const SD_CAP_T1_CT3: u32 = 0xF86E05DB;
    /// `lbu.cap t1, (ct3)`.
    pub const LBU_CAP_T1_CT3: u32 = 0xFACE035B;
    /// `sb.cap t1, (ct3)`.
    pub const SB_CAP_T1_CT3: u32 = 0xF86E045B;
    /// `cincoffset ct3, ct3, 8`.
    pub const CINCOFFSETIMM_CT3_8: u32 = 0x008E1E5B;
    /// `cincoffset ct3, ct3, 1`.
    pub const CINCOFFSETIMM_CT3_1: u32 = 0x001E1E5B;
    /// `sc.cap ct3, (ct3)`: a capability into the object.
    pub const SC_CAP_CT3_CT3: u32 = 0xF9CE065B;
    /// `sc.cap ct3, (ct4)`: a capability into another store slot.
    pub const SC_CAP_CT3_CT4: u32 = 0xF9CE865B;
    /// `cjalr cra, ct3`.
    pub const CJALR_CRA_CT3: u32 = 0xFECE00DB;
    /// `sc ct3, 0(a2)`: through DDC.
    pub const SC_CT3_A2: u32 = 0x01C64023;
    /// `cmove cs2, ct3`.
    pub const CMOVE_CS2_CT3: u32 = 0xFEAE095B;
    /// `lbu.cap t1, (cs2)`.
    pub const LBU_CAP_T1_CS2: u32 = 0xFAC9035B;
}

#[cfg(test)]
mod tests {
    use super::words::*;
    use capmon::arch::insn::cheri_riscv as r;
    use capmon::arch::insn::morello::{self as m, extend, sysreg};
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn raw_words_match_the_monitor_encoders() {
        let cases: &[(&str, u32, u32)] = &[
            (
                "MRS_C9_STORE",
                MRS_C9_STORE,
                m::mrs_cap(9, sysreg::CTPIDR_EL0),
            ),
            (
                "MRS_C10_STORE",
                MRS_C10_STORE,
                m::mrs_cap(10, sysreg::CTPIDR_EL0),
            ),
            (
                "ADD_C9_C9_X10",
                ADD_C9_C9_X10,
                m::add_ext(9, 9, 10, extend::UXTX, 0),
            ),
            (
                "ADD_C10_C10_X11",
                ADD_C10_C10_X11,
                m::add_ext(10, 10, 11, extend::UXTX, 0),
            ),
            ("LDR_C9_C9", LDR_C9_C9, m::aldr_cap(9, 9, 0)),
            ("SCOFF_C9_C9_X11", SCOFF_C9_C9_X11, m::scoff(9, 9, 11)),
            ("LDR_X12_C9", LDR_X12_C9, m::aldr_x(12, 9, 0)),
            ("STR_X12_C9", STR_X12_C9, m::astr_x(12, 9, 0)),
            ("LDRB_W12_C9", LDRB_W12_C9, m::aldrb(12, 9, 0)),
            ("LDR_X17_C9_8", LDR_X17_C9_8, m::aldr_x(17, 9, 8)),
            ("LDR_X6_C9_16", LDR_X6_C9_16, m::aldr_x(6, 9, 16)),
            ("LDR_X7_C9_24", LDR_X7_C9_24, m::aldr_x(7, 9, 24)),
            ("STR_X17_C9_8", STR_X17_C9_8, m::astr_x(17, 9, 8)),
            ("STR_X6_C9_16", STR_X6_C9_16, m::astr_x(6, 9, 16)),
            ("STR_X7_C9_24", STR_X7_C9_24, m::astr_x(7, 9, 24)),
            ("ADD_C9_C9_32", ADD_C9_C9_32, m::add_imm(9, 9, 32)),
            ("LD_CAP_T2_CT3", LD_CAP_T2_CT3, r::ld_cap(7, 28)),
            ("LD_CAP_T4_CT3", LD_CAP_T4_CT3, r::ld_cap(29, 28)),
            ("LD_CAP_T5_CT3", LD_CAP_T5_CT3, r::ld_cap(30, 28)),
            ("SD_CAP_T2_CT3", SD_CAP_T2_CT3, r::sd_cap(7, 28)),
            ("SD_CAP_T4_CT3", SD_CAP_T4_CT3, r::sd_cap(29, 28)),
            ("SD_CAP_T5_CT3", SD_CAP_T5_CT3, r::sd_cap(30, 28)),
            ("STRB_W12_C9", STRB_W12_C9, m::astrb(12, 9, 0)),
            ("ADD_C9_C9_8", ADD_C9_C9_8, m::add_imm(9, 9, 8)),
            ("ADD_C9_C9_1", ADD_C9_C9_1, m::add_imm(9, 9, 1)),
            ("STR_C9_C9", STR_C9_C9, m::astr_cap(9, 9, 0)),
            ("STR_C9_C10", STR_C9_C10, m::astr_cap(9, 10, 0)),
            ("BR_C9", BR_C9, m::br(9)),
            ("STR_C9_X12", STR_C9_X12, m::str_cap(9, 12, 0)),
            ("MOV_C20_C9", MOV_C20_C9, m::cpy(20, 9)),
            ("LDRB_W12_C20", LDRB_W12_C20, m::aldrb(12, 20, 0)),
            (
                "CINCOFFSET_CT3_CTP_A0",
                CINCOFFSET_CT3_CTP_A0,
                r::cincoffset(28, 4, 10),
            ),
            (
                "CINCOFFSET_CT4_CTP_A1",
                CINCOFFSET_CT4_CTP_A1,
                r::cincoffset(29, 4, 11),
            ),
            ("LC_CAP_CT3_CT3", LC_CAP_CT3_CT3, r::lc_cap(28, 28)),
            ("CGETBASE_T0_CT3", CGETBASE_T0_CT3, r::cgetbase(5, 28)),
            (
                "CSETADDR_CT3_CT3_T0",
                CSETADDR_CT3_CT3_T0,
                r::csetaddr(28, 28, 5),
            ),
            ("LD_CAP_T1_CT3", LD_CAP_T1_CT3, r::ld_cap(6, 28)),
            ("SD_CAP_T1_CT3", SD_CAP_T1_CT3, r::sd_cap(6, 28)),
            ("LBU_CAP_T1_CT3", LBU_CAP_T1_CT3, r::lbu_cap(6, 28)),
            ("SB_CAP_T1_CT3", SB_CAP_T1_CT3, r::sb_cap(6, 28)),
            (
                "CINCOFFSETIMM_CT3_8",
                CINCOFFSETIMM_CT3_8,
                r::cincoffsetimm(28, 28, 8),
            ),
            (
                "CINCOFFSETIMM_CT3_1",
                CINCOFFSETIMM_CT3_1,
                r::cincoffsetimm(28, 28, 1),
            ),
            ("SC_CAP_CT3_CT3", SC_CAP_CT3_CT3, r::sc_cap(28, 28)),
            ("SC_CAP_CT3_CT4", SC_CAP_CT3_CT4, r::sc_cap(28, 29)),
            ("CJALR_CRA_CT3", CJALR_CRA_CT3, r::cjalr(1, 28)),
            ("SC_CT3_A2", SC_CT3_A2, r::sc(28, 12, 0)),
            ("CMOVE_CS2_CT3", CMOVE_CS2_CT3, r::cmove(18, 28)),
            ("LBU_CAP_T1_CS2", LBU_CAP_T1_CS2, r::lbu_cap(6, 18)),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(_, got, want)| got != want)
            .map(|(name, got, want)| format!("{name}: {got:#010X}, encoder says {want:#010X}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// capmon.h carries the same words for C cVMs, each followed by `/* NAME */`: every one
    /// must be the word of that name here.
    #[test]
    fn the_c_header_uses_the_same_words() {
        let header = include_str!("../include/capmon.h");
        let named: &[(&str, u32)] = &[
            ("MRS_C9_STORE", MRS_C9_STORE),
            ("ADD_C9_C9_X10", ADD_C9_C9_X10),
            ("LDR_C9_C9", LDR_C9_C9),
            ("SCOFF_C9_C9_X11", SCOFF_C9_C9_X11),
            ("LDRB_W12_C9", LDRB_W12_C9),
            ("STRB_W12_C9", STRB_W12_C9),
            ("ADD_C9_C9_1", ADD_C9_C9_1),
            ("CINCOFFSET_CT3_CTP_A0", CINCOFFSET_CT3_CTP_A0),
            ("LC_CAP_CT3_CT3", LC_CAP_CT3_CT3),
            ("CGETBASE_T0_CT3", CGETBASE_T0_CT3),
            ("CSETADDR_CT3_CT3_T0", CSETADDR_CT3_CT3_T0),
            ("LBU_CAP_T1_CT3", LBU_CAP_T1_CT3),
            ("SB_CAP_T1_CT3", SB_CAP_T1_CT3),
            ("CINCOFFSETIMM_CT3_1", CINCOFFSETIMM_CT3_1),
        ];
        let mut seen = 0;
        for line in header.lines() {
            let Some(at) = line.find(" 0x") else { continue };
            let Some(comment) = line.find("/* ") else {
                continue;
            };
            if !(line.contains(".inst") || line.contains(".word")) {
                continue;
            }
            let word = u32::from_str_radix(&line[at + 3..at + 11], 16).expect("8 hex digits");
            let name = line[comment + 3..].trim_end_matches(" */").trim();
            let (_, want) = named
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("unknown word name {name}"));
            assert_eq!(word, *want, "{name} in capmon.h");
            seen += 1;
        }
        assert!(
            seen >= named.len(),
            "every raw word in capmon.h is named ({seen} found)"
        );
    }
}
