//! What a cVM exit means to the monitor (architecture-neutral), and the one-line fault report
//! a person reads: `cvm <name> fault: <cause> at pc …, address …, capability <role> <cap>`.

use alloc::string::String;
use core::fmt;

/// Which of a cVM's default capabilities a fault involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapRole {
    /// PCC: the code capability (fetches, jumps).
    Code,
    /// DDC: the data capability (loads and stores of cap-unaware code).
    Data,
    /// The stack capability.
    Stack,
    /// A general capability register the cVM loaded itself (CHERI-RISC-V names it: c0..c31).
    Register(u8),
}

impl fmt::Display for CapRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapRole::Code => write!(f, "PCC"),
            CapRole::Data => write!(f, "DDC"),
            CapRole::Stack => write!(f, "CSP"),
            CapRole::Register(n) => write!(f, "c{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Short cause, e.g. "capability bounds fault", "time budget exhausted".
    pub cause: &'static str,
    /// The decoded syndrome, for the curious.
    pub detail: String,
    pub pc: u64,
    pub address: Option<u64>,
    pub role: CapRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CvmEvent {
    /// A hostcall; its arguments stay in the saved registers (`hostcall_args`), so the event
    /// stays a few words and the hot path copies nothing.
    Hostcall {
        number: u64,
    },
    Interrupt,
    /// Boxed: faults are the cold path, and a small event keeps hostcalls cheap.
    Fault(alloc::boxed::Box<Fault>),
}

/// The run loop's side of running one cVM: the architecture's `run_until` hands it each exit
/// of the cVM, with the cVM's registers saved in `cpu()`, and resumes the cVM while `exit`
/// answers `Continue` (on RISC-V straight from the trap path, without leaving the switcher).
pub trait Exits {
    /// The architecture's per-cVM CPU state.
    type Cpu;
    /// What ends the run.
    type Done;
    fn cpu(&mut self) -> &mut Self::Cpu;
    /// A hostcall or interrupt (never a fault). Before a `Continue` it may change the saved
    /// hostcall result register, nothing else of the cVM's saved state.
    fn exit(&mut self, event: CvmEvent) -> core::ops::ControlFlow<Self::Done>;
    /// A fault always ends the run (the handler may restart the cVM, replacing its state).
    fn fault(&mut self, fault: alloc::boxed::Box<Fault>) -> Self::Done;
}

/// The report line. `capability` is how the involved capability is shown (its model, or
/// "none (no capability hardware)" on stock boards).
pub struct FaultReport<'a> {
    pub cvm: &'a str,
    pub fault: &'a Fault,
    pub capability: &'a dyn fmt::Display,
}

impl fmt::Display for FaultReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.fault;
        write!(
            f,
            "cvm {} fault: {} at pc {:#x}",
            self.cvm, fault.cause, fault.pc
        )?;
        match fault.address {
            Some(a) => write!(f, ", address {a:#x}")?,
            None => write!(f, ", no fault address")?,
        }
        write!(f, ", capability {} {}", fault.role, self.capability)?;
        if !fault.detail.is_empty() {
            write!(f, "; {}", fault.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn report_names_cvm_cause_pc_address_and_capability() {
        let fault = Fault {
            cause: "capability bounds fault",
            detail: "data abort (ESR 0x9200002a)".into(),
            pc: 0x4100_0040,
            address: Some(0x4020_0000),
            role: CapRole::Data,
        };
        let cap = "tag=1 perms=[Load,Store] base=0x41000000 len=0x100000";
        let line = FaultReport {
            cvm: "read-monitor",
            fault: &fault,
            capability: &cap,
        }
        .to_string();
        assert_eq!(
            line,
            "cvm read-monitor fault: capability bounds fault at pc 0x41000040, address 0x40200000, \
             capability DDC tag=1 perms=[Load,Store] base=0x41000000 len=0x100000; data abort (ESR 0x9200002a)"
        );
    }

    #[test]
    fn report_without_address() {
        let fault = Fault {
            cause: "time budget exhausted",
            detail: String::new(),
            pc: 0x10,
            address: None,
            role: CapRole::Code,
        };
        let line = FaultReport {
            cvm: "spin",
            fault: &fault,
            capability: &"x",
        }
        .to_string();
        assert_eq!(
            line,
            "cvm spin fault: time budget exhausted at pc 0x10, no fault address, capability PCC x"
        );
        let forged = Fault {
            role: CapRole::Register(11),
            ..fault
        };
        let line = FaultReport {
            cvm: "forge-cap",
            fault: &forged,
            capability: &"tag=0",
        }
        .to_string();
        assert!(line.contains("capability c11 tag=0"), "{line}");
    }
}
