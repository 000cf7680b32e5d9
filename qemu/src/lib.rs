//! Host side of capmon: the QEMU boot runner and host tools.
