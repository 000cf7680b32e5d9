//! Disk grants: which sectors of which virtio-blk device a cVM may use, and the arithmetic that
//! turns a cVM's grant-relative request into device sectors. Pure functions, host-tested: every
//! range check a disk hostcall depends on lives here.
//!
//! A manifest's `disk { … }` node becomes a [`DiskSpec`]; at boot [`resolve`] checks it
//! against the device's capacity and fixes the sector count, giving a [`Grant`]. Each disk
//! hostcall then passes its arguments through [`check`] before any I/O.

use alloc::format;
use alloc::string::String;

use capmon_abi::{Error, DISK_MAX_SECTORS, SECTOR_SIZE};

/// What a manifest's `disk` node asks for (sectors are 512 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    /// Index among the machine's virtio-blk devices, in device-tree order.
    pub device: u32,
    /// The device sector where the grant starts.
    pub first_sector: u64,
    /// How many sectors; `None`: from `first_sector` to the end of the device.
    pub sectors: Option<u64>,
    pub read_only: bool,
}

/// A grant checked against its device: `[first_sector, first_sector + sectors)` lies inside
/// the device, and `sectors` ≥ 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub device: u32,
    pub first_sector: u64,
    pub sectors: u64,
    pub read_only: bool,
}

/// What a grant is checked against: the device as its driver found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Sectors on the device.
    pub capacity: u64,
    /// The device only reads (virtio-blk `VIRTIO_BLK_F_RO`).
    pub read_only: bool,
}

/// Checks a manifest grant against the device it names (`None` when there is no such device,
/// or it was disabled). The message completes "disk grant: …".
pub fn resolve(spec: &DiskSpec, device: Option<DeviceInfo>) -> Result<Grant, String> {
    let Some(DeviceInfo {
        capacity,
        read_only,
    }) = device
    else {
        return Err(format!(
            "there is no usable virtio-blk device {} on this machine",
            spec.device
        ));
    };
    if read_only && !spec.read_only {
        return Err(format!(
            "blk{} is read-only: the grant must say read-only",
            spec.device
        ));
    }
    if spec.first_sector >= capacity {
        return Err(format!(
            "first-sector {} is past the end of blk{} ({capacity} sectors)",
            spec.first_sector, spec.device
        ));
    }
    let sectors = spec.sectors.unwrap_or(capacity - spec.first_sector);
    let end = spec.first_sector.checked_add(sectors);
    if sectors == 0 || end.is_none_or(|end| end > capacity) {
        return Err(format!(
            "sectors [{}..{}+{sectors}) reach past the end of blk{} ({capacity} sectors)",
            spec.first_sector, spec.first_sector, spec.device
        ));
    }
    Ok(Grant {
        device: spec.device,
        first_sector: spec.first_sector,
        sectors,
        read_only: spec.read_only,
    })
}

/// Whether a request reads or changes the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A request turned into device terms: `count` sectors from device sector `sector`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub sector: u64,
    pub count: u64,
}

impl Extent {
    /// The bytes this extent covers (at most 64 KiB, so no overflow).
    pub fn bytes(&self) -> u64 {
        self.count * SECTOR_SIZE
    }
}

/// Checks a grant-relative request of `count` sectors at `sector`: [`Error::Denied`] without a
/// grant or for a write on a read-only one, [`Error::Invalid`] when any sector of it lies
/// outside the grant (overflow included). Requests longer than [`DISK_MAX_SECTORS`] are cut,
/// not refused; the caller reports how many sectors were done.
pub fn check(
    grant: Option<&Grant>,
    sector: u64,
    count: u64,
    access: Access,
) -> Result<Extent, Error> {
    let grant = grant.ok_or(Error::Denied)?;
    if access == Access::Write && grant.read_only {
        return Err(Error::Denied);
    }
    let end = sector.checked_add(count).ok_or(Error::Invalid)?;
    if end > grant.sectors {
        return Err(Error::Invalid);
    }
    // `sector < grant.sectors` here (or count is 0), and `resolve` made first + sectors fit.
    let device_sector = grant
        .first_sector
        .checked_add(sector)
        .ok_or(Error::Invalid)?;
    Ok(Extent {
        sector: device_sector,
        count: count.min(DISK_MAX_SECTORS),
    })
}

/// Checks a flush: the grant must exist and allow writing (flushing is write-side work on the
/// device, which a read-only grant does not ask the device to do).
pub fn check_flush(grant: Option<&Grant>) -> Result<(), Error> {
    match grant {
        None => Err(Error::Denied),
        Some(g) if g.read_only => Err(Error::Denied),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(first_sector: u64, sectors: Option<u64>) -> DiskSpec {
        DiskSpec {
            device: 0,
            first_sector,
            sectors,
            read_only: false,
        }
    }

    fn dev(capacity: u64) -> Option<DeviceInfo> {
        Some(DeviceInfo {
            capacity,
            read_only: false,
        })
    }

    const RW: Grant = Grant {
        device: 0,
        first_sector: 100,
        sectors: 50,
        read_only: false,
    };
    const RO: Grant = Grant {
        read_only: true,
        ..RW
    };

    #[test]
    fn resolve_fills_the_default_and_checks_capacity() {
        assert_eq!(
            resolve(&spec(0, None), dev(2048)).map(|g| g.sectors),
            Ok(2048)
        );
        assert_eq!(
            resolve(&spec(48, None), dev(2048)).map(|g| g.sectors),
            Ok(2000)
        );
        assert_eq!(
            resolve(&spec(2047, Some(1)), dev(2048)).map(|g| (g.first_sector, g.sectors)),
            Ok((2047, 1))
        );
        assert_eq!(
            resolve(&spec(0, Some(2048)), dev(2048)).map(|g| g.sectors),
            Ok(2048)
        );
        let too_long = resolve(&spec(1, Some(2048)), dev(2048)).unwrap_err();
        assert_eq!(
            too_long,
            "sectors [1..1+2048) reach past the end of blk0 (2048 sectors)"
        );
        assert!(resolve(&spec(2048, None), dev(2048))
            .unwrap_err()
            .starts_with("first-sector 2048 is past the end"));
        assert!(resolve(&spec(0, Some(0)), dev(2048)).is_err());
        assert!(
            resolve(&spec(5, Some(u64::MAX)), dev(u64::MAX)).is_err(),
            "overflow"
        );
        assert_eq!(
            resolve(
                &DiskSpec {
                    device: 3,
                    ..spec(0, None)
                },
                None
            )
            .unwrap_err(),
            "there is no usable virtio-blk device 3 on this machine"
        );
        let ro_device = Some(DeviceInfo {
            capacity: 8,
            read_only: true,
        });
        assert_eq!(
            resolve(&spec(0, None), ro_device).unwrap_err(),
            "blk0 is read-only: the grant must say read-only"
        );
        assert!(resolve(
            &DiskSpec {
                read_only: true,
                ..spec(0, None)
            },
            ro_device
        )
        .is_ok());
        assert!(resolve(
            &DiskSpec {
                read_only: true,
                ..spec(0, None)
            },
            dev(8)
        )
        .is_ok_and(|g| g.read_only));
    }

    #[test]
    fn requests_inside_the_grant_map_to_device_sectors() {
        assert_eq!(
            check(Some(&RW), 0, 1, Access::Read),
            Ok(Extent {
                sector: 100,
                count: 1
            })
        );
        assert_eq!(
            check(Some(&RW), 49, 1, Access::Write),
            Ok(Extent {
                sector: 149,
                count: 1
            })
        );
        assert_eq!(
            check(Some(&RW), 0, 50, Access::Read),
            Ok(Extent {
                sector: 100,
                count: 50
            })
        );
        assert_eq!(
            check(Some(&RW), 50, 0, Access::Read),
            Ok(Extent {
                sector: 150,
                count: 0
            })
        );
        assert_eq!(
            check(Some(&RW), 3, 2, Access::Read).map(|e| e.bytes()),
            Ok(1024)
        );
    }

    #[test]
    fn ranges_outside_the_grant_and_overflow_are_invalid() {
        for (sector, count) in [
            (50, 1),
            (49, 2),
            (0, 51),
            (u64::MAX, 1),
            (1, u64::MAX),
            (51, 0),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(
                check(Some(&RW), sector, count, Access::Read),
                Err(Error::Invalid),
                "{sector}+{count}"
            );
        }
    }

    #[test]
    fn long_requests_are_cut() {
        let big = Grant {
            sectors: 10_000,
            ..RW
        };
        assert_eq!(
            check(Some(&big), 0, 1000, Access::Read),
            Ok(Extent {
                sector: 100,
                count: DISK_MAX_SECTORS
            })
        );
        // Cut, but the whole request must still lie inside the grant.
        assert_eq!(
            check(Some(&big), 9_990, 1000, Access::Read),
            Err(Error::Invalid)
        );
    }

    #[test]
    fn read_only_and_no_grant_are_denied() {
        assert_eq!(
            check(Some(&RO), 0, 1, Access::Read),
            Ok(Extent {
                sector: 100,
                count: 1
            })
        );
        assert_eq!(check(Some(&RO), 0, 1, Access::Write), Err(Error::Denied));
        // Denied comes before the range check: a cVM learns nothing about a grant it lacks.
        assert_eq!(check(Some(&RO), 999, 1, Access::Write), Err(Error::Denied));
        assert_eq!(check(None, 0, 1, Access::Read), Err(Error::Denied));
        assert_eq!(
            check(None, u64::MAX, u64::MAX, Access::Write),
            Err(Error::Denied)
        );
        assert_eq!(check_flush(None), Err(Error::Denied));
        assert_eq!(check_flush(Some(&RO)), Err(Error::Denied));
        assert_eq!(check_flush(Some(&RW)), Ok(()));
    }
}
