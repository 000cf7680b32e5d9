//! The initrd range a boot loader hands over in `/chosen` (`linux,initrd-start`,
//! `linux,initrd-end`), checked before capmon reads a byte of it: capmon takes its cVM bundle
//! from there, so a range that is empty, outside RAM or on top of the monitor or the device
//! tree is refused with a reason instead of being read (or, worse, handed out as free memory).
//!
//! The range is only located here; its contents are validated by the same
//! `cvm::manifest::parse_bundle` that checks a bundle embedded in the image.

use core::fmt;

use crate::addr::PhysRange;

/// The two `/chosen` properties as read (`None`: absent), or why one could not be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InitrdProps {
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// Set when a property is present but is neither one nor two 32-bit cells.
    pub malformed: Option<&'static str>,
}

/// Why the handed-over initrd cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitrdError {
    /// The named property is not one or two 32-bit cells.
    Malformed { prop: &'static str },
    /// Only one of the two properties is present.
    Incomplete { missing: &'static str },
    /// `end` is not above `start`.
    Empty { start: u64, end: u64 },
    /// The start is not 8-byte aligned (a device-tree blob must be).
    Misaligned { start: u64 },
    /// Not wholly inside one memory bank.
    OutsideRam { range: PhysRange },
    /// It overlaps something capmon keeps using.
    Overlaps {
        range: PhysRange,
        what: &'static str,
        other: PhysRange,
    },
}

impl fmt::Display for InitrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitrdError::Malformed { prop } => {
                write!(f, "/chosen/{prop} is not one or two 32-bit cells")
            }
            InitrdError::Incomplete { missing } => {
                write!(
                    f,
                    "/chosen has only one end of the initrd ({missing} is missing)"
                )
            }
            InitrdError::Empty { start, end } => {
                write!(
                    f,
                    "the initrd range {start:#x}..{end:#x} is empty or inverted"
                )
            }
            InitrdError::Misaligned { start } => {
                write!(f, "the initrd at {start:#x} is not 8-byte aligned")
            }
            InitrdError::OutsideRam { range } => {
                write!(f, "the initrd {range} is not inside one memory bank")
            }
            InitrdError::Overlaps { range, what, other } => {
                write!(f, "the initrd {range} overlaps {what} {other}")
            }
        }
    }
}

/// The initrd range if `props` describe a usable one; `Ok(None)` if there is no initrd.
/// `banks` are the memory banks, `image` is capmon's own load range and `blobs` the device
/// trees capmon keeps reading.
pub fn check(
    props: InitrdProps,
    banks: &[PhysRange],
    image: PhysRange,
    blobs: &[PhysRange],
) -> Result<Option<PhysRange>, InitrdError> {
    if let Some(prop) = props.malformed {
        return Err(InitrdError::Malformed { prop });
    }
    let (start, end) = match (props.start, props.end) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(InitrdError::Incomplete {
                missing: "linux,initrd-end",
            })
        }
        (None, Some(_)) => {
            return Err(InitrdError::Incomplete {
                missing: "linux,initrd-start",
            })
        }
        (Some(s), Some(e)) => (s, e),
    };
    if end <= start {
        return Err(InitrdError::Empty { start, end });
    }
    if start % 8 != 0 {
        return Err(InitrdError::Misaligned { start });
    }
    let range =
        PhysRange::from_start_size(start, end - start).ok_or(InitrdError::Empty { start, end })?;
    if !banks.iter().any(|b| b.covers(&range)) {
        return Err(InitrdError::OutsideRam { range });
    }
    if range.overlaps(&image) {
        return Err(InitrdError::Overlaps {
            range,
            what: "the capmon image",
            other: image,
        });
    }
    if let Some(blob) = blobs.iter().find(|b| !b.is_empty() && range.overlaps(b)) {
        return Err(InitrdError::Overlaps {
            range,
            what: "the device tree",
            other: *blob,
        });
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::from_start_size(start, end - start).expect("range")
    }

    const RAM: u64 = 0x4000_0000;
    fn banks() -> [PhysRange; 1] {
        [r(RAM, RAM + (2 << 30))]
    }
    fn image() -> PhysRange {
        r(0x4020_0000, 0x4030_0000)
    }
    fn blob() -> PhysRange {
        r(RAM, RAM + 0x10_0000)
    }
    fn props(start: u64, end: u64) -> InitrdProps {
        InitrdProps {
            start: Some(start),
            end: Some(end),
            malformed: None,
        }
    }
    fn checked(p: InitrdProps) -> Result<Option<PhysRange>, InitrdError> {
        check(p, &banks(), image(), &[blob(), PhysRange::default()])
    }

    #[test]
    fn no_initrd_is_not_an_error() {
        assert_eq!(checked(InitrdProps::default()), Ok(None));
    }

    #[test]
    fn a_range_in_free_ram_is_accepted() {
        let top = RAM + (2 << 30);
        assert_eq!(
            checked(props(top - 0x1_0000, top)),
            Ok(Some(r(top - 0x1_0000, top)))
        );
        // Right after the image: touching is not overlapping.
        assert_eq!(
            checked(props(0x4030_0000, 0x4030_0008)),
            Ok(Some(r(0x4030_0000, 0x4030_0008)))
        );
    }

    #[test]
    fn bad_ranges_are_refused_with_a_reason() {
        let top = RAM + (2 << 30);
        let cases: [(InitrdProps, &str); 9] = [
            (
                InitrdProps {
                    start: Some(RAM),
                    end: None,
                    malformed: None,
                },
                "/chosen has only one end of the initrd (linux,initrd-end is missing)",
            ),
            (
                InitrdProps {
                    start: None,
                    end: Some(RAM),
                    malformed: None,
                },
                "/chosen has only one end of the initrd (linux,initrd-start is missing)",
            ),
            (
                InitrdProps {
                    malformed: Some("linux,initrd-start"),
                    ..props(RAM, RAM + 8)
                },
                "/chosen/linux,initrd-start is not one or two 32-bit cells",
            ),
            (
                props(0x5000_0000, 0x5000_0000),
                "the initrd range 0x50000000..0x50000000 is empty or inverted",
            ),
            (
                props(0x5000_1000, 0x5000_0000),
                "the initrd range 0x50001000..0x50000000 is empty or inverted",
            ),
            (
                props(0x5000_0004, 0x5000_1000),
                "the initrd at 0x50000004 is not 8-byte aligned",
            ),
            // QEMU riscv virt's own choice for some ELF kernels: in flash, not RAM.
            (
                props(0x2001_0000, 0x2001_1388),
                "the initrd [0x20010000..0x20011388) is not inside one memory bank",
            ),
            // Running off the end of RAM (truncated bank).
            (
                props(top - 0x1000, top + 0x1000),
                "the initrd [0xbffff000..0xc0001000) is not inside one memory bank",
            ),
            (
                props(0x402f_f000, 0x4040_0000),
                "the initrd [0x402ff000..0x40400000) overlaps the capmon image [0x40200000..0x40300000)",
            ),
        ];
        for (p, want) in cases {
            let err = checked(p).expect_err(want);
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(
            checked(props(RAM + 0xf_f000, RAM + 0x11_0000))
                .expect_err("dtb")
                .to_string(),
            "the initrd [0x400ff000..0x40110000) overlaps the device tree [0x40000000..0x40100000)"
        );
        // Spanning two adjacent banks is refused too: one bank must hold it.
        let split = [
            r(RAM, RAM + 0x1000_0000),
            r(RAM + 0x1000_0000, RAM + 0x2000_0000),
        ];
        assert!(matches!(
            check(
                props(RAM + 0x0fff_0000, RAM + 0x1001_0000),
                &split,
                image(),
                &[]
            ),
            Err(InitrdError::OutsideRam { .. })
        ));
    }
}
