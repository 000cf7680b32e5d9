//! Architecture backends. `insn` (raw CHERI instruction encoders) builds everywhere so it is
//! unit-tested on the host; the backends themselves build only for bare metal.

pub mod insn;
