//! The software model of CHERI 128-bit capabilities (Morello and CHERI-RISC-V ISAv9).
//! (Being written: see issue 3.)
