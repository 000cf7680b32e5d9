//! What the arch layer needs to start a cVM, and the check that what the hardware derived is
//! exactly the capability the planner's model said (a mismatch stops that cVM from starting).

use alloc::string::String;

use crate::cap::{Capability, Format, PermSet};
use crate::cvm::event::CapRole;
use crate::cvm::plan::DefaultCaps;

/// Where a cVM starts and what it may touch, in absolute addresses.
pub struct Setup<'a, F: Format> {
    pub entry: u64,
    pub stack_top: u64,
    pub argc: u64,
    pub argv: u64,
    /// The model of its default capabilities (code, data, stack), from the planner.
    pub caps: &'a DefaultCaps<F>,
}

/// A capability the hardware produced that differs from the model.
#[derive(Debug)]
pub struct CapMismatch {
    pub role: CapRole,
    pub detail: String,
}

/// The fields the hardware reports for a derived capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub tag: bool,
    pub base: u64,
    /// Saturated at `u64::MAX` for a 2^64 length, as GCLEN/CGetLen report it.
    pub length: u64,
    pub perms: u64,
}

/// Compares what the hardware derived for `role` with the model's capability.
pub fn check_against_model<F: Format>(
    hw: Observed,
    model: &Capability<F>,
    role: CapRole,
) -> Result<(), CapMismatch> {
    let expected = Observed {
        tag: model.tag(),
        base: model.base(),
        length: u64::try_from(model.length()).unwrap_or(u64::MAX),
        perms: u64::from(model.perms().bits()),
    };
    if hw == expected {
        return Ok(());
    }
    Err(CapMismatch {
        role,
        detail: alloc::format!(
            "hardware gave tag={} base={:#x} len={:#x} perms={:#x}, model says {}",
            u8::from(hw.tag),
            hw.base,
            hw.length,
            hw.perms,
            model
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Morello;

    #[test]
    fn matching_and_mismatching_hardware() {
        let model = Capability::<Morello>::root()
            .set_address(0x8000_0000)
            .set_bounds_exact(0x1000);
        let hw = Observed {
            tag: true,
            base: 0x8000_0000,
            length: 0x1000,
            perms: u64::from(model.perms().bits()),
        };
        assert!(check_against_model(hw, &model, CapRole::Data).is_ok());
        let untagged = Observed { tag: false, ..hw };
        let err = check_against_model(untagged, &model, CapRole::Data).unwrap_err();
        assert_eq!(err.role, CapRole::Data);
        assert!(
            err.detail
                .starts_with("hardware gave tag=0 base=0x80000000 len=0x1000"),
            "{}",
            err.detail
        );
        assert!(check_against_model(
            Observed {
                length: 0x2000,
                ..hw
            },
            &model,
            CapRole::Data
        )
        .is_err());
    }
}
