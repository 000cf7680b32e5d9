//! CP_Call: calling another cVM's entry point through a sealed capability pair, with no monitor
//! on the path (`capmon_abi` hostcalls 34 and 35 set it up once).
//!
//! - The callee [`export`]s an entry (`extern "C" fn(u64, u64, u64, u64) -> u64`) with a stack
//!   area of its own memory; the monitor gives each importer its own slice of it.
//! - A caller [`import`]s the call: the monitor puts a pair sealed with the **callee's** object
//!   type into two slots of the caller's capability store — code: the callee's gate below,
//!   data: the callee's descriptor for this caller (its DDC, the caller's call stack, the entry,
//!   and the caller's return pair, sealed with the caller's type).
//! - [`CpCall::call`] is `capmon_cp_call`: it saves the caller's callee-saved registers on its
//!   own stack and its DDC and stack pointer in store slots [`CALL_SAVE_SLOT`] and the next
//!   (a tagged slot [`CALL_SAVE_SLOT`] means "a call is outstanding"), clears DDC, the store
//!   register, the stack pointer and every register but the four arguments and the pair, and
//!   branches to the pair: Morello `BRS C29, C10, C11`, CHERI-RISC-V `CInvoke ct2, ct1`. The
//!   hardware checks the pair (both tagged, sealed with one type, the pair permission, only the
//!   code half executable), unseals it and puts the descriptor in c29 / ct6.
//! - The callee's gate (`capmon_cp_gate`) installs the callee's DDC and its call stack from the
//!   descriptor, keeps the descriptor in the store register (compilers never touch it) while
//!   the entry runs, then clears everything but the result (x0 / a0; status x1 / a1 = 0) and
//!   branches to the caller's return pair, which the callee can use but never unseal.
//! - The caller's return stub (`capmon_cp_return`) gets its capability store back as the pair's
//!   data (c29 / ct6), refuses a return with no call outstanding (an illegal instruction: the
//!   monitor reports it against whoever's code made it), restores DDC, stack pointer and store
//!   register, clears the rest, and returns.
//! - If the callee faults or runs past the call budget, the monitor reports the callee and
//!   resumes the caller at its return stub with status [`CALL_FAILED`]: [`CpCall::call`]
//!   returns `Err`.
//!
//! Registers, Morello (A64 state, hybrid): args x0..x3, slot x4; pair c10 (code) / c11
//! (data); descriptor c29 in the gate; result x0, status x1. CHERI-RISC-V (integer mode): args
//! a0..a3, slot a4; pair ct2 / ct1 on the call, ct1 / ct2 on the return; descriptor ct6 (c31);
//! result a0, status a1. Upstream LLVM cannot assemble CHERI instructions: each is a raw word
//! of [`words`], named, and checked against the monitor's encoders by this crate's tests.

use capmon_abi::{Error, Hostcall, CALL_FAILED, CALL_LAST_PAIR_SLOT};

pub use capmon_abi::CALL_SAVE_SLOT;

use crate::{check, hostcall};

/// An entry point another cVM may call: four integer arguments, one integer result.
pub type Entry = extern "C" fn(u64, u64, u64, u64) -> u64;

/// An imported call, ready to be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpCall {
    slot: u64,
}

/// The two result registers of `capmon_cp_call`.
#[repr(C)]
struct Returned {
    value: u64,
    status: u64,
}

#[cfg(all(
    target_os = "none",
    any(target_arch = "aarch64", target_arch = "riscv64")
))]
extern "C" {
    fn capmon_cp_call(a0: u64, a1: u64, a2: u64, a3: u64, slot: u64) -> Returned;
    fn capmon_cp_gate();
    fn capmon_cp_return();
}

#[cfg(all(
    target_os = "none",
    any(target_arch = "aarch64", target_arch = "riscv64")
))]
fn stubs() -> (u64, u64) {
    (
        capmon_cp_gate as *const () as usize as u64,
        capmon_cp_return as *const () as usize as u64,
    )
}

#[cfg(not(all(
    target_os = "none",
    any(target_arch = "aarch64", target_arch = "riscv64")
)))]
fn stubs() -> (u64, u64) {
    (0, 0)
}

/// Offers `entry` as the call `name` (the manifest must name this cVM as its exporter), with
/// `stack` (of this cVM's memory, never used by it otherwise) split into one call stack per
/// importer: each importer's calls run on its own slice, so calls from different cVMs, on one
/// core or several, never share a stack.
pub fn export(name: &str, entry: Entry, stack: &'static mut [u8]) -> Result<(), Error> {
    let (gate, _) = stubs();
    // SAFETY: the monitor reads `name`, checks the gate, entry and stack ranges, and keeps the
    // stack range for the calls: `stack` is borrowed for 'static and not touched again here.
    check(unsafe {
        hostcall(
            Hostcall::CpCallExport,
            [
                name.as_ptr() as u64,
                name.len() as u64,
                gate,
                entry as *const () as usize as u64,
                stack.as_mut_ptr() as u64,
                stack.len() as u64,
            ],
        )
    })
    .map(|_| ())
}

/// Imports the call `name` into capability-store slots `slot` and `slot + 1` (`slot` at most
/// [`CALL_LAST_PAIR_SLOT`]). `Again` until its exporter has exported it.
pub fn import(name: &str, slot: u64) -> Result<CpCall, Error> {
    if slot > CALL_LAST_PAIR_SLOT {
        return Err(Error::Invalid);
    }
    let (_, return_stub) = stubs();
    // SAFETY: the monitor only reads `name` and writes the caller's capability store.
    check(unsafe {
        hostcall(
            Hostcall::CpCallImport,
            [
                name.as_ptr() as u64,
                name.len() as u64,
                slot,
                return_stub,
                0,
                0,
            ],
        )
    })?;
    Ok(CpCall { slot })
}

/// [`import`], waiting (1 ms naps) up to `timeout_ms` while the exporter has not exported the
/// call yet (or is restarting).
pub fn import_wait(name: &str, slot: u64, timeout_ms: u64) -> Result<CpCall, Error> {
    let mut left = timeout_ms;
    loop {
        match import(name, slot) {
            Err(Error::Again) if left > 0 => {
                left -= 1;
                crate::sleep(core::time::Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

impl CpCall {
    /// A call through whatever capability-store slots hold (no check that they were imported):
    /// what the attack cVMs use to show the hardware refusing a forged or swapped pair.
    pub fn from_slot(slot: u64) -> CpCall {
        CpCall { slot }
    }

    /// Calls the entry with `args`; its result, or the error the monitor reports when it had
    /// to end the call (the callee faulted or ran past its budget: `Fault`).
    pub fn call(&self, args: [u64; 4]) -> Result<u64, Error> {
        let r = self.raw(args);
        if r.status == CALL_FAILED {
            return Err(Error::check(r.value).err().unwrap_or(Error::Fault));
        }
        Ok(r.value)
    }

    #[cfg(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    ))]
    fn raw(&self, args: [u64; 4]) -> Returned {
        // SAFETY: `capmon_cp_call` follows the C ABI: it saves and restores every callee-saved
        // register, the stack pointer, DDC and the store register itself, and touches no
        // memory of this cVM but its own frame and store slots 12 and 13.
        unsafe { capmon_cp_call(args[0], args[1], args[2], args[3], self.slot) }
    }

    #[cfg(not(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    )))]
    fn raw(&self, args: [u64; 4]) -> Returned {
        let _ = (args, self.slot);
        panic!("calls between cVMs exist only under capmon");
    }
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    ".section .text.capmon_cp_call, \"ax\"",
    ".global capmon_cp_call",
    ".type capmon_cp_call, %function",
    ".balign 4",
    // On entry: x0..x3 the arguments, x4 the pair's slot.
    "capmon_cp_call:",
    "stp x29, x30, [sp, #-96]!",
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    ".inst {mrs_store}",     // mrs c9, CTPIDR_EL0         the capability store
    ".inst {mrs_ddc}",       // mrs c10, DDC
    ".inst {save_ddc}",      // str c10, [c9, #192]        slot 12: DDC, "a call is outstanding"
    ".inst {mov_c10_csp}",   // mov c10, csp
    ".inst {save_sp}",       // str c10, [c9, #208]        slot 13: CSP
    ".inst {pair_at}",       // add c9, c9, x4, uxtx #4
    ".inst {pair_code}",     // ldr c10, [c9]
    ".inst {pair_data}",     // ldr c11, [c9, #16]
    "mov x8, #0",            // c8 := null
    ".inst {ddc_null}",      // msr DDC, c8
    ".inst {store_null}",    // msr CTPIDR_EL0, c8
    ".inst {csp_null}",      // mov csp, c8
    "mov x4, #0", "mov x5, #0", "mov x6, #0", "mov x7, #0", "mov x9, #0",
    "mov x12, #0", "mov x13, #0", "mov x14, #0", "mov x15, #0", "mov x16, #0",
    "mov x17, #0", "mov x18, #0", "mov x19, #0", "mov x20, #0", "mov x21, #0",
    "mov x22, #0", "mov x23, #0", "mov x24, #0", "mov x25, #0", "mov x26, #0",
    "mov x27, #0", "mov x28, #0", "mov x29, #0", "mov x30, #0",
    ".inst {brs}",           // brs c29, c10, c11          to the callee's gate
    ".size capmon_cp_call, . - capmon_cp_call",
    "",
    ".global capmon_cp_return",
    ".type capmon_cp_return, %function",
    ".balign 4",
    // On entry (through the return pair): c29 the capability store, x0 the value, x1 status.
    "capmon_cp_return:",
    ".inst {load_ddc}",      // ldr c9, [c29, #192]
    ".inst {gctag}",         // gctag x10, c9
    "cbz x10, 1f",
    ".inst {ddc_back}",      // msr DDC, c9
    ".inst {load_sp}",       // ldr c9, [c29, #208]
    ".inst {csp_back}",      // mov csp, c9
    ".inst {store_back}",    // msr CTPIDR_EL0, c29
    ".inst {done}",          // str czr, [c29, #192]       no call outstanding
    "mov x2, #0", "mov x3, #0", "mov x4, #0", "mov x5, #0", "mov x6, #0",
    "mov x7, #0", "mov x8, #0", "mov x9, #0", "mov x10, #0", "mov x11, #0",
    "mov x12, #0", "mov x13, #0", "mov x14, #0", "mov x15, #0", "mov x16, #0",
    "mov x17, #0", "mov x18, #0",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp x29, x30, [sp], #96",
    "ret",
    // A return with no call outstanding (a replayed or forged return): fault.
    "1: udf #0xca11",
    ".size capmon_cp_return, . - capmon_cp_return",
    "",
    ".global capmon_cp_gate",
    ".type capmon_cp_gate, %function",
    ".balign 4",
    // On entry (through an entry pair): c29 the descriptor, x0..x3 the arguments.
    "capmon_cp_gate:",
    ".inst {d_ddc}",         // ldr c8, [c29]              the callee's DDC
    ".inst {ddc_c8}",        // msr DDC, c8
    ".inst {d_stack}",       // ldr c8, [c29, #16]         this caller's call stack (at its top)
    ".inst {csp_c8}",        // mov csp, c8
    ".inst {d_entry}",       // ldr x8, [c29, #32]         the entry
    ".inst {keep_desc}",     // msr CTPIDR_EL0, c29        kept there while the entry runs
    "mov x29, #0",
    "blr x8",
    ".inst {mrs_store}",     // mrs c9, CTPIDR_EL0         the descriptor again
    ".inst {ret_code}",      // ldr c10, [c9, #48]         the caller's return pair
    ".inst {ret_data}",      // ldr c11, [c9, #64]
    "mov x1, #0",
    "mov x8, #0",
    ".inst {ddc_null}",      // msr DDC, c8
    ".inst {store_null}",    // msr CTPIDR_EL0, c8
    ".inst {csp_null}",      // mov csp, c8
    // x19..x29 hold what they held at the gate (the caller's zeros): the entry preserved
    // them (AAPCS64), so only the caller-saved registers can carry the callee's values.
    "mov x2, #0", "mov x3, #0", "mov x4, #0", "mov x5, #0", "mov x6, #0",
    "mov x7, #0", "mov x9, #0", "mov x12, #0", "mov x13, #0", "mov x14, #0",
    "mov x15, #0", "mov x16, #0", "mov x17, #0", "mov x18, #0", "mov x30, #0",
    ".inst {brs}",           // brs c29, c10, c11          back through the return pair
    ".size capmon_cp_gate, . - capmon_cp_gate",
    ".text",
    mrs_store = const words::MRS_C9_STORE,
    mrs_ddc = const words::MRS_C10_DDC,
    save_ddc = const words::STR_C10_C9_192,
    mov_c10_csp = const words::MOV_C10_CSP,
    save_sp = const words::STR_C10_C9_208,
    pair_at = const words::ADD_C9_C9_X4_LSL4,
    pair_code = const words::LDR_C10_C9,
    pair_data = const words::LDR_C11_C9_16,
    ddc_null = const words::MSR_DDC_C8,
    store_null = const words::MSR_STORE_C8,
    csp_null = const words::MOV_CSP_C8,
    brs = const words::BRS_C10_C11,
    load_ddc = const words::LDR_C9_C29_192,
    gctag = const words::GCTAG_X10_C9,
    ddc_back = const words::MSR_DDC_C9,
    load_sp = const words::LDR_C9_C29_208,
    csp_back = const words::MOV_CSP_C9,
    store_back = const words::MSR_STORE_C29,
    done = const words::STR_CZR_C29_192,
    d_ddc = const words::LDR_C8_C29,
    ddc_c8 = const words::MSR_DDC_C8,
    d_stack = const words::LDR_C8_C29_16,
    csp_c8 = const words::MOV_CSP_C8,
    d_entry = const words::LDR_X8_C29_32,
    keep_desc = const words::MSR_STORE_C29,
    ret_code = const words::LDR_C10_C9_48,
    ret_data = const words::LDR_C11_C9_64,
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    ".section .text.capmon_cp_call, \"ax\"",
    ".global capmon_cp_call",
    ".type capmon_cp_call, @function",
    ".balign 4",
    // On entry: a0..a3 the arguments, a4 the pair's slot.
    "capmon_cp_call:",
    "addi sp, sp, -112",
    "sd ra, 0(sp)", "sd s0, 8(sp)", "sd s1, 16(sp)", "sd s2, 24(sp)", "sd s3, 32(sp)",
    "sd s4, 40(sp)", "sd s5, 48(sp)", "sd s6, 56(sp)", "sd s7, 64(sp)", "sd s8, 72(sp)",
    "sd s9, 80(sp)", "sd s10, 88(sp)", "sd s11, 96(sp)",
    ".word {read_ddc}",      // cspecialrw ct0, ddc, c0     ct0 := DDC
    ".word {slot12}",        // cincoffset ct1, ctp, 192
    ".word {save_ddc}",      // sc.cap ct0, (ct1)           slot 12: DDC, "a call is outstanding"
    ".word {slot13}",        // cincoffset ct1, ctp, 208
    ".word {save_sp}",       // sd.cap sp, (ct1)            slot 13: sp
    "slli a4, a4, 4",
    ".word {pair_at}",       // cincoffset ct1, ctp, a4
    ".word {pair_code}",     // lc.cap ct2, (ct1)
    ".word {next}",          // cincoffset ct1, ct1, 16
    ".word {pair_data}",     // lc.cap ct1, (ct1)
    "li t0, 0",              // ct0 := null
    ".word {ddc_null}",      // cspecialrw c0, ddc, ct0
    "li tp, 0", "li sp, 0", "li ra, 0", "li gp, 0",
    "li s0, 0", "li s1, 0", "li s2, 0", "li s3, 0", "li s4, 0", "li s5, 0",
    "li s6, 0", "li s7, 0", "li s8, 0", "li s9, 0", "li s10, 0", "li s11, 0",
    "li a4, 0", "li a5, 0", "li a6, 0", "li a7, 0",
    "li t3, 0", "li t4, 0", "li t5, 0", "li t6, 0",
    ".word {invoke_call}",   // cinvoke ct2, ct1            to the callee's gate
    ".size capmon_cp_call, . - capmon_cp_call",
    "",
    ".global capmon_cp_return",
    ".type capmon_cp_return, @function",
    ".balign 4",
    // On entry (through the return pair): ct6 the capability store, a0 the value, a1 status.
    "capmon_cp_return:",
    ".word {r_slot12}",      // cincoffset ct0, ct6, 192
    ".word {r_load_ddc}",    // lc.cap ct1, (ct0)
    ".word {r_tag}",         // cgettag t2, ct1
    "beqz t2, 1f",
    ".word {r_ddc}",         // cspecialrw c0, ddc, ct1
    ".word {r_slot13}",      // cincoffset ct2, ct6, 208
    ".word {r_sp}",          // ld.cap sp, (ct2)
    ".word {r_ctp}",         // cmove ctp, ct6
    ".word {r_done}",        // sc.cap c0, (ct0)            no call outstanding
    "li t0, 0", "li t1, 0", "li t2, 0", "li t3, 0", "li t4, 0", "li t5, 0", "li t6, 0",
    "li a2, 0", "li a3, 0", "li a4, 0", "li a5, 0", "li a6, 0", "li a7, 0", "li gp, 0",
    "ld ra, 0(sp)", "ld s0, 8(sp)", "ld s1, 16(sp)", "ld s2, 24(sp)", "ld s3, 32(sp)",
    "ld s4, 40(sp)", "ld s5, 48(sp)", "ld s6, 56(sp)", "ld s7, 64(sp)", "ld s8, 72(sp)",
    "ld s9, 80(sp)", "ld s10, 88(sp)", "ld s11, 96(sp)",
    "addi sp, sp, 112",
    "ret",
    // A return with no call outstanding (a replayed or forged return): fault.
    "1: .word 0",
    ".size capmon_cp_return, . - capmon_cp_return",
    "",
    ".global capmon_cp_gate",
    ".type capmon_cp_gate, @function",
    ".balign 4",
    // On entry (through an entry pair): ct6 the descriptor, a0..a3 the arguments.
    "capmon_cp_gate:",
    ".word {g_ddc}",         // lc.cap ct0, (ct6)           the callee's DDC
    ".word {ddc_set}",       // cspecialrw c0, ddc, ct0
    ".word {g_at16}",        // cincoffset ct0, ct6, 16
    ".word {g_sp}",          // ld.cap sp, (ct0)            this caller's call stack top
    ".word {g_at32}",        // cincoffset ct0, ct6, 32
    ".word {g_entry}",       // ld.cap t0, (ct0)            the entry
    ".word {g_keep}",        // cmove ctp, ct6              kept there while the entry runs
    "li t6, 0",
    "jalr t0",
    ".word {g_at48}",        // cincoffset ct0, ctp, 48
    ".word {g_ret_code}",    // lc.cap ct1, (ct0)           the caller's return pair
    ".word {g_at64}",        // cincoffset ct0, ctp, 64
    ".word {g_ret_data}",    // lc.cap ct2, (ct0)
    "li a1, 0",
    "li t0, 0",
    ".word {ddc_null}",      // cspecialrw c0, ddc, ct0     DDC := null
    // s0..s11 hold what they held at the gate (the caller's zeros): the entry preserved
    // them (the RISC-V calling convention), so only the others can carry the callee's values.
    "li tp, 0", "li sp, 0", "li ra, 0", "li gp, 0",
    "li a2, 0", "li a3, 0", "li a4, 0", "li a5, 0", "li a6, 0", "li a7, 0",
    "li t3, 0", "li t4, 0", "li t5, 0", "li t6, 0",
    ".word {invoke_ret}",    // cinvoke ct1, ct2            back through the return pair
    ".size capmon_cp_gate, . - capmon_cp_gate",
    ".text",
    read_ddc = const words::CSPECIALRW_CT0_DDC,
    slot12 = const words::CINCOFFSETIMM_CT1_CTP_192,
    save_ddc = const words::SC_CAP_CT0_CT1,
    slot13 = const words::CINCOFFSETIMM_CT1_CTP_208,
    save_sp = const words::SD_CAP_SP_CT1,
    pair_at = const words::CINCOFFSET_CT1_CTP_A4,
    pair_code = const words::LC_CAP_CT2_CT1,
    next = const words::CINCOFFSETIMM_CT1_CT1_16,
    pair_data = const words::LC_CAP_CT1_CT1,
    ddc_null = const words::CSPECIALRW_DDC_CT0,
    invoke_call = const words::CINVOKE_CT2_CT1,
    r_slot12 = const words::CINCOFFSETIMM_CT0_CT6_192,
    r_load_ddc = const words::LC_CAP_CT1_CT0,
    r_tag = const words::CGETTAG_T2_CT1,
    r_ddc = const words::CSPECIALRW_DDC_CT1,
    r_slot13 = const words::CINCOFFSETIMM_CT2_CT6_208,
    r_sp = const words::LD_CAP_SP_CT2,
    r_ctp = const words::CMOVE_CTP_CT6,
    r_done = const words::SC_CAP_C0_CT0,
    g_ddc = const words::LC_CAP_CT0_CT6,
    ddc_set = const words::CSPECIALRW_DDC_CT0,
    g_at16 = const words::CINCOFFSETIMM_CT0_CT6_16,
    g_sp = const words::LD_CAP_SP_CT0,
    g_at32 = const words::CINCOFFSETIMM_CT0_CT6_32,
    g_entry = const words::LD_CAP_T0_CT0,
    g_keep = const words::CMOVE_CTP_CT6,
    g_at48 = const words::CINCOFFSETIMM_CT0_CTP_48,
    g_ret_code = const words::LC_CAP_CT1_CT0,
    g_at64 = const words::CINCOFFSETIMM_CT0_CTP_64,
    g_ret_data = const words::LC_CAP_CT2_CT0,
    invoke_ret = const words::CINVOKE_CT1_CT2,
);

/// Misuses of the call mechanism that the hardware (or the return stub) must stop: what the
/// attack cVMs use. Each returns only if the attack was not stopped.
pub mod probe {
    #[cfg(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    ))]
    use super::words as w;

    /// Branches to a "pair" of this cVM's own DDC, unsealed, as code and data: no sealed pair
    /// can be made without the monitor's sealer.
    pub fn forged_pair() {
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: meant to fault at the branch target; never returns.
        unsafe {
            core::arch::asm!(
                ".inst {a}",  // mrs c10, DDC
                ".inst {b}",  // mrs c11, DDC
                ".inst {brs}", // brs c29, c10, c11
                a = const w::MRS_C10_DDC,
                b = const w::MRS_C11_DDC,
                brs = const w::BRS_C10_C11,
                options(noreturn),
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as above.
        unsafe {
            core::arch::asm!(
                ".word {a}",  // cspecialrw ct1, ddc, c0
                ".word {b}",  // cspecialrw ct2, ddc, c0
                ".word {i}",  // cinvoke ct2, ct1
                a = const w::CSPECIALRW_CT1_DDC,
                b = const w::CSPECIALRW_CT2_DDC,
                i = const w::CINVOKE_CT2_CT1,
                options(noreturn),
            );
        }
    }

    /// Jumps to this cVM's own return stub with its capability store as the "return data",
    /// as a replayed return would arrive, when no call is outstanding.
    pub fn replayed_return() {
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: meant to stop at the return stub's check; never returns.
        unsafe {
            core::arch::asm!(
                ".inst {a}",  // mrs c29, CTPIDR_EL0
                "b capmon_cp_return",
                a = const w::MRS_C29_STORE,
                options(noreturn),
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as above.
        unsafe {
            core::arch::asm!(
                ".word {a}",  // cmove ct6, ctp
                "j capmon_cp_return",
                a = const w::CMOVE_CT6_CTP,
                options(noreturn),
            );
        }
    }

    /// Inside an entry: loads the caller's return code capability from the descriptor (kept
    /// in the store register while the entry runs) and stores it to `into`, this cVM's own
    /// memory, to keep it past the call. DDC has no StoreCap: it must fault.
    pub fn stash_return_pair(into: *mut [u64; 2]) {
        let _ = into;
        #[cfg(all(target_os = "none", target_arch = "aarch64"))]
        // SAFETY: meant to fault at the store; touches c9/c10 and 16 bytes at `into`.
        unsafe {
            core::arch::asm!(
                ".inst {a}",  // mrs c9, CTPIDR_EL0
                ".inst {b}",  // ldr c10, [c9, #48]
                ".inst {c}",  // str c10, [x12]
                a = const w::MRS_C9_STORE,
                b = const w::LDR_C10_C9_48,
                c = const w::STR_C10_X12,
                in("x12") into,
                out("x9") _, out("x10") _,
            );
        }
        #[cfg(all(target_os = "none", target_arch = "riscv64"))]
        // SAFETY: as above; touches ct0/ct1 and 16 bytes at `into`.
        unsafe {
            core::arch::asm!(
                ".word {a}",  // cincoffset ct0, ctp, 48
                ".word {b}",  // lc.cap ct1, (ct0)
                ".word {c}",  // sc ct1, 0(a2)
                a = const w::CINCOFFSETIMM_CT0_CTP_48,
                b = const w::LC_CAP_CT1_CT0,
                c = const w::SC_CT1_A2,
                in("x12") into,
                out("x5") _, out("x6") _,
            );
        }
    }
}

/// The raw instruction words of the stubs above (checked against the monitor's encoders).
pub mod words {
    // Morello (A64 state; "ldr/str Cn-based" are the alternate-base forms).
    /// `mrs c9, CTPIDR_EL0`
    pub const MRS_C9_STORE: u32 = 0xC29BD049;
    /// `mrs c10, DDC`
    pub const MRS_C10_DDC: u32 = 0xC29B412A;
    /// `str c10, [c9, #192]`
    pub const STR_C10_C9_192: u32 = 0x8240C12A;
    /// `str c10, [c9, #208]`
    pub const STR_C10_C9_208: u32 = 0x8240D12A;
    /// `mov c10, csp` (`add c10, csp, #0`)
    pub const MOV_C10_CSP: u32 = 0x020003EA;
    /// `add c9, c9, x4, uxtx #4`
    pub const ADD_C9_C9_X4_LSL4: u32 = 0xC2A47129;
    /// `ldr c10, [c9]`
    pub const LDR_C10_C9: u32 = 0x8260012A;
    /// `ldr c11, [c9, #16]`
    pub const LDR_C11_C9_16: u32 = 0x8260112B;
    /// `ldr c10, [c9, #48]`
    pub const LDR_C10_C9_48: u32 = 0x8260312A;
    /// `ldr c11, [c9, #64]`
    pub const LDR_C11_C9_64: u32 = 0x8260412B;
    /// `msr DDC, c8`
    pub const MSR_DDC_C8: u32 = 0xC28B4128;
    /// `msr CTPIDR_EL0, c8`
    pub const MSR_STORE_C8: u32 = 0xC28BD048;
    /// `mov csp, c8` (`add csp, c8, #0`)
    pub const MOV_CSP_C8: u32 = 0x0200011F;
    /// `brs c29, c10, c11`
    pub const BRS_C10_C11: u32 = 0xC2CB8540;
    /// `ldr c9, [c29, #192]`
    pub const LDR_C9_C29_192: u32 = 0x8260C3A9;
    /// `ldr c9, [c29, #208]`
    pub const LDR_C9_C29_208: u32 = 0x8260D3A9;
    /// `gctag x10, c9`
    pub const GCTAG_X10_C9: u32 = 0xC2C0912A;
    /// `msr DDC, c9`
    pub const MSR_DDC_C9: u32 = 0xC28B4129;
    /// `mov csp, c9`
    pub const MOV_CSP_C9: u32 = 0x0200013F;
    /// `msr CTPIDR_EL0, c29`
    pub const MSR_STORE_C29: u32 = 0xC28BD05D;
    /// `str czr, [c29, #192]`
    pub const STR_CZR_C29_192: u32 = 0x8240C3BF;
    /// `ldr c8, [c29]`
    pub const LDR_C8_C29: u32 = 0x826003A8;
    /// `ldr c8, [c29, #16]`
    pub const LDR_C8_C29_16: u32 = 0x826013A8;
    /// `ldr x8, [c29, #32]`
    pub const LDR_X8_C29_32: u32 = 0x82604FA8;
    /// `str c10, [x12]` (an integer address: through DDC)
    pub const STR_C10_X12: u32 = 0xC200018A;
    /// `mrs c11, DDC`
    pub const MRS_C11_DDC: u32 = 0xC29B412B;
    /// `mrs c29, CTPIDR_EL0`
    pub const MRS_C29_STORE: u32 = 0xC29BD05D;

    // CHERI-RISC-V (integer mode; `lc.cap` / `sc.cap` / `ld.cap` / `sd.cap` take a capability
    // base).
    /// `cspecialrw ct0, ddc, c0` (read DDC)
    pub const CSPECIALRW_CT0_DDC: u32 = 0x021002DB;
    /// `cincoffset ct1, ctp, 192`
    pub const CINCOFFSETIMM_CT1_CTP_192: u32 = 0x0C02135B;
    /// `cincoffset ct1, ctp, 208`
    pub const CINCOFFSETIMM_CT1_CTP_208: u32 = 0x0D02135B;
    /// `sc.cap ct0, (ct1)`
    pub const SC_CAP_CT0_CT1: u32 = 0xF853065B;
    /// `sd.cap sp, (ct1)`
    pub const SD_CAP_SP_CT1: u32 = 0xF82305DB;
    /// `cincoffset ct1, ctp, a4`
    pub const CINCOFFSET_CT1_CTP_A4: u32 = 0x22E2035B;
    /// `lc.cap ct2, (ct1)`
    pub const LC_CAP_CT2_CT1: u32 = 0xFBF303DB;
    /// `cincoffset ct1, ct1, 16`
    pub const CINCOFFSETIMM_CT1_CT1_16: u32 = 0x0103135B;
    /// `lc.cap ct1, (ct1)`
    pub const LC_CAP_CT1_CT1: u32 = 0xFBF3035B;
    /// `cspecialrw c0, ddc, ct0` (write DDC)
    pub const CSPECIALRW_DDC_CT0: u32 = 0x0212805B;
    /// `cinvoke ct2, ct1`
    pub const CINVOKE_CT2_CT1: u32 = 0xFC6380DB;
    /// `cinvoke ct1, ct2`
    pub const CINVOKE_CT1_CT2: u32 = 0xFC7300DB;
    /// `cincoffset ct0, ct6, 192`
    pub const CINCOFFSETIMM_CT0_CT6_192: u32 = 0x0C0F92DB;
    /// `lc.cap ct1, (ct0)`
    pub const LC_CAP_CT1_CT0: u32 = 0xFBF2835B;
    /// `cgettag t2, ct1`
    pub const CGETTAG_T2_CT1: u32 = 0xFE4303DB;
    /// `cspecialrw c0, ddc, ct1`
    pub const CSPECIALRW_DDC_CT1: u32 = 0x0213005B;
    /// `cincoffset ct2, ct6, 208`
    pub const CINCOFFSETIMM_CT2_CT6_208: u32 = 0x0D0F93DB;
    /// `ld.cap sp, (ct2)`
    pub const LD_CAP_SP_CT2: u32 = 0xFAB3815B;
    /// `cmove ctp, ct6`
    pub const CMOVE_CTP_CT6: u32 = 0xFEAF825B;
    /// `sc.cap c0, (ct0)`
    pub const SC_CAP_C0_CT0: u32 = 0xF802865B;
    /// `lc.cap ct0, (ct6)`
    pub const LC_CAP_CT0_CT6: u32 = 0xFBFF82DB;
    /// `cincoffset ct0, ct6, 16`
    pub const CINCOFFSETIMM_CT0_CT6_16: u32 = 0x010F92DB;
    /// `ld.cap sp, (ct0)`
    pub const LD_CAP_SP_CT0: u32 = 0xFAB2815B;
    /// `cincoffset ct0, ct6, 32`
    pub const CINCOFFSETIMM_CT0_CT6_32: u32 = 0x020F92DB;
    /// `ld.cap t0, (ct0)`
    pub const LD_CAP_T0_CT0: u32 = 0xFAB282DB;
    /// `cincoffset ct0, ctp, 48`
    pub const CINCOFFSETIMM_CT0_CTP_48: u32 = 0x030212DB;
    /// `cincoffset ct0, ctp, 64`
    pub const CINCOFFSETIMM_CT0_CTP_64: u32 = 0x040212DB;
    /// `lc.cap ct2, (ct0)`
    pub const LC_CAP_CT2_CT0: u32 = 0xFBF283DB;
    /// `sc ct1, 0(a2)` (an integer address: through DDC)
    pub const SC_CT1_A2: u32 = 0x00664023;
    /// `cspecialrw ct1, ddc, c0` (read DDC)
    pub const CSPECIALRW_CT1_DDC: u32 = 0x0210035B;
    /// `cspecialrw ct2, ddc, c0` (read DDC)
    pub const CSPECIALRW_CT2_DDC: u32 = 0x021003DB;
    /// `cmove ct6, ctp`
    pub const CMOVE_CT6_CTP: u32 = 0xFEA20FDB;
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
            ("MRS_C10_DDC", MRS_C10_DDC, m::mrs_cap(10, sysreg::DDC)),
            ("STR_C10_C9_192", STR_C10_C9_192, m::astr_cap(10, 9, 192)),
            ("STR_C10_C9_208", STR_C10_C9_208, m::astr_cap(10, 9, 208)),
            ("MOV_C10_CSP", MOV_C10_CSP, m::add_imm(10, 31, 0)),
            (
                "ADD_C9_C9_X4_LSL4",
                ADD_C9_C9_X4_LSL4,
                m::add_ext(9, 9, 4, extend::UXTX, 4),
            ),
            ("LDR_C10_C9", LDR_C10_C9, m::aldr_cap(10, 9, 0)),
            ("LDR_C11_C9_16", LDR_C11_C9_16, m::aldr_cap(11, 9, 16)),
            ("LDR_C10_C9_48", LDR_C10_C9_48, m::aldr_cap(10, 9, 48)),
            ("LDR_C11_C9_64", LDR_C11_C9_64, m::aldr_cap(11, 9, 64)),
            ("MSR_DDC_C8", MSR_DDC_C8, m::msr_cap(sysreg::DDC, 8)),
            (
                "MSR_STORE_C8",
                MSR_STORE_C8,
                m::msr_cap(sysreg::CTPIDR_EL0, 8),
            ),
            ("MOV_CSP_C8", MOV_CSP_C8, m::add_imm(31, 8, 0)),
            ("BRS_C10_C11", BRS_C10_C11, m::brs_pair(10, 11)),
            ("LDR_C9_C29_192", LDR_C9_C29_192, m::aldr_cap(9, 29, 192)),
            ("LDR_C9_C29_208", LDR_C9_C29_208, m::aldr_cap(9, 29, 208)),
            ("GCTAG_X10_C9", GCTAG_X10_C9, m::gctag(10, 9)),
            ("MSR_DDC_C9", MSR_DDC_C9, m::msr_cap(sysreg::DDC, 9)),
            ("MOV_CSP_C9", MOV_CSP_C9, m::add_imm(31, 9, 0)),
            (
                "MSR_STORE_C29",
                MSR_STORE_C29,
                m::msr_cap(sysreg::CTPIDR_EL0, 29),
            ),
            ("STR_CZR_C29_192", STR_CZR_C29_192, m::astr_cap(31, 29, 192)),
            ("LDR_C8_C29", LDR_C8_C29, m::aldr_cap(8, 29, 0)),
            ("LDR_C8_C29_16", LDR_C8_C29_16, m::aldr_cap(8, 29, 16)),
            ("LDR_X8_C29_32", LDR_X8_C29_32, m::aldr_x(8, 29, 32)),
            ("STR_C10_X12", STR_C10_X12, m::str_cap(10, 12, 0)),
            ("MRS_C11_DDC", MRS_C11_DDC, m::mrs_cap(11, sysreg::DDC)),
            (
                "MRS_C29_STORE",
                MRS_C29_STORE,
                m::mrs_cap(29, sysreg::CTPIDR_EL0),
            ),
            ("SC_CT1_A2", SC_CT1_A2, r::sc(6, 12, 0)),
            (
                "CSPECIALRW_CT1_DDC",
                CSPECIALRW_CT1_DDC,
                r::cspecialrw(6, 1, 0),
            ),
            (
                "CSPECIALRW_CT2_DDC",
                CSPECIALRW_CT2_DDC,
                r::cspecialrw(7, 1, 0),
            ),
            ("CMOVE_CT6_CTP", CMOVE_CT6_CTP, r::cmove(31, 4)),
            (
                "CSPECIALRW_CT0_DDC",
                CSPECIALRW_CT0_DDC,
                r::cspecialrw(5, 1, 0),
            ),
            (
                "CINCOFFSETIMM_CT1_CTP_192",
                CINCOFFSETIMM_CT1_CTP_192,
                r::cincoffsetimm(6, 4, 192),
            ),
            (
                "CINCOFFSETIMM_CT1_CTP_208",
                CINCOFFSETIMM_CT1_CTP_208,
                r::cincoffsetimm(6, 4, 208),
            ),
            ("SC_CAP_CT0_CT1", SC_CAP_CT0_CT1, r::sc_cap(5, 6)),
            ("SD_CAP_SP_CT1", SD_CAP_SP_CT1, r::sd_cap(2, 6)),
            (
                "CINCOFFSET_CT1_CTP_A4",
                CINCOFFSET_CT1_CTP_A4,
                r::cincoffset(6, 4, 14),
            ),
            ("LC_CAP_CT2_CT1", LC_CAP_CT2_CT1, r::lc_cap(7, 6)),
            (
                "CINCOFFSETIMM_CT1_CT1_16",
                CINCOFFSETIMM_CT1_CT1_16,
                r::cincoffsetimm(6, 6, 16),
            ),
            ("LC_CAP_CT1_CT1", LC_CAP_CT1_CT1, r::lc_cap(6, 6)),
            (
                "CSPECIALRW_DDC_CT0",
                CSPECIALRW_DDC_CT0,
                r::cspecialrw(0, 1, 5),
            ),
            ("CINVOKE_CT2_CT1", CINVOKE_CT2_CT1, r::cinvoke(7, 6)),
            ("CINVOKE_CT1_CT2", CINVOKE_CT1_CT2, r::cinvoke(6, 7)),
            (
                "CINCOFFSETIMM_CT0_CT6_192",
                CINCOFFSETIMM_CT0_CT6_192,
                r::cincoffsetimm(5, 31, 192),
            ),
            ("LC_CAP_CT1_CT0", LC_CAP_CT1_CT0, r::lc_cap(6, 5)),
            ("CGETTAG_T2_CT1", CGETTAG_T2_CT1, r::cgettag(7, 6)),
            (
                "CSPECIALRW_DDC_CT1",
                CSPECIALRW_DDC_CT1,
                r::cspecialrw(0, 1, 6),
            ),
            (
                "CINCOFFSETIMM_CT2_CT6_208",
                CINCOFFSETIMM_CT2_CT6_208,
                r::cincoffsetimm(7, 31, 208),
            ),
            ("LD_CAP_SP_CT2", LD_CAP_SP_CT2, r::ld_cap(2, 7)),
            ("CMOVE_CTP_CT6", CMOVE_CTP_CT6, r::cmove(4, 31)),
            ("SC_CAP_C0_CT0", SC_CAP_C0_CT0, r::sc_cap(0, 5)),
            ("LC_CAP_CT0_CT6", LC_CAP_CT0_CT6, r::lc_cap(5, 31)),
            (
                "CINCOFFSETIMM_CT0_CT6_16",
                CINCOFFSETIMM_CT0_CT6_16,
                r::cincoffsetimm(5, 31, 16),
            ),
            ("LD_CAP_SP_CT0", LD_CAP_SP_CT0, r::ld_cap(2, 5)),
            (
                "CINCOFFSETIMM_CT0_CT6_32",
                CINCOFFSETIMM_CT0_CT6_32,
                r::cincoffsetimm(5, 31, 32),
            ),
            ("LD_CAP_T0_CT0", LD_CAP_T0_CT0, r::ld_cap(5, 5)),
            (
                "CINCOFFSETIMM_CT0_CTP_48",
                CINCOFFSETIMM_CT0_CTP_48,
                r::cincoffsetimm(5, 4, 48),
            ),
            (
                "CINCOFFSETIMM_CT0_CTP_64",
                CINCOFFSETIMM_CT0_CTP_64,
                r::cincoffsetimm(5, 4, 64),
            ),
            ("LC_CAP_CT2_CT0", LC_CAP_CT2_CT0, r::lc_cap(7, 5)),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(_, got, want)| got != want)
            .map(|(name, got, want)| format!("{name}: {got:#010X}, encoder says {want:#010X}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// `c/call.S` (the stubs for C cVMs) uses the same words: each `.inst`/`.word` is followed
    /// by `/* NAME */`, and must be that word here; and it has as many as the Rust stubs.
    #[test]
    fn the_c_stubs_use_the_same_words() {
        let source = include_str!("../c/call.S");
        let rust = include_str!("call.rs");
        let named = |name: &str| -> u32 {
            let line = rust
                .lines()
                .find(|l| l.contains(&format!("pub const {name}: u32 = ")))
                .unwrap_or_else(|| panic!("no word {name}"));
            let hex = line.rsplit("0x").next().expect("hex").trim_end_matches(';');
            u32::from_str_radix(hex, 16).expect("hex word")
        };
        let mut seen = 0;
        for line in source.lines() {
            let line = line.trim();
            let Some(rest) = line
                .strip_prefix(".inst 0x")
                .or_else(|| line.strip_prefix(".word 0x"))
            else {
                continue;
            };
            let word = u32::from_str_radix(&rest[..8], 16).expect("8 hex digits");
            let name = rest
                .split("/* ")
                .nth(1)
                .and_then(|r| r.split(" */").next())
                .unwrap_or_else(|| panic!("unnamed word: {line}"));
            assert_eq!(word, named(name), "{name} in call.S");
            seen += 1;
        }
        // The stubs are everything before the probes (which C does not carry).
        let stubs = rust.split("pub mod probe").next().expect("stubs");
        let in_rust = stubs.matches(".inst {").count() + stubs.matches(".word {").count();
        assert_eq!(seen, in_rust, "call.S carries every stub word");
    }

    /// The descriptor offsets the stubs use are the ABI's.
    #[test]
    fn stub_offsets_are_the_abi_offsets() {
        use capmon_abi::call_descriptor as d;
        assert_eq!(
            (d::DDC, d::STACK, d::ENTRY, d::RETURN_CODE, d::RETURN_DATA),
            (0, 16, 32, 48, 64)
        );
        assert_eq!(capmon_abi::CALL_SAVE_SLOT * capmon_abi::CAP_SLOT_BYTES, 192);
    }
}
