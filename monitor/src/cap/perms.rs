//! Capability permissions as named bit sets, one type per architecture, in the bit positions
//! the hardware reports them (Morello GCPERM bits 17:0; CHERI-RISC-V CGetPerm, hardware bits
//! 11:0 and user bits 18:15).
//!
//! Hand-written instead of a bitflags crate: each set is a `u32` newtype with one constant per
//! permission and a table of names, which is all the monitor needs to derive role capabilities
//! ("remove Store") and to print them.

use core::fmt;
use core::ops::{BitAnd, BitOr, Sub};

/// What the capability model needs from a permission set of either architecture.
pub trait PermSet: Copy + Eq + fmt::Debug + fmt::Display {
    /// Every permission the architecture defines.
    const ALL: Self;
    /// The set holding exactly `bits` (unknown bits are kept, so nothing read from hardware is
    /// silently dropped; `Display` shows them in hex).
    fn from_bits(bits: u32) -> Self;
    /// The architectural bit pattern (what GCPERM / CGetPerm would return).
    fn bits(self) -> u32;
}

/// Defines a permission-set newtype: constants, set algebra, the name table and `Display`.
macro_rules! permission_set {
    (
        $(#[$type_doc:meta])*
        $type_name:ident {
            $( $(#[$perm_doc:meta])* $perm:ident = $bit:literal => $label:literal, )*
        }
    ) => {
        $(#[$type_doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $type_name(u32);

        impl $type_name {
            $( $(#[$perm_doc])* pub const $perm: Self = Self(1 << $bit); )*

            /// Every permission the architecture defines.
            pub const ALL: Self = Self(0 $( | (1 << $bit) )*);
            /// No permission at all.
            pub const EMPTY: Self = Self(0);
            /// Each permission with its name, in the order `Display` lists them (the order a
            /// reader scans for: data access first, then capability flow, then system rights).
            pub const NAMED: &'static [(Self, &'static str)] = &[ $( (Self::$perm, $label), )* ];

            /// The set holding exactly `bits`; unknown bits are kept (see [`Self::unknown_bits`]).
            pub const fn from_bits(bits: u32) -> Self {
                Self(bits)
            }
            /// The architectural bit pattern.
            pub const fn bits(self) -> u32 {
                self.0
            }
            /// Whether every permission in `other` is also in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
            pub const fn intersection(self, other: Self) -> Self {
                Self(self.0 & other.0)
            }
            /// `self` without the permissions in `other` (what CLRPERM / CAndPerm with the
            /// complement do).
            pub const fn difference(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }
            /// Bits set in `self` that the architecture gives no name.
            pub const fn unknown_bits(self) -> u32 {
                self.0 & !Self::ALL.0
            }
            /// The names of the permissions present, in `NAMED` order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::NAMED
                    .iter()
                    .filter(move |(perm, _)| self.contains(*perm))
                    .map(|(_, name)| *name)
            }
        }

        impl PermSet for $type_name {
            const ALL: Self = $type_name::ALL;
            fn from_bits(bits: u32) -> Self {
                $type_name::from_bits(bits)
            }
            fn bits(self) -> u32 {
                $type_name::bits(self)
            }
        }

        impl BitOr for $type_name {
            type Output = Self;
            fn bitor(self, other: Self) -> Self {
                self.union(other)
            }
        }

        impl BitAnd for $type_name {
            type Output = Self;
            fn bitand(self, other: Self) -> Self {
                self.intersection(other)
            }
        }

        impl Sub for $type_name {
            type Output = Self;
            fn sub(self, other: Self) -> Self {
                self.difference(other)
            }
        }

        /// `[Load,Store,Execute]`, with any unnamed bits appended in hex.
        impl fmt::Display for $type_name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[")?;
                let mut first = true;
                for name in self.names() {
                    if !first {
                        f.write_str(",")?;
                    }
                    f.write_str(name)?;
                    first = false;
                }
                if self.unknown_bits() != 0 {
                    if !first {
                        f.write_str(",")?;
                    }
                    write!(f, "{:#x}", self.unknown_bits())?;
                }
                f.write_str("]")
            }
        }

        impl fmt::Debug for $type_name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:#x} ", stringify!($type_name), self.0)?;
                fmt::Display::fmt(self, f)?;
                f.write_str(")")
            }
        }
    };
}

permission_set! {
    /// Morello permissions, GCPERM / CLRPERM bit positions (capability bit = 110 + perm bit).
    MorelloPerms {
        /// Load data.
        LOAD = 17 => "Load",
        /// Store data.
        STORE = 16 => "Store",
        /// Fetch instructions.
        EXECUTE = 15 => "Execute",
        /// Load capabilities with their tags.
        LOAD_CAP = 14 => "LoadCap",
        /// Store capabilities with their tags.
        STORE_CAP = 13 => "StoreCap",
        /// Store non-global (local) capabilities.
        STORE_LOCAL_CAP = 12 => "StoreLocalCap",
        /// Loaded capabilities keep Store/StoreCap etc. (without it they lose them).
        MUTABLE_LOAD = 6 => "MutableLoad",
        /// Seal other capabilities with this one's value as the otype.
        SEAL = 11 => "Seal",
        /// Unseal capabilities whose otype equals this one's value.
        UNSEAL = 10 => "Unseal",
        /// Take part in a BRS/BLRS/RETS sealed-pair branch.
        BRANCH_SEALED_PAIR = 8 => "BranchSealedPair",
        /// Access system registers (PCC needs it for most MSR/MRS).
        SYSTEM = 9 => "System",
        /// Executive (vs Restricted) banking of DDC/SP.
        EXECUTIVE = 1 => "Executive",
        /// Set the compartment ID (CID_EL0).
        COMPARTMENT_ID = 7 => "CompartmentID",
        /// May be stored through any capability (not only via StoreLocalCap).
        GLOBAL = 0 => "Global",
        USER0 = 2 => "User0",
        USER1 = 3 => "User1",
        USER2 = 4 => "User2",
        USER3 = 5 => "User3",
    }
}

permission_set! {
    /// CHERI-RISC-V (ISAv9) permissions in CGetPerm layout: hardware permissions in bits 11:0,
    /// the four user permissions in bits 18:15.
    RiscvPerms {
        /// Load data.
        LOAD = 2 => "Load",
        /// Store data.
        STORE = 3 => "Store",
        /// Fetch instructions.
        EXECUTE = 1 => "Execute",
        /// Load capabilities with their tags.
        LOAD_CAP = 4 => "LoadCap",
        /// Store capabilities with their tags.
        STORE_CAP = 5 => "StoreCap",
        /// Store non-global (local) capabilities.
        STORE_LOCAL_CAP = 6 => "StoreLocalCap",
        /// Seal other capabilities with this one's address as the otype.
        SEAL = 7 => "Seal",
        /// Unseal capabilities whose otype equals this one's address.
        UNSEAL = 9 => "Unseal",
        /// Be one half of a CInvoke pair.
        CINVOKE = 8 => "CInvoke",
        /// AccessSystemRegisters: CSpecialRW of most SCRs, CSR access and xRET.
        ACCESS_SYSTEM_REGS = 10 => "ASR",
        /// Set the compartment ID.
        SET_CID = 11 => "SetCID",
        /// May be stored through any capability (not only via StoreLocalCap).
        GLOBAL = 0 => "Global",
        USER0 = 15 => "User0",
        USER1 = 16 => "User1",
        USER2 = 17 => "User2",
        USER3 = 18 => "User3",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn morello_root_permissions_are_all_eighteen_bits() {
        assert_eq!(MorelloPerms::ALL.bits(), 0x3FFFF);
        assert_eq!(MorelloPerms::NAMED.len(), 18);
    }

    #[test]
    fn riscv_root_permissions_match_cgetperm_of_root() {
        // The reference reads CGetPerm of the reset capability as 0x78FFF.
        assert_eq!(RiscvPerms::ALL.bits(), 0x78FFF);
    }

    #[test]
    fn display_lists_names_in_reading_order_and_unknown_bits_in_hex() {
        let rwx = MorelloPerms::EXECUTE | MorelloPerms::STORE | MorelloPerms::LOAD;
        assert_eq!(format!("{rwx}"), "[Load,Store,Execute]");
        let odd = RiscvPerms::from_bits(RiscvPerms::LOAD.bits() | 1 << 13);
        assert_eq!(format!("{odd}"), "[Load,0x2000]");
        assert_eq!(format!("{}", MorelloPerms::EMPTY), "[]");
    }

    #[test]
    fn difference_removes_only_the_named_permissions() {
        let data = MorelloPerms::ALL - MorelloPerms::EXECUTE - MorelloPerms::SYSTEM;
        assert!(!data.contains(MorelloPerms::EXECUTE));
        assert!(data.contains(MorelloPerms::LOAD | MorelloPerms::STORE));
        assert_eq!(data.bits(), 0x3FFFF & !(1 << 15) & !(1 << 9));
    }
}
